//! A sans-IO implementation of ZMTP 3.1, the ZeroMQ message transport
//! protocol, with ZMTP 3.0 peers served too.
//!
//! This crate holds the protocol and nothing else: no sockets, no tasks, no
//! clocks. A [`Connection`] takes the bytes a transport received and the
//! current time, and gives back bytes to write, [`Event`]s and its next
//! deadline. The `zmtp-transport` crate drives it over tcp, ipc and tls.
//!
//! Pieces, one file each:
//! - [`Greeting`]: the 64-byte greeting; [`Version`], [`MechanismName`].
//! - [`Frame`], [`FrameHeader`], [`FrameDecoder`]: framing with a size limit
//!   checked before any allocation.
//! - [`Command`], [`RawCommand`]: READY, ERROR, PING, PONG, SUBSCRIBE, CANCEL.
//! - [`Metadata`]: property lists, strict to parse, case-insensitive to read.
//! - [`z85`]: the printable key encoding of RFC 32.
//! - [`SocketType`]: the eleven types and which pairs may talk.
//! - [`mechanism`]: the security mechanisms NULL, PLAIN and CURVE, and the
//!   [`AuthRequest`]/[`AuthReply`] hook through which servers ask the
//!   application about a peer.
//!
//! # Example: two connections talking through memory
//!
//! ```
//! use std::time::Instant;
//! use bytes::{Buf, BytesMut};
//! use zmtp::{Config, Connection, Event, Message, SocketType, mechanism::Null};
//!
//! let now = Instant::now();
//! let mut push = Connection::new(Config::new(SocketType::Push), Box::new(Null::new()), now);
//! let mut pull = Connection::new(Config::new(SocketType::Pull), Box::new(Null::new()), now);
//!
//! // Shuttle bytes both ways until both handshakes are done.
//! let mut shuttle = |from: &mut Connection, to: &mut Connection| {
//!     let out = from.transmit();
//!     let mut wire = BytesMut::from(out.copy_to_bytes(out.remaining()).as_ref());
//!     to.handle_input(&mut wire, now);
//! };
//! shuttle(&mut push, &mut pull);
//! shuttle(&mut pull, &mut push);
//! shuttle(&mut push, &mut pull);
//! assert!(push.is_active() && pull.is_active());
//!
//! push.send(&Message::from("hello")).unwrap();
//! shuttle(&mut push, &mut pull);
//! let mut got = None;
//! while let Some(event) = pull.poll_event() {
//!     if let Event::Message(m) = event {
//!         got = Some(m);
//!     }
//! }
//! assert_eq!(&got.unwrap().frames()[0][..], b"hello");
//! ```

#![forbid(unsafe_code)]

pub mod command;
pub mod config;
mod connection;
mod decode;
pub mod event;
pub mod frame;
pub mod greeting;
mod heartbeat;
pub mod mechanism;
mod message;
pub mod metadata;
mod out_queue;
pub mod socket_type;
pub mod z85;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use command::{Command, CommandError, RawCommand};
pub use config::{Config, HeartbeatConfig};
pub use connection::{
    AuthenticateError, Connection, HANDSHAKE_FRAME_MAX, Input, PONG_BACKLOG, SendError, State,
};
pub use decode::Decoded;
pub use event::{CloseReason, Event, PeerInfo};
pub use frame::{Frame, FrameDecoder, FrameHeader, FrameTooLarge};
pub use greeting::{Greeting, GreetingError, MechanismName, Version};
pub use mechanism::{
    AuthReply, AuthRequest, AuthStatus, Cipher, Credentials, CurveClient, CurveError, CurveKeyPair,
    CurvePublicKey, CurveSecretKey, CurveServer, Mechanism, MechanismError, PlainClient,
    PlainServer,
};
pub use message::Message;
pub use metadata::{Metadata, MetadataError};
pub use out_queue::OutQueue;
pub use socket_type::{SocketType, UnknownSocketType};
