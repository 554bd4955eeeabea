//! Options changed on a live socket ([`Socket::set_options`]), with
//! libzmq's rule for when a change counts.
//!
//! libzmq copies a socket's options into each endpoint when it is bound or
//! connected: a later change reaches only later endpoints (and the links
//! they make). So the socket keeps the options *current* here, and every
//! bind and connect takes a snapshot ([`LiveOptions::snapshot`]) that its
//! listener or connecter, and each link's engine, read from then on:
//! reconnect intervals, heartbeats, `maxmsgsize`, the handshake interval,
//! the routing id, security and the authenticators.
//!
//! The high-water marks are the exception, as in libzmq: a change applies
//! at once to every pipe there is (`sndhwm`) and to the socket's inbound
//! queue (`rcvhwm`). A lowered mark keeps what is queued already; it
//! drains, and the new mark holds from then on.
//!
//! LINGER too counts at once: it is read when the socket closes
//! (`Core::linger`), as libzmq reads it at
//! `zmq_close`.
//!
//! What the socket's own rules read (`router_mandatory`, the XPUB
//! flags, `immediate`, `link_notify`, the per-peer caps, the inproc
//! domain) stays as the socket was made with ([`Socket::options`]).
//!
//! [`Socket::set_options`]: crate::Socket::set_options
//! [`Socket::options`]: crate::Socket::options

use std::sync::{Arc, Mutex, MutexGuard};

use crate::options::Options;

/// The options new endpoints and links take.
#[derive(Debug)]
pub(crate) struct LiveOptions {
    current: Mutex<Arc<Options>>,
}

/// The high-water marks that changed in a [`LiveOptions::replace`].
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct HwmChange {
    /// The new `sndhwm`, if it changed.
    pub(crate) sndhwm: Option<usize>,
    /// The new `rcvhwm`, if it changed.
    pub(crate) rcvhwm: Option<usize>,
}

impl LiveOptions {
    /// Starts with the options the socket was made with.
    pub(crate) fn new(options: &Options) -> Self {
        LiveOptions {
            current: Mutex::new(Arc::new(options.clone())),
        }
    }

    fn current(&self) -> MutexGuard<'_, Arc<Options>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The options as they are now, for a bind, a connect or a new pipe.
    pub(crate) fn snapshot(&self) -> Arc<Options> {
        self.current().clone()
    }

    /// Makes `options` current; says which high-water marks changed.
    pub(crate) fn replace(&self, options: Options) -> HwmChange {
        let mut current = self.current();
        let change = HwmChange {
            sndhwm: (options.sndhwm != current.sndhwm).then_some(options.sndhwm),
            rcvhwm: (options.rcvhwm != current.rcvhwm).then_some(options.rcvhwm),
        };
        *current = Arc::new(options);
        change
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zmtp::SocketType;

    #[test]
    fn snapshots_keep_what_was_current() {
        let live = LiveOptions::new(&Options::new(SocketType::Push));
        let before = live.snapshot();
        let mut changed = Options::new(SocketType::Push);
        changed.reconnect_ivl = std::time::Duration::from_secs(3);
        changed.sndhwm = 5;
        let change = live.replace(changed);
        assert_eq!(
            change,
            HwmChange {
                sndhwm: Some(5),
                rcvhwm: None
            }
        );
        assert_eq!(before.reconnect_ivl, std::time::Duration::from_millis(100));
        assert_eq!(live.snapshot().reconnect_ivl.as_secs(), 3);
        assert_eq!(live.replace(Options::new(SocketType::Push)).rcvhwm, None);
    }
}
