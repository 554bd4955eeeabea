//! Per-connection settings, with libzmq's defaults.

use std::time::Duration;

use bytes::Bytes;

use crate::metadata::Metadata;
use crate::socket_type::SocketType;

/// The default for [`Config::max_frames_per_message`].
pub const DEFAULT_MAX_FRAMES: usize = 65_536;

/// What one received frame costs in memory beside its body while its
/// message is assembled (its handle and its slot in the message), for
/// working out a link's bound: `frames x FRAME_COST + bytes`.
pub const FRAME_COST: usize = 48;

/// libzmq's `ZMQ_HANDSHAKE_IVL` default.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Heartbeat settings (libzmq's `ZMQ_HEARTBEAT_IVL`, `_TTL`, `_TIMEOUT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeartbeatConfig {
    /// Send a PING this often once the handshake is done; `None` (the
    /// default) sends none. PINGs from the peer are answered regardless.
    pub interval: Option<Duration>,
    /// Time-to-live announced in our PINGs: the peer should close if it hears
    /// nothing from us for this long. Sent in deciseconds, truncated, at most
    /// 6553.5 s; zero (the default) announces none.
    pub ttl: Duration,
    /// Close if nothing at all arrives within this long after a PING. `None`
    /// (the default) means the same as `interval`; zero turns the check off.
    pub timeout: Option<Duration>,
}

impl HeartbeatConfig {
    /// The TTL field of our PINGs, in deciseconds.
    pub fn ttl_deciseconds(&self) -> u16 {
        u16::try_from(self.ttl.as_millis() / 100).unwrap_or(u16::MAX)
    }

    /// The effective timeout after a PING, if the check is on.
    pub fn effective_timeout(&self) -> Option<Duration> {
        match self.timeout {
            Some(t) if t.is_zero() => None,
            Some(t) => Some(t),
            None => self.interval,
        }
    }
}

/// Everything a [`Connection`](crate::Connection) needs besides its mechanism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Our socket type, announced as `Socket-Type` and checked against the
    /// peer's.
    pub socket_type: SocketType,
    /// Our routing id, announced as `Identity` by REQ, DEALER and ROUTER.
    /// 0 to 255 bytes; empty means none.
    pub identity: Bytes,
    /// Extra properties for our metadata (by convention named `X-...`).
    pub properties: Metadata,
    /// Largest frame body accepted (`ZMQ_MAXMSGSIZE`, per frame as in
    /// libzmq); `None` means no limit beyond the protocol's 2^63 - 1.
    pub max_frame_size: Option<u64>,
    /// Largest whole message accepted, as [`Message::cost`](crate::Message::cost)
    /// counts it: all frames' bytes together plus [`FRAME_COST`] for each
    /// frame after the first (so a single frame may be exactly this large);
    /// `None` for no limit.
    pub max_message_size: Option<u64>,
    /// Most frames in one message; `None` for no limit. Each frame held
    /// while a message is assembled costs about [`FRAME_COST`] bytes beside
    /// its body, so without this a peer sending a message that never ends,
    /// in tiny frames, would cost several times what it sends. Default
    /// [`DEFAULT_MAX_FRAMES`] (libzmq has no such limit; no ordinary
    /// application comes near it).
    pub max_frames_per_message: Option<usize>,
    /// Greeting plus security handshake must finish within this;
    /// `None` waits forever. Default 30 s, as libzmq.
    pub handshake_timeout: Option<Duration>,
    /// Heartbeats.
    pub heartbeat: HeartbeatConfig,
}

impl Config {
    /// Defaults for a socket of the given type.
    pub fn new(socket_type: SocketType) -> Self {
        Config {
            socket_type,
            identity: Bytes::new(),
            properties: Metadata::new(),
            max_frame_size: None,
            max_message_size: None,
            max_frames_per_message: Some(DEFAULT_MAX_FRAMES),
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
            heartbeat: HeartbeatConfig::default(),
        }
    }

    /// The metadata we announce in our handshake.
    pub fn local_metadata(&self) -> Metadata {
        let mut m = Metadata::for_socket(self.socket_type, &self.identity);
        for p in self.properties.iter() {
            m.push(p.name.clone(), p.value.clone());
        }
        m
    }
}
