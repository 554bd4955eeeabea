//! Fuzzes the PLAIN mechanism inside whole `Connection`s: the client or the
//! server alone, fed arbitrary bytes after a valid greeting (and after 0 to
//! 3 genuine handshake round trips), or a client/server pair through memory
//! with fuzzed traffic and authenticator answers. The scenarios and what
//! they check are described in `secure_common.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use zmtp::mechanism::Mechanism;
use zmtp::{Credentials, PlainClient, PlainServer};

#[path = "secure_common.rs"]
mod common;

fn client() -> Box<dyn Mechanism> {
    Box::new(PlainClient::new("admin", "secret").expect("short credentials"))
}

fn server() -> Box<dyn Mechanism> {
    Box::new(PlainServer::new())
}

fn credentials() -> Credentials {
    Credentials::Plain {
        username: "admin".into(),
        password: zmtp::Secret::new("secret"),
    }
}

fuzz_target!(|data: &[u8]| {
    common::run(
        data,
        &common::Setup {
            client,
            server,
            credentials,
            sealed: false,
        },
    )
});
