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
/// accepted peer is its user name.
#[derive(Clone, Default)]
pub struct PlainPasswords {
    users: HashMap<String, String>,
}

impl fmt::Debug for PlainPasswords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainPasswords")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl PlainPasswords {
    /// An empty map (refuses everyone).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a user.
    pub fn with(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.users.insert(username.into(), password.into());
        self
    }
}

impl Authenticator for PlainPasswords {
    fn authenticate(&self, request: &ZapRequest) -> AuthReply {
        match &request.credentials {
            Credentials::Plain { username, password } => {
                let user = String::from_utf8_lossy(username);
                match self.users.get(user.as_ref()) {
                    Some(expected) if expected.as_bytes() == &password[..] => {
                        AuthReply::accept_as(user.into_owned())
                    }
                    _ => AuthReply::deny(),
                }
            }
            _ => AuthReply::deny(),
        }
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
