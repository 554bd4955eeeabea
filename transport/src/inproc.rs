//! `inproc://`: sockets of this process joined by in-memory pipes, with no
//! ZMTP encoding at all.
//!
//! Binding registers the socket under its name in its [`InprocDomain`].
//! Connecting joins the two sockets directly: each side gets a pipe as if a
//! handshake had just completed (routing ids exchanged, subscriptions
//! replayed, both before the connect or bind returns).
//!
//! A message goes straight into the receiving socket's inbound queue when
//! its pipe is empty (the pipe's bypass, [`Direct`]), so a receive right
//! after the send finds it, as libzmq's inproc reader does. When the
//! receiving socket's queue is full, messages wait in the pipe, and one
//! small task per direction moves them on as room appears (subscriptions
//! and cancels always go that way). So a link holds the sender's `sndhwm`
//! plus the receiver's `rcvhwm`, libzmq's sum for an inproc pipe (either
//! 0: unlimited); and as libzmq's writer learns of its reader's reads only
//! every half `rcvhwm` or so, the receiving queue reports its reads to
//! inproc writers once per half its capacity (`Queue::try_push_lagging_with`).
//!
//! A connect to a name nobody has bound yet is *pending*, as in libzmq:
//! the connecting socket gets its pipe at once (messages queue in it up to
//! the high-water mark, as for a tcp peer not yet there), and the link
//! forms when a socket binds the name. A pending connect costs its pipe
//! and one entry in the domain, and goes when it is disconnected, or when
//! its socket closes with nothing queued or a zero linger. A socket closed
//! with messages queued for a pending connect and a non-zero linger keeps
//! them there until the bind (then they are delivered, as libzmq does) or
//! until the domain is cleared ([`InprocDomain::clear`]).
//!
//! As in libzmq, inproc links check no socket types: a connect joins
//! whatever is bound (tcp and ipc links check them in the handshake).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};

use bytes::Bytes;
use zmtp::{Message, Metadata, PeerInfo, Version};

use crate::core::{Core, Inbound, Outbound, PipeEntry};
use crate::endpoints::Stop;
use crate::engine;
use crate::error::{Error, Result};
use crate::peers::PipeId;
use crate::queue::{Bypass, PipeRx};
use crate::rules;

/// Items moved per batch.
const BATCH: usize = 1024;

/// A namespace of `inproc://` names: sockets meet only within one.
///
/// Every socket is in [`InprocDomain::process`] unless its options name
/// another ([`Options::inproc_domain`](crate::Options::inproc_domain)); a
/// libzmq context has its own, so two contexts may bind the same name.
#[derive(Clone, Default)]
pub struct InprocDomain(Arc<Mutex<Registry>>);

/// The names of one domain.
#[derive(Default)]
struct Registry {
    bound: HashMap<String, Weak<Core>>,
    /// Connects waiting for their name to be bound.
    pending: HashMap<String, Vec<Pending>>,
}

/// A connect waiting for its name: the connecting socket's pipe, attached
/// to it already, and the receiving end the link will read.
struct Pending {
    core: Weak<Core>,
    /// Set when the connecting socket closed with messages for this link:
    /// the socket's heart stays until they are delivered.
    keep: Option<Arc<Core>>,
    pipe: PipeId,
    rx: PipeRx<Outbound>,
    stop: Arc<Stop>,
}

/// The process-wide domain.
static PROCESS: LazyLock<InprocDomain> = LazyLock::new(InprocDomain::new);

impl InprocDomain {
    /// A new, empty domain.
    pub fn new() -> Self {
        Self::default()
    }

    /// The domain every socket is in unless told otherwise.
    pub fn process() -> Self {
        PROCESS.clone()
    }

    /// Whether a live socket has bound `name` (`inproc://name`) now.
    /// libzmq's ZAP client asks this before connecting: a handler that is
    /// not there means no authentication, not a wait for one.
    pub fn is_bound(&self, name: &str) -> bool {
        self.registry()
            .bound
            .get(name)
            .and_then(Weak::upgrade)
            .is_some_and(|c| !c.is_closing())
    }

    /// Forgets every pending connect, and with them the messages closed
    /// sockets left for their binds (a libzmq context's end).
    pub fn clear(&self) {
        let pending = std::mem::take(&mut self.registry().pending);
        drop(pending);
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for InprocDomain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("InprocDomain")
            .field(&Arc::as_ptr(&self.0))
            .finish()
    }
}

impl PartialEq for InprocDomain {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for InprocDomain {}

fn domain(core: &Core) -> &InprocDomain {
    &core.options.inproc_domain
}

/// Registers `core` under `name`, then joins the connects that waited for
/// it.
pub(crate) fn bind(core: &Arc<Core>, name: &str) -> Result<()> {
    let waiting = {
        let mut registry = domain(core).registry();
        if let Some(existing) = registry.bound.get(name).and_then(Weak::upgrade)
            && !existing.is_closing()
        {
            return Err(Error::AddressInUse(format!("inproc://{name}")));
        }
        registry.bound.insert(name.to_owned(), Arc::downgrade(core));
        registry.pending.remove(name).unwrap_or_default()
    };
    for pending in waiting {
        join_pending(core, pending);
    }
    Ok(())
}

/// Removes the name `core` bound; false if it had not bound it. Links made
/// through it stay, as in libzmq.
pub(crate) fn unbind(core: &Core, name: &str) -> bool {
    let mut registry = domain(core).registry();
    let ours = registry
        .bound
        .get(name)
        .is_some_and(|w| std::ptr::eq(w.as_ptr(), core));
    if ours {
        registry.bound.remove(name);
    }
    ours
}

/// `core` closes: removes every name it bound, and every connect of its
/// still waiting unless messages wait in it and its linger lets them.
pub(crate) fn unbind_all(core: &Arc<Core>) {
    let lingers = core.linger() != Some(std::time::Duration::ZERO);
    let mut registry = domain(core).registry();
    registry
        .bound
        .retain(|_, w| !std::ptr::eq(w.as_ptr(), Arc::as_ptr(core)));
    registry.pending.retain(|_, waiting| {
        waiting.retain_mut(|p| {
            if !std::ptr::eq(p.core.as_ptr(), Arc::as_ptr(core)) {
                return p.keep.is_some() || p.core.strong_count() > 0;
            }
            let keep = lingers && !p.rx.is_empty();
            if keep {
                p.keep = Some(core.clone());
            }
            keep
        });
        !waiting.is_empty()
    });
}

/// Drops the waiting connects `stop` belongs to (a disconnect).
pub(crate) fn forget_pending(core: &Core, name: &str, stop: &Stop) {
    let mut registry = domain(core).registry();
    if let Some(waiting) = registry.pending.get_mut(name) {
        waiting.retain(|p| !std::ptr::eq(Arc::as_ptr(&p.stop), stop));
        if waiting.is_empty() {
            registry.pending.remove(name);
        }
    }
}

/// Joins `core` to the socket bound at `name`, or leaves the connect
/// pending until one binds it.
pub(crate) fn connect(core: &Arc<Core>, name: &str, stop: &Arc<Stop>) -> Result<()> {
    let mut registry = domain(core).registry();
    let binder = registry
        .bound
        .get(name)
        .and_then(Weak::upgrade)
        .filter(|c| !c.is_closing());
    let Some(binder) = binder else {
        let pipe = core.new_pipe_id();
        let (tx, rx) = core.new_pipe();
        core.attach(PipeEntry::new(pipe, tx, !core.options.immediate));
        let _running = stop.join(pipe);
        registry
            .pending
            .entry(name.to_owned())
            .or_default()
            .push(Pending {
                core: Arc::downgrade(core),
                keep: None,
                pipe,
                rx,
                stop: stop.clone(),
            });
        return Ok(());
    };
    drop(registry);
    let ours = Side::attach(core, &binder)?;
    link(core, &binder, ours, stop)
}

/// A connect that waited for `binder`'s name joins it now, unless it was
/// disconnected meanwhile or its socket closed with nothing for it. Its
/// failures (a PAIR taken) end the connect, as a failed handshake ends a
/// tcp connect.
fn join_pending(binder: &Arc<Core>, pending: Pending) {
    let Some(core) = pending.keep.or_else(|| pending.core.upgrade()) else {
        return;
    };
    if pending.stop.is_stopped() {
        return;
    }
    let joined = Side::ready(&core, binder, pending.pipe, pending.rx)
        .and_then(|ours| link(&core, binder, ours, &pending.stop));
    if joined.is_err() {
        pending.stop.stop(&core);
        let _nothing_queued = core.pipe_down(pending.pipe, true, VecDeque::new(), None);
    }
}

/// Gives the binder its side of the link and starts both directions.
fn link(core: &Arc<Core>, binder: &Arc<Core>, ours: Side, stop: &Stop) -> Result<()> {
    let theirs = match Side::attach(binder, core) {
        Ok(side) => side,
        Err(e) => {
            let _no_subscriptions_yet = core.pipe_down(ours.pipe, true, Default::default(), None);
            return Err(e);
        }
    };
    // A disconnect ends the link by dropping both pipes: the binder sees
    // it gone at once, as a libzmq peer does.
    let _running = stop.join(ours.pipe);
    stop.join_peer_end(binder, theirs.pipe);
    let (ours_source, ours_sink) = ours.split();
    let (theirs_source, theirs_sink) = theirs.split();
    binder.add_inproc_feed(ours_source.rx.downgrade());
    core.add_inproc_feed(theirs_source.rx.downgrade());
    // Both directions open before the connect or bind returns, so the
    // first sends already go straight to the other socket.
    let towards_binder = open(ours_source, theirs_sink);
    let towards_us = open(theirs_source, ours_sink);
    core.track(tokio::spawn(forward(towards_binder)));
    binder.track(tokio::spawn(forward(towards_us)));
    Ok(())
}

/// One direction of a link: where its messages come from and go.
struct Direction {
    from: Source,
    to: Sink,
    direct: Arc<Direct>,
    opening: Opening,
}

/// What opening a direction left for its task to do before messages may
/// take the bypass.
enum Opening {
    /// Nothing: the bypass is set.
    Done,
    /// Wait until the replayed subscriptions' notices are in the receiving
    /// socket's queue (it was full).
    Flush(u64),
    /// The link notice did not fit: notice and replay, in the task.
    Later,
    /// The receiving socket refused the replayed subscriptions.
    Refused,
}

/// Opens a direction now: the link notice, then the subscriptions the
/// source socket holds, reach the receiving socket before any message;
/// then the bypass is set, unless something has to wait for room.
fn open(mut from: Source, to: Sink) -> Direction {
    let direct = Arc::new(Direct {
        to: Arc::downgrade(&to.core),
        pipe: to.pipe,
        routing_id: to.routing_id.clone(),
        admits_as_is: to.core.receive_rule.admits_as_is(),
        open: AtomicBool::new(true),
    });
    let opening = replay_now(&mut from, &to);
    if matches!(opening, Opening::Done) {
        from.rx.set_bypass(direct.clone());
    }
    Direction {
        from,
        to,
        direct,
        opening,
    }
}

/// The link notice and the replayed subscriptions, as far as they can go
/// without waiting.
fn replay_now(from: &mut Source, to: &Sink) -> Opening {
    if to.core.options.link_notify && !to.core.is_closing() {
        let notice = rules::admit(&to.core, to.routing_id.as_ref(), engine::link_notice(true));
        if let Some(message) = notice {
            let inbound = Inbound {
                from_peer: false,
                pipe: to.pipe,
                message,
            };
            if to.core.inbound.try_push(inbound).is_err() {
                return Opening::Later;
            }
        }
    }
    let mut last = None;
    for topic in std::mem::take(&mut from.replay) {
        match to
            .core
            .on_subscription(to.pipe, true, topic, &mut VecDeque::new())
        {
            Ok(ticket) => last = last.max(ticket),
            Err(_over_budget) => return Opening::Refused,
        }
    }
    match last {
        Some(ticket) if to.core.deliver_notices() < ticket => Opening::Flush(ticket),
        _ => Opening::Done,
    }
}

/// An inproc pipe's bypass: a message sent while the pipe is empty goes
/// straight into the receiving socket's inbound queue, with the same
/// link-side rule the task applies ([`rules::admit`]), if that queue has
/// room as inproc writers see it. Subscriptions and cancels take the task.
#[derive(Debug)]
struct Direct {
    to: Weak<Core>,
    pipe: PipeId,
    routing_id: Option<Bytes>,
    admits_as_is: bool,
    /// Cleared when the link ends: what is sent meanwhile waits in the
    /// pipe, which goes with the link.
    open: AtomicBool,
}

impl Bypass<Outbound> for Direct {
    fn deliver(&self, item: Outbound) -> std::result::Result<(), Outbound> {
        let Outbound::Message(message) = item else {
            return Err(item);
        };
        if !self.open.load(Ordering::Acquire) {
            return Err(Outbound::Message(message));
        }
        let Some(to) = self.to.upgrade() else {
            return Err(Outbound::Message(message));
        };
        let mut slot = Some(message);
        let pushed = to.inbound.try_push_lagging_with(|| {
            let message = slot.take()?;
            let message = match self.admits_as_is {
                true => message,
                false => rules::admit(&to, self.routing_id.as_ref(), message)?,
            };
            Some(Inbound {
                from_peer: false,
                pipe: self.pipe,
                message,
            })
        });
        match pushed {
            Ok(()) => Ok(()),
            Err(_) => Err(Outbound::Message(slot.take().unwrap_or_default())),
        }
    }
}

/// One socket's end of an inproc link.
struct Side {
    core: Arc<Core>,
    pipe: PipeId,
    rx: PipeRx<Outbound>,
    routing_id: Option<Bytes>,
    replay: Vec<Bytes>,
    replay_seq: u64,
}

/// Where a direction's messages come from.
struct Source {
    core: Arc<Core>,
    pipe: PipeId,
    rx: PipeRx<Outbound>,
    /// The subscriptions the source socket held when the link formed.
    replay: Vec<Bytes>,
    replay_seq: u64,
}

/// Where a direction's messages go.
struct Sink {
    core: Arc<Core>,
    pipe: PipeId,
    routing_id: Option<Bytes>,
}

impl Side {
    /// Gives `core` a ready pipe to `peer`, as a completed handshake would.
    fn attach(core: &Arc<Core>, peer: &Core) -> Result<Side> {
        let pipe = core.new_pipe_id();
        let (tx, rx) = core.new_pipe();
        Self::ready_with(core, peer, pipe, Some(PipeEntry::new(pipe, tx, true)), rx)
    }

    /// Makes `core`'s attached pipe (a pending connect's) ready for `peer`.
    fn ready(core: &Arc<Core>, peer: &Core, pipe: PipeId, rx: PipeRx<Outbound>) -> Result<Side> {
        Self::ready_with(core, peer, pipe, None, rx)
    }

    fn ready_with(
        core: &Arc<Core>,
        peer: &Core,
        pipe: PipeId,
        entry: Option<PipeEntry>,
        rx: PipeRx<Outbound>,
    ) -> Result<Side> {
        // The routing id as of this connect or bind.
        let identity = peer.live.snapshot().routing_id.clone();
        let info = PeerInfo {
            version: Version::V3_1,
            socket_type: Some(peer.socket_type),
            identity: (!identity.is_empty()).then_some(identity),
            metadata: Metadata::for_socket(peer.socket_type, &peer.options.routing_id),
            user_id: None,
            auth_metadata: Metadata::new(),
        };
        let ready = core
            .pipe_ready(pipe, entry, &info)
            .map_err(Error::Refused)?;
        Ok(Side {
            core: core.clone(),
            pipe,
            rx,
            routing_id: ready.routing_id,
            replay: ready.replay,
            replay_seq: ready.replay_seq,
        })
    }

    fn split(self) -> (Source, Sink) {
        let source = Source {
            core: self.core.clone(),
            pipe: self.pipe,
            rx: self.rx,
            replay: self.replay,
            replay_seq: self.replay_seq,
        };
        let sink = Sink {
            core: self.core,
            pipe: self.pipe,
            routing_id: self.routing_id,
        };
        (source, sink)
    }
}

/// Items a forwarder took from its pipe: they still count against the
/// pipe's capacity until released, as they reach the receiving socket's
/// queue (or are dropped); whatever is left is released when it drops.
struct InTransit<'a> {
    from: &'a Source,
    left: usize,
}

impl InTransit<'_> {
    /// `n` items are through: room in the pipe, so a sender waiting at
    /// the high-water mark may go.
    fn release(&mut self, n: usize) {
        let n = n.min(self.left);
        if n == 0 {
            return;
        }
        self.left -= n;
        self.from.rx.finished(n);
        let core = &self.from.core;
        if core.send_waiters.load(Ordering::Acquire) > 0 {
            core.send_ready.notify_waiters();
        }
    }
}

impl Drop for InTransit<'_> {
    fn drop(&mut self) {
        self.release(self.left);
    }
}

/// Finishes opening one direction, then moves what waits in its pipe until
/// either socket drops its pipe.
async fn forward(direction: Direction) {
    let Direction {
        mut from,
        to,
        direct,
        opening,
    } = direction;
    let within_budget = match opening {
        Opening::Done => true,
        Opening::Flush(ticket) => to.core.flush_notices(ticket).await,
        Opening::Refused => false,
        Opening::Later => {
            notify_link(&to, true).await;
            let mut within_budget = true;
            for topic in std::mem::take(&mut from.replay) {
                within_budget = within_budget && subscription(&to, true, topic).await;
            }
            within_budget
        }
    };
    if within_budget {
        from.rx.set_bypass(direct.clone());
        move_waiting(&from, &to).await;
    }
    // The receiving socket refused the replayed subscriptions, or one side
    // is gone: take the link down on both.
    direct.open.store(false, Ordering::Release);
    notify_link(&to, false).await;
    // Unsubscribe notices wait for room like any message, in the socket's
    // notice queue: none is dropped.
    for (core, pipe) in [(&from.core, from.pipe), (&to.core, to.pipe)] {
        if let Some(ticket) = core.pipe_down(pipe, true, VecDeque::new(), None) {
            core.flush_notices(ticket).await;
        }
    }
}

/// Moves what waits in the pipe (messages the bypass could not take, and
/// every subscription) into the receiving socket, until either side goes.
async fn move_waiting(from: &Source, to: &Sink) {
    // In batches, as an engine does: one lock to take what the pipe holds,
    // one to hand it over, rather than two per message.
    let admits_as_is = to.core.receive_rule.admits_as_is();
    let mut batch = VecDeque::with_capacity(BATCH);
    let mut ready = VecDeque::with_capacity(BATCH);
    loop {
        // Whole pipes at a time when they fit (a swap of buffers), counted
        // in transit until handed over, so the receiving socket knows they
        // are on their way (`Core::inproc_in_flight`) and the bypass stays
        // shut behind them.
        let n =
            std::future::poll_fn(|cx| from.rx.poll_take_in_transit(cx, &mut batch, BATCH)).await;
        if n == 0 {
            return;
        }
        let mut transit = InTransit { from, left: n };
        while let Some(item) = batch.pop_front() {
            match item {
                Outbound::Message(message) => {
                    let admitted = if admits_as_is {
                        Some(message)
                    } else {
                        rules::admit(&to.core, to.routing_id.as_ref(), message)
                    };
                    match admitted {
                        Some(message) => ready.push_back(Inbound {
                            from_peer: false,
                            pipe: to.pipe,
                            message,
                        }),
                        None => transit.release(1),
                    }
                }
                // Notices keep their place among the messages.
                Outbound::Subscribe { topic, seq } if seq > from.replay_seq => {
                    if !hand_over(to, &mut ready, &mut transit).await
                        || !subscription(to, true, topic).await
                    {
                        return;
                    }
                    transit.release(1);
                }
                Outbound::Cancel { topic, seq } if seq > from.replay_seq => {
                    if !hand_over(to, &mut ready, &mut transit).await
                        || !subscription(to, false, topic).await
                    {
                        return;
                    }
                    transit.release(1);
                }
                Outbound::Subscribe { .. } | Outbound::Cancel { .. } => transit.release(1),
            }
        }
        if !hand_over(to, &mut ready, &mut transit).await {
            return;
        }
    }
}

/// Moves every item of `ready` into the receiving socket's inbound queue,
/// as many at a time as it has room for as inproc writers see it; false if
/// that socket closed.
async fn hand_over(to: &Sink, ready: &mut VecDeque<Inbound>, transit: &mut InTransit<'_>) -> bool {
    let inbound = &to.core.inbound;
    loop {
        let before = ready.len();
        if !inbound.push_batch_lagging(ready) {
            return false;
        }
        transit.release(before - ready.len());
        if ready.is_empty() {
            return true;
        }
        if !std::future::poll_fn(|cx| inbound.poll_room_lagging(cx)).await {
            return false;
        }
    }
}

/// `link_notify`: tells the receiving socket the link came up or went down,
/// in line with the link's messages.
async fn notify_link(to: &Sink, up: bool) {
    if !to.core.options.link_notify || to.core.is_closing() {
        return;
    }
    let notice = rules::admit(&to.core, to.routing_id.as_ref(), engine::link_notice(up));
    deliver_notice(to, notice).await;
}

/// A subscription from the source side reaches the receiving socket;
/// false if it broke that socket's per-peer caps (the link must end).
async fn subscription(to: &Sink, subscribe: bool, topic: Bytes) -> bool {
    // What this link delivered before is in the inbound queue already
    // (`hand_over`), so nothing goes before the notice.
    match to
        .core
        .on_subscription(to.pipe, subscribe, topic, &mut VecDeque::new())
    {
        Ok(Some(ticket)) => to.core.flush_notices(ticket).await,
        Ok(None) => true,
        Err(_over_budget) => false,
    }
}

/// Queues a notice the socket made (a link or subscription notice) for the
/// receiving socket's application, in line with the link's messages.
async fn deliver_notice(to: &Sink, notice: Option<Message>) {
    if let Some(message) = notice {
        let inbound = Inbound {
            from_peer: false,
            pipe: to.pipe,
            message,
        };
        let _ = to.core.inbound.push(inbound).await;
    }
}
