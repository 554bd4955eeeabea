//! The background driver: a thin loop around the peers' [`Session`]s. It
//! feeds them link notices, bridge messages and the time, and moves what
//! they want sent onto the sockets. All protocol decisions are the
//! sessions'; this file only routes.
//!
//! One ROUTER accepts links from peers that connect to us; one DEALER per
//! configured peer connects out (with our node name as its routing id).
//! Both deliver link notices in line with messages. A reader task per
//! socket feeds one channel; the driver handles messages as they come and,
//! after each batch (or a wake-up from the caller, or a tick), collects
//! what the sessions want sent under the lock and sends it after releasing
//! it: the driver never calls into a socket while holding the bridge's lock.
//! A message a socket would not take waits in `held` for its route, and
//! that route's session is not asked for more until it went out, so a full
//! socket costs one batch per route at most.
//!
//! While more than `max_backlog` events wait unread, the driver stops
//! taking messages from the sockets: their queues fill to their HWMs and
//! the peers are pushed back by the transport, instead of us buffering.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;
use zmtp::Message;
use zmtp_transport::{Error, Socket, SocketType};

use crate::event::PeerId;
use crate::manager::Shared;
use crate::session::{ProtocolError, Role};
use crate::state::{Route, State};
use crate::wire::{MAX_NODE_NAME, Wire};

/// Most messages taken from one session per round.
const BATCH: usize = 256;

/// Which socket a message came from; a DEALER's generation tells a
/// replaced socket's leftovers apart.
#[derive(Debug, Clone, Copy)]
enum Source {
    Router,
    Dealer(usize, u64),
}

struct Driver {
    shared: Arc<Shared>,
    router: Option<Socket>,
    dealers: Vec<Socket>,
    generations: Vec<u64>,
    tx: mpsc::Sender<(Source, Message)>,
    /// Messages a socket would not take yet, per route.
    held: HashMap<Route, VecDeque<Message>>,
    /// Links to close once what is queued for them (a REFUSE) went out.
    to_close: Vec<Route>,
}

pub(crate) async fn run(shared: Arc<Shared>, router: Option<Socket>, dealers: Vec<Socket>) {
    let (tx, mut rx) = mpsc::channel::<(Source, Message)>(1024);
    if let Some(router) = &router {
        tokio::spawn(read_socket(router.clone(), Source::Router, tx.clone()));
    }
    for (i, dealer) in dealers.iter().enumerate() {
        tokio::spawn(read_socket(dealer.clone(), Source::Dealer(i, 0), tx.clone()));
    }
    let mut driver = Driver {
        generations: vec![0; dealers.len()],
        shared,
        router,
        dealers,
        tx,
        held: HashMap::new(),
        to_close: Vec::new(),
    };
    let tick = driver.shared.config.tick;
    let max_backlog = driver.shared.config.max_backlog;
    loop {
        let paused = driver.shared.lock().unread_events() > max_backlog;
        tokio::select! {
            received = rx.recv(), if !paused => {
                let Some((source, message)) = received else { break };
                let shared = driver.shared.clone();
                let mut state = shared.lock();
                let now = Instant::now();
                driver.on_message(&mut state, source, message, now);
                // Everything else already waiting, under the same lock.
                for _ in 0..BATCH {
                    match rx.try_recv() {
                        Ok((source, message)) => driver.on_message(&mut state, source, message, now),
                        Err(_) => break,
                    }
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
            let outgoing = driver.collect(&mut state);
            state.forget_settled();
            driver.shared.signal_events(&state);
            outgoing
        };
        driver.send(outgoing);
        driver.close_links().await;
    }
    if let Some(router) = driver.router {
        router.close().await;
    }
    for dealer in driver.dealers {
        dealer.close().await;
    }
}

async fn read_socket(socket: Socket, source: Source, tx: mpsc::Sender<(Source, Message)>) {
    loop {
        match socket.recv().await {
            Ok(message) => {
                if tx.send((source, message)).await.is_err() {
                    return;
                }
            }
            Err(Error::Closed) => return,
            Err(_) => continue,
        }
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
    fn on_message(&mut self, state: &mut State, source: Source, mut message: Message, now: Instant) {
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
            Source::Dealer(i, generation) => {
                if self.generations.get(i) != Some(&generation) {
                    return;
                }
                match notice(message.frames()) {
                    Some(up) => self.on_dealer_link(state, i, up, now),
                    None => {
                        let Some(peer) = dealer_peer(state, i) else {
                            return;
                        };
                        self.deliver(state, peer, Route::Connected(i), &message, now);
                    }
                }
            }
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
        if open == Some(0) {
            state.router_links.remove(&routing_id);
            self.held.remove(&route);
            if let Some(session) = peer.and_then(|p| state.session(p)) {
                session.link_down(now);
            }
        }
    }

    fn on_router_message(&mut self, state: &mut State, routing_id: Bytes, message: &Message, now: Instant) {
        let route = Route::Accepted(routing_id.clone());
        if let Some(peer) = accepted_peer(state, &routing_id) {
            return self.deliver(state, peer, route, message, now);
        }
        // No peer yet: only a valid HELLO whose node name is exactly the
        // link's routing id makes one.
        let refusal = match Wire::decode(message) {
            Ok(Wire::Hello(hello)) => match self.admit(state, &routing_id, &hello.node) {
                Ok(peer) => return self.deliver(state, peer, route, message, now),
                Err(error) => error,
            },
            Ok(other) => ProtocolError::BeforeHello(wire_name(&other)),
            Err(error) => ProtocolError::Malformed(error),
        };
        let name = String::from_utf8_lossy(&routing_id).into_owned();
        let refuse = Wire::Refuse {
            code: refusal.refuse_code(),
            text: refusal.to_string(),
        };
        state.refuse(name, refusal);
        self.held.entry(route.clone()).or_default().push_back(address(&route, refuse.encode()));
        self.to_close.push(route);
    }

    /// A new accepted peer for a HELLO naming `node` on `routing_id`.
    fn admit(&self, state: &mut State, routing_id: &Bytes, node: &str) -> Result<PeerId, ProtocolError> {
        let expected = String::from_utf8_lossy(routing_id).into_owned();
        if node.as_bytes() != &routing_id[..] || node.len() > MAX_NODE_NAME {
            return Err(ProtocolError::NodeName {
                claimed: node.to_owned(),
                expected,
            });
        }
        if state.by_name.contains_key(node) || node == self.shared.config.node {
            // A configured peer's name (or ours) on an accepted link.
            return Err(ProtocolError::NameTaken { name: node.to_owned() });
        }
        let shared = &self.shared;
        let name = node.to_owned();
        let id = state.add(|id| shared.session(id, name, Role::Acceptor), Route::Accepted(routing_id.clone()));
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
            if *open == 0 {
                if let Some(session) = state.session(peer) {
                    session.link_down(now);
                }
            }
        }
    }

    /// A bridge message for a known peer's session.
    fn deliver(&mut self, state: &mut State, peer: PeerId, route: Route, message: &Message, now: Instant) {
        let Some(session) = state.session(peer) else {
            return;
        };
        let result = match Wire::decode(message) {
            Ok(wire) => session.handle(wire, now),
            Err(error) => {
                let error = ProtocolError::Malformed(error);
                session.fail(error.clone(), now);
                Err(error)
            }
        };
        if result.is_err() {
            self.to_close.push(route);
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
                self.to_close.push(entry.route.clone());
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

    /// Closes links whose session ended them for a protocol error or a
    /// handshake timeout, after their REFUSE went out (or was held).
    async fn close_links(&mut self) {
        for route in std::mem::take(&mut self.to_close) {
            match route {
                Route::Accepted(routing_id) => {
                    self.held.remove(&Route::Accepted(routing_id.clone()));
                    if let Some(router) = &self.router {
                        let _ = (router, &routing_id); // RESTORE: router.disconnect_peer(&routing_id);
                    }
                }
                Route::Connected(i) => self.reopen_dealer(i).await,
            }
        }
    }

    /// A DEALER has one link: closing it means a new socket (the old one
    /// closes in the background; its leftovers carry an old generation).
    async fn reopen_dealer(&mut self, i: usize) {
        let Some(peer) = self.shared.config.peers.get(i) else {
            return;
        };
        let socket = Socket::with_options(SocketType::Dealer, crate::manager::dealer_options(&self.shared.config));
        if socket.connect(&peer.endpoint).await.is_err() {
            return;
        }
        self.held.remove(&Route::Connected(i));
        self.generations[i] += 1;
        let old = std::mem::replace(&mut self.dealers[i], socket.clone());
        tokio::spawn(old.close());
        tokio::spawn(read_socket(socket, Source::Dealer(i, self.generations[i]), self.tx.clone()));
        let mut state = self.shared.lock();
        if let Some(open) = state.dealer_links.get_mut(i) {
            *open = 0;
        }
        if let Some(peer) = dealer_peer(&state, i) {
            if let Some(session) = state.session(peer) {
                session.link_down(Instant::now());
            }
        }
    }
}

/// The configured peer behind DEALER `i`.
fn dealer_peer(state: &State, i: usize) -> Option<PeerId> {
    state
        .peers
        .iter()
        .find(|(_, e)| e.route == Route::Connected(i))
        .map(|(id, _)| *id)
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
        Wire::Ack { .. } => "ACK",
        Wire::Refuse { .. } => "REFUSE",
    }
}
