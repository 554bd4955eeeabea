//! The bridge's own messages on a link, each one ZMTP multipart message.
//!
//! ```text
//! HELLO    'H' | version u16, capabilities u32, cache size u32,
//!                window chunks u32, window bytes u64, epoch u64, node name
//! WELCOME  'W' | the same fields: the epoch both sides now use
//! CHUNK    'C' | epoch u64, sequence u64, cluster message type u8 | payload
//! ACK      'A' | epoch u64, sequence u64 (everything up to it arrived)
//! REFUSE   'R' | reason (UTF-8)
//! ```
//!
//! All integers are big-endian. The payload of a CHUNK is its own frame, so
//! a chunk of any size travels whole, without copying, and never in pieces.
//! Decoding is strict: a wrong tag, a short or long header, or an unknown
//! message type is an error naming what was wrong.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;
use zmtp::Message;

use crate::epoch::CacheEpoch;
use crate::message_type::{MessageType, MessageTypeError};

/// The bridge protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;

/// The opening of a link: who we are and what we propose.
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
    /// The epoch proposed (HELLO) or agreed (WELCOME).
    pub epoch: CacheEpoch,
    /// The sender's node name, its stable peer id.
    pub node: String,
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
    /// Every chunk of `epoch` up to `seq` was delivered.
    Ack {
        /// The epoch.
        epoch: CacheEpoch,
        /// The highest sequence number delivered.
        seq: u64,
    },
    /// The sender refuses the link.
    Refuse(String),
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
    /// The node name or refusal reason is not UTF-8.
    #[error("bridge {0} text is not UTF-8")]
    Text(&'static str),
    /// The chunk's cluster message type is refused.
    #[error(transparent)]
    MessageType(#[from] MessageTypeError),
}

const HELLO_FIXED: usize = 2 + 4 + 4 + 4 + 8 + 8;

impl Wire {
    /// Encodes as a ZMTP message.
    pub fn encode(&self) -> Message {
        let mut m = Message::new();
        match self {
            Wire::Hello(h) | Wire::Welcome(h) => {
                m.push(Bytes::from_static(if matches!(self, Wire::Hello(_)) {
                    b"H"
                } else {
                    b"W"
                }));
                let mut header = BytesMut::with_capacity(HELLO_FIXED + h.node.len());
                header.put_u16(h.version);
                header.put_u32(h.capabilities);
                header.put_u32(h.cache_size);
                header.put_u32(h.window_chunks);
                header.put_u64(h.window_bytes);
                header.put_u64(h.epoch.0);
                header.put_slice(h.node.as_bytes());
                m.push(header.freeze());
            }
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
            Wire::Ack { epoch, seq } => {
                m.push(Bytes::from_static(b"A"));
                let mut header = BytesMut::with_capacity(16);
                header.put_u64(epoch.0);
                header.put_u64(*seq);
                m.push(header.freeze());
            }
            Wire::Refuse(reason) => {
                m.push(Bytes::from_static(b"R"));
                m.push(Bytes::copy_from_slice(reason.as_bytes()));
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
            b"H" | b"W" => {
                expect(2)?;
                let hello = decode_hello(&frames[1])?;
                Ok(if tag == b"H" {
                    Wire::Hello(hello)
                } else {
                    Wire::Welcome(hello)
                })
            }
            b"C" => {
                expect(3)?;
                let mut h = &frames[1][..];
                if h.len() != 17 {
                    return Err(WireError::HeaderLength {
                        kind: "CHUNK",
                        len: h.len(),
                        expected: "17",
                    });
                }
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
            b"A" => {
                expect(2)?;
                let mut h = &frames[1][..];
                if h.len() != 16 {
                    return Err(WireError::HeaderLength {
                        kind: "ACK",
                        len: h.len(),
                        expected: "16",
                    });
                }
                Ok(Wire::Ack {
                    epoch: CacheEpoch(h.get_u64()),
                    seq: h.get_u64(),
                })
            }
            b"R" => {
                expect(2)?;
                let reason =
                    std::str::from_utf8(&frames[1]).map_err(|_| WireError::Text("REFUSE"))?;
                Ok(Wire::Refuse(reason.to_owned()))
            }
            other => Err(WireError::UnknownTag(
                other.iter().take(16).copied().collect(),
            )),
        }
    }
}

fn decode_hello(header: &Bytes) -> Result<Hello, WireError> {
    if header.len() < HELLO_FIXED || header.len() > HELLO_FIXED + 255 {
        return Err(WireError::HeaderLength {
            kind: "HELLO",
            len: header.len(),
            expected: "30 to 285",
        });
    }
    let mut h = &header[..];
    let version = h.get_u16();
    let capabilities = h.get_u32();
    let cache_size = h.get_u32();
    let window_chunks = h.get_u32();
    let window_bytes = h.get_u64();
    let epoch = CacheEpoch(h.get_u64());
    let node = std::str::from_utf8(h).map_err(|_| WireError::Text("HELLO node name"))?;
    Ok(Hello {
        version,
        capabilities,
        cache_size,
        window_chunks,
        window_bytes,
        epoch,
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
            epoch: CacheEpoch(7),
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
            Wire::Refuse("wrong version".into()),
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

    proptest! {
        #[test]
        fn arbitrary_messages_never_panic(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..4)) {
            let m: Message = frames.into_iter().collect();
            let _ = Wire::decode(&m);
        }
    }
}
