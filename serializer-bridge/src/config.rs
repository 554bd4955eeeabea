//! How a [`PeerManager`](crate::PeerManager) is set up.

use std::time::Duration;

use zmtp_transport::Options;

/// A peer this node connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    /// The peer's node name (its routing id and stable identity).
    pub name: String,
    /// Where it listens: `tcp://host:port`, `ipc://...`, `tls://...`.
    pub endpoint: String,
}

/// Queue limits per peer, in chunks and bytes (queued plus unacknowledged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Above this many pending chunks a peer is "filling up".
    pub soft_chunks: usize,
    /// At this many pending chunks `write` refuses.
    pub hard_chunks: usize,
    /// Above this many pending bytes a peer is "filling up".
    pub soft_bytes: usize,
    /// At this many pending bytes `write` refuses.
    pub hard_bytes: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            soft_chunks: 16 * 1024,
            hard_chunks: 64 * 1024,
            soft_bytes: 64 << 20,
            hard_bytes: 256 << 20,
        }
    }
}

/// Everything a node's bridge needs.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// This node's name; peers know us by it.
    pub node: String,
    /// Endpoints to accept peers on.
    pub listen: Vec<String>,
    /// Peers to connect to.
    pub peers: Vec<PeerConfig>,
    /// Entries in our serialization cache, announced in the hello.
    pub cache_size: u32,
    /// Capability flags announced in the hello.
    pub capabilities: u32,
    /// Per-peer queue limits.
    pub caps: Caps,
    /// Acknowledge after this many chunks read (or when the peer's inbox
    /// empties, whichever is first).
    pub ack_every: u64,
    /// Socket options for every link: heartbeats default to a 1 s interval
    /// and a 3 s timeout, so a dead peer is noticed even when idle.
    pub socket: Options,
    /// Tick of the background driver (acks of idle peers, retries).
    pub tick: Duration,
    /// How long a connecting side waits for the WELCOME before it drops
    /// the link and tries again.
    pub handshake_timeout: Duration,
    /// How long chunks sent on a link that dropped wait for the peer to
    /// come back and say what it delivered; then they are handed back
    /// with [`HandBack::Expired`](crate::HandBack::Expired).
    pub in_doubt_timeout: Duration,
    /// Events (other than chunks, which the windows bound) that may wait
    /// unread before the driver stops reading from the network.
    pub max_backlog: usize,
    /// How far a group member may fall behind before it leaves the group
    /// epoch (see `docs/bridge-protocol.md`, Groups).
    pub group_limits: crate::group::GroupLimits,
}

impl BridgeConfig {
    /// Defaults for a node called `node`.
    pub fn new(node: impl Into<String>) -> Self {
        let mut socket = Options::new(zmtp_transport::SocketType::Router);
        socket.heartbeat = zmtp_transport::HeartbeatConfig {
            interval: Some(Duration::from_secs(1)),
            ttl: Duration::from_secs(3),
            timeout: Some(Duration::from_secs(3)),
        };
        socket.reconnect_ivl = Duration::from_millis(100);
        socket.reconnect_ivl_max = Duration::from_secs(2);
        socket.linger = Some(Duration::from_millis(500));
        BridgeConfig {
            node: node.into(),
            listen: Vec::new(),
            peers: Vec::new(),
            cache_size: 3000,
            capabilities: 0,
            caps: Caps::default(),
            group_limits: crate::group::GroupLimits::default(),
            ack_every: 64,
            socket,
            tick: Duration::from_millis(10),
            handshake_timeout: Duration::from_secs(5),
            in_doubt_timeout: Duration::from_secs(30),
            max_backlog: 4096,
        }
    }
}
