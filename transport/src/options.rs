//! Socket options, named and defaulted as libzmq's are.
//!
//! Every default is libzmq 4.3's unless noted. A socket is created with
//! its options ([`Socket::with_options`](crate::Socket::with_options)).
//! The behaviours [`Mode`](crate::Mode) names change on a live socket
//! ([`Socket::set_mode`](crate::Socket::set_mode)); so do the options later
//! binds and connects take ([`Socket::set_options`](crate::Socket::set_options),
//! the `live_options` module says which).

use std::time::Duration;

use bytes::Bytes;
use zmtp::{HeartbeatConfig, SocketType};

use crate::async_auth::SharedAsyncAuthenticator;
use crate::inproc::InprocDomain;
use crate::security::{Security, SharedAuthenticator};
use crate::tls::settings::TlsConfig;

/// Options of one socket.
#[derive(Debug, Clone)]
pub struct Options {
    /// `ZMQ_SNDHWM`: messages queued per peer for sending (default 1000;
    /// 0 means no limit). What happens at the mark depends on the type:
    /// PUB, XPUB, XSUB and ROUTER drop (and count); PUSH, DEALER, REQ and
    /// PAIR wait.
    pub sndhwm: usize,
    /// `ZMQ_RCVHWM`: messages queued for the application to receive
    /// (default 1000; 0 means no limit). When full, connections stop
    /// reading, so TCP pushes back on the sender; nothing is dropped.
    pub rcvhwm: usize,
    /// Bytes queued for the application to receive, as
    /// [`Message::cost`](zmtp::Message::cost) counts them plus a 96-byte
    /// handle each: once the queue holds this much it takes no more
    /// (whatever `rcvhwm` allows), with the same push-back. The message
    /// that crosses the mark is taken, so the queue holds at most this plus
    /// one message. Not a libzmq option; `None` (the default) counts
    /// messages only, as libzmq does (see `docs/limits.md`, "One socket").
    pub rcvhwm_bytes: Option<usize>,
    /// `ZMQ_LINGER`: how long a closed socket keeps trying to deliver what
    /// is queued. `None` waits forever (libzmq's -1, the default except for
    /// SUB and XSUB, which default to zero). Read when the socket closes:
    /// a change through `Socket::set_options` counts.
    pub linger: Option<Duration>,
    /// `ZMQ_RECONNECT_IVL`: delay before reconnecting (100 ms). Zero turns
    /// reconnection off.
    pub reconnect_ivl: Duration,
    /// `ZMQ_RECONNECT_IVL_MAX`: when above `reconnect_ivl`, the delay
    /// doubles after each failed attempt up to this (default zero: no
    /// backoff). A random jitter of up to one `reconnect_ivl` is added.
    pub reconnect_ivl_max: Duration,
    /// `ZMQ_HEARTBEAT_IVL`, `_TTL`, `_TIMEOUT`.
    pub heartbeat: HeartbeatConfig,
    /// `ZMQ_HANDSHAKE_IVL`: greeting and security handshake must finish in
    /// this time (30 s). `None` waits forever.
    pub handshake_ivl: Option<Duration>,
    /// `ZMQ_MAXMSGSIZE`: largest frame accepted (as libzmq), and largest
    /// message: its frames' bytes plus `zmtp::config::FRAME_COST` (48 B)
    /// for each frame after the first, so that a message of many tiny
    /// frames costs what it holds in memory (libzmq checks frames only; a
    /// single frame may be exactly this large in both). `None` (the
    /// default) means no limit.
    pub maxmsgsize: Option<u64>,
    /// `ZMQ_ROUTING_ID`: the identity we announce (REQ, DEALER, ROUTER).
    pub routing_id: Bytes,
    /// `ZMQ_ROUTER_MANDATORY`: a ROUTER send to an unknown peer fails with
    /// [`Error::HostUnreachable`](crate::Error::HostUnreachable), and a send
    /// to a full peer waits, instead of dropping silently.
    pub router_mandatory: bool,
    /// `ZMQ_ROUTER_HANDOVER`: a new peer with a routing id already in use
    /// takes it over (the old connection is closed) instead of being ignored.
    pub router_handover: bool,
    /// `ZMQ_IMMEDIATE`: queue messages only for peers whose handshake is
    /// complete (default false: connecting peers get messages queued too).
    pub immediate: bool,
    /// `ZMQ_TCP_KEEPALIVE` with `_IDLE`: enable TCP keepalive probes after
    /// this much idle time. `None` leaves the system default.
    pub tcp_keepalive: Option<Duration>,
    /// Most connections allowed in greeting/handshake at once per listener
    /// (not a libzmq option). Default 256. A newcomer at the cap is let in
    /// and the oldest link still in its handshake is closed for it
    /// ([`Refusal::Evicted`](crate::Refusal::Evicted)); zero refuses every
    /// connection. See also `max_handshakes_per_source` and `greeting_ivl`.
    pub max_handshakes: usize,
    /// `ZMQ_XPUB_VERBOSE`: pass every subscription to the application, not
    /// only the first for a topic.
    pub xpub_verbose: bool,
    /// `ZMQ_XPUB_VERBOSER`: pass every subscription and cancellation.
    pub xpub_verboser: bool,
    /// `ZMQ_XPUB_NODROP`: XPUB waits at the high-water mark instead of
    /// dropping.
    pub xpub_nodrop: bool,
    /// `ZMQ_REQ_RELAXED`: REQ may send again without waiting for a reply.
    pub req_relaxed: bool,
    /// `ZMQ_XPUB_MANUAL`; see [`Mode::XpubManual`](crate::Mode::XpubManual).
    pub xpub_manual: bool,
    /// `ZMQ_XPUB_WELCOME_MSG` (empty: none); see [`Mode::XpubWelcome`](crate::Mode::XpubWelcome).
    pub xpub_welcome: Bytes,
    /// `ZMQ_PROBE_ROUTER`; see [`Mode::ProbeRouter`](crate::Mode::ProbeRouter).
    pub probe_router: bool,
    /// `ZMQ_REQ_CORRELATE`: a REQ puts a request id frame before each
    /// request and accepts only the reply that carries it back.
    pub req_correlate: bool,
    /// `ZMQ_CONFLATE` (PUSH, PULL, DEALER, PUB, SUB): each queue keeps only
    /// the newest message and high-water marks do not apply.
    pub conflate: bool,
    /// Deliver a notice in the message stream when a link comes up or goes
    /// down: `["", "\x01"]` / `["", "\x00"]`, with the routing id in front
    /// on a ROUTER. Like libzmq's draft `ZMQ_ROUTER_NOTIFY`, generalised to
    /// every type and telling up from down. Because the notice travels with
    /// the messages, everything a link delivered comes before its "down".
    pub link_notify: bool,
    /// The security mechanism of every link, and our role in it
    /// (`ZMQ_PLAIN_SERVER`, `ZMQ_CURVE_SERVERKEY`, ...). Default NULL.
    pub security: Security,
    /// Who decides about peers when we are a server (a ZAP handler). See
    /// [`Security`] for what happens without one.
    pub authenticator: Option<SharedAuthenticator>,
    /// A ZAP handler that answers later ([`AsyncAuthenticator`](crate::AsyncAuthenticator));
    /// asked instead of `authenticator` when set.
    pub async_authenticator: Option<SharedAsyncAuthenticator>,
    /// `ZMQ_ZAP_DOMAIN`, passed to the authenticator.
    pub zap_domain: String,
    /// Certificates and trust roots for `tls://` endpoints (not a libzmq
    /// option; see [`TlsConfig`]). `None`: binding or connecting `tls://`
    /// fails.
    pub tls: Option<TlsConfig>,

    // Subscriptions: per-peer caps (not libzmq options).
    /// PUB/XPUB: most distinct topics one peer may hold subscribed
    /// (default 10,000). A subscription to a new topic past it ends that
    /// peer's link with [`Refusal::TooManySubscriptions`]; repeats of a
    /// topic it holds only count. libzmq has no such cap; `usize::MAX`
    /// gives its behaviour.
    ///
    /// [`Refusal::TooManySubscriptions`]: crate::Refusal::TooManySubscriptions
    pub max_peer_subscriptions: usize,
    /// PUB/XPUB: most bytes of distinct topics one peer may hold subscribed
    /// (default 1 MiB). Past it the peer's link ends with
    /// [`Refusal::SubscriptionBytes`]. Not a libzmq option.
    ///
    /// [`Refusal::SubscriptionBytes`]: crate::Refusal::SubscriptionBytes
    pub max_peer_subscription_bytes: usize,

    // Fair admission of a listener's handshakes (see `max_handshakes`).
    /// Time an accepted link has to send its whole ZMTP greeting (on
    /// `tls://`: to finish the TLS handshake and then send the greeting);
    /// a link that has not is closed
    /// ([`Refusal::GreetingTimeout`](crate::Refusal::GreetingTimeout)).
    /// Default 5 s; `None` waits as long as `handshake_ivl`. Not a libzmq
    /// option: libzmq has only `ZMQ_HANDSHAKE_IVL` for the whole handshake.
    pub greeting_ivl: Option<Duration>,
    /// Most links one source may have in their handshake at once per
    /// listener; a newcomer beyond it is closed on accept
    /// ([`Refusal::TooManyFromSource`](crate::Refusal::TooManyFromSource)).
    /// A source is an IPv4 address, an IPv6 /64 prefix, or, for `ipc://`,
    /// every local peer together. Default 32; not a libzmq option.
    pub max_handshakes_per_source: usize,

    /// Where this socket's `inproc://` names live (not a libzmq option; a
    /// libzmq context is one domain). Default: the process-wide one.
    pub inproc_domain: InprocDomain,
}

impl Options {
    /// libzmq's defaults for a socket of `socket_type`.
    pub fn new(socket_type: SocketType) -> Self {
        let subscriber = matches!(socket_type, SocketType::Sub | SocketType::Xsub);
        Options {
            sndhwm: 1000,
            rcvhwm: 1000,
            rcvhwm_bytes: None,
            linger: if subscriber {
                Some(Duration::ZERO)
            } else {
                None
            },
            reconnect_ivl: Duration::from_millis(100),
            reconnect_ivl_max: Duration::ZERO,
            heartbeat: HeartbeatConfig::default(),
            handshake_ivl: Some(zmtp::config::DEFAULT_HANDSHAKE_TIMEOUT),
            maxmsgsize: None,
            routing_id: Bytes::new(),
            router_mandatory: false,
            router_handover: false,
            immediate: false,
            tcp_keepalive: None,
            max_handshakes: 256,
            xpub_verbose: false,
            xpub_verboser: false,
            xpub_nodrop: false,
            req_relaxed: false,
            xpub_manual: false,
            xpub_welcome: Bytes::new(),
            probe_router: false,
            req_correlate: false,
            conflate: false,
            link_notify: false,
            security: Security::Null,
            authenticator: None,
            async_authenticator: None,
            zap_domain: String::new(),
            tls: None,

            max_peer_subscriptions: 10_000,
            max_peer_subscription_bytes: 1 << 20,
            greeting_ivl: Some(Duration::from_secs(5)),
            max_handshakes_per_source: 32,
            inproc_domain: InprocDomain::process(),
        }
    }

    /// The per-connection protocol settings these options imply.
    pub(crate) fn connection_config(&self, socket_type: SocketType) -> zmtp::Config {
        let mut config = zmtp::Config::new(socket_type);
        config.identity = self.routing_id.clone();
        config.max_frame_size = self.maxmsgsize;
        config.max_message_size = self.maxmsgsize;
        config.handshake_timeout = self.handshake_ivl;
        config.heartbeat = self.heartbeat;
        config
    }

    /// A queue capacity for a high-water mark (0 means unlimited).
    pub(crate) fn capacity(hwm: usize) -> usize {
        if hwm == 0 { usize::MAX >> 4 } else { hwm }
    }

    /// The delay before reconnect attempt number `attempt` (0-based).
    pub(crate) fn reconnect_delay(&self, attempt: u32) -> Duration {
        let base = self.reconnect_ivl;
        let mut delay = base;
        if self.reconnect_ivl_max > base {
            delay = base
                .saturating_mul(1u32 << attempt.min(20))
                .min(self.reconnect_ivl_max);
        }
        let jitter_ms = u64::try_from(base.as_millis()).unwrap_or(u64::MAX);
        delay + Duration::from_millis(fastrand::u64(0..jitter_ms.max(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libzmq_defaults() {
        let o = Options::new(SocketType::Push);
        assert_eq!((o.sndhwm, o.rcvhwm), (1000, 1000));
        assert_eq!(o.linger, None);
        assert_eq!(o.reconnect_ivl, Duration::from_millis(100));
        assert_eq!(o.handshake_ivl, Some(Duration::from_secs(30)));
        assert_eq!(Options::new(SocketType::Sub).linger, Some(Duration::ZERO));
        assert_eq!(Options::new(SocketType::Xsub).linger, Some(Duration::ZERO));
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum_with_jitter() {
        let mut o = Options::new(SocketType::Push);
        o.reconnect_ivl = Duration::from_millis(100);
        o.reconnect_ivl_max = Duration::from_millis(1000);
        for (attempt, floor) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1000),
            (30, 1000),
        ] {
            let d = o.reconnect_delay(attempt).as_millis();
            assert!(
                (floor..floor + 100).contains(&d),
                "attempt {attempt}: {d} ms"
            );
        }
        o.reconnect_ivl_max = Duration::ZERO;
        let d = o.reconnect_delay(5).as_millis();
        assert!((100..200).contains(&d), "{d}");
    }
}
