//! One cluster node of the demo: a thread that owns a `PeerManager` and
//! plays its role the way a network monitor's main loop would.
//!
//! - It takes the bridge's events in order: `PeerUp` starts a stream with a
//!   fresh epoch; `Chunk`s are checked and booked; `Delivered`,
//!   `HandedBack` and `DeliveredAfterHandBack` are booked as the outcomes
//!   of the chunks they name, and handed-back items are queued to be
//!   serialized again in the next epoch; `PeerDown`, `HandedBack`,
//!   `FillingUp` and `Drained` are printed.
//! - It writes at its configured rate per peer, generating items only while
//!   the peer is not filling up (back-pressure reaches the producer), and
//!   re-serializing handed-back items first.
//! - The logger stalls now and then, as a node with a slow disk would, so
//!   the workers' queues to it fill up while the other links flow.
//! - When the link to its `--partition` partner (a peer that never dies)
//!   drops and comes back, it prints how the chunks that were in doubt
//!   were settled, checks that everything of the dropped epoch was settled
//!   by the peer's record, none as `PeerRestarted`, and counts the heal in
//!   its books.
//!
//! The main thread steers it through [`Control`] and reads its
//! [`Snapshot`]s for the periodic report. When the loop ends it hands back
//! a [`Stopped`] node: killed, its bridge is dropped unread; stopped, its
//! bridge is shut down and the outcomes `shutdown` returns are booked.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serializer_bridge::{
    CacheEpoch, Chunk, Event, HandBack, LinkDown, MessageType, PeerId, PeerManager, WriteRefused,
};

use super::group::{GROUP, GroupIn, GroupOut};
use super::ledger::{Back, NodeLedger, REASONS, Received, Sent, label, reason_index, reason_name};
use super::log::Log;
use super::payload::Payload;

/// What a node is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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
    /// The peer across the `--partition` relay, if any.
    pub partner: Option<String>,
    /// Manager: broadcast to the workers as one group (`--groups`).
    pub groups: bool,
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
    /// Draining, every expected peer up, nothing to write again, and every
    /// peer idle (nothing pending, in doubt or unread either way).
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
    /// The peer's label: its name and which run of it this is.
    label: String,
    epoch: Option<CacheEpoch>,
    plan: Option<Plan>,
    /// The sequence of the last chunk written in the current epoch.
    seq: u64,
    tokens: f64,
    next_item: u64,
    /// Items to write before new ones: (item, handed back earlier).
    backlog: VecDeque<(u64, bool)>,
    filling_since: Option<Instant>,
    written: u64,
    read: u64,
}

/// A node's books and views; the bridge is passed in where it is needed,
/// so that shutting it down (which consumes it) can still book its last
/// events here.
struct Node {
    spec: NodeSpec,
    log: Log,
    links: HashMap<PeerId, Link>,
    /// Per peer name: which run of that peer we talk to (from 1) and the
    /// latest epoch agreed with it.
    runs: HashMap<String, (u16, CacheEpoch)>,
    /// Streams written, by (peer, epoch), with the receiver's label.
    sent: HashMap<(PeerId, u64), (String, Sent)>,
    received: HashMap<(u16, PeerId, u64), Received>,
    ledger: NodeLedger,
    /// Peers that came up before all expected ones had: printed as one line.
    first_ups: Vec<String>,
    all_up_once: bool,
    /// The books of the stream to the partition partner whose link
    /// dropped, as they stood then, until the partner is up again.
    dropped: Option<DropMark>,
    /// The bridge is shutting down: what comes back is not written again.
    closing: bool,
    started: Instant,
    was_stalled: bool,
    /// `--groups`: the manager's group books.
    group_out: GroupOut,
    /// `--groups`: a worker's books of the group chunks it takes.
    group_in: GroupIn,
}

/// Chunks handed back so far, per reason (in [`REASONS`] order).
fn back_by_reason(sent: &Sent) -> [u64; 5] {
    let mut back = [0; 5];
    for b in &sent.back {
        back[reason_index(b.reason)] += b.count;
    }
    back
}

/// A stream's outcomes when its link dropped.
#[derive(Debug, Clone, Copy)]
struct DropMark {
    peer: PeerId,
    epoch: CacheEpoch,
    delivered: u64,
    back: [u64; 5],
}

/// A node whose loop has ended, with its bridge still running.
pub struct Stopped {
    node: Node,
    bridge: PeerManager,
}

impl Stopped {
    /// Chunks queued or unacknowledged, over all peers.
    pub fn pending(&self) -> u64 {
        let bridge = &self.bridge;
        bridge
            .peers()
            .into_iter()
            .filter_map(|(id, _)| bridge.stats(id))
            .map(|s| s.pending)
            .sum()
    }

    /// A node about to be killed from outside (a SIGKILL of its process):
    /// its books now, marked killed, and its bridge, which the caller
    /// keeps running, unread, until the process dies.
    pub fn abandon(self) -> (NodeLedger, PeerManager) {
        let mut ledger = self.node.finish();
        ledger.killed = true;
        (ledger, self.bridge)
    }

    /// A killed node: its bridge is dropped with whatever it still holds,
    /// without a goodbye and without taking another event. Returns its
    /// books.
    pub fn kill(self) -> NodeLedger {
        drop(self.bridge);
        let mut ledger = self.node.finish();
        ledger.killed = true;
        ledger
    }

    /// A node stopped at the end: shuts its bridge down, books the events
    /// `shutdown` returns (the last outcomes, `HandedBack(Shutdown)` for
    /// anything still owed), and returns its books.
    pub fn shut_down(self) -> NodeLedger {
        let Stopped { mut node, bridge } = self;
        node.closing = true;
        for event in bridge.shutdown() {
            node.handle(event, None);
        }
        node.finish()
    }
}

/// Runs a node until told to stop; hands back the stopped node with its
/// bridge still running (dropping or shutting it down is the caller's).
pub fn run(spec: NodeSpec, bridge: PeerManager, control: Arc<Control>, log: Log) -> Stopped {
    let mut node = Node {
        ledger: NodeLedger {
            label: label(&spec.name, spec.incarnation),
            ..NodeLedger::default()
        },
        spec,
        log,
        links: HashMap::new(),
        runs: HashMap::new(),
        sent: HashMap::new(),
        received: HashMap::new(),
        first_ups: Vec::new(),
        all_up_once: false,
        dropped: None,
        closing: false,
        started: Instant::now(),
        was_stalled: false,
        group_out: GroupOut::default(),
        group_in: GroupIn::default(),
    };
    if node.spec.groups && node.spec.role == Role::Manager {
        let workers: Vec<&str> = node.spec.expected.iter().map(String::as_str).collect();
        node.group_out.id = Some(bridge.join_group(GROUP, &workers));
    }
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
                let Some(event) = bridge.poll_event() else {
                    break;
                };
                node.handle(event, Some(&bridge));
                busy = true;
            }
        }
        let dt = now.duration_since(last).as_secs_f64();
        last = now;
        let ids: Vec<PeerId> = node.links.keys().copied().collect();
        for id in ids {
            busy |= node.write_some(&bridge, id, dt, draining);
        }
        busy |= node.write_group_some(&bridge, dt, draining);
        if now.duration_since(last_snapshot) >= Duration::from_millis(100) {
            last_snapshot = now;
            let snapshot = node.snapshot(&bridge, draining && !stalled);
            *control.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = snapshot;
        }
        if !busy {
            if stalled {
                std::thread::sleep(Duration::from_millis(5));
            } else if let Some(event) = bridge.wait_event(Duration::from_millis(2)) {
                node.handle(event, Some(&bridge));
            }
        }
    }
    Stopped { node, bridge }
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
            // With --groups the manager writes to its group instead.
            Role::Manager if self.spec.groups => None,
            Role::Manager => Some(Plan {
                kind: MessageType::Serial,
                rate: self.spec.broadcast_rate,
            }),
            Role::Proxy | Role::Logger => None,
        }
        .filter(|plan| plan.rate > 0.0)
    }

    /// The name of `peer` for the log.
    fn peer_name(&self, peer: PeerId) -> String {
        self.links
            .get(&peer)
            .map_or_else(|| format!("{peer:?}"), |l| l.name.clone())
    }

    /// Takes one event. `bridge` is `None` for the events `shutdown`
    /// returned.
    fn handle(&mut self, event: Event, bridge: Option<&PeerManager>) {
        match event {
            Event::PeerUp {
                peer,
                node,
                epoch,
                restarted,
            } => self.peer_up(peer, node, epoch, restarted),
            Event::PeerDown {
                peer,
                epoch,
                reason,
            } => self.peer_down(peer, epoch, &reason),
            Event::Delivered {
                peer,
                epoch,
                through,
            } => self.delivered(peer, epoch, through),
            Event::HandedBack {
                peer,
                epoch,
                reason,
                first_seq,
                chunks,
            } => self.handed_back(peer, epoch, reason, first_seq, &chunks),
            Event::DeliveredAfterHandBack {
                peer,
                epoch,
                first_seq,
                through,
            } => self.delivered_after_hand_back(peer, epoch, first_seq, through),
            Event::Chunk { peer, chunk } => self.chunk(peer, &chunk),
            Event::FillingUp { peer } => {
                let pending = bridge.and_then(|b| b.stats(peer)).map_or(0, |s| s.pending);
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
                    if !self.closing {
                        let line = format!(
                            "{} -> {}: Drained{after}, writing again",
                            self.spec.name, link.name
                        );
                        self.log.line(&line);
                    }
                }
            }
            Event::GroupChunk {
                peer,
                group,
                epoch,
                seq,
                chunk,
            } => {
                if let Some(problem) = self.group_in.take(peer, group, epoch, seq, &chunk) {
                    self.ledger.violation(problem);
                }
            }
            Event::GroupEpoch {
                epoch,
                members,
                left,
                ..
            } => {
                self.group_out.new_epoch(epoch);
                let names: Vec<String> = members.iter().map(|p| self.peer_name(*p)).collect();
                let gone: Vec<String> = left
                    .iter()
                    .map(|(p, why)| format!("{} ({why})", self.peer_name(*p)))
                    .collect();
                let mut line = format!(
                    "{}: group {GROUP} now in {epoch} with {} member(s) [{}]",
                    self.spec.name,
                    names.len(),
                    names.join(", ")
                );
                if !gone.is_empty() {
                    line += &format!(", left: {}", gone.join(", "));
                }
                self.log.line(&line);
            }
            Event::GroupDelivered {
                first_seq, through, ..
            } => self.group_out.delivered += through + 1 - first_seq,
            Event::GroupHandedBack { chunks, .. } => {
                // State is broadcast again anyway; the next epoch's chunks
                // carry it, so these are not re-serialized.
                self.group_out.handed_back += chunks.len() as u64;
            }
            Event::Refused { node, error, count } => {
                self.log.line(&format!(
                    "{}: refused {count} link(s) from {node}: {error}",
                    self.name()
                ));
            }
        }
    }

    fn peer_up(&mut self, peer: PeerId, name: String, epoch: CacheEpoch, restarted: bool) {
        // A new run of the peer: the bridge says so, or (if it had
        // forgotten the peer) the epochs start again.
        let run = match self.runs.get(&name) {
            Some(&(run, last)) if restarted || epoch <= last => run + 1,
            Some(&(run, _)) => run,
            None => 1,
        };
        self.runs.insert(name.clone(), (run, epoch));
        let plan = self.plan_for(&name);
        // An accepting bridge forgets a peer that is down with nothing
        // owed, and knows it under a new id when it comes back: what the
        // old link still had to write again moves to the new one.
        let (mut backlog, mut next_item) = (VecDeque::new(), 0);
        if !self.links.contains_key(&peer) {
            for old in self.links.values_mut().filter(|l| l.name == name) {
                backlog.extend(old.backlog.drain(..));
                next_item = next_item.max(old.next_item);
            }
        }
        let link = self.links.entry(peer).or_insert_with(|| Link {
            name: name.clone(),
            label: String::new(),
            epoch: None,
            plan,
            seq: 0,
            tokens: 0.0,
            next_item,
            backlog,
            filling_since: None,
            written: 0,
            read: 0,
        });
        link.label = label(&name, run);
        link.epoch = Some(epoch);
        link.seq = 0;
        let again = link.backlog.iter().filter(|(_, back)| *back).count();
        if self.all_up_once {
            let mut line = format!("{}: {name} up, {epoch}", self.spec.name);
            if restarted {
                line += " (restarted: a new process)";
            }
            if again > 0 {
                line += &format!(", re-serializing {again} handed-back chunks");
            }
            self.log.line(&line);
            self.settled_since_drop(&name);
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

    fn peer_down(&mut self, peer: PeerId, epoch: CacheEpoch, reason: &LinkDown) {
        let open = self
            .sent
            .get(&(peer, epoch.0))
            .map_or(0, |(_, s)| s.written.saturating_sub(s.settled()));
        let Some(link) = self.links.get_mut(&peer) else {
            return;
        };
        if link.epoch == Some(epoch) {
            link.epoch = None;
        }
        if self.closing {
            // Every bridge is going away now: its own links and those its
            // peers' shutdowns closed first are no news.
            return;
        }
        let name = link.name.clone();
        if self.spec.partner.as_deref() == Some(name.as_str()) {
            let (delivered, back) = self
                .sent
                .get(&(peer, epoch.0))
                .map(|(_, s)| (s.delivered, back_by_reason(s)))
                .unwrap_or_default();
            self.dropped = Some(DropMark {
                peer,
                epoch,
                delivered,
                back,
            });
        }
        let mut line = format!("{}: {name} down ({epoch}: {reason})", self.spec.name);
        if open > 0 {
            line += &format!("; {open} chunks sent wait for their outcome");
        }
        self.log.line(&line);
    }

    /// The peer `name` is up again: if it is the partition partner and
    /// its link had dropped, prints and checks how the chunks in doubt
    /// then were settled.
    fn settled_since_drop(&mut self, name: &str) {
        if self.spec.partner.as_deref() != Some(name) {
            return;
        }
        let Some(mark) = self.dropped.take() else {
            return;
        };
        let (written, delivered, back) = self
            .sent
            .get(&(mark.peer, mark.epoch.0))
            .map(|(_, s)| (s.written, s.delivered, back_by_reason(s)))
            .unwrap_or_default();
        let since: Vec<u64> = back
            .iter()
            .zip(mark.back)
            .map(|(now, then)| now.saturating_sub(then))
            .collect();
        let confirmed = delivered.saturating_sub(mark.delivered);
        let unsent = back[reason_index(HandBack::Unsent)];
        let in_doubt: u64 = confirmed
            + REASONS
                .iter()
                .zip(&since)
                .filter(|(r, _)| **r != HandBack::Unsent)
                .map(|(_, n)| n)
                .sum::<u64>();
        let open = written.saturating_sub(delivered + back.iter().sum::<u64>());
        let mut line = format!(
            "partition healed: {} -> {name}: {in_doubt} in doubt settled: {confirmed} delivered, \
             {} handed back (not delivered)",
            self.spec.name,
            since[reason_index(HandBack::NotDelivered)]
        );
        for (reason, n) in REASONS.iter().zip(&since) {
            if !matches!(reason, HandBack::Unsent | HandBack::NotDelivered) && *n > 0 {
                line += &format!(", {n} handed back ({})", reason_name(*reason));
            }
        }
        if unsent > 0 {
            line += &format!("; {unsent} unsent came back at the drop");
        }
        if open > 0 {
            line += &format!("; {open} STILL WITHOUT AN OUTCOME");
        }
        self.log.line(&line);
        let restarted = since[reason_index(HandBack::PeerRestarted)];
        if restarted > 0 {
            self.ledger.violation(format!(
                "{restarted} chunks to {name} ({}) handed back as peer restarted after a \
                 partition, though no process died",
                mark.epoch
            ));
        }
        if open > 0 {
            self.ledger.violation(format!(
                "{open} chunks to {name} ({}) had no outcome when the link came back",
                mark.epoch
            ));
        }
        if restarted == 0 && open == 0 {
            self.ledger.heals += 1;
        }
    }

    /// With `--groups`, a link that carried only group chunks: its own
    /// `Delivered` events cover them, and the group's events book them.
    fn group_only(&self, peer: PeerId, epoch: CacheEpoch) -> bool {
        self.spec.groups && !self.sent.contains_key(&(peer, epoch.0))
    }

    /// Writes group chunks as the broadcast rate allows (manager, with
    /// `--groups`); true if it wrote.
    fn write_group_some(&mut self, bridge: &PeerManager, dt: f64, draining: bool) -> bool {
        if self.group_out.id.is_none() {
            return false;
        }
        let (wrote, problem) = self.group_out.write_some(
            bridge,
            self.spec.broadcast_rate,
            dt,
            draining,
            self.spec.incarnation,
            self.spec.chunk_size,
        );
        if let Some(problem) = problem {
            self.ledger.violation(problem);
        }
        wrote
    }

    /// The books of the stream `(peer, epoch)` an outcome is about.
    fn stream(&mut self, peer: PeerId, epoch: CacheEpoch, what: &str) -> Option<&mut Sent> {
        if !self.sent.contains_key(&(peer, epoch.0)) {
            let name = self.peer_name(peer);
            self.ledger.violation(format!(
                "{what} for {name} in {epoch}, where nothing was written"
            ));
            return None;
        }
        self.sent.get_mut(&(peer, epoch.0)).map(|(_, s)| s)
    }

    fn delivered(&mut self, peer: PeerId, epoch: CacheEpoch, through: u64) {
        if self.group_only(peer, epoch) {
            return;
        }
        let Some(sent) = self.stream(peer, epoch, "Delivered") else {
            return;
        };
        let problem = (through <= sent.delivered || through > sent.written).then(|| {
            format!(
                "Delivered through {through} in {epoch}, after {} delivered of {} written",
                sent.delivered, sent.written
            )
        });
        sent.delivered = sent.delivered.max(through);
        if let Some(problem) = problem {
            self.ledger.violation(problem);
        }
    }

    fn handed_back(
        &mut self,
        peer: PeerId,
        epoch: CacheEpoch,
        reason: HandBack,
        first_seq: u64,
        chunks: &[Chunk],
    ) {
        let mut items = Vec::new();
        let mut wrong = 0;
        for (i, chunk) in chunks.iter().enumerate() {
            match Payload::decode(&chunk.data) {
                Some(p) if p.epoch == epoch.0 && p.seq == first_seq + i as u64 => {
                    items.push(p.item)
                }
                _ => wrong += 1,
            }
        }
        let name = self.peer_name(peer);
        if wrong > 0 {
            self.ledger.violation(format!(
                "{wrong} chunks handed back as {epoch} from seq {first_seq} (to {name}) are not those"
            ));
        }
        let closing = self.closing;
        let Some(sent) = self.stream(peer, epoch, "HandedBack") else {
            return;
        };
        sent.back.push(Back {
            reason,
            first: first_seq,
            count: chunks.len() as u64,
        });
        let mut line = format!(
            "{}: {} chunks to {name} ({epoch}, seq {first_seq}..{}) handed back: {}",
            self.spec.name,
            chunks.len(),
            first_seq + (chunks.len() as u64).saturating_sub(1),
            reason_name(reason),
        );
        if closing {
            line += "; not written again (shutting down)";
        } else if let Some(link) = self.links.get_mut(&peer) {
            // Oldest first, ahead of anything already waiting.
            for &item in items.iter().rev() {
                link.backlog.push_front((item, true));
            }
            line += "; to re-serialize in the next epoch";
        }
        self.log.line(&line);
    }

    fn delivered_after_hand_back(
        &mut self,
        peer: PeerId,
        epoch: CacheEpoch,
        first: u64,
        through: u64,
    ) {
        if self.group_only(peer, epoch) {
            return;
        }
        let name = self.peer_name(peer);
        let Some(sent) = self.stream(peer, epoch, "DeliveredAfterHandBack") else {
            return;
        };
        sent.late.push((first, through));
        self.log.line(&format!(
            "{}: chunks {first}..{through} to {name} ({epoch}), handed back as expired, reached it after all",
            self.spec.name
        ));
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
    fn write_some(&mut self, bridge: &PeerManager, peer: PeerId, dt: f64, draining: bool) -> bool {
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
        if bridge.is_filling_up(peer) {
            return false;
        }
        let mut wrote = 0;
        while wrote < 512 {
            let (item, again) = match link.backlog.front() {
                Some(&(item, again)) => (item, again),
                None if link.tokens >= 1.0 => (link.next_item, false),
                None => break,
            };
            // The bridge numbers the chunks of an epoch from 1; the payload
            // carries the number it will give, and the write must agree.
            let expected = link.seq + 1;
            let payload = Payload {
                incarnation: self.spec.incarnation,
                kind: plan.kind.code(),
                epoch: epoch.0,
                seq: expected,
                item,
            };
            let chunk = Chunk::new(epoch, plan.kind, payload.encode(self.spec.chunk_size));
            match bridge.write(peer, chunk) {
                Ok(seq) => {
                    if link.backlog.pop_front().is_none() {
                        link.tokens -= 1.0;
                        link.next_item += 1;
                    }
                    if seq != expected {
                        self.ledger.violation(format!(
                            "write to {} in {epoch} got seq {seq}, expected {expected}",
                            link.name
                        ));
                    }
                    link.seq = seq;
                    let (_, sent) = self
                        .sent
                        .entry((peer, epoch.0))
                        .or_insert_with(|| (link.label.clone(), Sent::default()));
                    sent.written = sent.written.max(seq);
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
                    | WriteRefused::NoGroups { .. }
                    | WriteRefused::Closed,
                    _,
                )) => break,
                // The demo's chunks are far below any cap; a refusal here
                // means the caps were set below one chunk.
                Err((refused @ WriteRefused::TooLarge { .. }, _)) => {
                    self.ledger
                        .violation(format!("write to {} refused: {refused}", link.name));
                    break;
                }
            }
        }
        wrote > 0
    }

    fn snapshot(&self, bridge: &PeerManager, may_settle: bool) -> Snapshot {
        // One entry per peer name: a peer the bridge forgot (down, nothing
        // owed) and that came back has a new id, and both count.
        let mut by_name: BTreeMap<&str, PeerSnapshot> = BTreeMap::new();
        for (&id, link) in &self.links {
            let stats = bridge.stats(id).unwrap_or_default();
            let peer = by_name.entry(&link.name).or_insert_with(|| PeerSnapshot {
                name: link.name.clone(),
                ..PeerSnapshot::default()
            });
            peer.epoch = peer.epoch.or(link.epoch.map(|e| e.0));
            peer.written += link.written;
            peer.read += link.read;
            peer.pending += stats.pending;
            peer.filling |= bridge.is_filling_up(id);
        }
        let peers: Vec<PeerSnapshot> = by_name.into_values().collect();
        let all_up = self.spec.expected.iter().all(|want| {
            self.links
                .values()
                .any(|l| &l.name == want && l.epoch.is_some())
        });
        let quiet = self
            .links
            .iter()
            .all(|(&id, link)| link.backlog.is_empty() && bridge.is_idle(id));
        Snapshot {
            peers,
            settled: may_settle && all_up && quiet,
        }
    }

    /// Closes the books.
    fn finish(self) -> NodeLedger {
        let Node {
            links,
            sent,
            received,
            mut ledger,
            group_out,
            group_in,
            log,
            spec,
            ..
        } = self;
        if group_out.id.is_some() {
            let (line, problem) = group_out.report(&spec.name);
            log.line(&line);
            if let Some(problem) = problem {
                ledger.violation(problem);
            }
        }
        if group_in.taken > 0 {
            log.line(&format!(
                "{}: took {} group chunks, each in its group's order",
                spec.name, group_in.taken
            ));
        }
        let name_of = |id: &PeerId| {
            links
                .get(id)
                .map_or_else(|| format!("{id:?}"), |l| l.name.clone())
        };
        for ((_, epoch), (to, s)) in sent {
            ledger.sent.insert((to, epoch), s);
        }
        for ((incarnation, peer, epoch), r) in received {
            ledger
                .received
                .insert((label(&name_of(&peer), incarnation), epoch), r);
        }
        ledger.backlog_left = links.values().map(|l| l.backlog.len() as u64).sum();
        ledger
    }
}
