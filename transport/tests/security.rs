//! PLAIN and CURVE between our own sockets: credentials checked by the
//! authenticator, the user id reaching received messages, refusals
//! reported as authentication failures.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use tokio::time::timeout;
use zmtp_transport::zmtp::CloseReason;
use zmtp_transport::{
    AuthStatus, CurveAllowList, CurveKeyPair, LinkEnd, MonitorEvent, Options, PlainPasswords,
    Security, Socket, SocketType,
};

const WAIT: Duration = Duration::from_secs(10);

/// The next authentication failure on this monitor. Handshakes that
/// succeed meanwhile (other, valid peers) are skipped.
async fn failed_auth(socket: &mut zmtp_transport::Monitor) -> LinkEnd {
    loop {
        match timeout(WAIT, socket.next()).await.unwrap().unwrap() {
            MonitorEvent::HandshakeFailed { reason, .. } if reason.is_authentication_failure() => {
                return reason;
            }
            _ => continue,
        }
    }
}

fn curve_server(keys: &CurveKeyPair, allowed: Option<CurveAllowList>) -> Socket {
    let mut options = Options::new(SocketType::Pull);
    options.security = Security::CurveServer { keys: keys.clone() };
    options.authenticator = allowed.map(|a| Arc::new(a) as _);
    Socket::with_options(SocketType::Pull, options)
}

fn curve_client(keys: &CurveKeyPair, server: &CurveKeyPair) -> Socket {
    let mut options = Options::new(SocketType::Push);
    options.security = Security::CurveClient {
        keys: keys.clone(),
        server_key: *server.public(),
    };
    Socket::with_options(SocketType::Push, options)
}

#[tokio::test]
async fn curve_with_an_allow_list() {
    let server_keys = CurveKeyPair::generate();
    let good = CurveKeyPair::generate();
    let bad = CurveKeyPair::generate();
    let pull = curve_server(
        &server_keys,
        Some(CurveAllowList::new().with(*good.public())),
    );
    let mut pull_monitor = pull.monitor();
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap().to_string();

    let push = curve_client(&good, &server_keys);
    push.connect(&ep).await.unwrap();
    push.send(vec![7u8; 100_000]).await.unwrap();
    let (m, peer) = timeout(WAIT, pull.recv_with_metadata())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.frames()[0].len(), 100_000);
    let user = peer.unwrap().get("User-Id").unwrap();
    assert_eq!(&user[..], good.public().to_z85().as_bytes());

    let intruder = curve_client(&bad, &server_keys);
    let mut intruder_monitor = intruder.monitor();
    intruder.connect(&ep).await.unwrap();
    assert_eq!(
        failed_auth(&mut pull_monitor).await.refused_status(),
        Some(AuthStatus::AuthenticationFailure)
    );
    let reason = failed_auth(&mut intruder_monitor).await;
    assert_eq!(
        reason.refused_status(),
        Some(AuthStatus::AuthenticationFailure),
        "{reason:?}"
    );
    assert_eq!(intruder.stats().peers, 0);
}

#[tokio::test]
async fn curve_without_authenticator_accepts_any_client_but_checks_the_server_key() {
    let server_keys = CurveKeyPair::generate();
    let pull = curve_server(&server_keys, None);
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    let push = curve_client(&CurveKeyPair::generate(), &server_keys);
    push.connect(&ep).await.unwrap();
    push.send("anyone").await.unwrap();
    assert_eq!(
        &timeout(WAIT, pull.recv()).await.unwrap().unwrap().frames()[0][..],
        b"anyone"
    );

    // A client that expects another server key cannot complete the
    // handshake: the server's boxes do not open for it.
    let wrong = curve_client(&CurveKeyPair::generate(), &CurveKeyPair::generate());
    let mut monitor = wrong.monitor();
    wrong.connect(&ep).await.unwrap();
    loop {
        match timeout(WAIT, monitor.next()).await.unwrap().unwrap() {
            MonitorEvent::HandshakeFailed { .. } => break,
            MonitorEvent::HandshakeSucceeded { .. } => panic!("wrong server key accepted"),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn plain_with_passwords() {
    let mut options = Options::new(SocketType::Rep);
    options.security = Security::PlainServer;
    options.authenticator = Some(Arc::new(PlainPasswords::new().with("admin", "secret")));
    let rep = Socket::with_options(SocketType::Rep, options);
    let mut rep_monitor = rep.monitor();
    let ep = rep
        .bind("ipc://@zmtp-test-plain")
        .await
        .unwrap()
        .to_string();

    let client = |user: &str, password: &str| {
        let mut options = Options::new(SocketType::Req);
        options.security = Security::PlainClient {
            username: user.into(),
            password: password.into(),
        };
        Socket::with_options(SocketType::Req, options)
    };
    let req = client("admin", "secret");
    req.connect(&ep).await.unwrap();
    req.send("hello").await.unwrap();
    let (request, peer) = timeout(WAIT, rep.recv_with_metadata())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&request.frames()[0][..], b"hello");
    let peer = peer.unwrap();
    assert_eq!(peer.user_id.as_deref(), Some(&b"admin"[..]));
    assert_eq!(peer.get("Socket-Type").as_deref(), Some(&b"REQ"[..]));
    rep.send("world").await.unwrap();
    assert_eq!(
        &timeout(WAIT, req.recv()).await.unwrap().unwrap().frames()[0][..],
        b"world"
    );

    let wrong = client("admin", "guess");
    wrong.connect(&ep).await.unwrap();
    assert_eq!(
        failed_auth(&mut rep_monitor).await.refused_status(),
        Some(AuthStatus::AuthenticationFailure)
    );
}

#[tokio::test]
async fn plain_server_without_authenticator_refuses_everyone() {
    let mut options = Options::new(SocketType::Pull);
    options.security = Security::PlainServer;
    let pull = Socket::with_options(SocketType::Pull, options);
    let mut monitor = pull.monitor();
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    let mut options = Options::new(SocketType::Push);
    options.security = Security::PlainClient {
        username: "u".into(),
        password: "p".into(),
    };
    let push = Socket::with_options(SocketType::Push, options);
    push.connect(&ep).await.unwrap();
    failed_auth(&mut monitor).await;
}

#[tokio::test]
async fn mechanism_mismatch_fails_the_handshake() {
    let server_keys = CurveKeyPair::generate();
    let pull = curve_server(&server_keys, None);
    let mut monitor = pull.monitor();
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    loop {
        match timeout(WAIT, monitor.next()).await.unwrap().unwrap() {
            MonitorEvent::HandshakeFailed { reason, .. } => {
                assert!(
                    matches!(
                        reason,
                        LinkEnd::Protocol(CloseReason::MechanismMismatch { .. })
                    ),
                    "{reason:?}"
                );
                break;
            }
            _ => continue,
        }
    }
}

#[tokio::test]
async fn null_server_with_an_authenticator_asks_it() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // The first peer is let in under a user id; the others are refused.
    let seen = AtomicUsize::new(0);
    let mut options = Options::new(SocketType::Pull);
    options.zap_domain = "cluster".into();
    options.authenticator = Some(Arc::new(move |request: &zmtp_transport::ZapRequest| {
        assert_eq!(request.domain, "cluster");
        assert!(request.tls_peer.is_none());
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            zmtp_transport::AuthReply::accept_as("first")
        } else {
            zmtp_transport::AuthReply::deny()
        }
    }));
    let pull = Socket::with_options(SocketType::Pull, options);
    let mut pull_monitor = pull.monitor();
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap().to_string();

    let first = Socket::new(SocketType::Push);
    first.connect(&ep).await.unwrap();
    first.send("in").await.unwrap();
    let (m, peer) = timeout(WAIT, pull.recv_with_metadata())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&m.frames()[0][..], b"in");
    assert_eq!(peer.unwrap().user_id.as_deref(), Some(&b"first"[..]));

    // A plain NULL client hears ERROR 400 and gives up.
    let second = Socket::new(SocketType::Push);
    let mut second_monitor = second.monitor();
    second.connect(&ep).await.unwrap();
    assert_eq!(
        failed_auth(&mut pull_monitor).await.refused_status(),
        Some(AuthStatus::AuthenticationFailure)
    );
    assert_eq!(
        failed_auth(&mut second_monitor).await.refused_status(),
        Some(AuthStatus::AuthenticationFailure)
    );
}
