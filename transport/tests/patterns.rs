//! Our sockets talking to each other over tcp, ipc and inproc: each socket
//! type's rules, end to end.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tokio::time::timeout;
use zmtp_transport::zmtp::CloseReason;
use zmtp_transport::{Error, LinkEnd, Message, MonitorEvent, Options, Socket, SocketType};

mod common;

use common::{WAIT, msg, recv, text};

/// Binds `a` and connects `b` on the given transport; returns the endpoint.
async fn join(a: &Socket, b: &Socket, transport: &str) -> String {
    let ep = match transport {
        "tcp" => a.bind("tcp://127.0.0.1:*").await.unwrap().to_string(),
        "ipc" => {
            let name = format!("ipc://@zmtp-test-{}", fastrand_name());
            a.bind(&name).await.unwrap().to_string()
        }
        "inproc" => {
            let name = format!("inproc://test-{}", fastrand_name());
            a.bind(&name).await.unwrap().to_string()
        }
        other => panic!("unknown transport {other}"),
    };
    b.connect(&ep).await.unwrap();
    ep
}

fn fastrand_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

const TRANSPORTS: [&str; 3] = ["tcp", "ipc", "inproc"];

#[tokio::test]
async fn push_pull_multipart_on_every_transport() {
    for t in TRANSPORTS {
        let pull = Socket::new(SocketType::Pull);
        let push = Socket::new(SocketType::Push);
        join(&pull, &push, t).await;
        for i in 0..100 {
            push.send(msg(&["frame", &i.to_string(), ""]))
                .await
                .unwrap();
        }
        for i in 0..100 {
            assert_eq!(
                text(&recv(&pull).await),
                ["frame", &i.to_string(), ""],
                "{t}"
            );
        }
    }
}

#[tokio::test]
async fn req_rep_round_trips_and_enforces_alternation() {
    for t in TRANSPORTS {
        let rep = Socket::new(SocketType::Rep);
        let req = Socket::new(SocketType::Req);
        join(&rep, &req, t).await;
        assert!(matches!(req.recv().await, Err(Error::State(_))));
        for i in 0..5 {
            req.send(msg(&["ping", &i.to_string()])).await.unwrap();
            assert!(matches!(req.send("again").await, Err(Error::State(_))));
            let request = recv(&rep).await;
            assert_eq!(text(&request), ["ping", &i.to_string()]);
            assert!(matches!(rep.recv().await, Err(Error::State(_))), "{t}");
            rep.send(msg(&["pong", &i.to_string()])).await.unwrap();
            assert_eq!(text(&recv(&req).await), ["pong", &i.to_string()]);
        }
    }
}

#[tokio::test]
async fn dealer_router_with_identities() {
    for t in TRANSPORTS {
        let router = Socket::new(SocketType::Router);
        let mut options = Options::new(SocketType::Dealer);
        options.routing_id = "alice".into();
        let alice = Socket::with_options(SocketType::Dealer, options);
        let anon = Socket::new(SocketType::Dealer);
        let ep = join(&router, &alice, t).await;
        anon.connect(&ep).await.unwrap();

        alice.send("from alice").await.unwrap();
        let m = recv(&router).await;
        assert_eq!(text(&m), ["alice", "from alice"], "{t}");

        anon.send("from anon").await.unwrap();
        let m = recv(&router).await;
        let anon_id = m.frames()[0].clone();
        assert_eq!(anon_id.len(), 5, "generated ids are 5 bytes");
        assert_eq!(anon_id[0], 0);

        router.send(msg(&["alice", "hi alice"])).await.unwrap();
        let mut reply = Message::new();
        reply.push(anon_id);
        reply.push("hi anon");
        router.send(reply).await.unwrap();
        assert_eq!(text(&recv(&alice).await), ["hi alice"]);
        assert_eq!(text(&recv(&anon).await), ["hi anon"]);

        // Unknown ids are dropped silently, and counted.
        router.send(msg(&["nobody", "x"])).await.unwrap();
        assert_eq!(router.stats().dropped_unroutable, 1);
    }
}

#[tokio::test]
async fn router_mandatory_reports_unknown_peers() {
    let mut options = Options::new(SocketType::Router);
    options.router_mandatory = true;
    let router = Socket::with_options(SocketType::Router, options);
    router.bind("tcp://127.0.0.1:*").await.unwrap();
    assert!(matches!(
        router.send(msg(&["nobody", "x"])).await,
        Err(Error::HostUnreachable(_))
    ));
}

#[tokio::test]
async fn pub_sub_filters_by_prefix() {
    for t in TRANSPORTS {
        let publisher = Socket::new(SocketType::Pub);
        let sub = Socket::new(SocketType::Sub);
        sub.subscribe("weather.").unwrap();
        join(&publisher, &sub, t).await;
        // Slow joiner: publish until the subscription has arrived.
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            publisher.send(msg(&["weather.warmup"])).await.unwrap();
            if timeout(Duration::from_millis(20), sub.recv()).await.is_ok() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "subscription never arrived ({t})"
            );
        }
        while timeout(Duration::from_millis(50), sub.recv()).await.is_ok() {}
        publisher.send(msg(&["sports.x", "no"])).await.unwrap();
        publisher.send(msg(&["weather.paris", "12"])).await.unwrap();
        assert_eq!(text(&recv(&sub).await), ["weather.paris", "12"], "{t}");
    }
}

#[tokio::test]
async fn xpub_sees_subscriptions_and_unsubscribe_on_leave() {
    for t in TRANSPORTS {
        let xpub = Socket::new(SocketType::Xpub);
        let sub = Socket::new(SocketType::Sub);
        sub.subscribe("a").unwrap();
        join(&xpub, &sub, t).await;
        assert_eq!(recv(&xpub).await.frames()[0][..], b"\x01a"[..], "{t}");
        sub.unsubscribe("a").unwrap();
        assert_eq!(recv(&xpub).await.frames()[0][..], b"\x00a"[..]);
        sub.subscribe("b").unwrap();
        assert_eq!(recv(&xpub).await.frames()[0][..], b"\x01b"[..]);
        drop(sub);
        assert_eq!(
            recv(&xpub).await.frames()[0][..],
            b"\x00b"[..],
            "{t}: unsubscribe on leave"
        );
    }
}

#[tokio::test]
async fn pair_exchanges_both_ways() {
    for t in TRANSPORTS {
        let a = Socket::new(SocketType::Pair);
        let b = Socket::new(SocketType::Pair);
        join(&a, &b, t).await;
        a.send("to b").await.unwrap();
        b.send("to a").await.unwrap();
        assert_eq!(text(&recv(&b).await), ["to b"]);
        assert_eq!(text(&recv(&a).await), ["to a"]);
    }
}

#[tokio::test]
async fn push_waits_at_the_high_water_mark_with_bounded_queues() {
    let mut options = Options::new(SocketType::Push);
    options.sndhwm = 10;
    let push = Socket::with_options(SocketType::Push, options);
    // Nobody is listening: the connect pipe takes sndhwm messages, then waits.
    push.connect("tcp://127.0.0.1:9").await.unwrap();
    for _ in 0..10 {
        push.try_send("x").unwrap();
    }
    let err = push.try_send("x").unwrap_err();
    assert!(matches!(err.error, Error::WouldBlock));
    assert_eq!(text(&err.message), ["x"]);
    assert!(
        timeout(Duration::from_millis(100), push.send("x"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn dropped_recv_future_loses_nothing() {
    let pull = Socket::new(SocketType::Pull);
    let push = Socket::new(SocketType::Push);
    join(&pull, &push, "tcp").await;
    for round in 0..20 {
        // Start a recv and abandon it before anything arrives.
        assert!(
            timeout(Duration::from_millis(2), pull.recv())
                .await
                .is_err()
        );
        push.send(round.to_string()).await.unwrap();
        assert_eq!(text(&recv(&pull).await), [round.to_string()]);
    }
}

#[tokio::test]
async fn dropped_send_future_loses_nothing_it_accepted() {
    let mut options = Options::new(SocketType::Push);
    options.sndhwm = 1;
    let push = Socket::with_options(SocketType::Push, options);
    let pull = Socket::new(SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    push.connect(&ep.to_string()).await.unwrap();
    let mut sent = Vec::new();
    for i in 0..200 {
        // Some of these time out while waiting at the mark; those were not
        // queued. Everything that returned Ok must arrive, in order.
        if let Ok(Ok(())) = timeout(Duration::from_micros(50), push.send(i.to_string())).await {
            sent.push(i.to_string());
        }
    }
    for expected in sent {
        assert_eq!(text(&recv(&pull).await), [expected]);
    }
}

#[tokio::test]
async fn monitor_reports_the_life_of_a_connection() {
    let pull = Socket::new(SocketType::Pull);
    let mut monitor = pull.monitor();
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let push = Socket::new(SocketType::Push);
    push.connect(&ep.to_string()).await.unwrap();
    push.send("x").await.unwrap();
    recv(&pull).await;
    drop(push);
    let mut seen = Vec::new();
    while let Ok(Some(event)) = timeout(WAIT, monitor.next()).await {
        let done = matches!(event, MonitorEvent::Disconnected { .. });
        seen.push(event);
        if done {
            break;
        }
    }
    assert!(
        matches!(seen[0], MonitorEvent::Listening { .. }),
        "{seen:?}"
    );
    assert!(matches!(seen[1], MonitorEvent::Accepted { .. }), "{seen:?}");
    assert!(
        matches!(
            seen[2],
            MonitorEvent::HandshakeSucceeded {
                peer_socket_type: Some(SocketType::Push),
                ..
            }
        ),
        "{seen:?}"
    );
    assert!(
        matches!(seen[3], MonitorEvent::Disconnected { .. }),
        "{seen:?}"
    );
}

#[tokio::test]
async fn incompatible_socket_types_fail_the_handshake_without_retry() {
    let a = Socket::new(SocketType::Push);
    let mut monitor = a.monitor();
    let ep = a.bind("tcp://127.0.0.1:*").await.unwrap();
    let b = Socket::new(SocketType::Push);
    let mut b_monitor = b.monitor();
    b.connect(&ep.to_string()).await.unwrap();
    loop {
        match timeout(WAIT, monitor.next()).await.unwrap().unwrap() {
            MonitorEvent::HandshakeFailed { reason, .. } => {
                assert!(
                    matches!(
                        reason,
                        LinkEnd::Protocol(CloseReason::IncompatibleSocketType {
                            ours: SocketType::Push,
                            theirs: SocketType::Push,
                        })
                    ),
                    "{reason:?}"
                );
                assert!(reason.is_protocol_error());
                break;
            }
            _ => continue,
        }
    }
    loop {
        match timeout(WAIT, b_monitor.next()).await.unwrap().unwrap() {
            MonitorEvent::Closed { reason, .. } => {
                assert!(reason.is_protocol_error(), "gave up: {reason:?}");
                break;
            }
            MonitorEvent::ReconnectScheduled { .. } => {
                panic!("must not retry after a protocol error")
            }
            _ => continue,
        }
    }
}

#[tokio::test]
async fn reconnects_after_the_listener_comes_back() {
    let pull = Socket::new(SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let push = Socket::new(SocketType::Push);
    push.connect(&ep.to_string()).await.unwrap();
    push.send("one").await.unwrap();
    assert_eq!(text(&recv(&pull).await), ["one"]);
    pull.close().await;
    // Queued while the peer is away; delivered after it returns.
    push.send("two").await.unwrap();
    let pull = Socket::new(SocketType::Pull);
    pull.bind(&ep.to_string()).await.unwrap();
    assert_eq!(text(&recv(&pull).await), ["two"]);
}

#[tokio::test]
async fn xsub_xpub_proxy_carries_subscriptions_and_data() {
    use zmtp_transport::proxy::Proxy;
    let frontend = Socket::new(SocketType::Xsub);
    let front_ep = frontend
        .bind("tcp://127.0.0.1:*")
        .await
        .unwrap()
        .to_string();
    let backend = Socket::new(SocketType::Xpub);
    let back_ep = backend.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    let capture = Socket::new(SocketType::Pull);
    let capture_ep = capture
        .bind("inproc://proxy-capture")
        .await
        .unwrap()
        .to_string();
    let capture_push = Socket::new(SocketType::Push);
    capture_push.connect(&capture_ep).await.unwrap();
    let (handle, task) = Proxy::new(frontend, backend, Some(capture_push)).spawn();

    let publisher = Socket::new(SocketType::Pub);
    publisher.connect(&front_ep).await.unwrap();
    let sub = Socket::new(SocketType::Sub);
    sub.subscribe("t").unwrap();
    sub.connect(&back_ep).await.unwrap();

    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        publisher.send(msg(&["t.1", "x"])).await.unwrap();
        if timeout(Duration::from_millis(20), sub.recv()).await.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing came through the proxy"
        );
    }
    // The subscription went upstream (captured as \x01t) and data came down.
    assert_eq!(recv(&capture).await.frames()[0][..], b"\x01t"[..]);
    let stats = handle.statistics();
    assert!(
        stats.backend.messages_in >= 1 && stats.frontend.messages_in >= 1,
        "{stats:?}"
    );

    handle.pause();
    tokio::time::sleep(Duration::from_millis(50)).await;
    while timeout(Duration::from_millis(50), sub.recv()).await.is_ok() {}
    publisher.send(msg(&["t.paused"])).await.unwrap();
    assert!(
        timeout(Duration::from_millis(200), sub.recv())
            .await
            .is_err(),
        "paused proxy forwarded"
    );
    handle.resume();
    assert_eq!(text(&recv(&sub).await), ["t.paused"]);
    handle.terminate();
    timeout(WAIT, task).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn sink_and_stream_interfaces() {
    use futures_util::{SinkExt, StreamExt};
    let pull = Socket::new(SocketType::Pull);
    let mut push = Socket::new(SocketType::Push);
    join(&pull, &push, "inproc").await;
    let mut stream = pull.clone();
    for i in 0..10 {
        push.feed(Message::from(i.to_string())).await.unwrap();
    }
    push.flush().await.unwrap();
    for i in 0..10 {
        let m = timeout(WAIT, stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(text(&m), [i.to_string()]);
    }
    pull.close().await;
    assert!(timeout(WAIT, stream.next()).await.unwrap().is_none());
}

#[tokio::test]
async fn close_lingers_until_queued_messages_are_written() {
    let pull = Socket::new(SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    for i in 0..500 {
        push.send(vec![i as u8; 1000]).await.unwrap();
    }
    timeout(WAIT, push.close()).await.expect("linger finished");
    for i in 0..500 {
        assert_eq!(recv(&pull).await.frames()[0][0], i as u8);
    }
}

#[tokio::test]
async fn linger_zero_discards_on_close() {
    let mut options = Options::new(SocketType::Push);
    options.linger = Some(Duration::ZERO);
    let push = Socket::with_options(SocketType::Push, options);
    // Never connects: with linger 0, close returns at once.
    push.connect("tcp://127.0.0.1:9").await.unwrap();
    push.send("lost").await.unwrap();
    timeout(Duration::from_secs(2), push.close())
        .await
        .expect("close is immediate");
}

#[tokio::test]
async fn subscriptions_are_replayed_after_reconnect() {
    let publisher = Socket::new(SocketType::Pub);
    let ep = publisher
        .bind("tcp://127.0.0.1:*")
        .await
        .unwrap()
        .to_string();
    let sub = Socket::new(SocketType::Sub);
    sub.subscribe("news").unwrap();
    sub.connect(&ep).await.unwrap();
    publish_until_received(&publisher, &sub).await;
    publisher.close().await;
    let publisher = Socket::new(SocketType::Pub);
    publisher.bind(&ep).await.unwrap();
    // The SUB never subscribed again by hand; its replay did it.
    publish_until_received(&publisher, &sub).await;
}

async fn publish_until_received(publisher: &Socket, sub: &Socket) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        publisher.send("news!").await.unwrap();
        if timeout(Duration::from_millis(20), sub.recv()).await.is_ok() {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "no delivery");
    }
}

#[tokio::test]
async fn xpub_verbose_reports_duplicate_subscriptions() {
    for verbose in [false, true] {
        let mut options = Options::new(SocketType::Xpub);
        options.xpub_verbose = verbose;
        let xpub = Socket::with_options(SocketType::Xpub, options);
        let ep = xpub.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
        let (a, b) = (Socket::new(SocketType::Sub), Socket::new(SocketType::Sub));
        a.subscribe("dup").unwrap();
        b.subscribe("dup").unwrap();
        a.connect(&ep).await.unwrap();
        assert_eq!(recv(&xpub).await.frames()[0][..], b"\x01dup"[..]);
        b.connect(&ep).await.unwrap();
        let second = timeout(Duration::from_millis(300), xpub.recv()).await;
        assert_eq!(second.is_ok(), verbose, "verbose={verbose}");
    }
}

#[tokio::test]
async fn router_ignores_a_duplicate_identity_unless_handover() {
    for handover in [false, true] {
        let mut options = Options::new(SocketType::Router);
        options.router_handover = handover;
        let router = Socket::with_options(SocketType::Router, options);
        let ep = router.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
        let dealer = |ep: String| async move {
            let mut options = Options::new(SocketType::Dealer);
            options.routing_id = "same".into();
            let d = Socket::with_options(SocketType::Dealer, options);
            d.connect(&ep).await.unwrap();
            d
        };
        let first = dealer(ep.clone()).await;
        first.send("first").await.unwrap();
        assert_eq!(text(&recv(&router).await), ["same", "first"]);
        let second = dealer(ep.clone()).await;
        second.send("second").await.unwrap();
        let got = timeout(Duration::from_millis(500), router.recv()).await;
        if handover {
            assert_eq!(text(&got.unwrap().unwrap()), ["same", "second"]);
            router
                .send(msg(&["same", "to the newcomer"]))
                .await
                .unwrap();
            assert_eq!(text(&recv(&second).await), ["to the newcomer"]);
        } else {
            assert!(got.is_err(), "a duplicate id without handover is refused");
            router.send(msg(&["same", "to the first"])).await.unwrap();
            assert_eq!(text(&recv(&first).await), ["to the first"]);
        }
    }
}

#[tokio::test]
async fn link_notify_frames_a_links_messages() {
    for t in TRANSPORTS {
        let mut options = Options::new(SocketType::Router);
        options.link_notify = true;
        let router = Socket::with_options(SocketType::Router, options);
        let mut options = Options::new(SocketType::Dealer);
        options.routing_id = "peer".into();
        options.link_notify = true;
        let dealer = Socket::with_options(SocketType::Dealer, options);
        join(&router, &dealer, t).await;
        assert_eq!(
            recv(&router).await.frames(),
            msg(&["peer", "", "\x01"]).frames(),
            "{t}"
        );
        assert_eq!(
            recv(&dealer).await.frames(),
            msg(&["", "\x01"]).frames(),
            "{t}"
        );
        for i in 0..50 {
            dealer.send(i.to_string()).await.unwrap();
        }
        dealer.close().await;
        for i in 0..50 {
            assert_eq!(text(&recv(&router).await), ["peer", &i.to_string()], "{t}");
        }
        assert_eq!(
            recv(&router).await.frames(),
            msg(&["peer", "", "\x00"]).frames(),
            "{t}"
        );
    }
}

#[tokio::test]
async fn inproc_sender_at_the_mark_resumes_when_the_pipe_drains() {
    let mut options = Options::new(SocketType::Push);
    options.sndhwm = 10;
    let push = Socket::with_options(SocketType::Push, options);
    let pull = Socket::new(SocketType::Pull);
    join(&pull, &push, "inproc").await;
    let sender = tokio::spawn(async move {
        for i in 0..5000u32 {
            push.send(i.to_be_bytes().to_vec()).await.unwrap();
        }
    });
    for i in 0..5000u32 {
        assert_eq!(recv(&pull).await.frames()[0][..], i.to_be_bytes());
    }
    timeout(WAIT, sender).await.unwrap().unwrap();
}

/// Waits (within [`WAIT`]) until `f` holds.
async fn until(mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition never held"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// PULL fair-queues (RFC 28, libzmq's `fq`): with messages waiting from
/// several peers, it takes one from each peer in turn, each peer's in the
/// order it sent them (libzmq's `test_spec_pushpull` checks the same).
#[tokio::test]
async fn pull_takes_one_message_from_each_peer_in_turn() {
    for t in ["tcp", "inproc"] {
        let pull = Socket::new(SocketType::Pull);
        let ep = match t {
            "tcp" => pull.bind("tcp://127.0.0.1:*").await.unwrap().to_string(),
            _ => {
                let name = format!("inproc://fair-{}", fastrand_name());
                pull.bind(&name).await.unwrap().to_string()
            }
        };
        let mut pushes = Vec::new();
        for _ in 0..3 {
            let push = Socket::new(SocketType::Push);
            push.connect(&ep).await.unwrap();
            pushes.push(push);
        }
        until(|| pull.stats().peers == 3).await;
        // Each peer's messages arrive together, one peer after the other.
        for (peer, push) in pushes.iter().enumerate() {
            for n in 0..3 {
                push.send(msg(&[&peer.to_string(), &n.to_string()]))
                    .await
                    .unwrap();
            }
        }
        until(|| pull.stats().queued == 9).await;
        let mut seen = [0; 3];
        for round in 0..3 {
            let mut peers = Vec::new();
            for _ in 0..3 {
                let m = text(&recv(&pull).await);
                let peer: usize = m[0].parse().unwrap();
                assert_eq!(m[1], seen[peer].to_string(), "{t}: a peer's order");
                seen[peer] += 1;
                peers.push(peer);
            }
            peers.sort();
            assert_eq!(peers, [0, 1, 2], "{t}: round {round} takes one from each");
        }
    }
}

/// `disconnect` drops what the endpoint's link delivered and the
/// application has not received, multipart messages whole (libzmq ends
/// the pipe at once; `test_spec_pushpull`'s multipart_atomic_drop); a new
/// connect then receives only what is sent after it.
#[tokio::test]
async fn a_disconnect_drops_what_its_link_delivered_unread() {
    for t in ["tcp", "inproc"] {
        let push = Socket::new(SocketType::Push);
        let pull = Socket::new(SocketType::Pull);
        let ep = join(&push, &pull, t).await;
        push.send(msg(&["1"])).await.unwrap();
        push.send(msg(&["2", "2", "2"])).await.unwrap();
        until(|| pull.stats().queued == 2).await;
        pull.disconnect(&ep).unwrap();
        assert!(
            matches!(pull.try_recv(), Err(Error::WouldBlock)),
            "{t}: nothing left after the disconnect"
        );
        assert_eq!(pull.stats().dropped_inbound, 2, "{t}");
        // The PUSH sends to the new link only once the old one is gone.
        until(|| push.stats().peers == 0).await;
        pull.connect(&ep).await.unwrap();
        until(|| push.stats().peers == 1).await;
        push.send(msg(&["3", "3"])).await.unwrap();
        assert_eq!(text(&recv(&pull).await), ["3", "3"], "{t}");
    }
}
