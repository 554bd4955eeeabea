//! Monitors: a socket's [`MonitorEvent`]s (what happens to its listeners
//! and connections) delivered as a [`Stream`](futures_core::Stream).
//!
//! Each [`Monitor`] has its own bounded queue; a monitor that is not read
//! loses the newest events (counted in [`Monitor::missed`]) rather than
//! growing without bound or slowing the socket down.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::sync::mpsc;

use crate::monitor_event::MonitorEvent;
use crate::trace;

/// Events a monitor queue holds before it starts missing them.
const MONITOR_QUEUE: usize = 1024;

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
        trace::record(&event);
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
