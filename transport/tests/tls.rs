//! `tls://` between our own sockets, with a CA and certificates made by
//! rcgen at test time: NULL and CURVE inside TLS, large messages, mutual
//! TLS with the client's identity reaching the authenticator and received
//! messages, and refusals (a client certificate from another CA, a server
//! the client does not trust, a name that does not match) reported as
//! authentication failures on both sides, and silent connections held to
//! the listener's admission rules before any TLS.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::CertificateError;
use tokio::time::timeout;
use zmtp_transport::zmtp::CloseReason;
use zmtp_transport::{
    AuthReply, AuthStatus, CurveKeyPair, Error, LinkEnd, Monitor, MonitorEvent, Options, Refusal,
    Security, Socket, SocketType, TlsConfig, TlsError, TlsIdentity, TlsRoots, ZapRequest,
};

const WAIT: Duration = Duration::from_secs(10);

/// A certificate authority made for one test.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for `names` (DNS names or IP addresses) with common
    /// name `cn`, good for servers and clients alike.
    fn issue(&self, cn: &str, names: &[&str]) -> TlsIdentity {
        let (cert, key) = self.issue_pem(cn, names);
        TlsIdentity::from_pem(cert.as_bytes(), key.as_bytes()).unwrap()
    }

    /// As [`issue`](Self::issue), as PEM: certificate, key.
    fn issue_pem(&self, cn: &str, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn roots(&self) -> TlsRoots {
        TlsRoots::from_pem(self.pem.as_bytes()).unwrap()
    }

    /// A server certificate for 127.0.0.1, named `server`.
    fn server(&self) -> TlsIdentity {
        self.issue("server", &["127.0.0.1"])
    }
}

fn socket(socket_type: SocketType, tls: TlsConfig) -> Socket {
    let mut options = Options::new(socket_type);
    options.tls = Some(tls);
    Socket::with_options(socket_type, options)
}

/// The next event `pick` wants, skipping the others.
async fn next_event<T>(monitor: &mut Monitor, pick: impl Fn(MonitorEvent) -> Option<T>) -> T {
    loop {
        let event = timeout(WAIT, monitor.next()).await.unwrap().unwrap();
        if let Some(found) = pick(event) {
            return found;
        }
    }
}

/// The next failed handshake: its reason, whether it was an
/// authentication failure. A handshake that succeeds first fails the test.
async fn handshake_failed(monitor: &mut Monitor) -> (LinkEnd, bool) {
    next_event(monitor, |event| match event {
        MonitorEvent::HandshakeSucceeded { .. } => panic!("handshake succeeded"),
        MonitorEvent::HandshakeFailed { reason, .. } => {
            let auth = reason.is_authentication_failure();
            Some((reason, auth))
        }
        _ => None,
    })
    .await
}

/// As [`handshake_failed`], on a server where other peers may succeed.
async fn some_handshake_failed(monitor: &mut Monitor) -> (LinkEnd, bool) {
    next_event(monitor, |event| match event {
        MonitorEvent::HandshakeFailed { reason, .. } => {
            let auth = reason.is_authentication_failure();
            Some((reason, auth))
        }
        _ => None,
    })
    .await
}

/// Whether credentials were refused with status 400 (by our
/// authenticator, or by the peer's in its ERROR).
fn refused_with_400(reason: &LinkEnd) -> bool {
    reason.refused_status() == Some(AuthStatus::AuthenticationFailure)
}

/// The reason a connecting endpoint gave up, checking it did not retry.
async fn gave_up(monitor: &mut Monitor) -> LinkEnd {
    next_event(monitor, |event| match event {
        MonitorEvent::ReconnectScheduled { reason, .. } => panic!("retried after: {reason}"),
        MonitorEvent::Closed { reason, .. } => Some(reason),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn push_pull_over_tls_with_null() {
    let ca = Ca::new("test CA");
    let pull = socket(SocketType::Pull, TlsConfig::server(ca.server()));
    let mut pull_monitor = pull.monitor();
    let ep = pull.bind("tls://127.0.0.1:*").await.unwrap();
    assert_eq!(ep.transport(), "tls");
    let ep = ep.to_string();
    assert!(ep.starts_with("tls://127.0.0.1:"), "{ep}");

    let push = socket(SocketType::Push, TlsConfig::client(ca.roots()));
    push.connect(&ep).await.unwrap();
    for i in 0..100u32 {
        push.send(i.to_be_bytes().to_vec()).await.unwrap();
    }
    for i in 0..100u32 {
        let (m, peer) = timeout(WAIT, pull.recv_with_metadata())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&m.frames()[0][..], &i.to_be_bytes());
        let peer = peer.unwrap();
        assert_eq!(peer.get("Socket-Type").as_deref(), Some(&b"PUSH"[..]));
        assert!(peer.tls_peer.is_none(), "no client certificate was asked");
    }
    let peer_type = next_event(&mut pull_monitor, |e| match e {
        MonitorEvent::HandshakeSucceeded {
            peer_socket_type, ..
        } => Some(peer_socket_type),
        _ => None,
    })
    .await;
    assert_eq!(peer_type, Some(SocketType::Push));
}

#[tokio::test]
async fn dealer_router_both_ways_and_the_client_sees_the_server_certificate() {
    let ca = Ca::new("test CA");
    let router = socket(SocketType::Router, TlsConfig::server(ca.server()));
    let ep = router.bind("tls://127.0.0.1:*").await.unwrap().to_string();
    let mut options = Options::new(SocketType::Dealer);
    options.routing_id = "dealer-1".into();
    options.tls = Some(TlsConfig::client(ca.roots()));
    let dealer = Socket::with_options(SocketType::Dealer, options);
    dealer.connect(&ep).await.unwrap();

    dealer.send("ping").await.unwrap();
    let request = timeout(WAIT, router.recv()).await.unwrap().unwrap();
    assert_eq!(&request.frames()[0][..], b"dealer-1");
    assert_eq!(&request.frames()[1][..], b"ping");
    let reply: zmtp_transport::Message = ["dealer-1", "pong"].into_iter().collect();
    router.send(reply).await.unwrap();
    let (reply, peer) = timeout(WAIT, dealer.recv_with_metadata())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&reply.frames()[0][..], b"pong");
    let server = peer.unwrap().tls_peer.clone().unwrap();
    assert_eq!(server.common_name.as_deref(), Some("server"));
    assert_eq!(
        server.ip_addresses,
        ["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(server.subject, "CN=server");
}

#[tokio::test]
async fn multi_mebibyte_messages_and_bursts_arrive_whole() {
    let ca = Ca::new("test CA");
    let pull = socket(SocketType::Pull, TlsConfig::server(ca.server()));
    let ep = pull.bind("tls://127.0.0.1:*").await.unwrap().to_string();
    let push = socket(SocketType::Push, TlsConfig::client(ca.roots()));
    push.connect(&ep).await.unwrap();

    let big: Vec<u8> = (0..6 * 1024 * 1024 + 7).map(|i| (i % 251) as u8).collect();
    let message: zmtp_transport::Message = [b"head".to_vec(), big.clone()].into_iter().collect();
    push.send(message).await.unwrap();
    // Then many small ones, and a last one alone: it must be flushed out
    // of the TLS buffer although nothing follows it.
    for i in 0..2000u32 {
        push.send(i.to_le_bytes().to_vec()).await.unwrap();
    }
    push.send("last").await.unwrap();

    let m = timeout(WAIT, pull.recv()).await.unwrap().unwrap();
    assert_eq!(&m.frames()[0][..], b"head");
    assert!(m.frames()[1][..] == big[..], "large body corrupted");
    for i in 0..2000u32 {
        let m = timeout(WAIT, pull.recv()).await.unwrap().unwrap();
        assert_eq!(&m.frames()[0][..], &i.to_le_bytes());
    }
    let m = timeout(WAIT, pull.recv()).await.unwrap().unwrap();
    assert_eq!(&m.frames()[0][..], b"last");
}

#[tokio::test]
async fn mutual_tls_identity_reaches_the_authenticator_and_the_messages() {
    let ca = Ca::new("test CA");
    let mut options = Options::new(SocketType::Pull);
    options.tls = Some(TlsConfig::server(ca.server()).require_client_certs(ca.roots()));
    options.authenticator = Some(Arc::new(|request: &ZapRequest| {
        match request
            .tls_peer
            .as_ref()
            .and_then(|p| p.common_name.clone())
        {
            Some(name) if name.starts_with("node") => AuthReply::accept_as(name),
            _ => AuthReply::deny(),
        }
    }));
    let pull = Socket::with_options(SocketType::Pull, options);
    let mut pull_monitor = pull.monitor();
    let ep = pull.bind("tls://127.0.0.1:*").await.unwrap().to_string();

    let client = |cn: &str| {
        let tls = TlsConfig::client(ca.roots()).with_identity(ca.issue(cn, &["node.example"]));
        socket(SocketType::Push, tls)
    };
    let node = client("node7");
    node.connect(&ep).await.unwrap();
    node.send("from node7").await.unwrap();
    let (m, peer) = timeout(WAIT, pull.recv_with_metadata())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&m.frames()[0][..], b"from node7");
    let peer = peer.unwrap();
    assert_eq!(peer.get("User-Id").as_deref(), Some(&b"node7"[..]));
    let identity = peer.tls_peer.clone().unwrap();
    assert_eq!(identity.common_name.as_deref(), Some("node7"));
    assert_eq!(identity.dns_names, ["node.example"]);
    assert!(!identity.certificate.is_empty());

    // Vouched for by the CA, refused by the authenticator: the client
    // gets ERROR 400 through NULL and stops.
    let stranger = client("intruder");
    let mut stranger_monitor = stranger.monitor();
    stranger.connect(&ep).await.unwrap();
    let (reason, auth) = some_handshake_failed(&mut pull_monitor).await;
    assert!(auth && refused_with_400(&reason), "{reason:?}");
    let (reason, auth) = handshake_failed(&mut stranger_monitor).await;
    assert!(auth && refused_with_400(&reason), "{reason:?}");
    assert!(gave_up(&mut stranger_monitor).await.is_protocol_error());
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused() {
    let ca = Ca::new("test CA");
    let other = Ca::new("other CA");
    let pull = socket(
        SocketType::Pull,
        TlsConfig::server(ca.server()).require_client_certs(ca.roots()),
    );
    let mut pull_monitor = pull.monitor();
    let ep = pull.bind("tls://127.0.0.1:*").await.unwrap().to_string();

    let push = socket(
        SocketType::Push,
        TlsConfig::client(ca.roots()).with_identity(other.issue("node1", &["node1.example"])),
    );
    let mut push_monitor = push.monitor();
    push.connect(&ep).await.unwrap();
    push.send("never").await.unwrap();

    let (reason, auth) = handshake_failed(&mut pull_monitor).await;
    assert!(auth, "{reason:?}");
    assert!(
        matches!(
            reason,
            LinkEnd::Tls(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        ),
        "{reason:?}"
    );
    // TLS 1.3: the client learns of it from the server's alert.
    let (reason, auth) = handshake_failed(&mut push_monitor).await;
    assert!(auth, "{reason:?}");
    assert!(
        matches!(reason, LinkEnd::Tls(rustls::Error::AlertReceived(_))),
        "{reason:?}"
    );
    assert!(gave_up(&mut push_monitor).await.is_protocol_error());

    // No certificate at all is refused too.
    let bare = socket(SocketType::Push, TlsConfig::client(ca.roots()));
    let mut bare_monitor = bare.monitor();
    bare.connect(&ep).await.unwrap();
    let (reason, auth) = handshake_failed(&mut bare_monitor).await;
    assert!(auth, "{reason:?}");
    let (reason, auth) = handshake_failed(&mut pull_monitor).await;
    assert!(auth, "{reason:?}");
    assert!(
        timeout(Duration::from_millis(200), pull.recv())
            .await
            .is_err(),
        "a refused client's message arrived"
    );
}

#[tokio::test]
async fn a_client_trusting_another_ca_refuses_the_server() {
    let ca = Ca::new("test CA");
    let other = Ca::new("other CA");
    let pull = socket(SocketType::Pull, TlsConfig::server(ca.server()));
    let mut pull_monitor = pull.monitor();
    let ep = pull.bind("tls://127.0.0.1:*").await.unwrap().to_string();

    let push = socket(SocketType::Push, TlsConfig::client(other.roots()));
    let mut push_monitor = push.monitor();
    push.connect(&ep).await.unwrap();
    let (reason, auth) = handshake_failed(&mut push_monitor).await;
    assert!(auth, "{reason:?}");
    assert!(
        matches!(
            reason,
            LinkEnd::Tls(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        ),
        "{reason:?}"
    );
    assert!(gave_up(&mut push_monitor).await.is_protocol_error());
    let (reason, auth) = handshake_failed(&mut pull_monitor).await;
    assert!(auth, "{reason:?}");
}

#[tokio::test]
async fn the_server_name_is_checked_and_can_be_overridden() {
    let ca = Ca::new("test CA");
    let pull = socket(
        SocketType::Pull,
        TlsConfig::server(ca.issue("node1", &["node1.example"])),
    );
    let ep = pull.bind("tls://127.0.0.1:*").await.unwrap().to_string();

    // The certificate does not name 127.0.0.1.
    let push = socket(SocketType::Push, TlsConfig::client(ca.roots()));
    let mut monitor = push.monitor();
    push.connect(&ep).await.unwrap();
    let (reason, auth) = handshake_failed(&mut monitor).await;
    assert!(auth, "{reason:?}");
    assert!(
        matches!(
            reason,
            LinkEnd::Tls(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{reason:?}"
    );

    let push = socket(
        SocketType::Push,
        TlsConfig::client(ca.roots()).with_server_name("node1.example"),
    );
    push.connect(&ep).await.unwrap();
    push.send("by name").await.unwrap();
    let m = timeout(WAIT, pull.recv()).await.unwrap().unwrap();
    assert_eq!(&m.frames()[0][..], b"by name");
}

#[tokio::test]
async fn curve_inside_tls() {
    let ca = Ca::new("test CA");
    let server_keys = CurveKeyPair::generate();
    let client_keys = CurveKeyPair::generate();

    let mut options = Options::new(SocketType::Rep);
    options.security = Security::CurveServer {
        keys: server_keys.clone(),
    };
    options.tls = Some(TlsConfig::server(ca.server()).require_client_certs(ca.roots()));
    options.authenticator = Some(Arc::new(|request: &ZapRequest| {
        // Both layers' identities are there to decide on.
        let cn = request
            .tls_peer
            .as_ref()
            .and_then(|p| p.common_name.clone());
        match (&request.credentials, cn.as_deref()) {
            (zmtp_transport::Credentials::Curve { .. }, Some("node2")) => {
                AuthReply::accept_as("node2")
            }
            _ => AuthReply::deny(),
        }
    }));
    let rep = Socket::with_options(SocketType::Rep, options);
    let ep = rep.bind("tls://127.0.0.1:*").await.unwrap().to_string();

    let mut options = Options::new(SocketType::Req);
    options.security = Security::CurveClient {
        keys: client_keys,
        server_key: *server_keys.public(),
    };
    options.tls = Some(TlsConfig::client(ca.roots()).with_identity(ca.issue("node2", &["n2"])));
    let req = Socket::with_options(SocketType::Req, options);
    req.connect(&ep).await.unwrap();

    req.send(vec![9u8; 300_000]).await.unwrap();
    let (m, peer) = timeout(WAIT, rep.recv_with_metadata())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.frames()[0].len(), 300_000);
    let peer = peer.unwrap();
    assert_eq!(peer.user_id.as_deref(), Some(&b"node2"[..]));
    assert_eq!(
        peer.tls_peer.as_ref().unwrap().common_name.as_deref(),
        Some("node2")
    );
    rep.send("ok").await.unwrap();
    let reply = timeout(WAIT, req.recv()).await.unwrap().unwrap();
    assert_eq!(&reply.frames()[0][..], b"ok");
}

#[tokio::test]
async fn settings_errors_surface_at_bind_and_connect() {
    let ca = Ca::new("test CA");
    let plain = Socket::new(SocketType::Pull);
    let e = plain.bind("tls://127.0.0.1:*").await.unwrap_err();
    assert!(
        matches!(&e, Error::Tls(t) if matches!(**t, TlsError::NotConfigured)),
        "{e}"
    );
    let e = plain.connect("tls://127.0.0.1:5555").await.unwrap_err();
    assert!(e.to_string().contains("Options::tls"), "{e}");

    let client_only = socket(SocketType::Pull, TlsConfig::client(ca.roots()));
    let e = client_only.bind("tls://127.0.0.1:*").await.unwrap_err();
    assert!(
        matches!(&e, Error::Tls(t) if matches!(**t, TlsError::NoIdentity)),
        "{e}"
    );

    let server_only = socket(SocketType::Push, TlsConfig::server(ca.server()));
    let e = server_only
        .connect("tls://127.0.0.1:5555")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Tls(t) if matches!(**t, TlsError::NoServerRoots)),
        "{e}"
    );
}

#[tokio::test]
async fn a_silent_peer_times_out_in_the_tls_handshake() {
    let ca = Ca::new("test CA");
    let mut options = Options::new(SocketType::Pull);
    options.tls = Some(TlsConfig::server(ca.server()));
    options.handshake_ivl = Some(Duration::from_millis(200));
    options.max_handshakes = 1;
    let pull = Socket::with_options(SocketType::Pull, options);
    let mut monitor = pull.monitor();
    let ep = pull.bind("tls://127.0.0.1:*").await.unwrap();
    let addr = ep.to_string().replace("tls://", "");

    // A TCP peer that never says anything holds the only handshake place
    // until the timeout frees it.
    let _silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (reason, auth) = handshake_failed(&mut monitor).await;
    assert!(
        !auth && reason == LinkEnd::Protocol(CloseReason::HandshakeTimeout),
        "{reason:?}"
    );

    let push = socket(SocketType::Push, TlsConfig::client(ca.roots()));
    push.connect(&ep.to_string()).await.unwrap();
    push.send("after").await.unwrap();
    let m = timeout(WAIT, pull.recv()).await.unwrap().unwrap();
    assert_eq!(&m.frames()[0][..], b"after");
}

/// Silent TCP connections to a `tls://` listener hold places from accept,
/// before any TLS: as many as `max_handshakes` do not keep a real TLS peer
/// out (the oldest is evicted for it), and one that never finishes TLS and
/// its greeting is closed at the greeting deadline.
#[tokio::test]
async fn tls_handshakes_count_in_the_listeners_admission() {
    const MAX: usize = 4;
    const GREETING: Duration = Duration::from_millis(1500);
    let ca = Ca::new("test CA");
    let mut options = Options::new(SocketType::Pull);
    options.tls = Some(TlsConfig::server(ca.server()));
    options.handshake_ivl = Some(Duration::from_secs(120));
    options.greeting_ivl = Some(GREETING);
    options.max_handshakes = MAX;
    let pull = Socket::with_options(SocketType::Pull, options);
    let mut monitor = pull.monitor();
    let ep = pull.bind("tls://127.0.0.1:*").await.unwrap();
    let addr = ep.to_string().replace("tls://", "");

    let mut silent = Vec::new();
    for _ in 0..MAX {
        silent.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    for _ in 0..MAX {
        next_event(&mut monitor, |e| {
            matches!(e, MonitorEvent::Accepted { .. }).then_some(())
        })
        .await;
    }
    let push = socket(SocketType::Push, TlsConfig::client(ca.roots()));
    push.connect(&ep.to_string()).await.unwrap();
    push.send("past the flood").await.unwrap();
    let m = timeout(WAIT, pull.recv()).await.unwrap().unwrap();
    assert_eq!(&m.frames()[0][..], b"past the flood");

    // The oldest went for the newcomer, the others at their deadline.
    let (reason, _) = some_handshake_failed(&mut monitor).await;
    assert_eq!(reason, LinkEnd::Refused(Refusal::Evicted { max: MAX }));
    for _ in 1..MAX {
        let (reason, _) = some_handshake_failed(&mut monitor).await;
        assert_eq!(
            reason,
            LinkEnd::Refused(Refusal::GreetingTimeout { ivl: GREETING })
        );
    }
}

/// A slow reader behind a small receive window: the sender's socket stays
/// full, TLS records back up into rustls's own buffer (which the engine
/// flushes once its output is empty), and the whole message still
/// arrives. The receiver is a bare rustls server running the sans-IO
/// connection, so it can read as slowly as it likes.
#[tokio::test]
async fn the_last_bytes_leave_the_tls_buffer_for_a_slow_reader() {
    use bytes::{Buf, BytesMut};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use zmtp_transport::zmtp::{Config, Connection, Event, mechanism::Null};

    let ca = Ca::new("test CA");
    let (cert, key) = ca.issue_pem("server", &["127.0.0.1"]);
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
        PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    // A small receive window keeps the sender's socket buffer small, so
    // its writes meet a full socket while rustls still holds records.
    let raw = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    raw.set_recv_buffer_size(8 * 1024).unwrap();
    raw.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    raw.listen(1).unwrap();
    raw.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(raw.into()).unwrap();
    let addr = listener.local_addr().unwrap();

    let push = socket(SocketType::Push, TlsConfig::client(ca.roots()));
    push.connect(&format!("tls://{addr}")).await.unwrap();
    const SIZE: usize = 2 * 1024 * 1024;
    push.send(vec![0x5a; SIZE]).await.unwrap();

    let (tcp, _) = listener.accept().await.unwrap();
    let mut tls = acceptor.accept(tcp).await.unwrap();
    let mut conn = Connection::new(
        Config::new(SocketType::Pull),
        Box::new(Null::new()),
        Instant::now(),
    );
    let mut input = BytesMut::new();
    let mut chunk = vec![0u8; 32 * 1024];
    let received = timeout(Duration::from_secs(30), async {
        loop {
            while conn.transmit().has_remaining() {
                let out = conn.transmit().chunk().to_vec();
                tls.write_all(&out).await.unwrap();
                conn.transmit().advance(out.len());
            }
            tls.flush().await.unwrap();
            let n = tls.read(&mut chunk).await.unwrap();
            assert!(n > 0, "sender closed");
            input.extend_from_slice(&chunk[..n]);
            conn.handle_input(&mut input, Instant::now());
            while let Some(event) = conn.poll_event() {
                match event {
                    Event::Message(m) => return m,
                    Event::Closed(reason) => panic!("{reason}"),
                    _ => {}
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the end of the message stayed in the sender's TLS buffer");
    assert_eq!(received.frames()[0].len(), SIZE);
}
