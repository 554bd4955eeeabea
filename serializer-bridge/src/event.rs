//! What a [`PeerManager`](crate::PeerManager) reports.
//!
//! Every chunk the caller writes gets exactly one outcome, reported by
//! event: [`Event::Delivered`] (the peer's application took it) or
//! [`Event::HandedBack`] (it was not delivered and never will be; the
//! chunk itself comes back). Chunks are named by the `(epoch, seq)` that
//! [`PeerManager::write`](crate::PeerManager::write) returned.

use crate::chunk::Chunk;
use crate::epoch::CacheEpoch;
use crate::group::{GroupId, GroupMiss, LeaveReason};
use crate::session::{HandBack, LinkDown, ProtocolError};

/// A peer's identity within one manager: stable while the manager knows
/// the peer (configured peers always; accepted peers until they are down
/// with nothing left to report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u32);

/// Something that happened to a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A link is up and both sides agreed a new cache epoch: start from
    /// empty caches and serialize for `epoch`.
    PeerUp {
        /// The peer.
        peer: PeerId,
        /// Its node name.
        node: String,
        /// The new epoch.
        epoch: CacheEpoch,
        /// Whether the peer is a different process incarnation than in the
        /// previous epoch (it restarted); false the first time.
        restarted: bool,
    },
    /// The link of `epoch` is gone. Chunks received in it and not yet read
    /// are dropped (their sender gets them back); outcomes of the chunks
    /// written in it follow as `Delivered` and `HandedBack` events, at the
    /// latest when the peer's next handshake or the in-doubt timeout
    /// settles them.
    PeerDown {
        /// The peer.
        peer: PeerId,
        /// The epoch that ended.
        epoch: CacheEpoch,
        /// Why.
        reason: LinkDown,
    },
    /// Chunks `1..=through` of `epoch` written to `peer` were delivered to
    /// its application (cumulative: each event extends the previous one).
    Delivered {
        /// The peer.
        peer: PeerId,
        /// The epoch.
        epoch: CacheEpoch,
        /// The highest sequence delivered.
        through: u64,
    },
    /// Chunks `first_seq..first_seq + chunks.len()` of `epoch` were not
    /// delivered and will not be: they are the caller's again.
    HandedBack {
        /// The peer.
        peer: PeerId,
        /// The epoch they were written in.
        epoch: CacheEpoch,
        /// Why.
        reason: HandBack,
        /// The sequence of the first chunk.
        first_seq: u64,
        /// The chunks, in sequence.
        chunks: Vec<Chunk>,
    },
    /// A peer that did not come back within the in-doubt timeout returned
    /// as the same incarnation and reports having delivered chunks that
    /// were already handed back with [`HandBack::Expired`]: sequences
    /// `first_seq..=through` of `epoch` reached it after all.
    DeliveredAfterHandBack {
        /// The peer.
        peer: PeerId,
        /// The epoch.
        epoch: CacheEpoch,
        /// The first of those sequences.
        first_seq: u64,
        /// The last.
        through: u64,
    },
    /// Pending chunks passed the soft cap: slow down.
    FillingUp {
        /// The peer.
        peer: PeerId,
    },
    /// Pending chunks fell back below half the soft cap.
    Drained {
        /// The peer.
        peer: PeerId,
    },
    /// A chunk arrived, in order, for the current epoch.
    Chunk {
        /// The sender.
        peer: PeerId,
        /// The chunk.
        chunk: Chunk,
    },
    /// A group chunk arrived, in its group's order: `seq` of group epoch
    /// `epoch` of the sender's `group`. A new `epoch` for `(peer, group)`
    /// means: start that group's cache from empty.
    GroupChunk {
        /// The sender.
        peer: PeerId,
        /// The sender's group.
        group: GroupId,
        /// The group epoch (not the link's).
        epoch: CacheEpoch,
        /// The position in the group epoch, from 1.
        seq: u64,
        /// The chunk (its `epoch` is the group epoch).
        chunk: Chunk,
    },
    /// A group of ours moved to a new group epoch: serialize for `epoch`
    /// from an empty group cache. Writes for older epochs are refused.
    GroupEpoch {
        /// The group.
        group: GroupId,
        /// The new group epoch.
        epoch: CacheEpoch,
        /// Its members.
        members: Vec<PeerId>,
        /// The members of the previous epoch that are not in this one,
        /// and why they left.
        left: Vec<(PeerId, LeaveReason)>,
    },
    /// Group chunks `first_seq..=through` of group epoch `epoch` reached
    /// every member they were written to.
    GroupDelivered {
        /// The group.
        group: GroupId,
        /// The group epoch.
        epoch: CacheEpoch,
        /// The first sequence.
        first_seq: u64,
        /// The last.
        through: u64,
    },
    /// Group chunks `first_seq..first_seq + chunks.len()` of group epoch
    /// `epoch` did not reach the members named in `missed` (the others
    /// took them): the chunks are the caller's again.
    GroupHandedBack {
        /// The group.
        group: GroupId,
        /// The group epoch.
        epoch: CacheEpoch,
        /// The sequence of the first chunk.
        first_seq: u64,
        /// The chunks, in sequence.
        chunks: Vec<Chunk>,
        /// Each member that did not get them, and why.
        missed: Vec<(PeerId, GroupMiss)>,
    },
    /// A link that belongs to no known peer broke the protocol (garbage,
    /// a bad hello) and was closed. Repeats from the same routing id while
    /// this event waits unread are counted into it.
    Refused {
        /// The routing id, lossily as text.
        node: String,
        /// What was wrong.
        error: ProtocolError,
        /// How many refusals this event stands for (at least 1).
        count: u64,
    },
}

impl Event {
    /// The peer this event is about, if any.
    pub fn peer(&self) -> Option<PeerId> {
        match self {
            Event::PeerUp { peer, .. }
            | Event::PeerDown { peer, .. }
            | Event::Delivered { peer, .. }
            | Event::HandedBack { peer, .. }
            | Event::DeliveredAfterHandBack { peer, .. }
            | Event::FillingUp { peer }
            | Event::Drained { peer }
            | Event::Chunk { peer, .. }
            | Event::GroupChunk { peer, .. } => Some(*peer),
            Event::Refused { .. }
            | Event::GroupEpoch { .. }
            | Event::GroupDelivered { .. }
            | Event::GroupHandedBack { .. } => None,
        }
    }
}
