//! ZMTP frames: a flags byte, a size, and a body.
//!
//! ```text
//! flags:  bit 0 MORE, bit 1 LONG (8-byte size), bit 2 COMMAND, bits 3-7 reserved
//! short:  flags(1) size(1)     body(0..=255)
//! long:   flags(1) size(8, BE) body
//! ```
//!
//! We send the short form whenever the body fits, as libzmq does, and accept
//! the long form for any size. Reserved bits are ignored on receive. The
//! maximum frame size is checked against the declared size in the header,
//! before a single byte of the body is buffered or reserved, so a header that
//! claims 2^63 bytes is refused outright. Bodies are split off the read buffer
//! as [`Bytes`] without copying.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use nom::number::streaming::{be_u8, be_u64};
use thiserror::Error;

use crate::decode::Decoded;

/// Flag bit: more frames of this message follow.
pub const MORE: u8 = 0x01;
/// Flag bit: the size field is 8 bytes.
pub const LONG: u8 = 0x02;
/// Flag bit: the frame is a command, not message data.
pub const COMMAND: u8 = 0x04;

/// Largest body that fits the short (1-byte size) form.
pub const SHORT_MAX: usize = 255;

/// A frame header, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// MORE bit: another frame of the same message follows.
    pub more: bool,
    /// COMMAND bit: the body is a command.
    pub command: bool,
    /// Declared body size in bytes.
    pub size: u64,
}

impl FrameHeader {
    /// Decodes a header (2 or 9 bytes) from the front of `input`.
    ///
    /// No header is invalid: every flags byte is accepted (reserved bits
    /// ignored) and every size is representable. Size limits are the
    /// caller's business, see [`FrameDecoder`].
    pub fn decode(input: &[u8]) -> Decoded<FrameHeader> {
        // Neither branch can fail; only Incomplete is possible.
        Decoded::from_nom(input.len(), parse_header(input), || ())
            .unwrap_or(Decoded::Incomplete { needed: 1 })
    }

    /// The receive path's parse: the same answer as [`FrameHeader::decode`]
    /// (a test compares the two on every short header and on random long
    /// ones), without the parser combinators, for a header read per frame.
    #[inline]
    fn peek(input: &[u8]) -> Decoded<FrameHeader> {
        let Some(&flags) = input.first() else {
            return Decoded::Incomplete { needed: 1 };
        };
        let (size, consumed) = if flags & LONG == 0 {
            match input.get(1) {
                Some(&size) => (u64::from(size), 2),
                None => return Decoded::Incomplete { needed: 1 },
            }
        } else {
            match input.get(1..9) {
                Some(size) => {
                    let mut be = [0u8; 8];
                    be.copy_from_slice(size);
                    (u64::from_be_bytes(be), 9)
                }
                None => {
                    return Decoded::Incomplete {
                        needed: 9 - input.len(),
                    };
                }
            }
        };
        Decoded::Complete {
            value: FrameHeader {
                more: flags & MORE != 0,
                command: flags & COMMAND != 0,
                size,
            },
            consumed,
        }
    }

    /// Appends a header for a body of `size` bytes.
    pub fn encode(more: bool, command: bool, size: usize, out: &mut BytesMut) {
        let mut flags = 0;
        if more {
            flags |= MORE;
        }
        if command {
            flags |= COMMAND;
        }
        if size <= SHORT_MAX {
            out.put_u8(flags);
            out.put_u8(size as u8);
        } else {
            out.put_u8(flags | LONG);
            out.put_u64(size as u64);
        }
    }

    /// Length of the encoded header for a body of `size` bytes.
    pub const fn encoded_len(size: usize) -> usize {
        if size <= SHORT_MAX { 2 } else { 9 }
    }
}

fn parse_header(input: &[u8]) -> nom::IResult<&[u8], FrameHeader> {
    let (input, flags) = be_u8(input)?;
    let (input, size) = if flags & LONG != 0 {
        be_u64(input)?
    } else {
        let (input, size) = be_u8(input)?;
        (input, u64::from(size))
    };
    Ok((
        input,
        FrameHeader {
            more: flags & MORE != 0,
            command: flags & COMMAND != 0,
            size,
        },
    ))
}

/// One received frame: its two meaningful flags and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Another frame of the same message follows.
    pub more: bool,
    /// The body is a command.
    pub command: bool,
    /// The frame body, a slice of the read buffer.
    pub body: Bytes,
}

impl Frame {
    /// A data frame.
    pub fn data(body: impl Into<Bytes>, more: bool) -> Self {
        Frame {
            more,
            command: false,
            body: body.into(),
        }
    }

    /// Appends this frame, header and body, to `out` (copying the body).
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(FrameHeader::encoded_len(self.body.len()) + self.body.len());
        FrameHeader::encode(self.more, self.command, self.body.len(), out);
        out.put_slice(&self.body);
    }
}

/// A frame declared a size above the configured maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("frame of {size} bytes exceeds the maximum of {max} bytes")]
pub struct FrameTooLarge {
    /// The size the header declared.
    pub size: u64,
    /// The configured maximum.
    pub max: u64,
}

/// Splits frames off a read buffer, enforcing a maximum frame size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameDecoder {
    max_frame_size: u64,
    body: Body,
}

/// How a decoded frame's body relates to the read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// A slice of the read buffer: no copy, but it keeps the whole buffer
    /// alive as long as it lives.
    Slice,
    /// A copy in its own allocation if shorter than this many bytes, else
    /// a slice (a long frame fills most of the buffer it pins anyway).
    Copy { below: usize },
    /// A copy, and the bytes taken from the read buffer are zeroed.
    CopyAndWipe,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(None)
    }
}

impl FrameDecoder {
    /// A decoder refusing frames above `max_frame_size` bytes; `None` means
    /// only the protocol's own limit of 2^63 - 1.
    pub fn new(max_frame_size: Option<u64>) -> Self {
        FrameDecoder {
            max_frame_size: max_frame_size.unwrap_or(i64::MAX as u64),
            body: Body::Slice,
        }
    }

    /// The same decoder, with the bodies of frames shorter than `below`
    /// bytes copied into their own allocations (`Some`), or every body left
    /// a slice of the read buffer (`None`, the default). A slice costs no
    /// copy but keeps its whole read buffer alive; a driver whose queued
    /// messages pin many buffers copies the short ones instead, so that
    /// what they hold is close to what they carry, while long frames, which
    /// fill most of their buffer, stay uncopied.
    pub fn copying(self, below: Option<usize>) -> Self {
        let body = match (below, self.body) {
            (_, Body::CopyAndWipe) => Body::CopyAndWipe,
            (Some(below), _) => Body::Copy { below },
            (None, _) => Body::Slice,
        };
        FrameDecoder { body, ..self }
    }

    /// Whether bodies are copied out of the read buffer.
    pub fn is_copying(&self) -> bool {
        self.body != Body::Slice
    }

    /// The same decoder, but each frame's body is copied into its own
    /// allocation and the bytes it took from the read buffer are zeroed:
    /// for handshake frames, which may carry a password, so that no copy of
    /// it stays behind in a buffer the connection reuses. Costs a copy per
    /// frame; the handshake has a handful.
    pub fn wiping(self) -> Self {
        FrameDecoder {
            body: Body::CopyAndWipe,
            ..self
        }
    }

    /// The effective maximum frame size.
    pub fn max_frame_size(&self) -> u64 {
        self.max_frame_size
    }

    /// Takes one whole frame off the front of `buf`, or reports how many more
    /// bytes the next frame needs. On `Incomplete`, `buf` is untouched.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use zmtp::{Decoded, FrameDecoder};
    /// let mut buf = BytesMut::from(&[0x01, 0x03, b'a', b'b', b'c', 0x00][..]);
    /// let decoder = FrameDecoder::default();
    /// let frame = decoder.decode(&mut buf).unwrap().complete().unwrap();
    /// assert_eq!((frame.more, &frame.body[..]), (true, &b"abc"[..]));
    /// assert_eq!(decoder.decode(&mut buf).unwrap(), Decoded::Incomplete { needed: 1 });
    /// ```
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Decoded<Frame>, FrameTooLarge> {
        let (header, header_len) = match FrameHeader::peek(buf) {
            Decoded::Complete { value, consumed } => (value, consumed),
            Decoded::Incomplete { needed } => return Ok(Decoded::Incomplete { needed }),
        };
        if header.size > self.max_frame_size {
            return Err(FrameTooLarge {
                size: header.size,
                max: self.max_frame_size,
            });
        }
        // `size <= max_frame_size <= i64::MAX`; on 32-bit targets a size
        // beyond usize is at least as unreachable as a too-large one.
        let size = usize::try_from(header.size).map_err(|_| FrameTooLarge {
            size: header.size,
            max: usize::MAX as u64,
        })?;
        let available = buf.len() - header_len;
        if available < size {
            return Ok(Decoded::Incomplete {
                needed: size - available,
            });
        }
        buf.advance(header_len);
        let body = match self.body {
            Body::Copy { below } if size < below => Bytes::copy_from_slice(&buf.split_to(size)),
            Body::Slice | Body::Copy { .. } => buf.split_to(size).freeze(),
            Body::CopyAndWipe => copy_out_and_wipe(&mut buf.split_to(size)),
        };
        Ok(Decoded::Complete {
            value: Frame {
                more: header.more,
                command: header.command,
                body,
            },
            consumed: header_len + size,
        })
    }
}

/// A copy of `taken` in its own allocation; `taken` is zeroed.
fn copy_out_and_wipe(taken: &mut BytesMut) -> Bytes {
    let body = Bytes::copy_from_slice(taken);
    taken.fill(0);
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_wiping_decoder_zeroes_what_it_took_and_owns_its_body() {
        let mut buf = BytesMut::from(&b"\x04\x06secret\x00\x01z"[..]);
        let frame = FrameDecoder::default()
            .wiping()
            .decode(&mut buf)
            .unwrap()
            .complete()
            .unwrap();
        assert_eq!(&frame.body[..], b"secret");
        // The body is its own allocation, not a slice of the read buffer.
        assert!(frame.body.try_into_mut().is_ok());
        assert_eq!(&buf[..], b"\x00\x01z");
        // A copying decoder owns its bodies too; a slicing one shares.
        for (decoder, owned) in [
            (FrameDecoder::default().copying(Some(4)), true),
            (FrameDecoder::default().copying(Some(3)), false),
            (FrameDecoder::default(), false),
        ] {
            let mut buf = BytesMut::from(&b"\x00\x03abc\x00\x01z"[..]);
            let frame = decoder.decode(&mut buf).unwrap().complete().unwrap();
            assert_eq!(&frame.body[..], b"abc");
            assert_eq!(frame.body.try_into_mut().is_ok(), owned);
        }
        // What the decoder gives up of the read buffer is zeroed.
        let mut region = BytesMut::from(&b"secret"[..]);
        let copy = copy_out_and_wipe(&mut region);
        assert_eq!((&copy[..], &region[..]), (&b"secret"[..], &[0u8; 6][..]));
    }

    #[test]
    fn peek_agrees_with_the_parser_on_short_headers() {
        for flags in 0..=255u8 {
            assert_eq!(FrameHeader::peek(&[flags]), FrameHeader::decode(&[flags]));
            for size in 0..=255u8 {
                let input = [flags, size];
                assert_eq!(FrameHeader::peek(&input), FrameHeader::decode(&input));
            }
        }
        assert_eq!(FrameHeader::peek(&[]), FrameHeader::decode(&[]));
    }

    proptest! {
        #[test]
        fn peek_agrees_with_the_parser(input in proptest::collection::vec(any::<u8>(), 0..12)) {
            prop_assert_eq!(FrameHeader::peek(&input), FrameHeader::decode(&input));
        }
    }

    #[test]
    fn short_and_long_forms() {
        let mut out = BytesMut::new();
        FrameHeader::encode(false, false, 255, &mut out);
        assert_eq!(&out[..], &[0x00, 0xff]);
        out.clear();
        FrameHeader::encode(true, false, 256, &mut out);
        assert_eq!(&out[..], &[0x03, 0, 0, 0, 0, 0, 0, 1, 0]);
        out.clear();
        FrameHeader::encode(false, true, 10, &mut out);
        assert_eq!(&out[..], &[0x04, 10]);
        out.clear();
        FrameHeader::encode(false, true, 300, &mut out);
        assert_eq!(out[0], 0x06);
    }

    #[test]
    fn long_form_accepted_for_small_bodies() {
        let mut buf = BytesMut::from(&[0x02, 0, 0, 0, 0, 0, 0, 0, 2, b'h', b'i'][..]);
        let f = FrameDecoder::default()
            .decode(&mut buf)
            .unwrap()
            .complete()
            .unwrap();
        assert_eq!(&f.body[..], b"hi");
        assert!(buf.is_empty());
    }

    #[test]
    fn reserved_bits_ignored() {
        let mut buf = BytesMut::from(&[0xf9, 0x01, b'x'][..]);
        let f = FrameDecoder::default()
            .decode(&mut buf)
            .unwrap()
            .complete()
            .unwrap();
        assert!(f.more);
        assert!(!f.command);
        assert_eq!(&f.body[..], b"x");
    }

    #[test]
    fn huge_declared_size_refused_before_any_body() {
        let mut buf = BytesMut::from(&[0x02, 0x80, 0, 0, 0, 0, 0, 0, 0][..]);
        let err = FrameDecoder::default().decode(&mut buf).unwrap_err();
        assert_eq!(err.size, 1 << 63);
        // Nothing was consumed and nothing was reserved for the body.
        assert_eq!(buf.len(), 9);
        assert!(buf.capacity() < 1024);

        let mut buf = BytesMut::from(&[0x00, 200][..]);
        let err = FrameDecoder::new(Some(100)).decode(&mut buf).unwrap_err();
        assert_eq!(
            err,
            FrameTooLarge {
                size: 200,
                max: 100
            }
        );
        // Exactly at the limit is fine.
        let mut buf = BytesMut::from(&[0x00, 100][..]);
        assert_eq!(
            FrameDecoder::new(Some(100)).decode(&mut buf).unwrap(),
            Decoded::Incomplete { needed: 100 }
        );
    }

    #[test]
    fn incomplete_reports_missing_bytes() {
        let d = FrameDecoder::default();
        let mut buf = BytesMut::new();
        assert_eq!(
            d.decode(&mut buf).unwrap(),
            Decoded::Incomplete { needed: 1 }
        );
        let mut buf = BytesMut::from(&[0x02, 0, 0][..]);
        assert!(matches!(
            d.decode(&mut buf).unwrap(),
            Decoded::Incomplete { .. }
        ));
        let mut buf = BytesMut::from(&[0x00, 5, 1, 2][..]);
        assert_eq!(
            d.decode(&mut buf).unwrap(),
            Decoded::Incomplete { needed: 3 }
        );
        assert_eq!(buf.len(), 4);
    }

    #[test]
    fn large_body_is_not_copied() {
        let mut wire = BytesMut::new();
        Frame::data(vec![7u8; 100_000], false).encode(&mut wire);
        let start = wire.as_ptr() as usize;
        let f = FrameDecoder::default()
            .decode(&mut wire)
            .unwrap()
            .complete()
            .unwrap();
        assert_eq!(f.body.as_ptr() as usize, start + 9);
    }

    fn frame() -> impl Strategy<Value = Frame> {
        (
            any::<bool>(),
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..600),
        )
            .prop_map(|(more, command, body)| Frame {
                more,
                command,
                body: body.into(),
            })
    }

    proptest! {
        #[test]
        fn round_trip(frames in proptest::collection::vec(frame(), 0..8)) {
            let mut wire = BytesMut::new();
            for f in &frames {
                f.encode(&mut wire);
            }
            let d = FrameDecoder::default();
            for f in &frames {
                let got = d.decode(&mut wire).unwrap().complete().unwrap();
                prop_assert_eq!(&got, f);
            }
            prop_assert!(wire.is_empty());
        }

        #[test]
        fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..64), max in proptest::option::of(0u64..1000)) {
            let mut buf = BytesMut::from(&input[..]);
            let d = FrameDecoder::new(max);
            while let Ok(Decoded::Complete { .. }) = d.decode(&mut buf) {}
        }
    }
}
