//! XSalsa20-Poly1305, NaCl's `crypto_box` after `beforenm`, made fast for
//! MESSAGE traffic.
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
//!
//! The keystream is made `LANES` 64-byte blocks at a time: the state is
//! held word-major (`x[word][lane]`) and every step of Salsa20/20 is a
//! loop over the lanes, which LLVM turns into one SIMD instruction per
//! step, one lane per block. How many lanes, and which instructions, is
//! chosen per connection from the CPU at run time (`simd`): 16 with
//! AVX-512, 8 with AVX2, else 4 with the target's baseline (SSE2 on any
//! x86_64).
//!
//! A box goes through the data once ([`Pass`]): a batch of keystream, XORed
//! into the output as the input is copied there (or in place), then that
//! chunk hashed by Poly1305 (`mac`) while it is still in the L1 cache;
//! then the next batch. Opening hashes each chunk before decrypting it and
//! discards (wipes) what it wrote if the tag is wrong.
//!
//! A box of up to 96 bytes (a 64-byte frame's) needs only its nonce's first
//! two blocks, so [`MessageKey`] makes the first two blocks of `LANES / 2`
//! nonces in one batch: nonces go up by one, and the next short boxes in
//! that direction find their keystream made.

use bytes::BytesMut;
use crypto_box::aead::consts::{U0, U16, U24};
use crypto_box::aead::generic_array::GenericArray;
use crypto_box::aead::{AeadCore, AeadInPlace, Error as AeadError};
use curve25519_dalek::MontgomeryPoint;
use zeroize::{Zeroize, Zeroizing};

use super::keys::{CurvePublicKey, CurveSecretKey};
use super::mac::{Mac, TAG_LEN, poly1305, tags_match};
use super::simd::{Kernel, MAX_LANES, Width};

/// One Salsa20 block, in bytes.
const BLOCK: usize = 64;
/// One block of keystream.
type Block = [u8; BLOCK];
/// "expand 32-byte k", the constant words of a 32-byte-key state.
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];
/// The bytes of each box's first block that key its Poly1305.
const MAC_KEY_LEN: usize = 32;

/// Salsa20's quarter round on words `a`, `b`, `c`, `d` of `x`.
#[inline(always)]
fn quarter_round(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    x[b] ^= x[a].wrapping_add(x[d]).rotate_left(7);
    x[c] ^= x[b].wrapping_add(x[a]).rotate_left(9);
    x[d] ^= x[c].wrapping_add(x[b]).rotate_left(13);
    x[a] ^= x[d].wrapping_add(x[c]).rotate_left(18);
}

/// Salsa20/20's 10 double rounds (a column round then a row round) on one
/// block: HSalsa20's, once per key.
fn rounds(x: &mut [u32; 16]) {
    for _ in 0..10 {
        quarter_round(x, 0, 4, 8, 12);
        quarter_round(x, 5, 9, 13, 1);
        quarter_round(x, 10, 14, 2, 6);
        quarter_round(x, 15, 3, 7, 11);
        quarter_round(x, 0, 1, 2, 3);
        quarter_round(x, 5, 6, 7, 4);
        quarter_round(x, 10, 11, 8, 9);
        quarter_round(x, 15, 12, 13, 14);
    }
}

/// [`rounds`] written out rather than looped: with no loop inside it, the
/// loop over lanes in [`blocks`] is an innermost loop, which is what
/// LLVM's loop vectorizer turns into SIMD (one lane per block).
#[inline(always)]
fn unrolled_rounds(x: &mut [u32; 16]) {
    macro_rules! double_rounds {
        ($($n:literal)*) => {$(
            let _ = $n;
            quarter_round(x, 0, 4, 8, 12);
            quarter_round(x, 5, 9, 13, 1);
            quarter_round(x, 10, 14, 2, 6);
            quarter_round(x, 15, 3, 7, 11);
            quarter_round(x, 0, 1, 2, 3);
            quarter_round(x, 5, 6, 7, 4);
            quarter_round(x, 10, 11, 8, 9);
            quarter_round(x, 15, 12, 13, 14);
        )*};
    }
    double_rounds!(0 1 2 3 4 5 6 7 8 9);
}

/// One Salsa20 block per lane into `out[..LANES]`: lane `i`'s state is
/// `key_state` with words 6 to 9 (nonce and block counter) replaced by
/// `middle(i)`, so lanes may be blocks of different nonces under one key.
#[inline(always)]
fn blocks<const LANES: usize>(
    key_state: &[u32; 16],
    middle: impl Fn(usize) -> [u32; 4],
    out: &mut [Block],
) {
    // Word-major, `x[w][lane]`: for each word the lanes are adjacent, so
    // the loop below loads and stores whole vectors, and each of its
    // iterations becomes one SIMD lane.
    let mut x = [[0u32; LANES]; 16];
    for lane in 0..LANES {
        let mut s = *key_state;
        s[6..10].copy_from_slice(&middle(lane));
        let start = s;
        unrolled_rounds(&mut s);
        for ((word, s), start) in x.iter_mut().zip(s).zip(start) {
            word[lane] = s.wrapping_add(start);
        }
    }
    // Lanes are blocks: word `w` of block `lane` is x[w][lane].
    for (lane, block) in out[..LANES].iter_mut().enumerate() {
        for (w, bytes) in block.chunks_exact_mut(4).enumerate() {
            bytes.copy_from_slice(&x[w][lane].to_le_bytes());
        }
    }
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

/// Words 6 and 7 of the state for an 8-byte nonce.
fn nonce_words(nonce: &[u8; 8]) -> [u32; 2] {
    [
        u32::from_le_bytes([nonce[0], nonce[1], nonce[2], nonce[3]]),
        u32::from_le_bytes([nonce[4], nonce[5], nonce[6], nonce[7]]),
    ]
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

/// `data ^= stream`, over `data`'s length (`stream` is at least as long).
#[inline(always)]
fn xor(data: &mut [u8], stream: &[u8]) {
    for (d, s) in data.iter_mut().zip(stream) {
        *d ^= *s;
    }
}

/// Where a [`Pass`] reads its bytes and writes them XORed with the
/// keystream.
enum Run<'a> {
    /// Over `data`, where it is.
    InPlace(&'a mut [u8]),
    /// From `parts`, taken as one run of bytes, appended to `out`.
    Append {
        parts: &'a [&'a [u8]],
        out: &'a mut BytesMut,
    },
}

impl Run<'_> {
    /// The next `n` bytes, at `done` from the start, where they are XORed:
    /// appended to `out` first when appending.
    #[inline(always)]
    fn chunk(&mut self, done: usize, n: usize, part: &mut usize, at: &mut usize) -> &mut [u8] {
        match self {
            Run::InPlace(data) => &mut data[done..done + n],
            Run::Append { parts, out } => {
                let from = out.len();
                let mut need = n;
                while need > 0 {
                    let piece = &parts[*part][*at..];
                    let take = piece.len().min(need);
                    out.extend_from_slice(&piece[..take]);
                    need -= take;
                    *at += take;
                    if *at == parts[*part].len() {
                        *part += 1;
                        *at = 0;
                    }
                }
                &mut out[from..]
            }
        }
    }
}

/// Which bytes a [`Pass`] authenticates.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hash {
    /// None: a bare keystream (taking back a decryption that failed).
    Nothing,
    /// What it writes: sealing. The Poly1305 key is the first 32 bytes of
    /// block 0, and the data's keystream starts after them.
    Output,
    /// What it reads: opening.
    Input,
}

/// One pass over a box: keystream a batch at a time, XORed into the
/// data, each chunk hashed while it is in the cache.
struct Pass<'a> {
    /// The key's state with the nonce in words 6 and 7.
    state: &'a [u32; 16],
    /// The keystream byte the data starts at.
    offset: u64,
    /// The data's length.
    len: usize,
    run: Run<'a>,
    hash: Hash,
}

impl Pass<'_> {
    /// The pass with `LANES` blocks per batch.
    #[inline(always)]
    fn go<const LANES: usize>(mut self) -> [u8; TAG_LEN] {
        let (nonce, state) = ([self.state[6], self.state[7]], self.state);
        let fill = |block: u64, out: &mut [Block]| {
            blocks::<LANES>(
                state,
                |lane| {
                    let counter = block.wrapping_add(lane as u64);
                    [nonce[0], nonce[1], counter as u32, (counter >> 32) as u32]
                },
                out,
            );
        };
        let batch = LANES * BLOCK;
        let mut stream = [[0u8; BLOCK]; LANES];
        let mut block = self.offset / BLOCK as u64;
        let mut skip = (self.offset % BLOCK as u64) as usize;
        fill(block, &mut stream);
        let mut mac = (self.hash != Hash::Nothing).then(|| {
            debug_assert_eq!(self.offset, MAC_KEY_LEN as u64);
            let mut key = Zeroizing::new([0u8; MAC_KEY_LEN]);
            key.copy_from_slice(&stream[0][..MAC_KEY_LEN]);
            Mac::new(&key, self.len)
        });
        // Only the last chunk may end in part of a Poly1305 block: every
        // other is a batch, or a batch less the 32-byte key.
        let mut tail = [0u8; 16];
        let mut tail_len = 0;
        let (mut done, mut part, mut at) = (0, 0, 0);
        while done < self.len {
            if skip == batch {
                block = block.wrapping_add(LANES as u64);
                fill(block, &mut stream);
                skip = 0;
            }
            let n = (batch - skip).min(self.len - done);
            let chunk = self.run.chunk(done, n, &mut part, &mut at);
            let whole = n - n % 16;
            if let (Hash::Input, Some(mac)) = (self.hash, &mut mac) {
                mac.update(&chunk[..whole]);
                tail[..n - whole].copy_from_slice(&chunk[whole..]);
            }
            xor(chunk, &stream.as_flattened()[skip..]);
            if let (Hash::Output, Some(mac)) = (self.hash, &mut mac) {
                mac.update(&chunk[..whole]);
                tail[..n - whole].copy_from_slice(&chunk[whole..]);
            }
            tail_len = n - whole;
            done += n;
            skip += n;
        }
        stream.as_flattened_mut().zeroize();
        mac.map_or([0; TAG_LEN], |mac| mac.finish(&tail[..tail_len]))
    }
}

impl Kernel for Pass<'_> {
    type Output = [u8; TAG_LEN];

    #[inline(always)]
    fn run<const LANES: usize>(self) -> [u8; TAG_LEN] {
        // A box that fits 4 blocks makes no more.
        if LANES > 4 && (self.offset as usize).saturating_add(self.len) <= 4 * BLOCK {
            self.go::<4>()
        } else {
            self.go::<LANES>()
        }
    }
}

/// The first two blocks of each of `LANES / 2` consecutive nonces.
struct Ahead<'a> {
    /// The key's state (words 6 to 9 are replaced).
    state: &'a [u32; 16],
    /// The first nonce's counter.
    first: u64,
    out: &'a mut [Block; MAX_LANES],
}

impl Kernel for Ahead<'_> {
    type Output = ();

    #[inline(always)]
    fn run<const LANES: usize>(self) {
        let first = self.first;
        blocks::<LANES>(
            self.state,
            |lane| {
                let [n0, n1] = nonce_words(&first.wrapping_add(lane as u64 / 2).to_be_bytes());
                [n0, n1, lane as u32 % 2, 0]
            },
            &mut self.out[..],
        );
    }
}

/// The Salsa20/20 keystream for one key and 8-byte nonce, for the tests'
/// comparisons with the `salsa20` crate.
#[cfg(test)]
pub(super) struct Salsa20 {
    /// The state of block 0: key, nonce, counter 0.
    initial: [u32; 16],
    width: Width,
}

#[cfg(test)]
impl Salsa20 {
    /// The stream for `key` and `nonce`, as wide as this CPU runs.
    pub(super) fn new(key: &[u8; 32], nonce: &[u8; 8]) -> Self {
        Self::with_width(key, nonce, Width::detect())
    }

    /// The stream for `key` and `nonce`, `width` lanes at a time.
    pub(super) fn with_width(key: &[u8; 32], nonce: &[u8; 8], width: Width) -> Self {
        let mut middle = [0u8; 16];
        middle[..8].copy_from_slice(nonce);
        Salsa20 {
            initial: state(key, &middle),
            width,
        }
    }

    /// XORs `data` with the keystream from byte `offset` on.
    pub(super) fn apply_keystream(&self, offset: u64, data: &mut [u8]) {
        self.width.run(Pass {
            state: &self.initial,
            offset,
            len: data.len(),
            run: Run::InPlace(data),
            hash: Hash::Nothing,
        });
    }
}

#[cfg(test)]
impl Drop for Salsa20 {
    fn drop(&mut self) {
        self.initial.zeroize();
    }
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
/// fits in a nonce's first two blocks: such boxes are made [`Ahead`].
const SHORT_BOX: usize = 2 * BLOCK - MAC_KEY_LEN;

/// A [`SessionBox`] for the nonces with one 16-byte prefix: what a
/// direction of MESSAGE traffic needs, `HSalsa20` done once.
pub(super) struct MessageKey {
    /// The Salsa20 state of the subkey (nonce and counter words zero).
    state: Zeroizing<[u32; 16]>,
    width: Width,
    /// The first two keystream blocks of the nonces in `ahead`, two by
    /// two, kept from box to box and wiped when dropped: while the key
    /// lives what it holds is no secret beyond the key.
    stream: Zeroizing<[Block; MAX_LANES]>,
    /// The counter whose blocks are `stream[0..2]`, and how many
    /// counters from it on `stream` holds.
    ahead: Option<(u64, u64)>,
}

impl MessageKey {
    fn new(subkey: Zeroizing<[u8; 32]>) -> Self {
        Self::with_width(subkey, Width::detect())
    }

    /// The key, its keystream `width` lanes at a time.
    fn with_width(subkey: Zeroizing<[u8; 32]>, width: Width) -> Self {
        MessageKey {
            state: Zeroizing::new(state(&subkey, &[0; 16])),
            width,
            stream: Zeroizing::new([[0; BLOCK]; MAX_LANES]),
            ahead: None,
        }
    }

    /// The key's state for the nonce `counter`.
    fn nonce_state(&self, counter: &[u8; 8]) -> Zeroizing<[u32; 16]> {
        let mut state = self.state.clone();
        [state[6], state[7]] = nonce_words(counter);
        state
    }

    /// Blocks 0 and 1 of nonce `counter`, for a short box: made with the
    /// next `lanes / 2 - 1` nonces' unless an earlier box made them.
    fn short_stream(&mut self, counter: &[u8; 8]) -> &[u8] {
        let counter = u64::from_be_bytes(*counter);
        let index = match self.ahead {
            Some((first, count)) if counter.wrapping_sub(first) < count => counter - first,
            _ => {
                let pairs = (self.width.lanes() / 2) as u64;
                self.width.run(Ahead {
                    state: &self.state,
                    first: counter,
                    out: &mut self.stream,
                });
                // Counters past u64::MAX wrapped: not the next ones.
                let count = pairs.min((u64::MAX - counter).saturating_add(1));
                self.ahead = Some((counter, count));
                0
            }
        };
        let at = 2 * index as usize;
        self.stream[at..at + 2].as_flattened()
    }

    /// Runs one [`Pass`] over a long box; returns the tag.
    fn pass(&self, counter: &[u8; 8], len: usize, run: Run<'_>, hash: Hash) -> [u8; TAG_LEN] {
        let state = self.nonce_state(counter);
        self.width.run(Pass {
            state: &state,
            offset: MAC_KEY_LEN as u64,
            len,
            run,
            hash,
        })
    }

    /// Encrypts `data` in place under nonce `prefix ‖ counter`; returns the
    /// tag: `crypto_secretbox` after its HSalsa20 step.
    pub(super) fn seal(&mut self, counter: &[u8; 8], data: &mut [u8]) -> [u8; TAG_LEN] {
        if data.len() <= SHORT_BOX {
            let stream = self.short_stream(counter);
            xor(data, &stream[MAC_KEY_LEN..]);
            return poly1305(mac_key(stream), data);
        }
        self.pass(counter, data.len(), Run::InPlace(data), Hash::Output)
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
        out.reserve(len);
        if len <= SHORT_BOX {
            let from = out.len();
            for part in parts {
                out.extend_from_slice(part);
            }
            let stream = self.short_stream(counter);
            xor(&mut out[from..], &stream[MAC_KEY_LEN..]);
            return poly1305(mac_key(stream), &out[from..]);
        }
        self.pass(counter, len, Run::Append { parts, out }, Hash::Output)
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
        let from = out.len();
        if ciphertext.len() <= SHORT_BOX {
            let stream = self.short_stream(counter);
            if !tags_match(&poly1305(mac_key(stream), ciphertext), tag) {
                return Err(AeadError);
            }
            out.extend_from_slice(ciphertext);
            xor(&mut out[from..], &stream[MAC_KEY_LEN..]);
            return Ok(());
        }
        out.reserve(ciphertext.len());
        let parts = [ciphertext];
        let run = Run::Append {
            parts: &parts,
            out: &mut *out,
        };
        if tags_match(&self.pass(counter, ciphertext.len(), run, Hash::Input), tag) {
            Ok(())
        } else {
            // Decrypted as it was hashed: what is not authentic is wiped
            // and taken back.
            out[from..].zeroize();
            out.truncate(from);
            Err(AeadError)
        }
    }

    /// Checks the tag and decrypts `data` in place; on a bad tag `data` is
    /// left as it was.
    pub(super) fn open(
        &mut self,
        counter: &[u8; 8],
        data: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AeadError> {
        if data.len() <= SHORT_BOX {
            let stream = self.short_stream(counter);
            if !tags_match(&poly1305(mac_key(stream), data), tag) {
                return Err(AeadError);
            }
            xor(data, &stream[MAC_KEY_LEN..]);
            return Ok(());
        }
        let len = data.len();
        if tags_match(
            &self.pass(counter, len, Run::InPlace(data), Hash::Input),
            tag,
        ) {
            return Ok(());
        }
        // Decrypted as it was hashed: XOR the keystream back in.
        self.pass(counter, len, Run::InPlace(data), Hash::Nothing);
        Err(AeadError)
    }
}

/// The Poly1305 key at the start of a box's keystream.
fn mac_key(stream: &[u8]) -> &[u8; MAC_KEY_LEN] {
    stream[..MAC_KEY_LEN]
        .try_into()
        .expect("a box's keystream starts with its Poly1305 key")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_box::SalsaBox;
    use crypto_box::aead::KeyInit;
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

    /// The widest batch, in bytes.
    const BATCH: usize = MAX_LANES * BLOCK;

    /// Lengths around block and batch edges, and some longer ones.
    fn length() -> impl Strategy<Value = usize> {
        prop_oneof![0usize..=3 * BATCH + 3, 0usize..20_000]
    }

    /// One of the widths this CPU runs.
    fn width() -> impl Strategy<Value = Width> {
        any::<prop::sample::Index>().prop_map(|i| {
            let all = Width::all();
            all[i.index(all.len())]
        })
    }

    proptest! {
        #[test]
        fn keystream_matches_salsa20(
            key in any::<[u8; 32]>(),
            nonce in any::<[u8; 8]>(),
            offset in prop_oneof![0u64..=3 * BATCH as u64, any::<u32>().prop_map(u64::from)],
            data in length().prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n)),
        ) {
            let reference = salsa20::Salsa20::new(&key.into(), &nonce.into());
            let expected = reference_keystream(reference, offset, data.clone());
            for width in Width::all() {
                let mut ours = data.clone();
                Salsa20::with_width(&key, &nonce, width).apply_keystream(offset, &mut ours);
                prop_assert_eq!(&ours, &expected, "{:?}", width);
            }
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
            let reference = salsa20::XSalsa20::new(&key.into(), &nonce.into());
            let expected = reference_keystream(reference, offset, vec![0u8; len]);
            let mut ours = vec![0u8; len];
            Salsa20::new(&subkey, &counter).apply_keystream(offset, &mut ours);
            prop_assert_eq!(ours, expected);
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
            width in width(),
            flip in any::<prop::sample::Index>(),
        ) {
            let mut message_key = MessageKey::with_width(hsalsa20(&key, &prefix), width);
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
            // A flipped bit: refused, and the data left as it was.
            if !sealed.is_empty() {
                let mut tampered = sealed.clone();
                tampered[flip.index(sealed.len())] ^= 0x80;
                let before = tampered.clone();
                prop_assert!(message_key.open(&counter.to_be_bytes(), &mut tampered, &tag).is_err());
                prop_assert_eq!(tampered, before);
            }
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
            width in width(),
        ) {
            let mut message_key = MessageKey::with_width(Zeroizing::new(key), width);
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
                let mut refused = BytesMut::from(&b"head"[..]);
                prop_assert!(message_key.open_append(&counter, &in_place, &tag, &mut refused).is_err());
                prop_assert_eq!(&refused[..], b"head");
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
                1..40,
            ),
            sealer_width in width(),
            opener_width in width(),
        ) {
            // The two ends may run different widths, as two peers do.
            let mut sealer = MessageKey::with_width(hsalsa20(&key, &prefix), sealer_width);
            let mut opener = MessageKey::with_width(hsalsa20(&key, &prefix), opener_width);
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

        /// The look-ahead batch holds each nonce's own first two blocks, at
        /// every width, up to the last counter.
        #[test]
        fn ahead_blocks_are_each_nonces_own(
            key in any::<[u8; 32]>(),
            first in prop_oneof![any::<u64>(), Just(u64::MAX - 2)],
        ) {
            for width in Width::all() {
                let mut out = [[0u8; BLOCK]; MAX_LANES];
                let state = state(&key, &[0; 16]);
                width.run(Ahead { state: &state, first, out: &mut out });
                for pair in 0..width.lanes() / 2 {
                    let Some(counter) = first.checked_add(pair as u64) else { break };
                    let reference = salsa20::Salsa20::new(&key.into(), &counter.to_be_bytes().into());
                    let expected = reference_keystream(reference, 0, vec![0; 2 * BLOCK]);
                    prop_assert_eq!(out[2 * pair..2 * pair + 2].as_flattened(), &expected[..]);
                }
            }
        }
    }

    /// Every width seals every length from 0 to past three of the widest
    /// batches alike, byte for byte, and opens what another width sealed;
    /// the data are pseudo-random, a new run per length.
    #[test]
    fn every_width_seals_every_length_alike() {
        let widths = Width::all();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for len in 0..=3 * BATCH + 40 {
            let key: [u8; 32] = std::array::from_fn(|_| next() as u8);
            let counter = next().to_be_bytes();
            let message: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let mut sealed = Vec::new();
            for width in &widths {
                let mut key = MessageKey::with_width(Zeroizing::new(key), *width);
                let mut out = BytesMut::new();
                let tag = key.seal_append(
                    &counter,
                    &[&message[..len / 3], &message[len / 3..]],
                    &mut out,
                );
                sealed.push((out, tag));
            }
            for (width, (out, tag)) in widths.iter().zip(&sealed) {
                assert_eq!(
                    (out, tag),
                    (&sealed[0].0, &sealed[0].1),
                    "{width:?}, {len} bytes"
                );
                let opener = widths[(len + 1) % widths.len()];
                let mut plain = BytesMut::new();
                MessageKey::with_width(Zeroizing::new(key), opener)
                    .open_append(&counter, out, tag, &mut plain)
                    .expect("opens");
                assert_eq!(
                    &plain[..],
                    &message[..],
                    "{width:?} then {opener:?}, {len} bytes"
                );
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
