//! The shared heart of a socket: its pipes, its routing state and its
//! inbound queue.
//!
//! Every peer link has a *pipe*: a bounded queue of [`Outbound`] items
//! (capacity `sndhwm`) that the socket fills and the link's engine task
//! drains. All links share one inbound queue (capacity `rcvhwm`) that the
//! engines fill and `recv` drains, one message from each link in turn
//! (fair-queued, [`crate::lanes`]); when it is full, engines stop reading
//! and TCP pushes back on the sender.
//!
//! The per-type rules (round-robin, fan-out, routing by id, request-reply
//! envelopes, subscriptions) live in [`crate::rules`]; this file keeps the
//! bookkeeping they share: which pipes exist, which are ready, their routing
//! ids and subscriptions, and the statistics.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use zmtp::{Message, PeerInfo, SocketType};

use crate::endpoints::Endpoints;
use crate::live_options::LiveOptions;
use crate::modes::Modes;
use crate::monitor::MonitorHub;
use crate::notices::NoticeQueue;
use crate::options::Options;
use crate::peers::{PeerDirectory, PipeId};
use crate::queue::{self, PipeRx, PipeTx, Queue};
use crate::read_buffers::BufferPool;
use crate::refusal::Refusal;
use crate::rules::{self, ReceiveRule};
use crate::subscriptions::{Audience, SubscriptionSet};

/// What a socket hands a link to send.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A message.
    Message(Message),
    /// A subscription (SUB, XSUB), numbered so a replay can skip it.
    Subscribe { topic: Bytes, seq: u64 },
    /// A cancelled subscription, numbered likewise.
    Cancel { topic: Bytes, seq: u64 },
}

/// A message a link hands the socket, with the pipe it came from.
#[derive(Debug)]
pub(crate) struct Inbound {
    pub(crate) pipe: PipeId,
    pub(crate) message: Message,
    /// From a peer whose metadata is in [`Core::peers`] (not inproc, not a
    /// notice the socket made).
    pub(crate) from_peer: bool,
}

impl Inbound {
    /// What it costs in the inbound queue: its handle and its message
    /// (`Options::rcvhwm_bytes`).
    pub(crate) fn weight(&self) -> usize {
        std::mem::size_of::<Inbound>() + self.message.cost()
    }
}

/// The socket's view of one pipe.
#[derive(Debug)]
pub(crate) struct PipeEntry {
    pub(crate) id: PipeId,
    pub(crate) tx: PipeTx<Outbound>,
    /// The handshake is complete.
    pub(crate) ready: bool,
    /// Round-robin and fan-out may use it (ready, or connecting without
    /// `immediate`).
    pub(crate) usable: bool,
    /// ROUTER: the peer's routing id.
    pub(crate) routing_id: Option<Bytes>,
    /// PUB/XPUB: what the peer gets: the topics it subscribed to (with
    /// `xpub_manual`: the topics the application subscribed it to).
    pub(crate) peer_subscriptions: SubscriptionSet,
    /// XPUB with `xpub_manual`: the topics the peer asked for, reported
    /// as cancelled when it leaves.
    pub(crate) claimed: SubscriptionSet,
}

impl PipeEntry {
    pub(crate) fn new(id: PipeId, tx: PipeTx<Outbound>, usable: bool) -> Self {
        PipeEntry {
            id,
            tx,
            ready: false,
            usable,
            routing_id: None,
            peer_subscriptions: SubscriptionSet::default(),
            claimed: SubscriptionSet::default(),
        }
    }
}

/// Routing state, guarded by one mutex.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) pipes: Vec<PipeEntry>,
    /// Round-robin cursor into `pipes`.
    pub(crate) next: usize,
    /// ROUTER: routing id to pipe.
    pub(crate) routes: HashMap<Bytes, PipeId>,
    /// ROUTER: counter for generated ids.
    pub(crate) next_generated_id: u32,
    /// SUB/XSUB: our own subscriptions, replayed to every new link.
    pub(crate) subscriptions: SubscriptionSet,
    /// Numbers subscription changes so replays skip queued duplicates.
    pub(crate) subscription_seq: u64,
    /// PUB/XPUB: which pipes subscribed to which topics, for fan-out and
    /// (XPUB) to report a topic's first subscriber and its last.
    pub(crate) audience: Audience,
    /// Where each pipe is in `pipes` (rebuilt when the pipes change; a
    /// stale entry only costs a scan, see [`State::pipe`]).
    pub(crate) positions: HashMap<PipeId, usize>,
    /// REQ: the pipe the reply must come from.
    pub(crate) req_awaiting: Option<PipeId>,
    /// REP: where the reply to the request being served goes, and its
    /// envelope.
    pub(crate) rep_pending: Option<(PipeId, Vec<Bytes>)>,
    pub(crate) closed: bool,
    /// Why the socket dropped a live link's pipe, for its engine to report
    /// (taken when the engine notices, cleared when the link is down).
    pub(crate) dropped: HashMap<PipeId, Refusal>,
    /// Pipes of links ended by `disconnect`, whose messages the
    /// application must not receive (cleared when the link is down and
    /// gone: [`Core::forget_link`]).
    pub(crate) discarding: HashSet<PipeId>,
    /// XPUB: the ticket of the cancel notices a dropped pipe's peer left
    /// ([`Core::drop_live_pipe`]), for its link's end to wait for.
    pub(crate) cancelled: HashMap<PipeId, u64>,
    /// Messages accepted for sending.
    pub(crate) sent: u64,
    /// XPUB notices (and the link messages around them) in the order the
    /// state changed, waiting for the inbound queue.
    pub(crate) notices: NoticeQueue,
    /// The behaviours that may change while the socket runs.
    pub(crate) modes: Modes,
    /// REQ: the id of the last request sent with `ReqCorrelate`.
    pub(crate) request_id: u32,
    /// REQ: the id the awaited reply must carry back, if its request had
    /// one.
    pub(crate) req_reply_id: Option<u32>,
}

impl State {
    /// Where pipe `id` is in `pipes`: by the index when it is current,
    /// else by a scan.
    fn position(&self, id: PipeId) -> Option<usize> {
        match self.positions.get(&id) {
            Some(&i) if self.pipes.get(i).is_some_and(|p| p.id == id) => Some(i),
            _ => self.pipes.iter().position(|p| p.id == id),
        }
    }

    pub(crate) fn pipe_mut(&mut self, id: PipeId) -> Option<&mut PipeEntry> {
        let i = self.position(id)?;
        self.pipes.get_mut(i)
    }

    pub(crate) fn pipe(&self, id: PipeId) -> Option<&PipeEntry> {
        self.pipes.get(self.position(id)?)
    }

    /// Rebuilds [`State::positions`] after the pipes changed.
    pub(crate) fn reindex(&mut self) {
        self.positions.clear();
        let positions = self.pipes.iter().enumerate().map(|(i, p)| (p.id, i));
        self.positions.extend(positions);
    }

    /// Drops a live link's pipe, which ends the link: its engine finds the
    /// pipe closed and reports `why`.
    pub(crate) fn drop_pipe(&mut self, id: PipeId, why: Refusal) {
        let Some(i) = self.position(id) else {
            return;
        };
        let mut entry = self.pipes.remove(i);
        // Its peer's subscriptions go with it (the link's own end finds no
        // pipe left, so nothing else would remove them).
        for topic in entry.peer_subscriptions.take_topics() {
            self.audience.remove(&topic, id);
        }
        self.dropped.insert(id, why);
    }
}

/// Counters, readable at any time through [`SocketStats`].
///
/// Messages sent are counted in [`State::sent`] and messages received are
/// those taken off the inbound queue less [`Stats::rejected`]: counts kept
/// under locks the paths take anyway, rather than an atomic per message.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Inbound messages taken off the queue and then discarded by the
    /// socket's rules (also counted in `dropped_inbound`).
    pub(crate) rejected: AtomicU64,
    /// Messages [`crate::Sender`]s sent, reported in batches.
    pub(crate) sent_by_handles: AtomicU64,
    /// Messages [`crate::Receiver`]s took off the inbound queue but have
    /// not handed out yet.
    pub(crate) held_by_handles: AtomicU64,
    pub(crate) dropped_hwm: AtomicU64,
    pub(crate) dropped_unroutable: AtomicU64,
    pub(crate) dropped_inbound: AtomicU64,
    /// Messages links have decoded and not yet put in the inbound queue
    /// (changed a batch at a time).
    pub(crate) held_by_links: AtomicU64,
}

/// A snapshot of a socket's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketStats {
    /// Messages accepted for sending (to at least one pipe).
    pub sent: u64,
    /// Messages delivered to the application.
    pub received: u64,
    /// Messages (or fan-out copies) dropped because a peer's queue was at
    /// its high-water mark (PUB, XPUB, XSUB, ROUTER, REP).
    pub dropped_hwm: u64,
    /// Messages dropped because no peer could take them (ROUTER with an
    /// unknown id, REP whose requester left).
    pub dropped_unroutable: u64,
    /// Inbound messages discarded by the socket's rules (a SUB's local
    /// filter, a REQ reply from the wrong peer, a REP request without an
    /// envelope delimiter, upstream data at a PUB), and those a
    /// `disconnect` dropped unread.
    pub dropped_inbound: u64,
    /// Peers whose handshake is complete.
    pub peers: usize,
    /// Messages the links have decoded and hold because the inbound queue
    /// (`rcvhwm`) is full: at most one decode batch per link (see
    /// `docs/limits.md`, "One link"), plus the items waiting in an XPUB's
    /// notice queue (its notices and the messages around them).
    pub held_by_links: u64,
    /// Messages in the inbound queue, waiting for the application.
    pub queued: u64,
}

/// What a link learns when its handshake is accepted by the socket.
#[derive(Debug, Default)]
pub(crate) struct Ready {
    /// ROUTER: the id to put in front of this peer's messages.
    pub(crate) routing_id: Option<Bytes>,
    /// SUB/XSUB: subscriptions to send first, each distinct topic once.
    pub(crate) replay: Vec<Bytes>,
    /// Skip queued subscription items numbered up to this.
    pub(crate) replay_seq: u64,
}

/// Shared by a socket's handles and its tasks.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) socket_type: SocketType,
    /// The type's inbound rule ([`ReceiveRule::of`]), looked up once.
    pub(crate) receive_rule: ReceiveRule,
    pub(crate) options: Options,
    state: Mutex<State>,
    /// Messages from every link, for `recv` (capacity `rcvhwm`).
    pub(crate) inbound: Queue<Inbound>,
    /// The metadata of the peers messages in `inbound` came from.
    pub(crate) peers: PeerDirectory,
    /// Signalled when a pipe gains room or a peer arrives.
    pub(crate) send_ready: Notify,
    /// Senders waiting on `send_ready`; engines skip the signal when none.
    pub(crate) send_waiters: std::sync::atomic::AtomicUsize,
    /// Bumped, under the state lock, whenever the pipes round-robin may use
    /// change (or the socket closes): a [`crate::Sender`] keeps a copy of
    /// them and compares this instead of taking the lock for every message.
    pub(crate) pipes_version: AtomicU64,
    pub(crate) monitor: MonitorHub,
    pub(crate) stats: Stats,
    /// Spare read buffers for the socket's links (`read_buffers.rs`).
    pub(crate) read_buffers: BufferPool,
    /// Tickets of [`State::notices`] handed out, and delivered: copies
    /// kept under the state lock, so a link with nothing waiting checks
    /// them without taking it.
    notices_appended: AtomicU64,
    notices_delivered: AtomicU64,
    next_pipe: AtomicU64,
    /// XPUB: the pipe of the message the application received last (0:
    /// none), which `xpub_manual` subscriptions apply to.
    pub(crate) last_received: AtomicU64,
    /// The pipes of inproc links that feed this socket, watched by
    /// [`Core::inproc_in_flight`].
    inproc_feeds: Mutex<Vec<std::sync::Weak<Queue<Outbound>>>>,
    /// Flips to true when the socket closes; listeners and connecters stop.
    pub(crate) closing: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) last_endpoint: Mutex<Option<crate::Endpoint>>,
    /// What the socket bound and connected, each stoppable alone.
    pub(crate) endpoints: Endpoints,
    /// The options new endpoints and links take (`options` is what the
    /// socket was made with, which its own rules read).
    pub(crate) live: LiveOptions,
}

impl Core {
    pub(crate) fn new(socket_type: SocketType, options: Options) -> Arc<Self> {
        let inbound = match conflates(socket_type, &options) {
            true => Queue::conflating(),
            false => Queue::fair(
                Options::capacity(options.rcvhwm),
                options.rcvhwm_bytes,
                Inbound::weight,
                |inbound| inbound.pipe,
            ),
        };
        let live = LiveOptions::new(&options);
        let state = State {
            modes: Modes::from_options(&options),
            request_id: fastrand::u32(..),
            ..State::default()
        };
        Arc::new(Core {
            socket_type,
            receive_rule: ReceiveRule::of(socket_type),
            options,
            state: Mutex::new(state),
            inbound,
            peers: PeerDirectory::default(),
            send_ready: Notify::new(),
            send_waiters: std::sync::atomic::AtomicUsize::new(0),
            pipes_version: AtomicU64::new(0),
            monitor: MonitorHub::default(),
            stats: Stats::default(),
            read_buffers: BufferPool::default(),
            notices_appended: AtomicU64::new(0),
            notices_delivered: AtomicU64::new(0),
            next_pipe: AtomicU64::new(1),
            last_received: AtomicU64::new(0),
            inproc_feeds: Mutex::new(Vec::new()),
            closing: CancellationToken::new(),
            tasks: Mutex::new(Vec::new()),
            last_endpoint: Mutex::new(None),
            endpoints: Endpoints::default(),
            live,
        })
    }

    /// The routing state. A poisoned lock means a panic elsewhere already
    /// broke an invariant; carrying on with the data is still the least bad
    /// choice for a network service, so the poison is ignored.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn new_pipe_id(&self) -> PipeId {
        self.next_pipe.fetch_add(1, Ordering::Relaxed)
    }

    /// A pipe with the high-water mark as it is now.
    pub(crate) fn new_pipe(&self) -> (PipeTx<Outbound>, PipeRx<Outbound>) {
        // A SUB's pipes carry its subscriptions: never conflated.
        if conflates(self.socket_type, &self.options) && self.socket_type != SocketType::Sub {
            return queue::conflating_pipe();
        }
        queue::pipe(Options::capacity(self.live.snapshot().sndhwm))
    }

    /// LINGER as it is now: read when the socket closes, so a change on
    /// the live socket counts (libzmq reads it at `zmq_close`).
    pub(crate) fn linger(&self) -> Option<std::time::Duration> {
        self.live.snapshot().linger
    }

    /// Makes `options` the ones new endpoints and links take; changed
    /// high-water marks apply to every pipe and the inbound queue now.
    pub(crate) fn set_options(&self, options: Options) {
        let change = self.live.replace(options);
        if let Some(rcvhwm) = change.rcvhwm {
            self.inbound.set_capacity(Options::capacity(rcvhwm));
        }
        if let Some(sndhwm) = change.sndhwm {
            let state = self.state();
            for pipe in &state.pipes {
                pipe.tx.queue().set_capacity(Options::capacity(sndhwm));
            }
            drop(state);
            // A sender waiting at the old mark may go.
            self.send_ready.notify_waiters();
        }
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.is_cancelled()
    }

    /// Watches the pipe of an inproc link that feeds this socket.
    pub(crate) fn add_inproc_feed(&self, feed: std::sync::Weak<Queue<Outbound>>) {
        let mut feeds = self.inproc_feeds.lock().unwrap_or_else(|p| p.into_inner());
        feeds.retain(|f| f.strong_count() > 0);
        feeds.push(feed);
    }

    /// Whether an inproc peer's items are queued for this socket or being
    /// moved into its inbound queue: a receive will find them shortly.
    pub(crate) fn inproc_in_flight(&self) -> bool {
        let feeds = self.inproc_feeds.lock().unwrap_or_else(|p| p.into_inner());
        feeds
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .any(|q| q.holds_or_moves())
    }

    /// Remembers a task so `close` can wait for it.
    pub(crate) fn track(&self, task: JoinHandle<()>) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    pub(crate) fn take_tasks(&self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Records, under the state lock (`_state` proves it is held), that the
    /// pipes changed.
    pub(crate) fn pipes_changed(&self, state: &mut State) {
        state.reindex();
        self.pipes_version.fetch_add(1, Ordering::Release);
    }

    /// Adds a pipe (a connecting link's, before its handshake).
    pub(crate) fn attach(&self, entry: PipeEntry) {
        let mut state = self.state();
        if state.closed {
            return;
        }
        state.pipes.push(entry);
        self.pipes_changed(&mut state);
        drop(state);
        self.send_ready.notify_waiters();
    }

    /// A link's handshake completed: apply the socket's rules for new peers.
    /// `entry` is the pipe to add for an accepted link; connecting links
    /// attached theirs already.
    pub(crate) fn pipe_ready(
        &self,
        id: PipeId,
        entry: Option<PipeEntry>,
        peer: &PeerInfo,
    ) -> Result<Ready, Refusal> {
        let mut state = self.state();
        if state.closed {
            // A connecting link may still finish its handshake while the
            // socket lingers, to deliver what was queued for it; an
            // accepted one has nothing queued and is refused.
            return match entry {
                None => Ok(Ready {
                    replay_seq: state.subscription_seq,
                    ..Ready::default()
                }),
                Some(_) => Err(Refusal::SocketClosing),
            };
        }
        if let Some(why) = state.dropped.get(&id) {
            // Its endpoint stopped during the handshake (`end_link`).
            return Err(why.clone());
        }
        if self.socket_type == SocketType::Pair && state.pipes.iter().any(|p| p.ready && p.id != id)
        {
            return Err(Refusal::PairTaken);
        }
        if let Some(entry) = entry {
            // In pipe number order (accept order), not handshake order, so
            // round-robin takes peers in the order they came, as libzmq.
            let at = state.pipes.partition_point(|p| p.id < entry.id);
            if at < state.next {
                state.next += 1;
            }
            state.pipes.insert(at, entry);
        }
        let routing_id = if self.socket_type == SocketType::Router {
            let handover = state.modes.router_handover;
            let assigned =
                rules::assign_routing_id(&mut state, id, peer.identity.as_ref(), handover);
            // A handover dropped the old holder's pipe.
            self.pipes_changed(&mut state);
            assigned
        } else {
            None
        };
        let Some(pipe) = state.pipe_mut(id) else {
            return Err(Refusal::PipeGone);
        };
        pipe.ready = true;
        pipe.usable = true;
        pipe.routing_id = routing_id.clone();
        if let Some(first) = rules::first_message(&state.modes, self.socket_type)
            && let Some(pipe) = state.pipe(id)
        {
            let _first_in_an_empty_pipe = pipe.tx.try_send(Outbound::Message(first));
        }
        // In topic order, as libzmq's trie gives them.
        let mut replay = state.subscriptions.topics();
        replay.sort_unstable();
        let ready = Ready {
            routing_id,
            replay,
            replay_seq: state.subscription_seq,
        };
        self.pipes_changed(&mut state);
        drop(state);
        self.send_ready.notify_waiters();
        Ok(ready)
    }

    /// A link ended. Its pipe goes too when `detach` (accepted links, or a
    /// connecter that gives up); otherwise it stays for the next attempt.
    ///
    /// What the link had not delivered (`rest`), then an XPUB's cancel
    /// notices for the topics it held last, then `last` (its link notice)
    /// join the socket's notice queue, in that order, unless the socket is
    /// closing. Returns the ticket of the last one appended
    /// ([`Core::notices_delivered`]), if any.
    pub(crate) fn pipe_down(
        &self,
        id: PipeId,
        detach: bool,
        mut rest: VecDeque<Inbound>,
        last: Option<Inbound>,
    ) -> Option<u64> {
        let mut state = self.state();
        state.dropped.remove(&id);
        if state.discarding.contains(&id) {
            self.discard_lane(id, rest.len());
            rest.clear();
        }
        let cancelled = state.cancelled.remove(&id);
        let notices = self.forget_peer(&mut state, id);
        if detach {
            state.pipes.retain(|p| p.id != id);
        }
        self.pipes_changed(&mut state);
        if self.is_closing() {
            return None;
        }
        rest.extend(notices.into_iter().map(|message| Inbound {
            pipe: id,
            message,
            from_peer: false,
        }));
        rest.extend(last);
        let ticket = state.notices.append(&mut rest);
        self.noted(&state);
        ticket.max(cancelled)
    }

    /// The peer on pipe `id` is gone: its routing id and subscriptions go.
    /// Returns an XPUB's cancel notices.
    fn forget_peer(&self, state: &mut State, id: PipeId) -> Vec<Message> {
        let Some(pipe) = state.pipe_mut(id) else {
            return Vec::new();
        };
        let was_ready = pipe.ready;
        pipe.ready = false;
        pipe.usable = !self.options.immediate;
        let routing_id = pipe.routing_id.take();
        // Cancelled in topic order, as libzmq's trie gives them.
        let mut topics = pipe.peer_subscriptions.take_topics();
        topics.sort_unstable();
        let mut claimed = pipe.claimed.take_topics();
        claimed.sort_unstable();
        if let Some(rid) = routing_id
            && state.routes.get(&rid) == Some(&id)
        {
            state.routes.remove(&rid);
        }
        if !(was_ready && self.socket_type.is_publisher()) {
            return Vec::new();
        }
        let xpub = self.socket_type == SocketType::Xpub;
        rules::peer_left(state, xpub, id, topics, claimed)
    }

    /// Copies the notice queue's counts for [`Core::deliver_notices`]'s
    /// check without the lock (`state` proves it is held).
    fn noted(&self, state: &State) {
        let delivered = state.notices.delivered();
        let appended = delivered + state.notices.len() as u64;
        self.notices_appended.store(appended, Ordering::Release);
        self.notices_delivered.store(delivered, Ordering::Release);
    }

    /// Moves what the notice queue has at its front into the inbound
    /// queue, as much as fits. Returns how many of its items were ever
    /// delivered: every ticket up to this one.
    pub(crate) fn deliver_notices(&self) -> u64 {
        let delivered = self.notices_delivered.load(Ordering::Acquire);
        if self.notices_appended.load(Ordering::Acquire) == delivered {
            return delivered;
        }
        let mut state = self.state();
        let delivered = state.notices.drain_into(&self.inbound);
        self.noted(&state);
        delivered
    }

    /// Waits until the notice queue item with `ticket` is in the inbound
    /// queue, delivering the queue's front as room appears; false if the
    /// socket closed first.
    pub(crate) async fn flush_notices(&self, ticket: u64) -> bool {
        loop {
            if self.deliver_notices() >= ticket {
                return true;
            }
            let room = std::future::poll_fn(|cx| self.inbound.poll_room(cx));
            tokio::select! {
                open = room => if !open { return false },
                () = self.closing.cancelled() => return false,
            }
        }
    }

    /// Removes a pipe without further ado (a connecter that gives up).
    pub(crate) fn detach(&self, id: PipeId) {
        let mut state = self.state();
        state.pipes.retain(|p| p.id != id);
        state.dropped.remove(&id);
        state.cancelled.remove(&id);
        self.pipes_changed(&mut state);
    }

    /// Why the socket dropped the pipe of a link that is still running
    /// ([`State::drop_pipe`]); [`Refusal::PipeGone`] if it did not say.
    pub(crate) fn take_drop_reason(&self, id: PipeId) -> Refusal {
        self.state()
            .dropped
            .remove(&id)
            .unwrap_or(Refusal::PipeGone)
    }

    /// ROUTER: ends the link of the peer with `routing_id`, if there is
    /// one. Its pipe goes, and with it whatever was queued for the peer;
    /// the link's engine ends with
    /// [`Refusal::DisconnectedByApplication`].
    pub(crate) fn disconnect_peer(&self, routing_id: &[u8]) -> bool {
        let mut state = self.state();
        let Some(pipe) = state.routes.remove(routing_id) else {
            return false;
        };
        self.drop_live_pipe(&mut state, pipe, Refusal::DisconnectedByApplication);
        self.pipes_changed(&mut state);
        drop(state);
        self.deliver_notices();
        // A sender waiting for this peer's room must look again.
        self.send_ready.notify_waiters();
        true
    }

    /// Drops a live link's pipe ([`State::drop_pipe`]). An XPUB reports
    /// the peer's topics cancelled now, as libzmq's does for a pipe it
    /// ends itself: the notices join the notice queue, and the link's end
    /// ([`Core::pipe_down`]) waits until they are delivered.
    fn drop_live_pipe(&self, state: &mut State, id: PipeId, why: Refusal) {
        let notices = self.forget_peer(state, id);
        state.drop_pipe(id, why);
        if notices.is_empty() || self.is_closing() {
            return;
        }
        let mut items: VecDeque<Inbound> = notices
            .into_iter()
            .map(|message| Inbound {
                pipe: id,
                message,
                from_peer: false,
            })
            .collect();
        if let Some(ticket) = state.notices.append(&mut items) {
            state.cancelled.insert(id, ticket);
        }
        self.noted(state);
    }

    /// Ends the link on pipe `id` for `why`: its pipe goes now if it has
    /// one (the engine ends on noticing); if its handshake is still under
    /// way, the pipe is refused when it comes ([`Core::pipe_ready`]).
    pub(crate) fn end_link(&self, id: PipeId, why: Refusal) {
        self.end_link_marking(id, why, true);
    }

    /// Ends the link on pipe `id` for `why` if its pipe is there (an
    /// inproc link's other end; nothing is recorded otherwise).
    pub(crate) fn end_live_link(&self, id: PipeId, why: Refusal) {
        self.end_link_marking(id, why, false);
    }

    /// [`Core::end_link`]; `mark` records the reason for a pipe still to
    /// come.
    fn end_link_marking(&self, id: PipeId, why: Refusal, mark: bool) {
        let mut state = self.state();
        if state.pipe(id).is_none() {
            if mark {
                state.dropped.insert(id, why);
            }
            return;
        }
        self.drop_live_pipe(&mut state, id, why);
        self.pipes_changed(&mut state);
        drop(state);
        self.deliver_notices();
        self.send_ready.notify_waiters();
    }

    /// The link on pipe `id` is over and left its endpoint: nothing may
    /// stay recorded about it.
    pub(crate) fn forget_link(&self, id: PipeId) {
        let mut state = self.state();
        state.dropped.remove(&id);
        state.discarding.remove(&id);
        state.cancelled.remove(&id);
    }

    /// `disconnect` ended the links on `pipes`: what they delivered and
    /// the application has not received goes, and so does what they still
    /// deliver before they are down ([`Core::pipe_down`]). Counted in
    /// [`SocketStats::dropped_inbound`].
    pub(crate) fn discard_inbound(&self, pipes: &[PipeId]) {
        let mut state = self.state();
        for &pipe in pipes {
            state.discarding.insert(pipe);
            self.discard_lane(pipe, 0);
        }
    }

    /// Drops the inbound lane of `pipe` and counts it, with `more` items
    /// dropped besides; under the state's lock (which comes before the
    /// inbound queue's).
    fn discard_lane(&self, pipe: PipeId, more: usize) {
        let n = self.inbound.drop_lane(pipe) + more;
        self.stats
            .dropped_inbound
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A peer subscribed or cancelled (PUB, XPUB). An XPUB's notice, if
    /// the state change makes one, joins the socket's notice queue now,
    /// after what the link decoded before it (`before`, moved there too so
    /// the link's stream keeps its order); its ticket is returned. An error
    /// says why the peer's link must end (it went over its subscription
    /// caps).
    pub(crate) fn on_subscription(
        &self,
        id: PipeId,
        subscribe: bool,
        topic: Bytes,
        before: &mut VecDeque<Inbound>,
    ) -> Result<Option<u64>, Refusal> {
        if !self.socket_type.is_publisher() {
            return Ok(None);
        }
        let xpub = self.socket_type == SocketType::Xpub;
        let mut state = self.state();
        let notice =
            rules::peer_subscription(&mut state, &self.options, xpub, id, subscribe, topic)?;
        let Some(message) = notice else {
            return Ok(None);
        };
        state.notices.append(before);
        let ticket = state.notices.push(Inbound {
            pipe: id,
            message,
            from_peer: false,
        });
        self.noted(&state);
        Ok(Some(ticket))
    }

    /// Marks the socket closed: every pipe is released (links then linger
    /// as configured), listeners and connecters stop.
    pub(crate) fn shut_down(&self) {
        let pipes = {
            let mut state = self.state();
            state.closed = true;
            state.routes.clear();
            self.pipes_changed(&mut state);
            std::mem::take(&mut state.pipes)
        };
        // Cancel before the pipes go, so an engine that sees its pipe close
        // knows it is lingering rather than being dropped.
        self.closing.cancel();
        drop(pipes);
        // `recv` still gets what is queued, then `Closed`.
        self.inbound.close();
        self.send_ready.notify_waiters();
    }

    pub(crate) fn snapshot(&self) -> SocketStats {
        let (peers, sent, noticed) = {
            let state = self.state();
            let peers = state.pipes.iter().filter(|p| p.ready).count();
            (peers, state.sent, state.notices.len() as u64)
        };
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SocketStats {
            sent: sent + load(&self.stats.sent_by_handles),
            received: self
                .inbound
                .taken()
                .saturating_sub(self.inbound.replaced())
                .saturating_sub(load(&self.stats.rejected))
                .saturating_sub(load(&self.stats.held_by_handles)),
            dropped_hwm: load(&self.stats.dropped_hwm),
            dropped_unroutable: load(&self.stats.dropped_unroutable),
            dropped_inbound: load(&self.stats.dropped_inbound),
            peers,
            // What links decoded and hold themselves, and what waits in
            // the notice queue (notices and the link messages around them).
            held_by_links: load(&self.stats.held_by_links) + noticed,
            queued: self.inbound.len() as u64,
        }
    }

    /// The link on `pipe` ended and has queued its last message: its
    /// metadata may go once the application has taken that message.
    pub(crate) fn retire_peer(&self, pipe: PipeId) {
        let end = self.inbound.position_past_lane(pipe);
        let taken = self.inbound.taken();
        self.peers.retire(pipe, end, taken);
    }

    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether `ZMQ_CONFLATE` applies: set, and a type libzmq conflates.
fn conflates(socket_type: SocketType, options: &Options) -> bool {
    options.conflate
        && matches!(
            socket_type,
            SocketType::Push
                | SocketType::Pull
                | SocketType::Dealer
                | SocketType::Pub
                | SocketType::Sub
        )
}
