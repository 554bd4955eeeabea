//! The libzmq behaviours `Mode` switches, over real links: verbose,
//! verboser, manual and welcoming XPUBs, NODROP at the mark, ROUTER
//! handover and mandatory refusals at the first frame, correlated and
//! relaxed REQ, conflating queues.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{WAIT, msg, recv, text};
use tokio::time::timeout;
use zmtp_transport::{Error, Mode, Options, Socket, SocketType};

/// A notice (`01topic` / `00topic`) as (subscribe, topic).
fn notice(m: &zmtp_transport::Message) -> (bool, String) {
    let f = &m.frames()[0];
    (f[0] == 1, String::from_utf8_lossy(&f[1..]).into_owned())
}

async fn next_notice(xpub: &Socket) -> (bool, String) {
    notice(&recv(xpub).await)
}

/// Nothing more to receive, checked after a message that was sent later
/// on the same path has arrived (no timed wait).
fn nothing_waiting(s: &Socket) {
    match s.try_recv() {
        Err(Error::WouldBlock) => {}
        other => panic!("expected nothing, got {other:?}"),
    }
}

async fn subscriber_of(endpoint: &str, socket_type: SocketType) -> Socket {
    let sub = Socket::new(socket_type);
    sub.connect(endpoint).await.unwrap();
    sub
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verboser_passes_every_cancel_and_a_departing_peers_topics() {
    for endpoint in ["inproc://modes-verboser", "tcp://127.0.0.1:*"] {
        let xpub = Socket::new(SocketType::Xpub);
        let endpoint = xpub.bind(endpoint).await.unwrap().to_string();
        let sub0 = subscriber_of(&endpoint, SocketType::Sub).await;
        let sub1 = subscriber_of(&endpoint, SocketType::Sub).await;
        sub0.subscribe("A").unwrap();
        assert_eq!(next_notice(&xpub).await, (true, "A".into()));
        sub1.subscribe("A").unwrap();
        // Quiet mode: the duplicate is filtered; a marker proves it came.
        sub1.subscribe("M").unwrap();
        assert_eq!(next_notice(&xpub).await, (true, "M".into()));
        sub0.unsubscribe("A").unwrap();
        sub1.unsubscribe("A").unwrap();
        assert_eq!(next_notice(&xpub).await, (false, "A".into()));

        xpub.set_mode(Mode::XpubVerboser(true));
        sub0.subscribe("A").unwrap();
        sub1.subscribe("A").unwrap();
        assert_eq!(next_notice(&xpub).await, (true, "A".into()));
        assert_eq!(next_notice(&xpub).await, (true, "A".into()));
        sub1.unsubscribe("A").unwrap();
        assert_eq!(next_notice(&xpub).await, (false, "A".into()));
        // Node-down detection: a departure cancels every topic it held,
        // even those others still hold.
        sub0.subscribe("M").unwrap();
        assert_eq!(next_notice(&xpub).await, (true, "M".into()));
        drop(sub0);
        let mut gone = vec![next_notice(&xpub).await, next_notice(&xpub).await];
        gone.sort();
        assert_eq!(gone, [(false, "A".into()), (false, "M".into())]);
        nothing_waiting(&xpub);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_subscribed_twice_stops_after_its_one_cancel() {
    let xpub = Socket::new(SocketType::Xpub);
    let endpoint = xpub.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    let sub = subscriber_of(&endpoint, SocketType::Sub).await;
    let other = subscriber_of(&endpoint, SocketType::Sub).await;
    other.subscribe("").unwrap();
    assert_eq!(next_notice(&xpub).await, (true, "".into()));
    sub.subscribe("A").unwrap();
    sub.subscribe("A").unwrap();
    assert_eq!(next_notice(&xpub).await, (true, "A".into()));
    sub.unsubscribe("A").unwrap();
    sub.unsubscribe("A").unwrap();
    // A SUB tells only the last cancel; the publisher must drop the topic.
    assert_eq!(next_notice(&xpub).await, (false, "A".into()));
    xpub.send(msg(&["A1"])).await.unwrap();
    xpub.send(msg(&["B1"])).await.unwrap();
    assert_eq!(text(&recv(&other).await), ["A1"]);
    assert_eq!(text(&recv(&other).await), ["B1"]);
    nothing_waiting(&sub);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_xpub_routes_what_the_application_subscribes() {
    let xpub = Socket::new(SocketType::Xpub);
    let endpoint = xpub.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    assert!(matches!(
        xpub.subscribe("X"),
        Err(Error::Unsupported { .. })
    ));
    xpub.set_mode(Mode::XpubManual(true));
    let xsub = subscriber_of(&endpoint, SocketType::Xsub).await;
    xsub.send(Bytes::from_static(b"\x01A")).await.unwrap();
    xsub.send(Bytes::from_static(b"\x01B")).await.unwrap();
    assert_eq!(next_notice(&xpub).await, (true, "A".into()));
    xpub.subscribe("XA").unwrap();
    assert_eq!(next_notice(&xpub).await, (true, "B".into()));
    xpub.subscribe("XB").unwrap();
    xsub.send(Bytes::from_static(b"\x00A")).await.unwrap();
    assert_eq!(next_notice(&xpub).await, (false, "A".into()));
    xpub.unsubscribe("XA").unwrap();
    for m in ["A", "XA", "XB"] {
        xpub.send(msg(&[m])).await.unwrap();
    }
    assert_eq!(text(&recv(&xsub).await), ["XB"]);
    // Repeats always reach the application.
    xsub.send(Bytes::from_static(b"\x01B")).await.unwrap();
    assert_eq!(next_notice(&xpub).await, (true, "B".into()));
    drop(xsub);
    // Leaving cancels what the peer asked for (B), not what it was given.
    assert_eq!(next_notice(&xpub).await, (false, "B".into()));
    xpub.subscribe("gone").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_new_subscriber_is_welcomed() {
    let mut options = Options::new(SocketType::Xpub);
    options.xpub_welcome = Bytes::from_static(b"W");
    let xpub = Socket::with_options(SocketType::Xpub, options);
    let endpoint = xpub
        .bind("inproc://modes-welcome")
        .await
        .unwrap()
        .to_string();
    let mut subs = Vec::new();
    for i in 0..2 {
        let sub = Socket::new(SocketType::Sub);
        sub.subscribe("W").unwrap();
        sub.connect(&endpoint).await.unwrap();
        if i == 0 {
            // The second subscriber of W is a repeat: no notice.
            assert_eq!(next_notice(&xpub).await, (true, "W".into()));
        }
        assert_eq!(text(&recv(&sub).await), ["W"]);
        subs.push(sub);
    }
    xpub.set_mode(Mode::XpubWelcome(Bytes::new()));
    let sub = Socket::new(SocketType::Sub);
    sub.subscribe("").unwrap();
    sub.connect(&endpoint).await.unwrap();
    assert_eq!(next_notice(&xpub).await, (true, "".into()));
    xpub.send(msg(&["after"])).await.unwrap();
    assert_eq!(text(&recv(&sub).await), ["after"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nodrop_xpub_refuses_at_the_mark_and_loses_nothing() {
    let mut options = Options::new(SocketType::Xpub);
    options.sndhwm = 4;
    let xpub = Socket::with_options(SocketType::Xpub, options);
    let endpoint = xpub
        .bind("inproc://modes-nodrop")
        .await
        .unwrap()
        .to_string();
    xpub.set_mode(Mode::XpubNodrop(true));
    let mut sub_options = Options::new(SocketType::Sub);
    sub_options.rcvhwm = 4;
    let sub = Socket::with_options(SocketType::Sub, sub_options);
    sub.subscribe("").unwrap();
    sub.connect(&endpoint).await.unwrap();
    assert_eq!(next_notice(&xpub).await, (true, "".into()));
    let mut sent = 0u32;
    loop {
        match xpub.try_send(Bytes::from(sent.to_string())) {
            Ok(()) => sent += 1,
            Err(e) if matches!(e.error, Error::WouldBlock) => break,
            Err(e) => panic!("{e}"),
        }
        // The inproc mover may make room as we go: bounded anyway.
        assert!(sent < 10_000);
    }
    assert!(matches!(
        xpub.check_first_frame(b"x"),
        Err(Error::WouldBlock)
    ));
    assert!(xpub.check_first_frame(b"").is_err());
    for i in 0..sent {
        assert_eq!(text(&recv(&sub).await), [i.to_string()]);
    }
    // Room again: the first frame is admitted.
    timeout(WAIT, xpub.first_frame_ready(Bytes::from_static(b"x")))
        .await
        .expect("never admitted")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handover_set_on_a_bound_router_gives_the_id_to_the_newcomer() {
    let router = Socket::new(SocketType::Router);
    let endpoint = router.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    router.set_mode(Mode::RouterHandover(true));
    let mut dealers = Vec::new();
    for hello in ["one", "two"] {
        let mut options = Options::new(SocketType::Dealer);
        options.routing_id = Bytes::from_static(b"X");
        let dealer = Socket::with_options(SocketType::Dealer, options);
        dealer.connect(&endpoint).await.unwrap();
        dealer.send(msg(&[hello])).await.unwrap();
        assert_eq!(text(&recv(&router).await), ["X", hello]);
        dealers.push(dealer);
    }
    router.send(msg(&["X", "to two"])).await.unwrap();
    assert_eq!(text(&recv(&dealers[1]).await), ["to two"]);
    nothing_waiting(&dealers[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mandatory_router_refuses_at_the_first_frame() {
    let router = Socket::new(SocketType::Router);
    let endpoint = router
        .bind("inproc://modes-mandatory")
        .await
        .unwrap()
        .to_string();
    assert!(router.check_first_frame(b"nobody").is_ok());
    router.set_mode(Mode::RouterMandatory(true));
    assert!(matches!(
        router.check_first_frame(b"nobody"),
        Err(Error::HostUnreachable(_))
    ));
    let mut options = Options::new(SocketType::Dealer);
    options.routing_id = Bytes::from_static(b"d");
    let dealer = Socket::with_options(SocketType::Dealer, options);
    dealer.connect(&endpoint).await.unwrap();
    dealer.send(msg(&["hi"])).await.unwrap();
    recv(&router).await;
    router.check_first_frame(b"d").unwrap();
    let req = Socket::new(SocketType::Req);
    assert!(matches!(
        req.check_first_frame(b"q"),
        Err(Error::WouldBlock)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correlating_req_takes_only_the_reply_with_its_request_id() {
    let router = Socket::new(SocketType::Router);
    let endpoint = router.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    let mut options = Options::new(SocketType::Req);
    options.req_correlate = true;
    let req = Socket::with_options(SocketType::Req, options);
    req.connect(&endpoint).await.unwrap();
    req.send(msg(&["ABC", "DEF"])).await.unwrap();
    let request = recv(&router).await;
    let frames = request.frames();
    assert_eq!(frames.len(), 5, "id, request id, delimiter, body");
    assert_eq!(frames[1].len(), 4);
    assert!(frames[2].is_empty());
    let (peer, id) = (frames[0].clone(), frames[1].clone());
    let mut bad = u32::from_ne_bytes(id[..].try_into().unwrap());
    bad = bad.wrapping_add(1);
    let reply = |id: Bytes, body: &'static str| -> zmtp_transport::Message {
        [
            peer.clone(),
            id,
            Bytes::new(),
            Bytes::from_static(body.as_bytes()),
        ]
        .into_iter()
        .collect()
    };
    router
        .send(reply(Bytes::copy_from_slice(&bad.to_ne_bytes()), "DATA"))
        .await
        .unwrap();
    router.send(reply(id, "GHI")).await.unwrap();
    assert_eq!(text(&recv(&req).await), ["GHI"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relaxed_correlating_req_answers_only_its_last_request() {
    let router = Socket::new(SocketType::Router);
    let endpoint = router.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    let mut options = Options::new(SocketType::Req);
    options.req_correlate = true;
    options.req_relaxed = true;
    let req = Socket::with_options(SocketType::Req, options);
    assert!(matches!(req.try_recv(), Err(Error::State(_))));
    req.connect(&endpoint).await.unwrap();
    req.send(msg(&["TO_BE_DISCARDED"])).await.unwrap();
    req.send(msg(&["TO_BE_ANSWERED"])).await.unwrap();
    for _ in 0..2 {
        let request = recv(&router).await;
        router.send(request).await.unwrap();
    }
    assert_eq!(text(&recv(&req).await), ["TO_BE_ANSWERED"]);
    assert!(
        matches!(req.try_recv(), Err(Error::State(_))),
        "answered: no request out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflating_pull_keeps_the_newest_message() {
    let mut options = Options::new(SocketType::Pull);
    options.conflate = true;
    let pull = Socket::with_options(SocketType::Pull, options);
    let endpoint = pull.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    let push = Socket::new(SocketType::Push);
    push.connect(&endpoint).await.unwrap();
    for i in 0..20u32 {
        push.send(Bytes::from(i.to_string())).await.unwrap();
    }
    // Whatever was read on the way, the last one arrives and nothing after.
    let mut received = 0;
    loop {
        received += 1;
        if text(&recv(&pull).await) == ["19"] {
            break;
        }
    }
    assert!(received <= 20);
    nothing_waiting(&pull);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_handover_a_router_ignores_a_newcomer_with_a_taken_id() {
    let router = Socket::new(SocketType::Router);
    let endpoint = router.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    let dealer = |id: &'static [u8]| {
        let mut options = Options::new(SocketType::Dealer);
        options.routing_id = Bytes::from_static(id);
        Socket::with_options(SocketType::Dealer, options)
    };
    let first = dealer(b"X");
    first.connect(&endpoint).await.unwrap();
    first.send(msg(&["one"])).await.unwrap();
    assert_eq!(text(&recv(&router).await), ["X", "one"]);
    let second = dealer(b"X");
    second.connect(&endpoint).await.unwrap();
    // Its message is taken off the wire and dropped; a later message from
    // a third peer proves the second's was handled first.
    second.send(msg(&["two"])).await.unwrap();
    timeout(WAIT, async {
        while router.stats().dropped_inbound == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the newcomer's message never came");
    router.send(msg(&["X", "back"])).await.unwrap();
    assert_eq!(text(&recv(&first).await), ["back"]);
    nothing_waiting(&router);
    // Its link stayed up: it has nothing left to deliver.
    timeout(WAIT, second.close())
        .await
        .expect("linger never ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inproc_messages_on_their_way_are_seen_as_in_flight() {
    let pull = Socket::new(SocketType::Pull);
    pull.bind("inproc://modes-in-flight").await.unwrap();
    let push = Socket::new(SocketType::Push);
    push.connect("inproc://modes-in-flight").await.unwrap();
    assert!(!pull.inproc_in_flight());
    for i in 0..500u32 {
        push.send(Bytes::from(i.to_string())).await.unwrap();
    }
    // Whatever the mover has done meanwhile: each message is either in the
    // queue already, or still counted as on its way.
    let mut next = 0u32;
    while next < 500 {
        // Looked at first: not in flight means all are in the queue.
        let flying = pull.inproc_in_flight();
        match pull.try_recv() {
            Ok(m) => {
                assert_eq!(text(&m), [next.to_string()]);
                next += 1;
            }
            Err(Error::WouldBlock) => {
                assert!(flying, "message {next} lost track of");
                tokio::task::yield_now().await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(!pull.inproc_in_flight());
}
