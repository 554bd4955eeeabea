//! The chunks of one group epoch still waiting for an outcome, in order.
//!
//! Each entry counts the members it was written to that have not reported
//! yet and lists those that missed it. Entries leave from the front once
//! every member has reported, as a [`Event::GroupDelivered`] (nobody
//! missed it) or a [`Event::GroupHandedBack`] naming who did; consecutive
//! entries with the same result share one event.

use std::collections::VecDeque;

use crate::chunk::Chunk;
use crate::epoch::CacheEpoch;
use crate::event::{Event, PeerId};
use crate::group::miss::GroupMiss;
use crate::group::tag::GroupId;

#[derive(Debug)]
struct Pending {
    chunk: Chunk,
    outstanding: usize,
    missed: Vec<(PeerId, GroupMiss)>,
}

/// One group epoch's chunks awaiting outcomes.
#[derive(Debug)]
pub(crate) struct EpochStream {
    pub(crate) epoch: CacheEpoch,
    /// The sequence of `queue[0]`.
    first_seq: u64,
    queue: VecDeque<Pending>,
}

impl EpochStream {
    pub(crate) fn new(epoch: CacheEpoch) -> Self {
        EpochStream {
            epoch,
            first_seq: 1,
            queue: VecDeque::new(),
        }
    }

    /// Chunks waiting.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Adds the next chunk (sequence `first_seq + len`), written to
    /// `outstanding` members, missed by `missed`.
    pub(crate) fn push(
        &mut self,
        chunk: Chunk,
        outstanding: usize,
        missed: Vec<(PeerId, GroupMiss)>,
    ) {
        self.queue.push_back(Pending {
            chunk,
            outstanding,
            missed,
        });
    }

    /// A member's outcome for `seq`; false if no such chunk waits.
    pub(crate) fn report(&mut self, seq: u64, peer: PeerId, missed: Option<GroupMiss>) -> bool {
        let Some(index) = seq
            .checked_sub(self.first_seq)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return false;
        };
        let Some(entry) = self.queue.get_mut(index) else {
            return false;
        };
        if entry.outstanding == 0 {
            return false;
        }
        entry.outstanding -= 1;
        if let Some(why) = missed {
            entry.missed.push((peer, why));
        }
        true
    }

    /// Moves the settled front entries out as outcome events.
    pub(crate) fn resolve(&mut self, group: GroupId, events: &mut VecDeque<Event>) {
        while self.queue.front().is_some_and(|e| e.outstanding == 0) {
            let Some(mut entry) = self.queue.pop_front() else {
                break;
            };
            let seq = self.first_seq;
            self.first_seq += 1;
            entry.missed.sort_by_key(|(peer, _)| *peer);
            push_outcome(events, group, self.epoch, seq, entry);
        }
    }
}

/// Appends one chunk's outcome, extending the last event when it is the
/// same kind of outcome for the previous sequence.
fn push_outcome(
    events: &mut VecDeque<Event>,
    group: GroupId,
    epoch: CacheEpoch,
    seq: u64,
    entry: Pending,
) {
    match events.back_mut() {
        Some(Event::GroupDelivered {
            group: g,
            epoch: e,
            through,
            ..
        }) if entry.missed.is_empty() && *g == group && *e == epoch && *through + 1 == seq => {
            *through = seq;
            return;
        }
        Some(Event::GroupHandedBack {
            group: g,
            epoch: e,
            first_seq,
            chunks,
            missed,
        }) if *g == group
            && *e == epoch
            && *first_seq + chunks.len() as u64 == seq
            && *missed == entry.missed =>
        {
            chunks.push(entry.chunk);
            return;
        }
        _ => {}
    }
    events.push_back(if entry.missed.is_empty() {
        Event::GroupDelivered {
            group,
            epoch,
            first_seq: seq,
            through: seq,
        }
    } else {
        Event::GroupHandedBack {
            group,
            epoch,
            first_seq: seq,
            chunks: vec![entry.chunk],
            missed: entry.missed,
        }
    });
}
