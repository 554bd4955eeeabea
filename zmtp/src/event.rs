//! What a connection reports to its driver.

use bytes::Bytes;
use thiserror::Error;

use crate::command::CommandError;
use crate::frame::FrameTooLarge;
use crate::greeting::{GreetingError, MechanismName, Version};
use crate::mechanism::{AuthRequest, MechanismError};
use crate::message::Message;
use crate::metadata::Metadata;
use crate::socket_type::{SocketType, UnknownSocketType};

/// Something that happened on a connection.
#[derive(Debug)]
pub enum Event {
    /// A server mechanism needs a decision about the peer's credentials
    /// before the handshake can go on: answer with
    /// [`Connection::authenticate`](crate::Connection::authenticate).
    AuthenticationRequested(Box<AuthRequest>),
    /// The handshake is complete; messages may flow both ways.
    HandshakeSucceeded(Box<PeerInfo>),
    /// A whole message arrived.
    Message(Message),
    /// The peer subscribed to a topic prefix (3.1 command or 3.0 `0x01`
    /// data form). Reported to publishers (PUB and XPUB) only.
    Subscribe(Bytes),
    /// The peer cancelled one subscription (3.1 command or 3.0 `0x00`
    /// data form). Reported to publishers only.
    Cancel(Bytes),
    /// The connection is finished. The driver should write out whatever is
    /// still queued (an ERROR command, perhaps), then close the transport.
    Closed(CloseReason),
}

/// What the handshake established about the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The ZMTP version the peer announced.
    pub version: Version,
    /// The peer's socket type, if it announced one (libzmq accepts a READY
    /// without it, and so do we).
    pub socket_type: Option<SocketType>,
    /// The peer's `Identity`, if it sent a non-empty one.
    pub identity: Option<Bytes>,
    /// The peer's whole metadata.
    pub metadata: Metadata,
    /// The user id an authenticator assigned, if any.
    pub user_id: Option<Bytes>,
    /// The properties the authenticator attached (a ZAP reply's metadata);
    /// empty when nobody was asked.
    pub auth_metadata: Metadata,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer's greeting is not ZMTP 3.x.
    #[error(transparent)]
    Greeting(#[from] GreetingError),
    /// The peer uses another security mechanism.
    #[error("security mechanism mismatch: we use {ours}, the peer uses {theirs}")]
    MechanismMismatch {
        /// Ours.
        ours: MechanismName,
        /// The peer's.
        theirs: MechanismName,
    },
    /// The security handshake failed.
    #[error(transparent)]
    Mechanism(#[from] MechanismError),
    /// A frame was larger than allowed.
    #[error(transparent)]
    FrameTooLarge(#[from] FrameTooLarge),
    /// A multipart message grew larger than allowed.
    #[error("message of at least {size} bytes exceeds the maximum of {max} bytes")]
    MessageTooLarge {
        /// Bytes received for the message so far.
        size: u64,
        /// The configured maximum.
        max: u64,
    },
    /// A multipart message had more frames than allowed.
    #[error("message of more than {max} frames")]
    TooManyFrames {
        /// The configured maximum.
        max: usize,
    },
    /// The peer's `Socket-Type` is not a socket type.
    #[error("peer metadata: {0}")]
    UnknownSocketType(#[from] UnknownSocketType),
    /// The peer's socket type cannot talk to ours.
    #[error("incompatible socket types: we are {ours}, the peer is {theirs}")]
    IncompatibleSocketType {
        /// Ours.
        ours: SocketType,
        /// The peer's.
        theirs: SocketType,
    },
    /// The peer sent message data before the handshake completed.
    #[error("peer sent a data frame before the handshake completed")]
    DataBeforeHandshake,
    /// A command after the handshake was malformed.
    #[error("malformed command: {0}")]
    Command(#[from] CommandError),
    /// The peer sent ERROR after the handshake.
    #[error("peer sent ERROR {0:?}")]
    PeerError(String),
    /// The handshake did not finish in time.
    #[error("handshake did not complete within the handshake timeout")]
    HandshakeTimeout,
    /// Nothing arrived within the heartbeat timeout after our PING.
    #[error("heartbeat timeout: no traffic from the peer after our PING")]
    HeartbeatTimeout,
    /// Nothing arrived within the TTL the peer announced.
    #[error("heartbeat TTL announced by the peer expired without traffic")]
    HeartbeatTtlExpired,
}

impl CloseReason {
    /// Whether this is a protocol error after which libzmq stops
    /// reconnecting (mechanism mismatch, bad socket type, ERROR received,
    /// malformed commands, failed security), as opposed to a timeout after
    /// which a connecting side should try again.
    pub fn is_protocol_error(&self) -> bool {
        !matches!(
            self,
            CloseReason::HandshakeTimeout
                | CloseReason::HeartbeatTimeout
                | CloseReason::HeartbeatTtlExpired
        )
    }
}
