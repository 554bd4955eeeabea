//! What the demo's chunks carry, so the receiver can check them: who wrote
//! the chunk (node incarnation), for which epoch, its sequence number in
//! that (sender, receiver, epoch) stream, and the logical item it stands
//! for (an item whose chunk was handed back is written again, as a new
//! chunk of the next epoch).
//!
//! Layout, big-endian, then zero padding up to the chunk size:
//! `"ZCD1"` | incarnation u16 | message type u8 | 0 u8 | epoch u64 | seq u64 | item u64

use bytes::{BufMut, Bytes, BytesMut};

/// The smallest chunk: the header alone.
pub const HEADER_LEN: usize = 32;

const MAGIC: &[u8; 4] = b"ZCD1";

/// A decoded chunk header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    /// Which run of the sending node wrote it (1 for the first).
    pub incarnation: u16,
    /// The cluster message type code the sender used.
    pub kind: u8,
    /// The epoch the sender serialized it for.
    pub epoch: u64,
    /// Its place in the (sender, receiver, epoch) stream: the sequence the
    /// bridge gave it, from 1.
    pub seq: u64,
    /// The logical item.
    pub item: u64,
}

impl Payload {
    /// The chunk bytes, padded to `size` (at least [`HEADER_LEN`]).
    pub fn encode(&self, size: usize) -> Bytes {
        let mut b = BytesMut::with_capacity(size.max(HEADER_LEN));
        b.put_slice(MAGIC);
        b.put_u16(self.incarnation);
        b.put_u8(self.kind);
        b.put_u8(0);
        b.put_u64(self.epoch);
        b.put_u64(self.seq);
        b.put_u64(self.item);
        b.resize(size.max(HEADER_LEN), 0);
        b.freeze()
    }

    /// The header of a chunk, or `None` if it is not one of ours.
    pub fn decode(data: &[u8]) -> Option<Payload> {
        let header = data.get(..HEADER_LEN)?;
        if &header[..4] != MAGIC {
            return None;
        }
        let u64_at = |at: usize| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&header[at..at + 8]);
            u64::from_be_bytes(bytes)
        };
        Some(Payload {
            incarnation: u16::from_be_bytes([header[4], header[5]]),
            kind: header[6],
            epoch: u64_at(8),
            seq: u64_at(16),
            item: u64_at(24),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let p = Payload {
            incarnation: 2,
            kind: 0x19,
            epoch: 7,
            seq: 123_456,
            item: u64::MAX,
        };
        let bytes = p.encode(100);
        assert_eq!(bytes.len(), 100);
        assert_eq!(Payload::decode(&bytes), Some(p));
        assert_eq!(p.encode(0).len(), HEADER_LEN);
        assert_eq!(Payload::decode(&bytes[..31]), None);
        let mut bad = bytes.to_vec();
        bad[0] = b'X';
        assert_eq!(Payload::decode(&bad), None);
    }
}
