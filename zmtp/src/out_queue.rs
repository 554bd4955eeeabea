//! The bytes a connection has produced and the driver has yet to write.
//!
//! Small frames and commands are copied into one contiguous tail buffer, so
//! a thousand 64-byte messages leave as one `write`. A large frame body is
//! queued as its own [`Bytes`] segment behind its header, so it reaches the
//! socket without being copied; the driver writes everything with one
//! vectored write through the [`Buf`] implementation.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::frame::{COMMAND, FrameHeader, MORE, SHORT_MAX};

/// Bodies at least this large are queued by reference instead of copied.
pub const ZERO_COPY_MIN: usize = 8 * 1024;

/// A tail holding at least this much is sealed into a segment and a new
/// tail begins: bytes once copied in are never moved again. (A tail that
/// just grew would have its unsent bytes moved to the front of its buffer,
/// or into a bigger one, each time the driver tops it up after a partial
/// write: measured at 140 instructions per 64-byte message.) Kept short of
/// 64 KiB: loopback TCP is far slower with exactly 65536-byte writes.
const TAIL_SEAL: usize = 60 * 1024;

/// The capacity a new tail starts with: a sealed tail's size plus the
/// largest copied body, so sealing rarely needs a reallocation.
const TAIL_CAPACITY: usize = TAIL_SEAL + ZERO_COPY_MIN;

/// Outgoing bytes: frozen segments, then a tail still being filled.
#[derive(Debug, Default)]
pub struct OutQueue {
    segments: VecDeque<Bytes>,
    segments_len: usize,
    tail: BytesMut,
}

impl OutQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// The tail buffer: append small writes here.
    pub(crate) fn tail(&mut self) -> &mut BytesMut {
        if self.tail.len() >= TAIL_SEAL {
            self.seal_tail();
        }
        &mut self.tail
    }

    /// Moves the tail's bytes into a segment of their own.
    fn seal_tail(&mut self) {
        let head = self.tail.split().freeze();
        self.segments_len += head.len();
        self.segments.push_back(head);
        if self.tail.capacity() < TAIL_SEAL {
            self.tail = BytesMut::with_capacity(TAIL_CAPACITY);
        }
    }

    /// Queues a body by reference, after everything written so far.
    pub(crate) fn push_shared(&mut self, body: Bytes) {
        if !self.tail.is_empty() {
            self.seal_tail();
        }
        self.segments_len += body.len();
        self.segments.push_back(body);
    }

    /// Appends a data or command frame, header and body, without a cipher.
    #[inline]
    pub(crate) fn put_frame(&mut self, more: bool, command: bool, body: &Bytes) {
        let len = body.len();
        if len >= ZERO_COPY_MIN {
            FrameHeader::encode(more, command, len, self.tail());
            return self.push_shared(body.clone());
        }
        // One capacity check for header and body; the short header is
        // written as one slice.
        let tail = self.tail();
        tail.reserve(FrameHeader::encoded_len(len) + len);
        if len <= SHORT_MAX {
            let flags = if more { MORE } else { 0 } | if command { COMMAND } else { 0 };
            // Two inlined byte stores (the room is reserved), not a copy
            // call for two bytes.
            tail.put_u8(flags);
            tail.put_u8(len as u8);
        } else {
            FrameHeader::encode(more, command, len, tail);
        }
        tail.extend_from_slice(body);
    }

    /// Whether nothing is waiting to be written.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        self.segments.clear();
        self.segments_len = 0;
        self.tail.clear();
    }
}

impl Buf for OutQueue {
    fn remaining(&self) -> usize {
        self.segments_len + self.tail.len()
    }

    fn chunk(&self) -> &[u8] {
        match self.segments.front() {
            Some(segment) => segment,
            None => &self.tail,
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let sources = self
            .segments
            .iter()
            .map(|s| &s[..])
            .chain(std::iter::once(&self.tail[..]))
            .filter(|s| !s.is_empty());
        let mut n = 0;
        for (slot, source) in dst.iter_mut().zip(sources) {
            *slot = IoSlice::new(source);
            n += 1;
        }
        n
    }

    fn advance(&mut self, mut cnt: usize) {
        while cnt > 0 {
            let Some(front) = self.segments.front_mut() else {
                break;
            };
            let step = cnt.min(front.len());
            front.advance(step);
            self.segments_len -= step;
            cnt -= step;
            if front.is_empty() {
                self.segments.pop_front();
            }
        }
        let step = cnt.min(self.tail.len());
        self.tail.advance(step);
        if self.tail.is_empty() {
            // Lets the next small write reuse the buffer from its start.
            self.tail.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(q: &mut OutQueue, step: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while q.has_remaining() {
            let take = q.chunk().len().min(step);
            out.extend_from_slice(&q.chunk()[..take]);
            q.advance(take);
        }
        out
    }

    #[test]
    fn preserves_order_across_segments() {
        let mut q = OutQueue::new();
        q.tail().extend_from_slice(b"head");
        q.put_frame(true, false, &Bytes::from(vec![b'x'; ZERO_COPY_MIN]));
        q.put_frame(false, false, &Bytes::from_static(b"tail"));
        assert_eq!(q.remaining(), 4 + 9 + ZERO_COPY_MIN + 2 + 4);
        let mut slices = [IoSlice::new(&[]); 8];
        assert_eq!(q.chunks_vectored(&mut slices), 3);
        let mut expected = b"head".to_vec();
        expected.extend_from_slice(&[0x03, 0, 0, 0, 0, 0, 0, 0x20, 0]);
        expected.extend(vec![b'x'; ZERO_COPY_MIN]);
        expected.extend_from_slice(b"\x00\x04tail");
        assert_eq!(drain(&mut q, 1000), expected);
        assert!(q.is_empty());
    }

    #[test]
    fn large_bodies_are_shared_not_copied() {
        let body = Bytes::from(vec![1u8; 100_000]);
        let mut q = OutQueue::new();
        q.put_frame(false, false, &body);
        // The 9-byte header, then the body itself.
        assert_eq!(q.chunk().len(), 9);
        q.advance(9);
        assert_eq!(q.chunk().as_ptr(), body.as_ptr());
    }
}
