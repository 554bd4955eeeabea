//! Security for a socket's links: which mechanism each link runs, and the
//! authenticator a server consults (ZAP semantics, RFC 27, as an in-process
//! call rather than an `inproc://zeromq.zap.01` socket).
//!
//! Defaults follow libzmq:
//! - a CURVE server with no authenticator accepts any client key
//!   (encryption without authentication);
//! - a PLAIN server with no authenticator refuses every client (libzmq
//!   rejects all when no ZAP handler is bound), with status 400;
//! - NULL servers consult the authenticator only when one is set (the
//!   accepting side of a link asks it before answering READY; see
//!   [`zmtp::mechanism::NullServer`]); over `tls://` it then sees the
//!   client's certificate.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;
use zmtp::mechanism::Null;

use crate::tls::peer::TlsPeer;
use zmtp::{
    AuthReply, Credentials, CurveClient, CurveKeyPair, CurvePublicKey, CurveServer, Mechanism,
    MechanismName, PlainClient, PlainServer,
};

/// The security mechanism of a socket's links, and its role in it.
#[derive(Clone, Default)]
pub enum Security {
    /// No security (the default).
    #[default]
    Null,
    /// PLAIN client: sends a user name and password in clear.
    PlainClient {
        /// User name, at most 255 bytes.
        username: String,
        /// Password, at most 255 bytes.
        password: String,
    },
    /// PLAIN server: checks credentials with the authenticator.
    PlainServer,
    /// CURVE client: encrypts, and authenticates the server by its key.
    CurveClient {
        /// Our long-term key pair.
        keys: CurveKeyPair,
        /// The server's public key.
        server_key: CurvePublicKey,
    },
    /// CURVE server.
    CurveServer {
        /// Our long-term key pair.
        keys: CurveKeyPair,
    },
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Security::Null => f.write_str("Null"),
            Security::PlainClient { username, .. } => {
                write!(f, "PlainClient({username:?}, password hidden)")
            }
            Security::PlainServer => f.write_str("PlainServer"),
            Security::CurveClient { keys, server_key } => f
                .debug_struct("CurveClient")
                .field("public", keys.public())
                .field("server_key", server_key)
                .finish(),
            Security::CurveServer { keys } => f
                .debug_struct("CurveServer")
                .field("public", keys.public())
                .finish(),
        }
    }
}

impl Security {
    /// A fresh mechanism for one link.
    pub(crate) fn mechanism(&self) -> Box<dyn Mechanism> {
        match self {
            Security::Null => Box::new(Null::new()),
            Security::PlainClient { username, password } => {
                match PlainClient::new(username.clone(), password) {
                    Ok(client) => Box::new(client),
                    // Checked by `validate` when the socket was made.
                    Err(_) => Box::new(Null::new()),
                }
            }
            Security::PlainServer => Box::new(PlainServer::new()),
            Security::CurveClient { keys, server_key } => {
                Box::new(CurveClient::new(keys.clone(), *server_key))
            }
            Security::CurveServer { keys } => Box::new(CurveServer::new(keys.clone())),
        }
    }

    /// Checks what can be checked before any link exists.
    pub(crate) fn validate(&self) -> Result<(), String> {
        match self {
            Security::PlainClient { username, password }
                if username.len() > 255 || password.len() > 255 =>
            {
                Err("PLAIN user name and password are at most 255 bytes each".into())
            }
            _ => Ok(()),
        }
    }

    /// The mechanism's name.
    pub fn name(&self) -> MechanismName {
        match self {
            Security::Null => MechanismName::NULL,
            Security::PlainClient { .. } | Security::PlainServer => MechanismName::PLAIN,
            Security::CurveClient { .. } | Security::CurveServer { .. } => MechanismName::CURVE,
        }
    }
}

/// What an authenticator is asked: the fields of a ZAP request.
#[derive(Debug, Clone)]
pub struct ZapRequest {
    /// The socket's ZAP domain (`Options::zap_domain`).
    pub domain: String,
    /// The peer's address (`127.0.0.1:40000`, or `:uid:gid:pid` for ipc).
    pub address: String,
    /// Our own routing id (what libzmq puts in ZAP's identity frame).
    pub identity: Bytes,
    /// The mechanism.
    pub mechanism: MechanismName,
    /// What the peer presented.
    pub credentials: Credentials,
    /// Over `tls://`: the identity in the peer's verified certificate
    /// (servers see one when they require client certificates).
    pub tls_peer: Option<Arc<TlsPeer>>,
}

/// Decides whether a peer may connect (ZAP semantics). Reply 200 to
/// accept (with a user id and metadata the peer's messages will carry),
/// 300 to close silently, 400 or 500 to refuse with an ERROR.
///
/// Called on the link's task during the handshake: keep it quick.
pub trait Authenticator: Send + Sync + 'static {
    /// Decides about one peer.
    fn authenticate(&self, request: &ZapRequest) -> AuthReply;
}

impl<F> Authenticator for F
where
    F: Fn(&ZapRequest) -> AuthReply + Send + Sync + 'static,
{
    fn authenticate(&self, request: &ZapRequest) -> AuthReply {
        self(request)
    }
}

/// PLAIN: a fixed map of user names to passwords. The user id of an
/// accepted peer is its user name, byte for byte.
///
/// Names are matched exactly as bytes (two different byte strings are never
/// one user), and passwords are compared in constant time, against a dummy
/// when the user is unknown, so timing tells an attacker neither how much
/// of a password was right nor whether the user exists. Stored passwords
/// are wiped when the map is dropped.
#[derive(Clone, Default)]
pub struct PlainPasswords {
    users: HashMap<Vec<u8>, Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for PlainPasswords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .users
            .keys()
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .collect();
        f.debug_struct("PlainPasswords")
            .field("users", &names)
            .finish()
    }
}

impl PlainPasswords {
    /// An empty map (refuses everyone).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a user (names and passwords are bytes; `&str` works too).
    pub fn with(mut self, username: impl AsRef<[u8]>, password: impl AsRef<[u8]>) -> Self {
        self.users.insert(
            username.as_ref().to_vec(),
            Zeroizing::new(password.as_ref().to_vec()),
        );
        self
    }
}

/// Equal contents in time that depends only on the lengths.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

impl Authenticator for PlainPasswords {
    fn authenticate(&self, request: &ZapRequest) -> AuthReply {
        let Credentials::Plain { username, password } = &request.credentials else {
            return AuthReply::deny();
        };
        match self.users.get(&username[..]) {
            Some(expected) if same_secret(expected, password.expose()) => {
                AuthReply::accept_as(username.clone())
            }
            Some(_) => AuthReply::deny(),
            None => {
                // The same work as for a known user.
                let _ = same_secret(&[0u8; 32], password.expose());
                AuthReply::deny()
            }
        }
    }
}

#[cfg(test)]
mod plain_passwords_tests {
    use super::*;

    fn ask(auth: &PlainPasswords, user: &[u8], password: &[u8]) -> AuthReply {
        auth.authenticate(&ZapRequest {
            domain: String::new(),
            address: "127.0.0.1:1".into(),
            identity: Bytes::new(),
            mechanism: MechanismName::PLAIN,
            credentials: Credentials::Plain {
                username: Bytes::copy_from_slice(user),
                password: zmtp::Secret::new(password),
            },
            tls_peer: None,
        })
    }

    #[test]
    fn names_are_exact_bytes_and_the_user_id_is_the_name() {
        // Two names that a lossy UTF-8 decoding would make one.
        let auth = PlainPasswords::new().with(b"\xff\xfe".as_slice(), "a");
        assert_eq!(
            ask(&auth, b"\xff\xfe", b"a"),
            AuthReply::accept_as(&b"\xff\xfe"[..])
        );
        assert_eq!(ask(&auth, b"\xfe\xff", b"a"), AuthReply::deny());
        assert_eq!(
            ask(&auth, "\u{fffd}\u{fffd}".as_bytes(), b"a"),
            AuthReply::deny()
        );
    }

    #[test]
    fn wrong_or_partial_passwords_and_unknown_users_are_denied() {
        let auth = PlainPasswords::new().with("alice", "secret");
        assert_eq!(
            ask(&auth, b"alice", b"secret"),
            AuthReply::accept_as("alice")
        );
        for wrong in [&b"secre"[..], b"secret!", b"", b"SECRET"] {
            assert_eq!(ask(&auth, b"alice", wrong), AuthReply::deny());
        }
        assert_eq!(ask(&auth, b"bob", b"secret"), AuthReply::deny());
    }
}

/// CURVE: accepts only the listed client public keys. The user id of an
/// accepted peer is its key in Z85.
#[derive(Debug, Clone, Default)]
pub struct CurveAllowList {
    keys: HashSet<CurvePublicKey>,
}

impl CurveAllowList {
    /// An empty list (refuses everyone).
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows a client key.
    pub fn with(mut self, key: CurvePublicKey) -> Self {
        self.keys.insert(key);
        self
    }
}

impl Authenticator for CurveAllowList {
    fn authenticate(&self, request: &ZapRequest) -> AuthReply {
        match &request.credentials {
            Credentials::Curve { public_key } if self.keys.contains(public_key) => {
                AuthReply::accept_as(public_key.to_z85())
            }
            _ => AuthReply::deny(),
        }
    }
}

/// The decision when no authenticator is set, as libzmq decides without a
/// ZAP handler: PLAIN refuses, CURVE (and NULL) accept.
pub(crate) fn default_reply(mechanism: MechanismName) -> AuthReply {
    if mechanism == MechanismName::PLAIN {
        AuthReply::deny()
    } else {
        AuthReply::accept()
    }
}

impl fmt::Debug for dyn Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authenticator")
    }
}

/// A shareable authenticator.
pub type SharedAuthenticator = Arc<dyn Authenticator>;
