//! Groups: one encoding for many peers. A group keeps its members' caches
//! in step, so one chunk serialized for the group goes, as the same
//! shared bytes, to every member's link. This is the writer's side, a
//! state machine with no I/O like the session: it queues on the members'
//! links through [`MemberLinks`], and takes back their outcomes
//! ([`GroupOutcome`], which each member's session reports from its own
//! ACKs and delivery record).
//!
//! ```text
//!                join / a member ready / a member gone
//!   (no epoch) ─────────────────────────────────────► Epoch(E, members M)
//!                                                       │ write(chunk of E): the same Bytes to
//!                                                       │ every member in M, sequence s of E
//!     a member past the lag cap, or its write refused ──┤ E ends (after this chunk):
//!     a member's link epoch ended (refresh) ────────────┤   Epoch(E+1, M - leavers), GroupEpoch
//!     wanted members ready (link up at version 3, owe   │
//!     nothing), and E has no chunk, is idle, or had     │
//!     rejoin_after_chunks; or E ends for a leaver ──────┘ E ends: Epoch(E+1, M + joiners),
//!                                                           GroupEpoch
//!   outcomes: per member per chunk (taken / handed back by its link),
//!   taken as one batch per driver round (note_outcome, finish_outcomes);
//!   per chunk, once every member reported: GroupDelivered, or
//!   GroupHandedBack naming the members that missed it
//! ```
//!
//! Lockstep: within a group epoch every member takes a gap-free, in-order
//! prefix of the same stream; a member that leaves early is named in the
//! hand-back of every chunk of the epoch it did not take. The rules and
//! bounds are in `docs/bridge-protocol.md` (Groups) and `docs/limits.md`.

mod links;
mod member;
mod miss;
mod order;
mod stream;
mod tag;

use std::collections::{BTreeMap, HashMap, VecDeque};

pub use links::{LinkState, MemberLinks};
pub use miss::{GroupMiss, GroupWriteRefused, LeaveReason};
pub(crate) use order::GroupOrder;
pub use order::MAX_GROUPS_PER_LINK;
pub use tag::{GroupId, GroupOutcome, GroupTag};

use crate::chunk::Chunk;
use crate::epoch::CacheEpoch;
use crate::event::{Event, PeerId};
use member::Member;
use stream::EpochStream;

/// How far a member may fall behind before it leaves the group epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupLimits {
    /// Most group chunks written to a member and without an outcome.
    pub max_lag_chunks: u64,
    /// Most bytes of them.
    pub max_lag_bytes: u64,
    /// A join ends the group epoch for every member (the serializer resets
    /// its group cache), so while chunks are in flight a wanted member
    /// that is ready waits to join until the epoch ends for another reason
    /// (a member leaves) or has had this many chunks written; then every
    /// ready member joins at once. It joins at once into an epoch with no
    /// chunk yet, a group with no member, or an idle group (every chunk
    /// has its outcome). 0: at once, always.
    pub rejoin_after_chunks: u64,
}

impl Default for GroupLimits {
    fn default() -> Self {
        GroupLimits {
            max_lag_chunks: 4096,
            max_lag_bytes: 64 << 20,
            rejoin_after_chunks: 256,
        }
    }
}

/// One group on the writing node.
#[derive(Debug)]
pub struct Group {
    id: GroupId,
    name: String,
    limits: GroupLimits,
    epoch: CacheEpoch,
    last_seq: u64,
    members: BTreeMap<String, Member>,
    by_peer: HashMap<PeerId, String>,
    /// Group epochs with chunks awaiting outcomes, oldest first.
    streams: VecDeque<EpochStream>,
    events: VecDeque<Event>,
    /// Outcomes noted for one member and not yet settled in its lag.
    settling: Option<SettleRun>,
}

/// Consecutive outcomes of one member, settled in its lag at once.
#[derive(Debug, Clone, Copy)]
struct SettleRun {
    peer: PeerId,
    chunks: u64,
    bytes: u64,
}

impl SettleRun {
    fn new(peer: PeerId, len: u64) -> Self {
        SettleRun {
            peer,
            chunks: 1,
            bytes: len,
        }
    }

    fn add(&mut self, len: u64) {
        self.chunks += 1;
        self.bytes += len;
    }
}

impl Group {
    /// A group of the peers called `members` (node names), with no epoch
    /// until [`Group::refresh`] finds one of them ready.
    pub fn new(
        id: GroupId,
        name: impl Into<String>,
        members: impl IntoIterator<Item = String>,
        limits: GroupLimits,
    ) -> Self {
        Group {
            id,
            name: name.into(),
            limits,
            epoch: CacheEpoch(0),
            last_seq: 0,
            members: members
                .into_iter()
                .map(|n| (n, Member::default()))
                .collect(),
            by_peer: HashMap::new(),
            streams: VecDeque::new(),
            events: VecDeque::new(),
            settling: None,
        }
    }

    /// Its id.
    pub fn id(&self) -> GroupId {
        self.id
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current group epoch (0 before the first).
    pub fn epoch(&self) -> CacheEpoch {
        self.epoch
    }

    /// The members of the current group epoch.
    pub fn members(&self) -> Vec<PeerId> {
        self.members
            .values()
            .filter(|m| m.is_in())
            .filter_map(|m| m.peer)
            .collect()
    }

    /// The wanted members' node names.
    pub fn wanted(&self) -> impl Iterator<Item = &str> {
        self.members.keys().map(String::as_str)
    }

    /// What the member called `node` owes: group chunks written to it
    /// without an outcome, and their bytes.
    pub fn lag(&self, node: &str) -> Option<(u64, u64)> {
        self.members
            .get(node)
            .map(|m| (m.owed_chunks, m.owed_bytes))
    }

    /// Chunks accepted and still waiting for their outcome.
    pub fn pending(&self) -> usize {
        self.streams.iter().map(EpochStream::len).sum()
    }

    /// Group epochs with chunks waiting for an outcome.
    pub fn open_epochs(&self) -> usize {
        self.streams.len()
    }

    /// Adds a wanted member; it joins at the next epoch it is ready for.
    pub fn add_member(&mut self, node: impl Into<String>) {
        self.members.entry(node.into()).or_default();
    }

    /// Re-reads the members' links: members whose link epoch ended leave;
    /// wanted members that are ready join. Either moves the group to a new
    /// epoch (and queues [`Event::GroupEpoch`]).
    pub fn refresh(&mut self, links: &dyn MemberLinks) {
        let mut left = Vec::new();
        let mut joining = false;
        self.settle_run();
        for (node, m) in &mut self.members {
            if let (Some(bound), Some(peer)) = (m.link, m.peer) {
                // A member in the epoch is checked by its peer id: no
                // lookup by name on every write.
                let same = links.link_of(peer).is_some_and(|l| l.epoch == Some(bound));
                if !same {
                    m.link = None;
                    left.push((peer, LeaveReason::LinkDown));
                }
            } else if !joining && links.link(node).is_some_and(|l| ready(m, l)) {
                joining = true;
            }
        }
        let joining = joining && self.admits_joiners();
        if !left.is_empty() || joining {
            self.next_epoch(links, left);
        }
    }

    /// Writes one chunk of the current group epoch to every member: the
    /// same bytes, shared. Its sequence in the group epoch; its outcome
    /// follows as [`Event::GroupDelivered`] or [`Event::GroupHandedBack`].
    /// A member past the lag cap, or whose link refuses the chunk, misses
    /// it and leaves: the group then moves to a new epoch.
    pub fn write(
        &mut self,
        chunk: Chunk,
        links: &mut dyn MemberLinks,
    ) -> Result<u64, (GroupWriteRefused, Chunk)> {
        self.refresh(links);
        if chunk.epoch != self.epoch || self.epoch == CacheEpoch(0) {
            let refused = GroupWriteRefused::StaleEpoch {
                chunk: chunk.epoch,
                current: self.epoch,
            };
            return Err((refused, chunk));
        }
        let len = chunk.len() as u64;
        if len > self.limits.max_lag_bytes {
            let refused = GroupWriteRefused::TooLarge {
                len,
                max: self.limits.max_lag_bytes,
            };
            return Err((refused, chunk));
        }
        if !self.members.values().any(Member::is_in) {
            return Err((GroupWriteRefused::NoMembers, chunk));
        }
        let seq = self.last_seq + 1;
        let tag = GroupTag {
            group: self.id,
            epoch: self.epoch,
            seq,
        };
        let mut outstanding = 0;
        let mut missed = Vec::new();
        let mut left = Vec::new();
        for m in self.members.values_mut() {
            let (true, Some(peer)) = (m.is_in(), m.peer) else {
                continue;
            };
            let why = if m.owed_chunks >= self.limits.max_lag_chunks
                || m.owed_bytes.saturating_add(len) > self.limits.max_lag_bytes
            {
                LeaveReason::Lagging {
                    chunks: m.owed_chunks,
                    bytes: m.owed_bytes,
                }
            } else {
                match links.send(peer, chunk.clone(), tag) {
                    Ok(_) => {
                        m.owe(len);
                        outstanding += 1;
                        continue;
                    }
                    Err(refused) => LeaveReason::Refused(refused),
                }
            };
            m.link = None;
            missed.push((peer, GroupMiss::Left(why.clone())));
            left.push((peer, why));
        }
        self.last_seq = seq;
        if self.streams.back().is_none_or(|s| s.epoch != self.epoch) {
            self.streams.push_back(EpochStream::new(self.epoch));
        }
        if let Some(stream) = self.streams.back_mut() {
            stream.push(chunk, outstanding, missed);
        }
        if !left.is_empty() {
            self.next_epoch(links, left);
        }
        self.resolve();
        Ok(seq)
    }

    /// A member's link reports its outcome for a group chunk.
    pub fn on_outcome(&mut self, outcome: GroupOutcome) {
        self.note_outcome(outcome);
        self.finish_outcomes();
    }

    /// Takes one of a batch of outcomes (an ACK settles many chunks of a
    /// member at once): the member's lag is settled and the chunks' events
    /// resolved once, by [`Group::finish_outcomes`], for the whole batch.
    /// Until then [`Group::lag`] and the events do not show the batch.
    pub fn note_outcome(&mut self, outcome: GroupOutcome) {
        if outcome.tag.group != self.id {
            return;
        }
        match &mut self.settling {
            Some(run) if run.peer == outcome.peer => run.add(outcome.len),
            _ => {
                self.settle_run();
                self.settling = Some(SettleRun::new(outcome.peer, outcome.len));
            }
        }
        let stream = match self.streams.back_mut() {
            Some(last) if last.epoch == outcome.tag.epoch => Some(last),
            _ => self
                .streams
                .iter_mut()
                .find(|s| s.epoch == outcome.tag.epoch),
        };
        if let Some(stream) = stream {
            stream.report(
                outcome.tag.seq,
                outcome.peer,
                outcome.missed.map(GroupMiss::Link),
            );
        }
    }

    /// Ends a batch of [`Group::note_outcome`]s: settles the lag of the
    /// last member reported and turns the settled chunks into events.
    pub fn finish_outcomes(&mut self) {
        self.settle_run();
        self.resolve();
    }

    /// Settles the member of the run of outcomes being noted.
    fn settle_run(&mut self) {
        let Some(run) = self.settling.take() else {
            return;
        };
        if let Some(m) = self
            .by_peer
            .get(&run.peer)
            .and_then(|node| self.members.get_mut(node))
        {
            m.settle_many(run.chunks, run.bytes);
        }
    }

    /// The next event of this group.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Events waiting for the application.
    pub fn unread_events(&self) -> usize {
        self.events.len()
    }

    /// Ends the epoch: binds every ready wanted member to its link and
    /// tells the caller the new epoch and membership.
    fn next_epoch(&mut self, links: &dyn MemberLinks, left: Vec<(PeerId, LeaveReason)>) {
        self.epoch = CacheEpoch(self.epoch.0.saturating_add(1));
        self.last_seq = 0;
        let leavers: Vec<PeerId> = left.iter().map(|(p, _)| *p).collect();
        for (node, m) in &mut self.members {
            if m.is_in() {
                continue;
            }
            let Some(l) = links.link(node) else {
                continue;
            };
            if leavers.contains(&l.peer) || !ready(m, l) {
                continue;
            }
            if let Some(old) = m.peer.replace(l.peer) {
                self.by_peer.remove(&old);
            }
            self.by_peer.insert(l.peer, node.clone());
            m.link = l.epoch;
        }
        let members = self.members();
        self.events.push_back(Event::GroupEpoch {
            group: self.id,
            epoch: self.epoch,
            members,
            left,
        });
    }

    /// Whether ready members may join now, ending the epoch: when that
    /// resets nothing (no chunk written in it, or nobody in it), when the
    /// group is idle (every chunk has its outcome), or once the epoch has
    /// had `rejoin_after_chunks` chunks.
    fn admits_joiners(&self) -> bool {
        self.last_seq == 0
            || self.last_seq >= self.limits.rejoin_after_chunks
            || !self.members.values().any(Member::is_in)
            || self.streams.iter().all(|s| s.len() == 0)
    }

    fn resolve(&mut self) {
        for stream in &mut self.streams {
            stream.resolve(self.id, &mut self.events);
        }
        let current = self.epoch;
        self.streams.retain(|s| s.len() > 0 || s.epoch == current);
    }
}

/// Whether a member out of the epoch may join: its link up with room and
/// speaking groups, and nothing of an earlier epoch still owed.
fn ready(m: &Member, link: LinkState) -> bool {
    link.epoch.is_some() && link.groups && !link.filling_up && m.owed_chunks == 0
}

#[cfg(test)]
mod tests;
