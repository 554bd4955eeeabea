//! Why the socket itself turned a link away or ended it: its own rules
//! (one PAIR peer, unique ROUTER ids, the handshake cap of a listener),
//! its closing, or the application's say-so. The other ways a link ends
//! (the protocol, the stream, TLS) are in [`LinkEnd`](crate::LinkEnd).

use bytes::Bytes;
use thiserror::Error;

/// A link the socket refused or dropped, and which of its rules said so.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Refusal {
    /// A listener already had [`Options::max_handshakes`] links in their
    /// handshake; the new connection was closed at once.
    ///
    /// [`Options::max_handshakes`]: crate::Options::max_handshakes
    #[error("{max} connections are in their handshake already")]
    HandshakeCap {
        /// The cap.
        max: usize,
    },
    /// A PAIR socket has its one peer already.
    #[error("PAIR socket already has a peer")]
    PairTaken,
    /// ROUTER: a live peer holds the routing id this one asked for, and
    /// [`Options::router_handover`](crate::Options::router_handover) is off.
    #[error("routing id {0:?} is already in use")]
    RoutingIdInUse(Bytes),
    /// ROUTER with handover: a new peer took this link's routing id.
    #[error("a new peer took over the routing id")]
    RoutingIdTakenOver,
    /// The socket was closing when the (accepted) link finished its
    /// handshake; nothing waits to be sent on it.
    #[error("socket is closing")]
    SocketClosing,
    /// The socket no longer holds the link's pipe.
    #[error("the socket dropped the link's pipe")]
    PipeGone,
    /// The application ended the link
    /// ([`Socket::disconnect_peer`](crate::Socket::disconnect_peer)).
    #[error("disconnected by the application")]
    DisconnectedByApplication,
    /// PUB/XPUB: the peer subscribed to more distinct topics than
    /// [`Options::max_peer_subscriptions`](crate::Options::max_peer_subscriptions).
    #[error("the peer subscribed to more than {max} topics")]
    TooManySubscriptions {
        /// The cap.
        max: usize,
    },
    /// PUB/XPUB: the peer's distinct topics came to more bytes than
    /// [`Options::max_peer_subscription_bytes`](crate::Options::max_peer_subscription_bytes).
    #[error("the peer's subscriptions exceed {max} bytes")]
    SubscriptionBytes {
        /// The cap.
        max: usize,
    },
}

impl Refusal {
    /// Whether a connecting socket should give up rather than try again:
    /// the same peer would be refused the same way (libzmq stops after a
    /// protocol error likewise). Closing, a lost pipe, a handover or the
    /// application's disconnect say nothing about the next attempt.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Refusal::PairTaken | Refusal::RoutingIdInUse(_)) || self.is_over_budget()
    }

    /// Whether the peer broke a per-peer budget (its subscriptions): it
    /// misbehaved, and only its own link ended.
    pub fn is_over_budget(&self) -> bool {
        matches!(
            self,
            Refusal::TooManySubscriptions { .. } | Refusal::SubscriptionBytes { .. }
        )
    }
}
