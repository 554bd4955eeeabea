//! Fuzzes the CURVE mechanism inside whole `Connection`s: the client or the
//! server alone, fed arbitrary bytes after a valid greeting (and after 0 to
//! 3 genuine handshake round trips, so the bytes also land after HELLO,
//! after WELCOME and once Active), or a client/server pair through memory
//! with fuzzed traffic, authenticator answers and flipped bytes in flight.
//! Keys are fixed and randomness is a seeded generator, so every run
//! reproduces. The scenarios and what they check are described in
//! `secure_common.rs`; on top, no flipped byte may ever yield a delivered
//! message that differs from the one sent.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use zmtp::mechanism::Mechanism;
use zmtp::mechanism::curve::{RandomError, RandomSource};
use zmtp::{Credentials, CurveClient, CurveKeyPair, CurveSecretKey, CurveServer};

#[path = "secure_common.rs"]
mod common;

/// A deterministic random source (a 64-bit LCG), so runs reproduce.
#[derive(Debug)]
struct Lcg(u64);

impl RandomSource for Lcg {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
        for b in dest {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            *b = (self.0 >> 33) as u8;
        }
        Ok(())
    }
}

// Long-term pairs, derived once: X25519 under the sanitizers is slow.
fn server_keys() -> CurveKeyPair {
    static KEYS: OnceLock<CurveKeyPair> = OnceLock::new();
    KEYS.get_or_init(|| CurveKeyPair::from_secret(CurveSecretKey::from_bytes([0x5e; 32])))
        .clone()
}

fn client_keys() -> CurveKeyPair {
    static KEYS: OnceLock<CurveKeyPair> = OnceLock::new();
    KEYS.get_or_init(|| CurveKeyPair::from_secret(CurveSecretKey::from_bytes([0xc1; 32])))
        .clone()
}

fn client() -> Box<dyn Mechanism> {
    Box::new(CurveClient::with_random(
        client_keys(),
        *server_keys().public(),
        Box::new(Lcg(1)),
    ))
}

fn server() -> Box<dyn Mechanism> {
    Box::new(CurveServer::with_random(server_keys(), Box::new(Lcg(2))))
}

fn credentials() -> Credentials {
    Credentials::Curve {
        public_key: *client_keys().public(),
    }
}

fuzz_target!(|data: &[u8]| {
    common::run(
        data,
        &common::Setup {
            client,
            server,
            credentials,
            sealed: true,
        },
    )
});
