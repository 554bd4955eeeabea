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

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

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
    items: VecDeque<T>,
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
}

fn register(list: &mut Vec<Waker>, waker: &Waker) {
    if !list.iter().any(|w| w.will_wake(waker)) {
        list.push(waker.clone());
    }
}

/// Queues `item` at the back, waking consumers if it is the only one.
#[inline]
fn push_back<T>(inner: &mut Inner<T>, item: T) {
    inner.items.push_back(item);
    if inner.items.len() == 1 {
        wake_all(&mut inner.consumers);
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
        Queue {
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                closed: false,
                consumers: Vec::new(),
                producers: Vec::new(),
                taken: 0,
                replaced: 0,
                in_transit: 0,
                bytes: 0,
            }),
            capacity: AtomicUsize::new(capacity.max(1)),
            conflate: false,
            byte_capacity: bytes.unwrap_or(usize::MAX),
            weigh,
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
            if out.is_empty() && n == inner.items.len() {
                std::mem::swap(&mut inner.items, out);
            } else {
                out.extend(inner.items.drain(..n));
            }
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
        inner.in_transit = inner.in_transit.saturating_sub(n);
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

    /// How many more items fit, under the lock.
    #[inline]
    fn room_in(&self, inner: &Inner<T>) -> usize {
        if inner.bytes >= self.byte_capacity {
            return 0;
        }
        self.capacity().saturating_sub(inner.items.len())
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
        if !self.make_room(&mut inner) {
            return Err(PushError::Full(item));
        }
        inner.bytes += self.weight_of([&item]);
        push_back(&mut inner, item);
        Ok(())
    }

    /// Queues the item `make` builds if there is room, calling it only
    /// then: the caller's value moves once, straight into the queue.
    /// `false` if the queue is full or closed.
    pub(crate) fn try_push_with(&self, make: impl FnOnce() -> T) -> bool {
        let mut inner = self.lock();
        if inner.closed || !self.make_room(&mut inner) {
            return false;
        }
        let item = make();
        inner.bytes += self.weight_of([&item]);
        push_back(&mut inner, item);
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
                push_back(&mut inner, newest);
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
            if was_empty {
                wake_all(&mut inner.consumers);
            }
            return self.room_in(&inner);
        }
        if was_empty && n == items.len() {
            // A consumer keeping up finds the queue empty each time: hand
            // over the whole batch by swapping buffers instead of moving
            // every item (the caller gets the emptied buffer back).
            std::mem::swap(&mut inner.items, items);
        } else {
            inner.items.extend(items.drain(..n));
        }
        if was_empty {
            wake_all(&mut inner.consumers);
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

    /// Items taken so far and items waiting: the position the next pushed
    /// item will have.
    pub(crate) fn end_position(&self) -> u64 {
        let inner = self.lock();
        inner.taken + inner.items.len() as u64
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
            if out.is_empty() && n == inner.items.len() {
                std::mem::swap(&mut inner.items, out);
            } else {
                out.extend(inner.items.drain(..n));
            }
            self.after_take(&mut inner, n, bytes);
            return Poll::Ready(n);
        }
        if inner.closed {
            return Poll::Ready(0);
        }
        register(&mut inner.consumers, cx.waker());
        Poll::Pending
    }

    /// Moves every queued item into `out` (which should be empty: the two
    /// buffers are swapped, whatever their length): Ready(true) if items
    /// moved, Ready(false) once closed and empty, or Pending (woken when
    /// items arrive).
    pub(crate) fn poll_take_all(&self, cx: &mut Context<'_>, out: &mut VecDeque<T>) -> Poll<bool> {
        let mut inner = self.lock();
        match self.take_all(&mut inner, out) {
            Some(moved) => Poll::Ready(moved),
            None => {
                register(&mut inner.consumers, cx.waker());
                Poll::Pending
            }
        }
    }

    /// [`Queue::poll_take_all`] without waiting: `Some(true)` if items
    /// moved, `Some(false)` once closed and empty, `None` if empty.
    pub(crate) fn try_take_all(&self, out: &mut VecDeque<T>) -> Option<bool> {
        let mut inner = self.lock();
        self.take_all(&mut inner, out)
    }

    /// The two take-alls' common part, under the lock.
    fn take_all(&self, inner: &mut Inner<T>, out: &mut VecDeque<T>) -> Option<bool> {
        let n = inner.items.len();
        if n > 0 {
            std::mem::swap(&mut inner.items, out);
            let bytes = inner.bytes;
            self.after_take(inner, n, bytes);
            return Some(true);
        }
        inner.closed.then_some(false)
    }

    /// Puts items taken with [`Queue::poll_take_all`] and not used back in
    /// front, in order, whatever the capacity (they were in the queue
    /// before) and even if it has closed since.
    pub(crate) fn give_back(&self, items: &mut VecDeque<T>) {
        if items.is_empty() {
            return;
        }
        let mut inner = self.lock();
        let n = items.len() as u64;
        inner.taken = inner.taken.saturating_sub(n);
        inner.bytes += self.weight_of(items.iter());
        let was_empty = inner.items.is_empty();
        while let Some(item) = items.pop_back() {
            inner.items.push_front(item);
        }
        if was_empty {
            wake_all(&mut inner.consumers);
        }
    }

    /// How many items have been taken off the queue.
    pub(crate) fn taken(&self) -> u64 {
        self.lock().taken
    }

    /// Counts `n` items weighing `bytes` taken and wakes producers if the
    /// queue was full.
    fn after_take(&self, inner: &mut Inner<T>, n: usize, bytes: usize) {
        inner.taken += n as u64;
        let was_full =
            inner.items.len() + n >= self.capacity() || inner.bytes >= self.byte_capacity;
        inner.bytes -= bytes.min(inner.bytes);
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
        assert_eq!(q.end_position(), 16);
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
        assert_eq!(q.try_take_all(&mut out), Some(true));
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
        assert_eq!(q.poll_take_all(&mut cx, &mut held), Poll::Ready(true));
        assert_eq!(held.pop_front(), Some(1));
        q.try_push(4).unwrap();
        q.give_back(&mut held);
        assert!(held.is_empty());
        assert_eq!(q.taken(), 1);
        assert_eq!(q.try_pop(), Some(2));
        assert_eq!(q.try_pop(), Some(3));
        assert_eq!(q.try_pop(), Some(4));
        q.close();
        assert_eq!(q.poll_take_all(&mut cx, &mut held), Poll::Ready(false));
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
