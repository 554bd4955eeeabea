//! A socket's own endpoints: what it bound and what it connected, each
//! with the means to stop it alone ([`Socket::unbind`],
//! [`Socket::disconnect`]).
//!
//! Every bind and connect registers a [`Stop`]: a cancellation its
//! listener or connecter task watches, and the pipes of the links made
//! through it. Stopping cancels the task (a listener closes its port, a
//! connecter no longer redials) and ends those links as
//! [`Refusal::DisconnectedByApplication`], as libzmq's `zmq_unbind` ends a
//! listener's sessions and `zmq_disconnect` its connection.
//!
//! A link joins its endpoint's set before its pipe can reach the socket,
//! and a stop marks the set stopped under the same lock, so no link slips
//! through: one that finishes its handshake after the stop finds its pipe
//! refused ([`Core::end_link`]).
//!
//! [`Socket::unbind`]: crate::Socket::unbind
//! [`Socket::disconnect`]: crate::Socket::disconnect

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio_util::sync::CancellationToken;

use crate::core::Core;
use crate::endpoint::{Endpoint, Host};
use crate::peers::PipeId;
use crate::refusal::Refusal;

/// How an endpoint came to the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `bind`: a listener (or an inproc name).
    Bound,
    /// `connect`: a connecter (or an inproc link, maybe pending).
    Connected,
}

/// The stop switch of one bound or connected endpoint.
#[derive(Debug, Default)]
pub(crate) struct Stop {
    /// Cancelled when the endpoint stops (not when the socket closes:
    /// that is `Core::closing`, which lingers).
    token: CancellationToken,
    /// Cancelled when the endpoint's task has let go of it (a listener's
    /// port or file is free again).
    finished: CancellationToken,
    links: Mutex<Links>,
}

/// The links made through one endpoint.
#[derive(Debug, Default)]
struct Links {
    stopped: bool,
    pipes: HashSet<PipeId>,
    /// inproc: the other socket's end of each link, ended with ours so
    /// that socket sees the link gone at once, as libzmq's peer does.
    peer_ends: Vec<(Weak<Core>, PipeId)>,
}

impl Stop {
    /// A new, running endpoint's switch.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Stop::default())
    }

    fn links(&self) -> MutexGuard<'_, Links> {
        self.links.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Resolves once the endpoint is stopped.
    pub(crate) async fn stopped(&self) {
        self.token.cancelled().await;
    }

    /// The endpoint's task has let go of it.
    pub(crate) fn finish(&self) {
        self.finished.cancel();
    }

    /// Resolves once the endpoint's task has let go of it.
    pub(crate) async fn finished(&self) {
        self.finished.cancelled().await;
    }

    /// Whether the endpoint is stopped.
    pub(crate) fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    /// A link on `pipe` is made through this endpoint; false if the
    /// endpoint has stopped (the link must not start).
    pub(crate) fn join(&self, pipe: PipeId) -> bool {
        let mut links = self.links();
        if links.stopped {
            return false;
        }
        links.pipes.insert(pipe);
        true
    }

    /// inproc: `peer`'s pipe `pipe` is the other end of a link made
    /// through this endpoint.
    pub(crate) fn join_peer_end(&self, peer: &Arc<Core>, pipe: PipeId) {
        let mut links = self.links();
        links.peer_ends.retain(|(core, _)| core.strong_count() > 0);
        links.peer_ends.push((Arc::downgrade(peer), pipe));
    }

    /// The link on `pipe` ended.
    pub(crate) fn leave(&self, pipe: PipeId) {
        self.links().pipes.remove(&pipe);
    }

    /// Stops the endpoint and ends its links; returns their pipes.
    pub(crate) fn stop(&self, core: &Core) -> Vec<PipeId> {
        self.token.cancel();
        let mut links = self.links();
        links.stopped = true;
        // Under the lock: a link that leaves meanwhile has either been
        // ended here or is gone before this looks.
        let pipes: Vec<PipeId> = links.pipes.drain().collect();
        for &pipe in &pipes {
            core.end_link(pipe, Refusal::DisconnectedByApplication);
        }
        for (peer, pipe) in links.peer_ends.drain(..) {
            if let Some(peer) = peer.upgrade() {
                peer.end_live_link(pipe, Refusal::DisconnectedByApplication);
            }
        }
        pipes
    }
}

/// One registered endpoint.
#[derive(Debug)]
struct Entry {
    kind: Kind,
    /// As bound (ephemeral port resolved) or as connected.
    endpoint: Endpoint,
    stop: Arc<Stop>,
}

/// A socket's bound and connected endpoints.
#[derive(Debug, Default)]
pub(crate) struct Endpoints {
    entries: Mutex<Vec<Entry>>,
}

impl Endpoints {
    fn entries(&self) -> MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an endpoint and its switch.
    pub(crate) fn add(&self, kind: Kind, endpoint: Endpoint, stop: Arc<Stop>) {
        let mut entries = self.entries();
        // Endpoints whose task ended by itself (a connecter that gave up)
        // go when the next one comes: the list stays as long as the live
        // endpoints.
        entries.retain(|e| !e.stop.is_stopped());
        entries.push(Entry {
            kind,
            endpoint: normalise(endpoint),
            stop,
        });
    }

    /// Takes every endpoint of `kind` that `endpoint` names (libzmq keeps
    /// one entry per bind or connect, and stops them all).
    pub(crate) fn take(&self, kind: Kind, endpoint: &Endpoint) -> Vec<Arc<Stop>> {
        let wanted = normalise(endpoint.clone());
        let mut taken = Vec::new();
        self.entries().retain(|e| {
            let hit = e.kind == kind && e.endpoint == wanted;
            if hit {
                taken.push(e.stop.clone());
            }
            !hit
        });
        taken
    }
}

/// `*` as a host means every IPv4 interface, which a bind reports as
/// `0.0.0.0` (`ZMQ_LAST_ENDPOINT`): both name the same endpoint.
fn normalise(endpoint: Endpoint) -> Endpoint {
    match endpoint {
        Endpoint::Tcp {
            host: Host::Any,
            port,
            source,
        } => Endpoint::Tcp {
            host: Host::Ip(std::net::Ipv4Addr::UNSPECIFIED.into()),
            port,
            source,
        },
        Endpoint::Tls {
            host: Host::Any,
            port,
        } => Endpoint::Tls {
            host: Host::Ip(std::net::Ipv4Addr::UNSPECIFIED.into()),
            port,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: &str) -> Endpoint {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn a_wildcard_host_matches_its_bound_address() {
        let endpoints = Endpoints::default();
        endpoints.add(Kind::Bound, ep("tcp://0.0.0.0:5555"), Stop::new());
        assert!(
            endpoints
                .take(Kind::Connected, &ep("tcp://*:5555"))
                .is_empty()
        );
        assert_eq!(endpoints.take(Kind::Bound, &ep("tcp://*:5555")).len(), 1);
        assert!(endpoints.take(Kind::Bound, &ep("tcp://*:5555")).is_empty());
    }

    #[test]
    fn every_connect_to_the_endpoint_is_taken() {
        let endpoints = Endpoints::default();
        for _ in 0..2 {
            endpoints.add(Kind::Connected, ep("ipc:///tmp/x"), Stop::new());
        }
        endpoints.add(Kind::Connected, ep("ipc:///tmp/y"), Stop::new());
        assert_eq!(
            endpoints.take(Kind::Connected, &ep("ipc:///tmp/x")).len(),
            2
        );
        assert_eq!(
            endpoints.take(Kind::Connected, &ep("ipc:///tmp/y")).len(),
            1
        );
    }

    /// Endpoints as a test writes them: a few of each form, wildcard
    /// hosts among them.
    fn any_endpoint() -> impl proptest::strategy::Strategy<Value = Endpoint> {
        use proptest::prelude::*;
        prop_oneof![
            (0u16..3).prop_map(|p| ep(&format!("tcp://*:{}", 5000 + p))),
            (0u16..3).prop_map(|p| ep(&format!("tcp://0.0.0.0:{}", 5000 + p))),
            (0u16..3).prop_map(|p| ep(&format!("tcp://127.0.0.1:{}", 5000 + p))),
            (0u8..2).prop_map(|n| ep(&format!("inproc://n{n}"))),
        ]
    }

    proptest::proptest! {
        /// Against a plain list: `take` returns every entry of the kind
        /// naming the same endpoint (`*` and `0.0.0.0` alike), and only
        /// those, and they are gone afterwards.
        #[test]
        fn take_matches_a_model(
            ops in proptest::collection::vec(
                (proptest::bool::ANY, proptest::bool::ANY, any_endpoint()),
                1..40,
            )
        ) {
            let endpoints = Endpoints::default();
            let mut model: Vec<(Kind, Endpoint)> = Vec::new();
            let same = |a: &Endpoint, b: &Endpoint| {
                a.to_string().replace("0.0.0.0", "*") == b.to_string().replace("0.0.0.0", "*")
            };
            for (add, bound, endpoint) in ops {
                let kind = if bound { Kind::Bound } else { Kind::Connected };
                if add {
                    endpoints.add(kind, endpoint.clone(), Stop::new());
                    model.push((kind, endpoint));
                } else {
                    let expected = model
                        .iter()
                        .filter(|(k, e)| *k == kind && same(e, &endpoint))
                        .count();
                    model.retain(|(k, e)| !(*k == kind && same(e, &endpoint)));
                    proptest::prop_assert_eq!(endpoints.take(kind, &endpoint).len(), expected);
                }
            }
        }
    }

    #[test]
    fn a_stopped_endpoint_takes_no_new_links() {
        let stop = Stop::new();
        assert!(stop.join(1));
        let mut links = stop.links();
        links.stopped = true;
        drop(links);
        assert!(!stop.join(2));
    }
}
