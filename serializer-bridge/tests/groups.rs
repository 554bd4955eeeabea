//! Groups through real peer managers: one encoding reaches every member
//! in the same order; a member that goes away leaves the group epoch, the
//! rest move on in a new one, and what it did not take comes back naming it.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use serializer_bridge::{
    BridgeConfig, CacheEpoch, Chunk, Event, GroupMiss, LeaveReason, PeerConfig, PeerId, PeerManager,
};

mod common;

/// Generous: the machine may be loaded.
const LONG: Duration = Duration::from_secs(60);

fn worker(node: &str, endpoint: &str) -> PeerManager {
    let mut config = BridgeConfig::new(node);
    config.peers.push(PeerConfig {
        name: "manager".into(),
        endpoint: endpoint.into(),
    });
    PeerManager::start(config).unwrap()
}

/// Takes the manager's events until its group has `n` members; the
/// group epoch then.
fn group_of(m: &PeerManager, group: serializer_bridge::GroupId, n: usize) -> CacheEpoch {
    let deadline = Instant::now() + LONG;
    loop {
        let (epoch, members) = m.group_epoch(group).unwrap();
        if members.len() == n {
            return epoch;
        }
        assert!(Instant::now() < deadline, "the group never had {n} members");
        let _ = m.wait_event(Duration::from_millis(20));
    }
}

/// Reads `count` group chunks at `w`: (group epoch, seq, bytes) in order.
fn read_group(w: &PeerManager, count: usize) -> Vec<(CacheEpoch, u64, Vec<u8>)> {
    let deadline = Instant::now() + LONG;
    let mut got = Vec::new();
    while got.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} group chunks came",
            got.len()
        );
        if let Some(Event::GroupChunk {
            epoch, seq, chunk, ..
        }) = w.wait_event(Duration::from_millis(50))
        {
            assert_eq!(chunk.epoch, epoch, "a group chunk carries its group epoch");
            got.push((epoch, seq, chunk.data.to_vec()));
        }
    }
    got
}

#[test]
fn one_encoding_reaches_every_member_and_a_leaver_is_named() {
    let mut config = BridgeConfig::new("manager");
    config.listen.push("tcp://127.0.0.1:*".into());
    // w2 never comes back: what it had in doubt expires after this.
    config.in_doubt_timeout = Duration::from_secs(2);
    let manager = PeerManager::start(config).unwrap();
    let ep = manager.bound_endpoints()[0].to_string();
    let workers: Vec<PeerManager> = (0..3).map(|i| worker(&format!("w{i}"), &ep)).collect();
    let group = manager.join_group("state", &["w0", "w1", "w2"]);
    assert_eq!(manager.group_id("state"), Some(group));
    let epoch = group_of(&manager, group, 3);

    for n in 0..100u32 {
        let seq = manager
            .write_group(group, Chunk::serial(epoch, n.to_be_bytes().to_vec()))
            .unwrap();
        assert_eq!(seq, u64::from(n) + 1);
    }
    let want: Vec<(CacheEpoch, u64, Vec<u8>)> = (0..100u32)
        .map(|n| (epoch, u64::from(n) + 1, n.to_be_bytes().to_vec()))
        .collect();
    for w in &workers {
        assert_eq!(
            read_group(w, 100),
            want,
            "every member: same chunks, same order"
        );
    }
    let delivered = common::wait_for(&manager, "GroupDelivered through 100", |e| {
        matches!(e, Event::GroupDelivered { through: 100, .. })
    });
    assert!(matches!(delivered, Event::GroupDelivered { epoch: e, .. } if e == epoch));

    // w2 goes away with chunks it never read: the group moves on without
    // it and hands those chunks back naming it (and only it).
    let w2 = manager.peer_id("w2").unwrap();
    let mut workers = workers;
    let gone = workers.pop().unwrap();
    for n in 0..5u32 {
        manager
            .write_group(group, Chunk::serial(epoch, n.to_be_bytes().to_vec()))
            .unwrap();
    }
    for w in &workers {
        assert_eq!(read_group(w, 5).len(), 5);
    }
    drop(gone);
    let next = loop {
        match common::wait_for(&manager, "GroupEpoch without w2", |e| {
            matches!(e, Event::GroupEpoch { .. })
        }) {
            Event::GroupEpoch {
                epoch: e,
                members,
                left,
                ..
            } if !left.is_empty() => {
                assert_eq!(left, vec![(w2, LeaveReason::LinkDown)]);
                assert_eq!(members.len(), 2);
                assert!(!members.contains(&w2));
                break e;
            }
            _ => {}
        }
    };
    assert!(next > epoch);
    let deadline = Instant::now() + LONG;
    let mut handed_back = 0;
    while handed_back < 5 {
        assert!(Instant::now() < deadline, "w2's chunks never came back");
        if let Some(Event::GroupHandedBack { chunks, missed, .. }) =
            manager.wait_event(Duration::from_millis(50))
        {
            let named: Vec<PeerId> = missed.iter().map(|(p, _)| *p).collect();
            assert_eq!(named, vec![w2]);
            assert!(matches!(missed[0].1, GroupMiss::Link(_)));
            handed_back += chunks.len();
        }
    }
    // The old epoch is refused; the new one reaches the two left.
    assert!(
        manager
            .write_group(group, Chunk::serial(epoch, &b"old"[..]))
            .is_err()
    );
    manager
        .write_group(group, Chunk::serial(next, &b"new"[..]))
        .unwrap();
    for w in &workers {
        assert_eq!(read_group(w, 1), vec![(next, 1, b"new".to_vec())]);
    }
}
