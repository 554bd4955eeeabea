//! Why a link ends and why chunks come back: typed reasons that reach the
//! caller in [`Event::PeerDown`](crate::Event::PeerDown) and
//! [`Event::HandedBack`](crate::Event::HandedBack), never text to parse.

use thiserror::Error;

use crate::epoch::CacheEpoch;
use crate::wire::{RefuseCode, WireError};

/// What a peer did that the bridge protocol forbids. The session that sees
/// it ends its link (and only that link); the peer's other state is kept.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtocolError {
    /// The message is not a bridge message.
    #[error("malformed bridge message: {0}")]
    Malformed(#[from] WireError),
    /// A GCHUNK on a link agreed at a version without groups.
    #[error("group chunk on a link agreed at bridge protocol version {version}")]
    GroupsNotAgreed {
        /// The link's version.
        version: u16,
    },
    /// The peer speaks another bridge protocol version.
    #[error("bridge protocol version {theirs} is not supported; this node speaks {ours}")]
    Version {
        /// The peer's version.
        theirs: u16,
        /// Ours.
        ours: u16,
    },
    /// The hello's node name is not the one this link belongs to.
    #[error("hello names node {claimed:?} on the link of {expected:?}")]
    NodeName {
        /// The name in the hello.
        claimed: String,
        /// The name of the link's peer.
        expected: String,
    },
    /// The hello's node name belongs to a configured peer or to us.
    #[error("node name {name:?} is taken")]
    NameTaken {
        /// The name.
        name: String,
    },
    /// A HELLO arrived at the side that sends HELLOs.
    #[error("HELLO on a link this node opened")]
    HelloToConnector,
    /// A WELCOME arrived at the side that sends WELCOMEs, or a second
    /// WELCOME for a handshake that already finished.
    #[error("WELCOME that answers no pending HELLO of ours")]
    UnexpectedWelcome,
    /// The first message of a link was not a HELLO.
    #[error("{0} before any HELLO")]
    BeforeHello(&'static str),
    /// An epoch beyond the range the protocol allows.
    #[error("{epoch} is out of range")]
    EpochOutOfRange {
        /// The epoch named.
        epoch: CacheEpoch,
    },
    /// The WELCOME agreed an epoch below the one proposed.
    #[error("WELCOME agrees {agreed}, below the proposed {proposed}")]
    EpochBelowProposal {
        /// What we proposed.
        proposed: CacheEpoch,
        /// What came back.
        agreed: CacheEpoch,
    },
    /// A delivery record that does not fit what we sent.
    #[error(
        "delivery record of {delivered} chunks in {epoch}; we sent {sent} and had {acked} acknowledged"
    )]
    RecordOutOfRange {
        /// The record's epoch.
        epoch: CacheEpoch,
        /// What it claims was delivered.
        delivered: u64,
        /// Acknowledged before.
        acked: u64,
        /// Sent in that epoch.
        sent: u64,
    },
    /// A delivery record for an epoch newer than any we sent in.
    #[error("delivery record for {record}, newer than our latest sending {ours}")]
    RecordAhead {
        /// The record's epoch.
        record: CacheEpoch,
        /// Our latest epoch with chunks in doubt.
        ours: CacheEpoch,
    },
    /// An ACK beyond what was sent or below an earlier ACK.
    #[error("ACK of {seq} in {epoch}; sent {sent}, acknowledged {acked}")]
    AckOutOfRange {
        /// The epoch.
        epoch: CacheEpoch,
        /// The acknowledged sequence.
        seq: u64,
        /// Acknowledged before.
        acked: u64,
        /// Sent so far.
        sent: u64,
    },
    /// A CHUNK or ACK of an epoch newer than the link's.
    #[error("{kind} of {epoch} on a link in {current}")]
    FutureEpoch {
        /// CHUNK or ACK.
        kind: &'static str,
        /// Its epoch.
        epoch: CacheEpoch,
        /// The link's.
        current: CacheEpoch,
    },
    /// A CHUNK out of sequence.
    #[error("chunk {seq} of {epoch} arrived, expected {expected}")]
    OutOfOrder {
        /// The epoch.
        epoch: CacheEpoch,
        /// The sequence received.
        seq: u64,
        /// The sequence expected.
        expected: u64,
    },
    /// The peer sent more unacknowledged chunks than our window allows.
    #[error("peer exceeded our window ({chunks} chunks, {bytes} bytes unacknowledged)")]
    WindowExceeded {
        /// Unacknowledged chunks with this one.
        chunks: u64,
        /// Unacknowledged bytes with this one.
        bytes: u64,
    },
    /// The peer did not finish the handshake in time.
    #[error("no WELCOME within the handshake timeout")]
    HandshakeTimeout,
    /// A group chunk out of its group's order: a sequence that is not the
    /// next of its group epoch, or a group epoch that went back.
    #[error("group {group} chunk {seq} of {epoch}; the group is in {current}, expected {expected}")]
    GroupOutOfOrder {
        /// The group (the writer's number).
        group: u32,
        /// The chunk's group epoch.
        epoch: CacheEpoch,
        /// Its group sequence.
        seq: u64,
        /// The group epoch seen last on this link.
        current: CacheEpoch,
        /// The sequence expected.
        expected: u64,
    },
    /// More groups on one link epoch than a receiver tracks.
    #[error("more than {max} groups on one link")]
    TooManyGroups {
        /// The most tracked.
        max: usize,
    },
}

impl ProtocolError {
    /// The REFUSE code that tells the peer why.
    pub fn refuse_code(&self) -> RefuseCode {
        match self {
            ProtocolError::Version { .. } => RefuseCode::Version,
            ProtocolError::NodeName { .. } | ProtocolError::NameTaken { .. } => RefuseCode::Name,
            _ => RefuseCode::Protocol,
        }
    }
}

/// Why a peer's epoch ended.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LinkDown {
    /// The transport closed the link (peer gone, heartbeat timeout, ...).
    #[error("link closed")]
    Closed,
    /// A new handshake replaced the link (a reconnect seen before the old
    /// link's close).
    #[error("replaced by a new handshake")]
    Replaced,
    /// The peer broke the protocol; we close its link.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
    /// The peer refused the link.
    #[error("refused by the peer ({code:?}): {text}")]
    Refused {
        /// Its code.
        code: RefuseCode,
        /// Its text.
        text: String,
    },
    /// This manager is shutting down.
    #[error("shutting down")]
    Shutdown,
}

/// Why chunks came back to the caller. In every case they were not
/// delivered to the peer's current incarnation (see `Expired` for the one
/// case the bridge cannot know), and none of them will be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HandBack {
    /// Written but never put on the wire before the epoch ended.
    #[error("never sent")]
    Unsent,
    /// Sent; the peer's delivery record says it did not deliver them.
    #[error("not delivered, by the peer's own record")]
    NotDelivered,
    /// Sent; the peer came back as a new incarnation (it restarted), so
    /// nothing the old one received survives.
    #[error("the peer restarted")]
    PeerRestarted,
    /// Sent; the peer did not come back within the in-doubt timeout. If
    /// that same incarnation returns later and reports having delivered
    /// some of them, [`Event::DeliveredAfterHandBack`](crate::Event::DeliveredAfterHandBack) says which.
    #[error("the peer did not come back in time")]
    Expired,
    /// Sent or queued when this manager shut down.
    #[error("shutting down")]
    Shutdown,
}

/// Why [`PeerManager::write`](crate::PeerManager::write) refused a chunk.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WriteRefused {
    /// The peer has no link up; wait for its `PeerUp`.
    #[error("peer is down")]
    PeerDown,
    /// The chunk was serialized for another epoch than the current one.
    #[error("chunk is for {chunk}, the peer is in {current}")]
    StaleEpoch {
        /// The chunk's epoch.
        chunk: CacheEpoch,
        /// The peer's.
        current: CacheEpoch,
    },
    /// The chunk alone is longer than the hard byte cap (`caps.hard_bytes`):
    /// it can never be queued, unlike a chunk refused as `Full`. Peers'
    /// sockets refuse frames past their own cap too (`maxmsgsize`).
    #[error("chunk of {len} bytes is longer than the cap of {max} bytes")]
    TooLarge {
        /// The chunk's length.
        len: usize,
        /// The hard byte cap.
        max: usize,
    },
    /// The hard cap is reached.
    #[error("peer queue is full ({pending} chunks, {pending_bytes} bytes pending)")]
    Full {
        /// Chunks pending.
        pending: usize,
        /// Bytes pending.
        pending_bytes: usize,
    },
    /// No such peer.
    #[error("unknown peer")]
    UnknownPeer,
    /// A group chunk for a peer whose link speaks an older protocol
    /// version, without group chunks.
    #[error("the link speaks bridge protocol version {version}, without groups")]
    NoGroups {
        /// The link's version.
        version: u16,
    },
    /// The manager has shut down.
    #[error("the peer manager is closed")]
    Closed,
}
