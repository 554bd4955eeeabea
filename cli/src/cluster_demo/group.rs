//! `cluster-demo --groups`: the manager broadcasts its state to every
//! worker as one group ("state") instead of one unicast stream per worker,
//! so each state chunk is serialized once, whatever the number of workers.
//!
//! The manager's side ([`GroupOut`]) writes at the broadcast rate into the
//! group's current epoch, follows `GroupEpoch` events (a worker killed or
//! lagging leaves, the group moves on; it rejoins at a later epoch), and
//! books every chunk's outcome. A worker's side ([`GroupIn`]) checks that
//! the group chunks it takes come in order, without gaps, within each group
//! epoch. At the end the manager reports the encodings saved: each group
//! write stands for one unicast encoding per member it went to.

use std::collections::HashMap;

use serializer_bridge::{
    CacheEpoch, Chunk, GroupId, GroupWriteRefused, MessageType, PeerId, PeerManager,
};

use super::payload::Payload;

/// The group's name.
pub const GROUP: &str = "state";

/// The manager's books of its group.
#[derive(Debug, Default)]
pub struct GroupOut {
    pub(super) id: Option<GroupId>,
    tokens: f64,
    /// The group epoch the events announced last.
    epoch: CacheEpoch,
    /// The last sequence written in it.
    seq: u64,
    next_item: u64,
    /// Chunks written (one encoding each).
    pub(super) written: u64,
    /// Encodings per-worker unicast writes would have taken: one per
    /// member each group chunk went to.
    pub(super) unicast_equivalent: u64,
    pub(super) delivered: u64,
    pub(super) handed_back: u64,
    pub(super) epochs: u64,
}

/// What went wrong, for the ledger.
pub type Problem = String;

impl GroupOut {
    /// A new group epoch: serialize from an empty group cache.
    pub fn new_epoch(&mut self, epoch: CacheEpoch) {
        self.epoch = epoch;
        self.seq = 0;
        self.epochs += 1;
    }

    /// Writes what the rate allows into the group; whether it wrote, and a
    /// problem if a write broke the rules.
    pub fn write_some(
        &mut self,
        bridge: &PeerManager,
        rate: f64,
        dt: f64,
        draining: bool,
        incarnation: u16,
        chunk_size: usize,
    ) -> (bool, Option<Problem>) {
        self.tokens = if draining {
            0.0
        } else {
            (self.tokens + rate * dt).min(rate / 4.0 + 1.0)
        };
        let Some(id) = self.id else {
            return (false, None);
        };
        let mut wrote = false;
        while self.tokens >= 1.0 && self.epoch.0 > 0 {
            let Some((now, members)) = bridge.group_epoch(id) else {
                break;
            };
            if now != self.epoch || members.is_empty() {
                break;
            }
            let expected = self.seq + 1;
            let payload = Payload {
                incarnation,
                kind: MessageType::Serial.code(),
                epoch: self.epoch.0,
                seq: expected,
                item: self.next_item,
            };
            let chunk = Chunk::serial(self.epoch, payload.encode(chunk_size));
            match bridge.write_group(id, chunk) {
                Ok(seq) => {
                    self.seq = seq;
                    self.tokens -= 1.0;
                    self.next_item += 1;
                    self.written += 1;
                    self.unicast_equivalent += members.len() as u64;
                    wrote = true;
                    if seq != expected {
                        let problem = format!("group write got seq {seq}, expected {expected}");
                        return (wrote, Some(problem));
                    }
                }
                // A new epoch (its event follows), or nobody to write to.
                Err((GroupWriteRefused::StaleEpoch { .. } | GroupWriteRefused::NoMembers, _)) => {
                    break;
                }
                Err((refused, _)) => {
                    return (wrote, Some(format!("group write refused: {refused}")));
                }
            }
        }
        (wrote, None)
    }

    /// The closing line: what was written and what it saved; a problem if
    /// a chunk has no outcome.
    pub fn report(&self, node: &str) -> (String, Option<Problem>) {
        let saved = self.unicast_equivalent.saturating_sub(self.written);
        let line = format!(
            "{node}: groups: {} state chunks serialized once each for the group instead of {} \
             per-worker encodings ({saved} encodings saved); {} delivered to every member, {} handed \
             back naming the members that missed them; {} group epochs",
            self.written, self.unicast_equivalent, self.delivered, self.handed_back, self.epochs
        );
        let owed = self.written - self.delivered.min(self.written);
        let problem = (self.delivered + self.handed_back != self.written).then(|| {
            format!(
                "group: {} written, {} delivered, {} handed back ({owed} without an outcome)",
                self.written, self.delivered, self.handed_back
            )
        });
        (line, problem)
    }
}

/// A worker's books of the group chunks it takes.
#[derive(Debug, Default)]
pub struct GroupIn {
    next: HashMap<(PeerId, GroupId), (CacheEpoch, u64)>,
    /// Group chunks taken.
    pub(super) taken: u64,
}

impl GroupIn {
    /// Takes group chunk `seq` of group epoch `epoch`; a problem if it is
    /// out of its group's order or not what its payload says.
    pub fn take(
        &mut self,
        peer: PeerId,
        group: GroupId,
        epoch: CacheEpoch,
        seq: u64,
        chunk: &Chunk,
    ) -> Option<Problem> {
        self.taken += 1;
        let entry = self.next.entry((peer, group)).or_insert((epoch, 1));
        if epoch > entry.0 {
            *entry = (epoch, 1);
        }
        let (now, expected) = *entry;
        entry.1 += 1;
        if epoch != now || seq != expected {
            return Some(format!(
                "group chunk {seq} of {epoch}, expected {expected} of {now}"
            ));
        }
        match Payload::decode(&chunk.data) {
            Some(p) if p.epoch == epoch.0 && p.seq == seq => None,
            _ => Some(format!(
                "group chunk {seq} of {epoch} is not the one written"
            )),
        }
    }
}
