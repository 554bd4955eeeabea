//! The cluster layer: carries a network monitor's serialized state chunks
//! between cluster nodes over ZMTP, replacing a brittle hand-written socket
//! layer while leaving the serialization untouched.
//!
//! - [`PeerManager`]: listen and connect, one stable [`PeerId`] per peer,
//!   reconnection with backoff, heartbeats, bounded per-peer queues, events.
//! - A ChunkedIO-style interface per peer: [`PeerManager::write`], `read`,
//!   `flush`, `is_idle`, `is_filling_up`, `can_read`, `can_write`, `clear`,
//!   `stats`.
//! - [`CacheEpoch`]s: every (re)connection starts a new epoch agreed in the
//!   bridge's hello; chunks never cross from one epoch into another, and
//!   what a dropped link did not deliver is handed back.
//! - Groups ([`group`]): one chunk encoded once for several peers whose
//!   group cache is kept in step (`PeerManager::join_group`, `write_group`).
//! - [`MessageType`]: the cluster's message types with their historical
//!   codes.
//!
//! The wire protocol on each link is in [`wire`]; the link pattern is a
//! DEALER (the connecting node, routing id = its node name) talking to the
//! accepting node's ROUTER, both directions on one link.

mod chunk;
mod config;
mod driver;
mod epoch;
mod error;
mod event;
pub mod ffi;
pub mod group;
mod manager;
mod message_type;
pub mod session;
mod sockets;
mod state;
mod stats;
mod wakeup;
pub mod wire;

pub use chunk::Chunk;
pub use config::{BridgeConfig, Caps, PeerConfig};
pub use epoch::CacheEpoch;
pub use error::{BridgeError, ConfigError};
pub use event::{Event, PeerId};
pub use group::{GroupId, GroupLimits, GroupMiss, GroupWriteRefused, LeaveReason};
pub use manager::PeerManager;
pub use message_type::{MessageType, MessageTypeError};
pub use session::{HandBack, LinkDown, ProtocolError, WriteRefused};
pub use stats::PeerStats;
pub use zmtp_transport;
