//! `Options::async_authenticator`: an authenticator that answers later.
//! The handshake waits for it (and only up to the handshake interval);
//! its reply decides as a synchronous one would; an invalid ZAP reply ends
//! the link as `LinkEnd::Zap`.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use tokio::time::timeout;
use zmtp_transport::zmtp::MechanismName;
use zmtp_transport::{
    AsyncAuthenticator, AuthFuture, AuthReply, Credentials, LinkEnd, MonitorEvent, Options,
    Security, Socket, SocketType, ZapReplyError, ZapRequest,
};

const WAIT: Duration = Duration::from_secs(10);

/// Answers after a short delay: "secret" is accepted as "admin", other
/// passwords are refused, "broken" is an invalid reply and "silent" never
/// gets an answer.
struct SlowHandler;

impl AsyncAuthenticator for SlowHandler {
    fn authenticate(&self, request: ZapRequest) -> AuthFuture {
        Box::pin(async move {
            assert_eq!(request.mechanism, MechanismName::PLAIN);
            let Credentials::Plain { password, .. } = &request.credentials else {
                return Ok(AuthReply::deny());
            };
            match password.expose() {
                b"silent" => std::future::pending().await,
                b"broken" => Err(ZapReplyError::BadVersion),
                b"secret" => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok(AuthReply::accept_as("admin"))
                }
                _ => Ok(AuthReply::deny()),
            }
        })
    }
}

fn server() -> Socket {
    let mut options = Options::new(SocketType::Pull);
    options.security = Security::PlainServer;
    options.async_authenticator = Some(Arc::new(SlowHandler));
    options.handshake_ivl = Some(Duration::from_millis(300));
    Socket::with_options(SocketType::Pull, options)
}

fn client(password: &str) -> Socket {
    let mut options = Options::new(SocketType::Push);
    options.security = Security::PlainClient {
        username: "admin".into(),
        password: password.into(),
    };
    Socket::with_options(SocketType::Push, options)
}

/// The reason of the next failed handshake on the monitor.
async fn next_failure(monitor: &mut zmtp_transport::Monitor) -> LinkEnd {
    loop {
        if let MonitorEvent::HandshakeFailed { reason, .. } =
            timeout(WAIT, monitor.next()).await.unwrap().unwrap()
        {
            return reason;
        }
    }
}

#[tokio::test]
async fn a_late_reply_decides_and_its_user_id_reaches_messages() {
    let pull = server();
    let mut monitor = pull.monitor();
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    let good = client("secret");
    good.connect(&ep).await.unwrap();
    good.send("hi").await.unwrap();
    let (_, peer) = timeout(WAIT, pull.recv_with_metadata())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(peer.unwrap().user_id.as_deref(), Some(&b"admin"[..]));

    let wrong = client("guess");
    wrong.connect(&ep).await.unwrap();
    assert!(next_failure(&mut monitor).await.is_authentication_failure());
}

#[tokio::test]
async fn an_invalid_reply_ends_the_link_as_a_zap_protocol_error() {
    let pull = server();
    let mut monitor = pull.monitor();
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    let broken = client("broken");
    broken.connect(&ep).await.unwrap();
    let reason = next_failure(&mut monitor).await;
    assert_eq!(reason, LinkEnd::Zap(ZapReplyError::BadVersion));
    assert!(reason.is_protocol_error());
}

#[tokio::test]
async fn no_reply_leaves_the_handshake_to_its_interval() {
    let pull = server();
    let mut monitor = pull.monitor();
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    let silent = client("silent");
    silent.connect(&ep).await.unwrap();
    let reason = next_failure(&mut monitor).await;
    assert!(
        !reason.is_authentication_failure() && !matches!(reason, LinkEnd::Zap(_)),
        "{reason:?}"
    );
}
