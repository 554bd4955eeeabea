//! The server's cookie: its transient state, sealed under a key only it has.
//!
//! ```text
//! cookie = nonce-suffix(16) ‖ secretbox[C'(32) ‖ s'(32)](cookie key)(80)   = 96 bytes
//! ```
//!
//! WELCOME carries the cookie and INITIATE echoes it, so a stateless server
//! could rebuild the handshake from it. Like libzmq, we keep the state
//! anyway and use the cookie as a check: it must open under this
//! connection's key and hold exactly this connection's C' and s'. The key is
//! drawn fresh for each connection and wiped when INITIATE has been read.

use crypto_secretbox::XSalsa20Poly1305;
use crypto_secretbox::aead::KeyInit;

use super::keys::{CurvePublicKey, CurveSecretKey};
use super::{BoxKind, COOKIE_LEN, CurveError, KEY_LEN, ct_eq, nonce, open_box};
use bytes::{BufMut, BytesMut};

/// A per-connection cookie key. The cipher wipes its key when dropped.
pub(super) struct CookieKey(XSalsa20Poly1305);

impl CookieKey {
    pub(super) fn new(key: &[u8; KEY_LEN]) -> Self {
        CookieKey(XSalsa20Poly1305::new(key.into()))
    }

    /// Appends the 96-byte cookie for this connection.
    pub(super) fn seal(
        &self,
        suffix: &[u8; 16],
        client_transient: &CurvePublicKey,
        server_transient: &CurveSecretKey,
        out: &mut BytesMut,
    ) -> Result<(), CurveError> {
        out.reserve(COOKIE_LEN);
        out.put_slice(suffix);
        let tag_at = out.len();
        out.put_bytes(0, super::BOX_OVERHEAD);
        out.put_slice(client_transient.as_bytes());
        out.put_slice(server_transient.as_bytes());
        let nonce = nonce::long(nonce::COOKIE, suffix);
        super::seal_tail(&self.0, &nonce, out, tag_at, BoxKind::Cookie)
    }

    /// Checks that `cookie` is the one sealed for this connection.
    pub(super) fn verify(
        &self,
        cookie: &[u8; COOKIE_LEN],
        client_transient: &CurvePublicKey,
        server_transient: &CurveSecretKey,
    ) -> Result<(), CurveError> {
        let (suffix, sealed) = cookie
            .split_first_chunk::<16>()
            .ok_or(CurveError::BoxOpen(BoxKind::Cookie))?;
        let nonce = nonce::long(nonce::COOKIE, suffix);
        let inside = open_box(&self.0, &nonce, sealed, BoxKind::Cookie)?;
        let (c, s) = inside.split_at(KEY_LEN.min(inside.len()));
        if ct_eq(c, client_transient.as_bytes()) & ct_eq(s, server_transient.as_bytes()) {
            Ok(())
        } else {
            Err(CurveError::CookieMismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_opens_only_for_its_connection() {
        let key = CookieKey::new(&[0x42; 32]);
        let client = CurvePublicKey::from_bytes([1; 32]);
        let secret = CurveSecretKey::from_bytes([2; 32]);
        let mut out = BytesMut::new();
        key.seal(&[0xc0; 16], &client, &secret, &mut out).unwrap();
        let cookie: [u8; COOKIE_LEN] = out[..].try_into().unwrap();
        key.verify(&cookie, &client, &secret).unwrap();
        assert_eq!(
            key.verify(&cookie, &CurvePublicKey::from_bytes([3; 32]), &secret),
            Err(CurveError::CookieMismatch)
        );
        assert_eq!(
            CookieKey::new(&[0x43; 32]).verify(&cookie, &client, &secret),
            Err(CurveError::BoxOpen(BoxKind::Cookie))
        );
        for i in 0..COOKIE_LEN {
            let mut bad = cookie;
            bad[i] ^= 0x01;
            assert_eq!(
                key.verify(&bad, &client, &secret),
                Err(CurveError::BoxOpen(BoxKind::Cookie)),
                "byte {i}"
            );
        }
    }
}
