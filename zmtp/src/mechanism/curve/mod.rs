//! CURVE (RFC 25 and CurveZMQ, RFC 26): authenticated encryption with
//! X25519 keys, as libzmq speaks it.
//!
//! ```text
//!   client (c, C; knows S)                      server (s, S)
//!   HELLO    C' nonce Box[0 x 64](C'->S)  ───▶  checks the box opens
//!                                         ◀───  WELCOME Box[S' cookie](S->C')
//!   INITIATE cookie nonce                 ───▶  checks cookie, box, vouch,
//!     Box[C vouch metadata](C'->S')             asks the application (C)
//!                                         ◀───  READY nonce Box[metadata](S'->C')
//!   MESSAGE nonce Box[flags frame]        ◀──▶  MESSAGE nonce Box[flags frame]
//! ```
//!
//! One file per piece: [`keys`](CurveKeyPair) (long-term and transient
//! keys, Z85, key files), `nonce` (prefixes and counters), `cookie` (the
//! server's per-connection cookie), `client` and `server` (the two
//! handshakes), `message` (the [`CurveCipher`] for traffic) and `random`
//! (the injectable [`RandomSource`]).
//!
//! Exact sizes and the libzmq facts (docs/protocol-notes.md, "CURVE"): HELLO
//! is 200 bytes with 72 bytes of padding, WELCOME 168, INITIATE at least 257, READY at
//! least 30, MESSAGE at least 33. Each side has one short-nonce counter
//! starting at 1 (client HELLO 1, INITIATE 2, messages from 3; server READY
//! 1, messages from 2); received MESSAGE nonces must strictly increase.
//! Every shared key is computed once per connection (`SalsaBox`, or our
//! own `SessionBox` for the session key, holds the `crypto_box_beforenm`
//! result), and secrets are wiped when dropped. MESSAGE boxes, the hot
//! path, use `salsa` (a lane-parallel XSalsa20 keystream, 16 lanes with
//! AVX-512, 8 with AVX2, 4 portable, chosen at run time by `simd`) and
//! `mac` (Poly1305 fed chunk by chunk) rather than the one-block-at-a-time
//! `salsa20` crate.
//!
//! # Cost per message
//!
//! One pass over the data per box: on seal the body is copied into the
//! output frame a keystream batch at a time (1 KiB with AVX-512), XORed
//! there and hashed while in the L1 cache; on open each batch of
//! ciphertext is hashed, copied to the plaintext buffer and decrypted
//! there (and wiped again if the tag is wrong). No allocation on seal (the
//! caller's buffer is reserved once); on open the plaintexts are cut from
//! one buffer of at least 64 KiB, so one allocation per many short
//! messages, and one per long message while the application holds the
//! last. Short boxes (up to 96 bytes of plaintext) take their keystream
//! from a batch made for the next `lanes / 2` nonces at once.
//!
//! Instructions per message, `zmtp/examples/curve_cost.rs` under
//! callgrind (`valgrind --tool=callgrind target/release/examples/curve_cost
//! SIZE COUNT`, less a run with COUNT 0, over COUNT; valgrind runs the AVX2
//! path: it has no AVX-512), seal and open of one MESSAGE with framing:
//!
//! | size | seal | open | seal + open | before (SSE2, 4 lanes, two passes) |
//! |---|---:|---:|---:|---:|
//! | 64 B | 1,171 | 1,225 | 2,536 | 4,041 |
//! | 64 KiB | 492 K | 493 K | 985 K | 1,608 K |
//!
//! At 64 KiB (AVX2) that is 7.5 instructions a byte per direction: 5.0 the
//! keystream, XOR and copy, 2.5 Poly1305 (the `poly1305` crate's AVX2
//! backend). CPU time of the same example run natively (AVX-512, user
//! time of 20,000 seal + open pairs, machine load average 12): 64 KiB
//! 68 µs a pair against 135 µs before; 64 B 195 ns against 370 ns. With
//! AVX-512 the keystream and Poly1305 take about the same time, so
//! Poly1305 (AVX2 at best) is now half of a long box.
//!
//! Whole links (`zmtp-perf` and libzmq 4.3.4's probe, `local_thr` and
//! `remote_thr` with `PERF_CURVE=1` over tcp, user plus system CPU seconds
//! of each side, alternating runs, load average 12 to 14): 10,000 frames of
//! 64 KiB cost the sender 0.53 to 0.55 s (0.83 to 0.86 before, libzmq 0.55
//! to 0.57) and the receiver 0.65 to 0.69 s (1.04 to 1.07 before, libzmq
//! 0.77 to 0.96); 300,000 of 64 B cost 0.05 and 0.06 s (0.07 and 0.09
//! before, libzmq 0.18 and 0.21).

mod client;
mod cookie;
mod keys;
mod mac;
mod message;
mod nonce;
mod random;
mod salsa;
mod server;
mod shared;
mod simd;
#[cfg(test)]
mod tests;

use bytes::{BufMut, BytesMut};
use crypto_box::aead::consts::{U16, U24};
use crypto_box::aead::{AeadCore, AeadInPlace};
use subtle::ConstantTimeEq;
use thiserror::Error;
use zeroize::Zeroizing;

pub use client::CurveClient;
pub use keys::{CurveKeyPair, CurvePublicKey, CurveSecretKey, KeyFileError, KeyMismatch};
pub use message::CurveCipher;
pub use random::{OsRandom, RandomError, RandomSource};
pub use server::CurveServer;

/// The length of every CURVE key, public or secret.
pub const KEY_LEN: usize = 32;
/// HELLO's body: exactly this long.
pub const HELLO_LEN: usize = 200;
/// WELCOME's body: exactly this long.
pub const WELCOME_LEN: usize = 168;
/// INITIATE's body: at least this long (with empty metadata).
pub const INITIATE_MIN_LEN: usize = 257;
/// READY's body: at least this long (with empty metadata).
pub const READY_MIN_LEN: usize = 30;
/// MESSAGE's body: at least this long (an empty frame).
pub const MESSAGE_MIN_LEN: usize = 33;
/// What a box adds to its plaintext: the Poly1305 tag, sent first.
pub const BOX_OVERHEAD: usize = 16;

/// The cookie a WELCOME carries and INITIATE echoes: nonce suffix and box.
const COOKIE_LEN: usize = 96;

/// The mechanism's name, as both sides report it in errors.
const CURVE: crate::greeting::MechanismName = crate::greeting::MechanismName::CURVE;

/// Which box a check concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoxKind {
    /// HELLO's signature box (C' to S).
    Hello,
    /// WELCOME's box (S to C').
    Welcome,
    /// The cookie's secretbox (the server's cookie key).
    Cookie,
    /// INITIATE's box (C' to S').
    Initiate,
    /// The vouch inside INITIATE (C to S').
    Vouch,
    /// READY's box (S' to C').
    Ready,
    /// A MESSAGE box.
    Message,
}

impl std::fmt::Display for BoxKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BoxKind::Hello => "HELLO signature",
            BoxKind::Welcome => "WELCOME",
            BoxKind::Cookie => "cookie",
            BoxKind::Initiate => "INITIATE",
            BoxKind::Vouch => "vouch",
            BoxKind::Ready => "READY",
            BoxKind::Message => "MESSAGE",
        })
    }
}

/// A CURVE check that failed: which command, which box, which nonce.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CurveError {
    /// A command whose length the protocol fixes has another one.
    #[error("{command} of {len} bytes, expected {expected}")]
    CommandSize {
        /// The command's name.
        command: &'static str,
        /// Its body length, name included.
        len: usize,
        /// What the protocol requires.
        expected: &'static str,
    },
    /// HELLO announced a CurveZMQ version other than 1.0.
    #[error("HELLO announces CurveZMQ version {major}.{minor}; only 1.0 is spoken")]
    Version {
        /// Major version byte.
        major: u8,
        /// Minor version byte.
        minor: u8,
    },
    /// A box did not open: wrong keys, or tampered with.
    #[error("the {0} box does not open")]
    BoxOpen(BoxKind),
    /// A box could not be sealed (the cipher refused its length).
    #[error("the {0} box could not be sealed")]
    BoxSeal(BoxKind),
    /// The peer's key makes this step's X25519 agreement all zero (a
    /// small-order point): libsodium refuses it, and so do we.
    #[error("the {0} key agreement is all zero (the peer sent a small-order key)")]
    WeakKey(BoxKind),
    /// HELLO's signature box opened but does not hold 64 zero bytes.
    #[error("the HELLO signature is not 64 zero bytes")]
    HelloSignature,
    /// The cookie opened but names another client's transient key.
    #[error("the cookie belongs to another handshake")]
    CookieMismatch,
    /// The vouch does not bind this client's transient key to this server.
    #[error("the vouch does not name this connection's transient key and server")]
    VouchMismatch,
    /// A MESSAGE nonce was not above the last one seen (a replay).
    #[error("MESSAGE nonce {nonce} is not above the last one seen, {last}")]
    NonceReplay {
        /// The nonce received.
        nonce: u64,
        /// The highest nonce accepted before it.
        last: u64,
    },
    /// Our short-nonce counter has run out (after 2^64 - 1 commands).
    #[error("the short nonce counter is exhausted")]
    NonceExhausted,
    /// A frame after the handshake was not a MESSAGE command.
    #[error("a frame after the handshake is not a MESSAGE command")]
    NotMessage,
    /// The random source failed.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// An XSalsa20-Poly1305 box: `crypto_box` or the cookie's `secretbox`.
trait NaclBox: AeadInPlace + AeadCore<NonceSize = U24, TagSize = U16> {}

impl<T: AeadInPlace + AeadCore<NonceSize = U24, TagSize = U16>> NaclBox for T {}

/// Appends `Box[plaintext]`, tag first (libsodium's `_easy` layout).
fn seal_into(
    session: &impl NaclBox,
    nonce: &[u8; 24],
    plaintext: &[u8],
    out: &mut BytesMut,
    kind: BoxKind,
) -> Result<(), CurveError> {
    let tag_at = out.len();
    out.reserve(BOX_OVERHEAD + plaintext.len());
    out.put_bytes(0, BOX_OVERHEAD);
    out.put_slice(plaintext);
    seal_tail(session, nonce, out, tag_at, kind)
}

/// Encrypts, in place, everything in `out` after a 16-byte tag placeholder
/// at `tag_at`, and fills the placeholder with the tag.
fn seal_tail(
    cipher: &impl NaclBox,
    nonce: &[u8; 24],
    out: &mut BytesMut,
    tag_at: usize,
    kind: BoxKind,
) -> Result<(), CurveError> {
    let (head, plaintext) = out.split_at_mut(tag_at + BOX_OVERHEAD);
    let tag = cipher
        .encrypt_in_place_detached(nonce.into(), b"", plaintext)
        .map_err(|_| CurveError::BoxSeal(kind))?;
    head[tag_at..].copy_from_slice(&tag);
    Ok(())
}

/// Opens `tag ‖ ciphertext` into a plaintext that is wiped when dropped.
fn open_box(
    cipher: &impl NaclBox,
    nonce: &[u8; 24],
    sealed: &[u8],
    kind: BoxKind,
) -> Result<Zeroizing<Vec<u8>>, CurveError> {
    let (tag, ciphertext) = sealed
        .split_first_chunk::<BOX_OVERHEAD>()
        .ok_or(CurveError::BoxOpen(kind))?;
    let mut plaintext = Zeroizing::new(ciphertext.to_vec());
    cipher
        .decrypt_in_place_detached(nonce.into(), b"", &mut plaintext, tag.into())
        .map_err(|_| CurveError::BoxOpen(kind))?;
    Ok(plaintext)
}

/// Compares secrets (and what proves them) in constant time.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}
