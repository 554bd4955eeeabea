//! TLS settings: what a socket's `tls://` endpoints present and trust
//! ([`TlsConfig`], [`TlsIdentity`], [`TlsRoots`]), read from PEM, and the
//! rustls acceptor and connector made from them. Configuration only: the
//! handshakes that use them are in `handshake`, and nothing here knows
//! about sockets or links, so the socket's options can hold a [`TlsConfig`]
//! without reaching the engine.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_rustls::{Connect, TlsAcceptor, TlsConnector};

use super::peer::TlsPeer;
use crate::endpoint::Host;

/// Why TLS settings could not be read or used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("reading {what} from {path}: {source}")]
    File {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// PEM text is malformed.
    #[error("{what}: malformed PEM: {source}")]
    Pem {
        /// What the PEM should hold.
        what: &'static str,
        /// The parser's complaint.
        source: rustls::pki_types::pem::Error,
    },
    /// PEM text holds no `CERTIFICATE` block.
    #[error("{what}: no CERTIFICATE block in the PEM")]
    NoCertificates {
        /// What the PEM should hold.
        what: &'static str,
    },
    /// PEM text holds no private key.
    #[error("private key: no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block in the PEM")]
    NoPrivateKey,
    /// A trust root is not a certificate rustls can use.
    #[error("trust root {index}: {source}")]
    BadRoot {
        /// Its position in the PEM, from 0.
        index: usize,
        /// Why.
        source: rustls::Error,
    },
    /// rustls refused the certificate and key (they do not match, the key
    /// type is unsupported, ...).
    #[error("certificate and key: {0}")]
    Identity(rustls::Error),
    /// The client-certificate verifier could not be built.
    #[error("client certificate roots: {0}")]
    ClientRoots(rustls::server::VerifierBuilderError),
    /// A `tls://` endpoint on a socket without [`Options::tls`](crate::Options::tls).
    #[error("tls:// needs TLS settings (Options::tls)")]
    NotConfigured,
    /// Binding `tls://` needs our certificate and key.
    #[error("binding tls:// needs a certificate and key (TlsConfig::server or with_identity)")]
    NoIdentity,
    /// Connecting `tls://` needs roots to check the server against.
    #[error(
        "connecting tls:// needs trust roots for the server (TlsConfig::client or trust_servers)"
    )]
    NoServerRoots,
    /// The name to check the server certificate against is not a DNS name
    /// or IP address.
    #[error("{0:?} is not a valid TLS server name")]
    InvalidServerName(String),
}

/// A certificate chain and its private key: what a TLS server presents,
/// or a client asked for a certificate (mutual TLS).
pub struct TlsIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl TlsIdentity {
    /// From PEM: the certificate chain (end-entity first, then any
    /// intermediates) and the private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<Self, TlsError> {
        let chain = certificates(cert_chain, "certificate chain")?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey,
            source => TlsError::Pem {
                what: "private key",
                source,
            },
        })?;
        Ok(TlsIdentity { chain, key })
    }

    /// From PEM files, as [`from_pem`](Self::from_pem).
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        Self::from_pem(
            &read(cert_chain.as_ref(), "certificate chain")?,
            &read(key.as_ref(), "private key")?,
        )
    }
}

impl Clone for TlsIdentity {
    fn clone(&self) -> Self {
        TlsIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = self
            .chain
            .first()
            .map(|c| TlsPeer::from_der(c.to_vec()).subject);
        f.debug_struct("TlsIdentity")
            .field("subject", &subject)
            .field("chain_len", &self.chain.len())
            .field("key", &"<hidden>")
            .finish()
    }
}

/// Trust roots: the CA certificates a peer's certificate must chain to.
#[derive(Clone)]
pub struct TlsRoots {
    store: Arc<RootCertStore>,
}

impl TlsRoots {
    /// From PEM holding one or more CA certificates.
    pub fn from_pem(pem: &[u8]) -> Result<Self, TlsError> {
        let mut store = RootCertStore::empty();
        for (index, cert) in certificates(pem, "trust roots")?.into_iter().enumerate() {
            store
                .add(cert)
                .map_err(|source| TlsError::BadRoot { index, source })?;
        }
        Ok(TlsRoots {
            store: Arc::new(store),
        })
    }

    /// From a PEM file, as [`from_pem`](Self::from_pem).
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, TlsError> {
        Self::from_pem(&read(path.as_ref(), "trust roots")?)
    }
}

impl fmt::Debug for TlsRoots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsRoots")
            .field("len", &self.store.len())
            .finish()
    }
}

/// A socket's TLS settings ([`Options::tls`](crate::Options::tls)), used
/// by its `tls://` endpoints: binding needs an identity, connecting needs
/// server roots; a socket that does both sets both.
///
/// `tls://host:port` is ZMTP inside TLS 1.3 over TCP (libzmq has no such
/// transport). After the TLS handshake the ZMTP greeting, security
/// handshake and frames run inside the TLS stream unchanged; the mechanism
/// is normally NULL, and PLAIN or CURVE work inside TLS too. The TLS
/// handshake counts against `handshake_ivl`. The peer's certificate
/// identity ([`TlsPeer`]) reaches the authenticator
/// ([`ZapRequest::tls_peer`](crate::ZapRequest::tls_peer); a NULL server
/// with an authenticator asks it) and every received message
/// ([`PeerMetadata::tls_peer`](crate::PeerMetadata::tls_peer)). A refused
/// certificate is an authentication failure: a connecting socket does not
/// retry after one.
///
/// ```no_run
/// # fn main() -> Result<(), zmtp_transport::TlsError> {
/// use zmtp_transport::{TlsConfig, TlsIdentity, TlsRoots};
/// // A server that requires client certificates from the same CA.
/// let server = TlsConfig::server(TlsIdentity::from_pem_files("server.pem", "server.key")?)
///     .require_client_certs(TlsRoots::from_pem_file("ca.pem")?);
/// // A client with its own certificate.
/// let client = TlsConfig::client(TlsRoots::from_pem_file("ca.pem")?)
///     .with_identity(TlsIdentity::from_pem_files("client.pem", "client.key")?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct TlsConfig {
    identity: Option<TlsIdentity>,
    server_roots: Option<TlsRoots>,
    client_roots: Option<TlsRoots>,
    server_name: Option<String>,
}

impl TlsConfig {
    /// For binding: presents `identity`, asks clients for no certificate.
    pub fn server(identity: TlsIdentity) -> Self {
        TlsConfig::default().with_identity(identity)
    }

    /// For connecting: accepts servers whose certificate chains to `roots`
    /// and names the endpoint's host.
    pub fn client(roots: TlsRoots) -> Self {
        TlsConfig::default().trust_servers(roots)
    }

    /// Our certificate and key: presented by a bound socket, and by a
    /// connecting one when the server asks (mutual TLS).
    pub fn with_identity(mut self, identity: TlsIdentity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// The roots a server we connect to must chain to.
    pub fn trust_servers(mut self, roots: TlsRoots) -> Self {
        self.server_roots = Some(roots);
        self
    }

    /// Mutual TLS: a bound socket requires every client to present a
    /// certificate chaining to `roots`, and refuses the others.
    pub fn require_client_certs(mut self, roots: TlsRoots) -> Self {
        self.client_roots = Some(roots);
        self
    }

    /// Checks the server certificate against `name` instead of the
    /// endpoint's host (connecting by IP address to a server whose
    /// certificate names a host, say).
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// The rustls acceptor for a bound endpoint.
    pub(crate) fn acceptor(&self) -> Result<TlsAcceptor, TlsError> {
        let identity = self.identity.as_ref().ok_or(TlsError::NoIdentity)?;
        let builder = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(TlsError::Identity)?;
        let builder = match &self.client_roots {
            Some(roots) => builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder_with_provider(roots.store.clone(), provider())
                    .build()
                    .map_err(TlsError::ClientRoots)?,
            ),
            None => builder.with_no_client_auth(),
        };
        let config = builder
            .with_single_cert(identity.chain.clone(), identity.key.clone_key())
            .map_err(TlsError::Identity)?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// The rustls connector for a connected endpoint, and the name the
    /// server certificate must carry.
    pub(crate) fn connector(&self, host: &Host) -> Result<TlsClient, TlsError> {
        let roots = self.server_roots.as_ref().ok_or(TlsError::NoServerRoots)?;
        let name = match (&self.server_name, host) {
            (Some(name), _) => name.clone(),
            (None, Host::Ip(ip)) => ip.to_string(),
            (None, host) => host.bind_text(),
        };
        let server_name =
            ServerName::try_from(name.clone()).map_err(|_| TlsError::InvalidServerName(name))?;
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(TlsError::Identity)?
            .with_root_certificates(roots.store.clone());
        let config = match &self.identity {
            Some(identity) => builder
                .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
                .map_err(TlsError::Identity)?,
            None => builder.with_no_client_auth(),
        };
        Ok(TlsClient {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }
}

/// What a connecting endpoint needs for each TLS handshake.
#[derive(Clone)]
pub(crate) struct TlsClient {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl TlsClient {
    /// Starts the client handshake on `tcp`, checking the server against
    /// the roots and the name this client was made with.
    pub(crate) fn connect(&self, tcp: TcpStream) -> Connect<TcpStream> {
        self.connector.connect(self.server_name.clone(), tcp)
    }
}

/// The one crypto provider, chosen explicitly so that no process-wide
/// default (nor another crate's choice of one) matters.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::File {
        what,
        path: path.to_owned(),
        source,
    })
}

fn certificates(pem: &[u8], what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem { what, source })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificates { what });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn pem_errors_say_what_is_wrong() {
        let (cert, key) = self_signed("a.example");
        assert!(TlsIdentity::from_pem(cert.as_bytes(), key.as_bytes()).is_ok());
        let e = TlsIdentity::from_pem(b"", key.as_bytes()).unwrap_err();
        assert!(matches!(e, TlsError::NoCertificates { .. }), "{e}");
        assert!(e.to_string().contains("certificate chain"), "{e}");
        let e = TlsIdentity::from_pem(cert.as_bytes(), cert.as_bytes()).unwrap_err();
        assert!(matches!(e, TlsError::NoPrivateKey), "{e}");
        let broken = cert.replace("-----END CERTIFICATE-----", "");
        let e = TlsRoots::from_pem(broken.as_bytes()).unwrap_err();
        assert!(matches!(e, TlsError::Pem { .. }), "{e}");
        let e = TlsRoots::from_pem_file("/nonexistent/ca.pem").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn mismatched_key_and_missing_parts_are_refused_when_used() {
        let (cert, _) = self_signed("a.example");
        let (_, other_key) = self_signed("b.example");
        let identity = TlsIdentity::from_pem(cert.as_bytes(), other_key.as_bytes()).unwrap();
        let e = TlsConfig::server(identity).acceptor().err().unwrap();
        assert!(matches!(e, TlsError::Identity(_)), "{e}");
        let e = TlsConfig::default().acceptor().err().unwrap();
        assert!(matches!(e, TlsError::NoIdentity), "{e}");
        let host = Host::Name("a.example".into());
        let e = TlsConfig::default().connector(&host).err().unwrap();
        assert!(matches!(e, TlsError::NoServerRoots), "{e}");
        let roots = TlsRoots::from_pem(cert.as_bytes()).unwrap();
        assert!(TlsConfig::client(roots.clone()).connector(&host).is_ok());
        let e = TlsConfig::client(roots)
            .with_server_name("not a name")
            .connector(&host)
            .err()
            .unwrap();
        assert!(matches!(e, TlsError::InvalidServerName(_)), "{e}");
    }

    #[test]
    fn debug_hides_the_key() {
        let (cert, key) = self_signed("a.example");
        let identity = TlsIdentity::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        let text = format!("{identity:?}");
        assert!(
            text.contains("<hidden>") && !text.contains("PRIVATE"),
            "{text}"
        );
    }
}
