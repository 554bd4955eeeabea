//! Poly1305, the one-time authenticator every CURVE box ends in, fed as
//! the box is encrypted or decrypted (chunk by chunk, while the chunk is
//! in the L1 cache) rather than in a second pass over the whole box.
//!
//! Two implementations behind one [`Mac`]: the `poly1305` crate (AVX2,
//! chosen at run time by its own CPU check, with a portable fallback) for
//! long boxes, and [`ShortPoly1305`] (two 64-bit limbs, four products per
//! block) for short ones, where the crate's setup costs more than the
//! hashing. NaCl uses Poly1305 unpadded: a short last block is padded with
//! 1 then zeros.

use poly1305::Poly1305;
use poly1305::universal_hash::generic_array::GenericArray;
use poly1305::universal_hash::{KeyInit, UniversalHash};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// What the box adds: the Poly1305 tag.
pub(super) const TAG_LEN: usize = 16;
/// Poly1305's block.
const MAC_BLOCK: usize = 16;

/// Below this many bytes a box's tag is [`ShortPoly1305`]'s: the
/// `poly1305` crate's AVX2 backend precomputes powers of the key and
/// merges four accumulators at the end, about a microsecond per tag, which
/// only pays from about 3 KiB on (measured: 64 B 87 ns against 1.1 µs,
/// 2 KiB 2.0 µs against 2.3 µs, 4 KiB 3.9 µs against 3.5 µs).
const SHORT_MAC: usize = 3 * 1024;

/// Poly1305 under one box's one-time key, for a box of a length known up
/// front: feed it whole 16-byte blocks with [`Mac::update`], then the rest
/// with [`Mac::finish`].
// The long variant is the crate's state (its AVX2 one is a few hundred
// bytes); a `Mac` lives on the stack for one box, and boxing it would be an
// allocation per box.
#[allow(clippy::large_enum_variant)]
pub(super) enum Mac {
    /// A box shorter than [`SHORT_MAC`].
    Short(ShortPoly1305, [u64; 3]),
    /// A longer one.
    Long(Poly1305),
}

impl Mac {
    /// The authenticator for a box of `len` bytes under the 32-byte
    /// one-time `key`.
    pub(super) fn new(key: &[u8; 32], len: usize) -> Self {
        if len < SHORT_MAC {
            Mac::Short(ShortPoly1305::new(key), [0; 3])
        } else {
            Mac::Long(Poly1305::new(GenericArray::from_slice(key)))
        }
    }

    /// Hashes `blocks`, whose length is a multiple of 16.
    #[inline]
    pub(super) fn update(&mut self, blocks: &[u8]) {
        debug_assert_eq!(blocks.len() % MAC_BLOCK, 0);
        match self {
            Mac::Short(mac, h) => mac.blocks(h, blocks),
            Mac::Long(mac) => mac.update_padded(blocks),
        }
    }

    /// Hashes the box's last bytes (any length) and returns its tag.
    pub(super) fn finish(self, last: &[u8]) -> [u8; TAG_LEN] {
        let whole = last.len() - last.len() % MAC_BLOCK;
        match self {
            Mac::Short(mac, mut h) => {
                mac.blocks(&mut h, &last[..whole]);
                mac.tag(h, &last[whole..])
            }
            Mac::Long(mut mac) => {
                // A multiple of 16 bytes: no padding, the blocks go four at
                // a time; then the crate pads the rest NaCl's way.
                mac.update_padded(&last[..whole]);
                mac.compute_unpadded(&last[whole..]).into()
            }
        }
    }
}

/// The Poly1305 tag of `message` under the 32-byte one-time `key`.
pub(super) fn poly1305(key: &[u8; 32], message: &[u8]) -> [u8; TAG_LEN] {
    if message.len() < SHORT_MAC {
        // Straight to it: a `Mac` is as large as the crate's state.
        let mac = ShortPoly1305::new(key);
        let mut h = [0; 3];
        let whole = message.len() - message.len() % MAC_BLOCK;
        mac.blocks(&mut h, &message[..whole]);
        return mac.tag(h, &message[whole..]);
    }
    Mac::new(key, message.len()).finish(message)
}

/// Poly1305 with two 64-bit limbs and a small third one, and four
/// 64x64-bit products per block (the 2^130 - 5 trick folds `h1 * r1` into
/// the low limb as `h1 * 5 r1 / 4`), for short messages where its small
/// setup wins.
pub(super) struct ShortPoly1305 {
    /// r, clamped.
    r: [u64; 2],
    /// `r1 + r1 / 4`: r1's share of the low limb after a fold by 2^130.
    s1: u64,
    pad: [u64; 2],
}

/// Little-endian `u64` at `bytes[at..at + 8]`.
fn le64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

impl ShortPoly1305 {
    pub(super) fn new(key: &[u8; 32]) -> Self {
        let r0 = le64(key, 0) & 0x0fff_fffc_0fff_ffff;
        let r1 = le64(key, 8) & 0x0fff_fffc_0fff_fffc;
        ShortPoly1305 {
            r: [r0, r1],
            // r1's low two bits are clamped to zero: s1 = 5 r1 / 4 exactly.
            s1: r1 + (r1 >> 2),
            pad: [le64(key, 16), le64(key, 24)],
        }
    }

    /// Hashes whole 16-byte blocks into `h`.
    #[inline]
    fn blocks(&self, h: &mut [u64; 3], blocks: &[u8]) {
        for block in blocks.chunks_exact(MAC_BLOCK) {
            self.block(h, block, 1);
        }
    }

    /// Hashes the last `rest` (shorter than a block) and returns the tag.
    pub(super) fn tag(mut self, mut h: [u64; 3], rest: &[u8]) -> [u8; TAG_LEN] {
        if !rest.is_empty() {
            let mut last = [0u8; MAC_BLOCK];
            last[..rest.len()].copy_from_slice(rest);
            last[rest.len()] = 1;
            self.block(&mut h, &last, 0);
        }
        let tag = self.finish(h);
        self.r.zeroize();
        self.s1.zeroize();
        self.pad.zeroize();
        tag
    }

    /// h = (h + block + hibit·2^128) · r mod 2^130 - 5, partly reduced:
    /// afterwards h < 5·2^128, below 2p.
    #[inline(always)]
    fn block(&self, h: &mut [u64; 3], block: &[u8], hibit: u64) {
        let [r0, r1] = self.r;
        let s1 = self.s1;
        let wide = |a: u64, b: u64| u128::from(a) * u128::from(b);
        // h += block
        let d = u128::from(h[0]) + u128::from(le64(block, 0));
        let h0 = d as u64;
        let d = u128::from(h[1]) + u128::from(le64(block, 8)) + (d >> 64);
        let h1 = d as u64;
        let h2 = h[2] + (d >> 64) as u64 + hibit;
        // h *= r: h2 is at most 7 and r's limbs below 2^60, so the h2
        // products fit 64 bits and every sum below fits 128.
        let d0 = wide(h0, r0) + wide(h1, s1);
        let d1 = wide(h0, r1) + wide(h1, r0) + u128::from(h2 * s1) + (d0 >> 64);
        let h2 = h2 * r0 + (d1 >> 64) as u64;
        // Fold everything from 2^130 up back in, times 5.
        let c = (h2 >> 2) + (h2 & !3);
        let lo = u128::from(d0 as u64) + u128::from(c);
        let mid = u128::from(d1 as u64) + (lo >> 64);
        *h = [lo as u64, mid as u64, (h2 & 3) + (mid >> 64) as u64];
    }

    /// Full reduction mod 2^130 - 5, plus the pad, mod 2^128.
    fn finish(&self, h: [u64; 3]) -> [u8; TAG_LEN] {
        let [h0, h1, h2] = h;
        // g = h + 5: h >= p exactly when g reaches 2^130, and then h - p is
        // g's low 130 bits (h < 2p). Chosen in constant time.
        let g = u128::from(h0) + 5;
        let g0 = g as u64;
        let g = u128::from(h1) + (g >> 64);
        let g1 = g as u64;
        let g2 = h2 + (g >> 64) as u64;
        let use_g = 0u64.wrapping_sub(g2 >> 2);
        let h0 = (h0 & !use_g) | (g0 & use_g);
        let h1 = (h1 & !use_g) | (g1 & use_g);
        let [t0, t1] = self.pad;
        let d = u128::from(h0) + u128::from(t0);
        let low = d as u64;
        let high = h1.wrapping_add(t1).wrapping_add((d >> 64) as u64);
        let mut tag = [0u8; TAG_LEN];
        tag[..8].copy_from_slice(&low.to_le_bytes());
        tag[8..].copy_from_slice(&high.to_le_bytes());
        tag
    }
}

/// Whether two tags are equal, in constant time: compared as one 128-bit
/// word (a byte-by-byte `ct_eq` cost a tenth of opening a 64-byte frame).
pub(super) fn tags_match(a: &[u8; TAG_LEN], b: &[u8; TAG_LEN]) -> bool {
    let diff = u128::from_le_bytes(*a) ^ u128::from_le_bytes(*b);
    diff.ct_eq(&0).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn poly1305_matches_the_crate(
            key in any::<[u8; 32]>(),
            message in prop_oneof![0usize..600, 0usize..20_000]
                .prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n)),
            cuts in proptest::collection::vec(0usize..2_000, 0..6),
        ) {
            let expected: [u8; 16] = Poly1305::new(&key.into()).compute_unpadded(&message).into();
            prop_assert_eq!(poly1305(&key, &message), expected);
            // Fed in pieces of whole blocks, as the boxes feed it.
            let mut mac = Mac::new(&key, message.len());
            let mut rest = &message[..];
            for cut in cuts {
                let n = (cut - cut % MAC_BLOCK).min(rest.len() - rest.len() % MAC_BLOCK);
                mac.update(&rest[..n]);
                rest = &rest[n..];
            }
            prop_assert_eq!(mac.finish(rest), expected);
            let cut = message.len().min(SHORT_MAC - 1);
            let expected = Poly1305::new(&key.into()).compute_unpadded(&message[..cut]);
            prop_assert_eq!(poly1305(&key, &message[..cut]), <[u8; 16]>::from(expected));
        }
    }

    #[test]
    fn short_poly1305_edges() {
        // All-ones input under all-ones key exercises every carry and the
        // final subtraction of p; zero keys the identity.
        for key in [[0xff; 32], [0; 32], {
            let mut k = [0xff; 32];
            k[..16].fill(0);
            k
        }] {
            for len in [0, 1, 15, 16, 17, 31, 32, 33, 64, 255, 511] {
                for fill in [0x00, 0xff] {
                    let message = vec![fill; len];
                    let expected = Poly1305::new(&key.into()).compute_unpadded(&message);
                    assert_eq!(poly1305(&key, &message), <[u8; 16]>::from(expected));
                }
            }
        }
    }
}
