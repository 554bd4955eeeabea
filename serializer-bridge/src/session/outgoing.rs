//! The sending half of a session: what the caller wrote, what is on the
//! wire, and what is in doubt after a link ended.
//!
//! Within an epoch every written chunk has a sequence number, from 1, given
//! at `write`. `queue` holds sequences `acked + 1 ..= written`; the first
//! `sent - acked` of them are on the wire. An ACK moves `acked` forward and
//! reports [`Event::Delivered`]. When the epoch ends, the unsent tail comes
//! back at once ([`HandBack::Unsent`]) and the sent part becomes the single
//! [`InDoubt`] record, settled by the peer's next handshake (its delivery
//! record) or by the in-doubt timeout.
//!
//! Group chunks ([`GroupTag`]) share the queue, the sequences and the
//! window with the peer's own chunks; their outcomes go to
//! `group_outcomes` (for the group) instead of becoming events, and the
//! peer's own hand-backs are split into runs of consecutive own chunks.
//!
//! Invariant: at most one epoch is in doubt, and none while an epoch is up,
//! because a session only goes up after taking the peer's handshake, which
//! settles the doubt first.

use std::collections::VecDeque;
use std::time::Instant;

use crate::chunk::Chunk;
use crate::config::Caps;
use crate::epoch::CacheEpoch;
use crate::event::{Event, PeerId};
use crate::group::{GroupOutcome, GroupTag};
use crate::session::error::{HandBack, ProtocolError, WriteRefused};
use crate::wire::Record;

/// How much the peer lets us have unacknowledged (from its hello).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Chunks.
    pub chunks: u64,
    /// Bytes (one larger chunk still goes when nothing is in flight).
    pub bytes: u64,
}

/// A written chunk in the queue: the peer's own, or a group's.
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    pub(crate) chunk: Chunk,
    pub(crate) tag: Option<GroupTag>,
}

/// Chunks that were on the wire when their epoch ended.
#[derive(Debug)]
pub(crate) struct InDoubt {
    pub(crate) epoch: CacheEpoch,
    /// The incarnation of the peer they were sent to.
    pub(crate) peer_incarnation: u64,
    /// Sequences `acked + 1 ..= acked + chunks.len()`.
    pub(crate) acked: u64,
    pub(crate) chunks: VecDeque<Queued>,
    pub(crate) since: Instant,
}

/// An epoch whose doubt the timeout settled by handing everything back.
#[derive(Debug, Clone, Copy)]
pub struct Expired {
    pub(crate) epoch: CacheEpoch,
    pub(crate) peer_incarnation: u64,
    pub(crate) acked: u64,
    pub(crate) sent: u64,
}

#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) epoch: CacheEpoch,
    queue: VecDeque<Queued>,
    pub(crate) acked: u64,
    pub(crate) sent: u64,
    pub(crate) written: u64,
    pending_bytes: u64,
    in_flight_bytes: u64,
    window: Window,
    filling_up: bool,
    pub(crate) in_doubt: Option<InDoubt>,
    pub(crate) expired: Option<Expired>,
    /// Outcomes of group chunks, for the groups to collect.
    pub(crate) group_outcomes: VecDeque<GroupOutcome>,
}

/// What the peer's handshake says, for settling our doubt.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Said {
    /// The peer (for the events).
    pub(crate) peer: PeerId,
    /// Its incarnation now.
    pub(crate) peer_incarnation: u64,
    /// Ours, which its record must be about.
    pub(crate) our_incarnation: u64,
    /// Its delivery record.
    pub(crate) record: Record,
}

/// Reports chunks `first_seq..` of `epoch` as handed back: the peer's own
/// in runs of consecutive sequences, group chunks to `groups`.
fn hand_back(
    events: &mut Vec<Event>,
    groups: &mut VecDeque<GroupOutcome>,
    peer: PeerId,
    epoch: CacheEpoch,
    reason: HandBack,
    first_seq: u64,
    queued: impl IntoIterator<Item = Queued>,
) {
    let mut run: Vec<Chunk> = Vec::new();
    let mut run_first = first_seq;
    let flush = |run: &mut Vec<Chunk>, run_first: u64, events: &mut Vec<Event>| {
        if !run.is_empty() {
            events.push(Event::HandedBack {
                peer,
                epoch,
                reason,
                first_seq: run_first,
                chunks: std::mem::take(run),
            });
        }
    };
    for (seq, q) in (first_seq..).zip(queued) {
        match q.tag {
            Some(tag) => {
                flush(&mut run, run_first, events);
                run_first = seq + 1;
                groups.push_back(GroupOutcome {
                    peer,
                    tag,
                    len: q.chunk.len() as u64,
                    missed: Some(reason),
                });
            }
            None => run.push(q.chunk),
        }
    }
    flush(&mut run, run_first, events);
}

/// Reports group chunks among `queued` as delivered.
fn delivered<'a>(
    groups: &mut VecDeque<GroupOutcome>,
    peer: PeerId,
    queued: impl IntoIterator<Item = &'a Queued>,
) {
    for q in queued {
        if let Some(tag) = q.tag {
            groups.push_back(GroupOutcome {
                peer,
                tag,
                len: q.chunk.len() as u64,
                missed: None,
            });
        }
    }
}

impl Outgoing {
    pub(crate) fn new() -> Self {
        Outgoing {
            epoch: CacheEpoch(0),
            queue: VecDeque::new(),
            acked: 0,
            sent: 0,
            written: 0,
            pending_bytes: 0,
            in_flight_bytes: 0,
            window: Window {
                chunks: 0,
                bytes: 0,
            },
            filling_up: false,
            in_doubt: None,
            expired: None,
            group_outcomes: VecDeque::new(),
        }
    }

    /// Chunks written and not yet confirmed in the current epoch.
    pub(crate) fn pending(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn pending_bytes(&self) -> u64 {
        self.pending_bytes
    }

    pub(crate) fn in_doubt_len(&self) -> usize {
        self.in_doubt.as_ref().map_or(0, |d| d.chunks.len())
    }

    pub(crate) fn is_filling_up(&self) -> bool {
        self.filling_up
    }

    pub(crate) fn has_unsent(&self) -> bool {
        self.written > self.sent
    }

    /// Starts `epoch` with the peer's window; queues are empty here.
    pub(crate) fn start(&mut self, epoch: CacheEpoch, window: Window) {
        debug_assert!(self.queue.is_empty() && self.in_doubt.is_none());
        self.epoch = epoch;
        self.window = window;
        self.acked = 0;
        self.sent = 0;
        self.written = 0;
        self.pending_bytes = 0;
        self.in_flight_bytes = 0;
    }

    /// Queues a chunk of the current epoch; its sequence and whether this
    /// write crossed the soft cap.
    /// A group chunk (`tag`) is bound to its group epoch, not to ours.
    pub(crate) fn write(
        &mut self,
        chunk: Chunk,
        tag: Option<GroupTag>,
        caps: &Caps,
    ) -> Result<(u64, bool), (WriteRefused, Chunk)> {
        if tag.is_none() && chunk.epoch != self.epoch {
            let current = self.epoch;
            return Err((
                WriteRefused::StaleEpoch {
                    chunk: chunk.epoch,
                    current,
                },
                chunk,
            ));
        }
        if chunk.len() > caps.hard_bytes {
            let refused = WriteRefused::TooLarge {
                len: chunk.len(),
                max: caps.hard_bytes,
            };
            return Err((refused, chunk));
        }
        let len = chunk.len() as u64;
        if self.pending() >= caps.hard_chunks
            || self.pending_bytes.saturating_add(len) > caps.hard_bytes as u64
        {
            let refused = WriteRefused::Full {
                pending: self.pending(),
                pending_bytes: self.pending_bytes as usize,
            };
            return Err((refused, chunk));
        }
        self.pending_bytes += len;
        self.queue.push_back(Queued { chunk, tag });
        self.written += 1;
        let crossed = !self.filling_up
            && (self.pending() > caps.soft_chunks || self.pending_bytes > caps.soft_bytes as u64);
        self.filling_up |= crossed;
        Ok((self.written, crossed))
    }

    /// The next chunk to put on the wire, with its sequence; None when
    /// nothing waits or the peer's window is full.
    pub(crate) fn next_to_send(&mut self) -> Option<(u64, &Queued)> {
        if self.sent == self.written {
            return None;
        }
        let in_flight = self.sent - self.acked;
        let index = usize::try_from(in_flight).ok()?;
        let next = self.queue.get(index)?;
        let len = next.chunk.len() as u64;
        let full = in_flight >= self.window.chunks
            || (in_flight > 0 && self.in_flight_bytes.saturating_add(len) > self.window.bytes);
        if full {
            return None;
        }
        self.sent += 1;
        self.in_flight_bytes += len;
        Some((self.sent, next))
    }

    /// The peer delivered everything up to `seq` of the current epoch.
    pub(crate) fn on_ack(
        &mut self,
        seq: u64,
        peer: PeerId,
        caps: &Caps,
        events: &mut Vec<Event>,
    ) -> Result<(), ProtocolError> {
        if seq < self.acked || seq > self.sent {
            return Err(ProtocolError::AckOutOfRange {
                epoch: self.epoch,
                seq,
                acked: self.acked,
                sent: self.sent,
            });
        }
        if seq == self.acked {
            return Ok(());
        }
        for _ in self.acked..seq {
            if let Some(q) = self.queue.pop_front() {
                let len = q.chunk.len() as u64;
                self.pending_bytes -= len;
                self.in_flight_bytes -= len;
                delivered(&mut self.group_outcomes, peer, [&q]);
            }
        }
        self.acked = seq;
        events.push(Event::Delivered {
            peer,
            epoch: self.epoch,
            through: seq,
        });
        if self.check_drained(caps) {
            events.push(Event::Drained { peer });
        }
        Ok(())
    }

    /// The epoch ended: the unsent tail comes back now, what was on the
    /// wire waits in doubt for the peer's record.
    pub(crate) fn end(
        &mut self,
        peer: PeerId,
        peer_incarnation: u64,
        now: Instant,
        caps: &Caps,
        events: &mut Vec<Event>,
    ) {
        debug_assert!(
            self.in_doubt.is_none(),
            "an epoch ended while another was in doubt"
        );
        if self.in_doubt.is_some() {
            // Never reached (see the module's invariant); if it were, the
            // older doubt comes back rather than being overwritten.
            self.expire(peer, events);
        }
        let in_flight = (self.sent - self.acked) as usize;
        let unsent: Vec<Queued> = self.queue.drain(in_flight..).collect();
        hand_back(
            events,
            &mut self.group_outcomes,
            peer,
            self.epoch,
            HandBack::Unsent,
            self.sent + 1,
            unsent,
        );
        if in_flight > 0 {
            self.in_doubt = Some(InDoubt {
                epoch: self.epoch,
                peer_incarnation,
                acked: self.acked,
                chunks: std::mem::take(&mut self.queue),
                since: now,
            });
        }
        self.written = self.sent;
        self.pending_bytes = 0;
        self.in_flight_bytes = 0;
        if self.check_drained(caps) {
            events.push(Event::Drained { peer });
        }
    }

    /// The peer's handshake settles the epoch in doubt: the first
    /// `record.delivered` are confirmed, the rest come back.
    pub(crate) fn settle(
        &mut self,
        said: Said,
        events: &mut Vec<Event>,
    ) -> Result<(), ProtocolError> {
        self.report_late_delivery(said, events);
        let Said {
            peer,
            peer_incarnation,
            our_incarnation,
            record,
        } = said;
        let Some(doubt) = self.in_doubt.as_ref() else {
            return Ok(());
        };
        let sent = doubt.acked + doubt.chunks.len() as u64;
        let about_us = record.about == our_incarnation;
        let (delivered, reason) = if peer_incarnation != doubt.peer_incarnation {
            (doubt.acked, HandBack::PeerRestarted)
        } else if !about_us || record.epoch < doubt.epoch {
            (doubt.acked, HandBack::NotDelivered)
        } else if record.epoch > doubt.epoch {
            return Err(ProtocolError::RecordAhead {
                record: record.epoch,
                ours: doubt.epoch,
            });
        } else if record.delivered < doubt.acked || record.delivered > sent {
            return Err(ProtocolError::RecordOutOfRange {
                epoch: record.epoch,
                delivered: record.delivered,
                acked: doubt.acked,
                sent,
            });
        } else {
            (record.delivered, HandBack::NotDelivered)
        };
        let Some(mut doubt) = self.in_doubt.take() else {
            return Ok(());
        };
        let confirmed = (delivered - doubt.acked) as usize;
        if confirmed > 0 {
            events.push(Event::Delivered {
                peer,
                epoch: doubt.epoch,
                through: delivered,
            });
            self::delivered(
                &mut self.group_outcomes,
                peer,
                doubt.chunks.iter().take(confirmed),
            );
        }
        let rest: Vec<Queued> = doubt.chunks.drain(confirmed..).collect();
        hand_back(
            events,
            &mut self.group_outcomes,
            peer,
            doubt.epoch,
            reason,
            delivered + 1,
            rest,
        );
        Ok(())
    }

    /// A record about an epoch the timeout already handed back.
    fn report_late_delivery(&mut self, said: Said, events: &mut Vec<Event>) {
        let Some(expired) = self.expired else {
            return;
        };
        if said.peer_incarnation != expired.peer_incarnation {
            self.expired = None;
            return;
        }
        if said.record.about != said.our_incarnation || said.record.epoch != expired.epoch {
            return;
        }
        self.expired = None;
        let through = said.record.delivered.min(expired.sent);
        if through > expired.acked {
            events.push(Event::DeliveredAfterHandBack {
                peer: said.peer,
                epoch: expired.epoch,
                first_seq: expired.acked + 1,
                through,
            });
        }
    }

    /// The in-doubt timeout ran out: everything in doubt comes back.
    pub(crate) fn expire(&mut self, peer: PeerId, events: &mut Vec<Event>) {
        let Some(doubt) = self.in_doubt.take() else {
            return;
        };
        let sent = doubt.acked + doubt.chunks.len() as u64;
        self.expired = Some(Expired {
            epoch: doubt.epoch,
            peer_incarnation: doubt.peer_incarnation,
            acked: doubt.acked,
            sent,
        });
        hand_back(
            events,
            &mut self.group_outcomes,
            peer,
            doubt.epoch,
            HandBack::Expired,
            doubt.acked + 1,
            doubt.chunks,
        );
    }

    /// Shutting down: everything still ours comes back.
    pub(crate) fn surrender(&mut self, peer: PeerId, events: &mut Vec<Event>) {
        if let Some(doubt) = self.in_doubt.take() {
            hand_back(
                events,
                &mut self.group_outcomes,
                peer,
                doubt.epoch,
                HandBack::Shutdown,
                doubt.acked + 1,
                doubt.chunks,
            );
        }
        let queued: Vec<Queued> = self.queue.drain(..).collect();
        hand_back(
            events,
            &mut self.group_outcomes,
            peer,
            self.epoch,
            HandBack::Shutdown,
            self.acked + 1,
            queued,
        );
        self.pending_bytes = 0;
        self.in_flight_bytes = 0;
        self.sent = self.acked;
        self.written = self.acked;
    }

    /// Takes back the unsent chunks (ChunkedIO's `Clear`): they are the
    /// caller's again and count as handed back. Only the peer's own
    /// chunks after the last unsent group chunk come back (a group chunk
    /// stays, so the member keeps its group's order). Returns their first
    /// sequence and whether the peer drained.
    pub(crate) fn clear(&mut self, caps: &Caps) -> (u64, Vec<Chunk>, bool) {
        let in_flight = (self.sent - self.acked) as usize;
        let keep = self
            .queue
            .iter()
            .rposition(|q| q.tag.is_some())
            .map_or(in_flight, |last| (last + 1).max(in_flight));
        let cleared: Vec<Chunk> = self.queue.drain(keep..).map(|q| q.chunk).collect();
        let first = self.acked + keep as u64 + 1;
        self.pending_bytes -= cleared.iter().map(|c| c.len() as u64).sum::<u64>();
        self.written = self.acked + keep as u64;
        (first, cleared, self.check_drained(caps))
    }

    fn check_drained(&mut self, caps: &Caps) -> bool {
        let drained = self.filling_up
            && self.pending() <= caps.soft_chunks / 2
            && self.pending_bytes <= caps.soft_bytes as u64 / 2;
        if drained {
            self.filling_up = false;
        }
        drained
    }
}
