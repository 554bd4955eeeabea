//! Security mechanisms: the handshake between greeting and first message.
//!
//! A mechanism is a small state machine per side. The [`Connection`] starts
//! it once both greetings are in and the mechanism names agree, then feeds it
//! every command frame until it reports [`Progress::Complete`]. It writes its
//! own commands (READY, HELLO, ...) as whole frames into the output buffer.
//!
//! Mechanisms that protect traffic after the handshake (CURVE) hand back a
//! [`Cipher`] that seals outgoing frames and opens incoming ones; NULL and
//! PLAIN hand back none, and frames then pass through untouched.
//!
//! Server mechanisms that authenticate their peer (PLAIN, CURVE) stop
//! half-way with [`Progress::Authenticate`]; the connection resumes them
//! with [`Mechanism::on_auth_reply`] once the application has decided (the
//! flow and the status codes: [`AuthRequest`], [`AuthReply`]).
//!
//! | mechanism | client | server |
//! |---|---|---|
//! | NULL | [`Null`] | [`Null`], or [`NullServer`] to ask an authenticator |
//! | PLAIN (RFC 24) | [`PlainClient`] | [`PlainServer`] |
//! | CURVE (RFC 25/26) | [`CurveClient`] | [`CurveServer`] |
//!
//! [`Connection`]: crate::Connection

mod auth;
pub mod curve;
mod moves;
mod null;
mod null_server;
mod plain;

use std::fmt;

use bytes::{Bytes, BytesMut};
use thiserror::Error;

pub use auth::{AuthReply, AuthRequest, AuthStatus, Credentials};
pub use curve::{
    CurveClient, CurveError, CurveKeyPair, CurvePublicKey, CurveSecretKey, CurveServer,
};
pub use plain::{PlainClient, PlainServer};

use crate::command::{CommandError, RawCommand};
use crate::frame::Frame;
use crate::greeting::MechanismName;
use crate::metadata::Metadata;

pub use null::Null;
pub use null_server::NullServer;

/// What a mechanism made of the latest input.
#[derive(Debug)]
pub enum Progress {
    /// The handshake goes on; more commands are expected.
    Continue,
    /// The handshake waits for the application to accept or refuse the
    /// peer; resume it with [`Mechanism::on_auth_reply`].
    Authenticate(AuthRequest),
    /// The handshake is over: messages may flow.
    Complete(Handshake),
}

/// What a finished handshake established about the peer.
#[derive(Debug)]
pub struct Handshake {
    /// The metadata the peer sent (READY or INITIATE).
    pub peer_metadata: Metadata,
    /// The user id an authenticator assigned to the peer, if any.
    pub user_id: Option<Bytes>,
    /// The properties the authenticator attached to the peer (empty when
    /// nobody was asked).
    pub auth_metadata: Metadata,
    /// The traffic protection to apply from now on; `None` for clear text.
    pub cipher: Option<Box<dyn Cipher>>,
}

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MechanismError {
    /// The peer sent a command that has no place at this step.
    #[error("{mechanism} handshake: unexpected command {name:?}")]
    UnexpectedCommand {
        /// The mechanism in use.
        mechanism: MechanismName,
        /// The command's name (lossy UTF-8).
        name: String,
    },
    /// A handshake command was malformed.
    #[error("{mechanism} handshake: {source}")]
    Malformed {
        /// The mechanism in use.
        mechanism: MechanismName,
        /// What was wrong with the command.
        source: CommandError,
    },
    /// The peer refused the handshake with an ERROR command.
    #[error("{mechanism} handshake: peer sent ERROR {reason:?}")]
    PeerError {
        /// The mechanism in use.
        mechanism: MechanismName,
        /// The ERROR's reason text (lossy UTF-8).
        reason: String,
    },
    /// Our own metadata could not be encoded.
    #[error("{mechanism} handshake: local metadata: {source}")]
    LocalMetadata {
        /// The mechanism in use.
        mechanism: MechanismName,
        /// The encoding error.
        source: CommandError,
    },
    /// A cryptographic check failed (a box did not open, a nonce repeated).
    #[error("{mechanism}: {reason}")]
    Crypto {
        /// The mechanism in use.
        mechanism: MechanismName,
        /// Which check failed.
        reason: &'static str,
    },
    /// The server's answer to our credentials could not be decoded. A
    /// client takes this as a refusal: libzmq's PLAIN server sends its
    /// ERROR malformed (`5e 52 52 4f 52 ...`; docs/protocol-notes.md, "PLAIN").
    #[error("{mechanism} handshake: authentication failed: {detail}")]
    AuthenticationFailed {
        /// The mechanism in use.
        mechanism: MechanismName,
        /// What arrived instead of a readable answer.
        detail: String,
    },
    /// Our authenticator refused the peer (ZAP status 300, 400 or 500).
    #[error("{mechanism} handshake: peer refused by the authenticator with status {status}")]
    Rejected {
        /// The mechanism in use.
        mechanism: MechanismName,
        /// The authenticator's status.
        status: AuthStatus,
    },
    /// An authentication reply was handed to a mechanism that asked for none.
    #[error("{mechanism} handshake: no authentication was requested")]
    UnexpectedAuthReply {
        /// The mechanism in use.
        mechanism: MechanismName,
    },
    /// A CURVE check failed.
    #[error("CURVE: {0}")]
    Curve(#[from] CurveError),
}

impl MechanismError {
    /// Whether the handshake failed on authentication: the peer sent ERROR
    /// (libzmq does only for refused credentials), its answer to our
    /// credentials was unreadable, or our authenticator refused it.
    pub fn is_authentication_failure(&self) -> bool {
        matches!(
            self,
            MechanismError::PeerError { .. }
                | MechanismError::AuthenticationFailed { .. }
                | MechanismError::Rejected { .. }
        )
    }
}

/// One side of a security handshake.
pub trait Mechanism: Send + fmt::Debug {
    /// The name this mechanism puts in the greeting.
    fn name(&self) -> MechanismName;

    /// Whether this side plays the server role (the as-server greeting
    /// byte). Clients, and NULL, which has no roles, keep the default.
    fn is_server(&self) -> bool {
        false
    }

    /// Starts the handshake once the greetings agree. `local` is the
    /// metadata to announce; any commands to send go into `out` as frames.
    fn start(&mut self, local: &Metadata, out: &mut BytesMut) -> Result<Progress, MechanismError>;

    /// Handles one command frame received during the handshake.
    fn on_command(
        &mut self,
        command: RawCommand,
        out: &mut BytesMut,
    ) -> Result<Progress, MechanismError>;

    /// Resumes a handshake that returned [`Progress::Authenticate`] with the
    /// application's decision. Mechanisms that never ask keep the default,
    /// which refuses the call.
    fn on_auth_reply(
        &mut self,
        reply: AuthReply,
        out: &mut BytesMut,
    ) -> Result<Progress, MechanismError> {
        let _ = (reply, out);
        Err(MechanismError::UnexpectedAuthReply {
            mechanism: self.name(),
        })
    }

    /// Names the fault when a handshake frame's body is not even a command
    /// (`name-len name data`). The default calls it malformed; a PLAIN
    /// client calls it an authentication failure.
    fn on_undecodable(&mut self, body: &Bytes, source: CommandError) -> MechanismError {
        let _ = body;
        MechanismError::Malformed {
            mechanism: self.name(),
            source,
        }
    }
}

/// Traffic protection after the handshake (CURVE's MESSAGE boxes).
pub trait Cipher: Send + fmt::Debug {
    /// Seals one frame and appends the resulting wire frame to `out`.
    fn seal(
        &mut self,
        more: bool,
        command: bool,
        body: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), MechanismError>;

    /// Opens one received wire frame into the frame it protects.
    fn open(&mut self, frame: Frame) -> Result<Frame, MechanismError>;
}
