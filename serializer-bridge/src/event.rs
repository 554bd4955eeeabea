//! What a [`PeerManager`](crate::PeerManager) reports.

use crate::chunk::Chunk;
use crate::epoch::CacheEpoch;

/// A peer's stable identity within one manager.
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
    },
    /// The link of `epoch` is gone. The chunks it could not deliver come
    /// back: re-serialize them for the next epoch.
    PeerDown {
        /// The peer.
        peer: PeerId,
        /// The epoch that ended.
        epoch: CacheEpoch,
        /// Why.
        reason: String,
        /// Chunks never handed to the network.
        unsent: Vec<Chunk>,
        /// Chunks sent but not acknowledged: the peer may or may not have
        /// read the last few of these before the link dropped.
        unconfirmed: Vec<Chunk>,
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
    /// A link was refused during the bridge hello (wrong version, garbage).
    Refused {
        /// The node name or routing id it claimed.
        node: String,
        /// Why.
        reason: String,
    },
}

impl Event {
    /// The peer this event is about, if any.
    pub fn peer(&self) -> Option<PeerId> {
        match self {
            Event::PeerUp { peer, .. }
            | Event::PeerDown { peer, .. }
            | Event::FillingUp { peer }
            | Event::Drained { peer }
            | Event::Chunk { peer, .. } => Some(*peer),
            Event::Refused { .. } => None,
        }
    }
}
