//! What a monitor reports: one [`MonitorEvent`] per thing that happens to
//! a socket's listeners, connecters and links, each end or refusal with
//! its typed [`LinkEnd`].

use std::time::Duration;

use zmtp::SocketType;

use crate::endpoint::Endpoint;
use crate::link_end::LinkEnd;

/// One thing that happened on a socket.
///
/// Reasons are typed ([`LinkEnd`]); [`MonitorEvent::reason`] gives the
/// reason of any event that has one, and `{}` prints it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MonitorEvent {
    /// A bind succeeded; `endpoint` is the bound address.
    Listening {
        /// The bound endpoint (ephemeral ports resolved).
        endpoint: Endpoint,
    },
    /// A listener accepted a connection.
    Accepted {
        /// The listener's endpoint.
        endpoint: Endpoint,
        /// The peer's address.
        peer: String,
    },
    /// A listener refused a connection (too many handshakes in progress
    /// from its source:
    /// [`Refusal::TooManyFromSource`](crate::Refusal::TooManyFromSource);
    /// none allowed: [`Refusal::HandshakeCap`](crate::Refusal::HandshakeCap))
    /// or could not accept one ([`LinkEnd::AcceptFailed`], with an empty
    /// `peer`).
    Refused {
        /// The listener's endpoint.
        endpoint: Endpoint,
        /// The peer's address.
        peer: String,
        /// Why.
        reason: LinkEnd,
    },
    /// An outgoing connection was established at the transport level.
    Connected {
        /// The endpoint connected to.
        endpoint: Endpoint,
        /// The peer's address.
        peer: String,
    },
    /// A connection attempt failed or a link dropped; the next attempt
    /// comes after `delay`.
    ReconnectScheduled {
        /// The endpoint.
        endpoint: Endpoint,
        /// The wait before the next attempt.
        delay: Duration,
        /// Why the last attempt or link ended.
        reason: LinkEnd,
    },
    /// The ZMTP handshake completed.
    HandshakeSucceeded {
        /// The endpoint (bound or connected).
        endpoint: Endpoint,
        /// The peer's address.
        peer: String,
        /// The peer's socket type, if announced.
        peer_socket_type: Option<SocketType>,
    },
    /// The ZMTP handshake failed; the connection was closed. This includes
    /// accepted links the listener cut short: evicted for a newcomer
    /// ([`Refusal::Evicted`](crate::Refusal::Evicted)) or silent past the
    /// greeting deadline
    /// ([`Refusal::GreetingTimeout`](crate::Refusal::GreetingTimeout)).
    HandshakeFailed {
        /// The endpoint (bound or connected).
        endpoint: Endpoint,
        /// The peer's address.
        peer: String,
        /// What went wrong. [`LinkEnd::is_protocol_error`] tells whether a
        /// connecting socket gives up after it (as libzmq after a protocol
        /// error), [`LinkEnd::is_authentication_failure`] whether
        /// credentials were refused (libzmq's
        /// `ZMQ_EVENT_HANDSHAKE_FAILED_AUTH`).
        reason: LinkEnd,
    },
    /// An established connection ended.
    Disconnected {
        /// The endpoint (bound or connected).
        endpoint: Endpoint,
        /// The peer's address.
        peer: String,
        /// Why it ended.
        reason: LinkEnd,
    },
    /// A listener or connecter was shut down for good.
    Closed {
        /// The endpoint.
        endpoint: Endpoint,
        /// Why: [`LinkEnd::SocketClosed`] when the socket closed; for a
        /// connecter that gave up, how its last link ended (a protocol
        /// error, or any end when reconnection is off).
        reason: LinkEnd,
    },
}

impl MonitorEvent {
    /// The endpoint the event is about.
    pub fn endpoint(&self) -> &Endpoint {
        match self {
            MonitorEvent::Listening { endpoint }
            | MonitorEvent::Accepted { endpoint, .. }
            | MonitorEvent::Refused { endpoint, .. }
            | MonitorEvent::Connected { endpoint, .. }
            | MonitorEvent::ReconnectScheduled { endpoint, .. }
            | MonitorEvent::HandshakeSucceeded { endpoint, .. }
            | MonitorEvent::HandshakeFailed { endpoint, .. }
            | MonitorEvent::Disconnected { endpoint, .. }
            | MonitorEvent::Closed { endpoint, .. } => endpoint,
        }
    }

    /// Why, for the events that end or refuse something; `None` for the
    /// others. Display it for text:
    ///
    /// ```
    /// # use zmtp_transport::{Endpoint, LinkEnd, MonitorEvent};
    /// let event = MonitorEvent::Closed {
    ///     endpoint: "tcp://127.0.0.1:5555".parse::<Endpoint>().unwrap(),
    ///     reason: LinkEnd::SocketClosed,
    /// };
    /// assert_eq!(event.reason().map(|r| r.to_string()).as_deref(), Some("socket closed"));
    /// ```
    pub fn reason(&self) -> Option<&LinkEnd> {
        match self {
            MonitorEvent::Refused { reason, .. }
            | MonitorEvent::ReconnectScheduled { reason, .. }
            | MonitorEvent::HandshakeFailed { reason, .. }
            | MonitorEvent::Disconnected { reason, .. }
            | MonitorEvent::Closed { reason, .. } => Some(reason),
            MonitorEvent::Listening { .. }
            | MonitorEvent::Accepted { .. }
            | MonitorEvent::Connected { .. }
            | MonitorEvent::HandshakeSucceeded { .. } => None,
        }
    }
}
