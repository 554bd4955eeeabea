//! The bridge's own messages on a link, each one ZMTP multipart message.
//!
//! ```text
//! HELLO    'H' | version u16, capabilities u32, cache size u32,
//!                window chunks u32, window bytes u64,
//!                incarnation u64, nonce u64, epoch u64,
//!                record: about u64, epoch u64, delivered u64,
//!                node name (1 to 255 bytes of UTF-8)
//! WELCOME  'W' | the same fields: the nonce echoed, the epoch agreed
//! CHUNK    'C' | epoch u64, sequence u64, cluster message type u8 | payload
//! GCHUNK   'G' | epoch u64, sequence u64, cluster message type u8,
//!                group u32, group epoch u64, group sequence u64 | payload
//! ACK      'A' | epoch u64, sequence u64 (everything up to it delivered)
//! REFUSE   'R' | reason code u16, text (UTF-8)
//! ```
//!
//! All integers are big-endian. The payload of a CHUNK is its own frame, so
//! a chunk of any size travels whole, without copying, and never in pieces.
//! Decoding is strict: a wrong tag, a short or long header, a node name
//! that is empty, too long or not UTF-8, or an unknown message type is an
//! error naming what was wrong. What the fields mean, and the rules a
//! session applies to them, are in `docs/bridge-protocol.md`.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;
use zmtp::Message;

use crate::epoch::CacheEpoch;
use crate::group::{GroupId, GroupTag};
use crate::message_type::{MessageType, MessageTypeError};

/// The bridge protocol version this build speaks. Version 2 added the
/// incarnation, the link nonce and the delivery record to the hello;
/// version 3 added GCHUNK (groups), with the same hello.
pub const PROTOCOL_VERSION: u16 = 3;

/// The oldest version this build still speaks: a HELLO of a version from
/// here up is answered with the lower of the two, which the link then
/// speaks (below [`GROUPS_VERSION`], it carries no group chunks).
pub const OLDEST_PROTOCOL_VERSION: u16 = 2;

/// The first version with GCHUNK: a link agreed at an older one is never
/// sent a group chunk (its peer would end the link on the unknown tag).
pub const GROUPS_VERSION: u16 = 3;

/// The longest node name, in bytes (a ZMTP routing id's limit).
pub const MAX_NODE_NAME: usize = 255;

/// The longest REFUSE text we send or accept, in bytes.
pub const MAX_REFUSE_TEXT: usize = 1024;

/// What a receiver reports of one epoch: how many of the sender's chunks
/// it delivered to its application. All zero means "nothing to report".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Record {
    /// The sender incarnation the record is about.
    pub about: u64,
    /// The latest epoch in which the receiver delivered at least one of
    /// that incarnation's chunks.
    pub epoch: CacheEpoch,
    /// How many it delivered in that epoch (sequences 1 to `delivered`).
    pub delivered: u64,
}

/// The opening of a link: who we are, what we propose, what we delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Bridge protocol version.
    pub version: u16,
    /// Capability flags (the old CAPS word: 1 compression, 2 no caching,
    /// 4 64-bit ids, 8 new cache strategy).
    pub capabilities: u32,
    /// Entries in the sender's serialization cache.
    pub cache_size: u32,
    /// Most unacknowledged chunks the sender accepts from us.
    pub window_chunks: u32,
    /// Most unacknowledged bytes the sender accepts from us (a single
    /// larger chunk still goes when nothing else is in flight).
    pub window_bytes: u64,
    /// The sender's process incarnation: random, fixed for its lifetime.
    pub incarnation: u64,
    /// The link attempt this hello belongs to; a WELCOME echoes it.
    pub nonce: u64,
    /// The epoch proposed (HELLO) or agreed (WELCOME).
    pub epoch: CacheEpoch,
    /// What the sender delivered of our chunks in its latest epoch.
    pub record: Record,
    /// The sender's node name, its stable peer name.
    pub node: String,
}

/// A REFUSE's reason, as a code a program can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseCode {
    /// The peer broke the bridge protocol.
    Protocol,
    /// The bridge protocol version is not spoken here.
    Version,
    /// The node name is taken by another identity, or not allowed.
    Name,
    /// A code this build does not know.
    Other(u16),
}

impl RefuseCode {
    fn to_wire(self) -> u16 {
        match self {
            RefuseCode::Protocol => 1,
            RefuseCode::Version => 2,
            RefuseCode::Name => 3,
            RefuseCode::Other(code) => code,
        }
    }

    fn from_wire(code: u16) -> Self {
        match code {
            1 => RefuseCode::Protocol,
            2 => RefuseCode::Version,
            3 => RefuseCode::Name,
            other => RefuseCode::Other(other),
        }
    }
}

/// One bridge message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wire {
    /// The connecting side opens a link.
    Hello(Hello),
    /// The accepting side agrees.
    Welcome(Hello),
    /// A chunk serialized for `epoch`.
    Chunk {
        /// The epoch the chunk was serialized in.
        epoch: CacheEpoch,
        /// Its position in the epoch, from 1.
        seq: u64,
        /// What kind of cluster message it is.
        kind: MessageType,
        /// The serialized bytes, opaque to the bridge.
        payload: Bytes,
    },
    /// A group chunk: it takes place `seq` of the link's `epoch` like a
    /// CHUNK, and belongs to the group stream named by `tag`.
    GroupChunk {
        /// The link epoch it travels in.
        epoch: CacheEpoch,
        /// Its position in the link epoch, from 1.
        seq: u64,
        /// What kind of cluster message it is.
        kind: MessageType,
        /// The group, group epoch and group sequence.
        tag: GroupTag,
        /// The serialized bytes, the same for every member.
        payload: Bytes,
    },
    /// Every chunk of `epoch` up to `seq` was delivered.
    Ack {
        /// The epoch.
        epoch: CacheEpoch,
        /// The highest sequence number delivered.
        seq: u64,
    },
    /// The sender refuses the link; it closes next.
    Refuse {
        /// Why, for programs.
        code: RefuseCode,
        /// Why, for people.
        text: String,
    },
}

/// Why bytes from a peer are not a bridge message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    /// The frame count does not fit the tag.
    #[error("bridge message with {frames} frames; expected {expected}")]
    FrameCount {
        /// Frames received.
        frames: usize,
        /// Frames expected.
        expected: usize,
    },
    /// The first frame is not a known tag.
    #[error("unknown bridge message tag {0:?}")]
    UnknownTag(Vec<u8>),
    /// The header frame has the wrong length.
    #[error("bridge {kind} header of {len} bytes; expected {expected}")]
    HeaderLength {
        /// Which message.
        kind: &'static str,
        /// Its length.
        len: usize,
        /// The expected length.
        expected: &'static str,
    },
    /// The node name or refusal text is not UTF-8.
    #[error("bridge {0} text is not UTF-8")]
    Text(&'static str),
    /// The node name is empty.
    #[error("bridge hello with an empty node name")]
    EmptyName,
    /// The chunk's cluster message type is refused.
    #[error(transparent)]
    MessageType(#[from] MessageTypeError),
}

/// The GCHUNK header's length.
const GCHUNK_HEADER: usize = 8 + 8 + 1 + 4 + 8 + 8;

const HELLO_FIXED: usize = 2 + 4 + 4 + 4 + 8 + 8 + 8 + 8 + 8 + 8 + 8;

impl Wire {
    /// Encodes as a ZMTP message.
    pub fn encode(&self) -> Message {
        let mut m = Message::new();
        match self {
            Wire::Hello(h) => encode_hello(&mut m, b"H", h),
            Wire::Welcome(h) => encode_hello(&mut m, b"W", h),
            Wire::Chunk {
                epoch,
                seq,
                kind,
                payload,
            } => {
                m.push(Bytes::from_static(b"C"));
                let mut header = BytesMut::with_capacity(17);
                header.put_u64(epoch.0);
                header.put_u64(*seq);
                header.put_u8(kind.code());
                m.push(header.freeze());
                m.push(payload.clone());
            }
            Wire::GroupChunk {
                epoch,
                seq,
                kind,
                tag,
                payload,
            } => {
                m.push(Bytes::from_static(b"G"));
                let mut header = BytesMut::with_capacity(GCHUNK_HEADER);
                header.put_u64(epoch.0);
                header.put_u64(*seq);
                header.put_u8(kind.code());
                header.put_u32(tag.group.0);
                header.put_u64(tag.epoch.0);
                header.put_u64(tag.seq);
                m.push(header.freeze());
                m.push(payload.clone());
            }
            Wire::Ack { epoch, seq } => {
                m.push(Bytes::from_static(b"A"));
                let mut header = BytesMut::with_capacity(16);
                header.put_u64(epoch.0);
                header.put_u64(*seq);
                m.push(header.freeze());
            }
            Wire::Refuse { code, text } => {
                m.push(Bytes::from_static(b"R"));
                let text = truncate_utf8(text, MAX_REFUSE_TEXT);
                let mut body = BytesMut::with_capacity(2 + text.len());
                body.put_u16(code.to_wire());
                body.put_slice(text.as_bytes());
                m.push(body.freeze());
            }
        }
        m
    }

    /// Decodes a ZMTP message.
    pub fn decode(message: &Message) -> Result<Wire, WireError> {
        let frames = message.frames();
        let expect = |expected: usize| {
            if frames.len() == expected {
                Ok(())
            } else {
                Err(WireError::FrameCount {
                    frames: frames.len(),
                    expected,
                })
            }
        };
        let tag = frames.first().map(|f| &f[..]).unwrap_or_default();
        match tag {
            b"H" => {
                expect(2)?;
                Ok(Wire::Hello(decode_hello(&frames[1])?))
            }
            b"W" => {
                expect(2)?;
                Ok(Wire::Welcome(decode_hello(&frames[1])?))
            }
            b"C" => {
                expect(3)?;
                let mut h = fixed_header(&frames[1], "CHUNK", 17, "17")?;
                let epoch = CacheEpoch(h.get_u64());
                let seq = h.get_u64();
                let kind = MessageType::peer_from_code(h.get_u8())?;
                Ok(Wire::Chunk {
                    epoch,
                    seq,
                    kind,
                    payload: frames[2].clone(),
                })
            }
            b"G" => {
                expect(3)?;
                let mut h = fixed_header(&frames[1], "GCHUNK", GCHUNK_HEADER, "37")?;
                let epoch = CacheEpoch(h.get_u64());
                let seq = h.get_u64();
                let kind = MessageType::peer_from_code(h.get_u8())?;
                let tag = GroupTag {
                    group: GroupId(h.get_u32()),
                    epoch: CacheEpoch(h.get_u64()),
                    seq: h.get_u64(),
                };
                Ok(Wire::GroupChunk {
                    epoch,
                    seq,
                    kind,
                    tag,
                    payload: frames[2].clone(),
                })
            }
            b"A" => {
                expect(2)?;
                let mut h = fixed_header(&frames[1], "ACK", 16, "16")?;
                Ok(Wire::Ack {
                    epoch: CacheEpoch(h.get_u64()),
                    seq: h.get_u64(),
                })
            }
            b"R" => {
                expect(2)?;
                let body = &frames[1][..];
                if body.len() < 2 || body.len() > 2 + MAX_REFUSE_TEXT {
                    return Err(WireError::HeaderLength {
                        kind: "REFUSE",
                        len: body.len(),
                        expected: "2 to 1026",
                    });
                }
                let code = RefuseCode::from_wire(u16::from_be_bytes([body[0], body[1]]));
                let text =
                    std::str::from_utf8(&body[2..]).map_err(|_| WireError::Text("REFUSE"))?;
                Ok(Wire::Refuse {
                    code,
                    text: text.to_owned(),
                })
            }
            other => Err(WireError::UnknownTag(
                other.iter().take(16).copied().collect(),
            )),
        }
    }
}

fn fixed_header<'a>(
    frame: &'a Bytes,
    kind: &'static str,
    len: usize,
    expected: &'static str,
) -> Result<&'a [u8], WireError> {
    if frame.len() == len {
        Ok(&frame[..])
    } else {
        Err(WireError::HeaderLength {
            kind,
            len: frame.len(),
            expected,
        })
    }
}

fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn encode_hello(m: &mut Message, tag: &'static [u8], h: &Hello) {
    m.push(Bytes::from_static(tag));
    let mut header = BytesMut::with_capacity(HELLO_FIXED + h.node.len());
    header.put_u16(h.version);
    header.put_u32(h.capabilities);
    header.put_u32(h.cache_size);
    header.put_u32(h.window_chunks);
    header.put_u64(h.window_bytes);
    header.put_u64(h.incarnation);
    header.put_u64(h.nonce);
    header.put_u64(h.epoch.0);
    header.put_u64(h.record.about);
    header.put_u64(h.record.epoch.0);
    header.put_u64(h.record.delivered);
    header.put_slice(h.node.as_bytes());
    m.push(header.freeze());
}

fn decode_hello(header: &Bytes) -> Result<Hello, WireError> {
    if header.len() < HELLO_FIXED || header.len() > HELLO_FIXED + MAX_NODE_NAME {
        return Err(WireError::HeaderLength {
            kind: "HELLO",
            len: header.len(),
            expected: "70 to 325",
        });
    }
    let mut h = &header[..];
    let version = h.get_u16();
    let capabilities = h.get_u32();
    let cache_size = h.get_u32();
    let window_chunks = h.get_u32();
    let window_bytes = h.get_u64();
    let incarnation = h.get_u64();
    let nonce = h.get_u64();
    let epoch = CacheEpoch(h.get_u64());
    let record = Record {
        about: h.get_u64(),
        epoch: CacheEpoch(h.get_u64()),
        delivered: h.get_u64(),
    };
    if h.is_empty() {
        return Err(WireError::EmptyName);
    }
    let node = std::str::from_utf8(h).map_err(|_| WireError::Text("HELLO node name"))?;
    Ok(Hello {
        version,
        capabilities,
        cache_size,
        window_chunks,
        window_bytes,
        incarnation,
        nonce,
        epoch,
        record,
        node: node.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hello() -> Hello {
        Hello {
            version: PROTOCOL_VERSION,
            capabilities: 0b1101,
            cache_size: 3000,
            window_chunks: 1024,
            window_bytes: 1 << 20,
            incarnation: 0xfeed,
            nonce: 42,
            epoch: CacheEpoch(7),
            record: Record {
                about: 0xbeef,
                epoch: CacheEpoch(6),
                delivered: 12,
            },
            node: "worker-1".into(),
        }
    }

    #[test]
    fn round_trips() {
        let cases = [
            Wire::Hello(hello()),
            Wire::Welcome(hello()),
            Wire::Chunk {
                epoch: CacheEpoch(7),
                seq: 1,
                kind: MessageType::Serial,
                payload: Bytes::from_static(b"opaque"),
            },
            Wire::Ack {
                epoch: CacheEpoch(7),
                seq: 99,
            },
            Wire::GroupChunk {
                epoch: CacheEpoch(7),
                seq: 2,
                kind: MessageType::Serial,
                tag: GroupTag {
                    group: GroupId(3),
                    epoch: CacheEpoch(11),
                    seq: 5,
                },
                payload: Bytes::from_static(b"shared"),
            },
            Wire::Refuse {
                code: RefuseCode::Version,
                text: "wrong version".into(),
            },
            Wire::Refuse {
                code: RefuseCode::Other(77),
                text: String::new(),
            },
        ];
        for w in cases {
            assert_eq!(Wire::decode(&w.encode()).unwrap(), w);
        }
    }

    #[test]
    fn chunk_header_layout() {
        let m = Wire::Chunk {
            epoch: CacheEpoch(2),
            seq: 3,
            kind: MessageType::LogWrite,
            payload: Bytes::new(),
        }
        .encode();
        assert_eq!(&m.frames()[0][..], b"C");
        assert_eq!(
            &m.frames()[1][..],
            &[0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0x19]
        );
    }

    #[test]
    fn group_chunk_header_layout() {
        let m = Wire::GroupChunk {
            epoch: CacheEpoch(2),
            seq: 3,
            kind: MessageType::Serial,
            tag: GroupTag {
                group: GroupId(4),
                epoch: CacheEpoch(5),
                seq: 6,
            },
            payload: Bytes::new(),
        }
        .encode();
        assert_eq!(&m.frames()[0][..], b"G");
        let h = &m.frames()[1];
        assert_eq!(h.len(), GCHUNK_HEADER);
        assert_eq!(&h[17..21], &[0, 0, 0, 4]);
        assert_eq!(&h[21..29], &5u64.to_be_bytes());
        assert_eq!(&h[29..], &6u64.to_be_bytes());
        let short: Message = ["G", "123", ""].into_iter().collect();
        assert!(matches!(
            Wire::decode(&short),
            Err(WireError::HeaderLength { .. })
        ));
    }

    #[test]
    fn hello_layout_is_fixed_fields_then_name() {
        let m = Wire::Hello(hello()).encode();
        let header = &m.frames()[1];
        assert_eq!(header.len(), HELLO_FIXED + "worker-1".len());
        assert_eq!(&header[..2], &PROTOCOL_VERSION.to_be_bytes());
        assert_eq!(&header[HELLO_FIXED..], b"worker-1");
    }

    #[test]
    fn strict_decoding() {
        let garbage: Message = ["X", "y"].into_iter().collect();
        assert!(matches!(
            Wire::decode(&garbage),
            Err(WireError::UnknownTag(_))
        ));
        let short: Message = ["C", "123"].into_iter().collect();
        assert!(matches!(
            Wire::decode(&short),
            Err(WireError::FrameCount { .. })
        ));
        let mut bad_type = Wire::Chunk {
            epoch: CacheEpoch(1),
            seq: 1,
            kind: MessageType::Serial,
            payload: Bytes::new(),
        }
        .encode()
        .into_frames()
        .collect::<Vec<_>>();
        let mut header = bad_type[1].to_vec();
        header[16] = 0x1c;
        bad_type[1] = header.into();
        let m: Message = bad_type.into_iter().collect();
        assert_eq!(
            Wire::decode(&m),
            Err(WireError::MessageType(MessageTypeError::Unknown(0x1c)))
        );
        assert!(Wire::decode(&Message::new()).is_err());
    }

    #[test]
    fn hello_names_are_checked() {
        let mut frames = Wire::Hello(hello())
            .encode()
            .into_frames()
            .collect::<Vec<_>>();
        let fixed = frames[1].slice(..HELLO_FIXED);
        frames[1] = fixed.clone();
        let empty: Message = frames.clone().into_iter().collect();
        assert_eq!(Wire::decode(&empty), Err(WireError::EmptyName));
        let mut bad = fixed.to_vec();
        bad.extend_from_slice(&[0xff, 0xfe]);
        frames[1] = bad.into();
        let not_utf8: Message = frames.clone().into_iter().collect();
        assert_eq!(
            Wire::decode(&not_utf8),
            Err(WireError::Text("HELLO node name"))
        );
        let mut long = fixed.to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_NODE_NAME + 1));
        frames[1] = long.into();
        let too_long: Message = frames.into_iter().collect();
        assert!(matches!(
            Wire::decode(&too_long),
            Err(WireError::HeaderLength { .. })
        ));
    }

    #[test]
    fn refuse_text_is_bounded() {
        let long = "é".repeat(MAX_REFUSE_TEXT);
        let m = Wire::Refuse {
            code: RefuseCode::Protocol,
            text: long,
        }
        .encode();
        assert!(m.frames()[1].len() <= 2 + MAX_REFUSE_TEXT);
        assert!(Wire::decode(&m).is_ok());
    }

    proptest! {
        #[test]
        fn arbitrary_messages_never_panic(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..90), 0..4)) {
            let m: Message = frames.into_iter().collect();
            let _ = Wire::decode(&m);
        }
    }
}
