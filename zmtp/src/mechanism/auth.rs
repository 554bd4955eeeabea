//! Authentication: how a server mechanism asks the application about a peer.
//!
//! The sans-IO core cannot call an authenticator itself: ZAP (RFC 27) is a
//! request/reply exchange the transport runs, possibly asynchronously. So a
//! server mechanism that has the peer's credentials returns
//! [`Progress::Authenticate`] with an [`AuthRequest`]; the [`Connection`]
//! reports it as [`Event::AuthenticationRequested`] and holds the handshake
//! until the driver answers with [`Connection::authenticate`] and an
//! [`AuthReply`]. The reply's status decides, as in libzmq:
//!
//! | status | the server mechanism |
//! |---|---|
//! | 200 | goes on (PLAIN: WELCOME; CURVE: READY) |
//! | 300 | closes silently |
//! | 400, 500 | sends ERROR with the status as reason, then closes |
//!
//! The request carries what ZAP frames 5 and on need (mechanism, then the
//! credentials); domain, address and identity are the transport's to add.
//!
//! [`Progress::Authenticate`]: super::Progress::Authenticate
//! [`Connection`]: crate::Connection
//! [`Connection::authenticate`]: crate::Connection::authenticate
//! [`Event::AuthenticationRequested`]: crate::Event::AuthenticationRequested

use std::fmt;

use bytes::{Bytes, BytesMut};

use super::curve::CurvePublicKey;
use crate::command::Command;
use crate::greeting::MechanismName;
use crate::metadata::Metadata;
use crate::secret::Secret;

/// What a server mechanism asks the application to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    /// The mechanism asking (ZAP frame 5).
    pub mechanism: MechanismName,
    /// What the peer presented.
    pub credentials: Credentials,
}

impl AuthRequest {
    /// The credential frames of a ZAP request (frames 6 and on): PLAIN's
    /// username and password, CURVE's raw 32-byte public key, nothing for
    /// NULL.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use zmtp::{AuthRequest, Credentials, MechanismName, Secret};
    /// let request = AuthRequest {
    ///     mechanism: MechanismName::PLAIN,
    ///     credentials: Credentials::Plain {
    ///         username: Bytes::from_static(b"admin"),
    ///         password: Secret::new("secret"),
    ///     },
    /// };
    /// assert_eq!(request.zap_credentials(), [&b"admin"[..], &b"secret"[..]]);
    /// ```
    pub fn zap_credentials(&self) -> Vec<Bytes> {
        match &self.credentials {
            Credentials::None => Vec::new(),
            Credentials::Plain { username, password } => {
                vec![username.clone(), Bytes::copy_from_slice(password.expose())]
            }
            Credentials::Curve { public_key } => {
                vec![Bytes::copy_from_slice(public_key.as_bytes())]
            }
        }
    }
}

/// The credentials a peer presented during the handshake.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// None (a NULL peer).
    None,
    /// PLAIN's HELLO fields, 0 to 255 bytes each.
    Plain {
        /// The username.
        username: Bytes,
        /// The password, in clear, as PLAIN sends it; wiped when dropped.
        password: Secret,
    },
    /// CURVE: the client's long-term public key, proven by its vouch.
    Curve {
        /// The client's long-term public key C.
        public_key: CurvePublicKey,
    },
}

impl fmt::Debug for Credentials {
    // Never print a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Plain { username, .. } => f
                .debug_struct("Plain")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credentials::Curve { public_key } => f
                .debug_struct("Curve")
                .field("public_key", public_key)
                .finish(),
        }
    }
}

/// A ZAP status code (RFC 27).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthStatus {
    /// 200: the peer is accepted.
    Success,
    /// 300: a temporary failure; the server closes without ERROR, so the
    /// client may retry.
    TemporaryFailure,
    /// 400: the credentials are refused; the server sends ERROR "400".
    AuthenticationFailure,
    /// 500: the authenticator failed; the server sends ERROR "500".
    InternalError,
}

impl AuthStatus {
    /// The numeric code: 200, 300, 400 or 500.
    pub fn code(self) -> u16 {
        match self {
            AuthStatus::Success => 200,
            AuthStatus::TemporaryFailure => 300,
            AuthStatus::AuthenticationFailure => 400,
            AuthStatus::InternalError => 500,
        }
    }

    /// The code as the three ASCII digits ZAP and ERROR carry.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthStatus::Success => "200",
            AuthStatus::TemporaryFailure => "300",
            AuthStatus::AuthenticationFailure => "400",
            AuthStatus::InternalError => "500",
        }
    }

    /// The status for a numeric code, if it is one of the four.
    pub fn from_code(code: u16) -> Option<Self> {
        Some(match code {
            200 => AuthStatus::Success,
            300 => AuthStatus::TemporaryFailure,
            400 => AuthStatus::AuthenticationFailure,
            500 => AuthStatus::InternalError,
            _ => return None,
        })
    }

    /// The status a ZAP reply's status-code frame names (`b"200"` ...).
    ///
    /// ```
    /// use zmtp::AuthStatus;
    /// assert_eq!(AuthStatus::from_zap(b"400"), Some(AuthStatus::AuthenticationFailure));
    /// assert_eq!(AuthStatus::from_zap(b"201"), None);
    /// ```
    pub fn from_zap(frame: &[u8]) -> Option<Self> {
        [
            Self::Success,
            Self::TemporaryFailure,
            Self::AuthenticationFailure,
            Self::InternalError,
        ]
        .into_iter()
        .find(|s| s.as_str().as_bytes() == frame)
    }

    /// Whether the peer is accepted.
    pub fn is_success(self) -> bool {
        self == AuthStatus::Success
    }

    /// Whether the server tells the client with an ERROR (400, 500) rather
    /// than by closing silently (300).
    pub fn sends_error(self) -> bool {
        matches!(
            self,
            AuthStatus::AuthenticationFailure | AuthStatus::InternalError
        )
    }
}

impl fmt::Display for AuthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The application's answer to an [`AuthRequest`] (a ZAP reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthReply {
    /// Accept or refuse.
    pub status: AuthStatus,
    /// The user id to attach to the peer (libzmq's `User-Id` property);
    /// empty for none.
    pub user_id: Bytes,
    /// Properties to attach to the peer's messages (the ZAP reply's
    /// metadata frame).
    pub metadata: Metadata,
}

impl AuthReply {
    /// 200, with no user id and no metadata.
    pub fn accept() -> Self {
        Self::with_status(AuthStatus::Success)
    }

    /// 200, naming the user.
    pub fn accept_as(user_id: impl Into<Bytes>) -> Self {
        AuthReply {
            user_id: user_id.into(),
            ..Self::accept()
        }
    }

    /// 400: the credentials are refused.
    pub fn deny() -> Self {
        Self::with_status(AuthStatus::AuthenticationFailure)
    }

    /// A reply with the given status and nothing else.
    pub fn with_status(status: AuthStatus) -> Self {
        AuthReply {
            status,
            user_id: Bytes::new(),
            metadata: Metadata::new(),
        }
    }

    /// What a server mechanism does with a refusal, shared by every server
    /// that asks (NULL with an authenticator, PLAIN, CURVE): writes the
    /// ERROR command the status calls for (400 and 500; 300 closes without
    /// a word) into `out` and hands back the refused status, which the
    /// mechanism turns into its [`MechanismError::Rejected`]. A success
    /// writes nothing.
    ///
    /// [`MechanismError::Rejected`]: super::MechanismError::Rejected
    pub(crate) fn refuse_unless_success(&self, out: &mut BytesMut) -> Result<(), AuthStatus> {
        if self.status.is_success() {
            return Ok(());
        }
        if self.status.sends_error() {
            let error = Command::Error {
                reason: Bytes::from_static(self.status.as_str().as_bytes()),
            };
            // A three-byte reason always fits.
            let _ = error.encode(out);
        }
        Err(self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_round_trip() {
        for code in [200, 300, 400, 500] {
            let status = AuthStatus::from_code(code).unwrap();
            assert_eq!(status.code(), code);
            assert_eq!(
                AuthStatus::from_zap(status.as_str().as_bytes()),
                Some(status)
            );
            assert_eq!(status.to_string(), code.to_string());
        }
        assert_eq!(AuthStatus::from_code(404), None);
        assert_eq!(AuthStatus::from_zap(b"20"), None);
        assert!(AuthStatus::Success.is_success());
        assert!(!AuthStatus::TemporaryFailure.sends_error());
        assert!(AuthStatus::InternalError.sends_error());
    }

    #[test]
    fn debug_hides_the_password() {
        let c = Credentials::Plain {
            username: Bytes::from_static(b"admin"),
            password: Secret::new("hunter2"),
        };
        let text = format!("{c:?}");
        assert!(
            text.contains("admin") && !text.contains("hunter2"),
            "{text}"
        );
    }

    #[test]
    fn curve_credentials_are_the_raw_key() {
        let key = CurvePublicKey::from_bytes([7; 32]);
        let request = AuthRequest {
            mechanism: MechanismName::CURVE,
            credentials: Credentials::Curve { public_key: key },
        };
        assert_eq!(request.zap_credentials(), [Bytes::from(vec![7u8; 32])]);
        let none = AuthRequest {
            mechanism: MechanismName::NULL,
            credentials: Credentials::None,
        };
        assert!(none.zap_credentials().is_empty());
    }
}
