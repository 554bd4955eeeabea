//! `Socket::disconnect_peer`: a ROUTER ending one peer's link while the
//! others carry on, over tcp, from both ends of the link.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tokio::time::timeout;
use zmtp_transport::{LinkEnd, Monitor, MonitorEvent, Options, Refusal, Socket, SocketType};

mod common;

use common::{WAIT, msg, text};

/// The next message on `s`, as text.
async fn recv(s: &Socket) -> Vec<String> {
    text(&common::recv(s).await)
}

fn dealer(id: &str) -> Socket {
    let mut options = Options::new(SocketType::Dealer);
    options.routing_id = id.as_bytes().to_vec().into();
    options.linger = Some(Duration::ZERO);
    Socket::with_options(SocketType::Dealer, options)
}

/// The next event `pick` accepts, skipping the others.
async fn next<T>(monitor: &mut Monitor, mut pick: impl FnMut(&MonitorEvent) -> Option<T>) -> T {
    loop {
        let event = timeout(WAIT, monitor.next())
            .await
            .expect("no such monitor event in time")
            .expect("monitor ended");
        if let Some(found) = pick(&event) {
            return found;
        }
    }
}

/// Every event within `period`.
async fn events_for(monitor: &mut Monitor, period: Duration) -> Vec<MonitorEvent> {
    let mut events = Vec::new();
    let until = tokio::time::Instant::now() + period;
    while let Ok(Some(event)) = tokio::time::timeout_at(until, monitor.next()).await {
        events.push(event);
    }
    events
}

fn handshake(event: &MonitorEvent) -> Option<()> {
    matches!(event, MonitorEvent::HandshakeSucceeded { .. }).then_some(())
}

fn disconnected(event: &MonitorEvent) -> Option<LinkEnd> {
    match event {
        MonitorEvent::Disconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    }
}

const BY_APPLICATION: LinkEnd = LinkEnd::Refused(Refusal::DisconnectedByApplication);

/// Two DEALERs connected to a ROUTER; the ROUTER drops one. Its link ends
/// on both sides, the other keeps flowing both ways, and the dropped
/// DEALER, reconnecting as DEALERs do, comes back under the same id.
#[tokio::test]
async fn router_drops_one_peer_and_the_other_keeps_flowing() {
    let router = Socket::new(SocketType::Router);
    let mut router_monitor = router.monitor();
    let ep = router.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    let (a, b) = (dealer("a"), dealer("b"));
    let mut a_monitor = a.monitor();
    for (d, greeting) in [(&a, "from a"), (&b, "from b")] {
        d.connect(&ep).await.unwrap();
        d.send(greeting).await.unwrap();
    }
    let mut heard = vec![recv(&router).await, recv(&router).await];
    heard.sort();
    assert_eq!(heard, [["a", "from a"], ["b", "from b"]]);

    assert!(!router.disconnect_peer(b"nobody"), "no such peer");
    assert!(router.disconnect_peer(b"a"));
    let end = next(&mut router_monitor, disconnected).await;
    assert_eq!(end, BY_APPLICATION);
    // The DEALER sees its peer hang up.
    assert_eq!(
        next(&mut a_monitor, disconnected).await,
        LinkEnd::PeerClosed
    );

    // b is untouched, both ways.
    router.send(msg(&["b", "still there?"])).await.unwrap();
    assert_eq!(recv(&b).await, ["still there?"]);
    b.send("yes").await.unwrap();
    assert_eq!(recv(&router).await, ["b", "yes"]);

    // a reconnects (reconnect_ivl, 100 ms by default) and is routable again.
    next(&mut a_monitor, handshake).await;
    next(&mut router_monitor, handshake).await;
    router.send(msg(&["a", "welcome back"])).await.unwrap();
    assert_eq!(recv(&a).await, ["welcome back"]);
    assert_eq!(router.stats().peers, 2);
}

/// A ROUTER that connected out drops that peer: the link ends and the
/// endpoint is not redialled (the DEALER sees no second handshake).
#[tokio::test]
async fn a_peer_we_connected_to_is_not_redialled() {
    let a = dealer("a");
    let mut a_monitor = a.monitor();
    let ep = a.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    let router = Socket::new(SocketType::Router);
    let mut router_monitor = router.monitor();
    router.connect(&ep).await.unwrap();
    a.send("hello").await.unwrap();
    assert_eq!(recv(&router).await, ["a", "hello"]);

    let sender = router.sender();
    assert!(sender.disconnect_peer(b"a"));
    assert!(!sender.disconnect_peer(b"a"), "gone already");
    assert_eq!(
        next(&mut router_monitor, disconnected).await,
        BY_APPLICATION
    );
    let closed = next(&mut router_monitor, |e| match e {
        MonitorEvent::Closed { reason, .. } => Some(reason.clone()),
        MonitorEvent::ReconnectScheduled { .. } => panic!("redialled: {e:?}"),
        _ => None,
    })
    .await;
    assert_eq!(closed, BY_APPLICATION);
    assert_eq!(
        next(&mut a_monitor, disconnected).await,
        LinkEnd::PeerClosed
    );
    // Well past the ROUTER's reconnect interval (100 ms).
    let later = events_for(&mut a_monitor, Duration::from_millis(400)).await;
    assert!(
        !later
            .iter()
            .any(|e| matches!(e, MonitorEvent::Accepted { .. })),
        "the ROUTER came back: {later:?}"
    );
    assert_eq!(router.stats().peers, 0);
}

/// Other socket types have no routing ids to disconnect.
#[tokio::test]
async fn only_router_peers_can_be_disconnected() {
    let pull = Socket::new(SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    push.send("x").await.unwrap();
    assert_eq!(recv(&pull).await, ["x"]);
    assert!(!pull.disconnect_peer(b""));
    assert!(!push.disconnect_peer(b""));
}
