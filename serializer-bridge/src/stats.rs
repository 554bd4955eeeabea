//! Per-peer counters, in the spirit of ChunkedIO's statistics.

/// Per-peer counters, in the spirit of ChunkedIO's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
    /// Chunks received.
    pub chunks_in: u64,
    /// Chunks sent.
    pub chunks_out: u64,
    /// Chunks queued or unacknowledged right now.
    pub pending: u64,
    /// Bytes queued or unacknowledged right now.
    pub pending_bytes: u64,
    /// Messages handed to the socket layer (chunks and acks).
    pub write_calls: u64,
    /// Chunks the application took.
    pub read_calls: u64,
    /// Epochs started with this peer.
    pub epochs: u64,
    /// Writes refused at the hard cap.
    pub refused_writes: u64,
    /// Chunks sent in an ended epoch and still waiting for an outcome.
    pub in_doubt: u64,
    /// Received chunks dropped unread because their epoch ended.
    pub dropped_unread: u64,
    /// Messages of a dead link or an earlier handshake, ignored.
    pub stale: u64,
    /// Links this peer lost for breaking the protocol.
    pub protocol_errors: u64,
}
