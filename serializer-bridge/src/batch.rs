//! The BATCH message: consecutive chunks of one epoch in one ZMTP message,
//! so that what a message costs (framing, queueing, routing, decoding, the
//! session's bookkeeping) is paid once per batch instead of once per chunk.
//!
//! ```text
//! BATCH 'B' | epoch u64, first sequence u64, count u32,
//!             then per chunk: cluster message type u8, length u32
//!           | data frame | data frame | ...
//! ```
//!
//! The data frames carry the chunks' bytes in order, each frame whole
//! chunks only. The sender gives a chunk of [`PACK_LIMIT`] bytes or more a
//! frame of its own (no copy) and copies runs of smaller ones into one
//! shared frame; the receiver's chunks are slices of the frames (no copy).
//! Decoding is strict: the lengths must fill the data frames exactly, no
//! data frame may be empty, and a batch holds 1 to [`MAX_BATCH_CHUNKS`].
//!
//! A sender puts at most [`MAX_BATCH_CHUNKS`] chunks and
//! [`MAX_BATCH_BYTES`] bytes (payload plus 5 header bytes per chunk) in a
//! batch, and no more than half the peer's byte window or half the longest
//! message its socket takes, so a batch is never larger than one chunk
//! could be.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use zmtp::Message;

use crate::epoch::CacheEpoch;
use crate::message_type::MessageType;
use crate::wire::{Wire, WireError};

/// Most chunks in one BATCH.
pub(crate) const MAX_BATCH_CHUNKS: usize = 1024;

/// Most bytes a sender puts in one BATCH, counting 5 header bytes per
/// chunk (a chunk this large or larger travels as a CHUNK of its own).
pub(crate) const MAX_BATCH_BYTES: usize = 1 << 20;

/// Chunks shorter than this are copied into a shared data frame; longer
/// ones travel in their own frame.
pub(crate) const PACK_LIMIT: usize = 1024;

/// What a chunk adds to a batch's byte budget besides its payload.
pub(crate) const ENTRY_COST: usize = 5;

/// The fixed part of the BATCH header: epoch, first sequence, count.
const FIXED: usize = 8 + 8 + 4;

/// One chunk in a BATCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batched {
    /// What kind of cluster message it is.
    pub kind: MessageType,
    /// The serialized bytes, opaque to the bridge.
    pub payload: Bytes,
}

/// A BATCH as a ZMTP message.
pub(crate) fn encode(epoch: CacheEpoch, first_seq: u64, chunks: &[Batched]) -> Message {
    let mut header = BytesMut::with_capacity(FIXED + ENTRY_COST * chunks.len());
    header.put_u64(epoch.0);
    header.put_u64(first_seq);
    header.put_u32(u32::try_from(chunks.len()).unwrap_or(u32::MAX));
    let small: usize = chunks
        .iter()
        .map(|c| c.payload.len())
        .filter(|len| *len < PACK_LIMIT)
        .sum();
    // One allocation for every packed run of the batch.
    let mut packed = BytesMut::with_capacity(small);
    let mut data = Vec::new();
    for chunk in chunks {
        header.put_u8(chunk.kind.code());
        header.put_u32(u32::try_from(chunk.payload.len()).unwrap_or(u32::MAX));
        if chunk.payload.len() < PACK_LIMIT {
            packed.put_slice(&chunk.payload);
            continue;
        }
        if !packed.is_empty() {
            data.push(packed.split().freeze());
        }
        data.push(chunk.payload.clone());
    }
    if !packed.is_empty() {
        data.push(packed.freeze());
    }
    let mut m = Message::new();
    m.push(Bytes::from_static(b"B"));
    m.push(header.freeze());
    for frame in data {
        m.push(frame);
    }
    m
}

/// Decodes a BATCH whose frames (tag first) are `frames`.
pub(crate) fn decode(frames: &[Bytes]) -> Result<Wire, WireError> {
    let [_, header, data @ ..] = frames else {
        return Err(WireError::FrameCount {
            frames: frames.len(),
            expected: 2,
        });
    };
    if header.len() < FIXED || !(header.len() - FIXED).is_multiple_of(ENTRY_COST) {
        return Err(WireError::HeaderLength {
            kind: "BATCH",
            len: header.len(),
            expected: "20 + 5 per chunk",
        });
    }
    let mut h = &header[..];
    let epoch = CacheEpoch(h.get_u64());
    let first_seq = h.get_u64();
    let count = h.get_u32() as usize;
    if count == 0 || count > MAX_BATCH_CHUNKS || count != h.len() / ENTRY_COST {
        return Err(WireError::BatchCount { count });
    }
    if data.iter().any(Bytes::is_empty) {
        return Err(WireError::BatchLayout);
    }
    let mut frames = Frames {
        data,
        index: 0,
        offset: 0,
    };
    let mut chunks = Vec::with_capacity(count);
    for _ in 0..count {
        let kind = MessageType::peer_from_code(h.get_u8())?;
        let len = h.get_u32() as usize;
        chunks.push(Batched {
            kind,
            payload: frames.take(len)?,
        });
    }
    if !frames.is_consumed() {
        return Err(WireError::BatchLayout);
    }
    Ok(Wire::Batch {
        epoch,
        first_seq,
        chunks,
    })
}

/// A cursor over a BATCH's data frames.
struct Frames<'a> {
    data: &'a [Bytes],
    index: usize,
    offset: usize,
}

impl Frames<'_> {
    /// The next `len` bytes, from one frame.
    fn take(&mut self, len: usize) -> Result<Bytes, WireError> {
        if len == 0 {
            return Ok(Bytes::new());
        }
        if self
            .data
            .get(self.index)
            .is_some_and(|f| self.offset == f.len())
        {
            self.index += 1;
            self.offset = 0;
        }
        let frame = self.data.get(self.index).ok_or(WireError::BatchLayout)?;
        let end = self
            .offset
            .checked_add(len)
            .filter(|end| *end <= frame.len())
            .ok_or(WireError::BatchLayout)?;
        let bytes = frame.slice(self.offset..end);
        self.offset = end;
        Ok(bytes)
    }

    /// Whether every data frame was used up.
    fn is_consumed(&self) -> bool {
        match self.data.len() {
            0 => true,
            n => self.index == n - 1 && self.offset == self.data[n - 1].len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batched(len: usize, fill: u8) -> Batched {
        Batched {
            kind: MessageType::Serial,
            payload: Bytes::from(vec![fill; len]),
        }
    }

    fn round_trip(chunks: Vec<Batched>) -> Message {
        let wire = Wire::Batch {
            epoch: CacheEpoch(9),
            first_seq: 5,
            chunks,
        };
        let m = wire.encode();
        assert_eq!(Wire::decode(&m), Ok(wire));
        m
    }

    #[test]
    fn small_chunks_share_one_frame_and_large_ones_have_their_own() {
        let m = round_trip(vec![
            batched(10, 1),
            batched(20, 2),
            batched(PACK_LIMIT, 3),
            batched(0, 4),
            batched(30, 5),
            batched(40, 6),
        ]);
        let lens: Vec<usize> = m.frames().iter().map(Bytes::len).collect();
        assert_eq!(lens, [1, FIXED + 6 * ENTRY_COST, 30, PACK_LIMIT, 70]);
    }

    #[test]
    fn empty_chunks_need_no_data_frame() {
        let m = round_trip(vec![batched(0, 0), batched(0, 0)]);
        assert_eq!(m.frames().len(), 2);
    }

    #[test]
    fn received_chunks_are_slices_of_the_frame() {
        let m = round_trip(vec![batched(10, 1), batched(20, 2)]);
        let Ok(Wire::Batch { chunks, .. }) = Wire::decode(&m) else {
            panic!("not a batch");
        };
        let frame = &m.frames()[2];
        assert_eq!(chunks[0].payload.as_ptr(), frame.as_ptr());
        assert_eq!(chunks[1].payload.as_ptr(), frame[10..].as_ptr());
    }

    fn frames_of(chunks: Vec<Batched>) -> Vec<Bytes> {
        Wire::Batch {
            epoch: CacheEpoch(1),
            first_seq: 1,
            chunks,
        }
        .encode()
        .into_frames()
        .collect()
    }

    fn decode_frames(frames: Vec<Bytes>) -> Result<Wire, WireError> {
        Wire::decode(&frames.into_iter().collect())
    }

    #[test]
    fn lengths_must_fill_the_data_frames_exactly() {
        let good = frames_of(vec![batched(10, 1), batched(20, 2)]);
        let mut extra = good.clone();
        extra.push(Bytes::from_static(b"x"));
        assert_eq!(decode_frames(extra), Err(WireError::BatchLayout));
        let mut short = good.clone();
        short[2] = short[2].slice(..29);
        assert_eq!(decode_frames(short), Err(WireError::BatchLayout));
        let mut long = good.clone();
        long[2] = Bytes::from(vec![0; 31]);
        assert_eq!(decode_frames(long), Err(WireError::BatchLayout));
        let mut empty = good.clone();
        empty.insert(2, Bytes::new());
        assert_eq!(decode_frames(empty), Err(WireError::BatchLayout));
        // A chunk may not span two frames.
        let mut split = good.clone();
        let whole = split.remove(2);
        split.push(whole.slice(..5));
        split.push(whole.slice(5..));
        assert_eq!(decode_frames(split), Err(WireError::BatchLayout));
        assert!(decode_frames(good).is_ok());
    }

    #[test]
    fn counts_and_header_lengths_are_checked() {
        let good = frames_of(vec![batched(1, 1), batched(1, 2)]);
        let mut count = good.clone();
        let mut header = count[1].to_vec();
        header[19] = 3;
        count[1] = header.into();
        assert_eq!(
            decode_frames(count),
            Err(WireError::BatchCount { count: 3 })
        );
        let mut ragged = good.clone();
        let mut header = ragged[1].to_vec();
        header.push(0);
        ragged[1] = header.into();
        assert!(matches!(
            decode_frames(ragged),
            Err(WireError::HeaderLength { kind: "BATCH", .. })
        ));
        let none = frames_of(Vec::new());
        assert_eq!(decode_frames(none), Err(WireError::BatchCount { count: 0 }));
        let too_many = frames_of(vec![batched(0, 0); MAX_BATCH_CHUNKS + 1]);
        assert_eq!(
            decode_frames(too_many),
            Err(WireError::BatchCount {
                count: MAX_BATCH_CHUNKS + 1
            })
        );
        let mut bad_type = good;
        let mut header = bad_type[1].to_vec();
        header[FIXED] = 0x1c;
        bad_type[1] = header.into();
        assert!(matches!(
            decode_frames(bad_type),
            Err(WireError::MessageType(_))
        ));
    }
}
