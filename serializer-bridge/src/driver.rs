//! The background driver: a thin loop around the peers' [`Session`]s. It
//! feeds them link notices, bridge messages and the time, and moves what
//! they want sent onto the sockets. All protocol decisions are the
//! sessions'; this file only routes.
//!
//! One ROUTER accepts links from peers that connect to us; one DEALER per
//! configured peer connects out (with our node name as its routing id).
//! Both deliver link notices in line with messages. The driver owns each
//! socket's [`Receiver`] and polls them all from its one task (no reader
//! task or channel per socket), takes a batch, and after each batch (or a
//! wake-up from the caller, or a tick), collects
//! what the sessions want sent under the lock and sends it after releasing
//! it: the driver never calls into a socket while holding the bridge's lock.
//! A message a socket would not take waits in `held` for its route, and
//! that route's session is not asked for more until it went out, so a full
//! socket costs one batch per route at most.
//!
//! While more than `max_backlog` events wait unread, the driver stops
//! taking messages from the sockets: their queues fill to their HWMs and
//! the peers are pushed back by the transport, instead of us buffering.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use zmtp::Message;
use zmtp_transport::{Error, Receiver, Socket, SocketType};

use crate::event::PeerId;
use crate::session::{ProtocolError, Role, Session};
use crate::sockets::dealer_options;
use crate::state::{Route, Shared, State};
use crate::wire::{MAX_NODE_NAME, Wire};

/// Most messages taken from one session per round.
const BATCH: usize = 256;

/// Which socket a message came from.
#[derive(Debug, Clone, Copy)]
enum Source {
    Router,
    Dealer(usize),
}

/// The sockets' receiving ends, polled by the driver's one task.
struct Inputs {
    router: Option<Receiver>,
    dealers: Vec<Option<Receiver>>,
    /// Where the next poll starts, so no socket starves the others.
    start: usize,
}

impl Inputs {
    /// The next message of any socket, as `take` gets it from each in
    /// turn. A closed socket's end is dropped.
    fn next_with(
        &mut self,
        mut take: impl FnMut(&mut Receiver) -> Poll<zmtp_transport::Result<Message>>,
    ) -> Poll<(Source, Message)> {
        let count = 1 + self.dealers.len();
        for k in 0..count {
            let index = (self.start + k) % count;
            let (source, slot) = if index == 0 {
                (Source::Router, &mut self.router)
            } else {
                (Source::Dealer(index - 1), &mut self.dealers[index - 1])
            };
            let Some(receiver) = slot else {
                continue;
            };
            match take(receiver) {
                Poll::Ready(Ok(message)) => {
                    self.start = (index + 1) % count;
                    return Poll::Ready((source, message));
                }
                Poll::Ready(Err(Error::Closed)) => *slot = None,
                Poll::Ready(Err(_)) | Poll::Pending => {}
            }
        }
        Poll::Pending
    }

    /// Waits for the next message: `recv` is cancel-safe and leaves this
    /// task's waker with every socket's queue, so dropping the futures
    /// loses nothing.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<(Source, Message)> {
        self.next_with(|receiver| pin!(receiver.recv()).poll(cx))
    }

    /// A message already waiting, without waiting (and without touching
    /// the wakers `poll_next` left with the queues).
    fn try_next(&mut self) -> Option<(Source, Message)> {
        let taken = self.next_with(|receiver| match receiver.try_recv() {
            Err(Error::WouldBlock) => Poll::Pending,
            other => Poll::Ready(other),
        });
        match taken {
            Poll::Ready(next) => Some(next),
            Poll::Pending => None,
        }
    }
}

struct Driver {
    shared: Arc<Shared>,
    router: Option<Socket>,
    dealers: Vec<Socket>,
    inputs: Inputs,
    /// Messages a socket would not take yet, per route.
    held: HashMap<Route, VecDeque<Message>>,
    /// Links to close once what is queued for them (a REFUSE) went out.
    to_close: Vec<Route>,
    /// ROUTER links being closed for a protocol error: what they still
    /// send is dropped until their "down" (one REFUSE and one close per
    /// link, however much it sends; bounded by the open links).
    closing: HashSet<Bytes>,
    /// Messages dropped that way.
    dropped_from_closing: u64,
}

pub(crate) async fn run(shared: Arc<Shared>, router: Option<Socket>, dealers: Vec<Socket>) {
    let inputs = Inputs {
        router: router.as_ref().map(Socket::receiver),
        dealers: dealers.iter().map(|d| Some(d.receiver())).collect(),
        start: 0,
    };
    let mut driver = Driver {
        shared,
        router,
        dealers,
        inputs,
        held: HashMap::new(),
        to_close: Vec::new(),
        closing: HashSet::new(),
        dropped_from_closing: 0,
    };
    let tick = driver.shared.config.tick;
    let max_backlog = driver.shared.config.max_backlog;
    loop {
        let paused = driver.shared.lock().unread_events() > max_backlog;
        let next = std::future::poll_fn(|cx| {
            if paused {
                Poll::Pending
            } else {
                driver.inputs.poll_next(cx)
            }
        });
        tokio::select! {
            (source, message) = next => {
                let shared = driver.shared.clone();
                let mut state = shared.lock();
                let now = Instant::now();
                driver.on_message(&mut state, source, message, now);
                // Everything else already waiting, under the same lock.
                for _ in 0..BATCH {
                    let Some((source, message)) = driver.inputs.try_next() else {
                        break;
                    };
                    driver.on_message(&mut state, source, message, now);
                }
            }
            _ = driver.shared.driver_wake.notified() => {}
            _ = tokio::time::sleep(tick) => {}
        }
        let outgoing = {
            let shared = driver.shared.clone();
            let mut state = shared.lock();
            if state.closed {
                break;
            }
            driver.on_timeouts(&mut state, Instant::now());
            state.sync_groups();
            let outgoing = driver.collect(&mut state);
            state.forget_settled();
            driver.shared.signal_events(&state);
            outgoing
        };
        driver.send(outgoing);
        driver.close_links().await;
    }
    drop(driver.inputs);
    if let Some(router) = driver.router {
        router.close().await;
    }
    for dealer in driver.dealers {
        dealer.close().await;
    }
}

/// A link notice (`link_notify`): `["", "\x01"]` up, `["", "\x00"]` down.
fn notice(frames: &[Bytes]) -> Option<bool> {
    match frames {
        [empty, flag] if empty.is_empty() && flag.len() == 1 => Some(flag[0] == 1),
        _ => None,
    }
}

impl Driver {
    fn on_message(
        &mut self,
        state: &mut State,
        source: Source,
        mut message: Message,
        now: Instant,
    ) {
        if state.closed {
            return;
        }
        match source {
            Source::Router => {
                let Some(routing_id) = message.pop_front() else {
                    return;
                };
                match notice(message.frames()) {
                    Some(up) => self.on_router_link(state, routing_id, up, now),
                    None => self.on_router_message(state, routing_id, &message, now),
                }
            }
            Source::Dealer(i) => match notice(message.frames()) {
                Some(up) => self.on_dealer_link(state, i, up, now),
                None => {
                    let Some(peer) = dealer_peer(state, i) else {
                        return;
                    };
                    self.deliver(state, peer, Route::Connected(i), &message, now);
                }
            },
        }
    }

    /// A link of the ROUTER opened or closed. Peers exist only after a
    /// valid HELLO, so a link alone creates nothing.
    fn on_router_link(&mut self, state: &mut State, routing_id: Bytes, up: bool, now: Instant) {
        let peer = accepted_peer(state, &routing_id);
        let route = Route::Accepted(routing_id.clone());
        if up {
            *state.router_links.entry(routing_id).or_default() += 1;
            return;
        }
        let open = state.router_links.get_mut(&routing_id).map(|n| {
            *n = n.saturating_sub(1);
            *n
        });
        if open == Some(0) || open.is_none() {
            self.closing.remove(&routing_id);
        }
        if open == Some(0) {
            state.router_links.remove(&routing_id);
            self.held.remove(&route);
            if let Some(session) = peer.and_then(|p| state.session(p)) {
                session.link_down(now);
            }
        }
    }

    fn on_router_message(
        &mut self,
        state: &mut State,
        routing_id: Bytes,
        message: &Message,
        now: Instant,
    ) {
        if self.closing.contains(&routing_id) {
            self.dropped_from_closing += 1;
            return;
        }
        let route = Route::Accepted(routing_id.clone());
        let is_hello = message.frames().first().is_some_and(|tag| &tag[..] == b"H");
        if let Some(peer) = accepted_peer(state, &routing_id) {
            if !is_hello {
                return self.deliver(state, peer, route, message, now);
            }
            // A HELLO may come from a new link that took the routing id
            // over (ROUTER handover): it must be the same identity.
            let identity = self.link_identity();
            if state
                .peers
                .get(&peer)
                .is_some_and(|e| e.identity == identity)
            {
                return self.deliver(state, peer, route, message, now);
            }
            let name = String::from_utf8_lossy(&routing_id).into_owned();
            return self.refuse_link(state, route, ProtocolError::NameTaken { name });
        }
        // No peer yet: only a valid HELLO whose node name is exactly the
        // link's routing id makes one.
        let refusal = match Wire::decode(message) {
            Ok(Wire::Hello(hello)) => match self.admit(state, &routing_id, &hello.node) {
                Ok(peer) => {
                    let identity = self.link_identity();
                    if let Some(entry) = state.peers.get_mut(&peer) {
                        entry.identity = identity;
                    }
                    return self.deliver(state, peer, route, message, now);
                }
                Err(error) => error,
            },
            // A forgotten peer's old link's leftovers, sent before its new
            // HELLO: their outcome is settled by that HELLO's record.
            Ok(
                Wire::Chunk { .. }
                | Wire::GroupChunk { .. }
                | Wire::Ack { .. }
                | Wire::Refuse { .. },
            ) if is_forgotten(state, &routing_id) => {
                return;
            }
            Ok(other) => ProtocolError::BeforeHello(wire_name(&other)),
            Err(error) => ProtocolError::Malformed(error),
        };
        self.refuse_link(state, route, refusal);
    }

    /// Refuses a ROUTER link that belongs to no peer (or claims one it may
    /// not): a REFUSE, one coalesced event, and the link closed.
    fn refuse_link(&mut self, state: &mut State, route: Route, refusal: ProtocolError) {
        let Route::Accepted(routing_id) = &route else {
            return;
        };
        let name = String::from_utf8_lossy(routing_id).into_owned();
        let refuse = Wire::Refuse {
            code: refusal.refuse_code(),
            text: refusal.to_string(),
        };
        state.refuse(name, refusal);
        self.held
            .entry(route.clone())
            .or_default()
            .push_back(address(&route, refuse.encode()));
        self.schedule_close(route);
    }

    /// The authenticated identity of the ROUTER link whose message was
    /// taken last: the authenticator's user id, else the TLS certificate.
    fn link_identity(&self) -> Option<Bytes> {
        let peer = self.inputs.router.as_ref()?.last_peer()?;
        peer.user_id
            .clone()
            .or_else(|| peer.tls_peer.as_ref().map(|tls| tls.certificate.clone()))
    }

    /// A new accepted peer for a HELLO naming `node` on `routing_id`.
    fn admit(
        &self,
        state: &mut State,
        routing_id: &Bytes,
        node: &str,
    ) -> Result<PeerId, ProtocolError> {
        let expected = String::from_utf8_lossy(routing_id).into_owned();
        if node.as_bytes() != &routing_id[..] || node.len() > MAX_NODE_NAME {
            return Err(ProtocolError::NodeName {
                claimed: node.to_owned(),
                expected,
            });
        }
        if state.by_name.contains_key(node) || node == self.shared.config.node {
            // A configured peer's name (or ours) on an accepted link.
            return Err(ProtocolError::NameTaken {
                name: node.to_owned(),
            });
        }
        let shared = &self.shared;
        let name = node.to_owned();
        // A peer forgotten while idle continues where it left off.
        let history = state.unbury(node);
        let id = state.add(
            |id| match history {
                Some(history) => Session::with_history(
                    id,
                    name,
                    Role::Acceptor,
                    shared.settings.clone(),
                    history,
                ),
                None => shared.session(id, name, Role::Acceptor),
            },
            Route::Accepted(routing_id.clone()),
        );
        Ok(id)
    }

    /// Our DEALER's link to configured peer `i` opened or closed.
    fn on_dealer_link(&mut self, state: &mut State, i: usize, up: bool, now: Instant) {
        let route = Route::Connected(i);
        self.held.remove(&route);
        let Some(peer) = dealer_peer(state, i) else {
            return;
        };
        let Some(open) = state.dealer_links.get_mut(i) else {
            return;
        };
        if up {
            *open += 1;
            if let Some(session) = state.session(peer) {
                session.link_up(now);
            }
        } else {
            *open = open.saturating_sub(1);
            if *open == 0
                && let Some(session) = state.session(peer)
            {
                session.link_down(now);
            }
        }
    }

    /// A bridge message for a known peer's session.
    fn deliver(
        &mut self,
        state: &mut State,
        peer: PeerId,
        route: Route,
        message: &Message,
        now: Instant,
    ) {
        let Some(session) = state.session(peer) else {
            return;
        };
        let was_up = session.epoch().is_some();
        let result = match Wire::decode(message) {
            Ok(wire) => session.handle(wire, now),
            Err(error) => {
                let error = ProtocolError::Malformed(error);
                session.fail(error.clone(), now);
                Err(error)
            }
        };
        if let Err(error) = result {
            // With an epoch up, its PeerDown names the error; without one,
            // nothing else would tell the caller.
            if !was_up {
                let node = session.node().to_owned();
                state.refuse(node, error);
            }
            self.schedule_close(route);
        }
    }

    fn on_timeouts(&mut self, state: &mut State, now: Instant) {
        let due: Vec<PeerId> = state
            .peers
            .iter()
            .filter(|(_, e)| e.session.poll_timeout().is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let Some(entry) = state.peers.get_mut(&id) else {
                continue;
            };
            if entry.session.handle_timeout(now).is_err() {
                let route = entry.route.clone();
                self.schedule_close(route);
            }
        }
    }

    /// Takes what the sessions want sent, for routes with nothing held.
    fn collect(&mut self, state: &mut State) -> Vec<(Route, Message)> {
        let mut outgoing = Vec::new();
        for entry in state.peers.values_mut() {
            if self.held.get(&entry.route).is_some_and(|h| !h.is_empty()) {
                continue;
            }
            for _ in 0..BATCH {
                let Some(wire) = entry.session.poll_transmit() else {
                    break;
                };
                outgoing.push((entry.route.clone(), address(&entry.route, wire.encode())));
            }
        }
        outgoing
    }

    /// Sends held messages first, then the new ones; what a socket will
    /// not take now is held for its route.
    fn send(&mut self, outgoing: Vec<(Route, Message)>) {
        let routes: Vec<Route> = self.held.keys().cloned().collect();
        for route in routes {
            let Some(mut queue) = self.held.remove(&route) else {
                continue;
            };
            while let Some(message) = queue.pop_front() {
                if let Err(message) = self.try_send(&route, message) {
                    queue.push_front(message);
                    break;
                }
            }
            if !queue.is_empty() {
                self.held.insert(route, queue);
            }
        }
        for (route, message) in outgoing {
            if let Some(queue) = self.held.get_mut(&route) {
                queue.push_back(message);
                continue;
            }
            if let Err(message) = self.try_send(&route, message) {
                self.held.entry(route).or_default().push_back(message);
            }
        }
    }

    /// One message to its socket without waiting. `Err` gives it back when
    /// the socket is full; a message for a link that is gone is dropped
    /// (the session learns of the loss from the link's "down" and the
    /// peer's next delivery record).
    fn try_send(&self, route: &Route, message: Message) -> Result<(), Message> {
        let socket = match route {
            Route::Accepted(_) => self.router.as_ref(),
            Route::Connected(i) => self.dealers.get(*i),
        };
        let Some(socket) = socket else {
            return Ok(());
        };
        match socket.try_send(message) {
            Ok(()) => Ok(()),
            Err(e) if matches!(e.error, Error::WouldBlock) => Err(e.message),
            Err(_) => Ok(()),
        }
    }

    /// Marks a link to close after this round's sends; from now on what
    /// it sends is dropped.
    fn schedule_close(&mut self, route: Route) {
        let first = match &route {
            Route::Accepted(routing_id) => self.closing.insert(routing_id.clone()),
            Route::Connected(_) => !self.to_close.contains(&route),
        };
        if first {
            self.to_close.push(route);
        }
    }

    /// Closes links whose session ended them for a protocol error or a
    /// handshake timeout, after their REFUSE went out (or was held).
    async fn close_links(&mut self) {
        for route in std::mem::take(&mut self.to_close) {
            match route {
                Route::Accepted(routing_id) => {
                    self.held.remove(&Route::Accepted(routing_id.clone()));
                    if let Some(router) = &self.router {
                        router.disconnect_peer(&routing_id);
                    }
                }
                Route::Connected(i) => self.reopen_dealer(i).await,
            }
        }
    }

    /// A DEALER has one link: closing it means a new socket (the old one
    /// closes in the background, its leftovers never read).
    async fn reopen_dealer(&mut self, i: usize) {
        let Some(peer) = self.shared.config.peers.get(i) else {
            return;
        };
        let socket = Socket::with_options(SocketType::Dealer, dealer_options(&self.shared.config));
        if socket.connect(&peer.endpoint).await.is_err() {
            return;
        }
        self.held.remove(&Route::Connected(i));
        self.inputs.dealers[i] = Some(socket.receiver());
        let old = std::mem::replace(&mut self.dealers[i], socket);
        tokio::spawn(old.close());
        let mut state = self.shared.lock();
        if let Some(open) = state.dealer_links.get_mut(i) {
            *open = 0;
        }
        if let Some(peer) = dealer_peer(&state, i)
            && let Some(session) = state.session(peer)
        {
            session.link_down(Instant::now());
        }
    }
}

/// The configured peer behind DEALER `i`.
fn dealer_peer(state: &State, i: usize) -> Option<PeerId> {
    state.dealer_peers.get(i).copied()
}

/// Whether `routing_id` names an accepted peer the manager forgot.
fn is_forgotten(state: &State, routing_id: &Bytes) -> bool {
    std::str::from_utf8(routing_id).is_ok_and(|name| state.tombstones.contains_key(name))
}

/// The accepted peer on `routing_id`, matched byte for byte.
fn accepted_peer(state: &State, routing_id: &Bytes) -> Option<PeerId> {
    let name = std::str::from_utf8(routing_id).ok()?;
    let id = *state.by_name.get(name)?;
    let entry = state.peers.get(&id)?;
    (entry.route == Route::Accepted(routing_id.clone())).then_some(id)
}

/// A message for a route: the ROUTER needs the routing id in front.
fn address(route: &Route, mut message: Message) -> Message {
    if let Route::Accepted(routing_id) = route {
        message.push_front(routing_id.clone());
    }
    message
}

fn wire_name(wire: &Wire) -> &'static str {
    match wire {
        Wire::Hello(_) => "HELLO",
        Wire::Welcome(_) => "WELCOME",
        Wire::Chunk { .. } => "CHUNK",
        Wire::GroupChunk { .. } => "GCHUNK",
        Wire::Ack { .. } => "ACK",
        Wire::Refuse { .. } => "REFUSE",
    }
}
