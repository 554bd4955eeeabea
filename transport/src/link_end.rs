//! How a link ended: the one answer every way a link can end gives, for
//! the socket's bookkeeping (reconnect or give up) and its monitors.

use std::io;

use zmtp::CloseReason;

/// Why a link ended.
#[derive(Debug)]
pub(crate) enum EngineEnd {
    /// The protocol closed it (bad input, ERROR, timeouts).
    Protocol(CloseReason),
    /// The peer closed the stream.
    PeerClosed,
    /// The stream failed.
    Io(io::Error),
    /// The socket closed (and lingering is over), or dropped this pipe.
    PipeClosed,
    /// The socket refused the peer after its handshake.
    Rejected(String),
    /// TLS failed: a certificate refused, a bad record, an alert.
    Tls(rustls::Error),
}

impl EngineEnd {
    /// Whether the peer's credentials were refused, or ours by the peer.
    pub(crate) fn is_authentication_failure(&self) -> bool {
        match self {
            EngineEnd::Protocol(CloseReason::Mechanism(e)) => e.is_authentication_failure(),
            EngineEnd::Tls(e) => is_certificate_refusal(e),
            _ => false,
        }
    }

    /// A stream error: TLS errors (which rustls hands through `io::Error`)
    /// are told apart, and a TLS peer that closed without `close_notify`
    /// has simply closed (ZMTP framing shows any truncation).
    pub(crate) fn from_io(e: io::Error) -> Self {
        if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            return EngineEnd::Tls(tls.clone());
        }
        if e.kind() == io::ErrorKind::UnexpectedEof {
            return EngineEnd::PeerClosed;
        }
        EngineEnd::Io(e)
    }

    /// Whether a connecting socket should give up rather than retry.
    pub(crate) fn is_protocol_error(&self) -> bool {
        match self {
            EngineEnd::Protocol(reason) => reason.is_protocol_error(),
            EngineEnd::Rejected(_) => true,
            // A refused certificate will be refused again; other TLS
            // trouble may pass.
            EngineEnd::Tls(e) => is_certificate_refusal(e),
            _ => false,
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            EngineEnd::Protocol(reason) => reason.to_string(),
            EngineEnd::PeerClosed => "peer closed the connection".into(),
            EngineEnd::Io(e) => format!("i/o error: {e}"),
            EngineEnd::PipeClosed => "socket closed".into(),
            EngineEnd::Rejected(why) => format!("refused: {why}"),
            EngineEnd::Tls(e) => format!("TLS: {e}"),
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
