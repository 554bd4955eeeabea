//! The X25519 agreements of a CURVE handshake, refused when the peer's key
//! makes them all zero.
//!
//! A public key of small order (the neutral point, the points of order 2,
//! 4 and 8, and their encodings above the field prime) times any clamped
//! scalar is the all-zero point, whatever our secret. A box keyed from it
//! is a box anyone can open, so a client that holds no key at all could
//! finish a handshake and have its messages delivered. libsodium's
//! `crypto_box_beforenm` refuses an all-zero result (and so libzmq fails
//! the handshake); every agreement here does the same, at every step.

use crypto_box::SalsaBox;
use curve25519_dalek::MontgomeryPoint;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::keys::{CurvePublicKey, CurveSecretKey};
use super::{BoxKind, CurveError};

/// `X25519(secret, public)`, or an error if it is all zero.
pub(super) fn agree(
    public: &CurvePublicKey,
    secret: &CurveSecretKey,
    kind: BoxKind,
) -> Result<Zeroizing<[u8; 32]>, CurveError> {
    let shared = Zeroizing::new(
        MontgomeryPoint(*public.as_bytes())
            .mul_clamped(*secret.as_bytes())
            .to_bytes(),
    );
    if bool::from(shared.ct_eq(&[0u8; 32])) {
        return Err(CurveError::WeakKey(kind));
    }
    Ok(shared)
}

/// A `crypto_box` between `public` and `secret`, for the handshake's boxes.
pub(super) fn handshake_box(
    public: &CurvePublicKey,
    secret: &CurveSecretKey,
    kind: BoxKind,
) -> Result<SalsaBox, CurveError> {
    agree(public, secret, kind)?;
    Ok(SalsaBox::new(&public.to_box_key(), &secret.to_box_key()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanism::curve::keys::CurveKeyPair;

    /// A little-endian field element whose low byte is `low` and the rest
    /// that of p = 2^255 - 19 (`ec ff .. ff 7f`): p - 1, p, p + 1.
    const fn near_p(low: u8) -> [u8; 32] {
        let mut p = [0xff; 32];
        p[0] = low;
        p[31] = 0x7f;
        p
    }

    /// Encodings of small-order points on Curve25519 (the neutral point,
    /// order 2, order 4, the order-8 points and non-canonical forms of
    /// them), the set libsodium's blocklist and the X25519 papers list.
    pub(crate) const LOW_ORDER: [[u8; 32]; 7] = [
        [0; 32],
        {
            let mut p = [0; 32];
            p[0] = 1;
            p
        },
        [
            0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f,
            0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16,
            0x5f, 0x49, 0xb8, 0x00,
        ],
        [
            0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83,
            0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd,
            0xd0, 0x9f, 0x11, 0x57,
        ],
        near_p(0xec),
        near_p(0xed),
        near_p(0xee),
    ];

    #[test]
    fn small_order_keys_give_no_agreement_with_any_secret() {
        for _ in 0..8 {
            let ours = CurveKeyPair::generate();
            for point in LOW_ORDER {
                let theirs = CurvePublicKey::from_bytes(point);
                assert!(
                    matches!(
                        agree(&theirs, ours.secret(), BoxKind::Hello),
                        Err(CurveError::WeakKey(BoxKind::Hello))
                    ),
                    "{point:02x?}"
                );
                assert!(handshake_box(&theirs, ours.secret(), BoxKind::Vouch).is_err());
            }
        }
    }

    #[test]
    fn ordinary_keys_agree_both_ways() {
        let a = CurveKeyPair::generate();
        let b = CurveKeyPair::generate();
        let ab = agree(b.public(), a.secret(), BoxKind::Initiate).unwrap();
        let ba = agree(a.public(), b.secret(), BoxKind::Initiate).unwrap();
        assert_eq!(*ab, *ba);
    }
}
