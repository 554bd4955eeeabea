//! Why a member left a group epoch, why it missed a group chunk, and why a
//! group write was refused: typed reasons for the caller's events.

use thiserror::Error;

use crate::epoch::CacheEpoch;
use crate::session::{HandBack, WriteRefused};

/// Why a member left a group epoch.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LeaveReason {
    /// It was past the group's lag cap when a chunk was written.
    #[error("lagging past the group's cap ({chunks} chunks, {bytes} bytes owed)")]
    Lagging {
        /// Group chunks written to it and without an outcome.
        chunks: u64,
        /// Their bytes.
        bytes: u64,
    },
    /// The link epoch it joined with ended.
    #[error("its link went down")]
    LinkDown,
    /// Its link refused a group chunk (full, down).
    #[error("its link refused a chunk: {0}")]
    Refused(WriteRefused),
}

/// Why a member did not get a group chunk.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GroupMiss {
    /// Its link handed the chunk back (as for the member's own chunks;
    /// `Expired` means it may have taken it).
    #[error("handed back by its link: {0}")]
    Link(HandBack),
    /// It left the group epoch before the chunk was written to it.
    #[error("left the group epoch: {0}")]
    Left(LeaveReason),
}

/// Why `write_group` refused a chunk (it comes back with the reason).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GroupWriteRefused {
    /// No such group.
    #[error("unknown group")]
    UnknownGroup,
    /// The chunk was encoded for another group epoch.
    #[error("chunk is for {chunk}, the group is in {current}")]
    StaleEpoch {
        /// The chunk's epoch.
        chunk: CacheEpoch,
        /// The group's.
        current: CacheEpoch,
    },
    /// The group has no member in its epoch.
    #[error("the group has no member")]
    NoMembers,
    /// The chunk alone is past the lag cap in bytes.
    #[error("chunk of {len} bytes is longer than the group's lag cap of {max} bytes")]
    TooLarge {
        /// Its length.
        len: u64,
        /// The cap.
        max: u64,
    },
    /// The manager is closed.
    #[error("the peer manager is closed")]
    Closed,
}
