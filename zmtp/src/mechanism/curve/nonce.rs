//! CurveZMQ nonces: 24 bytes, a fixed ASCII prefix and a suffix.
//!
//! Short nonces (HELLO, INITIATE, READY, MESSAGE) are a 16-byte prefix and a
//! big-endian `u64` counter that the sender sends in clear; long nonces
//! (WELCOME, cookie, vouch) are an 8-byte prefix and 16 random bytes. Each
//! side keeps one counter from 1 for all its short nonces, and the receiver
//! of MESSAGEs requires them to strictly increase, which stops replays.

use super::CurveError;

/// HELLO's signature box.
pub(super) const HELLO: &[u8; 16] = b"CurveZMQHELLO---";
/// INITIATE's box.
pub(super) const INITIATE: &[u8; 16] = b"CurveZMQINITIATE";
/// READY's box.
pub(super) const READY: &[u8; 16] = b"CurveZMQREADY---";
/// MESSAGE boxes from the client.
pub(super) const MESSAGE_FROM_CLIENT: &[u8; 16] = b"CurveZMQMESSAGEC";
/// MESSAGE boxes from the server.
pub(super) const MESSAGE_FROM_SERVER: &[u8; 16] = b"CurveZMQMESSAGES";
/// WELCOME's box.
pub(super) const WELCOME: &[u8; 8] = b"WELCOME-";
/// The cookie's secretbox.
pub(super) const COOKIE: &[u8; 8] = b"COOKIE--";
/// The vouch box.
pub(super) const VOUCH: &[u8; 8] = b"VOUCH---";

/// A short nonce: prefix and counter.
pub(super) fn short(prefix: &[u8; 16], counter: u64) -> [u8; 24] {
    let mut nonce = [0u8; 24];
    nonce[..16].copy_from_slice(prefix);
    nonce[16..].copy_from_slice(&counter.to_be_bytes());
    nonce
}

/// A long nonce: prefix and 16-byte suffix.
pub(super) fn long(prefix: &[u8; 8], suffix: &[u8; 16]) -> [u8; 24] {
    let mut nonce = [0u8; 24];
    nonce[..8].copy_from_slice(prefix);
    nonce[8..].copy_from_slice(suffix);
    nonce
}

/// Our outgoing short nonces: 1, 2, 3, ... and never one twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NonceCounter {
    next: Option<u64>,
}

impl NonceCounter {
    /// A counter whose first nonce is 1.
    pub(super) fn new() -> Self {
        NonceCounter { next: Some(1) }
    }

    /// A counter whose next nonce is `next` (for a cipher built after a
    /// handshake elsewhere).
    pub(super) fn starting_at(next: u64) -> Self {
        NonceCounter { next: Some(next) }
    }

    /// Takes the next nonce.
    pub(super) fn next(&mut self) -> Result<u64, CurveError> {
        let current = self.next.ok_or(CurveError::NonceExhausted)?;
        self.next = current.checked_add(1);
        Ok(current)
    }
}

/// The peer's highest short nonce so far; a new one must be above it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NonceWatermark {
    last: u64,
}

impl NonceWatermark {
    /// Seeded from the last handshake nonce the peer used.
    pub(super) fn new(last: u64) -> Self {
        NonceWatermark { last }
    }

    /// Refuses a nonce that is not above the watermark. Call [`raise`]
    /// only once the box it came with has opened.
    ///
    /// [`raise`]: NonceWatermark::raise
    pub(super) fn check(&self, nonce: u64) -> Result<(), CurveError> {
        if nonce > self.last {
            Ok(())
        } else {
            Err(CurveError::NonceReplay {
                nonce,
                last: self.last,
            })
        }
    }

    /// Records an authenticated nonce.
    pub(super) fn raise(&mut self, nonce: u64) {
        self.last = nonce;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let n = short(MESSAGE_FROM_CLIENT, 3);
        assert_eq!(&n[..16], b"CurveZMQMESSAGEC");
        assert_eq!(&n[16..], &[0, 0, 0, 0, 0, 0, 0, 3]);
        let n = long(VOUCH, &[0xb0; 16]);
        assert_eq!(&n[..8], b"VOUCH---");
        assert_eq!(&n[8..], &[0xb0; 16]);
    }

    #[test]
    fn counter_counts_from_one_and_runs_out() {
        let mut c = NonceCounter::new();
        assert_eq!(c.next(), Ok(1));
        assert_eq!(c.next(), Ok(2));
        let mut c = NonceCounter::starting_at(u64::MAX);
        assert_eq!(c.next(), Ok(u64::MAX));
        assert_eq!(c.next(), Err(CurveError::NonceExhausted));
        assert_eq!(c.next(), Err(CurveError::NonceExhausted));
    }

    #[test]
    fn watermark_wants_strictly_more() {
        let mut w = NonceWatermark::new(2);
        assert!(w.check(2).is_err());
        assert!(w.check(1).is_err());
        assert_eq!(w.check(7), Ok(()));
        w.raise(7);
        assert_eq!(
            w.check(7),
            Err(CurveError::NonceReplay { nonce: 7, last: 7 })
        );
        assert_eq!(w.check(9), Ok(()));
    }
}
