//! An authenticator that answers later: a ZAP handler reached over a
//! socket (libzmq's `inproc://zeromq.zap.01`) answers when its reply comes
//! back, so the link's engine keeps running (timers, the handshake
//! timeout, the socket closing) while it waits.
//!
//! Set as [`Options::async_authenticator`](crate::Options::async_authenticator);
//! when set it is asked instead of [`Options::authenticator`](crate::Options::authenticator).
//! A NULL server asks it too (the future may answer at once, e.g. "200"
//! when no ZAP domain is set). A reply that never comes leaves the
//! handshake pending until the handshake interval ends it. A reply that
//! is no valid ZAP reply ends the link with [`LinkEnd::Zap`](crate::LinkEnd::Zap)
//! (a protocol error, libzmq's `ZMQ_PROTOCOL_ERROR_ZAP_*`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use thiserror::Error;
use zmtp::AuthReply;

use crate::security::ZapRequest;

/// The pending answer to one request.
pub type AuthFuture = Pin<Box<dyn Future<Output = Result<AuthReply, ZapReplyError>> + Send>>;

/// Decides whether a peer may connect, answering when it can.
pub trait AsyncAuthenticator: Send + Sync + 'static {
    /// Starts deciding about one peer.
    fn authenticate(&self, request: ZapRequest) -> AuthFuture;
}

impl fmt::Debug for dyn AsyncAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AsyncAuthenticator")
    }
}

/// A shareable asynchronous authenticator.
pub type SharedAsyncAuthenticator = Arc<dyn AsyncAuthenticator>;

/// Why a ZAP reply was refused (RFC 27's reply rules; libzmq's
/// `ZMQ_PROTOCOL_ERROR_ZAP_*` in the same order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ZapReplyError {
    /// Anything else (a non-empty delimiter, the handler gone).
    #[error("ZAP reply: unspecified error")]
    Unspecified,
    /// Not seven frames after the delimiter.
    #[error("ZAP reply: malformed")]
    MalformedReply,
    /// The request id is not ours.
    #[error("ZAP reply: bad request id")]
    BadRequestId,
    /// The version is not "1.0".
    #[error("ZAP reply: bad version")]
    BadVersion,
    /// The status is not 200, 300, 400 or 500.
    #[error("ZAP reply: invalid status code")]
    InvalidStatusCode,
    /// The metadata frame is not ZMTP property encoding.
    #[error("ZAP reply: invalid metadata")]
    InvalidMetadata,
}

impl ZapReplyError {
    /// libzmq's number for it (`ZMQ_PROTOCOL_ERROR_ZAP_UNSPECIFIED` is
    /// `0x2000_0000`, the others follow).
    pub fn libzmq_code(self) -> u32 {
        0x2000_0000
            + match self {
                ZapReplyError::Unspecified => 0,
                ZapReplyError::MalformedReply => 1,
                ZapReplyError::BadRequestId => 2,
                ZapReplyError::BadVersion => 3,
                ZapReplyError::InvalidStatusCode => 4,
                ZapReplyError::InvalidMetadata => 5,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_libzmqs() {
        assert_eq!(ZapReplyError::Unspecified.libzmq_code(), 0x2000_0000);
        assert_eq!(ZapReplyError::BadVersion.libzmq_code(), 0x2000_0003);
        assert_eq!(ZapReplyError::InvalidMetadata.libzmq_code(), 0x2000_0005);
    }
}
