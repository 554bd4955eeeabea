//! Two or three peer managers in one process, over tcp and ipc: epochs,
//! ordering, acknowledgement, back-pressure, and exactly one outcome per
//! written chunk (`Delivered` or `HandedBack`).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use serializer_bridge::{
    BridgeConfig, CacheEpoch, Caps, Chunk, Event, HandBack, LinkDown, MessageType, PeerConfig,
    PeerId, PeerManager, ProtocolError, WriteRefused,
};

mod common;

use common::{WAIT, wait_for, wait_until_forgotten};

fn listener(node: &str, endpoint: &str) -> PeerManager {
    let mut config = BridgeConfig::new(node);
    config.listen.push(endpoint.into());
    PeerManager::start(config).unwrap()
}

fn connector(node: &str, peer: &str, endpoint: &str, caps: Option<Caps>) -> PeerManager {
    let mut config = BridgeConfig::new(node);
    config.peers.push(PeerConfig {
        name: peer.into(),
        endpoint: endpoint.into(),
    });
    if let Some(caps) = caps {
        config.caps = caps;
    }
    PeerManager::start(config).unwrap()
}

fn peer_up(m: &PeerManager) -> (PeerId, CacheEpoch) {
    match wait_for(m, "PeerUp", |e| matches!(e, Event::PeerUp { .. })) {
        Event::PeerUp { peer, epoch, .. } => (peer, epoch),
        _ => unreachable!(),
    }
}

#[test]
fn chunks_flow_both_ways_in_order_over_tcp_and_ipc() {
    for (i, endpoint) in ["tcp://127.0.0.1:*", "ipc://@bridge-test-order"]
        .into_iter()
        .enumerate()
    {
        let manager = listener("manager", endpoint);
        let ep = manager.bound_endpoints()[0].to_string();
        let worker = connector(&format!("worker-{i}"), "manager", &ep, None);
        let (to_manager, epoch_w) = peer_up(&worker);
        let (to_worker, epoch_m) = peer_up(&manager);
        assert_eq!(epoch_w, epoch_m, "both sides agree the epoch");
        assert_eq!(manager.peers()[0].1, format!("worker-{i}"));

        for n in 0..2000u32 {
            let seq = worker
                .write(to_manager, Chunk::serial(epoch_w, n.to_be_bytes().to_vec()))
                .unwrap();
            assert_eq!(seq, u64::from(n) + 1, "sequences count from 1 in the epoch");
            let seq = manager
                .write(
                    to_worker,
                    Chunk::new(epoch_m, MessageType::LogWrite, n.to_be_bytes().to_vec()),
                )
                .unwrap();
            assert_eq!(seq, u64::from(n) + 1);
        }
        // Each side reads the other's chunks and is told its own were
        // delivered: cumulative `Delivered` events up to 2000, nothing
        // handed back.
        let mut through = [0u64; 2];
        let sides = [
            (&manager, to_worker, MessageType::Serial),
            (&worker, to_manager, MessageType::LogWrite),
        ];
        // The manager's chunks are delivered only once the worker reads
        // them, so each side's `Delivered` may come on the second round.
        for round in 0..2 {
            for (i, &(m, from, kind)) in sides.iter().enumerate() {
                let mut next = if round == 0 { 0u32 } else { 2000 };
                while next < 2000 || (round == 1 && through[i] < 2000) {
                    match wait_for(m, "chunk or Delivered", |_| true) {
                        Event::Chunk { peer, chunk } => {
                            assert_eq!(peer, from);
                            assert_eq!(chunk.kind, kind);
                            assert_eq!(chunk.epoch, epoch_w);
                            assert_eq!(chunk.data[..], next.to_be_bytes());
                            next += 1;
                        }
                        Event::Delivered {
                            peer,
                            epoch,
                            through: t,
                        } => {
                            assert_eq!((peer, epoch), (from, epoch_w));
                            assert!(t > through[i], "cumulative: {t} after {}", through[i]);
                            through[i] = t;
                        }
                        other @ (Event::HandedBack { .. } | Event::PeerDown { .. }) => {
                            panic!("nothing may come back: {other:?}")
                        }
                        _ => {}
                    }
                }
            }
        }
        assert_eq!(through, [2000, 2000]);
        assert!(worker.is_idle(to_manager) && manager.is_idle(to_worker));
        let stats = worker.stats(to_manager).unwrap();
        assert_eq!(
            (stats.chunks_out, stats.chunks_in, stats.pending),
            (2000, 2000, 0)
        );
    }
}

#[test]
fn a_dropped_link_hands_back_and_reconnects_in_a_new_epoch() {
    let manager = listener("manager", "tcp://127.0.0.1:*");
    let ep = manager.bound_endpoints()[0].to_string();
    let worker = connector("worker", "manager", &ep, None);
    let (to_manager, first) = peer_up(&worker);
    let (to_worker, _) = peer_up(&manager);

    // The manager stops reading: chunks stay undelivered.
    for n in 0..100u8 {
        let seq = worker
            .write(to_manager, Chunk::serial(first, vec![n]))
            .unwrap();
        assert_eq!(seq, u64::from(n) + 1);
    }
    std::thread::sleep(Duration::from_millis(200));
    drop(manager);

    let Event::PeerDown { epoch, reason, .. } =
        wait_for(&worker, "PeerDown", |e| matches!(e, Event::PeerDown { .. }))
    else {
        unreachable!()
    };
    assert_eq!(epoch, first);
    assert_eq!(reason, LinkDown::Closed);
    // Writing into the ended epoch is refused, with the chunk handed back.
    let (why, chunk) = worker
        .write(to_manager, Chunk::serial(first, "late"))
        .unwrap_err();
    assert_eq!(why, WriteRefused::PeerDown);
    assert_eq!(&chunk.data[..], b"late");

    // The manager comes back on the same endpoint, a new process: its
    // hello settles the chunks in doubt (all back, the peer restarted),
    // then a new, higher epoch.
    let manager = listener("manager", &ep);
    let mut back: Vec<(u64, u8)> = Vec::new();
    let (again, second, restarted) = loop {
        match wait_for(&worker, "PeerUp", |_| true) {
            Event::HandedBack {
                peer,
                epoch,
                reason,
                first_seq,
                chunks,
            } => {
                assert_eq!((peer, epoch), (to_manager, first));
                assert!(
                    matches!(reason, HandBack::Unsent | HandBack::PeerRestarted),
                    "{reason:?}"
                );
                back.extend((first_seq..).zip(chunks.iter().map(|c| c.data[0])));
            }
            Event::Delivered { .. } | Event::DeliveredAfterHandBack { .. } => {
                panic!("nothing was read, so nothing was delivered")
            }
            Event::PeerUp {
                peer,
                epoch,
                restarted,
                ..
            } => break (peer, epoch, restarted),
            _ => {}
        }
    };
    back.sort_unstable();
    let expected: Vec<(u64, u8)> = (1..=100).zip(0..100u8).collect();
    assert_eq!(
        back, expected,
        "every written chunk came back once, by its own sequence"
    );
    assert!(restarted, "the manager is a new process");
    assert_eq!(again, to_manager, "the peer id is stable");
    assert!(second > first, "{second} after {first}");
    assert!(worker.is_idle(to_manager));
    let (_, second_m) = peer_up(&manager);
    assert_eq!(second_m, second);
    let _ = to_worker;
    let (why, _) = worker
        .write(to_manager, Chunk::serial(first, "stale"))
        .unwrap_err();
    assert!(matches!(why, WriteRefused::StaleEpoch { .. }));
    let seq = worker
        .write(to_manager, Chunk::serial(second, "fresh"))
        .unwrap();
    assert_eq!(seq, 1, "a new epoch numbers from 1");
    let Event::Chunk { chunk, .. } =
        wait_for(&manager, "chunk", |e| matches!(e, Event::Chunk { .. }))
    else {
        unreachable!()
    };
    assert_eq!(&chunk.data[..], b"fresh");
    let delivered = wait_for(&worker, "Delivered", |e| {
        matches!(e, Event::Delivered { .. })
    });
    assert_eq!(
        delivered,
        Event::Delivered {
            peer: to_manager,
            epoch: second,
            through: 1
        }
    );
}

#[test]
fn a_stalled_peer_fills_up_and_refuses_while_others_flow() {
    let caps = Caps {
        soft_chunks: 100,
        hard_chunks: 200,
        soft_bytes: 1 << 30,
        hard_bytes: 1 << 30,
    };
    let slow = listener("slow", "tcp://127.0.0.1:*");
    let fast = listener("fast", "tcp://127.0.0.1:*");
    let mut config = BridgeConfig::new("worker");
    config.caps = caps;
    for (name, m) in [("slow", &slow), ("fast", &fast)] {
        config.peers.push(PeerConfig {
            name: name.into(),
            endpoint: m.bound_endpoints()[0].to_string(),
        });
    }
    let worker = PeerManager::start(config).unwrap();
    let mut ups = Vec::new();
    while ups.len() < 2 {
        ups.push(peer_up(&worker));
    }
    let to = |name: &str| worker.peer_id(name).unwrap();
    let epoch_of = |id: PeerId| ups.iter().find(|(p, _)| *p == id).unwrap().1;
    let (slow_id, fast_id) = (to("slow"), to("fast"));

    // Nobody reads at "slow": after 200 pending, writes are refused.
    let mut accepted = 0;
    let refused = loop {
        match worker.write(slow_id, Chunk::serial(epoch_of(slow_id), vec![0u8; 64])) {
            Ok(seq) => {
                accepted += 1;
                assert_eq!(seq, accepted);
            }
            Err((why, _)) => break why,
        }
    };
    assert_eq!(accepted, 200);
    assert!(matches!(refused, WriteRefused::Full { pending: 200, .. }));
    assert!(worker.is_filling_up(slow_id));
    wait_for(
        &worker,
        "FillingUp",
        |e| matches!(e, Event::FillingUp { peer } if *peer == slow_id),
    );

    // "fast" is unaffected: rounds of 50 (a quarter of the hard cap) go
    // through while "slow" stays stuck. (Acks from "fast" may lag a few
    // rounds on a loaded machine; a write refused for that is retried, a
    // lost ack would still end in the deadline.)
    for n in 0..1000u32 {
        let deadline = Instant::now() + WAIT;
        let mut chunk = Chunk::serial(epoch_of(fast_id), n.to_be_bytes().to_vec());
        while let Err((why, back)) = worker.write(fast_id, chunk) {
            assert!(
                matches!(why, WriteRefused::Full { .. }) && Instant::now() < deadline,
                "write to fast refused: {why:?}"
            );
            std::thread::sleep(Duration::from_millis(1));
            chunk = back;
        }
        if n % 50 == 49 {
            let mut got = 0;
            while got < 50 {
                if let Event::Chunk { .. } =
                    wait_for(&fast, "chunk", |e| matches!(e, Event::Chunk { .. }))
                {
                    got += 1;
                }
            }
        }
    }
    let deadline = Instant::now() + WAIT;
    while worker.can_write(fast_id) {
        assert!(Instant::now() < deadline, "fast peer never drained");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(worker.is_filling_up(slow_id), "slow is still stuck");

    // "slow" reads everything: acks drain the queue.
    let mut read = 0;
    while read < 200 {
        if let Event::Chunk { .. } = wait_for(&slow, "chunk", |e| matches!(e, Event::Chunk { .. }))
        {
            read += 1;
        }
    }
    wait_for(
        &worker,
        "Drained",
        |e| matches!(e, Event::Drained { peer } if *peer == slow_id),
    );
    assert!(!worker.is_filling_up(slow_id));
}

/// The next bridge message on a raw DEALER with `link_notify`, skipping
/// link notices.
async fn next_wire(dealer: &zmtp_transport::Socket) -> serializer_bridge::wire::Wire {
    loop {
        let message = tokio::time::timeout(WAIT, dealer.recv())
            .await
            .expect("no reply in time")
            .unwrap();
        if link_notice(&message).is_none() {
            return serializer_bridge::wire::Wire::decode(&message).unwrap();
        }
    }
}

/// Waits for the raw DEALER's link to go down (`up == false`) or up.
async fn link_becomes(dealer: &zmtp_transport::Socket, up: bool) {
    loop {
        let message = tokio::time::timeout(WAIT, dealer.recv())
            .await
            .expect("the link did not change in time")
            .unwrap();
        if link_notice(&message) == Some(up) {
            return;
        }
    }
}

fn link_notice(message: &zmtp_transport::Message) -> Option<bool> {
    match message.frames() {
        [empty, flag] if empty.is_empty() && flag.len() == 1 => Some(flag[0] == 1),
        _ => None,
    }
}

#[test]
fn a_wrong_version_hello_is_refused_with_a_reason() {
    use serializer_bridge::wire::{Hello, Record, RefuseCode, Wire};
    use zmtp_transport::{Options, Socket, SocketType};
    let manager = listener("manager", "tcp://127.0.0.1:*");
    let ep = manager.bound_endpoints()[0].to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut options = Options::new(SocketType::Dealer);
        options.routing_id = "rogue".into();
        options.link_notify = true;
        let dealer = Socket::with_options(SocketType::Dealer, options);
        dealer.connect(&ep).await.unwrap();
        let hello = Hello {
            version: 99,
            capabilities: 0,
            cache_size: 0,
            window_chunks: 16,
            window_bytes: 1 << 20,
            incarnation: 7,
            nonce: 1,
            epoch: CacheEpoch(1),
            record: Record::default(),
            node: "rogue".into(),
        };
        dealer.send(Wire::Hello(hello).encode()).await.unwrap();
        let Wire::Refuse { code, text } = next_wire(&dealer).await else {
            panic!("expected REFUSE")
        };
        assert_eq!(code, RefuseCode::Version);
        assert!(text.contains("version 99"), "{text}");
        // The bridge closes the link (and ignores it until then); the
        // DEALER reconnects, and garbage on the new link is refused too.
        link_becomes(&dealer, false).await;
        link_becomes(&dealer, true).await;
        dealer.send("garbage").await.unwrap();
        let reply = next_wire(&dealer).await;
        assert!(
            matches!(&reply, Wire::Refuse { code: RefuseCode::Protocol, text } if text.contains("malformed")),
            "{reply:?}"
        );
    });
    let refused = wait_for(&manager, "Refused", |e| matches!(e, Event::Refused { .. }));
    let Event::Refused { node, error, count } = refused else {
        unreachable!()
    };
    assert_eq!(node, "rogue");
    assert!(
        matches!(
            error,
            ProtocolError::Version {
                theirs: 99,
                ours: serializer_bridge::wire::PROTOCOL_VERSION
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        count, 2,
        "the second refusal of rogue is counted into the first event"
    );
    assert!(manager.peers().is_empty(), "a refused link makes no peer");
}

#[test]
fn a_forgotten_peer_that_returns_keeps_its_epochs_and_is_seen_restarted() {
    let m = listener("m", "tcp://127.0.0.1:*");
    let endpoint = m.bound_endpoints()[0].to_string();
    let w = connector("w", "m", &endpoint, None);
    let (_, first) = peer_up(&m);
    drop(w);
    wait_for(&m, "PeerDown", |e| matches!(e, Event::PeerDown { .. }));
    // Down, nothing owed, nothing unread: the manager forgets the peer.
    wait_until_forgotten(&m, "w");
    // The same node, restarted, comes back.
    let _w = connector("w", "m", &endpoint, None);
    let up = wait_for(&m, "PeerUp", |e| matches!(e, Event::PeerUp { .. }));
    let Event::PeerUp {
        epoch, restarted, ..
    } = up
    else {
        unreachable!()
    };
    assert!(epoch > first, "{epoch} after {first}");
    assert!(restarted, "the new incarnation is a restart");
}
