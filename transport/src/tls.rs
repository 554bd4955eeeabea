//! The `tls://host:port` transport: ZMTP inside TLS 1.3 over TCP, with
//! rustls. libzmq has no such transport; this is our mapping.
//!
//! # The mapping
//!
//! 1. The connecting side opens TCP to `host:port` and runs a TLS 1.3
//!    client handshake; the binding side accepts and runs the server
//!    handshake. The connecting side checks the server certificate against
//!    its trust roots and the endpoint's host (or
//!    [`TlsConfig::with_server_name`]). No ALPN is offered or required.
//! 2. A server that [requires client
//!    certificates](TlsConfig::require_client_certs) (mutual TLS) refuses
//!    a client without one, or with one its client roots do not vouch for.
//! 3. After the TLS handshake, the ZMTP greeting, the security handshake
//!    and every frame run inside the TLS stream exactly as they would
//!    over TCP. The ZMTP mechanism is normally NULL, TLS having
//!    authenticated and encrypted the link already; PLAIN and CURVE work
//!    inside TLS as well, for deployments that want both.
//! 4. The TLS handshake counts against `handshake_ivl`: TLS and ZMTP
//!    handshakes together must finish within it. On a listener it counts
//!    in the admission of handshakes as well: the place is taken at
//!    accept, before TLS, and TLS and the ZMTP greeting together must
//!    finish within `greeting_ivl`.
//! 5. The peer's certificate identity ([`TlsPeer`]) reaches the
//!    [`Authenticator`](crate::Authenticator) of a server (in
//!    [`ZapRequest::tls_peer`](crate::ZapRequest::tls_peer); a NULL server
//!    with an authenticator asks it as libzmq asks its ZAP handler), and
//!    rides with every received message in
//!    [`PeerMetadata::tls_peer`](crate::PeerMetadata::tls_peer).
//! 6. A certificate refused by either side is an authentication failure
//!    (monitor `HandshakeFailed` with `authentication_failure`), and a
//!    connecting socket does not retry after one, as after a refused CURVE
//!    key. Other TLS failures are retried with the reconnect backoff.
//! 7. A link ends with a TLS `close_notify` when the socket buffer takes
//!    it; a peer that closes without one is treated as closing.
//!
//! # Where things are
//!
//! - `settings`: the configuration types ([`TlsConfig`], [`TlsIdentity`],
//!   [`TlsRoots`], [`TlsError`]) and the rustls objects made from them;
//! - `handshake`: the TLS handshakes of one link;
//! - `peer`: what a verified certificate says about the peer ([`TlsPeer`]).
//!
//! # Crypto
//!
//! rustls with its `ring` provider, TLS 1.3 only. `ring` compiles its own C
//! and assembly with the `cc` crate (a C compiler is needed, no system
//! library, no cmake, no NASM, no OpenSSL).

pub(crate) mod handshake;
pub(crate) mod peer;
pub(crate) mod settings;

pub use peer::TlsPeer;
pub use settings::{TlsConfig, TlsError, TlsIdentity, TlsRoots};
