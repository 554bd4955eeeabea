//! The background driver: moves chunks between the peers' queues and the
//! sockets, runs the bridge hello, and acknowledges what the application
//! has read.
//!
//! One ROUTER accepts links from peers that connect to us; one DEALER per
//! configured peer connects out (with our node name as its routing id).
//! Both deliver link notices in line with messages, so a link's chunks
//! always come before its "down". A reader task per socket feeds one
//! channel; the driver handles messages as they come, and after each batch
//! (or a wake-up from the caller, or a tick) sends what it can without
//! waiting: a full socket just leaves chunks queued for the next round.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use zmtp::Message;
use zmtp_transport::{Error, Socket};

use crate::chunk::Chunk;
use crate::epoch::CacheEpoch;
use crate::event::{Event, PeerId};
use crate::manager::{Shared, State};
use crate::peer::{Link, Route, Window};
use crate::wire::{Hello, PROTOCOL_VERSION, Wire};

/// Which socket a message came from.
#[derive(Debug, Clone, Copy)]
enum Source {
    Router,
    Dealer(usize),
}

struct Driver {
    shared: Arc<Shared>,
    router: Option<Socket>,
    dealers: Vec<Socket>,
}

pub(crate) async fn run(shared: Arc<Shared>, router: Option<Socket>, dealers: Vec<Socket>) {
    let (tx, mut rx) = mpsc::channel::<(Source, Message)>(1024);
    if let Some(router) = &router {
        tokio::spawn(read_socket(router.clone(), Source::Router, tx.clone()));
    }
    for (i, dealer) in dealers.iter().enumerate() {
        tokio::spawn(read_socket(dealer.clone(), Source::Dealer(i), tx.clone()));
    }
    drop(tx);
    let driver = Driver {
        shared,
        router,
        dealers,
    };
    let mut tick = tokio::time::interval(driver.shared.config.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            received = rx.recv() => {
                let Some((source, message)) = received else { break };
                let mut state = driver.shared.lock();
                driver.on_message(&mut state, source, message);
                // Everything else already waiting, under the same lock.
                for _ in 0..256 {
                    match rx.try_recv() {
                        Ok((source, message)) => driver.on_message(&mut state, source, message),
                        Err(_) => break,
                    }
                }
            }
            _ = driver.shared.driver_wake.notified() => {}
            _ = tick.tick() => {}
        }
        let mut state = driver.shared.lock();
        if state.closed {
            break;
        }
        driver.pump(&mut state);
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
    fn on_message(&self, state: &mut State, source: Source, mut message: Message) {
        match source {
            Source::Router => {
                let Some(routing_id) = message.pop_front() else {
                    return;
                };
                let name = String::from_utf8_lossy(&routing_id).into_owned();
                match notice(message.frames()) {
                    Some(up) => self.on_accepted_link(state, &name, up),
                    None => self.on_accepted_message(state, &name, &routing_id, &message),
                }
            }
            Source::Dealer(i) => {
                let Some(&peer) = state.by_name.get(&self.shared.config.peers[i].name) else {
                    return;
                };
                match notice(message.frames()) {
                    Some(up) => self.on_connected_link(state, peer, up),
                    None => self.on_connected_message(state, peer, &message),
                }
            }
        }
    }

    /// A peer connected to our ROUTER, or one of its links closed.
    fn on_accepted_link(&self, state: &mut State, name: &str, up: bool) {
        let peer = state.peer_by_name(name);
        let Some(p) = state.peer_mut(peer) else {
            return;
        };
        if up {
            p.open_links += 1;
            if p.link == Link::Down {
                p.link = Link::Handshaking;
            }
        } else {
            p.open_links = p.open_links.saturating_sub(1);
            if p.open_links == 0 {
                self.close_link(state, peer, "link closed");
            }
        }
    }

    fn on_accepted_message(
        &self,
        state: &mut State,
        name: &str,
        routing_id: &Bytes,
        message: &Message,
    ) {
        let wire = match Wire::decode(message) {
            Ok(wire) => wire,
            Err(e) => {
                return self.refuse(
                    state,
                    Route::Accepted,
                    routing_id,
                    name,
                    format!("malformed bridge message: {e}"),
                );
            }
        };
        let peer = state.by_name.get(name).copied();
        match (wire, peer) {
            (Wire::Hello(hello), _) => self.on_hello(state, routing_id, name, hello),
            (
                Wire::Chunk {
                    epoch,
                    seq,
                    kind,
                    payload,
                },
                Some(peer),
            ) => self.on_chunk(state, peer, epoch, seq, Chunk::new(epoch, kind, payload)),
            (Wire::Ack { epoch, seq }, Some(peer)) => self.on_ack(state, peer, epoch, seq),
            (Wire::Refuse(reason), _) => {
                self.shared.emit(
                    state,
                    [Event::Refused {
                        node: name.to_owned(),
                        reason,
                    }],
                );
            }
            (other, _) => {
                let reason = format!("unexpected bridge message before HELLO: {other:?}");
                self.refuse(state, Route::Accepted, routing_id, name, reason);
            }
        }
    }

    /// The acceptor's side of the hello: agree an epoch and welcome.
    fn on_hello(&self, state: &mut State, routing_id: &Bytes, name: &str, hello: Hello) {
        if hello.version != PROTOCOL_VERSION {
            let reason = format!(
                "bridge protocol version {} is not supported; this node speaks {PROTOCOL_VERSION}",
                hello.version
            );
            return self.refuse(state, Route::Accepted, routing_id, name, reason);
        }
        if hello.node != name {
            let reason = format!(
                "hello names node {:?} but the link's routing id is {name:?}",
                hello.node
            );
            return self.refuse(state, Route::Accepted, routing_id, name, reason);
        }
        let peer = state.peer_by_name(name);
        let caps = self.shared.config.caps;
        let Some(p) = state.peer_mut(peer) else {
            return;
        };
        let ended = p.end_epoch("replaced by a new link", &caps);
        let epoch = hello
            .epoch
            .max(CacheEpoch::next_after(p.epoch, p.peer_epoch));
        let up = p.start_epoch(epoch, Window::of(&hello));
        p.open_links = p.open_links.max(1);
        let welcome = Wire::Welcome(self.hello(epoch));
        self.shared.emit(state, ended.into_iter().chain([up]));
        self.send(Route::Accepted, routing_id, welcome);
    }

    fn on_connected_message(&self, state: &mut State, peer: PeerId, message: &Message) {
        let name = state.peers[peer.0 as usize].name.clone();
        let wire = match Wire::decode(message) {
            Ok(wire) => wire,
            Err(e) => {
                let reason = format!("malformed bridge message: {e}");
                self.close_link(state, peer, &reason);
                return self
                    .shared
                    .emit(state, [Event::Refused { node: name, reason }]);
            }
        };
        match wire {
            Wire::Welcome(welcome) => {
                let caps = self.shared.config.caps;
                let Some(p) = state.peer_mut(peer) else {
                    return;
                };
                if welcome.version != PROTOCOL_VERSION || welcome.epoch <= p.epoch {
                    let reason = format!(
                        "bad WELCOME: version {}, {}",
                        welcome.version, welcome.epoch
                    );
                    p.end_epoch(&reason, &caps);
                    return self
                        .shared
                        .emit(state, [Event::Refused { node: name, reason }]);
                }
                let up = p.start_epoch(welcome.epoch, Window::of(&welcome));
                self.shared.emit(state, [up]);
            }
            Wire::Chunk {
                epoch,
                seq,
                kind,
                payload,
            } => self.on_chunk(state, peer, epoch, seq, Chunk::new(epoch, kind, payload)),
            Wire::Ack { epoch, seq } => self.on_ack(state, peer, epoch, seq),
            Wire::Refuse(reason) => {
                let caps = self.shared.config.caps;
                if let Some(p) = state.peer_mut(peer) {
                    let ended = p.end_epoch(&format!("refused by peer: {reason}"), &caps);
                    self.shared.emit(state, ended);
                }
                self.shared
                    .emit(state, [Event::Refused { node: name, reason }]);
            }
            Wire::Hello(_) => {
                let reason = "peer sent HELLO on a link we opened".to_string();
                self.shared
                    .emit(state, [Event::Refused { node: name, reason }]);
            }
        }
    }

    /// Our DEALER's link came up or went down. Links are counted: a dead
    /// link's last messages (and its "down") may arrive after its
    /// replacement's "up".
    fn on_connected_link(&self, state: &mut State, peer: PeerId, up: bool) {
        let Some(p) = state.peer_mut(peer) else {
            return;
        };
        if up {
            p.open_links += 1;
            self.open_link(state, peer);
        } else {
            p.open_links = p.open_links.saturating_sub(1);
            if p.open_links == 0 {
                self.close_link(state, peer, "link closed");
            }
        }
    }

    /// Our DEALER's link is up: propose the next epoch.
    fn open_link(&self, state: &mut State, peer: PeerId) {
        let caps = self.shared.config.caps;
        let Some(p) = state.peer_mut(peer) else {
            return;
        };
        let ended = p.end_epoch("replaced by a new link", &caps);
        p.link = Link::Handshaking;
        let epoch = CacheEpoch::next_after(p.epoch, p.peer_epoch);
        let route = p.route.clone();
        self.shared.emit(state, ended);
        self.send(route, &Bytes::new(), Wire::Hello(self.hello(epoch)));
    }

    fn close_link(&self, state: &mut State, peer: PeerId, reason: &str) {
        let caps = self.shared.config.caps;
        if let Some(p) = state.peer_mut(peer) {
            let ended = p.end_epoch(reason, &caps);
            self.shared.emit(state, ended);
        }
    }

    fn on_chunk(&self, state: &mut State, peer: PeerId, epoch: CacheEpoch, seq: u64, chunk: Chunk) {
        let caps = self.shared.config.caps;
        let Some(p) = state.peer_mut(peer) else {
            return;
        };
        match p.on_chunk(epoch, seq, chunk, &caps) {
            Ok(Some(chunk)) => self.shared.emit(state, [Event::Chunk { peer, chunk }]),
            Ok(None) => {}
            Err(reason) => {
                let name = p.name.clone();
                let route = p.route.clone();
                self.close_link(state, peer, &reason);
                self.send(route, &Bytes::from(name), Wire::Refuse(reason));
            }
        }
    }

    fn on_ack(&self, state: &mut State, peer: PeerId, epoch: CacheEpoch, seq: u64) {
        let caps = self.shared.config.caps;
        let Some(p) = state.peer_mut(peer) else {
            return;
        };
        if p.on_ack(epoch, seq, &caps) {
            self.shared.emit(state, [Event::Drained { peer }]);
        }
    }

    fn refuse(
        &self,
        state: &mut State,
        route: Route,
        routing_id: &Bytes,
        name: &str,
        reason: String,
    ) {
        self.send(route, routing_id, Wire::Refuse(reason.clone()));
        self.shared.emit(
            state,
            [Event::Refused {
                node: name.to_owned(),
                reason,
            }],
        );
    }

    fn hello(&self, epoch: CacheEpoch) -> Hello {
        let config = &self.shared.config;
        Hello {
            version: PROTOCOL_VERSION,
            capabilities: config.capabilities,
            cache_size: config.cache_size,
            window_chunks: u32::try_from(config.caps.hard_chunks).unwrap_or(u32::MAX),
            window_bytes: config.caps.hard_bytes as u64,
            epoch,
            node: config.node.clone(),
        }
    }

    /// Hands one bridge message to the right socket without waiting;
    /// false if the socket would not take it now.
    fn send(&self, route: Route, routing_id: &Bytes, wire: Wire) -> bool {
        let mut message = wire.encode();
        let socket = match route {
            Route::Accepted => {
                message.push_front(routing_id.clone());
                self.router.as_ref()
            }
            Route::Connected(i) => self.dealers.get(i),
        };
        socket.is_some_and(|s| s.try_send(message).is_ok())
    }

    /// Sends queued chunks and due acknowledgements for every peer.
    fn pump(&self, state: &mut State) {
        let every = self.shared.config.ack_every;
        for p in state.peers.iter_mut() {
            let routing_id = Bytes::from(p.name.clone());
            while let Some(wire) = p.next_wire() {
                if self.send(p.route.clone(), &routing_id, wire) {
                    p.sent();
                } else {
                    p.unsend();
                    break;
                }
            }
            if let Some(ack) = p.ack_due(every) {
                let delivered = p.delivered;
                if self.send(p.route.clone(), &routing_id, ack) {
                    p.acked = delivered;
                    p.stats.write_calls += 1;
                }
            }
        }
    }
}
