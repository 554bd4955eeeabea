//! The items of a [`crate::queue::Queue`], kept either in one line or in
//! one lane per link and taken from the lanes in turn: how a socket's
//! inbound queue fair-queues between its peers.
//!
//! ZMTP's receive side fair-queues (RFC 28, and libzmq's `fq_t`): with
//! messages waiting from several peers, a receive takes one message from
//! each peer in turn, so a busy peer cannot starve a quiet one. The links
//! share one inbound queue (one capacity, one lock per message); its items
//! are kept in [`Items::Fair`]: a lane per link key, and a ring of the
//! lanes that hold something, served front first, a served lane going to
//! the back while it still holds items.
//!
//! An emptied lane stays, idle, for its link's next items (at most
//! [`IDLE_MAX`] of them; past that it goes and its buffer serves the next
//! new lane), its buffer shrunk to [`SPARE_CAPACITY`]: a consumer that keeps
//! up costs no allocation and no lane set-up per message. Items are counted
//! once, whatever lane holds them: the queue's capacity bounds them all.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// What an emptied lane's buffer may keep for reuse, in items.
pub(crate) const SPARE_CAPACITY: usize = 64;

/// Emptied lanes kept for their links' next items.
pub(crate) const IDLE_MAX: usize = 16;

/// The link an item came from.
pub(crate) type LaneKey = u64;

/// A queue's items: in arrival order, or fair-queued between lanes.
#[derive(Debug)]
pub(crate) enum Items<T> {
    /// One line, in arrival order.
    Fifo(VecDeque<T>),
    /// One lane per link, taken in turn.
    Fair(Lanes<T>),
}

/// Items in lanes by the key `key` gives each item.
#[derive(Debug)]
pub(crate) struct Lanes<T> {
    key: fn(&T) -> LaneKey,
    /// Lanes by slot: queued (in `ring`), idle (in `index` only) or free.
    slots: Vec<Lane<T>>,
    /// Slots free for a new lane.
    free: Vec<usize>,
    /// The slot of each lane, queued or idle.
    index: HashMap<LaneKey, usize, BuildHasherDefault<KeyHasher>>,
    /// The slots holding items, the next one to serve first.
    ring: VecDeque<usize>,
    /// Lanes in `index` holding nothing.
    idle: usize,
    len: usize,
}

#[derive(Debug)]
struct Lane<T> {
    key: LaneKey,
    items: VecDeque<T>,
    /// In the ring (holding items).
    queued: bool,
}

/// Lane keys are the transport's own link numbers, not a peer's choice:
/// a multiplication spreads them well enough, at a fraction of SipHash's
/// cost.
#[derive(Debug, Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

impl<T> Lanes<T> {
    /// No lanes yet; items go to the lane `key` names.
    pub(crate) fn new(key: fn(&T) -> LaneKey) -> Self {
        Lanes {
            key,
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::default(),
            ring: VecDeque::new(),
            idle: 0,
            len: 0,
        }
    }

    /// The slot of `key`'s lane, put in the ring (at its back, or at its
    /// front with `front`) if it held nothing.
    fn lane_of(&mut self, key: LaneKey, front: bool) -> usize {
        let slot = match self.index.get(&key) {
            Some(&slot) => {
                if !self.slots[slot].queued {
                    self.idle -= 1;
                }
                slot
            }
            None => self.new_lane(key),
        };
        if !self.slots[slot].queued {
            self.slots[slot].queued = true;
            if front {
                self.ring.push_front(slot);
            } else {
                self.ring.push_back(slot);
            }
        }
        slot
    }

    /// A slot for `key`'s new lane, not yet queued.
    fn new_lane(&mut self, key: LaneKey) -> usize {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot].key = key;
                slot
            }
            None => {
                self.slots.push(Lane {
                    key,
                    items: VecDeque::new(),
                    queued: false,
                });
                self.slots.len() - 1
            }
        };
        self.index.insert(key, slot);
        slot
    }

    /// The lane in `slot` was emptied and left the ring: it stays idle
    /// for its link's next items if there is room for one more idle lane,
    /// and goes otherwise.
    fn park(&mut self, slot: usize) {
        let lane = &mut self.slots[slot];
        lane.queued = false;
        if lane.items.capacity() > SPARE_CAPACITY {
            lane.items.shrink_to(SPARE_CAPACITY);
        }
        if self.idle < IDLE_MAX {
            self.idle += 1;
        } else {
            self.release(slot);
        }
    }

    /// Frees the empty, unqueued, not idle lane in `slot`.
    fn release(&mut self, slot: usize) {
        let lane = &mut self.slots[slot];
        self.index.remove(&lane.key);
        if lane.items.capacity() > SPARE_CAPACITY {
            lane.items.shrink_to(SPARE_CAPACITY);
        }
        self.free.push(slot);
    }

    fn push_back(&mut self, item: T) {
        let slot = self.lane_of((self.key)(&item), false);
        self.slots[slot].items.push_back(item);
        self.len += 1;
    }

    /// Puts `item` back at the front of its lane, and its lane at the
    /// front of the ring: it is the next item taken.
    fn push_front(&mut self, item: T) {
        let key = (self.key)(&item);
        let slot = self.lane_of(key, true);
        if self.ring.front() != Some(&slot)
            && let Some(at) = self.ring.iter().position(|&s| s == slot)
        {
            self.ring.remove(at);
            self.ring.push_front(slot);
        }
        self.slots[slot].items.push_front(item);
        self.len += 1;
    }

    /// The front lane's front item; that lane then goes to the back of the
    /// ring, or leaves it if emptied.
    fn pop_front(&mut self) -> Option<T> {
        let &slot = self.ring.front()?;
        let item = self.slots[slot].items.pop_front();
        debug_assert!(item.is_some(), "a lane in the ring holds items");
        self.len -= 1;
        if self.slots[slot].items.is_empty() {
            self.ring.pop_front();
            self.park(slot);
        } else if self.ring.len() > 1 {
            self.ring.rotate_left(1);
        }
        item
    }

    /// Moves every item into `out` in the order they would be taken; one
    /// lane alone is handed over by swapping buffers when `out` is empty.
    fn take_all(&mut self, out: &mut VecDeque<T>) {
        if self.ring.len() == 1 && out.is_empty() {
            let slot = self.ring[0];
            std::mem::swap(&mut self.slots[slot].items, out);
            self.ring.clear();
            self.len = 0;
            self.park(slot);
            return;
        }
        while let Some(item) = self.pop_front() {
            out.push_back(item);
        }
    }

    /// Moves the front `n` of `batch` into their lanes, a run of one key
    /// at a time; a whole batch of one key for a lane holding nothing is
    /// handed over by swapping buffers (`batch` gets the lane's empty one).
    fn push_batch(&mut self, batch: &mut VecDeque<T>, n: usize) {
        let mut left = n;
        while let Some(first) = batch.front().map(self.key) {
            if left == 0 {
                break;
            }
            let run = batch
                .iter()
                .take(left)
                .take_while(|item| (self.key)(item) == first)
                .count();
            let slot = self.lane_of(first, false);
            let lane = &mut self.slots[slot].items;
            if lane.is_empty() && run == batch.len() {
                std::mem::swap(lane, batch);
            } else {
                lane.extend(batch.drain(..run));
            }
            self.len += run;
            left -= run;
        }
    }

    /// Takes the items of `key`'s lane out of the queue.
    fn remove_lane(&mut self, key: LaneKey) -> VecDeque<T> {
        let Some(&slot) = self.index.get(&key) else {
            return VecDeque::new();
        };
        let items = std::mem::take(&mut self.slots[slot].items);
        self.len -= items.len();
        if self.slots[slot].queued {
            self.slots[slot].queued = false;
            if let Some(at) = self.ring.iter().position(|&s| s == slot) {
                self.ring.remove(at);
            }
        } else {
            self.idle -= 1;
        }
        self.release(slot);
        items
    }

    /// The items in the order they would be taken: round by round, one
    /// from each lane in ring order (taking rotates a lane to the back and
    /// drops emptied ones, which keeps this order).
    fn iter(&self) -> FairIter<'_, T> {
        FairIter {
            lanes: self,
            round: 0,
            at: 0,
            found_in_round: false,
        }
    }
}

/// [`Lanes::iter`].
pub(crate) struct FairIter<'a, T> {
    lanes: &'a Lanes<T>,
    round: usize,
    at: usize,
    found_in_round: bool,
}

impl<'a, T> Iterator for FairIter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        let ring = &self.lanes.ring;
        loop {
            if self.at == ring.len() {
                if !self.found_in_round {
                    return None;
                }
                self.round += 1;
                self.at = 0;
                self.found_in_round = false;
            }
            let lane = &self.lanes.slots[ring[self.at]].items;
            self.at += 1;
            if let Some(item) = lane.get(self.round) {
                self.found_in_round = true;
                return Some(item);
            }
        }
    }
}

/// Either kind's iterator.
pub(crate) enum ItemsIter<'a, T> {
    Fifo(std::collections::vec_deque::Iter<'a, T>),
    Fair(FairIter<'a, T>),
}

impl<'a, T> Iterator for ItemsIter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        match self {
            ItemsIter::Fifo(it) => it.next(),
            ItemsIter::Fair(it) => it.next(),
        }
    }
}

impl<T> Items<T> {
    /// How many items are held.
    pub(crate) fn len(&self) -> usize {
        match self {
            Items::Fifo(items) => items.len(),
            Items::Fair(lanes) => lanes.len,
        }
    }

    /// Whether nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues `item` last (last of its lane).
    pub(crate) fn push_back(&mut self, item: T) {
        match self {
            Items::Fifo(items) => items.push_back(item),
            Items::Fair(lanes) => lanes.push_back(item),
        }
    }

    /// Puts `item` back to be taken next.
    pub(crate) fn push_front(&mut self, item: T) {
        match self {
            Items::Fifo(items) => items.push_front(item),
            Items::Fair(lanes) => lanes.push_front(item),
        }
    }

    /// Takes the next item.
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        match self {
            Items::Fifo(items) => items.pop_front(),
            Items::Fair(lanes) => lanes.pop_front(),
        }
    }

    /// Drops every item.
    pub(crate) fn clear(&mut self) {
        match self {
            Items::Fifo(items) => items.clear(),
            Items::Fair(lanes) => while lanes.pop_front().is_some() {},
        }
    }

    /// The items in the order they would be taken.
    pub(crate) fn iter(&self) -> ItemsIter<'_, T> {
        match self {
            Items::Fifo(items) => ItemsIter::Fifo(items.iter()),
            Items::Fair(lanes) => ItemsIter::Fair(lanes.iter()),
        }
    }

    /// Moves the next `n` items to the back of `out`; all of them (when
    /// `out` is empty) by swapping buffers where the items allow.
    pub(crate) fn take_front(&mut self, n: usize, out: &mut VecDeque<T>) {
        match self {
            Items::Fifo(items) => {
                if out.is_empty() && n == items.len() {
                    std::mem::swap(items, out);
                } else {
                    out.extend(items.drain(..n));
                }
            }
            Items::Fair(lanes) => {
                if n == lanes.len {
                    lanes.take_all(out);
                } else {
                    for _ in 0..n {
                        out.extend(lanes.pop_front());
                    }
                }
            }
        }
    }

    /// Moves the front `n` items of `batch` in (`n` at most its length);
    /// a whole batch into an empty queue by swapping buffers where the
    /// items allow.
    pub(crate) fn push_batch(&mut self, batch: &mut VecDeque<T>, n: usize) {
        match self {
            Items::Fifo(items) => {
                if items.is_empty() && n == batch.len() {
                    std::mem::swap(items, batch);
                } else {
                    items.extend(batch.drain(..n));
                }
            }
            Items::Fair(lanes) => lanes.push_batch(batch, n),
        }
    }

    /// How many items the lane `key` holds (every item, in one line).
    pub(crate) fn lane_len(&self, key: LaneKey) -> usize {
        match self {
            Items::Fifo(items) => items.len(),
            Items::Fair(lanes) => lanes
                .index
                .get(&key)
                .map_or(0, |&slot| lanes.slots[slot].items.len()),
        }
    }

    /// Takes out what the lane `key` holds (nothing from one line).
    pub(crate) fn remove_lane(&mut self, key: LaneKey) -> VecDeque<T> {
        match self {
            Items::Fifo(_) => VecDeque::new(),
            Items::Fair(lanes) => lanes.remove_lane(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Items are (lane, number).
    fn fair() -> Items<(u64, u32)> {
        Items::Fair(Lanes::new(|item| item.0))
    }

    fn drain(items: &mut Items<(u64, u32)>) -> Vec<(u64, u32)> {
        std::iter::from_fn(|| items.pop_front()).collect()
    }

    #[test]
    fn lanes_are_served_in_turn_one_item_each() {
        let mut items = fair();
        for i in 0..3 {
            items.push_back((1, i));
        }
        items.push_back((2, 0));
        items.push_back((3, 0));
        items.push_back((2, 1));
        let order: Vec<_> = items.iter().copied().collect();
        let taken = drain(&mut items);
        assert_eq!(taken, [(1, 0), (2, 0), (3, 0), (1, 1), (2, 1), (1, 2)]);
        assert_eq!(order, taken, "iter shows the order pops take");
        assert!(items.is_empty());
    }

    #[test]
    fn a_lane_that_empties_rejoins_at_the_back() {
        let mut items = fair();
        items.push_back((1, 0));
        items.push_back((2, 0));
        items.push_back((2, 1));
        assert_eq!(items.pop_front(), Some((1, 0)));
        items.push_back((1, 1));
        assert_eq!(drain(&mut items), [(2, 0), (1, 1), (2, 1)]);
    }

    #[test]
    fn what_is_put_back_comes_next() {
        let mut items = fair();
        items.push_back((1, 0));
        items.push_back((2, 0));
        items.push_back((2, 1));
        let mut out = VecDeque::new();
        items.take_front(2, &mut out);
        assert_eq!(out, [(1, 0), (2, 0)]);
        while let Some(item) = out.pop_back() {
            items.push_front(item);
        }
        assert_eq!(drain(&mut items), [(1, 0), (2, 0), (2, 1)]);
    }

    #[test]
    fn batches_keep_their_lane_and_a_lone_lane_is_swapped_whole() {
        let mut items = fair();
        let mut batch: VecDeque<_> = [(5, 0), (5, 1)].into();
        items.push_batch(&mut batch, 2);
        assert!(batch.is_empty());
        let mut batch: VecDeque<_> = [(6, 0), (5, 2), (6, 1)].into();
        items.push_batch(&mut batch, 2);
        assert_eq!(batch, [(6, 1)]);
        assert_eq!(items.len(), 4);
        let mut out = VecDeque::new();
        items.take_front(4, &mut out);
        assert_eq!(out, [(5, 0), (6, 0), (5, 1), (5, 2)]);
        let mut batch: VecDeque<_> = [(7, 0), (7, 1)].into();
        items.push_batch(&mut batch, 2);
        out.clear();
        items.take_front(2, &mut out);
        assert_eq!(out, [(7, 0), (7, 1)]);
    }

    #[test]
    fn a_dropped_lane_goes_whole_and_the_others_stay() {
        let mut items = fair();
        items.push_back((1, 0));
        items.push_back((2, 0));
        items.push_back((1, 1));
        assert_eq!(items.remove_lane(1), [(1, 0), (1, 1)]);
        assert!(items.remove_lane(9).is_empty());
        assert_eq!(items.len(), 1);
        assert_eq!(drain(&mut items), [(2, 0)]);
    }

    #[test]
    fn emptied_lanes_leave_their_buffers_for_the_next_and_shrink_them() {
        let Items::Fair(mut lanes) = fair() else {
            unreachable!()
        };
        for key in 0..1000 {
            for i in 0..100 {
                lanes.push_back((key, i));
            }
            while lanes.pop_front().is_some() {}
        }
        assert!(lanes.slots.len() <= IDLE_MAX + 1, "idle lanes are bounded");
        assert_eq!(lanes.index.len(), IDLE_MAX);
        for lane in &lanes.slots {
            assert!(lane.items.capacity() <= SPARE_CAPACITY.next_power_of_two());
        }
        assert!(lanes.ring.is_empty());
        // An idle lane is the same lane when its link sends again.
        lanes.push_back((999, 0));
        lanes.push_back((1, 0));
        assert_eq!(lanes.pop_front(), Some((999, 0)));
        assert_eq!(lanes.remove_lane(1), [(1, 0)]);
        assert_eq!(lanes.index.len(), IDLE_MAX, "999 idle, 1 gone");
    }
}
