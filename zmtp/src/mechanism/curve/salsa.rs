//! XSalsa20-Poly1305, NaCl's `crypto_box` after `beforenm`, made fast for
//! MESSAGE traffic.
//!
//! The `salsa20` crate makes its keystream one 64-byte block at a time with
//! scalar code, and that was two thirds of a CURVE link's CPU. Here
//! [`Salsa20`] makes [`LANES`] blocks at once: a loop over the blocks whose
//! body is the whole of Salsa20/20 written out, reading and writing the
//! state word-major (`x[word][lane]`), which LLVM's loop vectorizer turns
//! into SSE2 (one lane per block) on any x86_64, in safe Rust and without
//! target-feature flags. Poly1305 is the `poly1305` crate (AVX2, picked at
//! run time) for long boxes and [`ShortPoly1305`] (64-bit limbs, four
//! products per block) for short ones, where the crate's setup costs more
//! than the hashing.
//!
//! A box of up to 96 bytes (a 64-byte frame's) needs only its nonce's first
//! two blocks, so [`MessageKey`] fills the batch's other two lanes with the
//! next nonce's first two blocks: nonces go up by one, and the next short
//! box in that direction finds its keystream made. Measured with the
//! `curve_cost` example under callgrind: a 64-byte seal plus open went from
//! 7,373 to 4,041 instructions, a 64 KiB one from 1.69 M to 1.61 M (the
//! Salsa20 rounds are now at SSE2's floor: 730 register copies and 1,600
//! adds, shifts, ORs and XORs per 4-block batch).
//!
//! The construction is NaCl's `crypto_secretbox`:
//!
//! ```text
//! subkey    = HSalsa20(k, n[0..16])
//! stream    = Salsa20(subkey, n[16..24]), block counter from 0
//! mac key   = stream[0..32]
//! c         = m XOR stream[32..32 + len]
//! tag       = Poly1305(mac key, c)
//! ```
//!
//! and `crypto_box` keys are `HSalsa20(X25519(sk, pk), 0)`. All MESSAGE
//! nonces in one direction share their first 16 bytes (`CurveZMQMESSAGEC`
//! or `...S`), so a [`MessageKey`] does that `HSalsa20` once per
//! connection instead of once per frame. [`SessionBox`] is the general box
//! for the handshake's INITIATE and READY. Keys and derived state are wiped
//! when dropped.

use bytes::BytesMut;
use crypto_box::aead::consts::{U0, U16, U24};
use crypto_box::aead::generic_array::GenericArray;
use crypto_box::aead::{AeadCore, AeadInPlace, Error as AeadError};
use curve25519_dalek::MontgomeryPoint;
use poly1305::Poly1305;
use poly1305::universal_hash::{KeyInit, UniversalHash};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::keys::{CurvePublicKey, CurveSecretKey};

/// Salsa20 blocks made at once: one SSE2 register of `u32` per state word.
const LANES: usize = 4;
/// One Salsa20 block, in bytes.
const BLOCK: usize = 64;
/// The bytes of keystream one [`Salsa20::batch`] makes.
const BATCH: usize = BLOCK * LANES;
/// What the box adds: the Poly1305 tag.
pub(super) const TAG_LEN: usize = 16;
/// "expand 32-byte k", the constant words of a 32-byte-key state.
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// Salsa20's quarter round on words `a`, `b`, `c`, `d` of `x`.
#[inline(always)]
fn quarter_round(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    x[b] ^= x[a].wrapping_add(x[d]).rotate_left(7);
    x[c] ^= x[b].wrapping_add(x[a]).rotate_left(9);
    x[d] ^= x[c].wrapping_add(x[b]).rotate_left(13);
    x[a] ^= x[d].wrapping_add(x[c]).rotate_left(18);
}

/// A column round then a row round.
#[inline(always)]
fn double_round(x: &mut [u32; 16]) {
    quarter_round(x, 0, 4, 8, 12);
    quarter_round(x, 5, 9, 13, 1);
    quarter_round(x, 10, 14, 2, 6);
    quarter_round(x, 15, 3, 7, 11);
    quarter_round(x, 0, 1, 2, 3);
    quarter_round(x, 5, 6, 7, 4);
    quarter_round(x, 10, 11, 8, 9);
    quarter_round(x, 15, 12, 13, 14);
}

/// Salsa20/20's 10 double rounds, written out rather than looped: with no
/// loop inside it, the loop over lanes in [`Salsa20::batch`] is an
/// innermost loop, which is what LLVM's loop vectorizer turns into SIMD.
#[inline(always)]
fn rounds(x: &mut [u32; 16]) {
    double_round(x);
    double_round(x);
    double_round(x);
    double_round(x);
    double_round(x);
    double_round(x);
    double_round(x);
    double_round(x);
    double_round(x);
    double_round(x);
}

/// The 16-word state for `key` with `middle` (nonce and counter, or
/// HSalsa20's input) in words 6 to 9.
fn state(key: &[u8; 32], middle: &[u8; 16]) -> [u32; 16] {
    let word = |bytes: &[u8], i: usize| {
        u32::from_le_bytes([
            bytes[4 * i],
            bytes[4 * i + 1],
            bytes[4 * i + 2],
            bytes[4 * i + 3],
        ])
    };
    let mut s = [0u32; 16];
    s[0] = SIGMA[0];
    s[5] = SIGMA[1];
    s[10] = SIGMA[2];
    s[15] = SIGMA[3];
    for i in 0..4 {
        s[1 + i] = word(key, i);
        s[11 + i] = word(key, 4 + i);
        s[6 + i] = word(middle, i);
    }
    s
}

/// HSalsa20: a 32-byte key from a key and 16 bytes of nonce.
pub(super) fn hsalsa20(key: &[u8; 32], input: &[u8; 16]) -> Zeroizing<[u8; 32]> {
    let mut x = Zeroizing::new(state(key, input));
    rounds(&mut x);
    let mut out = Zeroizing::new([0u8; 32]);
    for (chunk, i) in out.chunks_exact_mut(4).zip([0, 5, 10, 15, 6, 7, 8, 9]) {
        chunk.copy_from_slice(&x[i].to_le_bytes());
    }
    out
}

/// The Salsa20/20 keystream for one key and 8-byte nonce.
pub(super) struct Salsa20 {
    /// The state of block 0: key, nonce, counter 0.
    initial: [u32; 16],
}

impl Salsa20 {
    /// The stream for `key` and `nonce`.
    pub(super) fn new(key: &[u8; 32], nonce: &[u8; 8]) -> Self {
        let mut middle = [0u8; 16];
        middle[..8].copy_from_slice(nonce);
        Salsa20 {
            initial: state(key, &middle),
        }
    }

    /// Keystream blocks `block` to `block + LANES - 1` into `out`.
    #[inline]
    fn batch(&self, block: u64, out: &mut [u8; BATCH]) {
        let nonce = [self.initial[6], self.initial[7]];
        batch_with(
            &self.initial,
            |lane| {
                let counter = block.wrapping_add(lane as u64);
                [nonce[0], nonce[1], counter as u32, (counter >> 32) as u32]
            },
            out,
        );
    }

    /// XORs `data` with the keystream from byte `offset` on.
    #[cfg(test)]
    pub(super) fn apply_keystream(&self, offset: u64, data: &mut [u8]) {
        let mut buf = Zeroizing::new([0u8; BATCH]);
        let block = offset / BLOCK as u64;
        self.batch(block, &mut buf);
        self.xor_from(&mut buf, block, (offset % BLOCK as u64) as usize, data);
    }

    /// XORs `data` with the keystream from byte `skip` of block `block`
    /// on, where `buf` already holds [`Salsa20::batch`]`(block)`; `buf` is
    /// then reused for the batches after it.
    #[inline]
    fn xor_from(&self, buf: &mut [u8; BATCH], block: u64, skip: usize, data: &mut [u8]) {
        let (head, rest) = data.split_at_mut((BATCH - skip).min(data.len()));
        xor(head, &buf[skip..]);
        let mut block = block;
        for chunk in rest.chunks_mut(BATCH) {
            block = block.wrapping_add(LANES as u64);
            self.batch(block, buf);
            xor(chunk, &buf[..]);
        }
    }
}

impl Salsa20 {
    /// Appends `parts`, taken as one run of bytes, XORed with the keystream
    /// from byte `skip` of block `block` on, to `out`, where `buf` already
    /// holds [`Salsa20::batch`]`(block)`; `buf` is then reused for the
    /// batches after it. One pass over the input instead of a copy and an
    /// in-place XOR (measured: a tenth of a 64 KiB CURVE frame's cost).
    /// Never inlined: with [`Salsa20::batch`] inside, its frame is large,
    /// and short boxes take [`append_xored`] instead.
    #[inline(never)]
    fn xor_append(
        &self,
        buf: &mut [u8; BATCH],
        block: u64,
        skip: usize,
        parts: &[&[u8]],
        out: &mut BytesMut,
    ) {
        let mut block = block;
        let mut pos = skip;
        let mut chunk = [0u8; BATCH];
        for part in parts {
            let mut part = *part;
            while !part.is_empty() {
                if pos == BATCH {
                    block = block.wrapping_add(LANES as u64);
                    self.batch(block, buf);
                    pos = 0;
                }
                let n = (BATCH - pos).min(part.len());
                for ((c, p), s) in chunk[..n].iter_mut().zip(&part[..n]).zip(&buf[pos..]) {
                    *c = p ^ s;
                }
                out.extend_from_slice(&chunk[..n]);
                pos += n;
                part = &part[n..];
            }
        }
    }
}

/// One Salsa20 block per lane into `out` (block `lane` at bytes
/// `64 * lane..`): the state is `initial` with words 6 to 9 (nonce and
/// block counter) replaced by `middles[lane]`, so the lanes may be blocks
/// of different nonces under one key.
fn batch_lanes(initial: &[u32; 16], middles: &[[u32; 4]; LANES], out: &mut [u8; BATCH]) {
    batch_with(initial, |lane| middles[lane], out);
}

/// [`batch_lanes`] with lane `lane`'s words 6 to 9 from `middle(lane)`.
#[inline(always)]
fn batch_with(initial: &[u32; 16], middle: impl Fn(usize) -> [u32; 4], out: &mut [u8; BATCH]) {
    // Word-major, `x[w][lane]`: for each word the lanes are adjacent, so
    // the loop below loads and stores whole vectors, and each of its
    // iterations becomes one SIMD lane.
    let mut x = [[0u32; LANES]; 16];
    for lane in 0..LANES {
        let mut s = *initial;
        s[6..10].copy_from_slice(&middle(lane));
        let start = s;
        rounds(&mut s);
        for ((word, s), start) in x.iter_mut().zip(s).zip(start) {
            word[lane] = s.wrapping_add(start);
        }
    }
    // Lanes are blocks: word `w` of block `lane` is x[w][lane].
    for (lane, block) in out.chunks_exact_mut(BLOCK).enumerate() {
        for (w, bytes) in block.chunks_exact_mut(4).enumerate() {
            bytes.copy_from_slice(&x[w][lane].to_le_bytes());
        }
    }
}

impl Drop for Salsa20 {
    fn drop(&mut self) {
        self.initial.zeroize();
    }
}

/// Appends `parts`, taken as one run of bytes as long as `stream`, XORed
/// with `stream`, to `out`: a short box's whole keystream is at hand.
#[inline(always)]
fn append_xored(stream: &[u8], parts: &[&[u8]], out: &mut BytesMut) {
    let from = out.len();
    for part in parts {
        out.extend_from_slice(part);
    }
    xor(&mut out[from..], stream);
}

/// `data ^= stream`, over `data`'s length (`stream` is at least as long).
#[inline(always)]
fn xor(data: &mut [u8], stream: &[u8]) {
    for (d, s) in data.iter_mut().zip(stream) {
        *d ^= *s;
    }
}

/// Below this many bytes Poly1305 is [`ShortPoly1305`]: the `poly1305`
/// crate's AVX2 backend precomputes powers of the key and merges four
/// accumulators at the end, about a microsecond per tag, which only pays
/// from about 3 KiB on (measured: 64 B 87 ns against 1.1 µs, 2 KiB 2.0 µs
/// against 2.3 µs, 4 KiB 3.9 µs against 3.5 µs).
const SHORT_MAC: usize = 3 * 1024;

/// The Poly1305 tag of `message` under the 32-byte one-time `key` (NaCl's
/// unpadded use: a short last block is padded with 1 then zeros).
fn poly1305(key: &[u8; 32], message: &[u8]) -> [u8; TAG_LEN] {
    if message.len() < SHORT_MAC {
        return ShortPoly1305::new(key).tag(message);
    }
    let mut mac = Poly1305::new(GenericArray::from_slice(key));
    let whole = message.len() - message.len() % TAG_LEN;
    // A multiple of 16 bytes: no padding, the blocks go four at a time.
    mac.update_padded(&message[..whole]);
    mac.compute_unpadded(&message[whole..]).into()
}

/// Poly1305 with two 64-bit limbs and a small third one, and four
/// 64x64-bit products per block (the 2^130 - 5 trick folds `h1 * r1` into
/// the low limb as `h1 * 5 r1 / 4`), for short messages where its small
/// setup wins.
struct ShortPoly1305 {
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
    fn new(key: &[u8; 32]) -> Self {
        let r0 = le64(key, 0) & 0x0fff_fffc_0fff_ffff;
        let r1 = le64(key, 8) & 0x0fff_fffc_0fff_fffc;
        ShortPoly1305 {
            r: [r0, r1],
            // r1's low two bits are clamped to zero: s1 = 5 r1 / 4 exactly.
            s1: r1 + (r1 >> 2),
            pad: [le64(key, 16), le64(key, 24)],
        }
    }

    fn tag(mut self, message: &[u8]) -> [u8; TAG_LEN] {
        let mut h = [0u64; 3];
        let mut blocks = message.chunks_exact(16);
        for block in &mut blocks {
            self.block(&mut h, block, 1);
        }
        let rest = blocks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 16];
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
fn tags_match(a: &[u8; TAG_LEN], b: &[u8; TAG_LEN]) -> bool {
    let diff = u128::from_le_bytes(*a) ^ u128::from_le_bytes(*b);
    diff.ct_eq(&0).into()
}

/// The key two X25519 pairs share, as `crypto_box_beforenm` makes it, and
/// the box it opens (an AEAD with a 24-byte nonce, no associated data).
#[derive(Clone)]
pub(super) struct SessionBox {
    key: Zeroizing<[u8; 32]>,
}

impl SessionBox {
    /// `HSalsa20(X25519(secret, public), 0)`.
    pub(super) fn new(public: &CurvePublicKey, secret: &CurveSecretKey) -> Self {
        let shared =
            Zeroizing::new(MontgomeryPoint(*public.as_bytes()).mul_clamped(*secret.as_bytes()));
        SessionBox {
            key: hsalsa20(shared.as_bytes(), &[0; 16]),
        }
    }

    /// [`SessionBox::new`] for a key the peer sent: refused when the
    /// agreement is all zero (see `shared`).
    pub(super) fn agree(
        public: &CurvePublicKey,
        secret: &CurveSecretKey,
        kind: super::BoxKind,
    ) -> Result<Self, super::CurveError> {
        let shared = super::shared::agree(public, secret, kind)?;
        Ok(SessionBox {
            key: hsalsa20(&shared, &[0; 16]),
        })
    }

    /// The key for every nonce that starts with `prefix`.
    pub(super) fn message_key(&self, prefix: &[u8; 16]) -> MessageKey {
        MessageKey::new(hsalsa20(&self.key, prefix))
    }
}

impl AeadCore for SessionBox {
    type NonceSize = U24;
    type TagSize = U16;
    type CiphertextOverhead = U0;
}

impl AeadInPlace for SessionBox {
    fn encrypt_in_place_detached(
        &self,
        nonce: &GenericArray<u8, U24>,
        associated_data: &[u8],
        buffer: &mut [u8],
    ) -> Result<GenericArray<u8, U16>, AeadError> {
        if !associated_data.is_empty() {
            return Err(AeadError);
        }
        let (prefix, counter) = split_nonce(nonce);
        Ok(self.message_key(&prefix).seal(&counter, buffer).into())
    }

    fn decrypt_in_place_detached(
        &self,
        nonce: &GenericArray<u8, U24>,
        associated_data: &[u8],
        buffer: &mut [u8],
        tag: &GenericArray<u8, U16>,
    ) -> Result<(), AeadError> {
        if !associated_data.is_empty() {
            return Err(AeadError);
        }
        let (prefix, counter) = split_nonce(nonce);
        self.message_key(&prefix)
            .open(&counter, buffer, &(*tag).into())
    }
}

/// A 24-byte nonce as HSalsa20's input and Salsa20's nonce.
fn split_nonce(nonce: &GenericArray<u8, U24>) -> ([u8; 16], [u8; 8]) {
    let (mut prefix, mut counter) = ([0u8; 16], [0u8; 8]);
    prefix.copy_from_slice(&nonce[..16]);
    counter.copy_from_slice(&nonce[16..]);
    (prefix, counter)
}

/// The longest box whose keystream (after the 32 bytes of Poly1305 key)
/// fits in a nonce's first two blocks: such boxes take half a batch, and
/// the other half makes the next nonce's (see [`MessageKey::start`]).
const SHORT_BOX: usize = 2 * BLOCK - 32;

/// A [`SessionBox`] for the nonces with one 16-byte prefix: what a
/// direction of MESSAGE traffic needs, `HSalsa20` done once.
pub(super) struct MessageKey {
    subkey: Zeroizing<[u8; 32]>,
    /// Scratch for the keystream, kept from box to box and wiped when
    /// dropped: wiping 256 bytes per box cost a sixth of a 64-byte frame,
    /// and while the key lives what it held is no secret beyond the key.
    stream: Zeroizing<[u8; BATCH]>,
    /// The last box's one-time Poly1305 key, likewise.
    mac_key: Zeroizing<[u8; 32]>,
    /// The nonce counter whose first two keystream blocks are
    /// `stream[2 * BLOCK..]`, made with the box before it.
    ahead: Option<[u8; 8]>,
}

impl MessageKey {
    fn new(subkey: Zeroizing<[u8; 32]>) -> Self {
        MessageKey {
            subkey,
            stream: Zeroizing::new([0; BATCH]),
            mac_key: Zeroizing::new([0; 32]),
            ahead: None,
        }
    }

    /// The stream for `counter` and a box of `len` bytes, its first batch
    /// in `self.stream` and the Poly1305 key (its first 32 bytes) in
    /// `self.mac_key`.
    ///
    /// A short box (at most [`SHORT_BOX`] bytes) needs only blocks 0 and 1
    /// of its nonce, so the other two lanes of the batch make blocks 0 and
    /// 1 of the next counter, which the next box (nonces go up by one in
    /// order) takes without any rounds: half a batch per short box. Then
    /// only `self.stream[..2 * BLOCK]` is this box's keystream.
    fn start(&mut self, counter: &[u8; 8], len: usize) -> Salsa20 {
        let stream = Salsa20::new(&self.subkey, counter);
        let next = u64::from_be_bytes(*counter).checked_add(1);
        if len > SHORT_BOX {
            stream.batch(0, &mut self.stream);
            self.ahead = None;
        } else if self.ahead == Some(*counter) {
            self.stream.copy_within(2 * BLOCK.., 0);
            self.ahead = None;
        } else if let Some(next) = next {
            let nonce = [stream.initial[6], stream.initial[7]];
            let ahead = Salsa20::new(&self.subkey, &next.to_be_bytes());
            let next_nonce = [ahead.initial[6], ahead.initial[7]];
            let lanes = [
                [nonce[0], nonce[1], 0, 0],
                [nonce[0], nonce[1], 1, 0],
                [next_nonce[0], next_nonce[1], 0, 0],
                [next_nonce[0], next_nonce[1], 1, 0],
            ];
            batch_lanes(&stream.initial, &lanes, &mut self.stream);
            self.ahead = Some(next.to_be_bytes());
        } else {
            stream.batch(0, &mut self.stream);
        }
        self.mac_key.copy_from_slice(&self.stream[..32]);
        stream
    }

    /// Encrypts `data` in place under nonce `prefix ‖ counter`; returns the
    /// tag: `crypto_secretbox` after its HSalsa20 step.
    pub(super) fn seal(&mut self, counter: &[u8; 8], data: &mut [u8]) -> [u8; TAG_LEN] {
        let stream = self.start(counter, data.len());
        stream.xor_from(&mut self.stream, 0, 32, data);
        poly1305(&self.mac_key, data)
    }

    /// Appends the encryption of `parts` (one run of bytes) under nonce
    /// `prefix ‖ counter` to `out`; returns the tag.
    pub(super) fn seal_append(
        &mut self,
        counter: &[u8; 8],
        parts: &[&[u8]],
        out: &mut BytesMut,
    ) -> [u8; TAG_LEN] {
        let len = parts.iter().map(|part| part.len()).sum();
        let stream = self.start(counter, len);
        let from = out.len();
        if len <= SHORT_BOX {
            append_xored(&self.stream[32..32 + len], parts, out);
        } else {
            stream.xor_append(&mut self.stream, 0, 32, parts, out);
        }
        poly1305(&self.mac_key, &out[from..])
    }

    /// Checks the tag of `ciphertext` and appends its decryption to `out`;
    /// on a bad tag nothing is appended.
    pub(super) fn open_append(
        &mut self,
        counter: &[u8; 8],
        ciphertext: &[u8],
        tag: &[u8; TAG_LEN],
        out: &mut BytesMut,
    ) -> Result<(), AeadError> {
        let stream = self.start(counter, ciphertext.len());
        if !tags_match(&poly1305(&self.mac_key, ciphertext), tag) {
            return Err(AeadError);
        }
        if ciphertext.len() <= SHORT_BOX {
            append_xored(&self.stream[32..32 + ciphertext.len()], &[ciphertext], out);
        } else {
            stream.xor_append(&mut self.stream, 0, 32, &[ciphertext], out);
        }
        Ok(())
    }

    /// Checks the tag and decrypts `data` in place; on a bad tag `data` is
    /// left as it was.
    pub(super) fn open(
        &mut self,
        counter: &[u8; 8],
        data: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AeadError> {
        let stream = self.start(counter, data.len());
        if !tags_match(&poly1305(&self.mac_key, data), tag) {
            return Err(AeadError);
        }
        stream.xor_from(&mut self.stream, 0, 32, data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_box::SalsaBox;
    use crypto_secretbox::XSalsa20Poly1305;
    use proptest::prelude::*;
    use salsa20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};

    /// `data` under the reference cipher's keystream from byte `offset` on.
    fn reference_keystream(
        mut reference: impl StreamCipher + StreamCipherSeek,
        offset: u64,
        mut data: Vec<u8>,
    ) -> Vec<u8> {
        reference.seek(offset);
        reference.apply_keystream(&mut data);
        data
    }

    /// Lengths around block and batch edges, and some longer ones.
    fn length() -> impl Strategy<Value = usize> {
        prop_oneof![0usize..=3 * BATCH + 3, 0usize..20_000]
    }

    proptest! {
        #[test]
        fn keystream_matches_salsa20(
            key in any::<[u8; 32]>(),
            nonce in any::<[u8; 8]>(),
            offset in prop_oneof![0u64..=3 * BATCH as u64, any::<u32>().prop_map(u64::from)],
            data in length().prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n)),
        ) {
            let mut ours = data.clone();
            Salsa20::new(&key, &nonce).apply_keystream(offset, &mut ours);
            let reference = salsa20::Salsa20::new(&key.into(), &nonce.into());
            prop_assert_eq!(ours, reference_keystream(reference, offset, data));
        }

        #[test]
        fn xsalsa20_matches(
            key in any::<[u8; 32]>(),
            nonce in any::<[u8; 24]>(),
            offset in 0u64..=2 * BATCH as u64,
            len in length(),
        ) {
            let (prefix, counter) = split_nonce(&nonce.into());
            let subkey = hsalsa20(&key, &prefix);
            let mut ours = vec![0u8; len];
            Salsa20::new(&subkey, &counter).apply_keystream(offset, &mut ours);
            let reference = salsa20::XSalsa20::new(&key.into(), &nonce.into());
            prop_assert_eq!(ours, reference_keystream(reference, offset, vec![0u8; len]));
        }

        #[test]
        fn box_matches_crypto_box(
            ours in any::<[u8; 32]>(),
            theirs in any::<[u8; 32]>(),
            nonce in any::<[u8; 24]>(),
            message in length().prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n)),
            flip in any::<prop::sample::Index>(),
        ) {
            let (ours, theirs) = (CurveSecretKey::from_bytes(ours), CurveSecretKey::from_bytes(theirs));
            let session = SessionBox::new(&theirs.public_key(), &ours);
            let reference = SalsaBox::new(&theirs.public_key().to_box_key(), &ours.to_box_key());
            let nonce = GenericArray::from(nonce);

            let mut sealed = message.clone();
            let tag = session.encrypt_in_place_detached(&nonce, b"", &mut sealed).unwrap();
            let mut expected = message.clone();
            let expected_tag = reference.encrypt_in_place_detached(&nonce, b"", &mut expected).unwrap();
            prop_assert_eq!(&sealed, &expected);
            prop_assert_eq!(tag, expected_tag);

            // The peer's side opens it, with our SessionBox and with theirs.
            let peer = SessionBox::new(&ours.public_key(), &theirs);
            let mut opened = sealed.clone();
            peer.decrypt_in_place_detached(&nonce, b"", &mut opened, &tag).unwrap();
            prop_assert_eq!(&opened, &message);

            // One flipped bit, in the tag or the ciphertext, and it does not
            // open (and the buffer is left alone).
            let mut tampered = sealed.clone();
            let mut bad_tag = tag;
            let at = flip.index(tampered.len() + TAG_LEN);
            if at < tampered.len() {
                tampered[at] ^= 0x20;
            } else {
                bad_tag[at - tampered.len()] ^= 0x01;
            }
            let before = tampered.clone();
            prop_assert!(peer.decrypt_in_place_detached(&nonce, b"", &mut tampered, &bad_tag).is_err());
            prop_assert_eq!(tampered, before);
            prop_assert!(session.encrypt_in_place_detached(&nonce, b"extra", &mut opened).is_err());
        }

        #[test]
        fn message_key_matches_secretbox(
            key in any::<[u8; 32]>(),
            prefix in any::<[u8; 16]>(),
            counter in any::<u64>(),
            message in length().prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n)),
        ) {
            let mut message_key = MessageKey::new(hsalsa20(&key, &prefix));
            let mut nonce = [0u8; 24];
            nonce[..16].copy_from_slice(&prefix);
            nonce[16..].copy_from_slice(&counter.to_be_bytes());
            let reference = XSalsa20Poly1305::new(&key.into());

            let mut sealed = message.clone();
            let tag = message_key.seal(&counter.to_be_bytes(), &mut sealed);
            let mut expected = message.clone();
            let expected_tag = reference
                .encrypt_in_place_detached(&nonce.into(), b"", &mut expected)
                .unwrap();
            prop_assert_eq!(&sealed, &expected);
            prop_assert_eq!(&tag[..], &expected_tag[..]);
            prop_assert!(message_key.open(&counter.to_be_bytes(), &mut sealed, &tag).is_ok());
            prop_assert_eq!(sealed, message);
        }

        #[test]
        fn appending_seal_and_open_match_the_in_place_ones(
            key in any::<[u8; 32]>(),
            counter in any::<[u8; 8]>(),
            message in length().prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n)),
            cut in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
        ) {
            let mut message_key = MessageKey::new(Zeroizing::new(key));
            let mut in_place = message.clone();
            let expected_tag = message_key.seal(&counter, &mut in_place);
            // The plaintext in two parts, cut anywhere, after bytes already
            // in the output buffer.
            let at = cut.index(message.len() + 1);
            let mut out = BytesMut::from(&b"head"[..]);
            let tag = message_key.seal_append(&counter, &[&message[..at], &message[at..]], &mut out);
            prop_assert_eq!(&out[..4], b"head");
            prop_assert_eq!(&out[4..], &in_place[..]);
            prop_assert_eq!(tag, expected_tag);

            let mut plain = BytesMut::new();
            prop_assert!(message_key.open_append(&counter, &in_place, &tag, &mut plain).is_ok());
            prop_assert_eq!(&plain[..], &message[..]);
            // A flipped bit anywhere: refused, nothing appended.
            if !in_place.is_empty() {
                let i = flip.index(in_place.len());
                in_place[i] ^= 1;
                let mut refused = BytesMut::new();
                prop_assert!(message_key.open_append(&counter, &in_place, &tag, &mut refused).is_err());
                prop_assert!(refused.is_empty());
            }
        }
    }

    proptest! {
        /// A run of boxes under one key, as a connection makes them:
        /// counters mostly going up by one (where the look-ahead half batch
        /// is taken), sometimes skipping or repeating (where it must not
        /// be), short and long boxes mixed; every box must equal the
        /// reference's and open with a second key fed the same run.
        #[test]
        fn runs_of_boxes_match_secretbox(
            key in any::<[u8; 32]>(),
            prefix in any::<[u8; 16]>(),
            start in prop_oneof![any::<u64>(), Just(u64::MAX - 3)],
            steps in proptest::collection::vec(
                (prop_oneof![4 => Just(1u64), 1 => Just(0u64), 1 => 2u64..5],
                 prop_oneof![4 => 0usize..=SHORT_BOX + 2, 1 => 0usize..600]),
                1..24,
            ),
        ) {
            let mut sealer = MessageKey::new(hsalsa20(&key, &prefix));
            let mut opener = MessageKey::new(hsalsa20(&key, &prefix));
            let reference = XSalsa20Poly1305::new(&key.into());
            let mut counter = start;
            for (i, (step, len)) in steps.into_iter().enumerate() {
                counter = counter.wrapping_add(step);
                let message: Vec<u8> = (0..len).map(|b| (b * 7 + i) as u8).collect();
                let mut nonce = [0u8; 24];
                nonce[..16].copy_from_slice(&prefix);
                nonce[16..].copy_from_slice(&counter.to_be_bytes());
                let mut expected = message.clone();
                let expected_tag = reference
                    .encrypt_in_place_detached(&nonce.into(), b"", &mut expected)
                    .unwrap();
                let mut out = BytesMut::new();
                let tag = sealer.seal_append(&counter.to_be_bytes(), &[&message], &mut out);
                prop_assert_eq!(&out[..], &expected[..]);
                prop_assert_eq!(&tag[..], &expected_tag[..]);
                let mut plain = BytesMut::new();
                prop_assert!(opener.open_append(&counter.to_be_bytes(), &out, &tag, &mut plain).is_ok());
                prop_assert_eq!(&plain[..], &message[..]);
            }
        }

        /// Lanes of different nonces give each nonce's own blocks.
        #[test]
        fn mixed_lanes_match_one_nonce_batches(
            key in any::<[u8; 32]>(),
            nonces in any::<[[u8; 8]; LANES]>(),
            blocks in any::<[u32; LANES]>(),
        ) {
            let base = Salsa20::new(&key, &[0; 8]);
            let mut lanes = [[0u32; 4]; LANES];
            for (lane, middle) in lanes.iter_mut().enumerate() {
                let one = Salsa20::new(&key, &nonces[lane]);
                *middle = [one.initial[6], one.initial[7], blocks[lane], 0];
            }
            let mut mixed = [0u8; BATCH];
            batch_lanes(&base.initial, &lanes, &mut mixed);
            for lane in 0..LANES {
                let mut alone = [0u8; BATCH];
                Salsa20::new(&key, &nonces[lane]).batch(u64::from(blocks[lane]), &mut alone);
                prop_assert_eq!(&mixed[lane * BLOCK..][..BLOCK], &alone[..BLOCK]);
            }
        }
    }

    proptest! {
        #[test]
        fn poly1305_matches_the_crate(
            key in any::<[u8; 32]>(),
            message in length().prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n)),
        ) {
            let expected = Poly1305::new(&key.into()).compute_unpadded(&message);
            prop_assert_eq!(poly1305(&key, &message), <[u8; 16]>::from(expected));
            let cut = message.len().min(SHORT_MAC - 1);
            let expected = Poly1305::new(&key.into()).compute_unpadded(&message[..cut]);
            prop_assert_eq!(ShortPoly1305::new(&key).tag(&message[..cut]), <[u8; 16]>::from(expected));
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
                    assert_eq!(
                        ShortPoly1305::new(&key).tag(&message),
                        <[u8; 16]>::from(expected)
                    );
                }
            }
        }
    }

    #[test]
    fn hsalsa20_zero_nonce_is_beforenm() {
        // NaCl's crypto_box_beforenm test vector (alice's secret, bob's
        // public), from tests/box.c and box2.c.
        let alice_secret = CurveSecretKey::from_bytes([
            0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2,
            0x66, 0x45, 0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5,
            0x1d, 0xb9, 0x2c, 0x2a,
        ]);
        let bob_public = CurvePublicKey::from_bytes([
            0xde, 0x9e, 0xdb, 0x7d, 0x7b, 0x7d, 0xc1, 0xb4, 0xd3, 0x5b, 0x61, 0xc2, 0xec, 0xe4,
            0x35, 0x37, 0x3f, 0x83, 0x43, 0xc8, 0x5b, 0x78, 0x67, 0x4d, 0xad, 0xfc, 0x7e, 0x14,
            0x6f, 0x88, 0x2b, 0x4f,
        ]);
        let session = SessionBox::new(&bob_public, &alice_secret);
        assert_eq!(
            *session.key,
            [
                0x1b, 0x27, 0x55, 0x64, 0x73, 0xe9, 0x85, 0xd4, 0x62, 0xcd, 0x51, 0x19, 0x7a, 0x9a,
                0x46, 0xc7, 0x60, 0x09, 0x54, 0x9e, 0xac, 0x64, 0x74, 0xf2, 0x06, 0xc4, 0xee, 0x08,
                0x44, 0xf6, 0x83, 0x89,
            ]
        );
    }
}
