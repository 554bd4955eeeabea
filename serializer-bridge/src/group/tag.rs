//! What names a group chunk: the group, its group epoch and its place in
//! that epoch's stream. The tag rides with the chunk in the member's link
//! queue and on the wire (GCHUNK), and comes back in the member's outcome.

use std::fmt;

use crate::epoch::CacheEpoch;
use crate::event::PeerId;
use crate::session::HandBack;

/// A group's number on the node that writes to it (carried on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct GroupId(pub u32);

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "group {}", self.0)
    }
}

/// Where a group chunk belongs: `seq` of group epoch `epoch` of `group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupTag {
    /// The group.
    pub group: GroupId,
    /// The group epoch (its own numbering, never a link epoch).
    pub epoch: CacheEpoch,
    /// The position in the group epoch, from 1.
    pub seq: u64,
}

/// One member's outcome for one group chunk, as its link's session
/// reports it to the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupOutcome {
    /// The member.
    pub peer: PeerId,
    /// The chunk.
    pub tag: GroupTag,
    /// Its length in bytes (for the member's lag).
    pub len: u64,
    /// `None`: the member's application took it; else why it did not.
    pub missed: Option<HandBack>,
}
