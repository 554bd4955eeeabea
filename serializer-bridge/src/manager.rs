//! The [`PeerManager`]: the caller's side of the bridge.
//!
//! Its methods never block on the network: `write` queues (or refuses and
//! hands the chunk back), `read` and `poll_event` take what has arrived. A
//! background driver on the manager's own runtime moves bridge messages
//! between the peers' [`Session`]s and the sockets. Events come out in
//! order per peer; every written chunk gets exactly one outcome event
//! ([`Event::Delivered`] or [`Event::HandedBack`]).

use std::os::fd::RawFd;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use zmtp_transport::Endpoint;

use crate::chunk::Chunk;
use crate::config::BridgeConfig;
use crate::driver;
use crate::epoch::CacheEpoch;
use crate::error::{BridgeError, ConfigError};
use crate::event::{Event, PeerId};
use crate::group::{Group, GroupId, GroupWriteRefused};
use crate::session::{Role, Settings, Window, WriteRefused};
use crate::sockets::open_sockets;
use crate::state::{Route, Shared, State};
use crate::stats::PeerStats;
use crate::wakeup::Wakeup;

/// Carries serialized chunks between this node and its cluster peers.
///
/// ```no_run
/// use serializer_bridge::{BridgeConfig, Chunk, Event, PeerConfig, PeerManager};
/// let mut config = BridgeConfig::new("worker-1");
/// config.peers.push(PeerConfig { name: "manager".into(), endpoint: "tcp://127.0.0.1:47757".into() });
/// let bridge = PeerManager::start(config).unwrap();
/// while let Some(event) = bridge.wait_event(std::time::Duration::from_secs(1)) {
///     match event {
///         Event::PeerUp { peer, epoch, .. } => {
///             let seq = bridge.write(peer, Chunk::serial(epoch, &b"serialized state"[..])).unwrap();
///             println!("chunk {seq} of {epoch} queued");
///         }
///         Event::HandedBack { chunks, .. } => println!("{} chunks to re-serialize", chunks.len()),
///         _ => {}
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
        let settings = Arc::new(settings_of(&config));
        let shared = Arc::new(Shared {
            config,
            settings,
            state: Mutex::new(State::default()),
            driver_wake: Notify::new(),
            events_ready: Condvar::new(),
            wakeup: Wakeup::new()?,
        });
        {
            let mut state = shared.lock();
            for (i, peer) in shared.config.peers.iter().enumerate() {
                let name = peer.name.clone();
                let id = state.add(
                    |id| shared.session(id, name, Role::Connector),
                    Route::Connected(i),
                );
                state.dealer_peers.push(id);
            }
            state.dealer_links = vec![0; shared.config.peers.len()];
        }
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

    /// This process's incarnation, as its peers see it.
    pub fn incarnation(&self) -> u64 {
        self.shared.settings.incarnation
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
            .map(|(id, e)| (*id, e.session.node().to_owned()))
            .collect()
    }

    /// The peer's current epoch, while its link is up.
    pub fn epoch(&self, peer: PeerId) -> Option<CacheEpoch> {
        self.shared.lock().session(peer)?.epoch()
    }

    /// Queues a chunk for `peer` and returns its sequence number in the
    /// epoch: its outcome will name it. Refused (and handed back) when the
    /// peer is down, the chunk is for another epoch, or the hard cap is
    /// reached.
    pub fn write(&self, peer: PeerId, chunk: Chunk) -> Result<u64, (WriteRefused, Chunk)> {
        let mut state = self.shared.lock();
        if state.closed {
            return Err((WriteRefused::Closed, chunk));
        }
        let Some(session) = state.session(peer) else {
            return Err((WriteRefused::UnknownPeer, chunk));
        };
        let seq = session.write(chunk)?;
        self.shared.signal_events(&state);
        drop(state);
        self.shared.driver_wake.notify_one();
        Ok(seq)
    }

    /// Creates the group `name` of the peers called `members` (node names;
    /// peers known now or later), or adds `members` to it if it exists.
    /// Its first [`Event::GroupEpoch`] comes when a member's link is up;
    /// then [`PeerManager::write_group`] sends one encoding to all of them.
    pub fn join_group(&self, name: &str, members: &[&str]) -> GroupId {
        let mut state = self.shared.lock();
        let existing = state
            .groups
            .values()
            .find(|g| g.name() == name)
            .map(Group::id);
        let id = existing.unwrap_or_else(|| {
            let id = GroupId(state.next_group);
            state.next_group = state.next_group.wrapping_add(1);
            let limits = self.shared.config.group_limits;
            state
                .groups
                .insert(id, Group::new(id, name, Vec::new(), limits));
            id
        });
        if let Some(group) = state.groups.get_mut(&id) {
            for member in members {
                group.add_member(*member);
            }
        }
        state.sync_groups();
        self.shared.signal_events(&state);
        id
    }

    /// The group called `name`, if it exists.
    pub fn group_id(&self, name: &str) -> Option<GroupId> {
        let state = self.shared.lock();
        let group = state.groups.values().find(|g| g.name() == name)?;
        Some(group.id())
    }

    /// The group's current epoch (0 before its first) and members.
    pub fn group_epoch(&self, group: GroupId) -> Option<(CacheEpoch, Vec<PeerId>)> {
        let state = self.shared.lock();
        let group = state.groups.get(&group)?;
        Some((group.epoch(), group.members()))
    }

    /// Group chunks accepted and still waiting for their outcome.
    pub fn group_pending(&self, group: GroupId) -> Option<usize> {
        self.shared.lock().groups.get(&group).map(Group::pending)
    }

    /// Queues one chunk, encoded once for the group's current epoch, for
    /// every member: the same bytes, shared, not copied. Its sequence in
    /// the group epoch; its outcome follows as [`Event::GroupDelivered`] or
    /// [`Event::GroupHandedBack`] naming the members that did not get it.
    /// Refused (and handed back) for another epoch, an empty group, or a
    /// closed manager.
    pub fn write_group(
        &self,
        group: GroupId,
        chunk: Chunk,
    ) -> Result<u64, (GroupWriteRefused, Chunk)> {
        let mut state = self.shared.lock();
        if state.closed {
            return Err((GroupWriteRefused::Closed, chunk));
        }
        let seq = state.write_group(group, chunk)?;
        self.shared.signal_events(&state);
        drop(state);
        self.shared.driver_wake.notify_one();
        Ok(seq)
    }

    /// Asks the driver to send what is queued now; true if nothing waits
    /// to be handed to the network for this peer.
    pub fn flush(&self, peer: PeerId) -> bool {
        self.shared.driver_wake.notify_one();
        let mut state = self.shared.lock();
        state.session(peer).is_none_or(|s| !s.has_unsent())
    }

    /// The next chunk from `peer`, if one is ready. Taking it counts it
    /// delivered (the sender will be told).
    pub fn read(&self, peer: PeerId) -> Option<Chunk> {
        let mut state = self.shared.lock();
        let chunk = state.session(peer)?.take();
        if chunk.is_some() {
            drop(state);
            self.shared.driver_wake.notify_one();
        }
        chunk
    }

    /// The next event of any peer (chunks included; peers take turns).
    pub fn poll_event(&self) -> Option<Event> {
        let mut state = self.shared.lock();
        state.sync_groups();
        let event = state.next_event();
        match &event {
            Some(_) => {
                drop(state);
                // An ACK may be due, or the driver may wait for room.
                self.shared.driver_wake.notify_one();
            }
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
            if state.backlog() > 0 {
                continue;
            }
            let _ = self
                .shared
                .events_ready
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// A descriptor that is readable while events wait (for `select`/`poll`).
    pub fn fd(&self) -> RawFd {
        self.shared.wakeup.fd()
    }

    /// Whether chunks from `peer` are waiting to be read.
    pub fn can_read(&self, peer: PeerId) -> bool {
        self.shared
            .lock()
            .session(peer)
            .is_some_and(|s| s.can_take())
    }

    /// Whether chunks for `peer` are waiting to be sent or confirmed.
    pub fn can_write(&self, peer: PeerId) -> bool {
        self.shared
            .lock()
            .session(peer)
            .is_some_and(|s| s.pending() > 0)
    }

    /// Whether nothing is pending, in doubt or unread for `peer`.
    pub fn is_idle(&self, peer: PeerId) -> bool {
        self.shared.lock().session(peer).is_none_or(|s| s.is_idle())
    }

    /// Whether `peer` is past its soft cap.
    pub fn is_filling_up(&self, peer: PeerId) -> bool {
        self.shared
            .lock()
            .session(peer)
            .is_some_and(|s| s.is_filling_up())
    }

    /// Takes back the chunks queued for `peer` and not yet sent. They are
    /// the caller's again (no outcome event follows for them), and the
    /// next writes reuse their sequence numbers.
    pub fn clear(&self, peer: PeerId) -> Vec<Chunk> {
        let mut state = self.shared.lock();
        let Some(session) = state.session(peer) else {
            return Vec::new();
        };
        let (_, cleared) = session.clear();
        self.shared.signal_events(&state);
        cleared
    }

    /// The peer's counters.
    pub fn stats(&self, peer: PeerId) -> Option<PeerStats> {
        self.shared.lock().session(peer).map(|s| s.stats())
    }

    /// Refusals of unknown links past the kept events, counted only.
    pub fn refusals_uncounted(&self) -> u64 {
        self.shared.lock().refusals_uncounted
    }

    /// Stops everything and returns the events not yet taken, which end
    /// with every chunk still owed handed back ([`HandBack::Shutdown`](crate::HandBack::Shutdown)).
    pub fn shutdown(mut self) -> Vec<Event> {
        self.stop();
        let mut state = self.shared.lock();
        state.sync_groups();
        let mut events = Vec::new();
        while let Some(event) = state.next_event() {
            events.push(event);
        }
        events
    }

    /// Ends every epoch and refuses further writes, handing back every
    /// chunk still owed ([`HandBack::Shutdown`](crate::HandBack::Shutdown));
    /// the events stay readable with [`PeerManager::poll_event`]. The links
    /// close when the manager is dropped or shut down.
    pub fn close(&self) {
        let mut state = self.shared.lock();
        if !state.closed {
            state.closed = true;
            let now = Instant::now();
            for entry in state.peers.values_mut() {
                entry.session.shut_down(now);
            }
        }
        self.shared.signal_events(&state);
        drop(state);
        self.shared.driver_wake.notify_one();
        self.shared.events_ready.notify_all();
    }

    fn stop(&mut self) {
        self.close();
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

fn settings_of(config: &BridgeConfig) -> Settings {
    Settings {
        node: config.node.clone(),
        incarnation: new_incarnation(),
        capabilities: config.capabilities,
        cache_size: config.cache_size,
        caps: config.caps,
        window: Window {
            chunks: config.caps.hard_chunks as u64,
            bytes: config.caps.hard_bytes as u64,
        },
        ack_every: config.ack_every,
        handshake_timeout: config.handshake_timeout,
        in_doubt_timeout: config.in_doubt_timeout,
    }
}

/// A random, non-zero incarnation from the OS's random source (the
/// standard library's hasher keys are seeded from it).
fn new_incarnation() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.finish() | 1
}

fn check_config(config: &BridgeConfig) -> Result<(), ConfigError> {
    let mut names: Vec<&str> = config.peers.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(ConfigError::DuplicatePeer(w[0].to_owned()));
    }
    if names.contains(&config.node.as_str()) {
        return Err(ConfigError::PeerNamedLikeNode(config.node.clone()));
    }
    if config.node.is_empty() || config.node.len() > crate::wire::MAX_NODE_NAME {
        return Err(ConfigError::NodeNameLength(config.node.len()));
    }
    let caps = config.caps;
    if caps.hard_chunks == 0 || caps.hard_bytes == 0 || config.ack_every == 0 {
        return Err(ConfigError::ZeroLimit);
    }
    Ok(())
}
