//! The socket matrix against real libzmq: every compatible pair of socket
//! types, with one side ours ([`Socket`]) and the other a pyzmq socket in a
//! child process (`tests/peers/socket_peer.py`), over tcp and ipc, with
//! either side binding.
//!
//! Each pair is an `async fn` below; [`matrix!`] turns it into four tests,
//! `<pair>::{tcp,ipc}_{we_bind,they_bind}`, so a failure names the pair, the
//! transport and the direction. Data shapes (multipart, empty frames, the
//! 255/256-byte size boundary, a 3 MiB frame) go both ways through
//! PUSH/PULL and DEALER/ROUTER; ROUTER ids are checked both ways; PUB/SUB
//! filtering is checked against libzmq SUB, XSUB and XPUB, synchronised on
//! the subscription itself (never by sleeping).

#![allow(clippy::unwrap_used)]

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::time::timeout;
use zmtp_tests::{
    BIG_FRAME, Peer, TOPIC, WAIT, WARM, cold, hex, hex_line, hot, msg, pattern, prefixed,
    publish_cold_then_hot, recv, send, show_line,
};
use zmtp_transport::{Message, Monitor, MonitorEvent, Options, Socket, SocketType};

// ---------------------------------------------------------------------------
// The matrix: which side binds, over which transport.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Tcp,
    Ipc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Binder {
    /// Our socket binds, the pyzmq socket connects.
    Us,
    /// The pyzmq socket binds, ours connects.
    Them,
}

/// One cell of the matrix; owns the directory for ipc socket files.
struct Case {
    transport: Transport,
    binder: Binder,
    dir: Option<PathBuf>,
}

impl Case {
    fn new(transport: Transport, binder: Binder) -> Case {
        let dir = (transport == Transport::Ipc).then(|| {
            static N: AtomicU64 = AtomicU64::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            // /tmp rather than $TMPDIR: a Unix socket path has 107 bytes.
            let dir =
                PathBuf::from("/tmp").join(format!("zmtp-sockets-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            dir
        });
        Case {
            transport,
            binder,
            dir,
        }
    }

    /// Where the binding side binds: `tcp://127.0.0.1:*` for us,
    /// `tcp://127.0.0.1` for pyzmq (which picks a random port), or a socket
    /// file in this case's directory.
    fn bind_address(&self, who: &str) -> String {
        match (self.transport, &self.dir) {
            (Transport::Ipc, Some(dir)) => format!("ipc://{}/{who}.sock", dir.display()),
            _ if who == "rs" => "tcp://127.0.0.1:*".into(),
            _ => "tcp://127.0.0.1".into(),
        }
    }

    /// Binds or connects `ours` and starts the pyzmq peer of type
    /// `their_type` the other way round, with `args` (options and actions,
    /// see socket_peer.py). `None`: pyzmq is missing and not required.
    async fn start(&self, ours: &Socket, their_type: &str, args: &[String]) -> Option<Peer> {
        let mut argv: Vec<String> = vec![their_type.into()];
        match self.binder {
            Binder::Us => {
                let endpoint = ours.bind(&self.bind_address("rs")).await.unwrap();
                argv.extend(["connect".into(), endpoint.to_string()]);
            }
            Binder::Them => argv.extend(["bind".into(), self.bind_address("py")]),
        }
        argv.extend(args.iter().cloned());
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut peer = Peer::spawn_interactive("socket_peer.py", &argv)?;
        if self.binder == Binder::Them {
            let endpoint = line(&mut peer, self, "its bound endpoint").await;
            ours.connect(&endpoint)
                .await
                .unwrap_or_else(|e| panic!("{self}: connect to {endpoint}: {e}"));
        }
        Some(peer)
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let transport = match self.transport {
            Transport::Tcp => "tcp",
            Transport::Ipc => "ipc",
        };
        let binder = match self.binder {
            Binder::Us => "we bind",
            Binder::Them => "pyzmq binds",
        };
        write!(f, "{transport}, {binder}")
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Four tests per pair: both transports, both binding sides.
macro_rules! matrix {
    ($($pair:ident),* $(,)?) => {$(
        mod $pair {
            use super::{Binder, Case, Transport};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn tcp_we_bind() {
                super::$pair(Case::new(Transport::Tcp, Binder::Us)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn tcp_they_bind() {
                super::$pair(Case::new(Transport::Tcp, Binder::Them)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn ipc_we_bind() {
                super::$pair(Case::new(Transport::Ipc, Binder::Us)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn ipc_they_bind() {
                super::$pair(Case::new(Transport::Ipc, Binder::Them)).await;
            }
        }
    )*};
}

matrix!(
    push_to_pyzmq_pull,
    pyzmq_push_to_pull,
    req_to_pyzmq_rep,
    pyzmq_req_to_rep,
    req_to_pyzmq_router,
    pyzmq_req_to_router,
    dealer_to_pyzmq_rep,
    pyzmq_dealer_to_rep,
    dealer_to_pyzmq_router,
    pyzmq_dealer_to_router,
    dealer_with_pyzmq_dealer,
    router_with_pyzmq_router,
    pair_with_pyzmq_pair,
    pub_to_pyzmq_sub,
    pyzmq_pub_to_sub,
    xpub_to_pyzmq_sub,
    pyzmq_xpub_to_sub,
    pub_to_pyzmq_xsub,
    pyzmq_pub_to_xsub,
    xpub_to_pyzmq_xsub,
    pyzmq_xpub_to_xsub,
);

// ---------------------------------------------------------------------------
// Messages and how the peer prints them.

/// The shape messages, as `shapes` in the peer: one frame, multipart, an
/// empty frame alone and among others, 255 and 256 bytes (the last short
/// and first long size), a mix, a 3 MiB frame, a multipart message with a
/// 70000-byte frame, and one more after the big ones.
fn shapes() -> Vec<Message> {
    let frames = |fs: Vec<Bytes>| fs.into_iter().collect::<Message>();
    let b = |byte: u8, n: usize| Bytes::from(vec![byte; n]);
    let s = Bytes::from_static;
    vec![
        frames(vec![s(b"hello")]),
        frames(vec![s(b"multi"), s(b"part"), s(b"message")]),
        frames(vec![Bytes::new()]),
        frames(vec![Bytes::new(), Bytes::new(), s(b"middle"), Bytes::new()]),
        frames(vec![b(0xab, 255)]),
        frames(vec![b(0xcd, 256)]),
        frames(vec![b(1, 255), b(2, 256), Bytes::new(), b(3, 257)]),
        frames(vec![pattern(BIG_FRAME)]),
        frames(vec![s(b"after"), pattern(70000), s(b"big")]),
        frames(vec![s(b"last")]),
    ]
}

/// A `send:` action for the peer.
fn send_action(m: &Message) -> String {
    format!("send:{}", hex_line(m))
}

// ---------------------------------------------------------------------------
// Waiting on our socket and on the peer.

/// The peer's next output line. The peer bounds every wait, so this ends:
/// with the line, or with a panic when the peer gave up (its reason is on
/// stderr) and exited.
async fn line(peer: &mut Peer, case: &Case, what: &str) -> String {
    peer.wait_line(format_args!("{case}: {what}"))
}

async fn expect_line(peer: &mut Peer, expected: &Message, case: &Case, what: &str) {
    let got = line(peer, case, what).await;
    assert_eq!(got, show_line(expected), "{case}: {what}");
}

/// Waits for our socket's first completed handshake.
async fn handshake(monitor: &mut Monitor, case: &Case) {
    timeout(WAIT, async {
        while let Some(event) = monitor.next().await {
            if matches!(event, MonitorEvent::HandshakeSucceeded { .. }) {
                return;
            }
        }
        panic!("{case}: monitor ended");
    })
    .await
    .unwrap_or_else(|_| panic!("{case}: no handshake"));
}

fn with_routing_id(socket_type: SocketType, id: &str) -> Socket {
    let mut options = Options::new(socket_type);
    options.routing_id = Bytes::copy_from_slice(id.as_bytes());
    Socket::with_options(socket_type, options)
}

/// Receives, skipping messages whose first frame is `skip`.
async fn recv_skipping(s: &Socket, skip: &[u8], case: &Case) -> Message {
    loop {
        let m = recv(s, case).await;
        if m.frames()[0][..] != *skip {
            return m;
        }
    }
}

// ---------------------------------------------------------------------------
// PUSH / PULL

async fn push_to_pyzmq_pull(case: Case) {
    let push = Socket::new(SocketType::Push);
    let n = shapes().len();
    let Some(mut peer) = case.start(&push, "pull", &[format!("recv:{n}")]).await else {
        return;
    };
    for m in shapes() {
        send(&push, m, &case).await;
    }
    // Closing lingers (forever, by default) until the queue is delivered.
    timeout(WAIT, push.close())
        .await
        .unwrap_or_else(|_| panic!("{case}: close did not finish"));
    for (i, m) in shapes().iter().enumerate() {
        expect_line(&mut peer, m, &case, &format!("shape {i} at libzmq PULL")).await;
    }
    peer.finish();
}

async fn pyzmq_push_to_pull(case: Case) {
    let pull = Socket::new(SocketType::Pull);
    let Some(peer) = case.start(&pull, "push", &["shapes".into()]).await else {
        return;
    };
    for (i, expected) in shapes().iter().enumerate() {
        let got = recv(&pull, &case).await;
        assert!(
            got == *expected,
            "{case}: shape {i}: got {}",
            show_line(&got)
        );
    }
    peer.finish();
}

// ---------------------------------------------------------------------------
// REQ / REP / ROUTER / DEALER

async fn req_to_pyzmq_rep(case: Case) {
    let req = Socket::new(SocketType::Req);
    let Some(mut peer) = case.start(&req, "rep", &["echo:3".into()]).await else {
        return;
    };
    for i in 0..3 {
        let request = msg(&["request", &i.to_string(), ""]);
        send(&req, request.clone(), &case).await;
        // libzmq REP strips the envelope: it sees the body alone.
        expect_line(&mut peer, &request, &case, "request at libzmq REP").await;
        assert_eq!(recv(&req, &case).await, request, "{case}: reply {i}");
    }
    peer.finish();
}

async fn pyzmq_req_to_rep(case: Case) {
    let rep = Socket::new(SocketType::Rep);
    let mut args = Vec::new();
    for i in 0..3 {
        args.push(send_action(&msg(&["request", &i.to_string()])));
        args.push("recv:1".into());
    }
    let Some(mut peer) = case.start(&rep, "req", &args).await else {
        return;
    };
    for i in 0..3 {
        let request = recv(&rep, &case).await;
        assert_eq!(request, msg(&["request", &i.to_string()]), "{case}");
        let reply = msg(&["reply", &i.to_string()]);
        send(&rep, reply.clone(), &case).await;
        expect_line(&mut peer, &reply, &case, "reply at libzmq REQ").await;
    }
    peer.finish();
}

async fn req_to_pyzmq_router(case: Case) {
    let req = with_routing_id(SocketType::Req, "rs-req");
    let Some(mut peer) = case.start(&req, "router", &["echo:2".into()]).await else {
        return;
    };
    for i in 0..2 {
        let request = msg(&["request", &i.to_string()]);
        send(&req, request.clone(), &case).await;
        // The ROUTER sees our routing id and REQ's empty delimiter.
        let seen = prefixed(&[b"rs-req", b""], &request);
        expect_line(&mut peer, &seen, &case, "request at libzmq ROUTER").await;
        assert_eq!(recv(&req, &case).await, request, "{case}: reply {i}");
    }
    peer.finish();
}

async fn pyzmq_req_to_router(case: Case) {
    let router = Socket::new(SocketType::Router);
    let request = msg(&["request"]);
    let args = [send_action(&request), "recv:1".into()];
    let Some(mut peer) = case.start(&router, "req", &args).await else {
        return;
    };
    let got = recv(&router, &case).await;
    // No ZMQ_ROUTING_ID at the REQ: we make one up, libzmq's way.
    let id = got.frames()[0].clone();
    assert_eq!(id.len(), 5, "{case}: generated id {id:?}");
    assert_eq!(id[0], 0, "{case}: generated id {id:?}");
    assert_eq!(got, prefixed(&[&id[..], b""], &request), "{case}");
    let reply = msg(&["reply"]);
    send(&router, prefixed(&[&id[..], b""], &reply), &case).await;
    expect_line(&mut peer, &reply, &case, "reply at libzmq REQ").await;
    peer.finish();
}

async fn dealer_to_pyzmq_rep(case: Case) {
    let dealer = Socket::new(SocketType::Dealer);
    let Some(mut peer) = case.start(&dealer, "rep", &["echo:2".into()]).await else {
        return;
    };
    for i in 0..2 {
        // A DEALER adds the delimiter a REQ would add itself.
        let body = msg(&["request", &i.to_string()]);
        send(&dealer, prefixed(&[b""], &body), &case).await;
        expect_line(&mut peer, &body, &case, "request at libzmq REP").await;
        let reply = recv(&dealer, &case).await;
        assert_eq!(reply, prefixed(&[b""], &body), "{case}: reply {i}");
    }
    peer.finish();
}

async fn pyzmq_dealer_to_rep(case: Case) {
    let rep = Socket::new(SocketType::Rep);
    // A plain delimiter, then a two-hop envelope as a proxy would make it:
    // REP keeps everything up to the delimiter and puts it on the reply.
    let requests = [
        (prefixed(&[b""], &msg(&["request"])), &[&b""[..]][..]),
        (
            prefixed(&[b"hop", b""], &msg(&["again"])),
            &[&b"hop"[..], b""][..],
        ),
    ];
    let mut args = Vec::new();
    for (request, _) in &requests {
        args.push(send_action(request));
        args.push("recv:1".into());
    }
    let Some(mut peer) = case.start(&rep, "dealer", &args).await else {
        return;
    };
    for (i, (request, envelope)) in requests.iter().enumerate() {
        let body: Message = request.frames()[envelope.len()..].iter().cloned().collect();
        assert_eq!(recv(&rep, &case).await, body, "{case}: request {i}");
        let reply = msg(&["reply", &i.to_string()]);
        send(&rep, reply.clone(), &case).await;
        let seen = prefixed(envelope, &reply);
        expect_line(&mut peer, &seen, &case, "reply at libzmq DEALER").await;
    }
    peer.finish();
}

async fn dealer_to_pyzmq_router(case: Case) {
    let dealer = with_routing_id(SocketType::Dealer, "rs-dealer");
    let n = shapes().len();
    let Some(mut peer) = case.start(&dealer, "router", &[format!("echo:{n}")]).await else {
        return;
    };
    for m in shapes() {
        send(&dealer, m, &case).await;
    }
    for (i, m) in shapes().iter().enumerate() {
        // libzmq's ROUTER puts our ZMQ_ROUTING_ID in front...
        let seen = prefixed(&[b"rs-dealer"], m);
        expect_line(
            &mut peer,
            &seen,
            &case,
            &format!("shape {i} at libzmq ROUTER"),
        )
        .await;
        // ...and routes the echo back by it.
        let got = recv(&dealer, &case).await;
        assert!(
            got == *m,
            "{case}: echo of shape {i}: got {}",
            show_line(&got)
        );
    }
    peer.finish();
}

async fn pyzmq_dealer_to_router(case: Case) {
    let router = Socket::new(SocketType::Router);
    let n = shapes().len();
    let args = [
        format!("--routing-id={}", hex(b"py-dealer")),
        "shapes".into(),
        format!("recv:{n}"),
    ];
    let Some(mut peer) = case.start(&router, "dealer", &args).await else {
        return;
    };
    for (i, m) in shapes().iter().enumerate() {
        let got = recv(&router, &case).await;
        // The peer's ZMQ_ROUTING_ID is its routing id here.
        let expected = prefixed(&[b"py-dealer"], m);
        assert!(
            got == expected,
            "{case}: shape {i}: got {}",
            show_line(&got)
        );
        send(&router, got, &case).await;
    }
    for (i, m) in shapes().iter().enumerate() {
        expect_line(
            &mut peer,
            m,
            &case,
            &format!("echo of shape {i} at libzmq DEALER"),
        )
        .await;
    }
    peer.finish();
}

async fn dealer_with_pyzmq_dealer(case: Case) {
    let dealer = Socket::new(SocketType::Dealer);
    let from_them = msg(&["from", "pyzmq"]);
    let args = [send_action(&from_them), "echo:3".into()];
    let Some(mut peer) = case.start(&dealer, "dealer", &args).await else {
        return;
    };
    assert_eq!(recv(&dealer, &case).await, from_them, "{case}");
    let ours = [msg(&["one"]), msg(&["", "two", ""]), msg(&["three", "3"])];
    for m in &ours {
        send(&dealer, m.clone(), &case).await;
    }
    for m in &ours {
        expect_line(&mut peer, m, &case, "at libzmq DEALER").await;
        assert_eq!(recv(&dealer, &case).await, *m, "{case}: echo");
    }
    peer.finish();
}

/// Both ROUTERs have routing ids; the connecting side speaks first, as it
/// learns the bound side's id from the handshake.
async fn router_with_pyzmq_router(case: Case) {
    let router = with_routing_id(SocketType::Router, "rs-router");
    let mut monitor = router.monitor();
    let hello = msg(&["hello", "router"]);
    let reply = msg(&["hi", "router"]);
    let mut args = vec![format!("--routing-id={}", hex(b"py-router"))];
    if case.binder == Binder::Us {
        // pyzmq connects and sends first (retrying while our id is unknown).
        args.push(send_action(&prefixed(&[b"rs-router"], &hello)));
        args.push("recv:1".into());
    } else {
        args.push("echo:1".into());
    }
    let Some(mut peer) = case.start(&router, "router", &args).await else {
        return;
    };
    if case.binder == Binder::Us {
        let got = recv(&router, &case).await;
        assert_eq!(got, prefixed(&[b"py-router"], &hello), "{case}");
        send(&router, prefixed(&[b"py-router"], &reply), &case).await;
        let seen = prefixed(&[b"rs-router"], &reply);
        expect_line(&mut peer, &seen, &case, "reply at libzmq ROUTER").await;
    } else {
        // We connect: once the handshake is done we know the peer's id.
        handshake(&mut monitor, &case).await;
        send(&router, prefixed(&[b"py-router"], &hello), &case).await;
        let seen = prefixed(&[b"rs-router"], &hello);
        expect_line(&mut peer, &seen, &case, "at libzmq ROUTER").await;
        let got = recv(&router, &case).await;
        assert_eq!(got, prefixed(&[b"py-router"], &hello), "{case}: echo");
    }
    assert_eq!(router.stats().dropped_unroutable, 0, "{case}");
    peer.finish();
}

// ---------------------------------------------------------------------------
// PAIR

async fn pair_with_pyzmq_pair(case: Case) {
    let pair = Socket::new(SocketType::Pair);
    let from_them = msg(&["from", "pyzmq", ""]);
    let args = [send_action(&from_them), "echo:2".into()];
    let Some(mut peer) = case.start(&pair, "pair", &args).await else {
        return;
    };
    assert_eq!(recv(&pair, &case).await, from_them, "{case}");
    let ours = [msg(&["one"]), msg(&["two", "parts"])];
    for m in &ours {
        send(&pair, m.clone(), &case).await;
    }
    for m in &ours {
        expect_line(&mut peer, m, &case, "at libzmq PAIR").await;
        assert_eq!(recv(&pair, &case).await, *m, "{case}: echo");
    }
    peer.finish();
}

// ---------------------------------------------------------------------------
// PUB / SUB / XPUB / XSUB. Every case sends a non-matching message right
// before a matching one on the same link; receiving the matching one first
// proves the other was not delivered.

fn subscription(subscribe: bool, topic: &str) -> Message {
    let mut body = vec![u8::from(subscribe)];
    body.extend_from_slice(topic.as_bytes());
    Message::from(body)
}

async fn pub_to_pyzmq_sub(case: Case) {
    let publisher = Socket::new(SocketType::Pub);
    let args = [
        format!("sub:{}", hex(TOPIC.as_bytes())),
        format!("warmup:{}", hex(WARM.as_bytes())),
        "recv:1".into(),
    ];
    let Some(mut peer) = case.start(&publisher, "sub", &args).await else {
        return;
    };
    // Slow joiner: publish until libzmq's SUBSCRIBE command has reached us
    // and a message got through.
    publish_cold_then_hot(&publisher, &mut peer, &case).await;
    peer.finish();
}

async fn pyzmq_pub_to_sub(case: Case) {
    let sub = Socket::new(SocketType::Sub);
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
    assert_eq!(recv(&sub, &case).await, msg(&[WARM]), "{case}");
    peer.tell("stop");
    let got = recv_skipping(&sub, WARM.as_bytes(), &case).await;
    assert_eq!(got, hot(), "{case}: first message after warm-up");
    // libzmq filtered by our subscription; our own filter had nothing to do.
    assert_eq!(sub.stats().dropped_inbound, 0, "{case}");
    peer.finish();
}

async fn xpub_to_pyzmq_sub(case: Case) {
    let xpub = Socket::new(SocketType::Xpub);
    let args = [
        format!("sub:{}", hex(TOPIC.as_bytes())),
        "recv:1".into(),
        format!("unsub:{}", hex(TOPIC.as_bytes())),
        "sub:".into(),
        "wait".into(),
    ];
    let Some(mut peer) = case.start(&xpub, "sub", &args).await else {
        return;
    };
    // libzmq sends a SUBSCRIBE command; we show it in the 3.0 form.
    assert_eq!(
        recv(&xpub, &case).await,
        subscription(true, TOPIC),
        "{case}"
    );
    send(&xpub, cold(), &case).await;
    send(&xpub, hot(), &case).await;
    expect_line(&mut peer, &hot(), &case, "at libzmq SUB").await;
    // The CANCEL command, while the peer is still connected...
    let cancel = recv(&xpub, &case).await;
    assert_eq!(cancel, subscription(false, TOPIC), "{case}");
    // ...then the empty topic, which the peer leaves without cancelling:
    // the XPUB makes the cancel up itself when the link goes.
    assert_eq!(recv(&xpub, &case).await, subscription(true, ""), "{case}");
    peer.tell("done");
    peer.finish();
    let cancel = recv(&xpub, &case).await;
    assert_eq!(cancel, subscription(false, ""), "{case}: cancel on leaving");
}

async fn pyzmq_xpub_to_sub(case: Case) {
    let sub = Socket::new(SocketType::Sub);
    sub.subscribe(TOPIC).unwrap();
    let args = [
        "recv:1".into(),
        send_action(&cold()),
        send_action(&hot()),
        "recv:3".into(),
    ];
    let Some(mut peer) = case.start(&sub, "xpub", &args).await else {
        return;
    };
    // Our SUBSCRIBE command, as libzmq's XPUB shows it.
    let seen = subscription(true, TOPIC);
    expect_line(&mut peer, &seen, &case, "subscription at libzmq XPUB").await;
    assert_eq!(recv(&sub, &case).await, hot(), "{case}");
    assert_eq!(sub.stats().dropped_inbound, 0, "{case}: filtered by libzmq");
    // A subscription made on a live link, then a cancel.
    sub.subscribe("weather.").unwrap();
    let seen = subscription(true, "weather.");
    expect_line(&mut peer, &seen, &case, "late subscription at libzmq XPUB").await;
    sub.unsubscribe(TOPIC).unwrap();
    let seen = subscription(false, TOPIC);
    expect_line(&mut peer, &seen, &case, "cancel at libzmq XPUB").await;
    // The empty topic: a SUBSCRIBE command with nothing after the name.
    sub.subscribe("").unwrap();
    let seen = subscription(true, "");
    expect_line(&mut peer, &seen, &case, "empty topic at libzmq XPUB").await;
    peer.finish();
}

async fn pub_to_pyzmq_xsub(case: Case) {
    let publisher = Socket::new(SocketType::Pub);
    let args = [
        "handshake".into(),
        format!("sub:{}", hex(TOPIC.as_bytes())),
        format!("warmup:{}", hex(WARM.as_bytes())),
        "recv:1".into(),
    ];
    let Some(mut peer) = case.start(&publisher, "xsub", &args).await else {
        return;
    };
    // On a live link libzmq's XSUB sends `\x01news.` as a data frame, not
    // a command.
    // XSUB does not filter: only our PUB can have held `cold` back.
    publish_cold_then_hot(&publisher, &mut peer, &case).await;
    peer.finish();
}

async fn pyzmq_pub_to_xsub(case: Case) {
    let xsub = Socket::new(SocketType::Xsub);
    let mut monitor = xsub.monitor();
    let args = [
        format!("publish-until-told:{}", hex(WARM.as_bytes())),
        send_action(&cold()),
        send_action(&hot()),
    ];
    let Some(mut peer) = case.start(&xsub, "pub", &args).await else {
        return;
    };
    // Subscribing the XSUB way, by sending, on the live link (SUB above
    // tests the replay after the handshake); we turn it into a command.
    handshake(&mut monitor, &case).await;
    send(&xsub, subscription(true, TOPIC), &case).await;
    assert_eq!(recv(&xsub, &case).await, msg(&[WARM]), "{case}");
    peer.tell("stop");
    // Our XSUB does not filter: libzmq's PUB must have held `cold` back.
    let got = recv_skipping(&xsub, WARM.as_bytes(), &case).await;
    assert_eq!(got, hot(), "{case}: first message after warm-up");
    peer.finish();
}

async fn xpub_to_pyzmq_xsub(case: Case) {
    let xpub = Socket::new(SocketType::Xpub);
    let upstream = msg(&["upstream", "data"]);
    let args = [
        "handshake".into(),
        format!("sub:{}", hex(TOPIC.as_bytes())),
        "recv:1".into(),
        send_action(&upstream),
        format!("unsub:{}", hex(TOPIC.as_bytes())),
        "wait".into(),
    ];
    let Some(mut peer) = case.start(&xpub, "xsub", &args).await else {
        return;
    };
    // A data frame on the live link (see `pub_to_pyzmq_xsub`).
    assert_eq!(
        recv(&xpub, &case).await,
        subscription(true, TOPIC),
        "{case}"
    );
    send(&xpub, cold(), &case).await;
    send(&xpub, hot(), &case).await;
    // XSUB does not filter: only our XPUB can have held `cold` back.
    expect_line(&mut peer, &hot(), &case, "at libzmq XSUB").await;
    // Other data from an XSUB reaches the XPUB application as is.
    assert_eq!(recv(&xpub, &case).await, upstream, "{case}");
    let cancel = recv(&xpub, &case).await;
    assert_eq!(cancel, subscription(false, TOPIC), "{case}");
    peer.tell("done");
    peer.finish();
}

async fn pyzmq_xpub_to_xsub(case: Case) {
    let xsub = Socket::new(SocketType::Xsub);
    let upstream = msg(&["upstream", "data"]);
    let args = [
        "recv:1".into(),
        send_action(&cold()),
        send_action(&hot()),
        "recv:2".into(),
    ];
    let Some(mut peer) = case.start(&xsub, "xpub", &args).await else {
        return;
    };
    send(&xsub, subscription(true, TOPIC), &case).await;
    let seen = subscription(true, TOPIC);
    expect_line(&mut peer, &seen, &case, "subscription at libzmq XPUB").await;
    assert_eq!(
        recv(&xsub, &case).await,
        hot(),
        "{case}: filtered by libzmq"
    );
    send(&xsub, subscription(false, TOPIC), &case).await;
    send(&xsub, upstream.clone(), &case).await;
    let seen = subscription(false, TOPIC);
    expect_line(&mut peer, &seen, &case, "cancel at libzmq XPUB").await;
    expect_line(&mut peer, &upstream, &case, "upstream data at libzmq XPUB").await;
    peer.finish();
}
