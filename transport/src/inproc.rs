//! `inproc://`: sockets of this process joined by in-memory pipes, with no
//! ZMTP encoding at all.
//!
//! Binding registers the socket under its name. Connecting joins the two
//! sockets directly: each side gets a pipe as if a handshake had just
//! completed (the socket types are checked, routing ids exchanged,
//! subscriptions replayed), and one small task per direction moves messages
//! from one socket's pipe to the other's inbound queue.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use bytes::Bytes;
use zmtp::{Message, Metadata, PeerInfo, Version};

use crate::core::{Core, Inbound, Outbound, PipeEntry};
use crate::engine;
use crate::error::{Error, Result};
use crate::peers::PipeId;
use crate::queue::PipeRx;
use crate::rules;

/// Items moved per batch.
const BATCH: usize = 1024;

/// Bound inproc names, process-wide.
static BOUND: LazyLock<Mutex<HashMap<String, Weak<Core>>>> = LazyLock::new(Default::default);

fn registry() -> std::sync::MutexGuard<'static, HashMap<String, Weak<Core>>> {
    BOUND.lock().unwrap_or_else(|p| p.into_inner())
}

/// Registers `core` under `name`.
pub(crate) fn bind(core: &Arc<Core>, name: &str) -> Result<()> {
    let mut bound = registry();
    if let Some(existing) = bound.get(name).and_then(Weak::upgrade) {
        if !existing.is_closing() {
            return Err(Error::AddressInUse(format!("inproc://{name}")));
        }
    }
    bound.insert(name.to_owned(), Arc::downgrade(core));
    Ok(())
}

/// Removes every name `core` bound.
pub(crate) fn unbind_all(core: &Core) {
    registry().retain(|_, w| {
        w.upgrade()
            .is_some_and(|c| !std::ptr::eq(Arc::as_ptr(&c), core))
    });
}

/// Joins `core` to the socket bound at `name`.
pub(crate) fn connect(core: &Arc<Core>, name: &str) -> Result<()> {
    let binder = registry()
        .get(name)
        .and_then(Weak::upgrade)
        .filter(|c| !c.is_closing())
        .ok_or_else(|| Error::InprocNotBound(format!("inproc://{name}")))?;
    if !core.socket_type.is_compatible(binder.socket_type) {
        return Err(Error::IncompatibleSocketType {
            ours: core.socket_type,
            theirs: binder.socket_type,
        });
    }
    let ours = Side::attach(core, &binder)?;
    let theirs = match Side::attach(&binder, core) {
        Ok(side) => side,
        Err(e) => {
            let _no_subscriptions_yet = core.pipe_down(ours.pipe, true, Default::default(), None);
            return Err(e);
        }
    };
    let (ours_source, ours_sink) = ours.split();
    let (theirs_source, theirs_sink) = theirs.split();
    binder.add_inproc_feed(ours_source.rx.downgrade());
    core.add_inproc_feed(theirs_source.rx.downgrade());
    core.track(tokio::spawn(forward(ours_source, theirs_sink)));
    binder.track(tokio::spawn(forward(theirs_source, ours_sink)));
    Ok(())
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
        let identity = peer.options.routing_id.clone();
        let info = PeerInfo {
            version: Version::V3_1,
            socket_type: Some(peer.socket_type),
            identity: (!identity.is_empty()).then_some(identity),
            metadata: Metadata::for_socket(peer.socket_type, &peer.options.routing_id),
            user_id: None,
            auth_metadata: Metadata::new(),
        };
        let ready = core
            .pipe_ready(pipe, Some(PipeEntry::new(pipe, tx, true)), &info)
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

/// Items a forwarder took from its pipe, finished with when it drops
/// (handed over, or the link ended).
struct InTransit<'a>(&'a PipeRx<Outbound>, usize);

impl Drop for InTransit<'_> {
    fn drop(&mut self) {
        self.0.finished(self.1);
    }
}

/// Moves one direction's items until either socket drops its pipe.
async fn forward(mut from: Source, to: Sink) {
    notify_link(&to, true).await;
    let mut within_budget = true;
    for topic in std::mem::take(&mut from.replay) {
        within_budget = within_budget && subscription(&to, true, topic).await;
    }
    // In batches, as an engine does: one lock to take what the pipe holds,
    // one to hand it over, rather than two per message.
    let admits_as_is = to.core.receive_rule.admits_as_is();
    let mut batch = VecDeque::with_capacity(BATCH);
    let mut ready = VecDeque::with_capacity(BATCH);
    'link: loop {
        if !within_budget {
            // The receiving socket refused the replayed subscriptions.
            break;
        }
        // Whole pipes at a time when they fit (a swap of buffers); the
        // receiving socket's queue bounds what is in flight.
        // Counted in transit until handed over, so the receiving socket
        // knows they are on their way (`Core::inproc_in_flight`).
        let n =
            std::future::poll_fn(|cx| from.rx.poll_take_in_transit(cx, &mut batch, BATCH)).await;
        if n == 0 {
            break;
        }
        let _in_transit = InTransit(&from.rx, n);
        // Room in the pipe: a sender waiting at the high-water mark may go.
        if from
            .core
            .send_waiters
            .load(std::sync::atomic::Ordering::Acquire)
            > 0
        {
            from.core.send_ready.notify_waiters();
        }
        while let Some(item) = batch.pop_front() {
            match item {
                Outbound::Message(message) => {
                    let admitted = if admits_as_is {
                        Some(message)
                    } else {
                        rules::admit(&to.core, to.routing_id.as_ref(), message)
                    };
                    if let Some(message) = admitted {
                        ready.push_back(Inbound {
                            from_peer: false,
                            pipe: to.pipe,
                            message,
                        });
                    }
                }
                // Notices keep their place among the messages.
                Outbound::Subscribe { topic, seq } if seq > from.replay_seq => {
                    if !hand_over(&to, &mut ready).await || !subscription(&to, true, topic).await {
                        break 'link;
                    }
                }
                Outbound::Cancel { topic, seq } if seq > from.replay_seq => {
                    if !hand_over(&to, &mut ready).await || !subscription(&to, false, topic).await {
                        break 'link;
                    }
                }
                Outbound::Subscribe { .. } | Outbound::Cancel { .. } => {}
            }
        }
        if !hand_over(&to, &mut ready).await {
            break;
        }
    }
    // One side is gone: take the link down on both.
    notify_link(&to, false).await;
    // Unsubscribe notices wait for room like any message, in the socket's
    // notice queue: none is dropped.
    for (core, pipe) in [(&from.core, from.pipe), (&to.core, to.pipe)] {
        if let Some(ticket) = core.pipe_down(pipe, true, VecDeque::new(), None) {
            core.flush_notices(ticket).await;
        }
    }
}

/// Moves every item of `ready` into the receiving socket's inbound queue,
/// as many at a time as fit; false if that socket closed.
async fn hand_over(to: &Sink, ready: &mut VecDeque<Inbound>) -> bool {
    let inbound = &to.core.inbound;
    loop {
        inbound.push_batch(ready);
        if ready.is_empty() {
            return true;
        }
        if !std::future::poll_fn(|cx| inbound.poll_room(cx)).await {
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
