//! Deterministic simulation of the bridge protocol: 3 to 8 nodes run the
//! real [`Session`] state machines over a simulated network that one seeded
//! random generator drives (same seed, same run).
//!
//! Faults: links dropped at any point (messages in transit lost), a dead
//! link's queued messages delivered late onto its replacement (the DEALER
//! pipe outliving its link, and the ROUTER reading an old link after the
//! new one's HELLO), stale HELLOs and WELCOMEs, stalled readers, nodes
//! killed and restarted as new incarnations, partitions that last past the
//! in-doubt timeout and heal, and write bursts past the caps.
//!
//! Groups: some nodes write to a group of some of their peers (one
//! encoding shared by every member's link); members join, lag past the
//! cap (stalled readers), drop with their links, and rejoin.
//!
//! Invariants, checked after every step:
//! 1. per (writer incarnation, reader incarnation, epoch) the reader takes
//!    a gap-free, in-order prefix of what was written: no duplicate, no
//!    chunk of another epoch than the one that is up;
//! 2. a `Delivered` outcome names only chunks the reader took; a
//!    `HandedBack` names only chunks it did not take and never will (an
//!    `Expired` one may have been taken, and then a later
//!    `DeliveredAfterHandBack` must say so);
//! 3. no chunk gets two outcomes;
//! 4. queues stay within their caps and windows, groups within their lag
//!    cap times their members;
//! 5. lockstep: within a group epoch every member takes a gap-free,
//!    in-order prefix of the same stream (the chunk written as that
//!    sequence), never a chunk of an epoch it was not written to, never
//!    an epoch older than one it already took from;
//! 6. a `GroupDelivered` names only chunks every member they were written
//!    to took (and nobody missed); a `GroupHandedBack` names exactly the
//!    members that did not take it (an `Expired` one may have) and every
//!    member that left before it was written; no group chunk gets two
//!    outcomes.
//!
//! When the faults stop, links come back, everything flows, and every chunk
//! a live writer wrote has exactly one outcome, every group is back to
//! all its wanted members, and a fresh group chunk reaches all of them.
//!
//! `SIM_SEED` (first seed, default 1) and `SIM_SCHEDULES` (default 2000)
//! reproduce and extend a run; the last line printed is
//! `schedules: N, violations: V`. A failing schedule prints its seed and
//! the trace of its last steps.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serializer_bridge::group::{
    Group, GroupLimits, GroupMiss, GroupTag, LeaveReason, LinkState, MemberLinks,
};
use serializer_bridge::session::{HandBack, Role, Session, Settings, Window, WriteRefused};
use serializer_bridge::wire::Wire;
use serializer_bridge::{CacheEpoch, Caps, Chunk, Event, GroupId, PeerId};

/// xorshift64*: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const CAPS: Caps = Caps {
    soft_chunks: 6,
    hard_chunks: 12,
    soft_bytes: 600,
    hard_bytes: 1500,
};
const WINDOW: Window = Window {
    chunks: 5,
    bytes: 400,
};
const GROUP_LIMITS: GroupLimits = GroupLimits {
    max_lag_chunks: 6,
    max_lag_bytes: 900,
    rejoin_after_chunks: 3,
};
const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(500);
const IN_DOUBT_TIMEOUT: Duration = Duration::from_secs(3);

/// What the simulation knows of one written chunk.
#[derive(Debug, Clone)]
struct Written {
    /// The node index written to.
    to: usize,
    writer: u64,
    reader: u64,
    epoch: CacheEpoch,
    seq: u64,
    outcome: Option<Outcome>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Delivered,
    HandedBack(HandBack),
}

/// What the simulation knows of one group chunk.
#[derive(Debug, Clone)]
struct GroupWritten {
    writer: u64,
    epoch: CacheEpoch,
    seq: u64,
    /// The members it was written to: node index, reader incarnation, and
    /// the link epoch and sequence it took on that member's link.
    to: Vec<(usize, u64, CacheEpoch, u64)>,
    /// The members of the epoch when it was written (some may have left
    /// in that write).
    members: Vec<usize>,
    outcome: Option<GroupResult>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum GroupResult {
    Delivered,
    /// Handed back, naming these members.
    HandedBack(Vec<usize>),
}

/// The members' links of a simulated node, for its group.
struct SimLinks<'a> {
    sessions: &'a mut BTreeMap<usize, Session>,
    /// What `send` queued: member, reader incarnation, link epoch, seq.
    sent: Vec<(usize, u64, CacheEpoch, u64)>,
}

impl MemberLinks for SimLinks<'_> {
    fn link(&self, node: &str) -> Option<LinkState> {
        let j: usize = node.strip_prefix('n')?.parse().ok()?;
        self.link_of(PeerId(j as u32))
    }

    fn link_of(&self, peer: PeerId) -> Option<LinkState> {
        let j = peer.0 as usize;
        let s = self.sessions.get(&j)?;
        Some(LinkState {
            peer: PeerId(j as u32),
            epoch: s.epoch(),
            filling_up: s.is_filling_up(),
            groups: s.speaks_groups(),
        })
    }

    fn send(&mut self, peer: PeerId, chunk: Chunk, tag: GroupTag) -> Result<u64, WriteRefused> {
        let s = self
            .sessions
            .get_mut(&(peer.0 as usize))
            .ok_or(WriteRefused::UnknownPeer)?;
        let seq = s.write_group(chunk, tag).map_err(|(why, _)| why)?;
        let link = s.epoch().unwrap_or_default();
        self.sent
            .push((peer.0 as usize, s.peer_incarnation(), link, seq));
        Ok(seq)
    }
}

/// One direction of a link: messages in transit, in order.
#[derive(Default)]
struct Transit {
    queue: VecDeque<Wire>,
}

/// A link between a connector and an acceptor.
struct Link {
    /// connector -> acceptor
    up: Transit,
    /// acceptor -> connector
    down: Transit,
}

struct Node {
    name: String,
    incarnation: u64,
    alive: bool,
    /// Sessions by peer index.
    sessions: BTreeMap<usize, Session>,
    /// Reads nothing until this time.
    stalled_until: Duration,
    /// The group this node writes to, if any.
    group: Option<Group>,
}

struct Sim {
    rng: Rng,
    base: Instant,
    now: Duration,
    nodes: Vec<Node>,
    /// Links by (connector, acceptor); the connector has the higher index.
    links: BTreeMap<(usize, usize), Link>,
    /// Messages the connector queued that outlive its link (the DEALER's
    /// pipe), sent first on the next link.
    leftovers: BTreeMap<(usize, usize), VecDeque<Wire>>,
    /// Messages of a dead link the acceptor reads late.
    late: BTreeMap<(usize, usize), VecDeque<Wire>>,
    /// Pairs that may not connect until this time.
    partitioned: BTreeMap<(usize, usize), Duration>,
    written: HashMap<u64, Written>,
    next_id: u64,
    /// Chunk ids each reader incarnation took.
    taken: HashSet<(u64, u64)>,
    /// Next expected sequence per (writer inc, reader inc, epoch).
    expected: HashMap<(u64, u64, u64), u64>,
    /// Ids handed back as Expired and later taken, not yet reported.
    late_taken: HashSet<u64>,
    trace: VecDeque<String>,
    steps: u64,
    late_reports: u64,
    group_written: HashMap<u64, GroupWritten>,
    /// The id written as (writer, group epoch, sequence).
    group_ids: HashMap<(u64, u64, u64), u64>,
    /// Next group sequence per (writer, group epoch, reader).
    group_expected: HashMap<(u64, u64, u64), u64>,
    /// The latest group epoch per (writer, reader) a reader took from.
    group_last_epoch: HashMap<(u64, u64), u64>,
    group_stats: GroupStats,
}

/// What the group schedules exercised.
#[derive(Debug, Default, Clone, Copy)]
struct GroupStats {
    written: u64,
    delivered: u64,
    handed_back: u64,
    taken: u64,
    epochs: u64,
    left_lagging: u64,
    left_link_down: u64,
    left_refused: u64,
    joined_again: u64,
}

type Violation = String;

fn settings(node: &str, incarnation: u64) -> Arc<Settings> {
    Arc::new(Settings {
        node: node.to_owned(),
        incarnation,
        capabilities: 0,
        cache_size: 100,
        caps: CAPS,
        window: WINDOW,
        ack_every: 3,
        handshake_timeout: HANDSHAKE_TIMEOUT,
        in_doubt_timeout: IN_DOUBT_TIMEOUT,
    })
}

impl Sim {
    fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let count = 3 + rng.below(6) as usize;
        let mut sim = Sim {
            rng,
            base: Instant::now(),
            now: Duration::ZERO,
            nodes: Vec::new(),
            links: BTreeMap::new(),
            leftovers: BTreeMap::new(),
            late: BTreeMap::new(),
            partitioned: BTreeMap::new(),
            written: HashMap::new(),
            next_id: 1,
            taken: HashSet::new(),
            expected: HashMap::new(),
            late_taken: HashSet::new(),
            trace: VecDeque::new(),
            steps: 0,
            late_reports: 0,
            group_written: HashMap::new(),
            group_ids: HashMap::new(),
            group_expected: HashMap::new(),
            group_last_epoch: HashMap::new(),
            group_stats: GroupStats::default(),
        };
        for i in 0..count {
            sim.nodes.push(Node {
                name: format!("n{i}"),
                incarnation: 0,
                alive: false,
                sessions: BTreeMap::new(),
                stalled_until: Duration::ZERO,
                group: None,
            });
        }
        for i in 0..count {
            sim.start_node(i);
        }
        sim
    }

    fn instant(&self) -> Instant {
        self.base + self.now
    }

    fn log(&mut self, line: String) {
        if self.trace.len() == trace_len() {
            self.trace.pop_front();
        }
        self.trace
            .push_back(format!("[{} {:?}] {line}", self.steps, self.now));
    }

    fn start_node(&mut self, i: usize) {
        let incarnation = self.rng.next() | 1;
        let count = self.nodes.len();
        let name = self.nodes[i].name.clone();
        let s = settings(&name, incarnation);
        let mut sessions = BTreeMap::new();
        for j in 0..count {
            if j == i {
                continue;
            }
            let role = if i > j {
                Role::Connector
            } else {
                Role::Acceptor
            };
            let session = Session::new(PeerId(j as u32), format!("n{j}"), role, s.clone());
            sessions.insert(j, session);
        }
        // Most nodes write to a group of some of their peers.
        let group = self.rng.chance(70).then(|| {
            let members: Vec<String> = (0..count)
                .filter(|j| *j != i && self.rng.chance(70))
                .map(|j| format!("n{j}"))
                .collect();
            Group::new(GroupId(0), "g", members, GROUP_LIMITS)
        });
        let node = &mut self.nodes[i];
        node.incarnation = incarnation;
        node.alive = true;
        node.sessions = sessions;
        node.group = group;
        self.log(format!("start n{i} as {incarnation:x}"));
    }

    fn pair(a: usize, b: usize) -> (usize, usize) {
        (a.max(b), a.min(b))
    }

    // ---- the network -----------------------------------------------------

    fn connect(&mut self, key: (usize, usize)) {
        let (c, a) = key;
        if self.links.contains_key(&key)
            || !self.nodes[c].alive
            || !self.nodes[a].alive
            || self
                .partitioned
                .get(&key)
                .is_some_and(|until| *until > self.now)
        {
            return;
        }
        self.log(format!("connect n{c} -> n{a}"));
        let mut link = Link {
            up: Transit::default(),
            down: Transit::default(),
        };
        // The DEALER's pipe outlived the last link: its leftovers go first.
        if let Some(left) = self.leftovers.remove(&key) {
            link.up.queue.extend(left);
        }
        self.links.insert(key, link);
        let now = self.instant();
        if let Some(s) = self.nodes[c].sessions.get_mut(&a) {
            s.link_up(now);
        }
        if let Some(s) = self.nodes[a].sessions.get_mut(&c) {
            s.link_up(now);
        }
    }

    fn drop_link(&mut self, key: (usize, usize)) {
        let Some(mut link) = self.links.remove(&key) else {
            return;
        };
        let (c, a) = key;
        self.log(format!("drop n{c} -> n{a}"));
        // Some of the connector's unsent messages stay in its pipe; some
        // already-read ones reach the acceptor late, after the next link.
        let mut keep = VecDeque::new();
        let mut late = VecDeque::new();
        while let Some(wire) = link.up.queue.pop_front() {
            match self.rng.below(3) {
                0 => keep.push_back(wire),
                1 => late.push_back(wire),
                _ => {}
            }
        }
        if !keep.is_empty() && self.rng.chance(50) {
            self.leftovers.entry(key).or_default().extend(keep);
        }
        if !late.is_empty() {
            self.late.entry(key).or_default().extend(late);
        }
        let now = self.instant();
        if self.nodes[c].alive
            && let Some(s) = self.nodes[c].sessions.get_mut(&a)
        {
            s.link_down(now);
        }
        if self.nodes[a].alive
            && let Some(s) = self.nodes[a].sessions.get_mut(&c)
        {
            s.link_down(now);
        }
    }

    /// Moves what node `i`'s session with `j` wants to send onto the link.
    fn pump(&mut self, i: usize, j: usize) {
        let key = Sim::pair(i, j);
        let connector = i > j;
        loop {
            let Some(s) = self.nodes[i].sessions.get_mut(&j) else {
                return;
            };
            if !self.links.contains_key(&key) {
                // No link: a connector's pipe keeps a few messages for the
                // next one (stale HELLOs included); an acceptor's are lost.
                let Some(wire) = s.poll_transmit() else {
                    return;
                };
                if connector && self.rng.chance(30) {
                    let left = self.leftovers.entry(key).or_default();
                    if left.len() < 4 {
                        left.push_back(wire);
                    }
                }
                continue;
            }
            let Some(wire) = s.poll_transmit() else {
                return;
            };
            let link = self.links.get_mut(&key).expect("link checked above");
            let dir = if connector {
                &mut link.up
            } else {
                &mut link.down
            };
            dir.queue.push_back(wire);
        }
    }

    /// Delivers the next message of one direction of a link.
    fn deliver(&mut self, key: (usize, usize), to_acceptor: bool) -> Result<(), Violation> {
        let (c, a) = key;
        let (from, to) = if to_acceptor { (c, a) } else { (a, c) };
        let wire = {
            let Some(link) = self.links.get_mut(&key) else {
                return Ok(());
            };
            let dir = if to_acceptor {
                &mut link.up
            } else {
                &mut link.down
            };
            match dir.queue.pop_front() {
                Some(w) => w,
                None => return Ok(()),
            }
        };
        self.receive(from, to, wire)
    }

    fn receive(&mut self, from: usize, to: usize, wire: Wire) -> Result<(), Violation> {
        let summary = summarize(&wire);
        let now = self.instant();
        let Some(s) = self.nodes[to].sessions.get_mut(&from) else {
            return Ok(());
        };
        let result = s.handle(wire, now);
        self.log(format!("n{from} -> n{to}: {summary}"));
        if let Err(error) = result {
            // An honest peer never breaks the protocol.
            return Err(format!(
                "n{to} saw a protocol error from honest n{from}: {error}"
            ));
        }
        self.pump(to, from);
        Ok(())
    }

    // ---- the applications ------------------------------------------------

    fn write_burst(&mut self, i: usize) -> Result<(), Violation> {
        let peers: Vec<usize> = self.nodes[i].sessions.keys().copied().collect();
        let j = peers[self.rng.below(peers.len() as u64) as usize];
        let burst = if self.rng.chance(10) { 20 } else { 4 };
        let count = 1 + self.rng.below(burst);
        for _ in 0..count {
            let Some(epoch) = self.nodes[i].sessions[&j].epoch() else {
                return Ok(());
            };
            // Sometimes a chunk of a stale epoch, which must be refused.
            let stale = epoch.0 > 1 && self.rng.chance(3);
            let chunk_epoch = if stale {
                CacheEpoch(epoch.0 - 1)
            } else {
                epoch
            };
            let id = self.next_id;
            self.next_id += 1;
            let size = if self.rng.chance(5) {
                300 + self.rng.below(900)
            } else {
                self.rng.below(60)
            };
            let mut payload = id.to_be_bytes().to_vec();
            payload.resize(8 + size as usize, 0xab);
            let chunk = Chunk::serial(chunk_epoch, Bytes::from(payload));
            let writer = self.nodes[i].incarnation;
            let s = self.nodes[i].sessions.get_mut(&j).expect("peer exists");
            let reader = s.peer_incarnation();
            match s.write(chunk) {
                Ok(seq) => {
                    if stale {
                        return Err(format!("n{i} wrote a chunk of stale {chunk_epoch} to n{j}"));
                    }
                    self.note_write(id, j, writer, reader, epoch, seq);
                }
                Err(_) => break,
            }
        }
        self.pump(i, j);
        Ok(())
    }

    /// Books a write the session accepted, waiting for its outcome.
    fn note_write(
        &mut self,
        id: u64,
        to: usize,
        writer: u64,
        reader: u64,
        epoch: CacheEpoch,
        seq: u64,
    ) {
        let written = Written {
            to,
            writer,
            reader,
            epoch,
            seq,
            outcome: None,
        };
        self.written.insert(id, written);
    }

    fn read(&mut self, i: usize) -> Result<(), Violation> {
        if self.nodes[i].stalled_until > self.now {
            return Ok(());
        }
        let peers: Vec<usize> = self.nodes[i].sessions.keys().copied().collect();
        for j in peers {
            let budget = self.rng.below(6);
            for _ in 0..budget {
                let s = self.nodes[i].sessions.get_mut(&j).expect("peer exists");
                let Some(event) = s.poll_event() else {
                    break;
                };
                self.on_event(i, j, event)?;
            }
            self.pump(i, j);
        }
        Ok(())
    }

    fn on_event(&mut self, i: usize, j: usize, event: Event) -> Result<(), Violation> {
        let me = self.nodes[i].incarnation;
        let peer_inc = self.nodes[i].sessions[&j].peer_incarnation();
        match event {
            Event::Chunk { chunk, .. } => self.on_take(i, j, me, peer_inc, chunk),
            Event::GroupChunk {
                epoch, seq, chunk, ..
            } => self.on_group_take(i, j, me, peer_inc, epoch, seq, &chunk),
            Event::GroupEpoch { .. }
            | Event::GroupDelivered { .. }
            | Event::GroupHandedBack { .. } => {
                Err(format!("n{i}: a session of n{j} reported a group event"))
            }
            Event::Delivered { epoch, through, .. } => {
                self.log(format!("n{i}: delivered to n{j} {epoch} through {through}"));
                let ids: Vec<u64> = self
                    .written
                    .iter()
                    .filter(|(_, w)| {
                        w.writer == me && w.epoch == epoch && w.seq <= through && w.to == j
                    })
                    .map(|(id, _)| *id)
                    .collect();
                for id in ids {
                    let w = self.written.get_mut(&id).expect("listed");
                    match w.outcome {
                        None => w.outcome = Some(Outcome::Delivered),
                        Some(Outcome::Delivered) => {}
                        Some(other) => {
                            return Err(format!(
                                "chunk {id} ({epoch} seq {}) Delivered after {other:?}",
                                w.seq
                            ));
                        }
                    }
                    if !self.taken.contains(&(w.reader, id)) {
                        return Err(format!(
                            "chunk {id} ({epoch} seq {}) reported Delivered but reader {:x} never took it",
                            w.seq, w.reader
                        ));
                    }
                }
                Ok(())
            }
            Event::HandedBack {
                epoch,
                reason,
                first_seq,
                chunks,
                ..
            } => {
                self.log(format!(
                    "n{i}: {} handed back by n{j} {epoch} from {first_seq} ({reason:?})",
                    chunks.len()
                ));
                for (k, chunk) in chunks.iter().enumerate() {
                    let id = chunk_id(chunk);
                    let Some(w) = self.written.get_mut(&id) else {
                        return Err(format!("handed back an unknown chunk {id}"));
                    };
                    if w.epoch != epoch || w.seq != first_seq + k as u64 || w.writer != me {
                        return Err(format!(
                            "chunk {id} handed back as {epoch} seq {}, written as {} seq {}",
                            first_seq + k as u64,
                            w.epoch,
                            w.seq
                        ));
                    }
                    if let Some(outcome) = w.outcome {
                        return Err(format!(
                            "chunk {id} handed back ({reason:?}) after {outcome:?}"
                        ));
                    }
                    w.outcome = Some(Outcome::HandedBack(reason));
                    // What a dead reader took died with it; a live one must
                    // not have taken a chunk that comes back.
                    let reader_alive =
                        self.nodes[w.to].alive && self.nodes[w.to].incarnation == w.reader;
                    if reason != HandBack::Expired
                        && reader_alive
                        && self.taken.contains(&(w.reader, id))
                    {
                        return Err(format!(
                            "chunk {id} ({epoch} seq {}) handed back ({reason:?}) but reader {:x} took it",
                            w.seq, w.reader
                        ));
                    }
                    if reason == HandBack::Expired
                        && reader_alive
                        && self.taken.contains(&(w.reader, id))
                    {
                        self.late_taken.insert(id);
                    }
                }
                Ok(())
            }
            Event::DeliveredAfterHandBack {
                epoch,
                first_seq,
                through,
                ..
            } => {
                self.log(format!(
                    "n{i}: late delivery to n{j} {epoch} {first_seq}..={through}"
                ));
                self.late_reports += 1;
                for (id, w) in self.written.iter() {
                    if w.writer == me
                        && w.epoch == epoch
                        && (first_seq..=through).contains(&w.seq)
                        && w.to == j
                    {
                        if w.outcome != Some(Outcome::HandedBack(HandBack::Expired)) {
                            return Err(format!(
                                "late delivery of chunk {id}, which was {:?}",
                                w.outcome
                            ));
                        }
                        if !self.taken.contains(&(w.reader, *id)) {
                            return Err(format!("late delivery of chunk {id}, never taken"));
                        }
                        self.late_taken.remove(id);
                    }
                }
                Ok(())
            }
            Event::PeerUp { epoch, .. } => {
                self.log(format!("n{i}: n{j} up in {epoch}"));
                Ok(())
            }
            Event::PeerDown { epoch, reason, .. } => {
                self.log(format!("n{i}: n{j} down from {epoch}: {reason}"));
                Ok(())
            }
            Event::FillingUp { .. } | Event::Drained { .. } | Event::Refused { .. } => Ok(()),
        }
    }

    fn on_take(
        &mut self,
        i: usize,
        j: usize,
        me: u64,
        peer_inc: u64,
        chunk: Chunk,
    ) -> Result<(), Violation> {
        let id = chunk_id(&chunk);
        let up = self.nodes[i].sessions[&j].epoch();
        let Some(w) = self.written.get(&id) else {
            return Err(format!("n{i} took unknown chunk {id}"));
        };
        if up != Some(chunk.epoch) || w.epoch != chunk.epoch {
            return Err(format!(
                "n{i} took chunk {id} of {} (written for {}) while {:?} is up",
                chunk.epoch, w.epoch, up
            ));
        }
        if w.writer != peer_inc || w.reader != me {
            return Err(format!(
                "n{i} ({me:x}) took chunk {id} written by {:x} for {:x}",
                w.writer, w.reader
            ));
        }
        if !self.taken.insert((me, id)) {
            return Err(format!("n{i} took chunk {id} twice"));
        }
        let key = (w.writer, me, w.epoch.0);
        let expected = self.expected.entry(key).or_insert(1);
        if w.seq != *expected {
            return Err(format!(
                "n{i} took {} seq {} from n{j}, expected {}",
                w.epoch, w.seq, *expected
            ));
        }
        *expected += 1;
        let line = format!("n{i} took chunk {id} ({} seq {}) from n{j}", w.epoch, w.seq);
        let outcome = w.outcome;
        self.log(line);
        if let Some(Outcome::HandedBack(reason)) = outcome {
            if reason != HandBack::Expired {
                return Err(format!(
                    "n{i} took chunk {id} already handed back ({reason:?})"
                ));
            }
            self.late_taken.insert(id);
        }
        Ok(())
    }

    // ---- faults and time ---------------------------------------------------

    fn kill(&mut self, i: usize) {
        self.log(format!("kill n{i}"));
        let keys: Vec<(usize, usize)> = self
            .links
            .keys()
            .copied()
            .filter(|(c, a)| *c == i || *a == i)
            .collect();
        self.nodes[i].alive = false;
        for key in keys {
            self.drop_link(key);
        }
        self.leftovers.retain(|(c, a), _| *c != i && *a != i);
        self.late.retain(|(c, a), _| *c != i && *a != i);
        let me = self.nodes[i].incarnation;
        // A dead writer's chunks need no outcome: nobody is left to tell.
        self.written.retain(|_, w| w.writer != me);
        self.group_written.retain(|_, w| w.writer != me);
        self.nodes[i].group = None;
        // What a dead reader took died with it: an Expired hand-back of it
        // was right, and nobody will report it.
        let written = &self.written;
        self.late_taken
            .retain(|id| written.get(id).is_some_and(|w| w.reader != me));
        self.nodes[i].sessions.clear();
    }

    /// What the manager does with an accepted peer that is down with
    /// nothing owed or unread: it keeps only the session's `History` and
    /// builds a new session from it when the peer comes back.
    fn forget_settled(&mut self, i: usize) {
        let incarnation = self.nodes[i].incarnation;
        let name = self.nodes[i].name.clone();
        let settled: Vec<usize> = self.nodes[i]
            .sessions
            .iter()
            .filter(|(_, s)| s.role() == Role::Acceptor && s.is_settled())
            .map(|(j, _)| *j)
            .collect();
        for j in settled {
            let history = self.nodes[i].sessions[&j].history();
            let revived = Session::with_history(
                PeerId(j as u32),
                format!("n{j}"),
                Role::Acceptor,
                settings(&name, incarnation),
                history,
            );
            self.nodes[i].sessions.insert(j, revived);
            self.log(format!("n{i} forgot settled n{j} ({history:?})"));
        }
    }

    fn advance(&mut self, by: Duration) -> Result<(), Violation> {
        self.now += by;
        let now = self.instant();
        for i in 0..self.nodes.len() {
            let peers: Vec<usize> = self.nodes[i].sessions.keys().copied().collect();
            for j in peers {
                let s = self.nodes[i].sessions.get_mut(&j).expect("peer exists");
                if s.poll_timeout().is_some_and(|t| t <= now) && s.handle_timeout(now).is_err() {
                    // Handshake timeout: the driver closes the link.
                    self.log(format!("n{i}: handshake with n{j} timed out"));
                    self.drop_link(Sim::pair(i, j));
                }
            }
        }
        Ok(())
    }

    fn check_bounds(&self) -> Result<(), Violation> {
        for (i, node) in self.nodes.iter().enumerate() {
            for (j, s) in &node.sessions {
                if s.pending() > CAPS.hard_chunks || s.in_doubt() > CAPS.hard_chunks {
                    return Err(format!(
                        "n{i}'s queue for n{j} past its cap: {:?}",
                        s.stats()
                    ));
                }
                if s.stats().pending_bytes > CAPS.hard_bytes as u64 {
                    return Err(format!("n{i}'s bytes for n{j} past the cap"));
                }
            }
        }
        Ok(())
    }

    fn step(&mut self) -> Result<(), Violation> {
        self.steps += 1;
        let n = self.nodes.len();
        let pick = self.rng.below(n as u64) as usize;
        let other = (pick + 1 + self.rng.below(n as u64 - 1) as usize) % n;
        let key = Sim::pair(pick, other);
        match self.rng.below(100) {
            0..=19 => {
                if self.nodes[pick].alive {
                    if self.nodes[pick].group.is_some() && self.rng.chance(40) {
                        self.group_burst(pick)?;
                    } else {
                        self.write_burst(pick)?;
                    }
                }
            }
            20..=49 => {
                let to_acceptor = self.rng.chance(50);
                self.deliver(key, to_acceptor)?;
            }
            50..=54 => {
                // A dead link's message read late by the acceptor.
                if self.links.contains_key(&key)
                    && let Some(wire) = self.late.get_mut(&key).and_then(|q| q.pop_front())
                {
                    self.receive(key.0, key.1, wire)?;
                }
            }
            55..=69 => {
                if self.nodes[pick].alive {
                    self.read(pick)?;
                }
            }
            70..=77 => self.connect(key),
            78..=80 => self.drop_link(key),
            81..=82 => {
                let until = self.now + Duration::from_millis(self.rng.below(6000));
                self.log(format!("partition n{} / n{} until {until:?}", key.0, key.1));
                self.partitioned.insert(key, until);
                self.drop_link(key);
            }
            83 => {
                if self.nodes[pick].alive && self.rng.chance(50) {
                    self.kill(pick);
                } else if !self.nodes[pick].alive {
                    self.start_node(pick);
                }
            }
            84..=85 => {
                let until = self.now + Duration::from_millis(self.rng.below(2000));
                self.nodes[pick].stalled_until = until;
            }
            86 => self.forget_settled(pick),
            87..=89 => {
                for j in 0..n {
                    if j != pick && self.nodes[pick].alive {
                        self.pump(pick, j);
                    }
                }
            }
            _ => {
                let by = Duration::from_millis(1 + self.rng.below(400));
                self.advance(by)?;
            }
        }
        // The manager refreshes its groups after each driver round; here
        // sometimes later, so a write also meets a member already gone.
        for i in 0..n {
            if self.nodes[i].alive && self.rng.chance(70) {
                self.sync_group(i)?;
            }
        }
        self.check_bounds()?;
        self.check_group_bounds()
    }

    /// Faults stop: every node up, partitions healed, readers reading;
    /// run until nothing moves, then check that every chunk has its outcome
    /// and that a fresh chunk on every pair gets through.
    fn settle(&mut self) -> Result<(), Violation> {
        self.partitioned.clear();
        for i in 0..self.nodes.len() {
            self.nodes[i].stalled_until = Duration::ZERO;
            if !self.nodes[i].alive {
                self.start_node(i);
            }
        }
        self.quiesce()?;
        // Everything flows: one more chunk each way on every pair.
        let mut fresh = Vec::new();
        for i in 0..self.nodes.len() {
            let peers: Vec<usize> = self.nodes[i].sessions.keys().copied().collect();
            for j in peers {
                let Some(epoch) = self.nodes[i].sessions[&j].epoch() else {
                    return Err(format!("n{i} and n{j} did not come back up"));
                };
                let id = self.next_id;
                self.next_id += 1;
                let writer = self.nodes[i].incarnation;
                let s = self.nodes[i].sessions.get_mut(&j).expect("peer exists");
                let reader = s.peer_incarnation();
                let seq = s
                    .write(Chunk::serial(
                        epoch,
                        Bytes::copy_from_slice(&id.to_be_bytes()),
                    ))
                    .map_err(|(why, _)| {
                        format!("n{i} could not write to n{j} once settled: {why}")
                    })?;
                self.note_write(id, j, writer, reader, epoch, seq);
                fresh.push(id);
            }
        }
        let fresh_groups = self.settle_groups()?;
        self.quiesce()?;
        for id in fresh_groups {
            if self.group_written[&id].outcome != Some(GroupResult::Delivered) {
                return Err(format!(
                    "fresh group chunk {id} not delivered once settled: {:?}",
                    self.group_written[&id]
                ));
            }
        }
        for (id, w) in &self.group_written {
            if w.outcome.is_none() {
                return Err(format!(
                    "group chunk {id} has no outcome once settled: {w:?}"
                ));
            }
        }
        for id in fresh {
            if self.written[&id].outcome != Some(Outcome::Delivered) {
                return Err(format!(
                    "fresh chunk {id} not delivered once settled: {:?}",
                    self.written[&id]
                ));
            }
        }
        for (id, w) in &self.written {
            if w.outcome.is_none() {
                return Err(format!("chunk {id} has no outcome once settled: {w:?}"));
            }
        }
        if let Some(id) = self.late_taken.iter().next() {
            return Err(format!(
                "chunk {id} was handed back as Expired, taken, and never reported"
            ));
        }
        Ok(())
    }

    fn quiesce(&mut self) -> Result<(), Violation> {
        for _round in 0..400 {
            let n = self.nodes.len();
            for c in 0..n {
                for a in 0..c {
                    self.connect((c, a));
                }
            }
            for i in 0..n {
                for j in 0..n {
                    if i != j {
                        self.pump(i, j);
                    }
                }
            }
            let mut moved = false;
            let keys: Vec<(usize, usize)> = self.links.keys().copied().collect();
            for key in keys {
                while self
                    .links
                    .get(&key)
                    .is_some_and(|l| !l.up.queue.is_empty() || !l.down.queue.is_empty())
                {
                    moved = true;
                    self.deliver(key, true)?;
                    self.deliver(key, false)?;
                }
                if let Some(wire) = self.late.get_mut(&key).and_then(|q| q.pop_front()) {
                    moved = true;
                    self.receive(key.0, key.1, wire)?;
                }
            }
            for i in 0..n {
                let peers: Vec<usize> = self.nodes[i].sessions.keys().copied().collect();
                for j in peers {
                    while let Some(event) = self.nodes[i]
                        .sessions
                        .get_mut(&j)
                        .and_then(Session::poll_event)
                    {
                        moved = true;
                        self.on_event(i, j, event)?;
                    }
                    self.pump(i, j);
                }
            }
            for i in 0..n {
                moved |= self.sync_group(i)?;
            }
            self.check_bounds()?;
            self.check_group_bounds()?;
            let busy = self.nodes.iter().any(|n| {
                n.sessions
                    .values()
                    .any(|s| !s.is_idle() || s.epoch().is_none())
                    || n.group.as_ref().is_some_and(|g| g.pending() > 0)
            });
            if !moved && !busy {
                return Ok(());
            }
            if !moved {
                self.advance(Duration::from_millis(250))?;
            }
        }
        Err("the cluster did not settle".into())
    }
}

// ---- groups ---------------------------------------------------------------

impl Sim {
    /// A burst of group chunks from node `i`, if it has a group.
    fn group_burst(&mut self, i: usize) -> Result<(), Violation> {
        let count = 1 + self.rng.below(6);
        for _ in 0..count {
            let Some(group) = self.nodes[i].group.as_ref() else {
                return Ok(());
            };
            let epoch = group.epoch();
            let stale = epoch.0 > 1 && self.rng.chance(3);
            let chunk_epoch = if stale {
                CacheEpoch(epoch.0 - 1)
            } else {
                epoch
            };
            let before: Vec<usize> = group.members().iter().map(|p| p.0 as usize).collect();
            let id = self.next_id;
            self.next_id += 1;
            let size = if self.rng.chance(5) {
                200 + self.rng.below(500)
            } else {
                self.rng.below(60)
            };
            let mut payload = id.to_be_bytes().to_vec();
            payload.resize(8 + size as usize, 0xcd);
            let chunk = Chunk::serial(chunk_epoch, Bytes::from(payload));
            let writer = self.nodes[i].incarnation;
            let node = &mut self.nodes[i];
            let Some(group) = node.group.as_mut() else {
                return Ok(());
            };
            let mut links = SimLinks {
                sessions: &mut node.sessions,
                sent: Vec::new(),
            };
            let result = group.write(chunk, &mut links);
            let to = links.sent;
            match result {
                Ok(seq) => {
                    if stale || chunk_epoch != epoch {
                        return Err(format!("n{i}'s group took a chunk of stale {chunk_epoch}"));
                    }
                    let members = before.clone();
                    self.log(format!(
                        "n{i}: group chunk {id} as {epoch} seq {seq} to {to:?} (members {before:?})"
                    ));
                    self.group_ids.insert((writer, epoch.0, seq), id);
                    self.group_written.insert(
                        id,
                        GroupWritten {
                            writer,
                            epoch,
                            seq,
                            to,
                            members,
                            outcome: None,
                        },
                    );
                    self.group_stats.written += 1;
                }
                Err(_) => break,
            }
        }
        let peers: Vec<usize> = self.nodes[i].sessions.keys().copied().collect();
        for j in peers {
            self.pump(i, j);
        }
        Ok(())
    }

    /// Hands node `i`'s sessions' group outcomes to its group, refreshes
    /// it, and checks what it reports; whether anything was reported.
    fn sync_group(&mut self, i: usize) -> Result<bool, Violation> {
        let node = &mut self.nodes[i];
        let Some(group) = node.group.as_mut() else {
            return Ok(false);
        };
        for s in node.sessions.values_mut() {
            while let Some(outcome) = s.poll_group_outcome() {
                group.note_outcome(outcome);
            }
        }
        group.finish_outcomes();
        group.refresh(&SimLinks {
            sessions: &mut node.sessions,
            sent: Vec::new(),
        });
        let events: Vec<Event> = std::iter::from_fn(|| group.poll_event()).collect();
        let moved = !events.is_empty();
        for event in events {
            self.on_group_event(i, event)?;
        }
        Ok(moved)
    }

    fn on_group_event(&mut self, i: usize, event: Event) -> Result<(), Violation> {
        let me = self.nodes[i].incarnation;
        match event {
            Event::GroupEpoch {
                epoch,
                members,
                left,
                ..
            } => {
                self.log(format!(
                    "n{i}: group now {epoch} with {members:?}, left {left:?}"
                ));
                self.group_stats.epochs += 1;
                for (_, why) in &left {
                    match why {
                        LeaveReason::Lagging { .. } => self.group_stats.left_lagging += 1,
                        LeaveReason::LinkDown => self.group_stats.left_link_down += 1,
                        LeaveReason::Refused(_) => self.group_stats.left_refused += 1,
                    }
                }
                if epoch.0 > 1 && left.is_empty() {
                    self.group_stats.joined_again += 1;
                }
                Ok(())
            }
            Event::GroupDelivered {
                epoch,
                first_seq,
                through,
                ..
            } => {
                self.log(format!(
                    "n{i}: group {epoch} {first_seq}..={through} delivered"
                ));
                for seq in first_seq..=through {
                    let id = self.group_chunk(me, epoch, seq)?;
                    let w = self.group_written.get_mut(&id).expect("looked up");
                    if let Some(o) = &w.outcome {
                        return Err(format!("group chunk {id} Delivered after {o:?}"));
                    }
                    w.outcome = Some(GroupResult::Delivered);
                    self.group_stats.delivered += 1;
                    if w.to.len() != w.members.len() {
                        return Err(format!(
                            "group chunk {id} Delivered, but members {:?} left before it was written ({:?})",
                            w.members, w.to
                        ));
                    }
                    for (j, reader, _, _) in &w.to {
                        if !self.taken.contains(&(*reader, id)) {
                            return Err(format!(
                                "group chunk {id} ({epoch} seq {seq}) Delivered, but member n{j} never took it"
                            ));
                        }
                    }
                }
                Ok(())
            }
            Event::GroupHandedBack {
                epoch,
                first_seq,
                chunks,
                missed,
                ..
            } => {
                self.log(format!(
                    "n{i}: group {epoch} {} from {first_seq} handed back, missed by {missed:?}",
                    chunks.len()
                ));
                let missed_by: Vec<usize> = missed.iter().map(|(p, _)| p.0 as usize).collect();
                for (k, chunk) in chunks.iter().enumerate() {
                    let seq = first_seq + k as u64;
                    let id = self.group_chunk(me, epoch, seq)?;
                    if chunk_id(chunk) != id {
                        return Err(format!(
                            "group {epoch} seq {seq} handed back as chunk {}, written as {id}",
                            chunk_id(chunk)
                        ));
                    }
                    let w = self.group_written.get(&id).expect("looked up").clone();
                    if let Some(o) = &w.outcome {
                        return Err(format!("group chunk {id} handed back after {o:?}"));
                    }
                    for j in &missed_by {
                        if !w.members.contains(j) {
                            return Err(format!(
                                "group chunk {id} handed back naming n{j}, not a member"
                            ));
                        }
                    }
                    for j in &w.members {
                        let Some((_, why)) = missed.iter().find(|(p, _)| p.0 as usize == *j) else {
                            // Not named: it must have been written to the
                            // member, and taken.
                            let Some((_, reader, _, _)) = w.to.iter().find(|t| t.0 == *j) else {
                                return Err(format!(
                                    "group chunk {id} never written to member n{j}, which is not named"
                                ));
                            };
                            if !self.taken.contains(&(*reader, id)) {
                                return Err(format!(
                                    "group chunk {id} handed back without naming n{j}, which never took it"
                                ));
                            }
                            continue;
                        };
                        let Some((_, reader, _, _)) = w.to.iter().find(|t| t.0 == *j) else {
                            continue;
                        };
                        let reader_alive =
                            self.nodes[*j].alive && self.nodes[*j].incarnation == *reader;
                        let maybe = matches!(why, GroupMiss::Link(HandBack::Expired));
                        if !maybe && reader_alive && self.taken.contains(&(*reader, id)) {
                            return Err(format!(
                                "group chunk {id} handed back naming n{j} ({why:?}), which took it"
                            ));
                        }
                    }
                    let w = self.group_written.get_mut(&id).expect("looked up");
                    w.outcome = Some(GroupResult::HandedBack(missed_by.clone()));
                    self.group_stats.handed_back += 1;
                }
                Ok(())
            }
            other => Err(format!("n{i}'s group reported {other:?}")),
        }
    }

    /// The id of the group chunk `(writer, epoch, seq)`.
    fn group_chunk(&self, writer: u64, epoch: CacheEpoch, seq: u64) -> Result<u64, Violation> {
        let id = self.group_ids.get(&(writer, epoch.0, seq)).copied();
        match id {
            Some(id) if self.group_written.contains_key(&id) => Ok(id),
            _ => Err(format!("outcome for unknown group chunk {epoch} seq {seq}")),
        }
    }

    /// Node `i` takes a group chunk from `j`: lockstep (invariant 5).
    #[allow(clippy::too_many_arguments)]
    fn on_group_take(
        &mut self,
        i: usize,
        j: usize,
        me: u64,
        writer: u64,
        epoch: CacheEpoch,
        seq: u64,
        chunk: &Chunk,
    ) -> Result<(), Violation> {
        let id = chunk_id(chunk);
        self.log(format!(
            "n{i} took group chunk {id} of n{j}: {epoch} seq {seq}"
        ));
        let Some(w) = self.group_written.get(&id) else {
            return Err(format!("n{i} took unknown group chunk {id}"));
        };
        if w.writer != writer || w.epoch != epoch || w.seq != seq || chunk.epoch != epoch {
            return Err(format!(
                "n{i} took group chunk {id} as {epoch} seq {seq}, written as {} seq {} by {:x}",
                w.epoch, w.seq, w.writer
            ));
        }
        let Some(&(_, _, link_epoch, link_seq)) = w.to.iter().find(|t| t.0 == i && t.1 == me)
        else {
            return Err(format!(
                "n{i} took group chunk {id} ({epoch} seq {seq}), not written to it: {:?}",
                w.to
            ));
        };
        // It took its place in the link's own order too (invariant 1).
        let up = self.nodes[i].sessions[&j].epoch();
        if up != Some(link_epoch) {
            return Err(format!(
                "n{i} took group chunk {id} of link {link_epoch} while {up:?} is up"
            ));
        }
        let next = self.expected.entry((writer, me, link_epoch.0)).or_insert(1);
        if link_seq != *next {
            return Err(format!(
                "n{i} took group chunk {id} as link seq {link_seq}, expected {next}"
            ));
        }
        *next += 1;
        let last = self.group_last_epoch.entry((writer, me)).or_insert(0);
        if epoch.0 < *last {
            return Err(format!(
                "n{i} took a chunk of group {epoch} after one of epoch {last}"
            ));
        }
        *last = epoch.0;
        let expected = self
            .group_expected
            .entry((writer, epoch.0, me))
            .or_insert(1);
        if seq != *expected {
            return Err(format!(
                "n{i} took group {epoch} seq {seq}, expected {expected}: lockstep broken"
            ));
        }
        *expected += 1;
        self.taken.insert((me, id));
        self.group_stats.taken += 1;
        Ok(())
    }

    fn check_group_bounds(&self) -> Result<(), Violation> {
        for (i, node) in self.nodes.iter().enumerate() {
            let Some(g) = &node.group else { continue };
            let wanted = g.wanted().count() as u64;
            let cap = (wanted + 1) * GROUP_LIMITS.max_lag_chunks;
            // Every open epoch but the current one holds a chunk still
            // waiting for its outcome (a settled epoch is freed). Not `wanted + 1` epochs: a member
            // that stays while others leave and rejoin owes chunks of each
            // epoch it was in (seed 59852), its lag cap bounding them all.
            if g.pending() as u64 > cap || g.open_epochs() > g.pending() + 1 {
                return Err(format!(
                    "n{i}'s group keeps {} chunks in {} epochs, past {cap}",
                    g.pending(),
                    g.open_epochs()
                ));
            }
            for m in g.wanted() {
                if let Some((chunks, bytes)) = g.lag(m)
                    && (chunks > GROUP_LIMITS.max_lag_chunks || bytes > GROUP_LIMITS.max_lag_bytes)
                {
                    return Err(format!("n{i}'s group member {m} owes past the cap"));
                }
            }
        }
        Ok(())
    }

    /// Once settled: every group has all its wanted members, and a fresh
    /// group chunk reaches every one of them.
    fn settle_groups(&mut self) -> Result<Vec<u64>, Violation> {
        let mut fresh = Vec::new();
        for i in 0..self.nodes.len() {
            self.sync_group(i)?;
            let Some(g) = &self.nodes[i].group else {
                continue;
            };
            let wanted: Vec<u32> = g
                .wanted()
                .filter_map(|n| n.strip_prefix('n')?.parse().ok())
                .collect();
            let members: Vec<u32> = g.members().iter().map(|p| p.0).collect();
            if members != wanted {
                return Err(format!(
                    "n{i}'s group settled with {members:?}, wanted {wanted:?}"
                ));
            }
            if wanted.is_empty() {
                continue;
            }
            let before = self.group_stats.written;
            let id = self.next_id;
            // A burst of one, in the current epoch.
            let epoch = g.epoch();
            self.next_id += 1;
            let writer = self.nodes[i].incarnation;
            let node = &mut self.nodes[i];
            let group = node.group.as_mut().expect("checked");
            let mut links = SimLinks {
                sessions: &mut node.sessions,
                sent: Vec::new(),
            };
            let seq = group
                .write(
                    Chunk::serial(epoch, Bytes::copy_from_slice(&id.to_be_bytes())),
                    &mut links,
                )
                .map_err(|(why, _)| format!("n{i}'s group refused a write once settled: {why}"))?;
            let to = links.sent;
            self.group_ids.insert((writer, epoch.0, seq), id);
            self.group_written.insert(
                id,
                GroupWritten {
                    writer,
                    epoch,
                    seq,
                    members: wanted.iter().map(|j| *j as usize).collect(),
                    to,
                    outcome: None,
                },
            );
            self.group_stats.written = before + 1;
            fresh.push(id);
        }
        Ok(fresh)
    }
}

fn chunk_id(chunk: &Chunk) -> u64 {
    let mut id = [0u8; 8];
    id.copy_from_slice(&chunk.data[..8]);
    u64::from_be_bytes(id)
}

fn summarize(wire: &Wire) -> String {
    match wire {
        Wire::Hello(h) => format!("HELLO nonce {} {} record {:?}", h.nonce, h.epoch, h.record),
        Wire::Welcome(h) => format!(
            "WELCOME nonce {} {} record {:?}",
            h.nonce, h.epoch, h.record
        ),
        Wire::Chunk { epoch, seq, .. } => format!("CHUNK {epoch} seq {seq}"),
        Wire::GroupChunk {
            epoch, seq, tag, ..
        } => format!(
            "GCHUNK {epoch} seq {seq} group {} seq {}",
            tag.epoch, tag.seq
        ),
        Wire::Ack { epoch, seq } => format!("ACK {epoch} seq {seq}"),
        Wire::Refuse { code, text } => format!("REFUSE {code:?} {text}"),
    }
}

/// What the schedules exercised, so a run that tests nothing shows it.
#[derive(Debug, Default)]
struct Coverage {
    steps: u64,
    written: u64,
    delivered: u64,
    handed_back: BTreeMap<String, u64>,
    late_reports: u64,
    stale: u64,
    epochs: u64,
    dropped_unread: u64,
    groups: GroupStats,
}

fn run_schedule(seed: u64, coverage: &mut Coverage) -> Result<(), (Violation, String)> {
    let mut sim = Sim::new(seed);
    let steps = 100 + sim.rng.below(700);
    let result = (0..steps)
        .try_for_each(|_| sim.step())
        .and_then(|()| sim.settle());
    coverage.steps += sim.steps;
    coverage.written += sim.written.len() as u64;
    coverage.late_reports += sim.late_reports;
    let g = sim.group_stats;
    let c = &mut coverage.groups;
    c.written += g.written;
    c.delivered += g.delivered;
    c.handed_back += g.handed_back;
    c.taken += g.taken;
    c.epochs += g.epochs;
    c.left_lagging += g.left_lagging;
    c.left_link_down += g.left_link_down;
    c.left_refused += g.left_refused;
    c.joined_again += g.joined_again;
    for w in sim.written.values() {
        match w.outcome {
            Some(Outcome::Delivered) => coverage.delivered += 1,
            Some(Outcome::HandedBack(reason)) => {
                *coverage
                    .handed_back
                    .entry(format!("{reason:?}"))
                    .or_default() += 1;
            }
            None => {}
        }
    }
    for node in &sim.nodes {
        for s in node.sessions.values() {
            let stats = s.stats();
            coverage.stale += stats.stale;
            coverage.epochs += stats.epochs;
            coverage.dropped_unread += stats.dropped_unread;
        }
    }
    result.map_err(|violation| {
        let mut trace = String::new();
        for line in &sim.trace {
            let _ = writeln!(trace, "  {line}");
        }
        (violation, trace)
    })
}

fn trace_len() -> usize {
    env_u64("SIM_TRACE", 60) as usize
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn simulation() {
    // Panics are caught per schedule and counted; keep their output short.
    std::panic::set_hook(Box::new(|_| {}));
    let first = env_u64("SIM_SEED", 1);
    let schedules = env_u64("SIM_SCHEDULES", 2000);
    let mut violations = 0u64;
    let mut coverage = Coverage::default();
    for seed in first..first + schedules {
        // A panic in a session is a violation of its own, reported with
        // the seed like any other.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_schedule(seed, &mut coverage)
        }))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Err((format!("panicked: {what}"), String::new()))
        });
        if let Err((violation, trace)) = outcome {
            violations += 1;
            if violations <= 3 {
                eprintln!("seed {seed}: {violation}\nlast steps:\n{trace}");
            }
        }
    }
    println!("{coverage:?}");
    println!("schedules: {schedules}, violations: {violations}");
    assert_eq!(
        violations, 0,
        "rerun one with SIM_SEED=<seed> SIM_SCHEDULES=1"
    );
}
