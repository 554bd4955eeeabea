//! Hostile peers over real sockets: a raw ZMTP DEALER that speaks bridge
//! messages the way no honest node would, against a running
//! [`PeerManager`]. Each test checks that only the offender's link closes,
//! with one typed event, that an honest peer keeps flowing, and where it
//! matters that memory stays bounded.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use serializer_bridge::session::ProtocolError;
use serializer_bridge::wire::{Hello, OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION, Record, Wire};
use serializer_bridge::{
    BridgeConfig, CacheEpoch, Chunk, Event, GroupLimits, GroupWriteRefused, LeaveReason, LinkDown,
    PeerConfig, PeerManager,
};
use zmtp_transport::{Message, Options, Socket, SocketType};

mod common;

use common::{WAIT, wait_for, wait_until_forgotten};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn manager() -> (PeerManager, String) {
    let mut config = BridgeConfig::new("m");
    config.listen.push("tcp://127.0.0.1:*".into());
    config.peers.push(PeerConfig {
        name: "configured".into(),
        endpoint: "tcp://127.0.0.1:9".into(),
    });
    let m = PeerManager::start(config).unwrap();
    let endpoint = m.bound_endpoints()[0].to_string();
    (m, endpoint)
}

/// A raw DEALER calling itself `name`, seeing its own link's ups and downs.
async fn raw_peer(name: &str, endpoint: &str) -> Socket {
    let mut options = Options::new(SocketType::Dealer);
    options.routing_id = Bytes::copy_from_slice(name.as_bytes());
    options.link_notify = true;
    options.reconnect_ivl = Duration::from_secs(60);
    let socket = Socket::with_options(SocketType::Dealer, options);
    socket.connect(endpoint).await.unwrap();
    socket
}

fn hello(name: &str, nonce: u64, epoch: u64) -> Hello {
    Hello {
        version: PROTOCOL_VERSION,
        capabilities: 0,
        cache_size: 0,
        window_chunks: 64,
        window_bytes: 1 << 20,
        incarnation: 77,
        nonce,
        epoch: CacheEpoch(epoch),
        record: Record::default(),
        node: name.into(),
    }
}

/// Waits for the raw peer's link to go down, returning the bridge messages
/// it got first.
async fn until_closed(socket: &Socket) -> Vec<Wire> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.recv())
            .await
            .expect("the bridge did not close the link")
            .unwrap();
        let frames = message.frames();
        if frames.len() == 2 && frames[0].is_empty() && frames[1].len() == 1 {
            if frames[1][0] == 0 {
                return got;
            }
            continue;
        }
        got.push(Wire::decode(&message).unwrap());
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// An honest node that connects to `endpoint` as `name` and exchanges one
/// chunk with the manager, proving the manager still serves peers.
fn honest_round_trip(m: &PeerManager, endpoint: &str, name: &str) {
    let mut config = BridgeConfig::new(name);
    config.peers.push(PeerConfig {
        name: "m".into(),
        endpoint: endpoint.into(),
    });
    let w = PeerManager::start(config).unwrap();
    let Event::PeerUp { peer, epoch, .. } = wait_for(&w, "PeerUp at the honest node", |e| {
        matches!(e, Event::PeerUp { .. })
    }) else {
        unreachable!()
    };
    w.write(peer, Chunk::serial(epoch, &b"still here"[..]))
        .unwrap();
    let got = wait_for(m, "the honest chunk", |e| matches!(e, Event::Chunk { .. }));
    let Event::Chunk { chunk, .. } = got else {
        unreachable!()
    };
    assert_eq!(&chunk.data[..], b"still here");
    wait_for(&w, "Delivered", |e| {
        matches!(e, Event::Delivered { through: 1, .. })
    });
}

#[test]
fn garbage_closes_the_link_with_one_coalesced_event_and_bounded_memory() {
    let rt = runtime();
    let (m, endpoint) = manager();
    let before = rss_bytes();
    // 7 MB of 3-byte garbage from one routing id while nobody reads events.
    let socket = rt.block_on(raw_peer("garbage", &endpoint));
    rt.block_on(async {
        for _ in 0..(7 << 20) / 3 {
            let message: Message = [&b"xyz"[..]].into_iter().collect();
            if socket.try_send(message).is_err() {
                break;
            }
        }
    });
    let replies = rt.block_on(until_closed(&socket));
    assert!(
        matches!(replies.first(), Some(Wire::Refuse { .. })),
        "a REFUSE before the close: {replies:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let grown = rss_bytes().saturating_sub(before);
    let refusals: Vec<Event> = std::iter::from_fn(|| m.poll_event())
        .filter(|e| matches!(e, Event::Refused { .. }))
        .collect();
    assert_eq!(refusals.len(), 1, "one event per routing id: {refusals:?}");
    assert!(matches!(
        &refusals[0],
        Event::Refused { node, error: ProtocolError::Malformed(_), count } if node == "garbage" && *count >= 1
    ));
    assert!(grown < 32 << 20, "the process grew by {grown} bytes");
    assert!(m.peers().iter().all(|(_, name)| name != "garbage"));
    honest_round_trip(&m, &endpoint, "w1");
}

#[test]
fn links_without_a_hello_create_no_peers() {
    let rt = runtime();
    let (m, endpoint) = manager();
    rt.block_on(async {
        let mut sockets = Vec::new();
        for i in 0..200 {
            sockets.push(raw_peer(&format!("idle-{i}"), &endpoint).await);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        for s in sockets {
            s.close().await;
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        m.peers().len(),
        1,
        "only the configured peer: {:?}",
        m.peers()
    );
    honest_round_trip(&m, &endpoint, "w1");
}

#[test]
fn impossible_acks_end_only_that_link() {
    let rt = runtime();
    let (m, endpoint) = manager();
    let socket = rt.block_on(raw_peer("liar", &endpoint));
    rt.block_on(socket.send(Wire::Hello(hello("liar", 1, 1)).encode()))
        .unwrap();
    let Event::PeerUp { peer, epoch, .. } = wait_for(&m, "PeerUp of the liar", |e| {
        matches!(e, Event::PeerUp { .. })
    }) else {
        unreachable!()
    };
    m.write(peer, Chunk::serial(epoch, &b"one"[..])).unwrap();
    rt.block_on(async {
        loop {
            let message = tokio::time::timeout(WAIT, socket.recv())
                .await
                .unwrap()
                .unwrap();
            if matches!(Wire::decode(&message), Ok(Wire::Chunk { .. })) {
                break;
            }
        }
    });
    // Acknowledge a thousand chunks of the one sent.
    rt.block_on(socket.send(Wire::Ack { epoch, seq: 1000 }.encode()))
        .unwrap();
    let down = wait_for(&m, "PeerDown of the liar", |e| {
        matches!(e, Event::PeerDown { .. })
    });
    assert!(
        matches!(
            &down,
            Event::PeerDown {
                reason: LinkDown::Protocol(ProtocolError::AckOutOfRange {
                    seq: 1000,
                    sent: 1,
                    ..
                }),
                ..
            }
        ),
        "{down:?}"
    );
    let replies = rt.block_on(until_closed(&socket));
    assert!(
        replies.iter().any(|w| matches!(w, Wire::Refuse { .. })),
        "{replies:?}"
    );
    // The chunk stays in doubt (the liar never said what it took): the
    // timeout hands it back; nothing was released by the blind ACK.
    assert_eq!(m.stats(peer).unwrap().in_doubt, 1);
    honest_round_trip(&m, &endpoint, "w1");
}

#[test]
fn epochs_at_the_top_of_the_range_are_refused_without_a_panic() {
    let rt = runtime();
    let (m, endpoint) = manager();
    let socket = rt.block_on(raw_peer("wrap", &endpoint));
    rt.block_on(socket.send(Wire::Hello(hello("wrap", 1, u64::MAX)).encode()))
        .unwrap();
    let replies = rt.block_on(until_closed(&socket));
    assert!(
        matches!(replies.first(), Some(Wire::Refuse { .. })),
        "{replies:?}"
    );
    let refused = wait_for(&m, "Refused", |e| matches!(e, Event::Refused { .. }));
    assert!(matches!(
        refused,
        Event::Refused {
            error: ProtocolError::EpochOutOfRange { .. },
            ..
        }
    ));
    honest_round_trip(&m, &endpoint, "w1");
}

#[test]
fn names_must_match_the_routing_id_and_not_be_taken() {
    let rt = runtime();
    let (m, endpoint) = manager();
    for (routing_id, name, want) in [
        ("a", "b", "NodeName"),
        ("configured", "configured", "NameTaken"),
        ("m", "m", "NameTaken"),
    ] {
        let socket = rt.block_on(raw_peer(routing_id, &endpoint));
        rt.block_on(socket.send(Wire::Hello(hello(name, 1, 1)).encode()))
            .unwrap();
        rt.block_on(until_closed(&socket));
        let refused = wait_for(&m, "Refused", |e| matches!(e, Event::Refused { .. }));
        let Event::Refused { error, .. } = refused else {
            unreachable!()
        };
        let got = match error {
            ProtocolError::NodeName { .. } => "NodeName",
            ProtocolError::NameTaken { .. } => "NameTaken",
            other => panic!("{other:?}"),
        };
        assert_eq!(got, want);
    }
    honest_round_trip(&m, &endpoint, "w1");
}

#[test]
fn a_flood_past_our_window_ends_the_link_and_memory_stays_bounded() {
    let rt = runtime();
    let mut config = BridgeConfig::new("m");
    config.listen.push("tcp://127.0.0.1:*".into());
    config.caps.hard_chunks = 256;
    config.caps.soft_chunks = 128;
    let m = PeerManager::start(config).unwrap();
    let endpoint = m.bound_endpoints()[0].to_string();
    let before = rss_bytes();
    let socket = rt.block_on(raw_peer("flood", &endpoint));
    rt.block_on(socket.send(Wire::Hello(hello("flood", 1, 1)).encode()))
        .unwrap();
    let Event::PeerUp { epoch, .. } = wait_for(&m, "PeerUp", |e| matches!(e, Event::PeerUp { .. }))
    else {
        unreachable!()
    };
    // Nobody reads; the flood ignores our window of 256 chunks.
    let payload = Bytes::from(vec![0u8; 64 << 10]);
    rt.block_on(async {
        for seq in 1..=2000 {
            let chunk = Wire::Chunk {
                epoch,
                seq,
                kind: serializer_bridge::MessageType::Serial,
                payload: payload.clone(),
            };
            if socket.try_send(chunk.encode()).is_err() {
                break;
            }
        }
    });
    rt.block_on(until_closed(&socket));
    let down = wait_for(&m, "PeerDown", |e| matches!(e, Event::PeerDown { .. }));
    assert!(
        matches!(
            down,
            Event::PeerDown {
                reason: LinkDown::Protocol(ProtocolError::WindowExceeded { .. }),
                ..
            }
        ),
        "{down:?}"
    );
    let grown = rss_bytes().saturating_sub(before);
    // The window is 256 x 64 KiB = 16 MiB; the socket's inbound queue
    // holds at most its HWM more.
    assert!(grown < 160 << 20, "the process grew by {grown} bytes");
}

#[test]
fn a_name_stays_with_the_identity_that_first_said_hello() {
    use std::sync::Arc;
    use zmtp_transport::{PlainPasswords, Security};
    let rt = runtime();
    let mut config = BridgeConfig::new("m");
    config.listen.push("tcp://127.0.0.1:*".into());
    config.socket.security = Security::PlainServer;
    config.socket.authenticator = Some(Arc::new(
        PlainPasswords::new()
            .with("alice", "a")
            .with("mallory", "m"),
    ));
    let m = PeerManager::start(config).unwrap();
    let endpoint = m.bound_endpoints()[0].to_string();

    // "w1" authenticated as alice comes up and delivers.
    let mut config = BridgeConfig::new("w1");
    config.peers.push(PeerConfig {
        name: "m".into(),
        endpoint: endpoint.clone(),
    });
    config.socket.security = Security::PlainClient {
        username: "alice".into(),
        password: "a".into(),
    };
    let w1 = PeerManager::start(config).unwrap();
    let Event::PeerUp { peer, epoch, .. } =
        wait_for(&w1, "PeerUp at w1", |e| matches!(e, Event::PeerUp { .. }))
    else {
        unreachable!()
    };
    w1.write(peer, Chunk::serial(epoch, &b"from alice"[..]))
        .unwrap();
    wait_for(&m, "alice's chunk", |e| matches!(e, Event::Chunk { .. }));

    // mallory takes the routing id "w1" over and says HELLO as w1.
    let mut options = Options::new(SocketType::Dealer);
    options.routing_id = Bytes::from_static(b"w1");
    options.link_notify = true;
    options.reconnect_ivl = Duration::from_secs(60);
    options.security = Security::PlainClient {
        username: "mallory".into(),
        password: "m".into(),
    };
    let mallory = Socket::with_options(SocketType::Dealer, options);
    rt.block_on(async {
        mallory.connect(&endpoint).await.unwrap();
        mallory
            .send(Wire::Hello(hello("w1", 1, 1)).encode())
            .await
            .unwrap();
    });
    let replies = rt.block_on(until_closed(&mallory));
    assert!(
        replies.iter().any(|w| matches!(w, Wire::Refuse { .. })),
        "mallory was not refused: {replies:?}"
    );
    let refused = wait_for(&m, "Refused", |e| matches!(e, Event::Refused { .. }));
    assert!(matches!(
        refused,
        Event::Refused {
            error: ProtocolError::NameTaken { .. },
            ..
        }
    ));
    // alice's node gets its name back and delivers again (its link was
    // displaced by the takeover; it reconnects, at worst after its
    // handshake timeout).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut written_in = None;
    loop {
        assert!(
            Instant::now() < deadline,
            "no chunk from alice after the takeover attempt"
        );
        while w1.poll_event().is_some() {}
        if let Some(peer) = w1.peer_id("m")
            && let Some(epoch) = w1.epoch(peer)
            && written_in != Some(epoch)
            && w1
                .write(peer, Chunk::serial(epoch, &b"alice again"[..]))
                .is_ok()
        {
            written_in = Some(epoch);
        }
        if let Some(Event::Chunk { chunk, .. }) = m.wait_event(Duration::from_millis(20))
            && &chunk.data[..] == b"alice again"
        {
            break;
        }
    }
}

#[test]
fn a_forgotten_peers_leftovers_before_its_hello_are_dropped_quietly() {
    let rt = runtime();
    let (m, endpoint) = manager();
    let first = rt.block_on(raw_peer("w", &endpoint));
    rt.block_on(first.send(Wire::Hello(hello("w", 1, 1)).encode()))
        .unwrap();
    wait_for(&m, "PeerUp", |e| matches!(e, Event::PeerUp { .. }));
    rt.block_on(first.close());
    wait_for(&m, "PeerDown", |e| matches!(e, Event::PeerDown { .. }));
    wait_until_forgotten(&m, "w");
    // The same process reconnects; a chunk of its old epoch, queued before
    // the drop, goes out ahead of its new HELLO.
    let second = rt.block_on(raw_peer("w", &endpoint));
    let stale = Wire::Chunk {
        epoch: CacheEpoch(1),
        seq: 1,
        kind: serializer_bridge::MessageType::Serial,
        payload: Bytes::from_static(b"old"),
    };
    rt.block_on(async {
        second.send(stale.encode()).await.unwrap();
        second
            .send(Wire::Hello(hello("w", 2, 2)).encode())
            .await
            .unwrap();
    });
    let up = wait_for(&m, "PeerUp", |e| {
        assert!(!matches!(e, Event::Refused { .. }), "refused: {e:?}");
        matches!(e, Event::PeerUp { .. })
    });
    assert!(matches!(up, Event::PeerUp { epoch, .. } if epoch > CacheEpoch(1)));
    let welcome = rt.block_on(async {
        loop {
            let message = tokio::time::timeout(WAIT, second.recv())
                .await
                .unwrap()
                .unwrap();
            if let Ok(wire) = Wire::decode(&message) {
                return wire;
            }
        }
    });
    assert!(matches!(welcome, Wire::Welcome(_)), "{welcome:?}");
}

/// The raw peer's next bridge message (link notices skipped).
async fn next_wire(socket: &Socket) -> Wire {
    loop {
        let message = tokio::time::timeout(WAIT, socket.recv())
            .await
            .expect("no bridge message came")
            .unwrap();
        let frames = message.frames();
        if frames.len() == 2 && frames[0].is_empty() && frames[1].len() == 1 {
            continue;
        }
        return Wire::decode(&message).unwrap();
    }
}

#[test]
fn a_peer_of_the_version_before_groups_links_but_is_never_sent_a_group_chunk() {
    let rt = runtime();
    let (m, endpoint) = manager();
    let socket = rt.block_on(raw_peer("old", &endpoint));
    let mut h = hello("old", 1, 1);
    h.version = OLDEST_PROTOCOL_VERSION;
    rt.block_on(socket.send(Wire::Hello(h).encode())).unwrap();
    let Wire::Welcome(welcome) = rt.block_on(next_wire(&socket)) else {
        panic!("expected a WELCOME");
    };
    assert_eq!(welcome.version, OLDEST_PROTOCOL_VERSION);
    let Event::PeerUp { peer, epoch, .. } = wait_for(&m, "PeerUp of the old peer", |e| {
        matches!(e, Event::PeerUp { .. })
    }) else {
        unreachable!()
    };
    // A group of it alone never has a member, so a group write is refused
    // and nothing goes out: its next message is the per-peer chunk.
    let group = m.join_group("g", &["old"]);
    let (group_epoch, members) = m.group_epoch(group).unwrap();
    assert!(members.is_empty());
    let refused = m.write_group(group, Chunk::serial(group_epoch, &b"g"[..]));
    assert!(matches!(
        refused,
        Err((GroupWriteRefused::StaleEpoch { .. }, _))
    ));
    m.write(peer, Chunk::serial(epoch, &b"own"[..])).unwrap();
    match rt.block_on(next_wire(&socket)) {
        Wire::Chunk { payload, .. } => assert_eq!(&payload[..], b"own"),
        other => panic!("expected its own chunk, got {other:?}"),
    }
    assert_eq!(m.group_epoch(group).unwrap().1, Vec::new());
}

/// A group member that takes its link up and then never reads nor ACKs:
/// it leaves the group epoch when it owes the cap, once (it never rejoins
/// while it owes), the honest member takes every chunk written after, and
/// what is kept for it stays within `docs/limits.md`'s group bounds.
#[test]
fn a_member_that_never_acks_leaves_at_the_cap_and_the_others_keep_going() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    const CAP: u64 = 32;
    const CHUNKS: u64 = 2000;
    let rt = runtime();
    let mut config = BridgeConfig::new("m");
    config.listen.push("tcp://127.0.0.1:*".into());
    config.group_limits = GroupLimits {
        max_lag_chunks: CAP,
        max_lag_bytes: 1 << 20,
        ..GroupLimits::default()
    };
    let m = PeerManager::start(config).unwrap();
    let endpoint = m.bound_endpoints()[0].to_string();
    let mut honest = BridgeConfig::new("a");
    honest.peers.push(PeerConfig {
        name: "m".into(),
        endpoint: endpoint.clone(),
    });
    let a = PeerManager::start(honest).unwrap();
    let socket = rt.block_on(raw_peer("stuck", &endpoint));
    let mut h = hello("stuck", 1, 1);
    h.window_chunks = 10_000;
    rt.block_on(socket.send(Wire::Hello(h).encode())).unwrap();
    assert!(matches!(rt.block_on(next_wire(&socket)), Wire::Welcome(_)));
    let group = m.join_group("g", &["a", "stuck"]);
    let deadline = Instant::now() + WAIT;
    let mut epoch = loop {
        let (epoch, members) = m.group_epoch(group).unwrap();
        if members.len() == 2 {
            break epoch;
        }
        assert!(Instant::now() < deadline, "the group never had both");
        let _ = m.wait_event(Duration::from_millis(20));
    };
    while m.poll_event().is_some() {}
    let stuck = m.peer_id("stuck").unwrap();

    // The honest member reads all the time.
    let taken = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (taken, stop) = (taken.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                if let Some(Event::GroupChunk { .. }) = a.wait_event(Duration::from_millis(20)) {
                    taken.fetch_add(1, Ordering::Release);
                }
            }
            a
        })
    };
    let mut epochs = Vec::new();
    let mut written = 0u64;
    while written < CHUNKS {
        // At most 16 ahead of the honest member: it never lags.
        while written >= taken.load(Ordering::Acquire) + 16 {
            assert!(
                Instant::now() < deadline + WAIT,
                "the honest member stalled"
            );
            while let Some(event) = m.poll_event() {
                if let Event::GroupEpoch { .. } = event {
                    epochs.push(event);
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        match m.write_group(group, Chunk::serial(epoch, written.to_be_bytes().to_vec())) {
            Ok(_) => written += 1,
            Err((GroupWriteRefused::StaleEpoch { current, .. }, _)) => epoch = current,
            Err((other, _)) => panic!("write refused: {other}"),
        }
    }
    let deadline = Instant::now() + WAIT;
    while taken.load(Ordering::Acquire) < CHUNKS {
        assert!(
            Instant::now() < deadline,
            "the honest member did not take everything"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    while let Some(event) = m.poll_event() {
        if let Event::GroupEpoch { .. } = event {
            epochs.push(event);
        }
    }
    // One leave, at the cap; no rejoin while it owes.
    assert_eq!(epochs.len(), 1, "{epochs:?}");
    let Event::GroupEpoch { members, left, .. } = &epochs[0] else {
        unreachable!()
    };
    assert_eq!(members.len(), 1);
    assert_eq!(
        left,
        &vec![(
            stuck,
            LeaveReason::Lagging {
                chunks: CAP,
                bytes: CAP * 8
            }
        )]
    );
    // Bounded: the stuck member holds what it owes, the group at most the
    // cap per wanted member and epoch (docs/limits.md, Groups).
    assert!(m.stats(stuck).unwrap().pending <= CAP);
    assert!(m.group_pending(group).unwrap() as u64 <= CAP * 3);
    stop.store(true, Ordering::Release);
    drop(reader.join().unwrap());
    drop(socket);
}
