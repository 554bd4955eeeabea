//! Errors a socket reports to its caller.

use std::io;

use thiserror::Error;

use crate::endpoint::EndpointError;
use crate::refusal::Refusal;
use crate::tls::settings::TlsError;

/// Why a socket operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The endpoint string is malformed or names an unsupported transport.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// An operating-system error, with what we were doing.
    #[error("{context}: {source}")]
    Io {
        /// What failed (`bind tcp://127.0.0.1:5555`, ...).
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// This socket type does not do that (`recv` on PUB, `subscribe` on PUSH).
    #[error("{socket_type} sockets do not support {operation}")]
    Unsupported {
        /// The socket's type.
        socket_type: zmtp::SocketType,
        /// The refused operation.
        operation: &'static str,
    },
    /// The operation is out of turn for a REQ or REP socket (libzmq's EFSM).
    #[error("{0}")]
    State(&'static str),
    /// A message needs at least one frame; ROUTER needs a routing id frame
    /// and a body.
    #[error("invalid message: {0}")]
    InvalidMessage(&'static str),
    /// ROUTER with `router_mandatory`: no peer has this routing id.
    #[error("no peer with routing id {0:?}")]
    HostUnreachable(bytes::Bytes),
    /// A non-blocking send or receive could not proceed now.
    #[error("operation would block")]
    WouldBlock,
    /// The socket has been closed.
    #[error("socket is closed")]
    Closed,
    /// No `inproc://` socket is bound under that name. (No longer
    /// returned: a connect before the bind waits for it, as in libzmq.)
    #[error("no inproc socket is bound at {0}")]
    InprocNotBound(String),
    /// The peer's socket type cannot talk to ours.
    #[error("incompatible socket types: we are {ours}, the peer is {theirs}")]
    IncompatibleSocketType {
        /// Ours.
        ours: zmtp::SocketType,
        /// The peer's.
        theirs: zmtp::SocketType,
    },
    /// The socket refused the link (a PAIR that has its peer, a duplicate
    /// routing id).
    #[error("link refused: {0}")]
    Refused(Refusal),
    /// The socket's options are inconsistent.
    #[error("invalid socket options: {0}")]
    Options(String),
    /// `unbind` or `disconnect` of an endpoint the socket has not bound or
    /// connected (libzmq's ENOENT).
    #[error("endpoint not bound or connected here: {0}")]
    EndpointNotFound(String),
    /// The name is already bound by another socket.
    #[error("address in use: {0}")]
    AddressInUse(String),
    /// The TLS settings cannot serve this `tls://` bind or connect.
    /// (Boxed: it is rare, and large.)
    #[error("TLS: {0}")]
    Tls(Box<TlsError>),
}

impl From<TlsError> for Error {
    fn from(e: TlsError) -> Self {
        Error::Tls(Box::new(e))
    }
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Shorthand for results of socket operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
