//! PLAIN and CURVE against real libzmq: one side ours ([`Socket`]), the
//! other a pyzmq socket in a child process (`tests/peers/secure_peer.py`),
//! over tcp.
//!
//! - CURVE, with the standard test keys (docs/protocol-notes.md, "CURVE
//!   test keys"): each socket pair
//!   is an `async fn` that [`matrix!`] turns into four tests,
//!   `<pair>::{we,they}_serve_{we,they}_bind`, since the mechanism's roles
//!   are independent of who binds. Our CURVE server checks the client key
//!   with a [`CurveAllowList`]; libzmq's has no ZAP handler and takes any
//!   key. Data includes multipart messages, a 3 MiB frame, and frames whose
//!   encrypted MESSAGE command is 255 and 256 bytes (the short/long size
//!   boundary). PUB/SUB subscriptions travel inside MESSAGE commands;
//!   filtering is checked at each publisher (ours against a libzmq XSUB,
//!   which does not filter, so whatever our PUB lets through shows).
//! - Refusals, both ways: a wrong PLAIN password, a CURVE client key
//!   outside the allow list (both ERROR 400: the refused client gives up
//!   after one attempt, ours and libzmq's), the wrong CURVE server key (a
//!   plain close, which both sides retry). Nothing is delivered.
//! - PLAIN acceptance both ways and with either side binding, with the user
//!   id the authenticator gave checked on the receiving side (ours and
//!   libzmq's).

#![allow(clippy::unwrap_used)]

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::timeout;
use zmtp_tests::{
    BIG_FRAME, Peer, TOPIC, WAIT, WARM, cold, hex, hex_line, hot, msg, pattern, prefixed,
    publish_cold_then_hot, send, show_line,
};
use zmtp_transport::{
    AuthStatus, CurveAllowList, CurveKeyPair, CurvePublicKey, CurveSecretKey, Error, LinkEnd,
    Message, Monitor, MonitorEvent, Options, PlainPasswords, Security, Socket, SocketType,
};

/// How long a refused peer is watched for reconnection attempts (libzmq's
/// and our reconnect interval is 100 ms).
const WATCH_MS: u64 = 500;

// The standard CURVE test keys (the `zmq_curve` man page; docs/protocol-notes.md,
// "CURVE test keys").
const CLIENT_PUBLIC: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
const SERVER_PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

const USER: &str = "admin";
const PASSWORD: &str = "secret";

fn key_pair(public: &str, secret: &str) -> CurveKeyPair {
    CurveKeyPair::new(
        CurvePublicKey::from_z85(public).unwrap(),
        CurveSecretKey::from_z85(secret).unwrap(),
    )
    .expect("the test keys match")
}

fn client_keys() -> CurveKeyPair {
    key_pair(CLIENT_PUBLIC, CLIENT_SECRET)
}

fn server_keys() -> CurveKeyPair {
    key_pair(SERVER_PUBLIC, SERVER_SECRET)
}

fn public(z85: &str) -> CurvePublicKey {
    CurvePublicKey::from_z85(z85).unwrap()
}

// ---------------------------------------------------------------------------
// Our sockets.

fn socket(socket_type: SocketType, configure: impl FnOnce(&mut Options)) -> Socket {
    let mut options = Options::new(socket_type);
    configure(&mut options);
    Socket::with_options(socket_type, options)
}

fn plain_client(socket_type: SocketType, password: &str) -> Socket {
    socket(socket_type, |o| {
        o.security = Security::PlainClient {
            username: USER.into(),
            password: password.into(),
        };
    })
}

/// A PLAIN server that knows [`USER`] with [`PASSWORD`].
fn plain_server(socket_type: SocketType) -> Socket {
    socket(socket_type, |o| {
        o.security = Security::PlainServer;
        o.authenticator = Some(Arc::new(PlainPasswords::new().with(USER, PASSWORD)));
    })
}

fn curve_client(socket_type: SocketType, keys: CurveKeyPair, server_key: &str) -> Socket {
    socket(socket_type, |o| {
        o.security = Security::CurveClient {
            keys,
            server_key: public(server_key),
        };
    })
}

/// A CURVE server with the standard server keys, allowing only the
/// `allowed` client key, or any without one.
fn curve_server(socket_type: SocketType, allowed: Option<&str>) -> Socket {
    socket(socket_type, |o| curve_server_options(o, allowed))
}

fn curve_server_options(o: &mut Options, allowed: Option<&str>) {
    o.security = Security::CurveServer {
        keys: server_keys(),
    };
    if let Some(key) = allowed {
        o.authenticator = Some(Arc::new(CurveAllowList::new().with(public(key))));
    }
}

// ---------------------------------------------------------------------------
// Starting the peer.

/// Who does something: our socket or the pyzmq one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Us,
    Them,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Us => "we",
            Side::Them => "pyzmq",
        })
    }
}

/// Binds or connects `ours` and starts the pyzmq peer of `their_type` the
/// other way round, with `args` (options and actions, see secure_peer.py).
/// `None`: pyzmq is missing and not required.
async fn start(ours: &Socket, binder: Side, their_type: &str, args: &[String]) -> Option<Peer> {
    let mut argv: Vec<String> = vec![their_type.into()];
    match binder {
        Side::Us => {
            let endpoint = ours.bind("tcp://127.0.0.1:*").await.unwrap();
            argv.extend(["connect".into(), endpoint.to_string()]);
        }
        Side::Them => argv.extend(["bind".into(), "tcp://127.0.0.1".into()]),
    }
    argv.extend(args.iter().cloned());
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let mut peer = Peer::spawn_interactive("secure_peer.py", &argv)?;
    if binder == Side::Them {
        let endpoint = line(&mut peer, "its bound endpoint").await;
        ours.connect(&endpoint)
            .await
            .unwrap_or_else(|e| panic!("connect to {endpoint}: {e}"));
    }
    Some(peer)
}

/// The peer's next output line. The peer bounds every wait, so this ends:
/// with the line, or with a panic when the peer gave up (its reason is on
/// stderr) and exited.
async fn line(peer: &mut Peer, what: &str) -> String {
    peer.wait_line(what)
}

async fn expect_line(peer: &mut Peer, expected: &str, what: &str) {
    assert_eq!(line(peer, what).await, expected, "{what}");
}

/// The peer's line for a handshake failure it saw (`refused`): its event
/// name and value.
async fn their_failure(peer: &mut Peer) -> (String, u32) {
    let text = line(peer, "a handshake failure").await;
    let (name, value) = text.split_once(' ').unwrap();
    assert!(
        name.starts_with("HANDSHAKE_FAILED_"),
        "libzmq's monitor: {text}"
    );
    (name.to_owned(), value.parse().unwrap())
}

// ---------------------------------------------------------------------------
// Messages.

/// What goes through every CURVE pair that carries data: one frame,
/// multipart, empty frames, frames whose MESSAGE command (payload + 33
/// bytes: name, nonce, tag, flags) is 255 and 256 bytes long, the plain
/// 255/256 boundary, a 3 MiB frame in a multipart message, and one more
/// after it.
fn traffic() -> Vec<Message> {
    let b = |byte: u8, n: usize| Bytes::from(vec![byte; n]);
    let frames = |fs: Vec<Bytes>| fs.into_iter().collect::<Message>();
    vec![
        msg(&["hello"]),
        msg(&["multi", "part", "message"]),
        msg(&[""]),
        msg(&["", "", "middle", ""]),
        frames(vec![b(0x11, 222), b(0x22, 223)]),
        frames(vec![b(0xab, 255), b(0xcd, 256)]),
        big(),
        msg(&["last"]),
    ]
}

/// The multi-MiB message, as the peer's `send-big` makes it.
fn big() -> Message {
    [Bytes::from_static(b"big"), pattern(BIG_FRAME)]
        .into_iter()
        .collect()
}

/// The action making the peer send `m`. The big message goes as
/// `send-big`, as its hex would not fit in one argument.
fn send_action(m: &Message) -> String {
    if *m == big() {
        format!("send-big:{BIG_FRAME}")
    } else {
        format!("send:{}", hex_line(m))
    }
}

// ---------------------------------------------------------------------------
// Waiting on our socket.

async fn recv(s: &Socket, ctx: &str) -> Message {
    recv_with_user(s, ctx).await.0
}

/// A message and the user id our authenticator gave its sender.
async fn recv_with_user(s: &Socket, ctx: &str) -> (Message, Option<Bytes>) {
    let (m, peer) = timeout(WAIT, s.recv_with_metadata())
        .await
        .unwrap_or_else(|_| panic!("{ctx}: our {:?} received nothing", s.socket_type()))
        .unwrap_or_else(|e| panic!("{ctx}: our {:?} recv: {e}", s.socket_type()));
    (m, peer.and_then(|p| p.user_id.clone()))
}

/// Asserts nothing was delivered to our socket.
fn assert_nothing_received(s: &Socket) {
    match s.try_recv() {
        Err(Error::WouldBlock) => {}
        Ok(m) => panic!("delivered from a refused peer: {}", show_line(&m)),
        Err(e) => panic!("try_recv: {e}"),
    }
}

/// Our monitor's events up to and including the first that `last` accepts.
async fn events_until(
    monitor: &mut Monitor,
    what: &str,
    last: impl Fn(&MonitorEvent) -> bool,
) -> Vec<MonitorEvent> {
    let mut events = Vec::new();
    timeout(WAIT, async {
        while let Some(event) = monitor.next().await {
            let done = last(&event);
            events.push(event);
            if done {
                return;
            }
        }
        panic!("the monitor ended");
    })
    .await
    .unwrap_or_else(|_| panic!("no {what}; events: {events:#?}"));
    events
}

/// Our monitor's events in the next `period`.
async fn events_for(monitor: &mut Monitor, period: Duration) -> Vec<MonitorEvent> {
    let mut events = Vec::new();
    let _ = timeout(period, async {
        while let Some(event) = monitor.next().await {
            events.push(event);
        }
    })
    .await;
    events
}

/// Waits for our first handshake failure, asserting no handshake succeeded
/// before it; returns the events so far.
async fn our_failure(monitor: &mut Monitor) -> Vec<MonitorEvent> {
    let events = events_until(monitor, "handshake failure", |e| {
        matches!(e, MonitorEvent::HandshakeFailed { .. })
    })
    .await;
    assert_no_handshake(&events);
    events
}

fn assert_no_handshake(events: &[MonitorEvent]) {
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, MonitorEvent::HandshakeSucceeded { .. })),
        "a handshake succeeded: {events:#?}"
    );
}

/// The failure in `events`: (reason, protocol_error, authentication_failure).
fn failure(events: &[MonitorEvent]) -> (LinkEnd, bool, bool) {
    events
        .iter()
        .find_map(|e| match e {
            MonitorEvent::HandshakeFailed { reason, .. } => Some((
                reason.clone(),
                reason.is_protocol_error(),
                reason.is_authentication_failure(),
            )),
            _ => None,
        })
        .unwrap()
}

/// Whether credentials were refused with status 400: by our
/// authenticator, or by the peer's in an ERROR "400".
fn refused_with_400(reason: &LinkEnd) -> bool {
    reason.refused_status() == Some(AuthStatus::AuthenticationFailure)
}

fn count(events: &[MonitorEvent], kind: fn(&MonitorEvent) -> bool) -> usize {
    events.iter().filter(|e| kind(e)).count()
}

/// Our connecting client was refused by the server's authenticator: the
/// failure is an authentication failure, and the connecter gives up
/// after the one attempt instead of reconnecting. Returns the failure's
/// reason.
async fn assert_refused_once(monitor: &mut Monitor) -> LinkEnd {
    let events = events_until(monitor, "the connecter closing", |e| {
        matches!(e, MonitorEvent::Closed { .. })
    })
    .await;
    assert_no_handshake(&events);
    let (reason, protocol_error, authentication_failure) = failure(&events);
    assert!(authentication_failure, "not an auth failure: {reason:?}");
    assert!(protocol_error, "retryable: {reason:?}");
    assert_eq!(
        count(&events, |e| matches!(e, MonitorEvent::Connected { .. })),
        1,
        "{events:#?}"
    );
    assert_eq!(
        count(&events, |e| matches!(
            e,
            MonitorEvent::ReconnectScheduled { .. }
        )),
        0,
        "{events:#?}"
    );
    let Some(MonitorEvent::Closed { reason: closed, .. }) = events.last() else {
        unreachable!()
    };
    assert_eq!(*closed, reason, "gave up after the refusal");
    // And it stays that way.
    let later = events_for(monitor, Duration::from_millis(200)).await;
    assert!(later.is_empty(), "after closing: {later:#?}");
    reason
}

// ---------------------------------------------------------------------------
// PLAIN

mod plain {
    use super::*;

    /// libzmq's PLAIN server (a ThreadAuthenticator with one user) and our
    /// REQ client.
    async fn they_serve(binder: Side) {
        let req = plain_client(SocketType::Req, PASSWORD);
        let args = [
            format!("--plain-server={USER}:{PASSWORD}"),
            "recv-user:1".into(),
            format!("send:{}", hex(b"world")),
        ];
        let Some(mut peer) = start(&req, binder, "rep", &args).await else {
            return;
        };
        let ctx = format!("pyzmq PLAIN server, {binder} binds");
        send(&req, msg(&["hello", "plain"]), &ctx).await;
        // libzmq's ZAP handler made our user name the messages' User-Id.
        let seen = format!("{USER} {}", hex_line(&msg(&["hello", "plain"])));
        expect_line(&mut peer, &seen, "request at libzmq REP").await;
        assert_eq!(recv(&req, &ctx).await, msg(&["world"]), "{ctx}");
        peer.finish();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn they_serve_they_bind() {
        they_serve(Side::Them).await;
    }

    /// The PLAIN server is the connecting side: roles come from the
    /// options, not from who binds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn they_serve_we_bind() {
        they_serve(Side::Us).await;
    }

    /// Our PLAIN server ([`PlainPasswords`]) and libzmq's REQ client.
    async fn we_serve(binder: Side) {
        let rep = plain_server(SocketType::Rep);
        let args = [
            format!("--plain-client={USER}:{PASSWORD}"),
            format!("send:{}", hex_line(&msg(&["hello", "plain"]))),
            "recv:1".into(),
        ];
        let Some(mut peer) = start(&rep, binder, "req", &args).await else {
            return;
        };
        let ctx = format!("our PLAIN server, {binder} binds");
        let (request, user) = recv_with_user(&rep, &ctx).await;
        assert_eq!(request, msg(&["hello", "plain"]), "{ctx}");
        assert_eq!(user.as_deref(), Some(USER.as_bytes()), "{ctx}: user id");
        send(&rep, msg(&["world"]), &ctx).await;
        expect_line(&mut peer, &hex(b"world"), "reply at libzmq REQ").await;
        peer.finish();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn we_serve_we_bind() {
        we_serve(Side::Us).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn we_serve_they_bind() {
        we_serve(Side::Them).await;
    }

    /// libzmq's PLAIN server refuses a wrong password with its malformed
    /// ERROR (`5e 52 52 4f 52 03 34 30 30`, docs/protocol-notes.md,
    /// "PLAIN"): our client must take it as a refusal and not retry.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn they_refuse_a_wrong_password() {
        let push = plain_client(SocketType::Push, "guess");
        let mut monitor = push.monitor();
        let args = [
            format!("--plain-server={USER}:{PASSWORD}"),
            "refused".into(),
            format!("silence:{WATCH_MS}"),
            "count:ACCEPTED:0".into(),
        ];
        let Some(mut peer) = start(&push, Side::Them, "pull", &args).await else {
            return;
        };
        push.send(msg(&["never", "delivered"])).await.unwrap();
        assert_refused_once(&mut monitor).await;
        let refusal = ("HANDSHAKE_FAILED_AUTH".into(), 400);
        assert_eq!(their_failure(&mut peer).await, refusal);
        expect_line(&mut peer, "silence", "nothing at libzmq PULL").await;
        expect_line(&mut peer, "ACCEPTED 1", "libzmq's accepted connections").await;
        peer.finish();
    }

    /// Our PLAIN server refuses a wrong password with a correct ERROR,
    /// which libzmq's client does not parse (it looks for its own
    /// malformed one; 4.3.5 reports HANDSHAKE_FAILED_PROTOCOL,
    /// ZMQ_PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND) but still takes as
    /// final: it does not reconnect.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn we_refuse_a_wrong_password() {
        let pull = plain_server(SocketType::Pull);
        let mut monitor = pull.monitor();
        let args = [
            format!("--plain-client={USER}:guess"),
            format!("send:{}", hex(b"never")),
            "refused".into(),
            format!("count:CONNECTED:{WATCH_MS}"),
        ];
        let Some(mut peer) = start(&pull, Side::Us, "push", &args).await else {
            return;
        };
        let events = our_failure(&mut monitor).await;
        let (reason, _, authentication_failure) = failure(&events);
        assert!(authentication_failure, "not an auth failure: {reason:?}");
        assert!(refused_with_400(&reason), "{reason:?}");
        let (event, _) = their_failure(&mut peer).await;
        assert_ne!(event, "HANDSHAKE_FAILED_NO_DETAIL", "libzmq would retry");
        expect_line(&mut peer, "CONNECTED 1", "libzmq's connections").await;
        peer.finish();
        assert_no_handshake(&events_for(&mut monitor, Duration::from_millis(50)).await);
        assert_nothing_received(&pull);
    }
}

// ---------------------------------------------------------------------------
// CURVE: refusals and the authenticator.

mod curve_auth {
    use super::*;

    /// libzmq's ZAP handler (a ThreadAuthenticator) sees our key and makes
    /// its Z85 the User-Id.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn their_authenticator_accepts_our_key() {
        let push = curve_client(SocketType::Push, client_keys(), SERVER_PUBLIC);
        let args = [
            format!("--curve-server={SERVER_SECRET}"),
            format!("--curve-allow={CLIENT_PUBLIC}"),
            "recv-user:1".into(),
        ];
        let Some(mut peer) = start(&push, Side::Them, "pull", &args).await else {
            return;
        };
        push.send(msg(&["hello", "curve"])).await.unwrap();
        let seen = format!("{CLIENT_PUBLIC} {}", hex_line(&msg(&["hello", "curve"])));
        expect_line(&mut peer, &seen, "at libzmq PULL").await;
        peer.finish();
    }

    /// libzmq's CURVE server sends a well-formed ERROR 400 for a key its
    /// ZAP handler refuses; our client reports it and does not retry.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn their_authenticator_refuses_another_key() {
        let push = curve_client(SocketType::Push, CurveKeyPair::generate(), SERVER_PUBLIC);
        let mut monitor = push.monitor();
        let args = [
            format!("--curve-server={SERVER_SECRET}"),
            format!("--curve-allow={CLIENT_PUBLIC}"),
            "refused".into(),
            format!("silence:{WATCH_MS}"),
            "count:ACCEPTED:0".into(),
        ];
        let Some(mut peer) = start(&push, Side::Them, "pull", &args).await else {
            return;
        };
        push.send(msg(&["never"])).await.unwrap();
        let reason = assert_refused_once(&mut monitor).await;
        assert!(refused_with_400(&reason), "{reason:?}");
        let refusal = ("HANDSHAKE_FAILED_AUTH".into(), 400);
        assert_eq!(their_failure(&mut peer).await, refusal);
        expect_line(&mut peer, "silence", "nothing at libzmq PULL").await;
        expect_line(&mut peer, "ACCEPTED 1", "libzmq's accepted connections").await;
        peer.finish();
    }

    /// Our [`CurveAllowList`] refuses a key it does not list with ERROR
    /// 400, which libzmq reports as an authentication failure and does not
    /// retry.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn our_allow_list_refuses_another_key() {
        let pull = curve_server(SocketType::Pull, Some(CLIENT_PUBLIC));
        let mut monitor = pull.monitor();
        let args = [
            "--curve-client=random".into(),
            format!("--server-key={SERVER_PUBLIC}"),
            format!("send:{}", hex(b"never")),
            "refused".into(),
            format!("count:CONNECTED:{WATCH_MS}"),
        ];
        let Some(mut peer) = start(&pull, Side::Us, "push", &args).await else {
            return;
        };
        let events = our_failure(&mut monitor).await;
        let (reason, _, authentication_failure) = failure(&events);
        assert!(authentication_failure, "not an auth failure: {reason:?}");
        assert!(refused_with_400(&reason), "{reason:?}");
        assert_eq!(
            their_failure(&mut peer).await,
            ("HANDSHAKE_FAILED_AUTH".into(), 400)
        );
        expect_line(&mut peer, "CONNECTED 1", "libzmq's connections").await;
        peer.finish();
        assert_nothing_received(&pull);
    }

    /// Without an authenticator our CURVE server accepts any client key
    /// (libzmq's behaviour without a ZAP handler), with no user id.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn our_server_without_authenticator_accepts_any_key() {
        let pull = curve_server(SocketType::Pull, None);
        let args = [
            "--curve-client=random".into(),
            format!("--server-key={SERVER_PUBLIC}"),
            format!("send:{}", hex_line(&msg(&["anyone", "welcome"]))),
        ];
        let Some(peer) = start(&pull, Side::Us, "push", &args).await else {
            return;
        };
        let (m, user) = recv_with_user(&pull, "any key").await;
        assert_eq!(m, msg(&["anyone", "welcome"]));
        assert_eq!(user, None);
        peer.finish();
    }

    /// A libzmq client that expects another server key: its HELLO box does
    /// not open for us, so the handshake fails and nothing is delivered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn their_client_with_the_wrong_server_key_is_refused() {
        let pull = curve_server(SocketType::Pull, None);
        let mut monitor = pull.monitor();
        let args = [
            format!("--curve-client={CLIENT_SECRET}"),
            format!("--server-key={CLIENT_PUBLIC}"),
            format!("send:{}", hex(b"never")),
            "refused".into(),
        ];
        let Some(mut peer) = start(&pull, Side::Us, "push", &args).await else {
            return;
        };
        // A box that does not open is a protocol error, not refused
        // credentials (libzmq's server reports HANDSHAKE_FAILED_PROTOCOL,
        // ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC, for it).
        let (reason, _, authentication_failure) = failure(&our_failure(&mut monitor).await);
        assert!(!authentication_failure, "{reason:?}");
        their_failure(&mut peer).await;
        peer.finish();
        // libzmq retried meanwhile (a closed connection means "retry"):
        // each attempt failed the same way.
        assert_no_handshake(&events_for(&mut monitor, Duration::from_millis(50)).await);
        assert_nothing_received(&pull);
    }

    /// Our client expecting another server key: libzmq cannot open our
    /// HELLO and closes; we report the failure (and retry, as libzmq's
    /// client would), and nothing is delivered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn our_client_with_the_wrong_server_key_is_refused() {
        let push = curve_client(SocketType::Push, client_keys(), CLIENT_PUBLIC);
        let mut monitor = push.monitor();
        let args = [
            format!("--curve-server={SERVER_SECRET}"),
            "refused".into(),
            format!("silence:{WATCH_MS}"),
        ];
        let Some(mut peer) = start(&push, Side::Them, "pull", &args).await else {
            return;
        };
        push.send(msg(&["never"])).await.unwrap();
        let events = our_failure(&mut monitor).await;
        let (reason, _, authentication_failure) = failure(&events);
        assert!(
            !authentication_failure,
            "no credentials were refused: {reason:?}"
        );
        their_failure(&mut peer).await;
        expect_line(&mut peer, "silence", "nothing at libzmq PULL").await;
        peer.finish();
        assert_no_handshake(&events_for(&mut monitor, Duration::from_millis(50)).await);
    }
}

// ---------------------------------------------------------------------------
// CURVE: the socket pairs, with each side as server, either side binding.

/// One cell of the CURVE matrix.
#[derive(Clone, Copy)]
struct Case {
    /// Who is the CURVE server.
    server: Side,
    /// Who binds.
    binder: Side,
}

impl Case {
    /// Our socket, with our half of the CURVE roles; as the server, we
    /// allow the standard client key only.
    fn socket(&self, socket_type: SocketType, routing_id: &str) -> Socket {
        socket(socket_type, |o| {
            o.routing_id = Bytes::copy_from_slice(routing_id.as_bytes());
            match self.server {
                Side::Us => curve_server_options(o, Some(CLIENT_PUBLIC)),
                Side::Them => {
                    o.security = Security::CurveClient {
                        keys: client_keys(),
                        server_key: public(SERVER_PUBLIC),
                    };
                }
            }
        })
    }

    /// Starts the peer with the other half of the roles.
    async fn start(&self, ours: &Socket, their_type: &str, args: &[String]) -> Option<Peer> {
        let mut argv = match self.server {
            Side::Us => vec![
                format!("--curve-client={CLIENT_SECRET}"),
                format!("--server-key={SERVER_PUBLIC}"),
            ],
            Side::Them => vec![format!("--curve-server={SERVER_SECRET}")],
        };
        argv.extend(args.iter().cloned());
        start(ours, self.binder, their_type, &argv).await
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CURVE, {} serves, {} binds", self.server, self.binder)
    }
}

/// Four tests per pair: either side the CURVE server, either side binding.
macro_rules! matrix {
    ($($pair:ident),* $(,)?) => {$(
        mod $pair {
            use super::{Case, Side};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn we_serve_we_bind() {
                super::$pair(Case { server: Side::Us, binder: Side::Us }).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn we_serve_they_bind() {
                super::$pair(Case { server: Side::Us, binder: Side::Them }).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn they_serve_we_bind() {
                super::$pair(Case { server: Side::Them, binder: Side::Us }).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn they_serve_they_bind() {
                super::$pair(Case { server: Side::Them, binder: Side::Them }).await;
            }
        }
    )*};
}

matrix!(
    push_to_pyzmq_pull,
    pyzmq_push_to_pull,
    req_to_pyzmq_rep,
    pyzmq_req_to_rep,
    dealer_to_pyzmq_router,
    pyzmq_dealer_to_router,
    pub_to_pyzmq_sub,
    pub_to_pyzmq_xsub,
    pyzmq_pub_to_sub,
);

async fn push_to_pyzmq_pull(case: Case) {
    let ctx = case.to_string();
    let push = case.socket(SocketType::Push, "");
    let n = traffic().len();
    let Some(mut peer) = case.start(&push, "pull", &[format!("recv:{n}")]).await else {
        return;
    };
    for m in traffic() {
        send(&push, m, &ctx).await;
    }
    // Closing lingers (forever, by default) until the queue is delivered.
    timeout(WAIT, push.close())
        .await
        .unwrap_or_else(|_| panic!("{ctx}: close did not finish"));
    for (i, m) in traffic().iter().enumerate() {
        let what = format!("{ctx}: message {i} at libzmq PULL");
        expect_line(&mut peer, &show_line(m), &what).await;
    }
    peer.finish();
}

async fn pyzmq_push_to_pull(case: Case) {
    let ctx = case.to_string();
    let pull = case.socket(SocketType::Pull, "");
    let args: Vec<String> = traffic().iter().map(send_action).collect();
    let Some(peer) = case.start(&pull, "push", &args).await else {
        return;
    };
    for (i, expected) in traffic().iter().enumerate() {
        let (got, user) = recv_with_user(&pull, &ctx).await;
        assert!(got == *expected, "{ctx}: message {i}: {}", show_line(&got));
        // Our allow list names the client by its key.
        let user_id =
            (case.server == Side::Us).then(|| Bytes::from_static(CLIENT_PUBLIC.as_bytes()));
        assert_eq!(user, user_id, "{ctx}: user id");
    }
    peer.finish();
}

async fn req_to_pyzmq_rep(case: Case) {
    let ctx = case.to_string();
    let req = case.socket(SocketType::Req, "");
    let Some(mut peer) = case.start(&req, "rep", &["echo:3".into()]).await else {
        return;
    };
    for i in 0..3 {
        let request = msg(&["request", &i.to_string(), ""]);
        send(&req, request.clone(), &ctx).await;
        expect_line(&mut peer, &hex_line(&request), "request at libzmq REP").await;
        assert_eq!(recv(&req, &ctx).await, request, "{ctx}: reply {i}");
    }
    peer.finish();
}

async fn pyzmq_req_to_rep(case: Case) {
    let ctx = case.to_string();
    let rep = case.socket(SocketType::Rep, "");
    let mut args = Vec::new();
    for i in 0..3 {
        args.push(send_action(&msg(&["request", &i.to_string()])));
        args.push("recv:1".into());
    }
    let Some(mut peer) = case.start(&rep, "req", &args).await else {
        return;
    };
    for i in 0..3 {
        let request = recv(&rep, &ctx).await;
        assert_eq!(request, msg(&["request", &i.to_string()]), "{ctx}");
        let reply = msg(&["reply", &i.to_string()]);
        send(&rep, reply.clone(), &ctx).await;
        expect_line(&mut peer, &hex_line(&reply), "reply at libzmq REQ").await;
    }
    peer.finish();
}

async fn dealer_to_pyzmq_router(case: Case) {
    let ctx = case.to_string();
    let dealer = case.socket(SocketType::Dealer, "rs-dealer");
    let n = traffic().len();
    let Some(mut peer) = case.start(&dealer, "router", &[format!("echo:{n}")]).await else {
        return;
    };
    for m in traffic() {
        send(&dealer, m, &ctx).await;
    }
    for (i, m) in traffic().iter().enumerate() {
        // Our routing id reached libzmq in the encrypted handshake metadata.
        let seen = prefixed(&[b"rs-dealer"], m);
        let what = format!("{ctx}: message {i} at libzmq ROUTER");
        expect_line(&mut peer, &show_line(&seen), &what).await;
        let got = recv(&dealer, &ctx).await;
        assert!(got == *m, "{ctx}: echo of {i}: {}", show_line(&got));
    }
    peer.finish();
}

async fn pyzmq_dealer_to_router(case: Case) {
    let ctx = case.to_string();
    let router = case.socket(SocketType::Router, "");
    let n = traffic().len();
    let mut args = vec![format!("--routing-id={}", hex(b"py-dealer"))];
    args.extend(traffic().iter().map(send_action));
    args.push(format!("recv:{n}"));
    let Some(mut peer) = case.start(&router, "dealer", &args).await else {
        return;
    };
    for (i, m) in traffic().iter().enumerate() {
        let got = recv(&router, &ctx).await;
        let expected = prefixed(&[b"py-dealer"], m);
        assert!(got == expected, "{ctx}: message {i}: {}", show_line(&got));
        send(&router, got, &ctx).await;
    }
    for (i, m) in traffic().iter().enumerate() {
        let what = format!("{ctx}: echo of {i} at libzmq DEALER");
        expect_line(&mut peer, &show_line(m), &what).await;
    }
    assert_eq!(router.stats().dropped_unroutable, 0, "{ctx}");
    peer.finish();
}

// PUB/SUB: the subscriptions travel inside MESSAGE commands (inner flags
// 0x02). A non-matching message goes right before a matching one on the
// same link; receiving the matching one first proves the other was held
// back.

/// libzmq's SUB subscribes with a SUBSCRIBE command inside MESSAGE; until
/// we have decoded it, nothing reaches it.
async fn pub_to_pyzmq_sub(case: Case) {
    let ctx = case.to_string();
    let publisher = case.socket(SocketType::Pub, "");
    let args = [
        format!("sub:{}", hex(TOPIC.as_bytes())),
        format!("warmup:{}", hex(WARM.as_bytes())),
        "recv:1".into(),
    ];
    let Some(mut peer) = case.start(&publisher, "sub", &args).await else {
        return;
    };
    publish_cold_then_hot(&publisher, &mut peer, &ctx).await;
    peer.finish();
}

/// libzmq's SUB filters what it receives, so only an XSUB shows what our
/// PUB let through. Its subscription is made before the link exists, so
/// libzmq replays it as a SUBSCRIBE command (inside MESSAGE) after the
/// handshake.
async fn pub_to_pyzmq_xsub(case: Case) {
    let ctx = case.to_string();
    let publisher = case.socket(SocketType::Pub, "");
    let args = [
        format!("--early-sub={}", hex(TOPIC.as_bytes())),
        format!("warmup:{}", hex(WARM.as_bytes())),
        "recv:1".into(),
    ];
    let Some(mut peer) = case.start(&publisher, "xsub", &args).await else {
        return;
    };
    // XSUB does not filter: only our PUB can have held `cold` back.
    publish_cold_then_hot(&publisher, &mut peer, &ctx).await;
    peer.finish();
}

async fn pyzmq_pub_to_sub(case: Case) {
    let ctx = case.to_string();
    let sub = case.socket(SocketType::Sub, "");
    sub.subscribe(TOPIC).unwrap();
    let args = [
        format!("publish-until-told:{}", hex(WARM.as_bytes())),
        send_action(&cold()),
        send_action(&hot()),
    ];
    let Some(mut peer) = case.start(&sub, "pub", &args).await else {
        return;
    };
    // libzmq publishes nothing to us before our subscription arrives.
    assert_eq!(recv(&sub, &ctx).await, msg(&[WARM]), "{ctx}");
    peer.tell("stop");
    let got = loop {
        let m = recv(&sub, &ctx).await;
        if m.frames()[0][..] != *WARM.as_bytes() {
            break m;
        }
    };
    assert_eq!(got, hot(), "{ctx}: first message after warm-up");
    // libzmq filtered by our subscription; our own filter had nothing to do.
    assert_eq!(sub.stats().dropped_inbound, 0, "{ctx}");
    peer.finish();
}
