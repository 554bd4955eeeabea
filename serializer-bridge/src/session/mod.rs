//! The bridge's link protocol as a state machine with no I/O: wire
//! messages, link notices and the time go in; wire messages, events and
//! the next deadline come out. One [`Session`] per peer lives across that
//! peer's links, because what one link leaves in doubt the next settles.
//!
//! ```text
//!  connector (DEALER side)                 acceptor (ROUTER side)
//!  ───────────────────────                 ──────────────────────
//!   Down ──link_up──► Handshaking           Down
//!                      │ HELLO(nonce, proposal, record) ─────►│ settle own doubt with record
//!                      │                                      │ end the epoch that was up
//!                      │◄──── WELCOME(nonce, agreed, record) ─┤ Up(agreed)
//!   settle own doubt   │
//!   with record        ▼
//!                    Up(agreed) ◄──── CHUNK / ACK both ways ──► Up(agreed)
//!                      │                                      │
//!   link_down / new link_up / protocol error / REFUSE: the epoch ends
//!                      ▼                                      ▼
//!                    Down: unsent chunks handed back at once; sent and
//!                          unconfirmed chunks in doubt until the peer's next
//!                          record (or the in-doubt timeout) settles them
//! ```
//!
//! The rules, and why each exists, are in `docs/bridge-protocol.md`. The
//! guarantees a caller gets:
//! - every written chunk gets exactly one outcome, [`Event::Delivered`] or
//!   [`Event::HandedBack`];
//! - a chunk is delivered only in the epoch it was written for, in order,
//!   at most once to a peer incarnation;
//! - everything a peer says is checked; what breaks the protocol ends that
//!   link with a [`ProtocolError`] and is never a panic.

mod error;
mod incoming;
mod outgoing;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use error::{HandBack, LinkDown, ProtocolError, WriteRefused};
pub use outgoing::Window;

use crate::chunk::Chunk;
use crate::config::Caps;
use crate::epoch::CacheEpoch;
use crate::event::{Event, PeerId};
use crate::group::{GroupOrder, GroupOutcome, GroupTag};
use crate::stats::PeerStats;
use crate::wire::{GROUPS_VERSION, Hello, OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION, Wire};
use incoming::Incoming;
use outgoing::Outgoing;

/// The highest epoch the protocol allows. Far below `u64::MAX`, so an
/// increment never overflows and a peer cannot wrap the numbering.
pub const MAX_EPOCH: CacheEpoch = CacheEpoch(1 << 62);

/// What every session of one manager shares.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This node's name.
    pub node: String,
    /// This process's incarnation: random, never 0, fixed for its life.
    pub incarnation: u64,
    /// Capability flags announced in the hello.
    pub capabilities: u32,
    /// Serialization cache entries announced in the hello.
    pub cache_size: u32,
    /// Limits on what the caller may queue per peer.
    pub caps: Caps,
    /// What we accept unacknowledged from a peer (announced in our hello).
    pub window: Window,
    /// Acknowledge after this many chunks taken (or when none wait).
    pub ack_every: u64,
    /// How long a connector waits for the WELCOME.
    pub handshake_timeout: Duration,
    /// How long sent, unconfirmed chunks wait for the peer to come back
    /// before they are handed back with [`HandBack::Expired`].
    pub in_doubt_timeout: Duration,
}

/// What a session must remember of a peer to be recreated later without
/// breaking the protocol: epochs keep increasing, a restart is seen as one,
/// an old attempt's HELLO stays old, the peer's doubt is settled by what we
/// really delivered, and a late delivery of expired chunks is still
/// reported. A session that is [`Session::is_settled`] owes nothing else.
#[derive(Debug, Clone, Copy)]
pub struct History {
    /// The peer's incarnation in the latest handshake.
    peer_incarnation: u64,
    /// The highest epoch used with the peer.
    last_epoch: CacheEpoch,
    /// The latest attempt nonce sent or answered.
    nonce: u64,
    /// An epoch the in-doubt timeout handed back, whose late delivery the
    /// peer may still report.
    expired: Option<outgoing::Expired>,
    /// What we delivered of the peer's chunks: its next handshake settles
    /// its doubt with this, so forgetting it would hand back as "not
    /// delivered" chunks our application took.
    record: crate::wire::Record,
}

/// Which end of the link this session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We connected (DEALER): we send the HELLO.
    Connector,
    /// The peer connected to us (ROUTER): we answer with the WELCOME.
    Acceptor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Down,
    Handshaking {
        nonce: u64,
        proposed: CacheEpoch,
        since: Instant,
    },
    Up {
        epoch: CacheEpoch,
    },
}

/// One peer's side of the bridge protocol, across its links.
#[derive(Debug)]
pub struct Session {
    id: PeerId,
    node: String,
    role: Role,
    settings: Arc<Settings>,
    link: Link,
    /// The peer's incarnation in the latest handshake, 0 before any.
    peer_incarnation: u64,
    /// The highest epoch used with this peer.
    last_epoch: CacheEpoch,
    /// The bridge protocol version of the latest handshake.
    version: u16,
    /// Connector: the nonce of our latest HELLO (attempts count from 1).
    /// Acceptor: the highest nonce answered for `peer_incarnation`.
    nonce: u64,
    out: Outgoing,
    inc: Incoming,
    /// HELLO, WELCOME or REFUSE, sent before anything else.
    control: VecDeque<Wire>,
    inbox: VecDeque<(u64, Chunk, Option<GroupTag>)>,
    /// The order of the group chunks received in the link epoch.
    group_order: GroupOrder,
    events: VecDeque<(u64, Event)>,
    next_stamp: u64,
    stats: PeerStats,
}

impl Session {
    /// A session with the peer called `node`.
    pub fn new(id: PeerId, node: String, role: Role, settings: Arc<Settings>) -> Self {
        Session {
            id,
            node,
            role,
            settings,
            link: Link::Down,
            peer_incarnation: 0,
            last_epoch: CacheEpoch(0),
            version: PROTOCOL_VERSION,
            nonce: 0,
            out: Outgoing::new(),
            inc: Incoming::new(),
            control: VecDeque::new(),
            inbox: VecDeque::new(),
            group_order: GroupOrder::default(),
            events: VecDeque::new(),
            next_stamp: 0,
            stats: PeerStats::default(),
        }
    }

    /// A session that continues `history` (see [`History`]).
    pub fn with_history(
        id: PeerId,
        node: String,
        role: Role,
        settings: Arc<Settings>,
        history: History,
    ) -> Self {
        let mut session = Session::new(id, node, role, settings);
        session.peer_incarnation = history.peer_incarnation;
        session.last_epoch = history.last_epoch;
        session.nonce = history.nonce;
        session.out.expired = history.expired;
        session.inc.record = history.record;
        session
    }

    /// What a later session with this peer must continue from.
    pub fn history(&self) -> History {
        History {
            peer_incarnation: self.peer_incarnation,
            last_epoch: self.last_epoch,
            nonce: self.nonce,
            expired: self.out.expired,
            record: self.inc.record,
        }
    }

    /// The peer's id.
    pub fn id(&self) -> PeerId {
        self.id
    }

    /// The peer's node name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Which end of the link we are.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The epoch that is up, if one is.
    pub fn epoch(&self) -> Option<CacheEpoch> {
        match self.link {
            Link::Up { epoch } => Some(epoch),
            _ => None,
        }
    }

    /// The peer's incarnation as of the latest handshake (0 before any).
    pub fn peer_incarnation(&self) -> u64 {
        self.peer_incarnation
    }

    /// A transport link to the peer opened. A connector starts its
    /// handshake (ending the epoch that was up, if any).
    pub fn link_up(&mut self, now: Instant) {
        if self.role == Role::Acceptor {
            return;
        }
        self.end_epoch(LinkDown::Replaced, now);
        self.nonce += 1;
        let nonce = self.nonce;
        let proposed = CacheEpoch(self.last_epoch.0 + 1);
        self.link = Link::Handshaking {
            nonce,
            proposed,
            since: now,
        };
        self.control.clear();
        self.control
            .push_back(Wire::Hello(self.hello(nonce, proposed)));
    }

    /// The transport link closed.
    pub fn link_down(&mut self, now: Instant) {
        self.end_epoch(LinkDown::Closed, now);
        self.link = Link::Down;
        self.control.clear();
    }

    /// A bridge message from the peer. An error means the peer broke the
    /// protocol: the epoch has ended, a REFUSE waits in
    /// [`Session::poll_transmit`], and the caller closes the link.
    pub fn handle(&mut self, wire: Wire, now: Instant) -> Result<(), ProtocolError> {
        let result = match wire {
            Wire::Hello(hello) => self.on_hello(hello, now),
            Wire::Welcome(welcome) => self.on_welcome(welcome, now),
            Wire::Chunk {
                epoch,
                seq,
                kind,
                payload,
            } => self.on_chunk(epoch, Chunk::new(epoch, kind, payload), seq, None),
            Wire::GroupChunk { .. } if !self.speaks_groups() => {
                Err(ProtocolError::GroupsNotAgreed {
                    version: self.version,
                })
            }
            Wire::GroupChunk {
                epoch,
                seq,
                kind,
                tag,
                payload,
            } => self.on_chunk(epoch, Chunk::new(tag.epoch, kind, payload), seq, Some(tag)),
            Wire::Ack { epoch, seq } => self.on_ack(epoch, seq),
            Wire::Refuse { code, text } => {
                self.end_epoch(LinkDown::Refused { code, text }, now);
                self.link = Link::Down;
                Ok(())
            }
        };
        if let Err(error) = &result {
            self.fail(error.clone(), now);
        }
        result
    }

    /// Ends the link for a protocol error seen by the caller (a message
    /// that did not decode): same as [`Session::handle`] failing.
    pub fn fail(&mut self, error: ProtocolError, now: Instant) {
        self.stats.protocol_errors += 1;
        self.end_epoch(LinkDown::Protocol(error.clone()), now);
        self.link = Link::Down;
        self.control.clear();
        self.control.push_back(Wire::Refuse {
            code: error.refuse_code(),
            text: error.to_string(),
        });
    }

    fn on_hello(&mut self, hello: Hello, now: Instant) -> Result<(), ProtocolError> {
        if self.role == Role::Connector {
            return Err(ProtocolError::HelloToConnector);
        }
        self.check_hello(&hello)?;
        if hello.incarnation == self.peer_incarnation && hello.nonce <= self.nonce {
            // A HELLO of an earlier attempt, read after a newer one (a dead
            // link's leftovers): answering it would end the epoch that its
            // sender's newer attempt agreed.
            self.stats.stale += 1;
            return Ok(());
        }
        self.end_epoch(LinkDown::Replaced, now);
        self.settle(&hello)?;
        let agreed = hello.epoch.max(CacheEpoch(self.last_epoch.0 + 1));
        if agreed > MAX_EPOCH {
            return Err(ProtocolError::EpochOutOfRange { epoch: agreed });
        }
        self.nonce = hello.nonce;
        self.go_up(agreed, &hello);
        let mut welcome = self.hello(hello.nonce, agreed);
        welcome.version = self.version;
        welcome.record = self.inc.record;
        self.control.push_back(Wire::Welcome(welcome));
        Ok(())
    }

    fn on_welcome(&mut self, welcome: Hello, _now: Instant) -> Result<(), ProtocolError> {
        if self.role == Role::Acceptor {
            return Err(ProtocolError::UnexpectedWelcome);
        }
        let Link::Handshaking {
            nonce, proposed, ..
        } = self.link
        else {
            if matches!(self.link, Link::Up { .. }) && welcome.nonce == self.nonce {
                // A second answer to the HELLO that brought this epoch up.
                return Err(ProtocolError::UnexpectedWelcome);
            }
            self.stats.stale += 1;
            return Ok(());
        };
        if welcome.nonce < nonce {
            // Answers a HELLO of an earlier link attempt: harmless.
            self.stats.stale += 1;
            return Ok(());
        }
        if welcome.nonce > nonce {
            return Err(ProtocolError::UnexpectedWelcome);
        }
        self.check_hello(&welcome)?;
        if welcome.version > PROTOCOL_VERSION {
            // The acceptor agrees our version or an older one, never more.
            return Err(ProtocolError::Version {
                theirs: welcome.version,
                ours: PROTOCOL_VERSION,
            });
        }
        if welcome.epoch < proposed {
            return Err(ProtocolError::EpochBelowProposal {
                proposed,
                agreed: welcome.epoch,
            });
        }
        self.settle(&welcome)?;
        self.go_up(welcome.epoch, &welcome);
        Ok(())
    }

    fn check_hello(&self, hello: &Hello) -> Result<(), ProtocolError> {
        if hello.version < OLDEST_PROTOCOL_VERSION {
            return Err(ProtocolError::Version {
                theirs: hello.version,
                ours: PROTOCOL_VERSION,
            });
        }
        if hello.node != self.node {
            return Err(ProtocolError::NodeName {
                claimed: hello.node.clone(),
                expected: self.node.clone(),
            });
        }
        if hello.epoch == CacheEpoch(0) || hello.epoch > MAX_EPOCH {
            return Err(ProtocolError::EpochOutOfRange { epoch: hello.epoch });
        }
        if hello.record.epoch > MAX_EPOCH {
            return Err(ProtocolError::EpochOutOfRange {
                epoch: hello.record.epoch,
            });
        }
        Ok(())
    }

    /// The peer's handshake tells what it delivered of our epoch in doubt.
    fn settle(&mut self, hello: &Hello) -> Result<(), ProtocolError> {
        let mut events = Vec::new();
        let result = self.out.settle(
            outgoing::Said {
                peer: self.id,
                peer_incarnation: hello.incarnation,
                our_incarnation: self.settings.incarnation,
                record: hello.record,
            },
            &mut events,
        );
        self.push_events(events);
        result
    }

    fn go_up(&mut self, epoch: CacheEpoch, hello: &Hello) {
        let restarted = self.peer_incarnation != 0 && self.peer_incarnation != hello.incarnation;
        if self.peer_incarnation != hello.incarnation {
            self.inc.forget_record();
        }
        self.peer_incarnation = hello.incarnation;
        self.version = hello.version.min(PROTOCOL_VERSION);
        self.last_epoch = epoch;
        self.link = Link::Up { epoch };
        let window = Window {
            chunks: u64::from(hello.window_chunks),
            bytes: hello.window_bytes,
        };
        self.out.start(epoch, window);
        self.inc.start(epoch);
        self.group_order.reset();
        self.stats.epochs += 1;
        let event = Event::PeerUp {
            peer: self.id,
            node: self.node.clone(),
            epoch,
            restarted,
        };
        self.push_events([event]);
    }

    /// A CHUNK, or a GCHUNK (`tag`) whose chunk carries its group epoch,
    /// travelling in `link_epoch`.
    fn on_chunk(
        &mut self,
        link_epoch: CacheEpoch,
        chunk: Chunk,
        seq: u64,
        tag: Option<GroupTag>,
    ) -> Result<(), ProtocolError> {
        let Link::Up { epoch } = self.link else {
            // A dead link's chunk, or one of an epoch we never agreed:
            // its sender learns from our record that it was not delivered.
            self.stats.stale += 1;
            return Ok(());
        };
        if link_epoch < epoch {
            self.stats.stale += 1;
            return Ok(());
        }
        if link_epoch > epoch {
            return Err(ProtocolError::FutureEpoch {
                kind: if tag.is_some() { "GCHUNK" } else { "CHUNK" },
                epoch: link_epoch,
                current: epoch,
            });
        }
        let len = chunk.len() as u64;
        self.inc.accept(seq, len, self.settings.window)?;
        if let Some(tag) = tag {
            self.group_order.accept(tag)?;
        }
        self.stats.chunks_in += 1;
        self.stats.bytes_in += len;
        let stamp = self.stamp();
        self.inbox.push_back((stamp, chunk, tag));
        Ok(())
    }

    fn on_ack(&mut self, ack_epoch: CacheEpoch, seq: u64) -> Result<(), ProtocolError> {
        let Link::Up { epoch } = self.link else {
            self.stats.stale += 1;
            return Ok(());
        };
        if ack_epoch < epoch {
            self.stats.stale += 1;
            return Ok(());
        }
        if ack_epoch > epoch {
            return Err(ProtocolError::FutureEpoch {
                kind: "ACK",
                epoch: ack_epoch,
                current: epoch,
            });
        }
        let mut events = Vec::new();
        let result = self
            .out
            .on_ack(seq, self.id, &self.settings.caps, &mut events);
        self.push_events(events);
        result
    }

    /// Ends the epoch that is up, if one is: unsent chunks back, sent ones
    /// in doubt, unread received ones dropped.
    fn end_epoch(&mut self, reason: LinkDown, now: Instant) {
        let Link::Up { epoch } = self.link else {
            return;
        };
        self.link = Link::Down;
        let mut events = Vec::new();
        self.out.end(
            self.id,
            self.peer_incarnation,
            now,
            &self.settings.caps,
            &mut events,
        );
        let dropped = self.inc.end();
        self.inbox.clear();
        self.stats.dropped_unread += dropped as u64;
        events.push(Event::PeerDown {
            peer: self.id,
            epoch,
            reason,
        });
        self.push_events(events);
    }

    /// Queues a chunk for the peer; its sequence number in the epoch.
    /// Refused (and handed back) when no epoch is up, the chunk is for
    /// another epoch, or the hard cap is reached.
    pub fn write(&mut self, chunk: Chunk) -> Result<u64, (WriteRefused, Chunk)> {
        if !matches!(self.link, Link::Up { .. }) {
            return Err((WriteRefused::PeerDown, chunk));
        }
        self.write_tagged(chunk, None)
    }

    /// Queues a group chunk for this member: `chunk.epoch` is the group
    /// epoch (the link epoch is not checked against it); its sequence in
    /// the link epoch. Refused (and handed back) when no epoch is up or
    /// the hard cap is reached.
    pub fn write_group(
        &mut self,
        chunk: Chunk,
        tag: GroupTag,
    ) -> Result<u64, (WriteRefused, Chunk)> {
        if !matches!(self.link, Link::Up { .. }) {
            return Err((WriteRefused::PeerDown, chunk));
        }
        if !self.speaks_groups() {
            let refused = WriteRefused::NoGroups {
                version: self.version,
            };
            return Err((refused, chunk));
        }
        self.write_tagged(chunk, Some(tag))
    }

    /// Whether the link's agreed protocol version carries group chunks
    /// (a peer of an older version takes part in no group).
    pub fn speaks_groups(&self) -> bool {
        self.version >= GROUPS_VERSION
    }

    fn write_tagged(
        &mut self,
        chunk: Chunk,
        tag: Option<GroupTag>,
    ) -> Result<u64, (WriteRefused, Chunk)> {
        match self.out.write(chunk, tag, &self.settings.caps) {
            Ok((seq, crossed)) => {
                if crossed {
                    self.push_events([Event::FillingUp { peer: self.id }]);
                }
                Ok(seq)
            }
            Err((refused, chunk)) => {
                if matches!(refused, WriteRefused::Full { .. }) {
                    self.stats.refused_writes += 1;
                }
                Err((refused, chunk))
            }
        }
    }

    /// Takes back the chunks written and not yet sent: their first
    /// sequence (the next writes reuse those numbers) and the chunks.
    pub fn clear(&mut self) -> (u64, Vec<Chunk>) {
        let (first, cleared, drained) = self.out.clear(&self.settings.caps);
        if drained {
            self.push_events([Event::Drained { peer: self.id }]);
        }
        (first, cleared)
    }

    /// The application takes the next received chunk: from now on it
    /// counts as delivered.
    /// A group chunk comes as any other (its `epoch` is then its group
    /// epoch); [`Session::take_tagged`] tells them apart.
    pub fn take(&mut self) -> Option<Chunk> {
        self.take_tagged().map(|(chunk, _)| chunk)
    }

    /// As [`Session::take`], with the group tag of a group chunk.
    pub fn take_tagged(&mut self) -> Option<(Chunk, Option<GroupTag>)> {
        let (_, chunk, tag) = self.inbox.pop_front()?;
        self.inc.took(chunk.len() as u64, self.peer_incarnation);
        self.stats.read_calls += 1;
        Some((chunk, tag))
    }

    /// The next outcome of a group chunk written to this peer, for its
    /// group ([`Group::on_outcome`](crate::group::Group::on_outcome)).
    pub fn poll_group_outcome(&mut self) -> Option<GroupOutcome> {
        self.out.group_outcomes.pop_front()
    }

    /// Whether a received chunk waits.
    pub fn can_take(&self) -> bool {
        !self.inbox.is_empty()
    }

    /// The next event, chunks included (taking a chunk this way counts it
    /// delivered, as [`Session::take`] does).
    pub fn poll_event(&mut self) -> Option<Event> {
        let chunk_first = match (self.inbox.front(), self.events.front()) {
            (Some((c, _, _)), Some((e, _))) => c < e,
            (Some(_), None) => true,
            _ => false,
        };
        if chunk_first {
            let (chunk, tag) = self.take_tagged()?;
            return Some(match tag {
                None => Event::Chunk {
                    peer: self.id,
                    chunk,
                },
                Some(tag) => Event::GroupChunk {
                    peer: self.id,
                    group: tag.group,
                    epoch: tag.epoch,
                    seq: tag.seq,
                    chunk,
                },
            });
        }
        self.events.pop_front().map(|(_, e)| e)
    }

    /// Events and chunks waiting for the application.
    pub fn backlog(&self) -> usize {
        self.events.len() + self.inbox.len()
    }

    /// Events other than chunks waiting for the application (the chunks
    /// are bounded by our window; these by how often links change).
    pub fn unread_events(&self) -> usize {
        self.events.len()
    }

    /// The next message to put on the link, if any: the handshake first,
    /// then a due ACK, then the next chunk the peer's window admits.
    pub fn poll_transmit(&mut self) -> Option<Wire> {
        if let Some(wire) = self.control.pop_front() {
            return Some(wire);
        }
        if !matches!(self.link, Link::Up { .. }) {
            return None;
        }
        if let Some(ack) = self.inc.ack_due(self.settings.ack_every) {
            self.stats.write_calls += 1;
            return Some(ack);
        }
        let epoch = self.out.epoch;
        let (seq, queued) = self.out.next_to_send()?;
        let chunk = &queued.chunk;
        let wire = match queued.tag {
            None => Wire::Chunk {
                epoch,
                seq,
                kind: chunk.kind,
                payload: chunk.data.clone(),
            },
            Some(tag) => Wire::GroupChunk {
                epoch,
                seq,
                kind: chunk.kind,
                tag,
                payload: chunk.data.clone(),
            },
        };
        self.stats.chunks_out += 1;
        self.stats.bytes_out += chunk.len() as u64;
        self.stats.write_calls += 1;
        Some(wire)
    }

    /// When [`Session::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let handshake = match self.link {
            Link::Handshaking { since, .. } => Some(since + self.settings.handshake_timeout),
            _ => None,
        };
        let doubt = self
            .out
            .in_doubt
            .as_ref()
            .map(|d| d.since + self.settings.in_doubt_timeout);
        handshake.into_iter().chain(doubt).min()
    }

    /// Runs what is due at `now`. An error means the handshake timed out:
    /// the caller closes the link (a new one starts a new handshake).
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ProtocolError> {
        let doubt_due = self
            .out
            .in_doubt
            .as_ref()
            .is_some_and(|d| now >= d.since + self.settings.in_doubt_timeout);
        if doubt_due {
            let mut events = Vec::new();
            self.out.expire(self.id, &mut events);
            self.push_events(events);
        }
        if let Link::Handshaking { since, .. } = self.link
            && now >= since + self.settings.handshake_timeout
        {
            self.link = Link::Down;
            self.control.clear();
            return Err(ProtocolError::HandshakeTimeout);
        }
        Ok(())
    }

    /// The manager is shutting down: the epoch ends and every chunk still
    /// ours comes back with [`HandBack::Shutdown`].
    pub fn shut_down(&mut self, now: Instant) {
        self.end_epoch(LinkDown::Shutdown, now);
        let mut events = Vec::new();
        self.out.surrender(self.id, &mut events);
        self.push_events(events);
    }

    /// Chunks written and not yet confirmed in the current epoch.
    pub fn pending(&self) -> usize {
        self.out.pending()
    }

    /// Chunks of an ended epoch still waiting for an outcome.
    pub fn in_doubt(&self) -> usize {
        self.out.in_doubt_len()
    }

    /// Whether written chunks wait to go on the wire.
    pub fn has_unsent(&self) -> bool {
        self.out.has_unsent()
    }

    /// Whether the peer is past its soft cap.
    pub fn is_filling_up(&self) -> bool {
        self.out.is_filling_up()
    }

    /// Whether nothing is pending, in doubt or waiting in either direction.
    pub fn is_idle(&self) -> bool {
        self.pending() == 0 && self.in_doubt() == 0 && self.inbox.is_empty()
    }

    /// Down, with no outcome owed and nothing unread: a session the
    /// manager may forget.
    pub fn is_settled(&self) -> bool {
        self.link == Link::Down
            && self.is_idle()
            && self.events.is_empty()
            && self.out.group_outcomes.is_empty()
    }

    /// The counters.
    pub fn stats(&self) -> PeerStats {
        let mut stats = self.stats;
        stats.pending = self.pending() as u64;
        stats.pending_bytes = self.out.pending_bytes();
        stats.in_doubt = self.in_doubt() as u64;
        stats
    }

    fn hello(&self, nonce: u64, epoch: CacheEpoch) -> Hello {
        let s = &self.settings;
        Hello {
            version: PROTOCOL_VERSION,
            capabilities: s.capabilities,
            cache_size: s.cache_size,
            window_chunks: u32::try_from(s.window.chunks).unwrap_or(u32::MAX),
            window_bytes: s.window.bytes,
            incarnation: s.incarnation,
            nonce,
            epoch,
            record: self.inc.record,
            node: s.node.clone(),
        }
    }

    fn stamp(&mut self) -> u64 {
        self.next_stamp += 1;
        self.next_stamp
    }

    /// Queues events; a `Delivered` extends one of the same epoch still
    /// waiting at the back, so unread confirmations take constant room.
    fn push_events(&mut self, events: impl IntoIterator<Item = Event>) {
        for event in events {
            if let (
                Event::Delivered { epoch, through, .. },
                Some((
                    _,
                    Event::Delivered {
                        epoch: e,
                        through: t,
                        ..
                    },
                )),
            ) = (&event, self.events.back_mut())
                && e == epoch
            {
                *t = *through;
                continue;
            }
            let stamp = self.stamp();
            self.events.push_back((stamp, event));
        }
    }
}

#[cfg(test)]
mod tests;
