//! A bounded queue that moves items in batches: the pipes between a socket
//! and its links.
//!
//! A general-purpose channel costs a semaphore operation and a wake-up per
//! item. Here one lock moves a whole batch: a link's engine drains every
//! queued message with one [`Queue::poll_take`] and hands a decode batch's
//! worth of received messages over with one [`Queue::push_batch`]. Waiters
//! are woken only when something they wait for changes: consumers when the
//! queue stops being empty, producers when it stops being full.
//!
//! Any number of producers and consumers may use one queue. Closing it
//! wakes everyone; consumers still get what was queued before the close.
//!
//! A *conflating* queue (`ZMQ_CONFLATE`, [`Queue::conflating`]) holds one
//! item and is never full: a push replaces what is queued.
//!
//! A *fair* queue ([`Queue::fair`], a socket's inbound queue) keeps its
//! items in one lane per link and hands them out one from each lane in
//! turn ([`crate::lanes`]); the others keep arrival order.
//!
//! Two things serve inproc links only (`inproc.rs`). A pipe may have a
//! *bypass* ([`Queue::set_bypass`]): while it is empty and nothing taken
//! from it is still on its way, a push goes straight to the bypass (the
//! receiving socket's inbound queue), so a reader sees at once what its
//! inproc peer sent, as libzmq's does. And an inbound queue tells inproc
//! writers of its reads in steps, as a libzmq reader tells its writer:
//! once every half capacity's worth ([`Queue::try_push_lagging`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};

use crate::lanes::{Items, LaneKey, Lanes};

/// Why an item could not be pushed; the item comes back.
#[derive(Debug)]
pub(crate) enum PushError<T> {
    /// The queue is at its capacity.
    Full(T),
    /// The queue is closed.
    Closed(T),
}

impl<T> PushError<T> {
    pub(crate) fn into_inner(self) -> T {
        match self {
            PushError::Full(t) | PushError::Closed(t) => t,
        }
    }
}

#[derive(Debug)]
struct Inner<T> {
    items: Items<T>,
    closed: bool,
    consumers: Vec<Waker>,
    producers: Vec<Waker>,
    /// Items taken off the queue so far (a count kept under the lock, so
    /// it costs no atomic operation of its own), including those a
    /// conflating queue replaced.
    taken: u64,
    /// Items a conflating queue replaced with newer ones.
    replaced: u64,
    /// Items a consumer took and has not yet said it finished with
    /// ([`Queue::finished`]): an inproc link's items on their way.
    in_transit: usize,
    /// What the queued items weigh (only counted with a byte capacity).
    bytes: usize,
    /// `taken` when inproc writers last learnt of the reads
    /// ([`Queue::lagging_room_in`]).
    reported: u64,
}

/// Where a pipe's pushes go while the pipe is empty: an inproc link's
/// receiving socket. Called under the pipe's lock, so nothing else enters
/// or leaves the pipe meanwhile; the item comes back if it cannot go.
pub(crate) trait Bypass<T>: Send + Sync + std::fmt::Debug {
    /// Delivers `item`, or hands it back to wait in the pipe.
    fn deliver(&self, item: T) -> Result<(), T>;
}

/// A bounded multi-producer, multi-consumer queue with batch operations.
#[derive(Debug)]
pub(crate) struct Queue<T> {
    inner: Mutex<Inner<T>>,
    /// Changed only under `inner`'s lock ([`Queue::set_capacity`]), so
    /// reads under it need no ordering of their own.
    capacity: AtomicUsize,
    /// Pushes replace the queued item instead of waiting for room.
    conflate: bool,
    /// The queue is full once its items weigh this much (`usize::MAX`:
    /// only the count matters, and nothing is weighed).
    byte_capacity: usize,
    weigh: fn(&T) -> usize,
    /// Where pushes to an empty pipe go instead ([`Queue::set_bypass`]).
    bypass: OnceLock<Arc<dyn Bypass<T>>>,
}

fn register(list: &mut Vec<Waker>, waker: &Waker) {
    if !list.iter().any(|w| w.will_wake(waker)) {
        list.push(waker.clone());
    }
}

/// Queues `item` at the back; the consumers to wake if it is the only one.
#[inline]
fn push_back<T>(inner: &mut Inner<T>, item: T) -> Woken {
    inner.items.push_back(item);
    if inner.items.len() == 1 {
        Woken::take(&mut inner.consumers)
    } else {
        Woken::default()
    }
}

/// Waiters taken off a list under the queue's lock, woken once it is
/// released. A wake-up from outside the runtime is a system call (the
/// runtime's eventfd write, a parked thread's futex wake), a point where a
/// loaded machine preempts the caller: made under the lock, the other side
/// of the queue then sleeps on the lock until the caller runs again
/// (`perf record -e context-switches` of libzmq's `remote_thr` over the
/// drop-in: 27% of the I/O thread's switches were waits on a pipe's lock).
/// The common one or two waiters move without touching the list's
/// allocation.
#[must_use]
#[derive(Default)]
struct Woken {
    first: Option<Waker>,
    second: Option<Waker>,
    rest: Vec<Waker>,
}

impl Woken {
    fn take(list: &mut Vec<Waker>) -> Self {
        let first = list.pop();
        let second = list.pop();
        let rest = if list.is_empty() {
            Vec::new()
        } else {
            std::mem::take(list)
        };
        Woken {
            first,
            second,
            rest,
        }
    }

    fn wake(self) {
        for waker in self.first.into_iter().chain(self.second).chain(self.rest) {
            waker.wake();
        }
    }
}

/// Wakes and forgets every waiter. Done under the queue's lock: waking a
/// task only schedules it, and keeping the list's allocation avoids one per
/// wake-up.
fn wake_all(list: &mut Vec<Waker>) {
    for waker in list.drain(..) {
        waker.wake();
    }
}

impl<T> Queue<T> {
    /// A queue holding at most `capacity` items (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        Queue::weighing(capacity, None, |_| 0)
    }

    /// A queue holding at most `capacity` items and, with `bytes`, taking
    /// no more once its items weigh that much by `weigh` (the item that
    /// crosses the mark is taken: one item always fits an empty queue).
    pub(crate) fn weighing(capacity: usize, bytes: Option<usize>, weigh: fn(&T) -> usize) -> Self {
        Queue::holding(Items::Fifo(VecDeque::new()), capacity, bytes, weigh)
    }

    /// [`Queue::weighing`], its items fair-queued between the lanes `key`
    /// names ([`crate::lanes`]): takes serve the lanes in turn.
    pub(crate) fn fair(
        capacity: usize,
        bytes: Option<usize>,
        weigh: fn(&T) -> usize,
        key: fn(&T) -> LaneKey,
    ) -> Self {
        Queue::holding(Items::Fair(Lanes::new(key)), capacity, bytes, weigh)
    }

    fn holding(
        items: Items<T>,
        capacity: usize,
        bytes: Option<usize>,
        weigh: fn(&T) -> usize,
    ) -> Self {
        Queue {
            inner: Mutex::new(Inner {
                items,
                closed: false,
                consumers: Vec::new(),
                producers: Vec::new(),
                taken: 0,
                replaced: 0,
                in_transit: 0,
                bytes: 0,
                reported: 0,
            }),
            capacity: AtomicUsize::new(capacity.max(1)),
            conflate: false,
            byte_capacity: bytes.unwrap_or(usize::MAX),
            weigh,
            bypass: OnceLock::new(),
        }
    }

    fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Changes the capacity (at least 1): items beyond a lowered one stay
    /// and drain; producers waiting for room are woken if it grew. A
    /// conflating queue keeps its one item.
    pub(crate) fn set_capacity(&self, capacity: usize) {
        if self.conflate {
            return;
        }
        let mut inner = self.lock();
        let old = self.capacity.swap(capacity.max(1), Ordering::Relaxed);
        if capacity > old {
            wake_all(&mut inner.producers);
        }
    }

    /// A queue that keeps only the newest item: a push replaces what is
    /// queued, so it is never full.
    pub(crate) fn conflating() -> Self {
        Queue {
            conflate: true,
            ..Queue::new(1)
        }
    }

    /// Whether one more item can be pushed now, for a conflating queue
    /// after dropping the one it replaces.
    #[inline]
    fn make_room(&self, inner: &mut Inner<T>) -> bool {
        if self.conflate {
            let n = inner.items.len() as u64;
            inner.items.clear();
            inner.bytes = 0;
            inner.taken += n;
            inner.replaced += n;
        }
        self.room_in(inner) > 0
    }

    /// Items a conflating queue replaced with newer ones.
    pub(crate) fn replaced(&self) -> u64 {
        self.lock().replaced
    }

    /// [`Queue::poll_take`], the items moved counted as in transit until
    /// the consumer calls [`Queue::finished`] for them: under the queue's
    /// lock, so [`Queue::holds_or_moves`] never misses an item between
    /// the queue and its next place.
    pub(crate) fn poll_take_in_transit(
        &self,
        cx: &mut Context<'_>,
        out: &mut VecDeque<T>,
        max: usize,
    ) -> Poll<usize> {
        let mut inner = self.lock();
        let n = max.min(inner.items.len());
        if n > 0 {
            inner.items.take_front(n, out);
            let bytes = self.weight_of(out.iter().rev().take(n));
            self.after_take(&mut inner, n, bytes);
            inner.in_transit += n;
            return Poll::Ready(n);
        }
        if inner.closed {
            return Poll::Ready(0);
        }
        register(&mut inner.consumers, cx.waker());
        Poll::Pending
    }

    /// The consumer is done with `n` items it took in transit.
    pub(crate) fn finished(&self, n: usize) {
        let mut inner = self.lock();
        // Items in transit count against the capacity (`room_in`).
        let was_full = self.room_in(&inner) == 0;
        inner.in_transit = inner.in_transit.saturating_sub(n);
        if was_full {
            wake_all(&mut inner.producers);
        }
    }

    /// Whether items are queued or in transit.
    pub(crate) fn holds_or_moves(&self) -> bool {
        let inner = self.lock();
        !inner.items.is_empty() || inner.in_transit > 0
    }

    /// Whether items are weighed at all.
    #[inline]
    fn weighs(&self) -> bool {
        self.byte_capacity != usize::MAX
    }

    /// What `items` weigh (0 without a byte capacity).
    fn weight_of<'a>(&self, items: impl IntoIterator<Item = &'a T>) -> usize
    where
        T: 'a,
    {
        if !self.weighs() {
            return 0;
        }
        items.into_iter().map(self.weigh).sum()
    }

    /// How many more items fit, under the lock. Items a consumer took in
    /// transit still count (an inproc pipe holds them until they are in
    /// the receiving socket's queue).
    #[inline]
    fn room_in(&self, inner: &Inner<T>) -> usize {
        if inner.bytes >= self.byte_capacity {
            return 0;
        }
        self.capacity()
            .saturating_sub(inner.items.len() + inner.in_transit)
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        // Nothing here panics while holding the lock; tolerate poison anyway.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues one item, or hands it back.
    pub(crate) fn try_push(&self, item: T) -> Result<(), PushError<T>> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(PushError::Closed(item));
        }
        let Some(item) = self.bypassed(&inner, item) else {
            return Ok(());
        };
        if !self.make_room(&mut inner) {
            return Err(PushError::Full(item));
        }
        inner.bytes += self.weight_of([&item]);
        let woken = push_back(&mut inner, item);
        drop(inner);
        woken.wake();
        Ok(())
    }

    /// Queues the item `make` builds if there is room, calling it only
    /// then: the caller's value moves once, straight into the queue.
    /// `false` if the queue is full or closed.
    pub(crate) fn try_push_with(&self, make: impl FnOnce() -> T) -> bool {
        let mut inner = self.lock();
        if inner.closed {
            return false;
        }
        if self.bypass_open(&inner) {
            // An empty queue always has room for the item if the bypass
            // hands it back.
            let Some(item) = self.bypassed(&inner, make()) else {
                return true;
            };
            self.make_room(&mut inner);
            inner.bytes += self.weight_of([&item]);
            let woken = push_back(&mut inner, item);
            drop(inner);
            woken.wake();
            return true;
        }
        if !self.make_room(&mut inner) {
            return false;
        }
        let item = make();
        inner.bytes += self.weight_of([&item]);
        let woken = push_back(&mut inner, item);
        drop(inner);
        woken.wake();
        true
    }

    /// Moves as many items from the front of `items` as there is room for;
    /// returns the room left after them (0 on a closed queue, where
    /// nothing moves).
    pub(crate) fn push_batch(&self, items: &mut VecDeque<T>) -> usize {
        let mut inner = self.lock();
        if inner.closed {
            return 0;
        }
        if self.conflate {
            // Only the newest of the batch stays.
            if let Some(newest) = items.pop_back() {
                let older = items.len() as u64;
                items.clear();
                inner.taken += older;
                inner.replaced += older;
                self.make_room(&mut inner);
                inner.bytes += self.weight_of([&newest]);
                let woken = push_back(&mut inner, newest);
                drop(inner);
                woken.wake();
            }
            return 1;
        }
        let room = self.room_in(&inner);
        let n = room.min(items.len());
        if n == 0 {
            return room;
        }
        let was_empty = inner.items.is_empty();
        if self.weighs() {
            // One at a time, until the count or the weight is reached.
            let mut moved = 0;
            while moved < n && inner.bytes < self.byte_capacity {
                let Some(item) = items.pop_front() else {
                    break;
                };
                inner.bytes += (self.weigh)(&item);
                inner.items.push_back(item);
                moved += 1;
            }
            let room = self.room_in(&inner);
            if was_empty {
                let woken = Woken::take(&mut inner.consumers);
                drop(inner);
                woken.wake();
            }
            return room;
        }
        // A consumer keeping up finds the queue empty each time: the whole
        // batch is handed over by swapping buffers instead of moving every
        // item (the caller gets the emptied buffer back).
        inner.items.push_batch(items, n);
        if was_empty {
            let woken = Woken::take(&mut inner.consumers);
            drop(inner);
            woken.wake();
        }
        room - n
    }

    /// Ready(true) when there is room, Ready(false) when closed; otherwise
    /// the task is woken when room appears.
    pub(crate) fn poll_room(&self, cx: &mut Context<'_>) -> Poll<bool> {
        let mut inner = self.lock();
        if inner.closed {
            return Poll::Ready(false);
        }
        if self.conflate || self.room_in(&inner) > 0 {
            return Poll::Ready(true);
        }
        register(&mut inner.producers, cx.waker());
        Poll::Pending
    }

    /// Waits for room, then pushes; the item comes back if the queue closes.
    pub(crate) async fn push(&self, item: T) -> Result<(), T> {
        let mut item = Some(item);
        std::future::poll_fn(|cx| {
            let Some(it) = item.take() else {
                return Poll::Ready(Ok(()));
            };
            match self.try_push(it) {
                Ok(()) => Poll::Ready(Ok(())),
                Err(PushError::Closed(it)) => Poll::Ready(Err(it)),
                Err(PushError::Full(it)) => match self.poll_room(cx) {
                    Poll::Ready(false) => Poll::Ready(Err(it)),
                    _ => {
                        // Room may have appeared between the two locks; the
                        // waker is registered either way, so try again on wake.
                        item = Some(it);
                        if self.has_room() {
                            cx.waker().wake_by_ref();
                        }
                        Poll::Pending
                    }
                },
            }
        })
        .await
    }

    /// Takes the front item if there is one.
    pub(crate) fn try_pop(&self) -> Option<T> {
        let mut inner = self.lock();
        let item = inner.items.pop_front()?;
        let bytes = self.weight_of([&item]);
        self.after_take(&mut inner, 1, bytes);
        Some(item)
    }

    /// As [`Queue::poll_pop`], with `f` applied to the item before the
    /// queue's lock is released.
    pub(crate) fn poll_pop_map<R>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(T) -> R,
    ) -> Poll<Option<R>> {
        let mut inner = self.lock();
        if let Some(item) = inner.items.pop_front() {
            let bytes = self.weight_of([&item]);
            self.after_take(&mut inner, 1, bytes);
            return Poll::Ready(Some(f(item)));
        }
        if inner.closed {
            return Poll::Ready(None);
        }
        register(&mut inner.consumers, cx.waker());
        Poll::Pending
    }

    /// A position the queue will have been taken past once every item
    /// now in the lane `key` is gone: in one line, the items taken so far
    /// and those waiting (the position the next pushed item will have).
    /// Fair-queued, the lane is served once a turn, and a turn takes at
    /// most one item from each lane holding some, so at most as many as
    /// the queue can hold: its capacity, twice over for what a
    /// [`Queue::give_back`] returns beyond it.
    pub(crate) fn position_past_lane(&self, key: LaneKey) -> u64 {
        let inner = self.lock();
        match inner.items {
            Items::Fifo(_) => inner.taken + inner.items.len() as u64,
            Items::Fair(_) => {
                let turns = inner.items.lane_len(key) as u64;
                let per_turn = 2 * self.capacity().max(inner.items.len()) as u64;
                inner.taken.saturating_add(turns.saturating_mul(per_turn))
            }
        }
    }

    /// Ready(Some) with the front item, Ready(None) once closed and empty;
    /// otherwise the task is woken when an item arrives.
    pub(crate) fn poll_pop(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.poll_pop_map(cx, |item| item)
    }

    /// Moves items from the front into `out` until `max` moved or their
    /// `weight`s add up to `budget` (at least one moves): Ready(n > 0),
    /// Ready(0) once closed and empty, or Pending (woken when items arrive).
    /// When everything queued goes and `out` is empty, the two buffers are
    /// swapped instead of moving items.
    pub(crate) fn poll_take(
        &self,
        cx: &mut Context<'_>,
        out: &mut VecDeque<T>,
        max: usize,
        budget: usize,
        weight: impl Fn(&T) -> usize,
    ) -> Poll<usize> {
        let mut inner = self.lock();
        let mut n = 0;
        let mut total = 0;
        for item in inner.items.iter() {
            if n == max || (n > 0 && total >= budget) {
                break;
            }
            total += weight(item);
            n += 1;
        }
        if n > 0 {
            let bytes = self.weight_of(inner.items.iter().take(n));
            inner.items.take_front(n, out);
            self.after_take(&mut inner, n, bytes);
            return Poll::Ready(n);
        }
        if inner.closed {
            return Poll::Ready(0);
        }
        register(&mut inner.consumers, cx.waker());
        Poll::Pending
    }

    /// Moves up to `max` items from the front into `out` (which should be
    /// empty: when everything queued goes, the two buffers are swapped)
    /// and shows them to `inspect` before the lock is released, so a
    /// reader can look up what they refer to in the same step as taking
    /// them. Ready(true) if items moved, Ready(false) once closed and
    /// empty; otherwise Pending, with `cx`'s waker (if any) woken when
    /// items arrive.
    pub(crate) fn poll_take_inspecting(
        &self,
        cx: Option<&mut Context<'_>>,
        out: &mut VecDeque<T>,
        max: usize,
        inspect: impl FnOnce(&VecDeque<T>),
    ) -> Poll<bool> {
        let mut inner = self.lock();
        let n = inner.items.len().min(max);
        if n == 0 {
            if inner.closed {
                return Poll::Ready(false);
            }
            if let Some(cx) = cx {
                register(&mut inner.consumers, cx.waker());
            }
            return Poll::Pending;
        }
        let whole = n == inner.items.len();
        inner.items.take_front(n, out);
        let bytes = if whole {
            inner.bytes
        } else {
            self.weight_of(out.iter().rev().take(n))
        };
        inspect(out);
        self.after_take(&mut inner, n, bytes);
        Poll::Ready(true)
    }

    /// Puts items taken with [`Queue::poll_take_inspecting`] and not used back in
    /// front, in order, whatever the capacity (they were in the queue
    /// before) and even if it has closed since.
    pub(crate) fn give_back(&self, items: &mut VecDeque<T>) {
        if items.is_empty() {
            return;
        }
        let mut inner = self.lock();
        let n = items.len() as u64;
        inner.taken = inner.taken.saturating_sub(n);
        inner.reported = inner.reported.min(inner.taken);
        inner.bytes += self.weight_of(items.iter());
        let was_empty = inner.items.is_empty();
        while let Some(item) = items.pop_back() {
            inner.items.push_front(item);
        }
        if was_empty {
            wake_all(&mut inner.consumers);
        }
    }

    /// Drops what the lane `key` holds (a fair queue's; nothing from
    /// another), counted as taken; how many items went.
    pub(crate) fn drop_lane(&self, key: LaneKey) -> usize {
        let mut inner = self.lock();
        let dropped = inner.items.remove_lane(key);
        let n = dropped.len();
        if n > 0 {
            let bytes = self.weight_of(dropped.iter());
            self.after_take(&mut inner, n, bytes);
        }
        n
    }

    /// How many items have been taken off the queue.
    pub(crate) fn taken(&self) -> u64 {
        self.lock().taken
    }

    /// Counts `n` items weighing `bytes` taken and wakes producers if the
    /// queue was full.
    fn after_take(&self, inner: &mut Inner<T>, n: usize, bytes: usize) {
        inner.taken += n as u64;
        let mut was_full =
            inner.items.len() + n >= self.capacity() || inner.bytes >= self.byte_capacity;
        inner.bytes -= bytes.min(inner.bytes);
        if inner.taken - inner.reported >= low_water_mark(self.capacity()) as u64 {
            // Inproc writers learn of the reads now (`lagging_room_in`).
            inner.reported = inner.taken;
            was_full = true;
        }
        if was_full {
            wake_all(&mut inner.producers);
        }
    }

    /// Refuses further pushes and wakes everyone. Items already queued can
    /// still be taken.
    pub(crate) fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        wake_all(&mut inner.consumers);
        wake_all(&mut inner.producers);
    }

    /// Items queued now.
    pub(crate) fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().items.is_empty()
    }

    /// Whether one more item fits.
    pub(crate) fn has_room(&self) -> bool {
        self.room() > 0
    }

    /// How many more items fit now (0 once closed).
    pub(crate) fn room(&self) -> usize {
        let inner = self.lock();
        if inner.closed {
            return 0;
        }
        if self.conflate {
            return 1;
        }
        self.room_in(&inner)
    }
}

/// libzmq's low-water mark for a pipe of `hwm` messages (`compute_lwm` in
/// 4.3): its reader tells the writer of its reads once per this many.
fn low_water_mark(hwm: usize) -> usize {
    hwm.div_ceil(2)
}

/// What inproc links add: the bypass of an empty pipe, and the inbound
/// queue's room as inproc writers see it.
impl<T> Queue<T> {
    /// Sends pushes to `bypass` whenever the queue is empty and nothing
    /// taken from it is on its way (so nothing is overtaken). Set once.
    pub(crate) fn set_bypass(&self, bypass: Arc<dyn Bypass<T>>) {
        let _set_once = self.bypass.set(bypass);
    }

    /// Whether a push now would be offered to the bypass.
    fn bypass_open(&self, inner: &Inner<T>) -> bool {
        inner.items.is_empty() && inner.in_transit == 0 && self.bypass.get().is_some()
    }

    /// Offers `item` to the bypass if it is open: `None` if it went there.
    fn bypassed(&self, inner: &Inner<T>, item: T) -> Option<T> {
        match self.bypass.get() {
            Some(bypass) if self.bypass_open(inner) => bypass.deliver(item).err(),
            _ => Some(item),
        }
    }

    /// The room inproc writers see: the items taken since the reads were
    /// last reported ([`low_water_mark`]) still count, as a libzmq writer
    /// counts what its reader has not told it of.
    fn lagging_room_in(&self, inner: &Inner<T>) -> usize {
        if self.conflate {
            return 1;
        }
        // Never a whole low-water mark's worth: one more read reports
        // them, and an empty queue has room even after its capacity was
        // lowered below what is unreported.
        let unreported = usize::try_from(inner.taken - inner.reported)
            .unwrap_or(usize::MAX)
            .min(low_water_mark(self.capacity()) - 1);
        self.room_in(inner).saturating_sub(unreported)
    }

    /// Queues the item `make` builds if [`Queue::lagging_room_in`] has
    /// room, calling it only then; `make` may decline (`None`: nothing is
    /// queued, and that counts as done). `Err` if full or closed.
    pub(crate) fn try_push_lagging_with(
        &self,
        make: impl FnOnce() -> Option<T>,
    ) -> Result<(), PushError<()>> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(PushError::Closed(()));
        }
        if self.lagging_room_in(&inner) == 0 {
            return Err(PushError::Full(()));
        }
        if let Some(item) = make() {
            self.make_room(&mut inner);
            inner.bytes += self.weight_of([&item]);
            let woken = push_back(&mut inner, item);
            drop(inner);
            woken.wake();
        }
        Ok(())
    }

    /// Moves as many items from the front of `items` as
    /// [`Queue::lagging_room_in`] allows; false once closed.
    pub(crate) fn push_batch_lagging(&self, items: &mut VecDeque<T>) -> bool {
        let mut inner = self.lock();
        if inner.closed {
            return false;
        }
        let was_empty = inner.items.is_empty();
        let room = self.lagging_room_in(&inner);
        if self.conflate || self.weighs() {
            // One at a time: each may replace the last, or weigh enough
            // to fill the queue.
            while self.lagging_room_in(&inner) > 0 {
                let Some(item) = items.pop_front() else {
                    break;
                };
                self.make_room(&mut inner);
                inner.bytes += self.weight_of([&item]);
                inner.items.push_back(item);
            }
        } else {
            // The whole batch into an empty queue swaps the buffers.
            let n = room.min(items.len());
            inner.items.push_batch(items, n);
        }
        if was_empty && !inner.items.is_empty() {
            let woken = Woken::take(&mut inner.consumers);
            drop(inner);
            woken.wake();
        }
        true
    }

    /// Ready(true) when [`Queue::lagging_room_in`] has room, Ready(false)
    /// when closed; otherwise the task is woken when the reads are
    /// reported or room appears.
    pub(crate) fn poll_room_lagging(&self, cx: &mut Context<'_>) -> Poll<bool> {
        let mut inner = self.lock();
        if inner.closed {
            return Poll::Ready(false);
        }
        if self.lagging_room_in(&inner) > 0 {
            return Poll::Ready(true);
        }
        register(&mut inner.producers, cx.waker());
        Poll::Pending
    }
}

/// The sending end of a one-owner pipe: dropping it closes the pipe.
#[derive(Debug)]
pub(crate) struct PipeTx<T>(Arc<Queue<T>>);

/// The receiving end of a pipe: dropping it closes the pipe, so senders
/// see `Closed` rather than filling a queue nobody reads.
#[derive(Debug)]
pub(crate) struct PipeRx<T>(Arc<Queue<T>>);

/// A pipe of `capacity` items.
pub(crate) fn pipe<T>(capacity: usize) -> (PipeTx<T>, PipeRx<T>) {
    let queue = Arc::new(Queue::new(capacity));
    (PipeTx(queue.clone()), PipeRx(queue))
}

/// A pipe that keeps only the newest item ([`Queue::conflating`]).
pub(crate) fn conflating_pipe<T>() -> (PipeTx<T>, PipeRx<T>) {
    let queue = Arc::new(Queue::conflating());
    (PipeTx(queue.clone()), PipeRx(queue))
}

impl<T> PipeRx<T> {
    /// The queue, without keeping it alive (a watcher's view).
    pub(crate) fn downgrade(&self) -> std::sync::Weak<Queue<T>> {
        Arc::downgrade(&self.0)
    }
}

impl<T> PipeTx<T> {
    /// Queues one item, or hands it back.
    pub(crate) fn try_send(&self, item: T) -> Result<(), PushError<T>> {
        self.0.try_push(item)
    }

    /// The queue itself, for a holder that pushes without owning the pipe
    /// (its closing stays with this `PipeTx`).
    pub(crate) fn queue(&self) -> &Arc<Queue<T>> {
        &self.0
    }

    /// Queues what `make` builds if there is room (see
    /// [`Queue::try_push_with`]).
    pub(crate) fn try_send_with(&self, make: impl FnOnce() -> T) -> bool {
        self.0.try_push_with(make)
    }

    /// Whether one more item fits.
    pub(crate) fn has_room(&self) -> bool {
        self.0.has_room()
    }
}

impl<T> Drop for PipeTx<T> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// The receiving end takes items as the queue does ([`Queue::poll_take`],
/// [`Queue::len`], ...); only its dropping differs.
impl<T> std::ops::Deref for PipeRx<T> {
    type Target = Queue<T>;

    fn deref(&self) -> &Queue<T> {
        &self.0
    }
}

impl<T> Drop for PipeRx<T> {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conflating_queue_keeps_the_newest_and_is_never_full() {
        let q: Queue<u32> = Queue::conflating();
        for i in 0..5 {
            assert!(q.try_push(i).is_ok());
            assert!(q.has_room());
        }
        let mut batch: VecDeque<u32> = (10..20).collect();
        assert_eq!(q.push_batch(&mut batch), 1);
        assert!(batch.is_empty());
        assert!(q.try_push_with(|| 20));
        assert_eq!(q.try_pop(), Some(20));
        assert_eq!(q.try_pop(), None);
        assert_eq!(q.replaced(), 15);
        assert_eq!(q.taken(), 16, "replaced items count as gone");
        assert_eq!(q.position_past_lane(0), 16);
        q.close();
        assert!(q.try_push(1).is_err());
    }
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    #[test]
    fn a_byte_capacity_fills_the_queue_by_weight_and_frees_as_items_go() {
        let q: Queue<usize> = Queue::weighing(100, Some(10), |n| *n);
        let mut batch: VecDeque<usize> = [4, 4, 4, 4].into();
        // 4 + 4 < 10, the third crosses the mark and is taken: full.
        assert_eq!(q.push_batch(&mut batch), 0);
        assert_eq!((q.len(), batch.len()), (3, 1));
        assert!(matches!(q.try_push(1), Err(PushError::Full(1))));
        assert_eq!(q.try_pop(), Some(4));
        assert_eq!(q.room(), 98);
        let mut out = VecDeque::new();
        assert_eq!(
            q.poll_take_inspecting(None, &mut out, 10, |_| ()),
            Poll::Ready(true)
        );
        assert_eq!((out.len(), q.room()), (2, 100));
        q.give_back(&mut out);
        assert_eq!(q.room(), 98);
        assert!(q.try_push(3).is_ok());
        // 4 + 4 + 3 = 11: full again.
        assert_eq!(q.room(), 0);
        // One item always fits an empty queue, however heavy.
        let q: Queue<usize> = Queue::weighing(100, Some(10), |n| *n);
        assert!(q.try_push(1000).is_ok());
        assert_eq!(q.room(), 0);
    }

    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Waker, Arc<Counter>) {
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        (Waker::from(counter.clone()), counter)
    }

    /// A queue of `capacity` holding 1 to `n`.
    fn holding(capacity: usize, n: u32) -> Queue<u32> {
        let q = Queue::new(capacity);
        for i in 1..=n {
            q.try_push(i).unwrap();
        }
        q
    }

    /// A bypass that takes what `open` lets through, as an inproc link's
    /// receiving socket does while it has room.
    #[derive(Debug, Default)]
    struct Catcher {
        open: std::sync::atomic::AtomicBool,
        caught: Mutex<Vec<u32>>,
    }

    impl Bypass<u32> for Catcher {
        fn deliver(&self, item: u32) -> Result<(), u32> {
            if !self.open.load(Ordering::SeqCst) {
                return Err(item);
            }
            self.caught.lock().unwrap().push(item);
            Ok(())
        }
    }

    #[test]
    fn an_empty_pipe_hands_pushes_to_its_bypass_and_nothing_overtakes() {
        let q: Queue<u32> = Queue::new(2);
        let catcher = Arc::new(Catcher::default());
        q.set_bypass(catcher.clone());
        catcher.open.store(true, Ordering::SeqCst);
        assert!(q.try_push(1).is_ok());
        assert!(q.try_push_with(|| 2));
        assert_eq!((q.len(), q.room()), (0, 2));
        // The bypass refuses: items wait, and later ones queue behind them
        // even once it would take them.
        catcher.open.store(false, Ordering::SeqCst);
        assert!(q.try_push(3).is_ok());
        catcher.open.store(true, Ordering::SeqCst);
        assert!(q.try_push_with(|| 4));
        assert!(matches!(q.try_push(5), Err(PushError::Full(5))));
        // Taken in transit, they still hold their places and keep the
        // bypass shut until the consumer is done with them.
        let mut cx = Context::from_waker(Waker::noop());
        let mut out = VecDeque::new();
        assert_eq!(
            q.poll_take_in_transit(&mut cx, &mut out, 10),
            Poll::Ready(2)
        );
        assert_eq!(out, [3, 4]);
        assert!(matches!(q.try_push(5), Err(PushError::Full(5))));
        q.finished(1);
        assert!(q.try_push(5).is_ok());
        assert_eq!(q.try_pop(), Some(5));
        q.finished(1);
        assert!(q.try_push(6).is_ok());
        assert_eq!(*catcher.caught.lock().unwrap(), [1, 2, 6]);
    }

    #[test]
    fn inproc_writers_learn_of_reads_every_half_capacity() {
        let q: Queue<u32> = Queue::new(4);
        let push = |i| q.try_push_lagging_with(|| Some(i)).is_ok();
        assert!((1..=4).all(push));
        assert!(!push(5));
        let (w, woken) = waker();
        let mut cx = Context::from_waker(&w);
        assert_eq!(q.poll_room_lagging(&mut cx), Poll::Pending);
        // One read is not reported yet (libzmq's low-water mark: 2 of 4),
        // though the queue has room for others.
        assert_eq!(q.try_pop(), Some(1));
        assert_eq!(q.room(), 1);
        assert!(!push(5));
        assert_eq!(q.poll_room_lagging(&mut cx), Poll::Pending);
        let before = woken.0.load(Ordering::SeqCst);
        // The second is, with both: room for two, and the writer woken.
        assert_eq!(q.try_pop(), Some(2));
        assert_eq!(woken.0.load(Ordering::SeqCst), before + 1);
        assert_eq!(q.poll_room_lagging(&mut cx), Poll::Ready(true));
        let mut batch: VecDeque<u32> = (5..=7).collect();
        assert!(q.push_batch_lagging(&mut batch));
        assert_eq!((q.len(), batch.len()), (4, 1));
        // A writer that declines to queue anything still counts as done.
        assert_eq!(q.try_pop(), Some(3));
        assert_eq!(q.try_pop(), Some(4));
        assert!(q.try_push_lagging_with(|| None).is_ok());
        assert_eq!(q.len(), 2);
        // Reads not yet reported never stop a writer at an empty queue,
        // even one whose capacity was lowered below them.
        let q: Queue<u32> = Queue::new(10);
        assert!((1..=4).all(|i| q.try_push_lagging_with(|| Some(i)).is_ok()));
        while q.try_pop().is_some() {}
        q.set_capacity(1);
        assert!(q.try_push_lagging_with(|| Some(5)).is_ok());
    }

    #[test]
    fn bounded_with_items_handed_back() {
        let q = Queue::new(2);
        q.try_push(1).unwrap();
        q.try_push(2).unwrap();
        assert!(matches!(q.try_push(3), Err(PushError::Full(3))));
        let mut batch: VecDeque<i32> = (4..10).collect();
        assert_eq!(q.push_batch(&mut batch), 0);
        assert_eq!(batch.len(), 6);
        assert_eq!(q.try_pop(), Some(1));
        assert_eq!(q.push_batch(&mut batch), 0);
        assert_eq!(batch.front(), Some(&5));
        q.close();
        assert!(matches!(q.try_push(9), Err(PushError::Closed(9))));
        assert_eq!(q.try_pop(), Some(2));
        assert_eq!(q.try_pop(), Some(4));
        assert_eq!(q.try_pop(), None);
    }

    #[test]
    fn capacity_changes_keep_items_and_wake_producers_when_it_grows() {
        let q = holding(3, 3);
        let (w, woken) = waker();
        let mut cx = Context::from_waker(&w);
        assert_eq!(q.poll_room(&mut cx), Poll::Pending);
        q.set_capacity(1);
        assert_eq!(woken.0.load(Ordering::SeqCst), 0);
        assert_eq!(q.len(), 3);
        assert_eq!(q.try_pop(), Some(1));
        assert!(matches!(q.try_push(9), Err(PushError::Full(9))));
        q.set_capacity(4);
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);
        assert_eq!(q.room(), 2);
    }

    #[test]
    fn take_stops_at_the_count_or_the_weight_and_swaps_whole_queues() {
        let q = holding(100, 10);
        let mut cx = Context::from_waker(Waker::noop());
        let mut out = VecDeque::new();
        // Count first: 3 items.
        assert_eq!(
            q.poll_take(&mut cx, &mut out, 3, usize::MAX, |_| 0),
            Poll::Ready(3)
        );
        assert_eq!(out, [1, 2, 3]);
        // Weight: items are taken until their weights reach the budget
        // (4 + 5 = 9 < 10, then 6 brings it to 15).
        out.clear();
        let weight = |i: &u32| *i as usize;
        assert_eq!(
            q.poll_take(&mut cx, &mut out, 100, 10, weight),
            Poll::Ready(3)
        );
        assert_eq!(out, [4, 5, 6]);
        // At least one item moves, whatever its weight.
        out.clear();
        assert_eq!(
            q.poll_take(&mut cx, &mut out, 100, 1, |_| 1000),
            Poll::Ready(1)
        );
        assert_eq!(out, [7]);
        // The rest fits: taken whole.
        out.clear();
        assert_eq!(
            q.poll_take(&mut cx, &mut out, 100, usize::MAX, weight),
            Poll::Ready(3)
        );
        assert_eq!(out, [8, 9, 10]);
        assert_eq!(q.taken(), 10);
    }

    #[test]
    fn what_is_given_back_comes_first_and_counts_as_never_taken() {
        let q = holding(3, 3);
        let mut cx = Context::from_waker(Waker::noop());
        let mut held = VecDeque::new();
        let mut seen = 0;
        let took = q.poll_take_inspecting(Some(&mut cx), &mut held, 10, |b| seen = b.len());
        assert_eq!((took, seen), (Poll::Ready(true), 3));
        assert_eq!(held.pop_front(), Some(1));
        q.try_push(4).unwrap();
        q.give_back(&mut held);
        assert!(held.is_empty());
        assert_eq!(q.taken(), 1);
        assert_eq!(q.try_pop(), Some(2));
        assert_eq!(q.try_pop(), Some(3));
        assert_eq!(q.try_pop(), Some(4));
        q.close();
        let took = q.poll_take_inspecting(Some(&mut cx), &mut held, 10, |_| ());
        assert_eq!(took, Poll::Ready(false));
    }

    #[test]
    fn a_bounded_take_moves_at_most_max_and_waits_only_with_a_context() {
        let q = holding(10, 5);
        let mut out = VecDeque::new();
        let took = q.poll_take_inspecting(None, &mut out, 2, |b| assert_eq!(b, &[1, 2]));
        assert_eq!((took, q.len()), (Poll::Ready(true), 3));
        out.clear();
        assert_eq!(
            q.poll_take_inspecting(None, &mut out, 9, |_| ()),
            Poll::Ready(true)
        );
        assert_eq!(out, [3, 4, 5]);
        assert_eq!(q.taken(), 5);
        // Empty: Pending, and with a context woken when items come.
        out.clear();
        assert!(
            q.poll_take_inspecting(None, &mut out, 9, |_| ())
                .is_pending()
        );
        q.try_push(6).unwrap();
        let (w, woken) = waker();
        let mut cx = Context::from_waker(&w);
        assert_eq!(q.try_pop(), Some(6));
        assert!(
            q.poll_take_inspecting(Some(&mut cx), &mut out, 9, |_| ())
                .is_pending()
        );
        q.try_push(7).unwrap();
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);
    }

    /// A waker that records whether the queue's lock was free when it ran.
    struct LockProbe {
        queue: std::sync::Weak<Queue<u32>>,
        woken_unlocked: AtomicUsize,
    }

    impl Wake for LockProbe {
        fn wake(self: Arc<Self>) {
            let free = self
                .queue
                .upgrade()
                .is_some_and(|q| q.inner.try_lock().is_ok());
            if free {
                self.woken_unlocked.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    #[test]
    fn consumers_are_woken_after_the_lock_is_released() {
        let q = Arc::new(Queue::new(4));
        let probe = Arc::new(LockProbe {
            queue: Arc::downgrade(&q),
            woken_unlocked: AtomicUsize::new(0),
        });
        let waker = Waker::from(probe.clone());
        let mut cx = Context::from_waker(&waker);
        let mut out = VecDeque::new();
        assert!(
            q.poll_take_inspecting(Some(&mut cx), &mut out, 9, |_| ())
                .is_pending()
        );
        q.try_push(1).unwrap();
        assert_eq!(probe.woken_unlocked.load(Ordering::SeqCst), 1);
        assert_eq!(q.try_pop(), Some(1));
        assert!(
            q.poll_take_inspecting(Some(&mut cx), &mut out, 9, |_| ())
                .is_pending()
        );
        let mut batch: VecDeque<u32> = [2, 3].into();
        q.push_batch(&mut batch);
        assert_eq!(probe.woken_unlocked.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn consumers_woken_when_items_arrive_producers_when_room_appears() {
        let q = Queue::new(1);
        let (consumer, woken) = waker();
        let mut cx = Context::from_waker(&consumer);
        let mut out = VecDeque::new();
        assert!(
            q.poll_take(&mut cx, &mut out, 10, usize::MAX, |_| 0)
                .is_pending()
        );
        q.try_push(1).unwrap();
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);

        let (producer, room) = waker();
        let mut cx = Context::from_waker(&producer);
        assert!(q.poll_room(&mut cx).is_pending());
        assert_eq!(
            q.poll_take(&mut cx, &mut out, 10, usize::MAX, |_| 0),
            Poll::Ready(1)
        );
        assert_eq!(room.0.load(Ordering::SeqCst), 1);
        assert_eq!(out, [1]);
        q.close();
        assert_eq!(
            q.poll_take(&mut cx, &mut out, 10, usize::MAX, |_| 0),
            Poll::Ready(0)
        );
        assert!(matches!(q.poll_pop(&mut cx), Poll::Ready(None)));
    }
}
