//! `Socket::unbind` and `Socket::disconnect`: stopping one endpoint while
//! the socket's others carry on, over tcp, ipc and inproc; and inproc
//! connects made before the bind (pending until it comes), within an
//! `InprocDomain`.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tokio::time::timeout;
use zmtp_transport::{
    Error, InprocDomain, LinkEnd, Monitor, MonitorEvent, Options, Refusal, Socket, SocketType,
};

mod common;

use common::{WAIT, msg, text};

/// The next message on `s`, as text.
async fn recv(s: &Socket) -> Vec<String> {
    text(&common::recv(s).await)
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

fn socket(socket_type: SocketType) -> Socket {
    let mut options = Options::new(socket_type);
    options.linger = Some(Duration::ZERO);
    Socket::with_options(socket_type, options)
}

fn in_domain(socket_type: SocketType, domain: &InprocDomain) -> Socket {
    let mut options = Options::new(socket_type);
    options.linger = Some(Duration::ZERO);
    options.inproc_domain = domain.clone();
    Socket::with_options(socket_type, options)
}

fn disconnected(event: &MonitorEvent) -> Option<LinkEnd> {
    match event {
        MonitorEvent::Disconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    }
}

fn closed(event: &MonitorEvent) -> Option<LinkEnd> {
    match event {
        MonitorEvent::Closed { reason, .. } => Some(reason.clone()),
        _ => None,
    }
}

fn handshake(event: &MonitorEvent) -> Option<()> {
    matches!(event, MonitorEvent::HandshakeSucceeded { .. }).then_some(())
}

const BY_APPLICATION: LinkEnd = LinkEnd::Refused(Refusal::DisconnectedByApplication);

#[tokio::test]
async fn unbind_closes_the_listener_and_its_links() {
    let pull = socket(SocketType::Pull);
    let bound = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let push = socket(SocketType::Push);
    let mut push_events = push.monitor();
    push.connect(&bound.to_string()).await.unwrap();
    push.send(msg(&["before"])).await.unwrap();
    assert_eq!(recv(&pull).await, ["before"]);

    let mut pull_events = pull.monitor();
    pull.unbind(&bound.to_string()).await.unwrap();
    // The accepted link ends on both sides, and the listener is gone
    // (in either order).
    let mut ends = Vec::new();
    while ends.len() < 2 {
        ends.push(
            next(&mut pull_events, |e| match e {
                MonitorEvent::Disconnected { reason, .. } => Some(("link", reason.clone())),
                MonitorEvent::Closed { reason, .. } => Some(("listener", reason.clone())),
                _ => None,
            })
            .await,
        );
    }
    ends.sort_by_key(|(what, _)| *what);
    assert_eq!(
        ends,
        [("link", BY_APPLICATION), ("listener", BY_APPLICATION)]
    );
    next(&mut push_events, disconnected).await;
    // The port is free again: a new socket binds it.
    let again = socket(SocketType::Pull);
    again.bind(&bound.to_string()).await.unwrap();
    // And the old socket's peer, redialling, reaches the new one.
    push.send(msg(&["after"])).await.unwrap();
    assert_eq!(recv(&again).await, ["after"]);
    // Once only.
    assert!(matches!(
        pull.unbind(&bound.to_string()).await,
        Err(Error::EndpointNotFound(_))
    ));
}

#[tokio::test]
async fn a_wildcard_bind_is_unbound_by_its_resolved_address_or_as_written() {
    for name in ["tcp://0.0.0.0:{port}", "tcp://*:{port}"] {
        let pull = socket(SocketType::Pull);
        let bound = pull.bind("tcp://*:*").await.unwrap();
        let port = bound.to_string().rsplit(':').next().unwrap().to_owned();
        pull.unbind(&name.replace("{port}", &port)).await.unwrap();
        // The port is free again.
        let again = socket(SocketType::Pull);
        again.bind(&format!("tcp://*:{port}")).await.unwrap();
    }
}

#[tokio::test]
async fn unbind_leaves_the_other_endpoints_alone() {
    let pull = socket(SocketType::Pull);
    let first = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let second = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let push = socket(SocketType::Push);
    let mut events = push.monitor();
    push.connect(&second.to_string()).await.unwrap();
    next(&mut events, handshake).await;
    pull.unbind(&first.to_string()).await.unwrap();
    push.send(msg(&["still here"])).await.unwrap();
    assert_eq!(recv(&pull).await, ["still here"]);
}

#[tokio::test]
async fn unknown_endpoints_are_not_found() {
    let s = socket(SocketType::Dealer);
    let bound = s.bind("tcp://127.0.0.1:*").await.unwrap();
    s.connect("tcp://127.0.0.1:9").await.unwrap();
    for result in [
        s.unbind("tcp://127.0.0.1:9").await,
        s.disconnect(&bound.to_string()),
        s.disconnect("tcp://127.0.0.1:10"),
        s.unbind("inproc://nowhere").await,
        s.disconnect("ipc:///tmp/nowhere"),
    ] {
        assert!(
            matches!(result, Err(Error::EndpointNotFound(_))),
            "{result:?}"
        );
    }
    assert!(matches!(s.unbind("tcp://x").await, Err(Error::Endpoint(_))));
    s.disconnect("tcp://127.0.0.1:9").unwrap();
    s.unbind(&bound.to_string()).await.unwrap();
}

#[tokio::test]
async fn disconnect_ends_the_link_and_stops_redialling() {
    let near = socket(SocketType::Pull);
    let far = socket(SocketType::Pull);
    let near_at = near.bind("tcp://127.0.0.1:*").await.unwrap();
    let far_at = far.bind("tcp://127.0.0.1:*").await.unwrap();
    let mut far_events = far.monitor();
    let push = socket(SocketType::Push);
    let mut push_events = push.monitor();
    push.connect(&near_at.to_string()).await.unwrap();
    push.connect(&far_at.to_string()).await.unwrap();
    next(&mut push_events, handshake).await;
    next(&mut push_events, handshake).await;

    push.disconnect(&far_at.to_string()).unwrap();
    assert_eq!(
        next(&mut far_events, disconnected).await,
        LinkEnd::PeerClosed
    );
    assert_eq!(next(&mut push_events, closed).await, BY_APPLICATION);
    // Every message now goes to the endpoint left.
    for i in 0..10 {
        push.send(msg(&[&i.to_string()])).await.unwrap();
    }
    for i in 0..10 {
        assert_eq!(recv(&near).await, [i.to_string()]);
    }
    assert_eq!(push.stats().peers, 1);
    assert!(matches!(
        push.disconnect(&far_at.to_string()),
        Err(Error::EndpointNotFound(_))
    ));
}

#[tokio::test]
async fn disconnect_stops_an_endpoint_that_is_not_up() {
    // Nothing listens there: the connecter is between attempts.
    let push = socket(SocketType::Push);
    let mut events = push.monitor();
    push.connect("tcp://127.0.0.1:9").await.unwrap();
    push.disconnect("tcp://127.0.0.1:9").unwrap();
    assert_eq!(next(&mut events, closed).await, BY_APPLICATION);
    assert!(!push.is_writable());
}

#[tokio::test]
async fn ipc_unbind_removes_the_file() {
    let dir = std::env::temp_dir().join(format!("zmtp-unbind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let endpoint = format!("ipc://{}", path.display());
    let pull = socket(SocketType::Pull);
    pull.bind(&endpoint).await.unwrap();
    assert!(path.exists());
    pull.unbind(&endpoint).await.unwrap();
    assert!(!path.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_ipc_wildcard_bind_gets_its_own_fresh_path() {
    // libzmq's ipc://* binds a fresh file in a new temporary directory
    // (not a file named `*` in the working directory), is unbound by that
    // path only (test_term_endpoint), and removes both when it ends.
    let a = socket(SocketType::Pull);
    let b = socket(SocketType::Pull);
    let bound_a = a.bind("ipc://*").await.unwrap().to_string();
    let bound_b = b.bind("ipc://*").await.unwrap().to_string();
    assert_ne!(bound_a, bound_b);
    let path_a = std::path::PathBuf::from(bound_a.strip_prefix("ipc://").unwrap());
    assert!(path_a.is_absolute() && path_a.exists(), "{bound_a}");
    assert!(!std::path::Path::new("*").exists());
    assert!(matches!(
        a.unbind("ipc://*").await,
        Err(Error::EndpointNotFound(_))
    ));
    a.unbind(&bound_a).await.unwrap();
    assert!(!path_a.exists());
    assert!(!path_a.parent().unwrap().exists(), "its directory goes too");
    b.unbind(&bound_b).await.unwrap();
}

#[tokio::test]
async fn inproc_connect_before_bind_queues_until_the_bind() {
    let domain = InprocDomain::new();
    let push = in_domain(SocketType::Push, &domain);
    push.connect("inproc://later").await.unwrap();
    for i in 0..3 {
        push.send(msg(&[&i.to_string()])).await.unwrap();
    }
    let pull = in_domain(SocketType::Pull, &domain);
    pull.bind("inproc://later").await.unwrap();
    for i in 0..3 {
        assert_eq!(recv(&pull).await, [i.to_string()]);
    }
    // Both directions work once joined.
    let pair_a = in_domain(SocketType::Pair, &domain);
    pair_a.connect("inproc://pairs").await.unwrap();
    let pair_b = in_domain(SocketType::Pair, &domain);
    pair_b.bind("inproc://pairs").await.unwrap();
    pair_b.send(msg(&["to a"])).await.unwrap();
    assert_eq!(recv(&pair_a).await, ["to a"]);
    pair_a.send(msg(&["to b"])).await.unwrap();
    assert_eq!(recv(&pair_b).await, ["to b"]);
}

#[tokio::test]
async fn inproc_pending_connects_respect_the_high_water_mark() {
    let domain = InprocDomain::new();
    let mut options = Options::new(SocketType::Push);
    options.sndhwm = 3;
    options.inproc_domain = domain.clone();
    let push = Socket::with_options(SocketType::Push, options);
    push.connect("inproc://hwm").await.unwrap();
    let mut sent = 0;
    while push.try_send(msg(&["x"])).is_ok() {
        sent += 1;
        assert!(sent <= 3, "more than the mark queued");
    }
    assert_eq!(sent, 3);
}

#[tokio::test]
async fn inproc_pending_subscriptions_reach_the_publisher() {
    let domain = InprocDomain::new();
    let sub = in_domain(SocketType::Sub, &domain);
    sub.subscribe("a").unwrap();
    sub.connect("inproc://feed").await.unwrap();
    let publisher = in_domain(SocketType::Pub, &domain);
    publisher.bind("inproc://feed").await.unwrap();
    // The subscription arrives asynchronously: publish until it does.
    let got = timeout(WAIT, async {
        loop {
            publisher.send(msg(&["b", "no"])).await.unwrap();
            publisher.send(msg(&["a", "yes"])).await.unwrap();
            if let Ok(Ok(m)) = timeout(Duration::from_millis(50), sub.recv()).await {
                return text(&m);
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(got, ["a", "yes"]);
}

#[tokio::test]
async fn inproc_disconnect_drops_a_pending_connect() {
    let domain = InprocDomain::new();
    let push = in_domain(SocketType::Push, &domain);
    push.connect("inproc://dropped").await.unwrap();
    push.send(msg(&["lost"])).await.unwrap();
    push.disconnect("inproc://dropped").unwrap();
    let pull = in_domain(SocketType::Pull, &domain);
    pull.bind("inproc://dropped").await.unwrap();
    assert!(matches!(pull.try_recv(), Err(Error::WouldBlock)));
    // A later connect is a fresh one.
    push.connect("inproc://dropped").await.unwrap();
    push.send(msg(&["kept"])).await.unwrap();
    assert_eq!(recv(&pull).await, ["kept"]);
}

#[tokio::test]
async fn inproc_disconnect_ends_a_joined_link() {
    let domain = InprocDomain::new();
    let pull = in_domain(SocketType::Pull, &domain);
    pull.bind("inproc://joined").await.unwrap();
    let push = in_domain(SocketType::Push, &domain);
    push.connect("inproc://joined").await.unwrap();
    push.send(msg(&["one"])).await.unwrap();
    assert_eq!(recv(&pull).await, ["one"]);
    push.disconnect("inproc://joined").unwrap();
    // Both ends are gone at once, as in libzmq: no peer left to send to.
    assert_eq!((push.stats().peers, pull.stats().peers), (0, 0));
    assert!(!push.is_writable());
    // The binder's sends find no pipe either (pyzmq's
    // test_connectbind_context_managers).
    let reverse = in_domain(SocketType::Push, &domain);
    reverse.bind("inproc://reverse").await.unwrap();
    let taker = in_domain(SocketType::Pull, &domain);
    taker.connect("inproc://reverse").await.unwrap();
    reverse.send(msg(&["hi"])).await.unwrap();
    assert_eq!(recv(&taker).await, ["hi"]);
    taker.disconnect("inproc://reverse").unwrap();
    assert!(matches!(
        reverse.try_send(msg(&["hi"])).map_err(|e| e.error),
        Err(Error::WouldBlock)
    ));
}

#[tokio::test]
async fn inproc_unbind_frees_the_name_and_keeps_links() {
    let domain = InprocDomain::new();
    let pull = in_domain(SocketType::Pull, &domain);
    pull.bind("inproc://name").await.unwrap();
    let push = in_domain(SocketType::Push, &domain);
    push.connect("inproc://name").await.unwrap();
    pull.unbind("inproc://name").await.unwrap();
    let other = in_domain(SocketType::Pull, &domain);
    other.bind("inproc://name").await.unwrap();
    push.send(msg(&["still linked"])).await.unwrap();
    assert_eq!(recv(&pull).await, ["still linked"]);
}

#[tokio::test]
async fn closing_with_zero_linger_drops_a_pending_connect() {
    let domain = InprocDomain::new();
    let mut options = Options::new(SocketType::Push);
    options.linger = Some(Duration::ZERO);
    options.inproc_domain = domain.clone();
    let push = Socket::with_options(SocketType::Push, options);
    push.connect("inproc://never").await.unwrap();
    push.send(msg(&["undeliverable"])).await.unwrap();
    timeout(WAIT, push.close()).await.unwrap();
    // And a bind afterwards finds nothing to join.
    let pull = in_domain(SocketType::Pull, &domain);
    pull.bind("inproc://never").await.unwrap();
    assert!(matches!(pull.try_recv(), Err(Error::WouldBlock)));
}

#[tokio::test]
async fn inproc_domains_keep_names_apart() {
    let (one, two) = (InprocDomain::new(), InprocDomain::new());
    let a = in_domain(SocketType::Pull, &one);
    let b = in_domain(SocketType::Pull, &two);
    a.bind("inproc://same").await.unwrap();
    b.bind("inproc://same").await.unwrap();
    let push = in_domain(SocketType::Push, &two);
    push.connect("inproc://same").await.unwrap();
    push.send(msg(&["two"])).await.unwrap();
    assert_eq!(recv(&b).await, ["two"]);
    assert!(matches!(a.try_recv(), Err(Error::WouldBlock)));
    let third = in_domain(SocketType::Pull, &one);
    assert!(matches!(
        third.bind("inproc://same").await,
        Err(Error::AddressInUse(_))
    ));
}

#[tokio::test]
async fn unbind_ends_links_still_in_their_handshake() {
    use tokio::io::AsyncReadExt;
    let pull = socket(SocketType::Pull);
    let bound = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let mut events = pull.monitor();
    // A peer that connects and never sends its greeting.
    let addr = bound.to_string().trim_start_matches("tcp://").to_owned();
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    next(&mut events, |e| {
        matches!(e, MonitorEvent::Accepted { .. }).then_some(())
    })
    .await;
    pull.unbind(&bound.to_string()).await.unwrap();
    // Our greeting may come first; then the connection closes.
    let mut sink = Vec::new();
    timeout(WAIT, raw.read_to_end(&mut sink))
        .await
        .expect("the link was not closed")
        .ok();
}

#[tokio::test]
async fn a_closed_socket_still_delivers_to_a_later_inproc_bind() {
    let domain = InprocDomain::new();
    for _ in 0..3 {
        let mut options = Options::new(SocketType::Pair);
        options.inproc_domain = domain.clone();
        let pair = Socket::with_options(SocketType::Pair, options);
        pair.connect("inproc://sink").await.unwrap();
        pair.send(msg(&["left behind"])).await.unwrap();
        timeout(WAIT, pair.close()).await.unwrap();
    }
    // As libzmq: inproc joins any types (PAIR to PULL here).
    let pull = in_domain(SocketType::Pull, &domain);
    pull.bind("inproc://sink").await.unwrap();
    for _ in 0..3 {
        assert_eq!(recv(&pull).await, ["left behind"]);
    }
    domain.clear();
}

#[tokio::test]
async fn a_connect_from_a_source_address_is_disconnected_by_its_full_name() {
    let pull = socket(SocketType::Pull);
    let bound = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let mut events = pull.monitor();
    let dest = bound.to_string().trim_start_matches("tcp://").to_owned();
    // Two connects from one source port, to two destinations (libzmq's
    // test_reqrep_tcp does the same).
    let other = socket(SocketType::Pull);
    let other_at = other.bind("tcp://127.0.0.1:*").await.unwrap();
    let other_dest = other_at.to_string().trim_start_matches("tcp://").to_owned();
    let source_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let push = socket(SocketType::Push);
    let from = format!("tcp://127.0.0.1:{source_port};{dest}");
    push.connect(&from).await.unwrap();
    push.connect(&format!("tcp://127.0.0.1:{source_port};{other_dest}"))
        .await
        .unwrap();
    let peer = next(&mut events, |e| match e {
        MonitorEvent::Accepted { peer, .. } => Some(peer.clone()),
        _ => None,
    })
    .await;
    assert_eq!(peer, format!("127.0.0.1:{source_port}"));
    push.send(msg(&["from the source"])).await.unwrap();
    push.send(msg(&["to the other"])).await.unwrap();
    assert_eq!(recv(&pull).await, ["from the source"]);
    assert_eq!(recv(&other).await, ["to the other"]);
    push.disconnect(&from).unwrap();
    assert_eq!(next(&mut events, disconnected).await, LinkEnd::PeerClosed);
    // A source address is for connects.
    assert!(matches!(pull.bind(&from).await, Err(Error::Endpoint(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_link_outlives_an_unbind_racing_its_connects() {
    use tokio::io::AsyncReadExt;
    for round in 0..5 {
        let pull = socket(SocketType::Pull);
        let bound = pull.bind("tcp://127.0.0.1:*").await.unwrap();
        let addr = bound.to_string().trim_start_matches("tcp://").to_owned();
        // Real peers, some mid-handshake, some done, as the unbind comes.
        let pushes: Vec<Socket> = (0..8).map(|_| socket(SocketType::Push)).collect();
        for push in &pushes {
            push.connect(&bound.to_string()).await.unwrap();
        }
        // And raw connections that never greet.
        let mut raws = Vec::new();
        for _ in 0..8 {
            raws.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
        }
        if round % 2 == 1 {
            tokio::task::yield_now().await;
        }
        pull.unbind(&bound.to_string()).await.unwrap();
        // Every raw connection is closed...
        for mut raw in raws {
            let mut sink = Vec::new();
            timeout(WAIT, raw.read_to_end(&mut sink))
                .await
                .expect("a link outlived the unbind")
                .ok();
        }
        // ...and no peer is left, nor comes back (nothing listens there).
        timeout(WAIT, async {
            while pull.stats().peers > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("a peer outlived the unbind");
        assert!(matches!(pull.try_recv(), Err(Error::WouldBlock)));
    }
}
