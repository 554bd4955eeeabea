//! One cluster node of the demo: a thread that owns a `PeerManager` and
//! plays its role the way a network monitor's main loop would.
//!
//! - It takes the bridge's events in order: `PeerUp` starts a stream with a
//!   fresh epoch; `Chunk`s are checked and booked; `PeerDown` books what
//!   was handed back and queues those items to be serialized again in the
//!   next epoch; `FillingUp`/`Drained` are printed.
//! - It writes at its configured rate per peer, generating items only while
//!   the peer is not filling up (back-pressure reaches the producer), and
//!   re-serializing handed-back items first.
//! - The logger stalls now and then, as a node with a slow disk would, so
//!   the workers' queues to it fill up while the other links flow.
//!
//! The main thread steers it through [`Control`] and reads its
//! [`Snapshot`]s for the periodic report.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serializer_bridge::{CacheEpoch, Chunk, Event, MessageType, PeerId, PeerManager, WriteRefused};

use super::ledger::{NodeLedger, Received, Sent, label};
use super::log::Log;
use super::payload::Payload;

/// What a node is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Receives SERIAL from workers and broadcasts SERIAL back to each.
    Manager,
    /// Receives SERIAL from workers.
    Proxy,
    /// Receives LOG_WRITE from workers; stalls now and then.
    Logger,
    /// Writes to manager, proxy and logger.
    Worker,
}

/// How a node is set up.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Its node name.
    pub name: String,
    /// Which run of that node this is (1, then 2 after a restart).
    pub incarnation: u16,
    /// Its role.
    pub role: Role,
    /// Peers that must be up before the node counts as settled.
    pub expected: Vec<String>,
    /// Bytes per chunk.
    pub chunk_size: usize,
    /// Worker: chunks per second to each server.
    pub rate: f64,
    /// Manager: chunks per second to each worker.
    pub broadcast_rate: f64,
    /// Logger: (period, stall) — stops reading for `stall` every `period`.
    pub stall: Option<(Duration, Duration)>,
}

/// Steering from the main thread.
#[derive(Debug, Default)]
pub struct Control {
    /// Leave the loop (drop the bridge) now.
    pub stop: AtomicBool,
    /// Stop generating new items; finish what is owed.
    pub draining: AtomicBool,
    /// Do nothing at all (a hung process): read nothing, write nothing.
    pub frozen: AtomicBool,
    /// The latest state, for reports.
    pub snapshot: Mutex<Snapshot>,
}

/// A node's state as the report shows it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// One entry per known peer.
    pub peers: Vec<PeerSnapshot>,
    /// Draining, every expected peer up, nothing owed or pending.
    pub settled: bool,
}

/// One peer in a [`Snapshot`].
#[derive(Debug, Clone, Default)]
pub struct PeerSnapshot {
    /// Its name.
    pub name: String,
    /// The current epoch, if the link is up.
    pub epoch: Option<u64>,
    /// Chunks written to it so far (all epochs).
    pub written: u64,
    /// Chunks read from it so far (all epochs).
    pub read: u64,
    /// Chunks queued or unacknowledged now.
    pub pending: u64,
    /// Past the soft cap.
    pub filling: bool,
}

/// What a node sends to one kind of peer.
#[derive(Debug, Clone, Copy)]
struct Plan {
    kind: MessageType,
    rate: f64,
}

/// A node's view of one peer.
struct Link {
    name: String,
    epoch: Option<CacheEpoch>,
    plan: Option<Plan>,
    /// Next sequence number in the current epoch.
    seq: u64,
    tokens: f64,
    next_item: u64,
    /// Items to write before new ones: (item, handed back earlier).
    backlog: VecDeque<(u64, bool)>,
    filling_since: Option<Instant>,
    written: u64,
    read: u64,
}

struct Node {
    spec: NodeSpec,
    bridge: PeerManager,
    log: Log,
    links: HashMap<PeerId, Link>,
    sent: HashMap<(PeerId, u64), Sent>,
    received: HashMap<(u16, PeerId, u64), Received>,
    ledger: NodeLedger,
    /// Peers that came up before all expected ones had: printed as one line.
    first_ups: Vec<String>,
    all_up_once: bool,
    started: Instant,
    was_stalled: bool,
}

/// Runs a node until told to stop; hands back its books and its bridge
/// (dropping it is the caller's: at once for a killed node, after every
/// node has stopped at the end of the run).
pub fn run(
    spec: NodeSpec,
    bridge: PeerManager,
    control: Arc<Control>,
    log: Log,
) -> (NodeLedger, PeerManager) {
    let mut node = Node {
        ledger: NodeLedger {
            label: label(&spec.name, spec.incarnation),
            ..NodeLedger::default()
        },
        spec,
        bridge,
        log,
        links: HashMap::new(),
        sent: HashMap::new(),
        received: HashMap::new(),
        first_ups: Vec::new(),
        all_up_once: false,
        started: Instant::now(),
        was_stalled: false,
    };
    let mut last = Instant::now();
    let mut last_snapshot = Instant::now() - Duration::from_secs(1);
    while !control.stop.load(Ordering::Acquire) {
        if control.frozen.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let now = Instant::now();
        let draining = control.draining.load(Ordering::Acquire);
        let stalled = !draining && node.stalled(now);
        let mut busy = false;
        if !stalled {
            for _ in 0..4096 {
                let Some(event) = node.bridge.poll_event() else {
                    break;
                };
                node.handle(event);
                busy = true;
            }
        }
        let dt = now.duration_since(last).as_secs_f64();
        last = now;
        let ids: Vec<PeerId> = node.links.keys().copied().collect();
        for id in ids {
            busy |= node.write_some(id, dt, draining);
        }
        if now.duration_since(last_snapshot) >= Duration::from_millis(100) {
            last_snapshot = now;
            let snapshot = node.snapshot(draining && !stalled);
            *control.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = snapshot;
        }
        if !busy {
            if stalled {
                std::thread::sleep(Duration::from_millis(5));
            } else if let Some(event) = node.bridge.wait_event(Duration::from_millis(2)) {
                node.handle(event);
            }
        }
    }
    node.finish()
}

impl Node {
    fn name(&self) -> &str {
        &self.spec.name
    }

    /// The logger's slow-disk schedule; prints when a stall begins.
    fn stalled(&mut self, now: Instant) -> bool {
        let Some((period, stall)) = self.spec.stall else {
            return false;
        };
        let t = now.duration_since(self.started).as_secs_f64();
        let period_s = period.as_secs_f64();
        let stalled = period_s > 0.0 && t % period_s >= period_s - stall.as_secs_f64();
        if stalled && !self.was_stalled {
            self.log.line(&format!(
                "{}: stops reading for {:.1} s (a slow disk)",
                self.name(),
                stall.as_secs_f64()
            ));
        }
        self.was_stalled = stalled;
        stalled
    }

    fn plan_for(&self, peer: &str) -> Option<Plan> {
        match self.spec.role {
            Role::Worker => Some(Plan {
                kind: if peer == "logger" {
                    MessageType::LogWrite
                } else {
                    MessageType::Serial
                },
                rate: self.spec.rate,
            }),
            Role::Manager => Some(Plan {
                kind: MessageType::Serial,
                rate: self.spec.broadcast_rate,
            }),
            Role::Proxy | Role::Logger => None,
        }
        .filter(|plan| plan.rate > 0.0)
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::PeerUp { peer, node, epoch } => self.peer_up(peer, node, epoch),
            Event::PeerDown {
                peer,
                epoch,
                reason,
                unsent,
                unconfirmed,
            } => self.peer_down(peer, epoch, &reason, &unsent, &unconfirmed),
            Event::Chunk { peer, chunk } => self.chunk(peer, &chunk),
            Event::FillingUp { peer } => {
                let pending = self.bridge.stats(peer).map_or(0, |s| s.pending);
                if let Some(link) = self.links.get_mut(&peer) {
                    link.filling_since = Some(Instant::now());
                    let line = format!(
                        "{} -> {}: FillingUp ({pending} chunks pending), holding back",
                        self.spec.name, link.name
                    );
                    self.log.line(&line);
                }
            }
            Event::Drained { peer } => {
                if let Some(link) = self.links.get_mut(&peer) {
                    let after = link
                        .filling_since
                        .take()
                        .map(|t| format!(" after {:.1} s", t.elapsed().as_secs_f64()))
                        .unwrap_or_default();
                    let line = format!(
                        "{} -> {}: Drained{after}, writing again",
                        self.spec.name, link.name
                    );
                    self.log.line(&line);
                }
            }
            Event::Refused { node, reason } => {
                self.log.line(&format!(
                    "{}: refused a link from {node}: {reason}",
                    self.name()
                ));
            }
        }
    }

    fn peer_up(&mut self, peer: PeerId, name: String, epoch: CacheEpoch) {
        let plan = self.plan_for(&name);
        let link = self.links.entry(peer).or_insert_with(|| Link {
            name: name.clone(),
            epoch: None,
            plan,
            seq: 0,
            tokens: 0.0,
            next_item: 0,
            backlog: VecDeque::new(),
            filling_since: None,
            written: 0,
            read: 0,
        });
        link.epoch = Some(epoch);
        link.seq = 0;
        let again = link.backlog.iter().filter(|(_, back)| *back).count();
        if self.all_up_once {
            let mut line = format!("{}: {name} up, {epoch}", self.spec.name);
            if again > 0 {
                line += &format!(", re-serializing {again} handed-back chunks");
            }
            self.log.line(&line);
        } else {
            self.first_ups.push(format!("{name} ({epoch})"));
            let all = self.spec.expected.iter().all(|want| {
                self.links
                    .values()
                    .any(|l| &l.name == want && l.epoch.is_some())
            });
            if all {
                self.all_up_once = true;
                let line = format!(
                    "{}: links up: {}",
                    self.spec.name,
                    self.first_ups.join(", ")
                );
                self.log.line(&line);
            }
        }
    }

    fn peer_down(
        &mut self,
        peer: PeerId,
        epoch: CacheEpoch,
        reason: &str,
        unsent: &[Chunk],
        unconfirmed: &[Chunk],
    ) {
        let sent = self.sent.entry((peer, epoch.0)).or_default();
        sent.ended = true;
        let mut items = Vec::new();
        let mut bad = 0;
        for (chunks, list) in [
            (unconfirmed, &mut sent.unconfirmed),
            (unsent, &mut sent.unsent),
        ] {
            for chunk in chunks {
                match Payload::decode(&chunk.data) {
                    Some(p) if p.epoch == epoch.0 => {
                        list.push(p.seq);
                        items.push(p.item);
                    }
                    _ => bad += 1,
                }
            }
        }
        if bad > 0 {
            self.ledger.violation(format!(
                "{bad} chunks handed back for {epoch} were not of that epoch"
            ));
        }
        let Some(link) = self.links.get_mut(&peer) else {
            return;
        };
        link.epoch = None;
        link.seq = 0;
        // Oldest first, ahead of anything already waiting.
        for &item in items.iter().rev() {
            link.backlog.push_front((item, true));
        }
        let mut line = format!("{}: {} down ({epoch}: {reason})", self.spec.name, link.name);
        if !items.is_empty() {
            line += &format!(
                "; {} unsent + {} unconfirmed chunks handed back, to re-serialize in the next epoch",
                unsent.len(),
                unconfirmed.len()
            );
        }
        self.log.line(&line);
    }

    fn chunk(&mut self, peer: PeerId, chunk: &Chunk) {
        let Some(link) = self.links.get_mut(&peer) else {
            self.ledger
                .violation(format!("a chunk from {peer:?} before its PeerUp"));
            return;
        };
        link.read += 1;
        let Some(p) = Payload::decode(&chunk.data) else {
            let what = format!("a chunk from {} that is not the demo's", link.name);
            self.ledger.violation(what);
            return;
        };
        let mut problems = Vec::new();
        if p.epoch != chunk.epoch.0 {
            problems.push(format!(
                "serialized for epoch {} but delivered as {}",
                p.epoch, chunk.epoch
            ));
        }
        if link.epoch != Some(chunk.epoch) {
            problems.push(format!(
                "{} delivered while the link is in {:?}",
                chunk.epoch, link.epoch
            ));
        }
        if p.kind != chunk.kind.code() {
            problems.push(format!("type {:#04x} arrived as {}", p.kind, chunk.kind));
        }
        let from = link.name.clone();
        for problem in problems {
            self.ledger
                .violation(format!("chunk {} from {from}: {problem}", p.seq));
        }
        self.received
            .entry((p.incarnation, peer, chunk.epoch.0))
            .or_default()
            .record(p.seq);
    }

    /// Writes what the rate and the peer's queue allow; true if it wrote.
    fn write_some(&mut self, peer: PeerId, dt: f64, draining: bool) -> bool {
        let Some(link) = self.links.get_mut(&peer) else {
            return false;
        };
        let Some(plan) = link.plan else {
            return false;
        };
        // Generation is paced; a quarter second of it can pile up while the
        // peer is down or filling, no more (the producer is held back).
        link.tokens = if draining {
            0.0
        } else {
            (link.tokens + plan.rate * dt).min(plan.rate / 4.0 + 1.0)
        };
        let Some(epoch) = link.epoch else {
            return false;
        };
        if self.bridge.is_filling_up(peer) {
            return false;
        }
        let mut wrote = 0;
        while wrote < 512 {
            let (item, again) = match link.backlog.front() {
                Some(&(item, again)) => (item, again),
                None if link.tokens >= 1.0 => (link.next_item, false),
                None => break,
            };
            let payload = Payload {
                incarnation: self.spec.incarnation,
                kind: plan.kind.code(),
                epoch: epoch.0,
                seq: link.seq,
                item,
            };
            let chunk = Chunk::new(epoch, plan.kind, payload.encode(self.spec.chunk_size));
            match self.bridge.write(peer, chunk) {
                Ok(()) => {
                    if link.backlog.pop_front().is_none() {
                        link.tokens -= 1.0;
                        link.next_item += 1;
                    }
                    let sent = self.sent.entry((peer, epoch.0)).or_default();
                    link.seq += 1;
                    sent.written = link.seq;
                    if again {
                        sent.reserialized += 1;
                    }
                    link.written += 1;
                    wrote += 1;
                }
                // Full: FillingUp has been (or is being) reported; wait for
                // Drained. Down or a newer epoch: the events will tell.
                Err((
                    WriteRefused::Full { .. }
                    | WriteRefused::PeerDown
                    | WriteRefused::StaleEpoch { .. }
                    | WriteRefused::UnknownPeer
                    | WriteRefused::Closed,
                    _,
                )) => break,
            }
        }
        wrote > 0
    }

    fn snapshot(&self, may_settle: bool) -> Snapshot {
        let mut peers: Vec<PeerSnapshot> = self
            .links
            .iter()
            .map(|(&id, link)| {
                let stats = self.bridge.stats(id).unwrap_or_default();
                PeerSnapshot {
                    name: link.name.clone(),
                    epoch: link.epoch.map(|e| e.0),
                    written: link.written,
                    read: link.read,
                    pending: stats.pending,
                    filling: self.bridge.is_filling_up(id),
                }
            })
            .collect();
        peers.sort_by(|a, b| a.name.cmp(&b.name));
        let all_up = self.spec.expected.iter().all(|want| {
            self.links
                .values()
                .any(|l| &l.name == want && l.epoch.is_some())
        });
        let quiet = self.links.iter().all(|(&id, link)| {
            link.backlog.is_empty() && (link.epoch.is_none() || !self.bridge.can_write(id))
        });
        Snapshot {
            peers,
            settled: may_settle && all_up && quiet,
        }
    }

    /// Closes the books.
    fn finish(self) -> (NodeLedger, PeerManager) {
        let Node {
            bridge,
            links,
            sent,
            received,
            mut ledger,
            ..
        } = self;
        let name_of = |id: &PeerId| {
            links
                .get(id)
                .map_or_else(|| format!("{id:?}"), |l| l.name.clone())
        };
        for ((peer, epoch), s) in sent {
            ledger.sent.insert((name_of(&peer), epoch), s);
        }
        for ((incarnation, peer, epoch), r) in received {
            ledger
                .received
                .insert((label(&name_of(&peer), incarnation), epoch), r);
        }
        ledger.backlog_left = links.values().map(|l| l.backlog.len() as u64).sum();
        (ledger, bridge)
    }
}
