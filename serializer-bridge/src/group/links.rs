//! What a group needs from its members' links, so the group stays a state
//! machine with no I/O: the manager implements it over its sessions, the
//! simulation over its own.

use crate::chunk::Chunk;
use crate::epoch::CacheEpoch;
use crate::event::PeerId;
use crate::group::tag::GroupTag;
use crate::session::WriteRefused;

/// A member's link as the group sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkState {
    /// The peer now known by the member's node name.
    pub peer: PeerId,
    /// The link's epoch while it is up.
    pub epoch: Option<CacheEpoch>,
    /// Whether its queue is past the soft cap (it does not rejoin then).
    pub filling_up: bool,
    /// Whether the link's protocol version carries group chunks (a peer
    /// of an older version never joins).
    pub groups: bool,
}

/// The members' links.
pub trait MemberLinks {
    /// The link of the peer called `node`, if such a peer is known.
    fn link(&self, node: &str) -> Option<LinkState>;

    /// The link of peer `peer` (the same as [`MemberLinks::link`] of its
    /// node name while that name resolves to it), if it is still known.
    fn link_of(&self, peer: PeerId) -> Option<LinkState>;

    /// Queues a group chunk on `peer`'s link (the same `Bytes`, shared).
    fn send(&mut self, peer: PeerId, chunk: Chunk, tag: GroupTag) -> Result<u64, WriteRefused>;
}
