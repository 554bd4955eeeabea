//! ZeroMQ sockets and transports on tokio, driving the sans-IO
//! [`zmtp`] core.
//!
//! - [`Socket`]: all eleven classic socket types with libzmq's semantics,
//!   async `send`/`recv`, `Sink`/`Stream`, many tasks per socket.
//! - Transports: `tcp://`, `ipc://` (paths and Linux `@abstract` names),
//!   `inproc://` (in-process, no encoding), `tls://` (ZMTP inside TLS 1.3,
//!   with rustls; see [`TlsConfig`] for the mapping).
//! - [`Options`]: libzmq's option names and defaults (high-water marks,
//!   linger, reconnect backoff, heartbeats, handshake timeout, ...).
//! - [`Monitor`]: connection events as a stream, each end of a link with
//!   its typed [`LinkEnd`].
//! - [`proxy`]: forwarding between two sockets, plain or steerable.
//!
//! Layout: `core` holds a socket's pipes and routing state; `rules` the
//! per-type rules (`rules/round_robin`, `rules/routed`, `rules/fan_out`,
//! `rules/req_rep`, `rules/xpub_manual`, `rules/first_frame`), as plain
//! functions over that state; `modes` the behaviours an application may
//! change on a live socket ([`Mode`], [`Socket::set_mode`]); `notices` an XPUB's
//! subscription notices in the order its state changed; `engine` drives one connection (`read_buffers` the
//! read buffers its links share); `listener` and
//! `connecter` own bound and connected endpoints, which `endpoints` stops one
//! at a time ([`Socket::unbind`], [`Socket::disconnect`]); `live_options`
//! holds the options later endpoints take ([`Socket::set_options`]);
//! `inproc` joins sockets in memory, within an [`InprocDomain`]; `tls` holds the TLS settings (`tls/settings`) and handshakes
//! (`tls/handshake`); `peers` what each handshake learnt about its peer;
//! `link_end` and `refusal` why links end; `readiness` whether a send
//! would be taken now ([`Socket::writable`]); `security` and `async_auth`
//! who decides about a peer ([`Authenticator`], [`AsyncAuthenticator`]). The repository's
//! `docs/architecture.md` follows a message through these files.

// The fuzz targets drive admission directly; nothing else should.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod admission;
#[cfg(not(feature = "fuzzing"))]
mod admission;
mod async_auth;
mod connecter;
mod core;
mod endpoint;
mod endpoints;
mod engine;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz_subscriptions;
mod gate;
mod inproc;
mod ipc_file;
mod lanes;
mod link_end;
mod listener;
mod live_options;
mod modes;
mod monitor;
mod monitor_event;
mod notices;
mod options;
mod peers;
pub mod proxy;
mod queue;
mod read_buffers;
mod readiness;
mod receiver;
mod refusal;
mod rules;
mod security;
mod sender;
mod socket;
mod stream;
mod subscriptions;
mod tls;
mod trace;

pub use crate::core::SocketStats;
pub use async_auth::{AsyncAuthenticator, AuthFuture, SharedAsyncAuthenticator, ZapReplyError};
pub use endpoint::{Endpoint, EndpointError, Host, IpcAddr, Port};
pub use error::{Error, Result};
pub use inproc::InprocDomain;
pub use link_end::{IoFailure, LinkEnd};
pub use modes::Mode;
pub use monitor::Monitor;
pub use monitor_event::MonitorEvent;
pub use options::Options;
pub use peers::PeerMetadata;
pub use receiver::Receiver;
pub use refusal::Refusal;
pub use security::{
    Authenticator, CurveAllowList, PlainPasswords, Security, SharedAuthenticator, ZapRequest,
};
pub use sender::Sender;
pub use socket::{Socket, TrySendError};
pub use tls::{TlsConfig, TlsError, TlsIdentity, TlsPeer, TlsRoots};
pub use zmtp;
pub use zmtp::{
    AuthReply, AuthStatus, Credentials, CurveKeyPair, CurvePublicKey, CurveSecretKey,
    HeartbeatConfig, Message, SocketType,
};
