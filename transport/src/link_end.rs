//! How a link ended: one typed answer for every way a link ends (the
//! protocol, the stream, TLS, the socket's own rules, the socket closing),
//! for the socket's bookkeeping (reconnect or give up) and its monitors.
//! Nothing is turned into text until someone displays it.

use std::fmt;
use std::io;

use thiserror::Error;
use zmtp::mechanism::MechanismError;
use zmtp::{AuthStatus, CloseReason};

use crate::async_auth::ZapReplyError;
use crate::refusal::Refusal;

/// Why a link ended, or never came up; carried by [`MonitorEvent`]s.
///
/// ```
/// use zmtp_transport::{LinkEnd, Refusal};
/// let end = LinkEnd::Refused(Refusal::PairTaken);
/// assert!(end.is_protocol_error());
/// assert_eq!(end.to_string(), "refused: PAIR socket already has a peer");
/// ```
///
/// [`MonitorEvent`]: crate::MonitorEvent
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum LinkEnd {
    /// The ZMTP connection closed it: a malformed or unexpected frame, a
    /// failed or refused security handshake, an ERROR from the peer, a
    /// timeout.
    #[error(transparent)]
    Protocol(#[from] CloseReason),
    /// The peer closed the stream.
    #[error("peer closed the connection")]
    PeerClosed,
    /// The stream failed.
    #[error("i/o error: {0}")]
    Io(IoFailure),
    /// A connection attempt failed before any stream existed.
    #[error("connect failed: {0}")]
    ConnectFailed(IoFailure),
    /// A listener could not accept a connection.
    #[error("accept failed: {0}")]
    AcceptFailed(IoFailure),
    /// TLS failed: a certificate refused (by either side), a bad record,
    /// an alert.
    #[error("TLS: {0}")]
    Tls(rustls::Error),
    /// The socket refused the link or dropped it.
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// The socket closed (and its linger is over).
    #[error("socket closed")]
    SocketClosed,
    /// Our ZAP handler's reply was no valid reply (a protocol error).
    #[error(transparent)]
    Zap(#[from] ZapReplyError),
}

impl LinkEnd {
    /// Whether credentials were refused: the peer's by us or ours by the
    /// peer, in the ZMTP security handshake or as a TLS certificate
    /// (libzmq's `ZMQ_EVENT_HANDSHAKE_FAILED_AUTH`).
    pub fn is_authentication_failure(&self) -> bool {
        match self {
            LinkEnd::Protocol(CloseReason::Mechanism(e)) => e.is_authentication_failure(),
            LinkEnd::Tls(e) => is_certificate_refusal(e),
            _ => false,
        }
    }

    /// Whether a connecting socket gives up rather than retry: a protocol
    /// error (as libzmq), a refused certificate, or a refusal the next
    /// attempt would meet again. Timeouts, hang-ups and other stream or
    /// TLS trouble are retried.
    pub fn is_protocol_error(&self) -> bool {
        match self {
            LinkEnd::Protocol(reason) => reason.is_protocol_error(),
            LinkEnd::Refused(refusal) => refusal.is_permanent(),
            LinkEnd::Zap(_) => true,
            LinkEnd::Tls(e) => is_certificate_refusal(e),
            _ => false,
        }
    }

    /// The status credentials were refused with: by our authenticator, or
    /// by the peer's, whose ERROR carries the status as its reason (`400`,
    /// `500`). `None` for every other end, and for an ERROR whose reason is
    /// no status.
    ///
    /// ```
    /// use zmtp_transport::zmtp::mechanism::MechanismError;
    /// use zmtp_transport::zmtp::{CloseReason, MechanismName};
    /// use zmtp_transport::{AuthStatus, LinkEnd};
    /// let theirs = LinkEnd::Protocol(CloseReason::Mechanism(MechanismError::PeerError {
    ///     mechanism: MechanismName::PLAIN,
    ///     reason: "400".into(),
    /// }));
    /// assert_eq!(theirs.refused_status(), Some(AuthStatus::AuthenticationFailure));
    /// ```
    pub fn refused_status(&self) -> Option<AuthStatus> {
        match self {
            LinkEnd::Protocol(CloseReason::Mechanism(MechanismError::Rejected {
                status, ..
            })) => Some(*status),
            LinkEnd::Protocol(CloseReason::Mechanism(MechanismError::PeerError {
                reason, ..
            })) => AuthStatus::from_zap(reason.as_bytes()),
            _ => None,
        }
    }

    /// A stream error: TLS errors (which rustls hands through `io::Error`)
    /// are told apart, and a TLS peer that closed without `close_notify`
    /// has simply closed (ZMTP framing shows any truncation).
    pub(crate) fn from_io(e: &io::Error) -> Self {
        if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            return LinkEnd::Tls(tls.clone());
        }
        if e.kind() == io::ErrorKind::UnexpectedEof {
            return LinkEnd::PeerClosed;
        }
        LinkEnd::Io(IoFailure::from(e))
    }
}

/// What an I/O error was, kept in a form that can be cloned and compared:
/// its kind, and the operating system's error number when it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoFailure {
    /// The error's kind.
    pub kind: io::ErrorKind,
    /// The OS error number (`errno`), if the error came from the OS.
    pub os_code: Option<i32>,
}

impl From<&io::Error> for IoFailure {
    fn from(e: &io::Error) -> Self {
        IoFailure {
            kind: e.kind(),
            os_code: e.raw_os_error(),
        }
    }
}

impl From<io::ErrorKind> for IoFailure {
    fn from(kind: io::ErrorKind) -> Self {
        IoFailure {
            kind,
            os_code: None,
        }
    }
}

impl fmt::Display for IoFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.os_code {
            Some(code) => io::Error::from_raw_os_error(code).fmt(f),
            None => self.kind.fmt(f),
        }
    }
}

/// Whether a TLS error means a certificate was refused, by us or (as an
/// alert) by the peer.
fn is_certificate_refusal(error: &rustls::Error) -> bool {
    use rustls::AlertDescription as Alert;
    match error {
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => true,
        rustls::Error::AlertReceived(alert) => matches!(
            alert,
            Alert::BadCertificate
                | Alert::UnsupportedCertificate
                | Alert::CertificateRevoked
                | Alert::CertificateExpired
                | Alert::CertificateUnknown
                | Alert::UnknownCA
                | Alert::AccessDenied
                | Alert::CertificateRequired
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_errors_are_told_apart() {
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(LinkEnd::from_io(&eof), LinkEnd::PeerClosed);
        let tls = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(
            LinkEnd::from_io(&tls),
            LinkEnd::Tls(rustls::Error::DecryptError)
        );
        let reset = io::Error::from_raw_os_error(104);
        let LinkEnd::Io(failure) = LinkEnd::from_io(&reset) else {
            panic!("not an i/o failure")
        };
        assert_eq!(failure.os_code, Some(104));
        assert_eq!(failure.to_string(), reset.to_string());
    }

    #[test]
    fn refused_certificates_are_authentication_failures_and_final() {
        let refused = LinkEnd::Tls(rustls::Error::NoCertificatesPresented);
        assert!(refused.is_authentication_failure() && refused.is_protocol_error());
        let garbled = LinkEnd::Tls(rustls::Error::DecryptError);
        assert!(!garbled.is_authentication_failure() && !garbled.is_protocol_error());
        let timeout = LinkEnd::Protocol(CloseReason::HandshakeTimeout);
        assert!(!timeout.is_protocol_error());
        assert!(!LinkEnd::Refused(Refusal::DisconnectedByApplication).is_protocol_error());
        assert!(LinkEnd::Refused(Refusal::PairTaken).is_protocol_error());
    }
}
