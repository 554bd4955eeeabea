//! One peer's state: its link, its epoch, its queues. No I/O here: the
//! driver moves what this decides onto sockets.
//!
//! Sending: the caller's chunks wait in `outbox`; the driver sends them in
//! order, numbering them from 1 within the epoch, and keeps each in
//! `in_flight` until the peer acknowledges it. Pending (outbox plus in
//! flight) is what the soft and hard caps limit, so a peer that stops
//! reading stops us sending to it, and nothing else.
//!
//! Receiving: chunks of the current epoch are accepted in sequence and
//! acknowledged once the application has taken them.

use std::collections::VecDeque;

use crate::chunk::Chunk;
use crate::config::Caps;
use crate::epoch::CacheEpoch;
use crate::event::{Event, PeerId};
use crate::wire::Wire;

/// How a peer is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// Through our listening ROUTER, by its routing id.
    Accepted,
    /// Through our own DEALER, the n-th configured peer.
    Connected(usize),
}

/// Where a peer's link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    /// No link.
    Down,
    /// Connected; waiting for the other side's hello.
    Handshaking,
    /// Hello done; chunks flow in the current epoch.
    Up,
}

/// Per-peer counters, in the spirit of ChunkedIO's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
    /// Chunks received.
    pub chunks_in: u64,
    /// Chunks sent.
    pub chunks_out: u64,
    /// Chunks queued or unacknowledged right now.
    pub pending: u64,
    /// Bytes queued or unacknowledged right now.
    pub pending_bytes: u64,
    /// Messages handed to the socket layer (chunks and acks).
    pub write_calls: u64,
    /// Chunks the application took.
    pub read_calls: u64,
    /// Epochs started with this peer.
    pub epochs: u64,
    /// Writes refused at the hard cap.
    pub refused_writes: u64,
}

/// Why [`PeerManager::write`](crate::PeerManager::write) refused a chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteRefused {
    /// The peer has no link up; wait for its `PeerUp`.
    #[error("peer is down")]
    PeerDown,
    /// The chunk was serialized for another epoch than the current one.
    #[error("chunk is for {chunk}, the peer is in {current}")]
    StaleEpoch {
        /// The chunk's epoch.
        chunk: CacheEpoch,
        /// The peer's.
        current: CacheEpoch,
    },
    /// The hard cap is reached.
    #[error("peer queue is full ({pending} chunks, {pending_bytes} bytes pending)")]
    Full {
        /// Chunks pending.
        pending: usize,
        /// Bytes pending.
        pending_bytes: usize,
    },
    /// No such peer.
    #[error("unknown peer")]
    UnknownPeer,
    /// The manager has shut down.
    #[error("the peer manager is closed")]
    Closed,
}

/// How much the peer lets us have unacknowledged (from its hello).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) chunks: usize,
    pub(crate) bytes: usize,
}

impl Window {
    pub(crate) fn of(hello: &crate::wire::Hello) -> Self {
        Window {
            chunks: hello.window_chunks as usize,
            bytes: usize::try_from(hello.window_bytes).unwrap_or(usize::MAX),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) id: PeerId,
    pub(crate) name: String,
    pub(crate) route: Route,
    pub(crate) link: Link,
    /// Links currently open to this peer through the ROUTER (more than one
    /// during a handover).
    pub(crate) open_links: u32,
    pub(crate) epoch: CacheEpoch,
    /// The highest epoch the peer has proposed or agreed.
    pub(crate) peer_epoch: CacheEpoch,
    outbox: VecDeque<Chunk>,
    in_flight: VecDeque<(u64, Chunk)>,
    in_flight_bytes: usize,
    window: Window,
    next_seq: u64,
    pending_bytes: usize,
    filling_up: bool,
    expected_seq: u64,
    /// Chunks of this epoch the application has taken.
    pub(crate) delivered: u64,
    /// The highest sequence we have acknowledged.
    pub(crate) acked: u64,
    /// Chunks waiting for the application, with their place in the
    /// manager-wide order.
    pub(crate) inbox: VecDeque<(u64, Event)>,
    pub(crate) stats: PeerStats,
}

impl Peer {
    pub(crate) fn new(id: PeerId, name: String, route: Route) -> Self {
        Peer {
            id,
            name,
            route,
            link: Link::Down,
            open_links: 0,
            epoch: CacheEpoch(0),
            peer_epoch: CacheEpoch(0),
            outbox: VecDeque::new(),
            in_flight: VecDeque::new(),
            in_flight_bytes: 0,
            window: Window {
                chunks: 0,
                bytes: 0,
            },
            next_seq: 1,
            pending_bytes: 0,
            filling_up: false,
            expected_seq: 1,
            delivered: 0,
            acked: 0,
            inbox: VecDeque::new(),
            stats: PeerStats::default(),
        }
    }

    pub(crate) fn pending(&self) -> usize {
        self.outbox.len() + self.in_flight.len()
    }

    pub(crate) fn is_filling_up(&self) -> bool {
        self.filling_up
    }

    pub(crate) fn has_unsent(&self) -> bool {
        self.link == Link::Up && !self.outbox.is_empty()
    }

    /// Queues a chunk; `Ok(true)` when this write crossed the soft cap.
    pub(crate) fn write(
        &mut self,
        chunk: Chunk,
        caps: &Caps,
    ) -> Result<bool, (WriteRefused, Chunk)> {
        if self.link != Link::Up {
            return Err((WriteRefused::PeerDown, chunk));
        }
        if chunk.epoch != self.epoch {
            let current = self.epoch;
            return Err((
                WriteRefused::StaleEpoch {
                    chunk: chunk.epoch,
                    current,
                },
                chunk,
            ));
        }
        if self.pending() >= caps.hard_chunks || self.pending_bytes + chunk.len() > caps.hard_bytes
        {
            self.stats.refused_writes += 1;
            let refused = WriteRefused::Full {
                pending: self.pending(),
                pending_bytes: self.pending_bytes,
            };
            return Err((refused, chunk));
        }
        self.pending_bytes += chunk.len();
        self.outbox.push_back(chunk);
        self.update_pending_stats();
        let crossed = !self.filling_up
            && (self.pending() > caps.soft_chunks || self.pending_bytes > caps.soft_bytes);
        self.filling_up |= crossed;
        Ok(crossed)
    }

    /// The next chunk to put on the wire, numbered; it moves to in-flight.
    /// None when nothing waits or the peer's window is full (one chunk
    /// larger than the byte window still goes when nothing is in flight).
    pub(crate) fn next_wire(&mut self) -> Option<Wire> {
        if self.link != Link::Up {
            return None;
        }
        let next_len = self.outbox.front()?.len();
        let window_full = self.in_flight.len() >= self.window.chunks
            || (!self.in_flight.is_empty() && self.in_flight_bytes + next_len > self.window.bytes);
        if window_full {
            return None;
        }
        let chunk = self.outbox.pop_front()?;
        self.in_flight_bytes += chunk.len();
        let seq = self.next_seq;
        self.next_seq += 1;
        let wire = Wire::Chunk {
            epoch: self.epoch,
            seq,
            kind: chunk.kind,
            payload: chunk.data.clone(),
        };
        self.in_flight.push_back((seq, chunk));
        Some(wire)
    }

    /// The socket would not take the last [`Peer::next_wire`]: put it back.
    pub(crate) fn unsend(&mut self) {
        if let Some((_, chunk)) = self.in_flight.pop_back() {
            self.in_flight_bytes -= chunk.len();
            self.next_seq -= 1;
            self.outbox.push_front(chunk);
        }
    }

    /// The last [`Peer::next_wire`] went to the socket.
    pub(crate) fn sent(&mut self) {
        if let Some((_, chunk)) = self.in_flight.back() {
            self.stats.chunks_out += 1;
            self.stats.bytes_out += chunk.len() as u64;
            self.stats.write_calls += 1;
        }
    }

    /// The peer acknowledged everything up to `seq` of `epoch`; returns true
    /// when that drained a peer that was filling up.
    pub(crate) fn on_ack(&mut self, epoch: CacheEpoch, seq: u64, caps: &Caps) -> bool {
        if self.link != Link::Up || epoch != self.epoch {
            return false;
        }
        while self.in_flight.front().is_some_and(|(s, _)| *s <= seq) {
            if let Some((_, chunk)) = self.in_flight.pop_front() {
                self.pending_bytes -= chunk.len();
                self.in_flight_bytes -= chunk.len();
            }
        }
        self.update_pending_stats();
        self.check_drained(caps)
    }

    fn check_drained(&mut self, caps: &Caps) -> bool {
        let drained = self.filling_up
            && self.pending() <= caps.soft_chunks / 2
            && self.pending_bytes <= caps.soft_bytes / 2;
        if drained {
            self.filling_up = false;
        }
        drained
    }

    fn update_pending_stats(&mut self) {
        self.stats.pending = self.pending() as u64;
        self.stats.pending_bytes = self.pending_bytes as u64;
    }

    /// A chunk arrived. `Ok(None)` drops a chunk of another epoch (sent
    /// before a reconnect; its sender has had it back); an error means the
    /// peer broke the protocol.
    pub(crate) fn on_chunk(
        &mut self,
        epoch: CacheEpoch,
        seq: u64,
        chunk: Chunk,
        caps: &Caps,
    ) -> Result<Option<Chunk>, String> {
        if self.link != Link::Up || epoch != self.epoch {
            return Ok(None);
        }
        if seq != self.expected_seq {
            return Err(format!(
                "chunk {seq} of {epoch} arrived, expected {}",
                self.expected_seq
            ));
        }
        if self.inbox.len() >= caps.hard_chunks {
            return Err("peer sent more unacknowledged chunks than our hard cap".into());
        }
        self.expected_seq += 1;
        self.stats.chunks_in += 1;
        self.stats.bytes_in += chunk.len() as u64;
        Ok(Some(chunk))
    }

    /// An acknowledgement is due: everything read so far, if not yet acked.
    pub(crate) fn ack_due(&self, every: u64) -> Option<Wire> {
        let due = self.delivered > self.acked
            && (self.delivered - self.acked >= every || self.inbox.is_empty());
        (self.link == Link::Up && due).then_some(Wire::Ack {
            epoch: self.epoch,
            seq: self.delivered,
        })
    }

    /// Starts `epoch`: empty queues, counters from 1, the peer's window.
    pub(crate) fn start_epoch(&mut self, epoch: CacheEpoch, window: Window) -> Event {
        self.link = Link::Up;
        self.window = window;
        self.epoch = epoch;
        self.peer_epoch = self.peer_epoch.max(epoch);
        self.next_seq = 1;
        self.expected_seq = 1;
        self.delivered = 0;
        self.acked = 0;
        self.stats.epochs += 1;
        Event::PeerUp {
            peer: self.id,
            node: self.name.clone(),
            epoch,
        }
    }

    /// Ends the current epoch (if one is up), handing back what it did not
    /// deliver. Also the way out of a handshake that never finished.
    pub(crate) fn end_epoch(&mut self, reason: &str, caps: &Caps) -> Vec<Event> {
        let was_up = self.link == Link::Up;
        self.link = Link::Down;
        if !was_up {
            return Vec::new();
        }
        let unsent: Vec<Chunk> = self.outbox.drain(..).collect();
        let unconfirmed: Vec<Chunk> = self.in_flight.drain(..).map(|(_, c)| c).collect();
        self.pending_bytes = 0;
        self.in_flight_bytes = 0;
        self.update_pending_stats();
        let mut events = vec![Event::PeerDown {
            peer: self.id,
            epoch: self.epoch,
            reason: reason.to_owned(),
            unsent,
            unconfirmed,
        }];
        if self.check_drained(caps) {
            events.push(Event::Drained { peer: self.id });
        }
        events
    }

    /// Drops every queued, unsent chunk and returns them (ChunkedIO's
    /// `Clear`, without losing anything silently).
    pub(crate) fn clear(&mut self, caps: &Caps) -> (Vec<Chunk>, bool) {
        let cleared: Vec<Chunk> = self.outbox.drain(..).collect();
        self.pending_bytes -= cleared.iter().map(Chunk::len).sum::<usize>();
        self.update_pending_stats();
        let drained = self.check_drained(caps);
        (cleared, drained)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps() -> Caps {
        Caps {
            soft_chunks: 4,
            hard_chunks: 8,
            soft_bytes: 1 << 20,
            hard_bytes: 2 << 20,
        }
    }

    fn up_peer() -> Peer {
        let mut p = Peer::new(PeerId(0), "w1".into(), Route::Accepted);
        p.start_epoch(
            CacheEpoch(1),
            Window {
                chunks: 4,
                bytes: 1 << 20,
            },
        );
        p
    }

    #[test]
    fn writes_are_bounded_and_report_filling_up() {
        let mut p = up_peer();
        let c = caps();
        let mut crossed = Vec::new();
        for i in 0..8 {
            crossed.push(p.write(Chunk::serial(CacheEpoch(1), vec![i]), &c).unwrap());
        }
        assert_eq!(
            crossed,
            [false, false, false, false, true, false, false, false]
        );
        let (why, back) = p
            .write(Chunk::serial(CacheEpoch(1), vec![9]), &c)
            .unwrap_err();
        assert!(matches!(why, WriteRefused::Full { pending: 8, .. }));
        assert_eq!(back.data[..], [9]);
    }

    #[test]
    fn stale_epochs_and_down_peers_are_refused() {
        let mut p = up_peer();
        let (why, _) = p
            .write(Chunk::serial(CacheEpoch(0), "x"), &caps())
            .unwrap_err();
        assert!(matches!(why, WriteRefused::StaleEpoch { .. }));
        p.end_epoch("gone", &caps());
        let (why, _) = p
            .write(Chunk::serial(CacheEpoch(1), "x"), &caps())
            .unwrap_err();
        assert_eq!(why, WriteRefused::PeerDown);
    }

    #[test]
    fn acks_release_in_flight_and_end_hands_back_the_rest() {
        let mut p = up_peer();
        let c = caps();
        for i in 0..6u8 {
            p.write(Chunk::serial(CacheEpoch(1), vec![i]), &c).unwrap();
        }
        for _ in 0..4 {
            assert!(p.next_wire().is_some());
            p.sent();
        }
        assert!(p.next_wire().is_none(), "the peer's window of 4 is full");
        assert!(
            !p.on_ack(CacheEpoch(1), 2, &c),
            "still above half the soft cap"
        );
        assert!(p.on_ack(CacheEpoch(1), 4, &c), "drained");
        p.next_wire();
        p.sent();
        let events = p.end_epoch("link dropped", &c);
        let Event::PeerDown {
            unsent,
            unconfirmed,
            ..
        } = &events[0]
        else {
            panic!("{events:?}")
        };
        assert_eq!(
            unconfirmed.iter().map(|c| c.data[0]).collect::<Vec<_>>(),
            [4]
        );
        assert_eq!(unsent.iter().map(|c| c.data[0]).collect::<Vec<_>>(), [5]);
        assert_eq!(p.pending(), 0);
    }

    #[test]
    fn receiving_checks_epoch_and_order() {
        let mut p = up_peer();
        let c = caps();
        let chunk = || Chunk::serial(CacheEpoch(1), "x");
        assert_eq!(p.on_chunk(CacheEpoch(0), 1, chunk(), &c), Ok(None));
        assert!(p.on_chunk(CacheEpoch(1), 1, chunk(), &c).unwrap().is_some());
        assert!(p.on_chunk(CacheEpoch(1), 3, chunk(), &c).is_err());
    }
}
