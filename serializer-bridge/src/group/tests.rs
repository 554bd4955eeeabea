//! The group state machine against fake links: shared bytes, lag cap,
//! leaving on a link drop, rejoining at the next epoch, exact outcomes.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::*;
use crate::session::{HandBack, WriteRefused};

/// Fake links: per node a peer id, a link epoch, and what was queued.
#[derive(Default)]
struct Fake {
    links: BTreeMap<String, LinkState>,
    sent: Vec<(PeerId, Chunk, GroupTag)>,
    full: Vec<PeerId>,
}

impl Fake {
    fn up(&mut self, node: &str, peer: u32, epoch: u64) {
        self.links.insert(
            node.into(),
            LinkState {
                peer: PeerId(peer),
                epoch: Some(CacheEpoch(epoch)),
                filling_up: false,
                groups: true,
            },
        );
    }
    fn down(&mut self, node: &str) {
        if let Some(l) = self.links.get_mut(node) {
            l.epoch = None;
        }
    }
}

impl MemberLinks for Fake {
    fn link(&self, node: &str) -> Option<LinkState> {
        self.links.get(node).copied()
    }
    fn link_of(&self, peer: PeerId) -> Option<LinkState> {
        self.links.values().find(|l| l.peer == peer).copied()
    }
    fn send(&mut self, peer: PeerId, chunk: Chunk, tag: GroupTag) -> Result<u64, WriteRefused> {
        if self.full.contains(&peer) {
            return Err(WriteRefused::Full {
                pending: 1,
                pending_bytes: 1,
            });
        }
        if !self
            .links
            .values()
            .any(|l| l.peer == peer && l.epoch.is_some())
        {
            return Err(WriteRefused::PeerDown);
        }
        self.sent.push((peer, chunk, tag));
        Ok(self.sent.len() as u64)
    }
}

fn group(members: &[&str], lag: u64) -> Group {
    Group::new(
        GroupId(7),
        "state",
        members.iter().map(|m| (*m).to_owned()),
        GroupLimits {
            max_lag_chunks: lag,
            max_lag_bytes: 1 << 20,
            rejoin_after_chunks: 0,
        },
    )
}

fn outcome(peer: u32, tag: GroupTag, missed: Option<HandBack>) -> GroupOutcome {
    GroupOutcome {
        peer: PeerId(peer),
        tag,
        len: 4,
        missed,
    }
}

fn events(g: &mut Group) -> Vec<Event> {
    std::iter::from_fn(|| g.poll_event()).collect()
}

#[test]
fn one_encoding_goes_to_every_member_as_the_same_bytes() {
    let mut links = Fake::default();
    links.up("a", 1, 3);
    links.up("b", 2, 9);
    let mut g = group(&["a", "b", "c"], 8);
    g.refresh(&links);
    assert_eq!(g.epoch(), CacheEpoch(1));
    assert_eq!(g.members(), vec![PeerId(1), PeerId(2)]);
    let data = Bytes::from_static(b"blob");
    let seq = g
        .write(Chunk::serial(CacheEpoch(1), data.clone()), &mut links)
        .unwrap();
    assert_eq!(seq, 1);
    assert_eq!(links.sent.len(), 2);
    for (_, chunk, tag) in &links.sent {
        assert_eq!(chunk.data.as_ptr(), data.as_ptr(), "shared, not copied");
        assert_eq!(tag.epoch, CacheEpoch(1));
        assert_eq!(tag.seq, 1);
    }
    let tag = links.sent[0].2;
    g.on_outcome(outcome(1, tag, None));
    assert_eq!(g.pending(), 1, "b has not reported yet");
    g.on_outcome(outcome(2, tag, None));
    assert_eq!(g.pending(), 0);
    let evs = events(&mut g);
    assert!(matches!(
        evs[0],
        Event::GroupEpoch {
            epoch: CacheEpoch(1),
            ..
        }
    ));
    assert_eq!(
        evs[1],
        Event::GroupDelivered {
            group: GroupId(7),
            epoch: CacheEpoch(1),
            first_seq: 1,
            through: 1
        }
    );
}

#[test]
fn a_stale_or_empty_group_refuses_and_hands_back() {
    let mut links = Fake::default();
    let mut g = group(&["a"], 8);
    let (why, _) = g
        .write(Chunk::serial(CacheEpoch(0), &b"x"[..]), &mut links)
        .unwrap_err();
    assert!(matches!(why, GroupWriteRefused::StaleEpoch { .. }));
    links.up("a", 1, 1);
    g.refresh(&links);
    let (why, _) = g
        .write(Chunk::serial(CacheEpoch(5), &b"x"[..]), &mut links)
        .unwrap_err();
    assert!(matches!(why, GroupWriteRefused::StaleEpoch { .. }));
}

#[test]
fn a_lagging_member_leaves_and_rejoins_once_it_caught_up() {
    let mut links = Fake::default();
    links.up("fast", 1, 1);
    links.up("slow", 2, 1);
    let mut g = group(&["fast", "slow"], 2);
    g.refresh(&links);
    let mut tags = Vec::new();
    for _ in 0..3 {
        let epoch = g.epoch();
        g.write(Chunk::serial(epoch, &b"1234"[..]), &mut links)
            .unwrap();
        let tag = links.sent.last().unwrap().2;
        // The fast member takes everything at once.
        let fast = links.sent.iter().rev().find(|(p, _, _)| *p == PeerId(1));
        g.on_outcome(outcome(1, fast.unwrap().2, None));
        tags.push(tag);
    }
    // The third write found "slow" two behind: it left, the group moved on.
    assert_eq!(g.epoch(), CacheEpoch(2));
    assert_eq!(g.members(), vec![PeerId(1)]);
    assert_eq!(g.lag("slow"), Some((2, 8)));
    let evs = events(&mut g);
    assert!(evs.iter().any(|e| matches!(
        e,
        Event::GroupEpoch { epoch: CacheEpoch(2), left, .. }
            if left == &vec![(PeerId(2), LeaveReason::Lagging { chunks: 2, bytes: 8 })]
    )));
    assert!(
        !evs.iter()
            .any(|e| matches!(e, Event::GroupHandedBack { .. })),
        "chunk 3's outcome waits behind chunk 2's, still owed by slow"
    );
    // "slow" takes one, is handed back the other: then it owes nothing and
    // rejoins at the next epoch.
    let slow: Vec<GroupTag> = links
        .sent
        .iter()
        .filter(|(p, _, _)| *p == PeerId(2))
        .map(|(_, _, t)| *t)
        .collect();
    g.on_outcome(outcome(2, slow[0], None));
    g.refresh(&links);
    assert_eq!(g.epoch(), CacheEpoch(2), "still owes one");
    g.on_outcome(outcome(2, slow[1], Some(HandBack::NotDelivered)));
    g.refresh(&links);
    assert_eq!(g.epoch(), CacheEpoch(3));
    assert_eq!(g.members(), vec![PeerId(1), PeerId(2)]);
    let evs = events(&mut g);
    assert!(evs.contains(&Event::GroupDelivered {
        group: GroupId(7),
        epoch: CacheEpoch(1),
        first_seq: 1,
        through: 1
    }));
    assert!(evs.iter().any(|e| matches!(
        e,
        Event::GroupHandedBack { epoch: CacheEpoch(1), first_seq: 2, missed, .. }
            if missed == &vec![(PeerId(2), GroupMiss::Link(HandBack::NotDelivered))]
    )));
    // Chunk 3 went to "fast" only, and is handed back naming "slow".
    assert!(evs.iter().any(|e| matches!(
        e,
        Event::GroupHandedBack { epoch: CacheEpoch(1), first_seq: 3, missed, .. }
            if missed.len() == 1
                && matches!(missed[0], (PeerId(2), GroupMiss::Left(LeaveReason::Lagging { .. })))
    )));
    assert_eq!(g.pending(), 0);
    assert_eq!(g.open_epochs(), 0);
}

#[test]
fn a_dropped_link_leaves_at_refresh_and_a_refused_write_leaves_at_once() {
    let mut links = Fake::default();
    links.up("a", 1, 1);
    links.up("b", 2, 1);
    links.up("c", 3, 1);
    let mut g = group(&["a", "b", "c"], 8);
    g.refresh(&links);
    links.down("a");
    g.refresh(&links);
    assert_eq!(g.epoch(), CacheEpoch(2));
    assert_eq!(g.members(), vec![PeerId(2), PeerId(3)]);
    links.full.push(PeerId(3));
    g.write(Chunk::serial(CacheEpoch(2), &b"x"[..]), &mut links)
        .unwrap();
    assert_eq!(g.epoch(), CacheEpoch(3));
    assert_eq!(g.members(), vec![PeerId(2)], "c left; not back at once");
    if let Some(c) = links.links.get_mut("c") {
        c.filling_up = true;
    }
    // A link that comes back with a new epoch rejoins at the next epoch.
    links.up("a", 1, 2);
    g.refresh(&links);
    assert_eq!(g.epoch(), CacheEpoch(4));
    assert_eq!(g.members(), vec![PeerId(1), PeerId(2)]);
}

#[test]
fn a_member_whose_link_speaks_no_groups_never_joins() {
    let mut links = Fake::default();
    links.up("a", 1, 1);
    links.up("old", 2, 1);
    if let Some(l) = links.links.get_mut("old") {
        l.groups = false;
    }
    let mut g = group(&["a", "old"], 8);
    g.refresh(&links);
    assert_eq!(g.members(), vec![PeerId(1)]);
    for n in 0..3u8 {
        g.write(Chunk::serial(CacheEpoch(1), vec![n]), &mut links)
            .unwrap();
        g.refresh(&links);
    }
    assert_eq!(g.epoch(), CacheEpoch(1), "no epoch churn over the old peer");
    assert!(links.sent.iter().all(|(peer, _, _)| *peer == PeerId(1)));
}

#[test]
fn a_batch_of_outcomes_settles_each_members_lag_once_for_all() {
    let mut links = Fake::default();
    links.up("a", 1, 1);
    links.up("b", 2, 1);
    let mut g = group(&["a", "b"], 8);
    g.refresh(&links);
    for n in 0..4u8 {
        g.write(Chunk::serial(CacheEpoch(1), vec![n; 4]), &mut links)
            .unwrap();
    }
    assert_eq!(g.lag("a"), Some((4, 16)));
    let tags: Vec<GroupTag> = links.sent.iter().map(|(_, _, t)| *t).collect();
    // a's ACK covers all four; b's the first two: one batch.
    for tag in &tags[..4] {
        g.note_outcome(outcome(1, *tag, None));
    }
    g.note_outcome(outcome(2, tags[0], None));
    g.note_outcome(outcome(2, tags[1], None));
    g.finish_outcomes();
    assert_eq!(g.lag("a"), Some((0, 0)));
    assert_eq!(g.lag("b"), Some((2, 8)));
    assert_eq!(g.pending(), 2);
    let delivered: Vec<(u64, u64)> = events(&mut g)
        .into_iter()
        .filter_map(|e| match e {
            Event::GroupDelivered {
                first_seq, through, ..
            } => Some((first_seq, through)),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, vec![(1, 2)], "one event for the settled run");
}

#[test]
fn ready_members_rejoin_together_after_the_epoch_had_its_chunks() {
    let mut links = Fake::default();
    links.up("a", 1, 1);
    links.up("b", 2, 1);
    links.up("c", 3, 1);
    let mut g = group(&["a", "b", "c"], 8);
    g.limits.rejoin_after_chunks = 4;
    g.refresh(&links);
    assert_eq!(g.members().len(), 3);
    links.down("b");
    links.down("c");
    g.refresh(&links);
    assert_eq!((g.epoch(), g.members()), (CacheEpoch(2), vec![PeerId(1)]));
    g.write(Chunk::serial(CacheEpoch(2), &b"x"[..]), &mut links)
        .unwrap();
    // b comes back, then c, while a chunk is in flight: neither ends the
    // epoch on its own.
    links.up("b", 2, 2);
    g.refresh(&links);
    links.up("c", 3, 2);
    g.refresh(&links);
    assert_eq!(g.epoch(), CacheEpoch(2));
    for _ in 0..3 {
        g.write(Chunk::serial(CacheEpoch(2), &b"x"[..]), &mut links)
            .unwrap();
    }
    // Four chunks in the epoch: both join in one new epoch.
    g.refresh(&links);
    assert_eq!(g.epoch(), CacheEpoch(3));
    assert_eq!(g.members(), vec![PeerId(1), PeerId(2), PeerId(3)]);
    let epochs: Vec<CacheEpoch> = events(&mut g)
        .into_iter()
        .filter_map(|e| match e {
            Event::GroupEpoch { epoch, .. } => Some(epoch),
            _ => None,
        })
        .collect();
    assert_eq!(epochs, vec![CacheEpoch(1), CacheEpoch(2), CacheEpoch(3)]);
}

#[test]
fn a_ready_member_joins_an_idle_group_at_once() {
    let mut links = Fake::default();
    links.up("a", 1, 1);
    let mut g = group(&["a", "b"], 8);
    g.limits.rejoin_after_chunks = 100;
    g.refresh(&links);
    g.write(Chunk::serial(CacheEpoch(1), &b"x"[..]), &mut links)
        .unwrap();
    links.up("b", 2, 1);
    g.refresh(&links);
    assert_eq!(g.epoch(), CacheEpoch(1), "a chunk is in flight");
    let tag = links.sent[0].2;
    g.on_outcome(outcome(1, tag, None));
    g.refresh(&links);
    assert_eq!(g.epoch(), CacheEpoch(2), "idle: nothing to batch with");
    assert_eq!(g.members(), vec![PeerId(1), PeerId(2)]);
}
