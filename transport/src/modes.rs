//! Socket behaviours that may change while the socket runs.
//!
//! Most [`Options`] are fixed when a socket is made. A few steer only the
//! socket type's rules, and libzmq lets an application flip them at any
//! time (its own tests set `ZMQ_XPUB_VERBOSE`, `ZMQ_XPUB_NODROP`,
//! `ZMQ_XPUB_MANUAL` and `ZMQ_ROUTER_HANDOVER` on bound sockets): those
//! live here, in the socket's routing state ([`Modes`], under the state
//! lock the rules hold anyway), start from the options the socket was made
//! with, and change with [`Socket::set_mode`]. A change applies from the
//! next rule that reads it: the next send, subscription or new peer.

use bytes::Bytes;

use crate::options::Options;
use crate::socket::Socket;

/// One behaviour to change on a live socket ([`Socket::set_mode`]). Each
/// has the libzmq option of the same name and, where the socket type does
/// not have it, no effect.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// `ZMQ_XPUB_VERBOSE`: pass every subscription, not only a topic's
    /// first; cancellations as usual. Like libzmq, this also turns
    /// `XpubVerboser` off.
    XpubVerbose(bool),
    /// `ZMQ_XPUB_VERBOSER`: pass every subscription and every
    /// cancellation, and a cancellation for every topic a departing peer
    /// held.
    XpubVerboser(bool),
    /// `ZMQ_XPUB_NODROP`: wait (or refuse, without waiting) at the
    /// high-water mark instead of dropping.
    XpubNodrop(bool),
    /// `ZMQ_XPUB_MANUAL`: peers' subscriptions only reach the application,
    /// always; which topics a peer gets is what the application subscribes
    /// it to ([`Socket::subscribe`] on the XPUB applies to the peer whose
    /// message was received last).
    XpubManual(bool),
    /// `ZMQ_XPUB_WELCOME_MSG`: a one-frame message queued for each new
    /// peer before anything else; empty turns it off.
    XpubWelcome(Bytes),
    /// `ZMQ_ROUTER_MANDATORY`: see [`Options::router_mandatory`].
    RouterMandatory(bool),
    /// `ZMQ_ROUTER_HANDOVER`: see [`Options::router_handover`].
    RouterHandover(bool),
    /// `ZMQ_PROBE_ROUTER` (ROUTER, DEALER, REQ): an empty message queued
    /// for each new peer before anything else.
    ProbeRouter(bool),
    /// `ZMQ_REQ_RELAXED`: see [`Options::req_relaxed`].
    ReqRelaxed(bool),
    /// `ZMQ_REQ_CORRELATE`: see [`Options::req_correlate`].
    ReqCorrelate(bool),
}

/// The current value of every [`Mode`] of one socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Modes {
    /// XPUB: pass repeated subscriptions.
    pub(crate) verbose_subscribe: bool,
    /// XPUB: pass every cancellation, and all of a departing peer's topics.
    pub(crate) verbose_cancel: bool,
    pub(crate) xpub_nodrop: bool,
    pub(crate) xpub_manual: bool,
    /// XPUB: the welcome message, if one is set.
    pub(crate) xpub_welcome: Option<Bytes>,
    pub(crate) router_mandatory: bool,
    pub(crate) router_handover: bool,
    pub(crate) probe_router: bool,
    pub(crate) req_relaxed: bool,
    pub(crate) req_correlate: bool,
}

impl Modes {
    /// The modes a socket made with `options` starts with.
    pub(crate) fn from_options(options: &Options) -> Self {
        let mut modes = Modes::default();
        // VERBOSER implies VERBOSE, as in libzmq.
        modes.apply(Mode::XpubVerbose(options.xpub_verbose));
        if options.xpub_verboser {
            modes.apply(Mode::XpubVerboser(true));
        }
        modes.apply(Mode::XpubNodrop(options.xpub_nodrop));
        modes.apply(Mode::XpubManual(options.xpub_manual));
        modes.apply(Mode::XpubWelcome(options.xpub_welcome.clone()));
        modes.apply(Mode::RouterMandatory(options.router_mandatory));
        modes.apply(Mode::RouterHandover(options.router_handover));
        modes.apply(Mode::ProbeRouter(options.probe_router));
        modes.apply(Mode::ReqRelaxed(options.req_relaxed));
        modes.apply(Mode::ReqCorrelate(options.req_correlate));
        modes
    }

    /// Changes one mode, as libzmq's setter for the option does.
    pub(crate) fn apply(&mut self, mode: Mode) {
        match mode {
            Mode::XpubVerbose(on) => {
                self.verbose_subscribe = on;
                self.verbose_cancel = false;
            }
            Mode::XpubVerboser(on) => {
                self.verbose_subscribe = on;
                self.verbose_cancel = on;
            }
            Mode::XpubNodrop(on) => self.xpub_nodrop = on,
            Mode::XpubManual(on) => self.xpub_manual = on,
            Mode::XpubWelcome(message) => {
                self.xpub_welcome = (!message.is_empty()).then_some(message)
            }
            Mode::RouterMandatory(on) => self.router_mandatory = on,
            Mode::RouterHandover(on) => self.router_handover = on,
            Mode::ProbeRouter(on) => self.probe_router = on,
            Mode::ReqRelaxed(on) => self.req_relaxed = on,
            Mode::ReqCorrelate(on) => self.req_correlate = on,
        }
    }
}

impl Socket {
    /// Changes a behaviour of the running socket (see [`Mode`]); it applies
    /// from the next send, subscription or peer on. A change that frees a
    /// waiting sender (NODROP or MANDATORY turned off) wakes it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> zmtp_transport::Result<()> {
    /// use zmtp_transport::{Mode, Socket, SocketType};
    /// let xpub = Socket::new(SocketType::Xpub);
    /// xpub.bind("tcp://127.0.0.1:*").await?;
    /// xpub.set_mode(Mode::XpubVerboser(true));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_mode(&self, mode: Mode) {
        let core = self.core();
        core.state().modes.apply(mode);
        core.send_ready.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zmtp::SocketType;

    #[test]
    fn verbose_and_verboser_set_each_other_as_libzmq_does() {
        let mut modes = Modes::default();
        modes.apply(Mode::XpubVerboser(true));
        assert!(modes.verbose_subscribe && modes.verbose_cancel);
        modes.apply(Mode::XpubVerbose(true));
        assert!(modes.verbose_subscribe && !modes.verbose_cancel);
        modes.apply(Mode::XpubVerboser(true));
        modes.apply(Mode::XpubVerboser(false));
        assert!(!modes.verbose_subscribe && !modes.verbose_cancel);
    }

    #[test]
    fn options_give_the_starting_modes() {
        let mut options = Options::new(SocketType::Xpub);
        options.xpub_verboser = true;
        options.xpub_welcome = Bytes::from_static(b"hi");
        let modes = Modes::from_options(&options);
        assert!(modes.verbose_subscribe && modes.verbose_cancel);
        assert_eq!(modes.xpub_welcome, Some(Bytes::from_static(b"hi")));
        assert_eq!(
            Modes::from_options(&Options::new(SocketType::Xpub)),
            Modes::default()
        );
    }
}
