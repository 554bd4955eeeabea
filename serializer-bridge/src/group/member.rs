//! One wanted member of a group: which peer it is now, the link epoch it
//! is bound to while it is in the group epoch, and what it owes (group
//! chunks written to it with no outcome yet, which is its lag).

use crate::epoch::CacheEpoch;
use crate::event::PeerId;

/// A wanted member, in the group epoch or out of it.
#[derive(Debug, Default)]
pub(crate) struct Member {
    /// The peer its node name last resolved to.
    pub(crate) peer: Option<PeerId>,
    /// In the group epoch: the link epoch it joined with.
    pub(crate) link: Option<CacheEpoch>,
    /// Group chunks written to it and still without an outcome.
    pub(crate) owed_chunks: u64,
    /// Their bytes.
    pub(crate) owed_bytes: u64,
}

impl Member {
    /// Whether it is in the current group epoch.
    pub(crate) fn is_in(&self) -> bool {
        self.link.is_some()
    }

    /// A chunk of `len` bytes was written to it.
    pub(crate) fn owe(&mut self, len: u64) {
        self.owed_chunks += 1;
        self.owed_bytes += len;
    }

    /// Outcomes came for `chunks` chunks of `bytes` bytes in all.
    pub(crate) fn settle_many(&mut self, chunks: u64, bytes: u64) {
        self.owed_chunks = self.owed_chunks.saturating_sub(chunks);
        self.owed_bytes = self.owed_bytes.saturating_sub(bytes);
    }
}
