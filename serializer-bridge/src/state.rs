//! What the caller's handle ([`PeerManager`](crate::PeerManager)) and the
//! background driver share ([`Shared`]): under one lock the peers'
//! sessions, how each is reached, and the events that belong to no peer;
//! beside it the wake-ups in both directions.
//!
//! Bounds: one entry per configured peer plus one per accepted peer that
//! completed a valid HELLO and is not yet settled (down, nothing owed,
//! nothing unread), or is bound to an authenticated identity (as many as
//! the socket's authenticator admits); link counts only for routing ids with a link open
//! (bounded by the ROUTER's own connection limits); at most
//! [`MAX_LOOSE`] refusal events, repeats from one routing id counted into
//! one event.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;

use crate::chunk::Chunk;
use crate::config::BridgeConfig;
use crate::event::{Event, PeerId};
use crate::group::{Group, GroupId, GroupTag, LinkState, MemberLinks};
use crate::session::{History, ProtocolError, Role, Session, Settings, WriteRefused};
use crate::wakeup::Wakeup;

/// State shared by the caller's handle and the driver.
pub(crate) struct Shared {
    pub(crate) config: BridgeConfig,
    pub(crate) settings: Arc<Settings>,
    pub(crate) state: Mutex<State>,
    /// Wakes the driver: chunks to send, acks due, room in the backlog.
    pub(crate) driver_wake: Notify,
    /// Wakes callers blocked in `wait_event`.
    pub(crate) events_ready: Condvar,
    pub(crate) wakeup: Wakeup,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells waiting callers that events may be ready.
    pub(crate) fn signal_events(&self, state: &State) {
        if state.backlog() > 0 {
            self.wakeup.raise();
            self.events_ready.notify_all();
        }
    }

    /// A new session with a peer.
    pub(crate) fn session(&self, id: PeerId, node: String, role: Role) -> Session {
        Session::new(id, node, role, self.settings.clone())
    }
}

/// Most forgotten peers whose [`History`] is kept.
pub(crate) const MAX_TOMBSTONES: usize = 4096;

/// Most refusal events kept unread; past it they are only counted.
pub(crate) const MAX_LOOSE: usize = 256;

/// How a peer is reached.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Route {
    /// Through our listening ROUTER, by this routing id (its node name).
    Accepted(Bytes),
    /// Through our own DEALER, the n-th configured peer.
    Connected(usize),
}

#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) session: Session,
    pub(crate) route: Route,
    /// For accepted peers: the authenticated identity (user id, or TLS
    /// certificate) of the link whose HELLO created the peer. Only a link
    /// of the same identity may speak for this name afterwards.
    pub(crate) identity: Option<Bytes>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) peers: BTreeMap<PeerId, Entry>,
    pub(crate) by_name: HashMap<String, PeerId>,
    /// Open links per routing id on the ROUTER (link notices counted: a
    /// dead link's "down" may come after its replacement's "up").
    pub(crate) router_links: HashMap<Bytes, u32>,
    /// Open links per configured peer's DEALER.
    pub(crate) dealer_links: Vec<u32>,
    /// The configured peer behind each DEALER (configured peers are never
    /// forgotten, so this never goes stale).
    pub(crate) dealer_peers: Vec<PeerId>,
    pub(crate) next_id: u32,
    /// Refusals of links that belong to no peer.
    pub(crate) loose: VecDeque<Event>,
    /// Refusals past [`MAX_LOOSE`], counted only.
    pub(crate) refusals_uncounted: u64,
    /// Forgotten accepted peers: enough to continue their epochs and see
    /// their restarts if they return, oldest first out past
    /// [`MAX_TOMBSTONES`].
    pub(crate) tombstones: HashMap<String, History>,
    pub(crate) tombstone_order: VecDeque<String>,
    /// Where `poll_event` looks first, so one busy peer does not starve
    /// the others.
    pub(crate) cursor: u32,
    pub(crate) closed: bool,
    /// Our groups (as many as the caller creates).
    pub(crate) groups: BTreeMap<GroupId, Group>,
    pub(crate) next_group: u32,
}

/// The peers' links as groups see them.
pub(crate) struct Links<'a> {
    peers: &'a mut BTreeMap<PeerId, Entry>,
    by_name: &'a HashMap<String, PeerId>,
}

impl MemberLinks for Links<'_> {
    fn link(&self, node: &str) -> Option<LinkState> {
        self.link_of(*self.by_name.get(node)?)
    }

    fn link_of(&self, peer: PeerId) -> Option<LinkState> {
        let session = &self.peers.get(&peer)?.session;
        Some(LinkState {
            peer,
            epoch: session.epoch(),
            filling_up: session.is_filling_up(),
            groups: session.speaks_groups(),
        })
    }

    fn send(&mut self, peer: PeerId, chunk: Chunk, tag: GroupTag) -> Result<u64, WriteRefused> {
        let entry = self.peers.get_mut(&peer).ok_or(WriteRefused::UnknownPeer)?;
        entry
            .session
            .write_group(chunk, tag)
            .map_err(|(refused, _)| refused)
    }
}

impl State {
    pub(crate) fn session(&mut self, id: PeerId) -> Option<&mut Session> {
        self.peers.get_mut(&id).map(|e| &mut e.session)
    }

    /// Adds a peer; its id is fresh.
    pub(crate) fn add(
        &mut self,
        session_of: impl FnOnce(PeerId) -> Session,
        route: Route,
    ) -> PeerId {
        let id = PeerId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        let session = session_of(id);
        self.by_name.insert(session.node().to_owned(), id);
        self.peers.insert(
            id,
            Entry {
                session,
                route,
                identity: None,
            },
        );
        id
    }

    /// Records a refused link, coalescing repeats of one routing id.
    pub(crate) fn refuse(&mut self, node: String, error: ProtocolError) {
        for event in self.loose.iter_mut() {
            if let Event::Refused { node: n, count, .. } = event
                && *n == node
            {
                *count += 1;
                return;
            }
        }
        if self.loose.len() >= MAX_LOOSE {
            self.refusals_uncounted += 1;
            return;
        }
        self.loose.push_back(Event::Refused {
            node,
            error,
            count: 1,
        });
    }

    /// Hands the sessions' group outcomes to their groups, then lets every
    /// group re-read its members' links (members gone leave, ready ones
    /// join).
    pub(crate) fn sync_groups(&mut self) {
        if self.groups.is_empty() {
            return;
        }
        // An ACK settles many group chunks of a member at once: each group
        // takes them as one batch (one lag update per member, one pass
        // over its streams for the events).
        for entry in self.peers.values_mut() {
            while let Some(outcome) = entry.session.poll_group_outcome() {
                if let Some(group) = self.groups.get_mut(&outcome.tag.group) {
                    group.note_outcome(outcome);
                }
            }
        }
        let links = Links {
            peers: &mut self.peers,
            by_name: &self.by_name,
        };
        for group in self.groups.values_mut() {
            group.finish_outcomes();
            group.refresh(&links);
        }
    }

    /// Writes a chunk to a group (see [`Group::write`]).
    pub(crate) fn write_group(
        &mut self,
        id: GroupId,
        chunk: Chunk,
    ) -> Result<u64, (crate::group::GroupWriteRefused, Chunk)> {
        // The group re-reads its own members' links; outcomes are handed
        // over by the driver's rounds and `poll_event`, not on every write
        // (that would scan every peer per chunk).
        let Some(group) = self.groups.get_mut(&id) else {
            return Err((crate::group::GroupWriteRefused::UnknownGroup, chunk));
        };
        let mut links = Links {
            peers: &mut self.peers,
            by_name: &self.by_name,
        };
        group.write(chunk, &mut links)
    }

    /// Events and chunks waiting for the application, over all peers.
    pub(crate) fn backlog(&self) -> usize {
        self.group_events()
            + self.loose.len()
            + self
                .peers
                .values()
                .map(|e| e.session.backlog())
                .sum::<usize>()
    }

    /// Events other than chunks waiting, over all peers.
    pub(crate) fn unread_events(&self) -> usize {
        self.group_events()
            + self.loose.len()
            + self
                .peers
                .values()
                .map(|e| e.session.unread_events())
                .sum::<usize>()
    }

    fn group_events(&self) -> usize {
        self.groups.values().map(Group::unread_events).sum()
    }

    /// The next event: refusals first, then the groups', then the peers in
    /// turn.
    pub(crate) fn next_event(&mut self) -> Option<Event> {
        if let Some(event) = self.loose.pop_front() {
            return Some(event);
        }
        if let Some(event) = self.groups.values_mut().find_map(Group::poll_event) {
            return Some(event);
        }
        let start = PeerId(self.cursor);
        let ids: Vec<PeerId> = self
            .peers
            .range(start..)
            .chain(self.peers.range(..start))
            .filter(|(_, e)| e.session.backlog() > 0)
            .map(|(id, _)| *id)
            .take(1)
            .collect();
        let id = *ids.first()?;
        self.cursor = id.0.wrapping_add(1);
        self.session(id)?.poll_event()
    }

    /// Forgets accepted peers that are down with nothing owed or unread.
    /// Peers bound to an authenticated identity are kept, so their name
    /// stays theirs (there are only as many as the authenticator admits).
    pub(crate) fn forget_settled(&mut self) {
        let settled: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, e)| {
                matches!(e.route, Route::Accepted(_))
                    && e.identity.is_none()
                    && e.session.is_settled()
            })
            .map(|(id, _)| *id)
            .collect();
        for id in settled {
            if let Some(entry) = self.peers.remove(&id) {
                let name = entry.session.node().to_owned();
                self.by_name.remove(&name);
                self.bury(name, entry.session.history());
            }
        }
    }

    fn bury(&mut self, name: String, history: History) {
        if self.tombstones.insert(name.clone(), history).is_none() {
            self.tombstone_order.push_back(name);
        }
        while self.tombstone_order.len() > MAX_TOMBSTONES {
            if let Some(oldest) = self.tombstone_order.pop_front() {
                self.tombstones.remove(&oldest);
            }
        }
    }

    /// The history of a forgotten peer called `name`, which is back.
    pub(crate) fn unbury(&mut self, name: &str) -> Option<History> {
        let history = self.tombstones.remove(name)?;
        self.tombstone_order.retain(|n| n != name);
        Some(history)
    }
}
