//! Read buffers a socket's links take turns with: the socket's pool of
//! spare buffers, and each link's list of the buffers it retired that
//! received messages still hold.
//!
//! A received message is a slice of the read buffer it arrived in, so a
//! link cannot read into that buffer again while the application holds the
//! message; it takes another and *retires* the old one. Freeing retired
//! buffers and allocating new ones makes glibc trim and regrow its heap at
//! every turn (page faults and zeroing: 40% of 64 KiB throughput once), so
//! a retired buffer is kept and reused once its messages are gone. Kept per
//! link, that cost every link its own spares; here a link keeps only the
//! handles of buffers messages still hold ([`Retired`], which cost nothing
//! beyond what those messages hold), and buffers no message holds go to one
//! pool per socket ([`BufferPool`]), bounded in bytes and in count. What a
//! link's retired list holds also tells it when to start copying small
//! frames instead of slicing them (`PINNED_BUFFERS` in `engine.rs`).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use bytes::BytesMut;

/// Spare bytes one socket keeps for its links at most (buffers no message
/// holds); beyond it the oldest spare is freed.
pub(crate) const POOL_BYTES: usize = 4 * 1024 * 1024;
/// Spare buffers one socket keeps at most.
pub(crate) const POOL_BUFFERS: usize = 32;
/// Largest buffer the pool keeps: larger ones were sized for one large
/// frame and are freed with it.
pub(crate) const POOL_BUFFER_MAX: usize = 2 * 1024 * 1024;
/// Retired buffers a link tracks at most; past it the oldest handle is
/// dropped (the buffer is freed with its last message).
pub(crate) const RETIRED_MAX: usize = 16;

/// A read buffer and the size of its allocation.
#[derive(Debug)]
pub(crate) struct ReadBuffer {
    pub(crate) buf: BytesMut,
    pub(crate) size: usize,
}

impl ReadBuffer {
    /// A new buffer of `size` bytes.
    pub(crate) fn new(size: usize) -> Self {
        ReadBuffer {
            buf: BytesMut::with_capacity(size),
            size,
        }
    }

    /// A large frame's own allocation: never pooled, freed with the frame.
    pub(crate) fn from_frame(buf: BytesMut) -> Self {
        ReadBuffer { buf, size: 0 }
    }

    /// Empties the buffer and takes its whole allocation back, if no
    /// message holds a slice of it any more.
    pub(crate) fn reclaim(&mut self) -> bool {
        self.buf.clear();
        self.buf.try_reclaim(self.size)
    }
}

/// A socket's spare read buffers, shared by its links.
#[derive(Debug, Default)]
pub(crate) struct BufferPool {
    spares: Mutex<VecDeque<ReadBuffer>>,
}

impl BufferPool {
    fn lock(&self) -> MutexGuard<'_, VecDeque<ReadBuffer>> {
        // Nothing panics under this lock; tolerate poison anyway.
        self.spares.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A spare buffer of at least `need` bytes and at most four times that
    /// (a small link does not take a large buffer), if one is kept.
    pub(crate) fn take(&self, need: usize) -> Option<ReadBuffer> {
        let mut spares = self.lock();
        let i = spares
            .iter()
            .position(|s| s.size >= need && s.size / 4 <= need)?;
        spares.remove(i)
    }

    /// Keeps `spare` (which no message holds) for a link to take, within
    /// the pool's bounds: the oldest spares go first.
    pub(crate) fn give(&self, spare: ReadBuffer) {
        if spare.size > POOL_BUFFER_MAX {
            return;
        }
        let mut spares = self.lock();
        spares.push_back(spare);
        let mut bytes: usize = spares.iter().map(|s| s.size).sum();
        while spares.len() > POOL_BUFFERS || bytes > POOL_BYTES {
            let Some(oldest) = spares.pop_front() else {
                break;
            };
            bytes -= oldest.size;
        }
    }

    /// Spare bytes kept.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.lock().iter().map(|s| s.size).sum()
    }
}

/// One link's retired buffers that received messages still held when it
/// last looked.
#[derive(Debug, Default)]
pub(crate) struct Retired {
    held: VecDeque<ReadBuffer>,
}

impl Retired {
    /// Retires `old`: tracked while messages hold it, else a spare for
    /// `pool`.
    pub(crate) fn retire(&mut self, mut old: ReadBuffer, pool: &BufferPool) {
        if old.size == 0 {
            return;
        }
        if old.reclaim() {
            return pool.give(old);
        }
        self.held.push_back(old);
        if self.held.len() > RETIRED_MAX {
            self.held.pop_front();
        }
    }

    /// Looks at every tracked buffer: one no message holds any more is
    /// returned if it has room for `need` bytes (the first such), and the
    /// others go to `pool`. Returns that buffer and how many tracked
    /// buffers messages still hold.
    pub(crate) fn sweep(
        &mut self,
        need: Option<usize>,
        pool: &BufferPool,
    ) -> (Option<ReadBuffer>, usize) {
        let mut found = None;
        let mut i = 0;
        while i < self.held.len() {
            if !self.held[i].reclaim() {
                i += 1;
                continue;
            }
            let Some(free) = self.held.remove(i) else {
                break;
            };
            match need {
                Some(need) if found.is_none() && free.size >= need => found = Some(free),
                _ => pool.give(free),
            }
        }
        (found, self.held.len())
    }

    /// Buffers tracked.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    /// A buffer of `size` bytes with `held` bytes of it sliced out as a
    /// message would be.
    fn pinned(size: usize) -> (ReadBuffer, bytes::Bytes) {
        let mut b = ReadBuffer::new(size);
        b.buf.put_slice(b"message");
        let message = b.buf.split_to(7).freeze();
        (b, message)
    }

    #[test]
    fn a_held_buffer_is_tracked_until_free_then_reused_or_pooled() {
        let pool = BufferPool::default();
        let mut retired = Retired::default();
        let (a, message_a) = pinned(8192);
        let (b, message_b) = pinned(8192);
        retired.retire(a, &pool);
        retired.retire(b, &pool);
        assert_eq!(retired.sweep(Some(1024), &pool).1, 2);
        drop(message_a);
        drop(message_b);
        let (found, held) = retired.sweep(Some(1024), &pool);
        assert_eq!((found.map(|f| f.size), held), (Some(8192), 0));
        // The other free one went to the socket's pool.
        assert_eq!(pool.bytes(), 8192);
        assert!(pool.take(1024).is_none(), "too large for a small need");
        assert_eq!(pool.take(4096).map(|s| s.size), Some(8192));
        assert!(pool.take(4096).is_none());
    }

    #[test]
    fn a_free_buffer_goes_straight_to_the_pool() {
        let pool = BufferPool::default();
        let mut retired = Retired::default();
        retired.retire(ReadBuffer::new(4096), &pool);
        assert_eq!((retired.len(), pool.bytes()), (0, 4096));
    }

    #[test]
    fn the_pool_keeps_its_bounds() {
        let pool = BufferPool::default();
        for _ in 0..2 * POOL_BUFFERS {
            pool.give(ReadBuffer::new(1024));
        }
        assert_eq!(pool.bytes(), POOL_BUFFERS * 1024);
        for _ in 0..64 {
            pool.give(ReadBuffer::new(256 * 1024));
        }
        assert!(pool.bytes() <= POOL_BYTES);
        pool.give(ReadBuffer::new(2 * POOL_BUFFER_MAX));
        assert!(pool.bytes() <= POOL_BYTES);
        // A small request does not take a large buffer.
        assert!(pool.take(1024).is_none());
        assert!(pool.take(200 * 1024).is_some());
    }

    #[test]
    fn a_link_tracks_at_most_retired_max_buffers() {
        let pool = BufferPool::default();
        let mut retired = Retired::default();
        let mut messages = Vec::new();
        for _ in 0..RETIRED_MAX + 4 {
            let (b, m) = pinned(1024);
            messages.push(m);
            retired.retire(b, &pool);
        }
        assert_eq!(retired.len(), RETIRED_MAX);
    }
}
