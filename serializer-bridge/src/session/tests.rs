//! One test per rule of the protocol, each driving two sessions (or one and
//! hand-written messages) without any I/O.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::wire::Record;

const CAPS: Caps = Caps {
    soft_chunks: 8,
    hard_chunks: 16,
    soft_bytes: 1 << 20,
    hard_bytes: 2 << 20,
};

fn settings(node: &str, incarnation: u64) -> Arc<Settings> {
    Arc::new(Settings {
        node: node.to_owned(),
        incarnation,
        capabilities: 0,
        cache_size: 10,
        caps: CAPS,
        window: Window {
            chunks: 8,
            bytes: 1 << 20,
        },
        ack_every: 4,
        handshake_timeout: Duration::from_secs(5),
        in_doubt_timeout: Duration::from_secs(30),
    })
}

/// A connector "w" (incarnation 10) and an acceptor "m" (incarnation 20).
struct Pair {
    w: Session,
    m: Session,
    now: Instant,
}

impl Pair {
    fn new() -> Self {
        Pair {
            w: Session::new(PeerId(0), "m".into(), Role::Connector, settings("w", 10)),
            m: Session::new(PeerId(0), "w".into(), Role::Acceptor, settings("m", 20)),
            now: Instant::now(),
        }
    }

    /// Link up and handshake; returns the agreed epoch.
    fn connect(&mut self) -> CacheEpoch {
        self.w.link_up(self.now);
        self.m.link_up(self.now);
        self.exchange();
        let epoch = self.w.epoch().expect("connector up");
        assert_eq!(self.m.epoch(), Some(epoch));
        epoch
    }

    fn drop_link(&mut self) {
        // What was on the wire is lost.
        while self.w.poll_transmit().is_some() {}
        while self.m.poll_transmit().is_some() {}
        self.w.link_down(self.now);
        self.m.link_down(self.now);
    }

    /// Moves every message both ways until nothing moves.
    fn exchange(&mut self) {
        loop {
            let mut moved = false;
            while let Some(wire) = self.w.poll_transmit() {
                self.m.handle(wire, self.now).expect("honest connector");
                moved = true;
            }
            while let Some(wire) = self.m.poll_transmit() {
                self.w.handle(wire, self.now).expect("honest acceptor");
                moved = true;
            }
            if !moved {
                return;
            }
        }
    }

    /// The connector writes `count` one-byte chunks in its current epoch.
    fn w_writes(&mut self, count: u8) {
        let epoch = self.w.epoch().expect("connector up");
        for n in 0..count {
            self.w.write(chunk(epoch, n)).expect("within the caps");
        }
    }

    /// Messages from the connector, not delivered.
    fn sent_by_w(&mut self) -> Vec<Wire> {
        std::iter::from_fn(|| self.w.poll_transmit()).collect()
    }
}

fn events(s: &mut Session) -> Vec<Event> {
    let mut out = Vec::new();
    while let Some(e) = s.events.pop_front() {
        out.push(e.1);
    }
    out
}

fn chunk(epoch: CacheEpoch, n: u8) -> Chunk {
    Chunk::serial(epoch, Bytes::from(vec![n]))
}

#[test]
fn a_handshake_agrees_one_epoch_and_chunks_flow_with_outcomes() {
    let mut p = Pair::new();
    let epoch = p.connect();
    assert_eq!(epoch, CacheEpoch(1));
    for n in 0..3 {
        assert_eq!(p.w.write(chunk(epoch, n)).unwrap(), u64::from(n) + 1);
    }
    p.exchange();
    for n in 0..3 {
        assert_eq!(p.m.take().unwrap().data[..], [n]);
    }
    p.exchange();
    let got = events(&mut p.w);
    assert!(got.contains(&Event::Delivered {
        peer: PeerId(0),
        epoch,
        through: 3
    }));
}

#[test]
fn old_epoch_reads_never_count_towards_the_new_epoch() {
    // The first bridge's defect: a slow reader with chunks of epoch 1 still
    // unread when epoch 2 starts acknowledged them as epoch 2's.
    let mut p = Pair::new();
    let e1 = p.connect();
    p.w_writes(6);
    p.exchange();
    assert!(p.m.can_take());
    p.drop_link();
    // The unread chunks of epoch 1 are gone with it.
    assert!(!p.m.can_take());
    let e2 = p.connect();
    assert!(e2 > e1);
    // Nothing was taken in epoch 2: no ACK may name it.
    let acks: Vec<Wire> = std::iter::from_fn(|| p.m.poll_transmit()).collect();
    assert!(
        !acks.iter().any(|w| matches!(w, Wire::Ack { .. })),
        "{acks:?}"
    );
    // And the sender got all six back: the record says none were taken.
    let back: usize = events(&mut p.w)
        .into_iter()
        .filter_map(|e| match e {
            Event::HandedBack {
                reason: HandBack::NotDelivered,
                chunks,
                ..
            } => Some(chunks.len()),
            _ => None,
        })
        .sum();
    assert_eq!(back, 6);
}

#[test]
fn the_record_confirms_what_was_taken_and_hands_back_the_rest() {
    let mut p = Pair::new();
    let e1 = p.connect();
    p.w_writes(5);
    p.exchange();
    // Two taken, but the ACK never leaves (ack_every is 4 and 3 wait).
    p.m.take().unwrap();
    p.m.take().unwrap();
    p.drop_link();
    events(&mut p.w);
    p.connect();
    let got = events(&mut p.w);
    assert!(got.contains(&Event::Delivered {
        peer: PeerId(0),
        epoch: e1,
        through: 2
    }));
    let back = got.iter().find_map(|e| match e {
        Event::HandedBack {
            first_seq, chunks, ..
        } => Some((*first_seq, chunks.len())),
        _ => None,
    });
    assert_eq!(back, Some((3, 3)));
}

#[test]
fn a_restarted_peer_gets_everything_in_doubt_back() {
    let mut p = Pair::new();
    let e1 = p.connect();
    p.w_writes(3);
    p.exchange();
    p.m.take().unwrap();
    p.drop_link();
    events(&mut p.w);
    // The acceptor restarts as a new incarnation.
    p.m = Session::new(PeerId(0), "w".into(), Role::Acceptor, settings("m", 21));
    let e2 = p.connect();
    assert!(e2 > e1);
    let got = events(&mut p.w);
    assert!(got.iter().any(|e| matches!(
        e,
        Event::HandedBack { reason: HandBack::PeerRestarted, first_seq: 1, chunks, .. } if chunks.len() == 3
    )));
    assert!(got.iter().any(|e| matches!(
        e,
        Event::PeerUp {
            restarted: true,
            ..
        }
    )));
}

#[test]
fn unsent_chunks_come_back_at_once_when_the_link_drops() {
    let mut p = Pair::new();
    p.connect();
    p.w_writes(12);
    // The window (8) lets 8 go; 4 stay unsent.
    assert_eq!(p.sent_by_w().len(), 8);
    p.w.link_down(p.now);
    let got = events(&mut p.w);
    assert!(got.iter().any(|e| matches!(
        e,
        Event::HandedBack { reason: HandBack::Unsent, first_seq: 9, chunks, .. } if chunks.len() == 4
    )));
    assert_eq!(p.w.in_doubt(), 8);
}

#[test]
fn doubt_expires_and_a_late_record_is_reported() {
    let mut p = Pair::new();
    let e1 = p.connect();
    p.w_writes(4);
    p.exchange();
    p.m.take().unwrap();
    p.m.take().unwrap();
    p.drop_link();
    events(&mut p.w);
    let due = p.w.poll_timeout().expect("in-doubt deadline");
    p.now = due;
    p.w.handle_timeout(p.now).unwrap();
    let got = events(&mut p.w);
    assert!(got.iter().any(|e| matches!(
        e,
        Event::HandedBack { reason: HandBack::Expired, first_seq: 1, chunks, .. } if chunks.len() == 4
    )));
    // The same incarnation comes back: it had taken two.
    p.connect();
    let got = events(&mut p.w);
    assert!(got.contains(&Event::DeliveredAfterHandBack {
        peer: PeerId(0),
        epoch: e1,
        first_seq: 1,
        through: 2
    }));
}

#[test]
fn a_stale_hello_after_the_current_one_is_ignored() {
    let mut p = Pair::new();
    p.w.link_up(p.now);
    let stale = p.sent_by_w();
    p.w.link_down(p.now);
    let e = p.connect();
    for wire in stale {
        p.m.handle(wire, p.now).unwrap();
    }
    assert_eq!(p.m.epoch(), Some(e), "the stale HELLO ended nothing");
    assert!(p.m.poll_transmit().is_none(), "and was not answered");
    assert_eq!(p.m.stats().stale, 1);
}

#[test]
fn a_stale_welcome_is_ignored_and_a_second_one_ends_the_link() {
    let mut p = Pair::new();
    p.w.link_up(p.now);
    let first = p.sent_by_w();
    for wire in first {
        p.m.handle(wire, p.now).unwrap();
    }
    let welcome_1 = p.m.poll_transmit().unwrap();
    // A new attempt before the answer arrives.
    p.w.link_up(p.now);
    p.w.handle(welcome_1, p.now).unwrap();
    assert_eq!(p.w.epoch(), None, "an answer to the old attempt");
    for wire in p.sent_by_w() {
        p.m.handle(wire, p.now).unwrap();
    }
    let welcome_2 = p.m.poll_transmit().unwrap();
    p.w.handle(welcome_2.clone(), p.now).unwrap();
    assert!(p.w.epoch().is_some());
    assert_eq!(
        p.w.handle(welcome_2, p.now),
        Err(ProtocolError::UnexpectedWelcome)
    );
    assert_eq!(p.w.epoch(), None);
    assert!(matches!(p.w.poll_transmit(), Some(Wire::Refuse { .. })));
}

fn hello(p: &mut Pair) -> Hello {
    p.w.link_up(p.now);
    match p.sent_by_w().pop() {
        Some(Wire::Hello(h)) => h,
        other => panic!("expected a HELLO, got {other:?}"),
    }
}

#[test]
fn epochs_out_of_range_are_refused_without_overflow() {
    for epoch in [0, MAX_EPOCH.0 + 1, u64::MAX] {
        let mut p = Pair::new();
        let mut h = hello(&mut p);
        h.epoch = CacheEpoch(epoch);
        assert!(matches!(
            p.m.handle(Wire::Hello(h), p.now),
            Err(ProtocolError::EpochOutOfRange { .. })
        ));
        assert_eq!(p.m.epoch(), None);
    }
    // The largest allowed epoch works, and the next proposal is refused
    // cleanly rather than wrapping.
    let mut p = Pair::new();
    let mut h = hello(&mut p);
    h.epoch = MAX_EPOCH;
    p.m.handle(Wire::Hello(h), p.now).unwrap();
    assert_eq!(p.m.epoch(), Some(MAX_EPOCH));
    let mut h = hello(&mut p);
    h.epoch = CacheEpoch(1);
    h.nonce += 1;
    assert!(matches!(
        p.m.handle(Wire::Hello(h), p.now),
        Err(ProtocolError::EpochOutOfRange { .. })
    ));
}

#[test]
fn acks_beyond_what_was_sent_or_going_back_end_the_link() {
    let mut p = Pair::new();
    let e = p.connect();
    p.w_writes(4);
    p.sent_by_w();
    assert!(matches!(
        p.w.handle(Wire::Ack { epoch: e, seq: 5 }, p.now),
        Err(ProtocolError::AckOutOfRange {
            seq: 5,
            sent: 4,
            ..
        })
    ));
    // The four sent are in doubt, not released.
    assert_eq!(p.w.in_doubt(), 4);

    let mut p = Pair::new();
    let e = p.connect();
    p.w_writes(4);
    p.sent_by_w();
    p.w.handle(Wire::Ack { epoch: e, seq: 3 }, p.now).unwrap();
    assert!(matches!(
        p.w.handle(Wire::Ack { epoch: e, seq: 2 }, p.now),
        Err(ProtocolError::AckOutOfRange { .. })
    ));
    assert!(matches!(
        {
            let mut p = Pair::new();
            let e = p.connect();
            p.w.handle(
                Wire::Ack {
                    epoch: CacheEpoch(e.0 + 1),
                    seq: 0,
                },
                p.now,
            )
        },
        Err(ProtocolError::FutureEpoch { kind: "ACK", .. })
    ));
}

#[test]
fn chunks_out_of_order_of_a_future_epoch_or_past_the_window_end_the_link() {
    let c = |epoch, seq| Wire::Chunk {
        epoch,
        seq,
        kind: crate::MessageType::Serial,
        payload: Bytes::from_static(b"x"),
    };
    let mut p = Pair::new();
    let e = p.connect();
    assert!(matches!(
        p.m.handle(c(e, 2), p.now),
        Err(ProtocolError::OutOfOrder { .. })
    ));
    let mut p = Pair::new();
    let e = p.connect();
    assert!(matches!(
        p.m.handle(c(CacheEpoch(e.0 + 1), 1), p.now),
        Err(ProtocolError::FutureEpoch { .. })
    ));
    let mut p = Pair::new();
    let e = p.connect();
    for seq in 1..=8 {
        p.m.handle(c(e, seq), p.now).unwrap();
    }
    assert!(matches!(
        p.m.handle(c(e, 9), p.now),
        Err(ProtocolError::WindowExceeded { chunks: 9, .. })
    ));
    // An old epoch's chunk is a dead link's leftover: dropped quietly.
    let mut p = Pair::new();
    p.connect();
    p.drop_link();
    let e2 = p.connect();
    p.m.handle(c(CacheEpoch(e2.0 - 1), 1), p.now).unwrap();
    assert!(!p.m.can_take());
}

#[test]
fn records_that_do_not_fit_what_was_sent_end_the_link() {
    for (record_epoch, delivered, expect_ahead) in [(2, 0, true), (1, 9, false)] {
        let mut p = Pair::new();
        p.connect();
        p.w_writes(3);
        p.sent_by_w();
        p.drop_link();
        let mut h = hello(&mut p);
        // Let the acceptor answer with a forged record.
        p.m.handle(Wire::Hello(h.clone()), p.now).unwrap();
        let Some(Wire::Welcome(mut welcome)) = p.m.poll_transmit() else {
            panic!("expected a WELCOME");
        };
        welcome.record = Record {
            about: 10,
            epoch: CacheEpoch(record_epoch),
            delivered,
        };
        let result = p.w.handle(Wire::Welcome(welcome), p.now);
        if expect_ahead {
            assert!(
                matches!(result, Err(ProtocolError::RecordAhead { .. })),
                "{result:?}"
            );
        } else {
            assert!(
                matches!(result, Err(ProtocolError::RecordOutOfRange { .. })),
                "{result:?}"
            );
        }
        // The doubt is kept for an honest handshake to settle.
        assert_eq!(p.w.in_doubt(), 3);
        h.nonce += 1;
    }
}

#[test]
fn handshakes_are_checked() {
    let mut p = Pair::new();
    let mut h = hello(&mut p);
    h.version = 1;
    assert!(matches!(
        p.m.handle(Wire::Hello(h), p.now),
        Err(ProtocolError::Version { theirs: 1, .. })
    ));
    let mut p = Pair::new();
    let mut h = hello(&mut p);
    h.node = "someone-else".into();
    assert!(matches!(
        p.m.handle(Wire::Hello(h), p.now),
        Err(ProtocolError::NodeName { .. })
    ));
    let mut p = Pair::new();
    let h = hello(&mut p);
    assert_eq!(
        p.w.handle(Wire::Hello(h.clone()), p.now),
        Err(ProtocolError::HelloToConnector)
    );
    assert_eq!(
        p.m.handle(Wire::Welcome(h), p.now),
        Err(ProtocolError::UnexpectedWelcome)
    );
}

#[test]
fn a_handshake_that_never_finishes_times_out() {
    let mut p = Pair::new();
    p.w.link_up(p.now);
    let due = p.w.poll_timeout().expect("handshake deadline");
    assert_eq!(due, p.now + Duration::from_secs(5));
    assert_eq!(
        p.w.handle_timeout(due),
        Err(ProtocolError::HandshakeTimeout)
    );
    assert_eq!(p.w.poll_timeout(), None);
}

#[test]
fn unread_deliveries_take_constant_room() {
    let mut p = Pair::new();
    let e = p.connect();
    for round in 0..50u8 {
        p.w.write(chunk(e, round)).unwrap();
        p.exchange();
        p.m.take().unwrap();
        p.exchange();
    }
    // Fifty ACKs, one Delivered event waiting (PeerUp before it).
    assert_eq!(p.w.unread_events(), 2);
}

#[test]
fn shutting_down_hands_back_everything_still_owed() {
    let mut p = Pair::new();
    p.connect();
    p.w_writes(10);
    p.sent_by_w();
    p.w.shut_down(p.now);
    let back: usize = events(&mut p.w)
        .into_iter()
        .filter_map(|e| match e {
            Event::HandedBack { chunks, .. } => Some(chunks.len()),
            _ => None,
        })
        .sum();
    assert_eq!(back, 10);
    assert!(p.w.is_idle());
}

#[test]
fn a_chunk_larger_than_the_hard_byte_cap_is_refused_as_too_large_not_full() {
    let mut p = Pair::new();
    let epoch = p.connect();
    let big = Chunk::serial(epoch, Bytes::from(vec![0; CAPS.hard_bytes + 1]));
    let (refused, back) = p.w.write(big).unwrap_err();
    assert_eq!(
        refused,
        WriteRefused::TooLarge {
            len: CAPS.hard_bytes + 1,
            max: CAPS.hard_bytes
        }
    );
    assert_eq!(back.len(), CAPS.hard_bytes + 1);
    // It takes no room: a chunk of exactly the cap still fits.
    let most = Chunk::serial(epoch, Bytes::from(vec![0; CAPS.hard_bytes]));
    assert_eq!(p.w.write(most).unwrap(), 1);
}

#[test]
fn group_chunks_share_the_link_order_and_come_back_to_their_group() {
    use crate::group::{GroupId, GroupTag};
    let tag = |seq| GroupTag {
        group: GroupId(3),
        epoch: CacheEpoch(9),
        seq,
    };
    let mut p = Pair::new();
    let e = p.connect();
    // Own, group, own: the link numbers them 1, 2, 3; a group chunk keeps
    // its group epoch, not the link's.
    assert_eq!(p.w.write(Chunk::serial(e, &b"own"[..])).unwrap(), 1);
    let shared = Bytes::from_static(b"group");
    let g =
        p.w.write_group(Chunk::serial(CacheEpoch(9), shared.clone()), tag(1))
            .unwrap();
    assert_eq!(g, 2);
    assert_eq!(p.w.write(Chunk::serial(e, &b"own2"[..])).unwrap(), 3);
    p.exchange();
    assert!(matches!(p.m.poll_event(), Some(Event::PeerUp { .. })));
    assert!(matches!(p.m.poll_event(), Some(Event::Chunk { .. })));
    match p.m.poll_event() {
        Some(Event::GroupChunk {
            group,
            epoch,
            seq,
            chunk,
            ..
        }) => {
            assert_eq!((group, epoch, seq), (GroupId(3), CacheEpoch(9), 1));
            assert_eq!(chunk.data, shared);
        }
        other => panic!("expected the group chunk, got {other:?}"),
    }
    assert!(matches!(p.m.poll_event(), Some(Event::Chunk { .. })));
    p.exchange();
    let outcome = p.w.poll_group_outcome().expect("the group chunk's outcome");
    assert_eq!(outcome.tag, tag(1));
    assert_eq!(outcome.missed, None);
    assert!(p.w.poll_group_outcome().is_none());
    // The link drops with a group chunk unsent: it comes back to the
    // group, the peer's own unsent chunks as their own runs of sequences.
    p.w.write(Chunk::serial(e, &b"a"[..])).unwrap();
    p.w.write_group(Chunk::serial(CacheEpoch(9), shared), tag(2))
        .unwrap();
    p.w.write(Chunk::serial(e, &b"b"[..])).unwrap();
    p.w.link_down(p.now);
    let outcome = p.w.poll_group_outcome().expect("handed back to the group");
    assert_eq!(outcome.missed, Some(HandBack::Unsent));
    let mut runs = Vec::new();
    while let Some(event) = p.w.poll_event() {
        if let Event::HandedBack {
            first_seq, chunks, ..
        } = event
        {
            runs.push((first_seq, chunks.len()));
        }
    }
    assert_eq!(runs, vec![(4, 1), (6, 1)]);
}

#[test]
fn a_group_chunk_out_of_its_group_order_ends_the_link() {
    use crate::group::{GroupId, GroupTag};
    let g = |seq, gseq| Wire::GroupChunk {
        epoch: CacheEpoch(1),
        seq,
        kind: crate::MessageType::Serial,
        tag: GroupTag {
            group: GroupId(1),
            epoch: CacheEpoch(4),
            seq: gseq,
        },
        payload: Bytes::from_static(b"x"),
    };
    let mut p = Pair::new();
    let e = p.connect();
    assert_eq!(e, CacheEpoch(1));
    p.m.handle(g(1, 1), p.now).unwrap();
    assert!(matches!(
        p.m.handle(g(2, 3), p.now),
        Err(ProtocolError::GroupOutOfOrder { expected: 2, .. })
    ));
}

#[test]
fn an_older_peer_links_at_its_version_without_group_chunks() {
    use crate::group::{GroupId, GroupTag};
    use crate::wire::{GROUPS_VERSION, OLDEST_PROTOCOL_VERSION};
    let tag = GroupTag {
        group: GroupId(1),
        epoch: CacheEpoch(1),
        seq: 1,
    };
    let gchunk = |seq| Wire::GroupChunk {
        epoch: CacheEpoch(1),
        seq,
        kind: crate::MessageType::Serial,
        tag,
        payload: Bytes::from_static(b"x"),
    };
    // A peer of the version before groups: welcomed at its version.
    let mut p = Pair::new();
    let mut h = hello(&mut p);
    h.version = OLDEST_PROTOCOL_VERSION;
    p.m.handle(Wire::Hello(h), p.now).unwrap();
    match p.m.poll_transmit() {
        Some(Wire::Welcome(w)) => assert_eq!(w.version, OLDEST_PROTOCOL_VERSION),
        other => panic!("expected a WELCOME, got {other:?}"),
    }
    assert!(p.m.epoch().is_some());
    assert!(!p.m.speaks_groups());
    // It is never sent a group chunk (it would end the link on the tag)...
    let refused =
        p.m.write_group(Chunk::serial(CacheEpoch(1), &b"g"[..]), tag);
    assert!(matches!(
        refused,
        Err((WriteRefused::NoGroups { version: 2 }, _))
    ));
    assert!(p.m.poll_transmit().is_none());
    // ...its own chunks still flow, and a GCHUNK from it breaks the link.
    p.m.handle(
        Wire::Chunk {
            epoch: CacheEpoch(1),
            seq: 1,
            kind: crate::MessageType::Serial,
            payload: Bytes::from_static(b"own"),
        },
        p.now,
    )
    .unwrap();
    assert_eq!(
        p.m.handle(gchunk(2), p.now),
        Err(ProtocolError::GroupsNotAgreed { version: 2 })
    );
    // A newer peer is welcomed at our version; a WELCOME above what we
    // proposed ends the handshake.
    let mut p = Pair::new();
    let mut h = hello(&mut p);
    h.version = PROTOCOL_VERSION + 5;
    p.m.handle(Wire::Hello(h), p.now).unwrap();
    match p.m.poll_transmit() {
        Some(Wire::Welcome(mut w)) => {
            assert_eq!(w.version, PROTOCOL_VERSION);
            assert!(p.m.speaks_groups() && PROTOCOL_VERSION >= GROUPS_VERSION);
            w.version = PROTOCOL_VERSION + 1;
            assert!(matches!(
                p.w.handle(Wire::Welcome(w), p.now),
                Err(ProtocolError::Version { .. })
            ));
        }
        other => panic!("expected a WELCOME, got {other:?}"),
    }
    // Both at the current version: groups flow.
    let mut p = Pair::new();
    p.connect();
    assert!(p.w.speaks_groups() && p.m.speaks_groups());
}
