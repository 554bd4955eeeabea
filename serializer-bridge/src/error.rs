//! Why a [`PeerManager`](crate::PeerManager) could not start.

use thiserror::Error;

/// Why a manager could not start.
#[derive(Debug, Error)]
pub enum BridgeError {
    /// A socket could not bind or connect.
    #[error("{endpoint}: {source}")]
    Socket {
        /// The endpoint.
        endpoint: String,
        /// What the socket layer said.
        source: zmtp_transport::Error,
    },
    /// The runtime or the wake-up descriptor could not be created.
    #[error("starting the bridge: {0}")]
    Io(#[from] std::io::Error),
    /// The configuration cannot work.
    #[error("bad configuration: {0}")]
    Config(#[from] ConfigError),
}

/// What is wrong with a [`BridgeConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// Two configured peers share a name.
    #[error("two peers are named {0:?}")]
    DuplicatePeer(String),
    /// A configured peer has this node's name.
    #[error("a peer is named like this node, {0:?}")]
    PeerNamedLikeNode(String),
    /// The node name is empty or longer than 255 bytes.
    #[error("the node name must be 1 to 255 bytes, not {0}")]
    NodeNameLength(usize),
    /// A cap or window of zero would stop every peer.
    #[error("caps, windows and ack_every must be above zero")]
    ZeroLimit,
}
