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

/// Events a monitor queue holds before it starts missing them.
const MONITOR_QUEUE: usize = 1024;

/// One thing that happened on a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// A listener refused a connection (too many handshakes in progress).
    Refused {
        /// The listener's endpoint.
        endpoint: Endpoint,
        /// The peer's address.
        peer: String,
        /// Why.
        reason: String,
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
        reason: String,
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
        /// What went wrong.
        reason: String,
        /// A protocol error (as opposed to a timeout or a dropped link):
        /// a connecting socket does not retry after one, as libzmq.
        protocol_error: bool,
        /// The credentials were refused (libzmq's
        /// `ZMQ_EVENT_HANDSHAKE_FAILED_AUTH`).
        authentication_failure: bool,
    },
    /// An established connection ended.
    Disconnected {
        /// The endpoint (bound or connected).
        endpoint: Endpoint,
        /// The peer's address.
        peer: String,
        /// Why it ended.
        reason: String,
    },
    /// A listener or connecter was shut down for good.
    Closed {
        /// The endpoint.
        endpoint: Endpoint,
        /// Why.
        reason: String,
    },
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
