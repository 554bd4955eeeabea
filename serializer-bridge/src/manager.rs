//! The [`PeerManager`]: the caller's side of the bridge.
//!
//! Its methods never block on the network: `write` queues (or refuses and
//! hands the chunk back), `read` and `poll_event` take what has arrived. A
//! background driver on the manager's own runtime moves chunks between these
//! queues and the sockets. Events come out in order per peer, so every chunk
//! of an epoch is seen after that epoch's `PeerUp` and before its
//! `PeerDown`.

use std::collections::{HashMap, VecDeque};
use std::os::fd::RawFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::sync::Notify;
use zmtp_transport::{Endpoint, Options, Socket, SocketType};

use crate::chunk::Chunk;
use crate::config::BridgeConfig;
use crate::driver;
use crate::epoch::CacheEpoch;
use crate::event::{Event, PeerId};
use crate::peer::{Link, Peer, PeerStats, Route, WriteRefused};
use crate::wakeup::Wakeup;

/// Why a manager could not start.
#[derive(Debug, Error)]
pub enum BridgeError {
    /// A socket could not bind or connect.
    #[error("{endpoint}: {source}")]
    Socket {
        /// The endpoint.
        endpoint: String,
        /// What the socket layer said.
        source: zmtp_transport::Error,
    },
    /// The runtime or the wake-up descriptor could not be created.
    #[error("starting the bridge: {0}")]
    Io(#[from] std::io::Error),
    /// Two configured peers share a name, or a peer has our own name.
    #[error("bad configuration: {0}")]
    Config(String),
}

/// State shared by the caller's handle and the driver.
pub(crate) struct Shared {
    pub(crate) config: BridgeConfig,
    state: Mutex<State>,
    /// Wakes the driver: chunks to send, acks due.
    pub(crate) driver_wake: Notify,
    /// Wakes callers blocked in `wait_event`.
    events_ready: Condvar,
    wakeup: Wakeup,
}

pub(crate) struct State {
    pub(crate) peers: Vec<Peer>,
    pub(crate) by_name: HashMap<String, PeerId>,
    /// Events about no peer in particular.
    loose: VecDeque<(u64, Event)>,
    next_order: u64,
    pub(crate) closed: bool,
}

impl State {
    pub(crate) fn peer_mut(&mut self, id: PeerId) -> Option<&mut Peer> {
        self.peers.get_mut(id.0 as usize)
    }

    /// The peer called `name`, created (reached through the listener) if new.
    pub(crate) fn peer_by_name(&mut self, name: &str) -> PeerId {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        let id = PeerId(self.peers.len() as u32);
        self.peers
            .push(Peer::new(id, name.to_owned(), Route::Accepted));
        self.by_name.insert(name.to_owned(), id);
        id
    }
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues events in order and wakes whoever waits for them.
    pub(crate) fn emit(&self, state: &mut State, events: impl IntoIterator<Item = Event>) {
        let mut any = false;
        for event in events {
            let order = state.next_order;
            state.next_order += 1;
            match event.peer().and_then(|p| state.peers.get_mut(p.0 as usize)) {
                Some(peer) => peer.inbox.push_back((order, event)),
                None => state.loose.push_back((order, event)),
            }
            any = true;
        }
        if any {
            self.wakeup.raise();
            self.events_ready.notify_all();
        }
    }
}

/// Carries serialized chunks between this node and its cluster peers.
///
/// ```no_run
/// use serializer_bridge::{BridgeConfig, Chunk, Event, PeerConfig, PeerManager};
/// let mut config = BridgeConfig::new("worker-1");
/// config.peers.push(PeerConfig { name: "manager".into(), endpoint: "tcp://127.0.0.1:47757".into() });
/// let bridge = PeerManager::start(config).unwrap();
/// while let Some(event) = bridge.wait_event(std::time::Duration::from_secs(1)) {
///     if let Event::PeerUp { peer, epoch, .. } = event {
///         bridge.write(peer, Chunk::serial(epoch, &b"serialized state"[..])).unwrap();
///     }
/// }
/// ```
pub struct PeerManager {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    bound: Vec<Endpoint>,
}

impl std::fmt::Debug for PeerManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerManager")
            .field("node", &self.shared.config.node)
            .field("bound", &self.bound)
            .finish()
    }
}

impl PeerManager {
    /// Binds the listen endpoints, starts connecting to the configured peers,
    /// and returns at once; `PeerUp` events follow as links come up.
    pub fn start(config: BridgeConfig) -> Result<PeerManager, BridgeError> {
        check_config(&config)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("bridge-{}", config.node))
            .enable_all()
            .build()?;
        let mut state = State {
            peers: Vec::new(),
            by_name: HashMap::new(),
            loose: VecDeque::new(),
            next_order: 0,
            closed: false,
        };
        for (i, peer) in config.peers.iter().enumerate() {
            let id = PeerId(state.peers.len() as u32);
            state
                .peers
                .push(Peer::new(id, peer.name.clone(), Route::Connected(i)));
            state.by_name.insert(peer.name.clone(), id);
        }
        let shared = Arc::new(Shared {
            config,
            state: Mutex::new(state),
            driver_wake: Notify::new(),
            events_ready: Condvar::new(),
            wakeup: Wakeup::new()?,
        });
        let (router, dealers, bound) = runtime.block_on(open_sockets(&shared.config))?;
        runtime.spawn(driver::run(shared.clone(), router, dealers));
        Ok(PeerManager {
            shared,
            runtime: Some(runtime),
            bound,
        })
    }

    /// The endpoints actually bound (ephemeral ports resolved).
    pub fn bound_endpoints(&self) -> &[Endpoint] {
        &self.bound
    }

    /// The id of the peer called `name`, if known.
    pub fn peer_id(&self, name: &str) -> Option<PeerId> {
        self.shared.lock().by_name.get(name).copied()
    }

    /// Every known peer and its name.
    pub fn peers(&self) -> Vec<(PeerId, String)> {
        self.shared
            .lock()
            .peers
            .iter()
            .map(|p| (p.id, p.name.clone()))
            .collect()
    }

    /// The peer's current epoch, while its link is up.
    pub fn epoch(&self, peer: PeerId) -> Option<CacheEpoch> {
        let mut state = self.shared.lock();
        let p = state.peer_mut(peer)?;
        (p.link == Link::Up).then_some(p.epoch)
    }

    /// Queues a chunk for `peer`. Refused (and handed back) when the peer is
    /// down, the chunk is for another epoch, or the hard cap is reached.
    pub fn write(&self, peer: PeerId, chunk: Chunk) -> Result<(), (WriteRefused, Chunk)> {
        let mut state = self.shared.lock();
        if state.closed {
            return Err((WriteRefused::Closed, chunk));
        }
        let caps = self.shared.config.caps;
        let Some(p) = state.peer_mut(peer) else {
            return Err((WriteRefused::UnknownPeer, chunk));
        };
        let crossed = p.write(chunk, &caps)?;
        if crossed {
            self.shared.emit(&mut state, [Event::FillingUp { peer }]);
        }
        drop(state);
        self.shared.driver_wake.notify_one();
        Ok(())
    }

    /// Asks the driver to send what is queued now; true if nothing waits
    /// to be handed to the network for this peer.
    pub fn flush(&self, peer: PeerId) -> bool {
        self.shared.driver_wake.notify_one();
        let mut state = self.shared.lock();
        state.peer_mut(peer).is_none_or(|p| !p.has_unsent())
    }

    /// The next chunk from `peer`, if one is ready and no lifecycle event
    /// of that peer (take those with [`PeerManager::poll_event`]) comes
    /// before it.
    pub fn read(&self, peer: PeerId) -> Option<Chunk> {
        let mut state = self.shared.lock();
        let p = state.peer_mut(peer)?;
        if !matches!(p.inbox.front(), Some((_, Event::Chunk { .. }))) {
            return None;
        }
        let (_, event) = p.inbox.pop_front()?;
        self.took(&mut state, peer);
        match event {
            Event::Chunk { chunk, .. } => Some(chunk),
            _ => None,
        }
    }

    /// The next event of any peer, in arrival order.
    pub fn poll_event(&self) -> Option<Event> {
        let mut state = self.shared.lock();
        let event = take_next(&mut state);
        match &event {
            Some(Event::Chunk { peer, .. }) => self.took(&mut state, *peer),
            Some(_) => {}
            None => self.shared.wakeup.clear(),
        }
        event
    }

    /// Waits up to `timeout` for the next event.
    pub fn wait_event(&self, timeout: Duration) -> Option<Event> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(event) = self.poll_event() {
                return Some(event);
            }
            let state = self.shared.lock();
            let now = Instant::now();
            if now >= deadline || state.closed {
                return None;
            }
            if has_events(&state) {
                continue;
            }
            let _ = self
                .shared
                .events_ready
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// A chunk was handed to the application: count it for the next ack.
    fn took(&self, state: &mut State, peer: PeerId) {
        let every = self.shared.config.ack_every;
        if let Some(p) = state.peer_mut(peer) {
            p.delivered += 1;
            p.stats.read_calls += 1;
            if p.delivered - p.acked >= every || p.inbox.is_empty() {
                self.shared.driver_wake.notify_one();
            }
        }
    }

    /// A descriptor that is readable while events wait (for `select`/`poll`).
    pub fn fd(&self) -> RawFd {
        self.shared.wakeup.fd()
    }

    /// Whether chunks from `peer` are waiting to be read.
    pub fn can_read(&self, peer: PeerId) -> bool {
        let mut state = self.shared.lock();
        state
            .peer_mut(peer)
            .is_some_and(|p| matches!(p.inbox.front(), Some((_, Event::Chunk { .. }))))
    }

    /// Whether chunks for `peer` are waiting to be sent or acknowledged.
    pub fn can_write(&self, peer: PeerId) -> bool {
        let mut state = self.shared.lock();
        state.peer_mut(peer).is_some_and(|p| p.pending() > 0)
    }

    /// Whether nothing is pending in either direction for `peer`.
    pub fn is_idle(&self, peer: PeerId) -> bool {
        let mut state = self.shared.lock();
        state
            .peer_mut(peer)
            .is_none_or(|p| p.pending() == 0 && p.inbox.is_empty())
    }

    /// Whether `peer` is past its soft cap.
    pub fn is_filling_up(&self, peer: PeerId) -> bool {
        let mut state = self.shared.lock();
        state.peer_mut(peer).is_some_and(|p| p.is_filling_up())
    }

    /// Drops the chunks queued for `peer` and not yet sent, returning them.
    pub fn clear(&self, peer: PeerId) -> Vec<Chunk> {
        let caps = self.shared.config.caps;
        let mut state = self.shared.lock();
        let Some(p) = state.peer_mut(peer) else {
            return Vec::new();
        };
        let (cleared, drained) = p.clear(&caps);
        if drained {
            self.shared.emit(&mut state, [Event::Drained { peer }]);
        }
        cleared
    }

    /// The peer's counters.
    pub fn stats(&self, peer: PeerId) -> Option<PeerStats> {
        let mut state = self.shared.lock();
        state.peer_mut(peer).map(|p| p.stats)
    }

    /// Stops everything; links close after at most the socket linger.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.driver_wake.notify_one();
        self.shared.events_ready.notify_all();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

impl Drop for PeerManager {
    fn drop(&mut self) {
        self.stop();
    }
}

fn has_events(state: &State) -> bool {
    !state.loose.is_empty() || state.peers.iter().any(|p| !p.inbox.is_empty())
}

/// Pops the event with the lowest order number over all queues.
fn take_next(state: &mut State) -> Option<Event> {
    let loose = state.loose.front().map(|(o, _)| *o);
    let best_peer = state
        .peers
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.inbox.front().map(|(o, _)| (*o, i)))
        .min();
    match (loose, best_peer) {
        (Some(l), Some((o, _))) if l < o => state.loose.pop_front().map(|(_, e)| e),
        (_, Some((_, i))) => state.peers[i].inbox.pop_front().map(|(_, e)| e),
        (Some(_), None) => state.loose.pop_front().map(|(_, e)| e),
        (None, None) => None,
    }
}

fn check_config(config: &BridgeConfig) -> Result<(), BridgeError> {
    let mut names: Vec<&str> = config.peers.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(BridgeError::Config("two peers share a name".into()));
    }
    if names.contains(&config.node.as_str()) {
        return Err(BridgeError::Config(format!(
            "a peer is named like this node, {:?}",
            config.node
        )));
    }
    if config.node.is_empty() || config.node.len() > 255 {
        return Err(BridgeError::Config(
            "the node name must be 1 to 255 bytes".into(),
        ));
    }
    Ok(())
}

/// The listening ROUTER (if any endpoints) and one DEALER per peer.
async fn open_sockets(
    config: &BridgeConfig,
) -> Result<(Option<Socket>, Vec<Socket>, Vec<Endpoint>), BridgeError> {
    let socket_error = |endpoint: &str| {
        let endpoint = endpoint.to_owned();
        move |source| BridgeError::Socket { endpoint, source }
    };
    let mut bound = Vec::new();
    let router = if config.listen.is_empty() {
        None
    } else {
        let mut options = link_options(config);
        options.router_mandatory = true;
        // A restarted node reconnects under its old name before its old
        // link is noticed dead; the new link takes over.
        options.router_handover = true;
        let router = Socket::with_options(SocketType::Router, options);
        for endpoint in &config.listen {
            bound.push(
                router
                    .bind(endpoint)
                    .await
                    .map_err(socket_error(endpoint))?,
            );
        }
        Some(router)
    };
    let mut dealers = Vec::new();
    for peer in &config.peers {
        let mut options = link_options(config);
        options.routing_id = config.node.clone().into();
        // Chunks are bound to a link's epoch: never queue them for a link
        // that is not up.
        options.immediate = true;
        let dealer = Socket::with_options(SocketType::Dealer, options);
        dealer
            .connect(&peer.endpoint)
            .await
            .map_err(socket_error(&peer.endpoint))?;
        dealers.push(dealer);
    }
    Ok((router, dealers, bound))
}

/// The configured socket options, with the link notices the driver needs.
fn link_options(config: &BridgeConfig) -> Options {
    let mut options = config.socket.clone();
    options.link_notify = true;
    options
}
