//! Cache epochs: one per (re)connection of a peer.
//!
//! The serializer keeps a cache per peer, and both sides must hold the same
//! cache. A link that drops may have lost chunks in flight, so the caches
//! can no longer be trusted: every new link starts a new epoch, agreed by
//! both sides in the bridge's hello, and both start from empty caches. A
//! chunk is serialized for one epoch and is never delivered into another.

use std::fmt;

/// A cache epoch number. Epochs of a peer only ever increase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct CacheEpoch(pub u64);

impl CacheEpoch {
    /// The epoch to propose for a new link, after `last` (ours) and
    /// `peer_last` (the highest we have heard from the peer).
    pub fn next_after(last: CacheEpoch, peer_last: CacheEpoch) -> CacheEpoch {
        CacheEpoch(last.0.max(peer_last.0) + 1)
    }
}

impl fmt::Display for CacheEpoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "epoch {}", self.0)
    }
}
