//! Why the socket itself turned a link away or ended it: its own rules
//! (one PAIR peer, unique ROUTER ids, a listener's admission of links in
//! their handshake), its closing, or the application's say-so. The other ways a link ends
//! (the protocol, the stream, TLS) are in [`LinkEnd`](crate::LinkEnd).

use std::time::Duration;

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
    /// A listener already had [`Options::max_handshakes_per_source`] links
    /// from the same source in their handshake; the new connection was
    /// closed at once.
    ///
    /// [`Options::max_handshakes_per_source`]: crate::Options::max_handshakes_per_source
    #[error("{max} connections from this source are in their handshake already")]
    TooManyFromSource {
        /// The per-source cap.
        max: usize,
    },
    /// The link was the oldest of [`Options::max_handshakes`] in their
    /// handshake when a new connection came: it was closed to let the
    /// newcomer in.
    ///
    /// [`Options::max_handshakes`]: crate::Options::max_handshakes
    #[error("closed for a newcomer: the oldest of {max} connections in their handshake")]
    Evicted {
        /// The cap.
        max: usize,
    },
    /// The link had not sent its whole greeting (on `tls://`: finished TLS
    /// and sent the greeting) within [`Options::greeting_ivl`].
    ///
    /// [`Options::greeting_ivl`]: crate::Options::greeting_ivl
    #[error("no greeting within {ivl:?}")]
    GreetingTimeout {
        /// The greeting interval.
        ivl: Duration,
    },
    /// A PAIR socket has its one peer already.
    #[error("PAIR socket already has a peer")]
    PairTaken,
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
        matches!(self, Refusal::PairTaken) || self.is_over_budget()
    }

    /// Whether the peer broke a per-peer budget (its subscriptions): it
    /// misbehaved, and only its own link ended.
    pub fn is_over_budget(&self) -> bool {
        matches!(
            self,
            Refusal::TooManySubscriptions { .. } | Refusal::SubscriptionBytes { .. }
        )
    }

    /// Whether a listener's admission rules closed or refused the link: a
    /// cap on handshakes in progress, or the greeting deadline.
    pub fn is_admission(&self) -> bool {
        matches!(
            self,
            Refusal::HandshakeCap { .. }
                | Refusal::TooManyFromSource { .. }
                | Refusal::Evicted { .. }
                | Refusal::GreetingTimeout { .. }
        )
    }
}
