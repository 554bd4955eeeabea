//! Monitor events: what happens to a socket's listeners and connections,
//! as a [`Stream`](futures_core::Stream).
//!
//! Each [`Monitor`] has its own bounded queue; a monitor that is not read
//! loses the newest events (counted in [`Monitor::missed`]) rather than
//! growing without bound or slowing the socket down.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::mpsc;
use zmtp::SocketType;

use crate::endpoint::Endpoint;
use crate::link_end::LinkEnd;

/// Events a monitor queue holds before it starts missing them.
const MONITOR_QUEUE: usize = 1024;

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
    /// A listener refused a connection (too many handshakes in progress:
    /// [`Refusal::HandshakeCap`](crate::Refusal::HandshakeCap)) or could
    /// not accept one ([`LinkEnd::AcceptFailed`], with an empty `peer`).
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
    /// The ZMTP handshake failed; the connection was closed.
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

/// Fans events out to every live monitor of a socket.
#[derive(Debug, Default)]
pub(crate) struct MonitorHub {
    subscribers: Mutex<Vec<(mpsc::Sender<MonitorEvent>, Arc<AtomicU64>)>>,
}

impl MonitorHub {
    pub(crate) fn subscribe(&self) -> Monitor {
        let (tx, rx) = mpsc::channel(MONITOR_QUEUE);
        let missed = Arc::new(AtomicU64::new(0));
        if let Ok(mut subs) = self.subscribers.lock() {
            subs.push((tx, missed.clone()));
        }
        Monitor { rx, missed }
    }

    pub(crate) fn emit(&self, event: MonitorEvent) {
        let Ok(mut subs) = self.subscribers.lock() else {
            return;
        };
        subs.retain(|(tx, missed)| match tx.try_send(event.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                missed.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }
}

/// A stream of a socket's [`MonitorEvent`]s, from
/// [`Socket::monitor`](crate::Socket::monitor).
#[derive(Debug)]
pub struct Monitor {
    rx: mpsc::Receiver<MonitorEvent>,
    missed: Arc<AtomicU64>,
}

impl Monitor {
    /// The next event; `None` once the socket is gone.
    pub async fn next(&mut self) -> Option<MonitorEvent> {
        self.rx.recv().await
    }

    /// An event if one is waiting.
    pub fn try_next(&mut self) -> Option<MonitorEvent> {
        self.rx.try_recv().ok()
    }

    /// Events dropped because this monitor's queue was full.
    pub fn missed(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
    }
}

impl futures_core::Stream for Monitor {
    type Item = MonitorEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<MonitorEvent>> {
        self.rx.poll_recv(cx)
    }
}
