//! Faults, overload, heartbeats and reconnection of our sockets, against
//! real processes: pyzmq peers and misbehaving raw-TCP peers, both run from
//! `tests/peers/fault_peer.py`.
//!
//! - Bad input: each misbehaving connection (garbage, a truncated greeting,
//!   the wrong mechanism, a frame declaring 2^63 bytes or more than
//!   `maxmsgsize`, a slow-loris greeting, a flood beyond `max_handshakes`)
//!   is closed on its own, with a monitor event naming the reason, while a
//!   well-behaved pyzmq peer on the same socket keeps delivering, in order
//!   and without a gap.
//! - Heartbeats: an idle link to libzmq stays up on our PONGs, and on
//!   PING/PONG both ways; libzmq enforces the TTL we announce; a silent peer
//!   is detected by our heartbeat timeout, a quiet one by the TTL it
//!   announced; a link whose inbound queue is full times out, and the socket
//!   still closes.
//! - Reconnect: a SIGKILLed pyzmq peer restarted on the same port gets the
//!   messages queued meanwhile (up to `sndhwm`) and those sent after, with
//!   and without backoff; a handshake timeout is retried, a protocol error
//!   is not.
//! - Overload: at `sndhwm`, PUSH waits and PUB drops (counted), and the
//!   process's memory stays near `sndhwm` messages whatever is offered.
//!
//! Every test uses a multi-threaded runtime so a blocking read of a peer's
//! output (`block_in_place`) never stalls our sockets' tasks.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio::time::{sleep, timeout};
use zmtp_tests::Peer;
use zmtp_transport::zmtp::{CloseReason, FrameTooLarge, GreetingError, MechanismName};
use zmtp_transport::{
    Endpoint, Error, HeartbeatConfig, IoFailure, LinkEnd, Message, Monitor, MonitorEvent, Options,
    Port, Refusal, Socket, SocketType,
};

const SCRIPT: &str = "fault_peer.py";
/// Longest wait for anything that should happen promptly.
const WAIT: Duration = Duration::from_secs(30);
/// Messages from the good peer to see before and after each fault.
const GOOD_BATCH: usize = 5;
/// Size of the messages of the overload tests.
const BIG: usize = 64 * 1024;
/// Send high-water mark of the overload tests.
const HWM: usize = 16;
/// Messages offered in the overload tests: ~94 MiB if nothing pushed back.
const OFFERED: u64 = 1500;
/// Memory allowed beyond `HWM * BIG`: the engine's output buffer and batch,
/// read buffers, allocator slack and other tests' sockets.
const SLACK: u64 = 8 * 1024 * 1024;

/// The overload tests measure the whole process's memory; they take turns.
static MEMORY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// --- helpers --------------------------------------------------------------

/// The next line the peer prints, without blocking our sockets' tasks.
fn line(peer: &mut Peer) -> String {
    tokio::task::block_in_place(|| peer.line())
}

/// A raw peer's first line, `port N`: its local port, as our events name it.
fn raw_peer_addr(peer: &mut Peer) -> String {
    let first = line(peer);
    let port = first
        .strip_prefix("port ")
        .unwrap_or_else(|| panic!("expected `port N`, got {first:?}"));
    format!("127.0.0.1:{port}")
}

fn port_of(endpoint: &Endpoint) -> u16 {
    match endpoint {
        Endpoint::Tcp {
            port: Port::Number(n),
            ..
        } => *n,
        other => panic!("not a bound tcp endpoint: {other}"),
    }
}

fn peer_of(event: &MonitorEvent) -> Option<&str> {
    match event {
        MonitorEvent::Accepted { peer, .. }
        | MonitorEvent::Refused { peer, .. }
        | MonitorEvent::Connected { peer, .. }
        | MonitorEvent::HandshakeSucceeded { peer, .. }
        | MonitorEvent::HandshakeFailed { peer, .. }
        | MonitorEvent::Disconnected { peer, .. } => Some(peer),
        _ => None,
    }
}

fn is_end_of(event: &MonitorEvent, addr: &str) -> bool {
    matches!(
        event,
        MonitorEvent::HandshakeFailed { .. } | MonitorEvent::Disconnected { .. }
    ) && peer_of(event) == Some(addr)
}

/// A socket's monitor that keeps every event it has seen.
struct Events {
    monitor: Monitor,
    seen: Vec<MonitorEvent>,
}

impl Events {
    fn new(socket: &Socket) -> Self {
        Events {
            monitor: socket.monitor(),
            seen: Vec::new(),
        }
    }

    /// The next event that satisfies `wanted`; the ones before it are kept
    /// in `seen` too.
    async fn wait(&mut self, what: &str, wanted: impl Fn(&MonitorEvent) -> bool) -> MonitorEvent {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let Ok(event) = tokio::time::timeout_at(deadline, self.monitor.next()).await else {
                panic!("no {what} within {WAIT:?}; events: {:#?}", self.seen);
            };
            let event = event.expect("the monitor ended");
            self.seen.push(event.clone());
            if wanted(&event) {
                return event;
            }
        }
    }

    /// Takes in the events already queued.
    fn drain(&mut self) -> &[MonitorEvent] {
        while let Some(event) = self.monitor.try_next() {
            self.seen.push(event);
        }
        &self.seen
    }

    fn count(&mut self, wanted: impl Fn(&MonitorEvent) -> bool) -> usize {
        self.drain().iter().filter(|e| wanted(e)).count()
    }

    /// Waits for a completed handshake.
    async fn handshake(&mut self) -> MonitorEvent {
        self.wait("the handshake", |e| {
            matches!(e, MonitorEvent::HandshakeSucceeded { .. })
        })
        .await
    }

    /// Waits for a live link to end; returns why it ended.
    async fn link_end(&mut self) -> LinkEnd {
        let end = self
            .wait("the end of the link", |e| {
                matches!(e, MonitorEvent::Disconnected { .. })
            })
            .await;
        disconnected(&end).clone()
    }
}

/// Our socket connected to a peer script that binds (and prints its port
/// first), with the socket's monitor.
struct Dialled {
    peer: Peer,
    port: u16,
    socket: Socket,
    events: Events,
}

/// Starts the peer script with `args` and connects a socket of ours
/// (`socket_type`, `options`) to it; `None` when pyzmq is missing and not
/// required.
async fn dial(args: &[&str], socket_type: SocketType, options: Options) -> Option<Dialled> {
    let mut peer = Peer::spawn(SCRIPT, args)?;
    let port = peer.port();
    let socket = Socket::with_options(socket_type, options);
    let events = Events::new(&socket);
    socket
        .connect(&format!("tcp://127.0.0.1:{port}"))
        .await
        .unwrap();
    Some(Dialled {
        peer,
        port,
        socket,
        events,
    })
}

/// Receives from `socket`, checking that every good peer's numbered
/// messages (`PREFIX i`, last frame) arrive in order with no gap.
#[derive(Default)]
struct Sequences {
    next: HashMap<String, u64>,
}

impl Sequences {
    /// Receives until `count` more messages with `prefix` have arrived.
    async fn expect(&mut self, socket: &Socket, prefix: &str, count: usize) {
        let mut seen = 0;
        while seen < count {
            let message = timeout(WAIT, socket.recv())
                .await
                .unwrap_or_else(|_| panic!("no `{prefix}` message within {WAIT:?}"))
                .unwrap();
            let body = message.frames().last().expect("a frame").clone();
            let text = String::from_utf8_lossy(&body);
            let (from, number) = text
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("unexpected message {text:?}"));
            let number: u64 = number.parse().unwrap();
            let next = self.next.entry(from.to_owned()).or_insert(0);
            assert_eq!(number, *next, "`{from}` messages lost or reordered");
            *next += 1;
            if from == prefix {
                seen += 1;
            }
        }
    }
}

/// A bound socket of ours serving a well-behaved pyzmq peer that sends a
/// numbered message every 10 ms.
struct Served {
    socket: Socket,
    events: Events,
    port: String,
    good_addr: String,
    sequences: Sequences,
    _good: Peer,
}

impl Served {
    /// Binds `socket_type` with `options` and connects the good peer (PUSH
    /// for PULL, DEALER for ROUTER); returns once its messages flow.
    async fn start(socket_type: SocketType, options: Options) -> Option<Served> {
        let socket = Socket::with_options(socket_type, options);
        let mut events = Events::new(&socket);
        let port = port_of(&socket.bind("tcp://127.0.0.1:*").await.unwrap()).to_string();
        let kind = match socket_type {
            SocketType::Pull => "push",
            SocketType::Router => "dealer",
            other => panic!("no good peer for {other:?}"),
        };
        let good = Peer::spawn(SCRIPT, &["good", kind, &port, "good", "10"])?;
        let handshake = events
            .wait("handshake with the good peer", |e| {
                matches!(e, MonitorEvent::HandshakeSucceeded { .. })
            })
            .await;
        let good_addr = peer_of(&handshake).unwrap().to_owned();
        let mut served = Served {
            socket,
            events,
            port,
            good_addr,
            sequences: Sequences::default(),
            _good: good,
        };
        served.good_messages().await;
        Some(served)
    }

    /// The next few of the good peer's messages arrive, in sequence.
    async fn good_messages(&mut self) {
        self.sequences
            .expect(&self.socket, "good", GOOD_BATCH)
            .await;
    }

    /// Waits for the connection from `addr` to end; returns the event.
    async fn end_of(&mut self, addr: &str) -> MonitorEvent {
        self.events
            .wait(&format!("end of the connection from {addr}"), |e| {
                is_end_of(e, addr)
            })
            .await
    }

    /// The good peer still delivers, its link never dropped, and it is
    /// this socket's only peer.
    async fn assert_good_peer_unharmed(&mut self) {
        self.good_messages().await;
        let good = self.good_addr.clone();
        assert_eq!(
            self.events.count(|e| is_end_of(e, &good)),
            0,
            "the good peer's link ended: {:#?}",
            self.events.seen
        );
        assert_eq!(self.socket.stats().peers, 1, "only the good peer is left");
    }
}

fn handshake_failed(event: &MonitorEvent) -> (&LinkEnd, bool) {
    match event {
        MonitorEvent::HandshakeFailed { reason, .. } => (reason, reason.is_protocol_error()),
        other => panic!("expected HandshakeFailed, got {other:?}"),
    }
}

fn disconnected(event: &MonitorEvent) -> &LinkEnd {
    match event {
        MonitorEvent::Disconnected { reason, .. } => reason,
        other => panic!("expected Disconnected, got {other:?}"),
    }
}

/// How a link ends when the peer answers NULL with a PLAIN greeting.
fn mechanism_mismatch() -> LinkEnd {
    LinkEnd::Protocol(CloseReason::MechanismMismatch {
        ours: MechanismName::NULL,
        theirs: MechanismName::PLAIN,
    })
}

/// A link whose peer went away: closed, or reset by the kernel.
fn is_hang_up(end: &LinkEnd) -> bool {
    matches!(
        end,
        LinkEnd::PeerClosed
            | LinkEnd::Io(IoFailure {
                kind: io::ErrorKind::ConnectionReset,
                ..
            })
    )
}

fn options(socket_type: SocketType) -> Options {
    let mut options = Options::new(socket_type);
    options.linger = Some(Duration::ZERO);
    options
}

// --- bad input --------------------------------------------------------------

/// A misbehaving raw peer (`fault_peer.py COMMAND PORT ARGS...`) against
/// a served socket: its connection alone must end, before the handshake,
/// for the reason `ended` accepts, while the good peer keeps delivering.
struct BadInput {
    socket_type: SocketType,
    command: &'static str,
    args: &'static [&'static str],
    /// What the raw peer reports once it has misbehaved, if it does.
    reports: Option<&'static str>,
    /// Whether the link's end is the reason it ended for.
    ended: fn(&LinkEnd) -> bool,
    /// Whether that end counts as a protocol error (a connecting socket
    /// would not retry).
    protocol_error: bool,
    /// What the raw peer reports when it sees the hang-up, if it does.
    sees: Option<&'static str>,
}

impl BadInput {
    async fn run(self) {
        let options = options(self.socket_type);
        let Some(mut served) = Served::start(self.socket_type, options).await else {
            return;
        };
        let mut argv = vec![self.command, served.port.as_str()];
        argv.extend(self.args);
        let mut bad = Peer::spawn(SCRIPT, &argv).unwrap();
        let addr = raw_peer_addr(&mut bad);
        if let Some(report) = self.reports {
            assert_eq!(line(&mut bad), report, "{}", self.command);
        }
        let end = served.end_of(&addr).await;
        let (reason, protocol_error) = handshake_failed(&end);
        assert!((self.ended)(reason), "{}: {reason:?}", self.command);
        assert_eq!(protocol_error, self.protocol_error, "{}", self.command);
        if let Some(seen) = self.sees {
            assert_eq!(
                line(&mut bad),
                seen,
                "{}: the raw peer's view",
                self.command
            );
        }
        served.assert_good_peer_unharmed().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_dropped_while_a_good_peer_keeps_sending() {
    BadInput {
        socket_type: SocketType::Pull,
        command: "raw-garbage",
        args: &[],
        reports: None,
        // A bad signature naming the first byte, 'G'.
        ended: |reason| {
            matches!(
                reason,
                LinkEnd::Protocol(CloseReason::Greeting(GreetingError::BadSignature {
                    first: b'G',
                    ..
                }))
            )
        },
        protocol_error: true,
        sees: Some("closed"),
    }
    .run()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_greeting_then_close_ends_only_that_connection() {
    BadInput {
        socket_type: SocketType::Pull,
        command: "raw-truncated",
        args: &[],
        reports: Some("sent"),
        ended: |reason| *reason == LinkEnd::PeerClosed,
        // A hang-up is not a protocol error.
        protocol_error: false,
        sees: None,
    }
    .run()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_mechanism_greeting_is_refused_as_a_mismatch() {
    BadInput {
        socket_type: SocketType::Router,
        command: "raw-mechanism",
        args: &["PLAIN"],
        reports: None,
        ended: |reason| *reason == mechanism_mismatch(),
        protocol_error: true,
        sees: Some("closed"),
    }
    .run()
    .await;
}

/// A raw DEALER completes the NULL handshake with our ROUTER, then sends
/// the header of a frame of `size` bytes and nothing more.
async fn oversized_frame(maxmsgsize: Option<u64>, size: u64, max: u64) {
    let mut options = options(SocketType::Router);
    options.maxmsgsize = maxmsgsize;
    let Some(mut served) = Served::start(SocketType::Router, options).await else {
        return;
    };
    let declared = size.to_string();
    let mut bad = Peer::spawn(
        SCRIPT,
        &["raw-huge-frame", &served.port, "DEALER", declared.as_str()],
    )
    .unwrap();
    let addr = raw_peer_addr(&mut bad);
    let handshake = served
        .events
        .wait("the raw DEALER's handshake", |e| {
            matches!(e, MonitorEvent::HandshakeSucceeded { .. }) && peer_of(e) == Some(&addr)
        })
        .await;
    assert!(matches!(
        handshake,
        MonitorEvent::HandshakeSucceeded {
            peer_socket_type: Some(SocketType::Dealer),
            ..
        }
    ));
    let end = served.end_of(&addr).await;
    assert_eq!(
        *disconnected(&end),
        LinkEnd::Protocol(CloseReason::FrameTooLarge(FrameTooLarge { size, max }))
    );
    assert_eq!(line(&mut bad), "closed");
    served.assert_good_peer_unharmed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_declaring_2_pow_63_bytes_is_refused_at_its_header() {
    oversized_frame(None, 1 << 63, (1 << 63) - 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_above_maxmsgsize_is_refused_at_its_header() {
    oversized_frame(Some(1 << 20), 2 << 20, 1 << 20).await;
}

/// Two slow-loris peers trickle a greeting, one byte a second and one byte
/// every 150 ms; `handshake_ivl` is 500 ms. The faster one shows the
/// deadline is fixed at accept time, not pushed back by each byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_greetings_hit_the_handshake_timeout() {
    let mut options = options(SocketType::Pull);
    options.handshake_ivl = Some(Duration::from_millis(500));
    let Some(mut served) = Served::start(SocketType::Pull, options).await else {
        return;
    };
    let mut slow = Peer::spawn(SCRIPT, &["raw-slow", &served.port, "1000"]).unwrap();
    let mut trickle = Peer::spawn(SCRIPT, &["raw-slow", &served.port, "150"]).unwrap();
    for peer in [&mut slow, &mut trickle] {
        let addr = raw_peer_addr(peer);
        let end = served.end_of(&addr).await;
        let (reason, protocol_error) = handshake_failed(&end);
        assert_eq!(*reason, LinkEnd::Protocol(CloseReason::HandshakeTimeout));
        assert!(!protocol_error, "a timeout is not a protocol error");
        let report = line(peer);
        let sent: usize = report
            .strip_prefix("closed after ")
            .and_then(|r| r.strip_suffix(" bytes"))
            .unwrap_or_else(|| panic!("unexpected report {report:?}"))
            .parse()
            .unwrap();
        assert!(sent < 64, "closed only after the whole greeting: {report}");
    }
    served.assert_good_peer_unharmed().await;
}

/// 20 connections that send nothing, against `max_handshakes = 4`: each
/// is let in and the oldest pending one is closed for it, so sixteen are
/// evicted and the last four held; when those go, their places are free
/// again for a newcomer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_flood_beyond_max_handshakes_evicts_the_oldest() {
    const FLOOD: usize = 20;
    const MAX: usize = 4;
    let mut options = options(SocketType::Pull);
    options.max_handshakes = MAX;
    options.handshake_ivl = Some(Duration::from_secs(5));
    // Evictions only: no greeting deadline within the test.
    options.greeting_ivl = None;
    let Some(mut served) = Served::start(SocketType::Pull, options).await else {
        return;
    };
    let is_evicted = |e: &MonitorEvent| match e {
        MonitorEvent::HandshakeFailed { reason, .. } => {
            *reason == LinkEnd::Refused(Refusal::Evicted { max: MAX })
        }
        _ => false,
    };
    let mut flood = Peer::spawn(
        SCRIPT,
        &["raw-flood", &served.port, &FLOOD.to_string(), "1500"],
    )
    .unwrap();
    for _ in 0..FLOOD - MAX {
        served.events.wait("an eviction", is_evicted).await;
    }
    served.good_messages().await;
    let report = line(&mut flood);
    let greeted: usize = report
        .strip_prefix(&format!("closed {} greeted ", FLOOD - MAX))
        .unwrap_or_else(|| panic!("the flood's view: {report:?}"))
        .parse()
        .unwrap();
    // Each held connection had our greeting; an evicted one may have.
    assert!(greeted >= MAX, "{report}");
    assert_eq!(line(&mut flood), "done");
    for _ in 0..MAX {
        let end = served
            .events
            .wait("the end of a held connection", |e| {
                matches!(e, MonitorEvent::HandshakeFailed { reason, .. }
                    if *reason == LinkEnd::PeerClosed)
            })
            .await;
        assert_eq!(*handshake_failed(&end).0, LinkEnd::PeerClosed);
    }
    assert_eq!(served.events.count(is_evicted), FLOOD - MAX);
    // The places are free again: a second good peer gets in.
    let _late = Peer::spawn(SCRIPT, &["good", "push", &served.port, "late", "10"]).unwrap();
    served
        .sequences
        .expect(&served.socket, "late", GOOD_BATCH)
        .await;
    assert_eq!(served.events.count(is_evicted), FLOOD - MAX);
    served.good_messages().await;
    let good = served.good_addr.clone();
    assert_eq!(served.events.count(|e| is_end_of(e, &good)), 0);
}

// --- heartbeats ---------------------------------------------------------------

/// Dials the peer script with a DEALER of ours (`options`), waits for the
/// handshake if `handshake_first`, then for the link to end: why it ended,
/// and the link (its peer still there to report).
async fn dealer_link_end(
    args: &[&str],
    options: Options,
    handshake_first: bool,
) -> Option<(LinkEnd, Dialled)> {
    let mut link = dial(args, SocketType::Dealer, options).await?;
    if handshake_first {
        link.events.handshake().await;
    }
    let reason = link.events.link_end().await;
    Some((reason, link))
}

fn heartbeat(interval_ms: u64, ttl_ms: u64, timeout_ms: Option<u64>) -> HeartbeatConfig {
    HeartbeatConfig {
        interval: Some(Duration::from_millis(interval_ms)),
        ttl: Duration::from_millis(ttl_ms),
        timeout: timeout_ms.map(Duration::from_millis),
    }
}

/// Leaves a DEALER link to a libzmq DEALER that heartbeats (IVL and
/// TIMEOUT in ms) idle for two seconds, then checks that it still carries
/// a message both ways and that neither side ever saw it drop.
async fn idle_link_to_heartbeating_libzmq(libzmq: [&str; 2], ours: HeartbeatConfig) {
    let mut options = options(SocketType::Dealer);
    options.heartbeat = ours;
    let args = ["hb-dealer-bind", libzmq[0], libzmq[1]];
    let Some(Dialled {
        mut peer,
        socket: dealer,
        mut events,
        ..
    }) = dial(&args, SocketType::Dealer, options).await
    else {
        return;
    };
    events.handshake().await;
    sleep(Duration::from_secs(2)).await;
    dealer.send("still there?").await.unwrap();
    let echo = timeout(WAIT, dealer.recv()).await.unwrap().unwrap();
    assert_eq!(echo, Message::from("still there?"));
    // Counted before the peer exits, which ends the link.
    let drops = events.count(|e| {
        matches!(
            e,
            MonitorEvent::Disconnected { .. } | MonitorEvent::ReconnectScheduled { .. }
        )
    });
    assert_eq!(drops, 0, "{:#?}", events.seen);
    assert_eq!(
        events.count(|e| matches!(e, MonitorEvent::HandshakeSucceeded { .. })),
        1
    );
    assert_eq!(
        line(&mut peer),
        "accepted 1 disconnected 0",
        "libzmq's view"
    );
    peer.finish();
}

/// We send no heartbeats; libzmq PINGs every 100 ms and drops the link if
/// nothing comes back within 600 ms. Our PONGs, written by an otherwise
/// idle engine, keep it up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_pongs_keep_an_idle_link_to_heartbeating_libzmq_up() {
    idle_link_to_heartbeating_libzmq(["100", "600"], HeartbeatConfig::default()).await;
}

/// Both sides heartbeat. libzmq (IVL 250 ms, TIMEOUT 1 s) also enforces the
/// 1 s TTL our PINGs announce, so over the two idle seconds our PINGs must
/// keep coming; our 800 ms timeout needs its PONGs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_both_ways_keep_an_idle_link_to_libzmq_up() {
    idle_link_to_heartbeating_libzmq(["250", "1000"], heartbeat(100, 1000, Some(800))).await;
}

/// The counterpart of the test above: our PINGs (every 800 ms) announce a
/// 300 ms TTL and nothing else follows them, so libzmq, which has no
/// heartbeats of its own, drops the link 300 ms after our first PING.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libzmq_enforces_the_ttl_our_pings_announce() {
    let mut options = options(SocketType::Dealer);
    options.heartbeat = heartbeat(800, 300, None);
    let Some((reason, mut link)) = dealer_link_end(&["watch-dealer-bind"], options, true).await
    else {
        return;
    };
    assert!(is_hang_up(&reason), "{reason:?}");
    assert_eq!(line(&mut link.peer), "disconnected", "libzmq's view");
}

/// A raw peer that completes the handshake and then never sends a byte:
/// our PINGs go unanswered and the heartbeat timeout ends the link, which
/// a connecting socket then retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peer_is_detected_by_the_heartbeat_timeout() {
    let mut options = options(SocketType::Dealer);
    options.heartbeat = heartbeat(100, 0, Some(300));
    let args = ["raw-silent-bind", "DEALER", "0"];
    let Some((reason, mut link)) = dealer_link_end(&args, options, true).await else {
        return;
    };
    assert_eq!(reason, LinkEnd::Protocol(CloseReason::HeartbeatTimeout));
    let retry = link
        .events
        .wait("a reconnect", |e| {
            matches!(e, MonitorEvent::ReconnectScheduled { .. })
        })
        .await;
    assert!(
        matches!(
            &retry,
            MonitorEvent::ReconnectScheduled {
                reason: LinkEnd::Protocol(CloseReason::HeartbeatTimeout),
                ..
            }
        ),
        "{retry:?}"
    );
    let report = line(&mut link.peer);
    let pings: u32 = report
        .strip_prefix("closed pings ")
        .unwrap_or_else(|| panic!("unexpected report {report:?}"))
        .parse()
        .unwrap();
    assert!(pings >= 1, "the silent peer saw no PING from us");
}

/// Our PULL (rcvhwm 2, heartbeats every 100 ms, 300 ms timeout) stops
/// reading while a pyzmq PUSH keeps sending. With its inbound queue full
/// the link's engine reads nothing more, PONGs included, so the heartbeat
/// timeout ends the link (libzmq 4.3.5 does the same with
/// `_input_stopped`), and libzmq connects again. Closing the socket
/// afterwards must still finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_finishes_after_a_link_ended_under_a_full_inbound_queue() {
    let mut options = options(SocketType::Pull);
    options.rcvhwm = 2;
    options.heartbeat = heartbeat(100, 0, Some(300));
    let Some(mut served) = Served::start(SocketType::Pull, options).await else {
        return;
    };
    // From here on nothing is read.
    let good = served.good_addr.clone();
    let end = served.end_of(&good).await;
    assert_eq!(
        *disconnected(&end),
        LinkEnd::Protocol(CloseReason::HeartbeatTimeout)
    );
    // libzmq saw the connection close, and came back.
    served
        .events
        .wait("the good peer's second handshake", |e| {
            matches!(e, MonitorEvent::HandshakeSucceeded { .. })
        })
        .await;
    let Served { socket, _good, .. } = served;
    timeout(WAIT, socket.close())
        .await
        .expect("close hung on the link that ended while the inbound queue was full");
}

/// A raw peer PINGs once with a 300 ms TTL, then falls silent. We send no
/// heartbeats of our own, yet the TTL it asked for ends the link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_peer_is_dropped_when_its_announced_ttl_expires() {
    let args = ["raw-silent-bind", "DEALER", "3"];
    let options = options(SocketType::Dealer);
    let Some((reason, mut link)) = dealer_link_end(&args, options, false).await else {
        return;
    };
    assert_eq!(reason, LinkEnd::Protocol(CloseReason::HeartbeatTtlExpired));
    assert_eq!(line(&mut link.peer), "closed pings 0", "we sent no PING");
}

// --- reconnect ----------------------------------------------------------------

/// Options for the reconnect tests: `sndhwm` is `GOOD_BATCH`.
fn reconnect_options(socket_type: SocketType) -> Options {
    let mut options = options(socket_type);
    options.sndhwm = GOOD_BATCH;
    options
}

/// Sends `prefix i` for i in `0..count`.
async fn send_numbered(socket: &Socket, prefix: &str, count: usize) {
    for i in 0..count {
        timeout(WAIT, socket.send(format!("{prefix} {i}")))
            .await
            .expect("send waited")
            .unwrap();
    }
}

/// Reads `prefix i` for i in `0..count` from the peer's output.
fn expect_lines(peer: &mut Peer, prefix: &str, count: usize) {
    for i in 0..count {
        assert_eq!(line(peer), format!("{prefix} {i}"));
    }
}

fn reconnect_delay(event: &MonitorEvent) -> Option<(Duration, &LinkEnd)> {
    match event {
        MonitorEvent::ReconnectScheduled { delay, reason, .. } => Some((*delay, reason)),
        _ => None,
    }
}

/// Kills the peer, waits until `failed_attempts` reconnects have failed,
/// sends `queued i` meanwhile, restarts the peer on the same port, and
/// checks that the queued messages and the `after i` ones sent once the new
/// handshake is done all arrive. Returns the delays of the reconnects.
async fn kill_and_restart(
    socket: &Socket,
    events: &mut Events,
    peer: &mut Peer,
    restart: &[&str],
    failed_attempts: usize,
) -> (Vec<Duration>, Peer) {
    let reconnects_before = events.count(|e| reconnect_delay(e).is_some());
    peer.kill();
    let reason = events.link_end().await;
    assert!(is_hang_up(&reason), "{reason:?}");
    for _ in 0..failed_attempts {
        events
            .wait("a failed reconnect", |e| {
                reconnect_delay(e).is_some_and(|(_, r)| matches!(r, LinkEnd::ConnectFailed(_)))
            })
            .await;
    }
    send_numbered(socket, "queued", GOOD_BATCH).await;
    // The pipe of a connection that is down holds `sndhwm` (= GOOD_BATCH)
    // messages, like any other.
    let overflow = socket.try_send("overflow");
    assert!(
        matches!(&overflow, Err(e) if matches!(e.error, Error::WouldBlock)),
        "{overflow:?}"
    );
    let mut restarted = Peer::spawn(SCRIPT, restart).unwrap();
    assert_eq!(restarted.port().to_string(), restart[1], "the same port");
    events.handshake().await;
    send_numbered(socket, "after", GOOD_BATCH).await;
    expect_lines(&mut restarted, "queued", GOOD_BATCH);
    expect_lines(&mut restarted, "after", GOOD_BATCH);
    let delays: Vec<Duration> = events.drain()[..]
        .iter()
        .filter_map(reconnect_delay)
        .skip(reconnects_before)
        .map(|(d, _)| d)
        .collect();
    // The first reconnect follows the lost link; the rest failed attempts.
    let first = events
        .seen
        .iter()
        .filter_map(reconnect_delay)
        .nth(reconnects_before)
        .unwrap();
    assert_eq!(*first.1, reason, "the reconnect names why the link ended");
    (delays, restarted)
}

/// Our PUSH to a pyzmq PULL that is SIGKILLed and restarted on the same
/// port, with the default `reconnect_ivl` (100 ms, plus up to 100 ms of
/// jitter, no backoff).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_reconnects_to_a_restarted_libzmq_pull_on_the_same_port() {
    let options = reconnect_options(SocketType::Push);
    let Some(Dialled {
        peer: mut first,
        port,
        socket: push,
        mut events,
    }) = dial(&["pull-bind", "0", "1000"], SocketType::Push, options).await
    else {
        return;
    };
    let port = port.to_string();
    send_numbered(&push, "before", GOOD_BATCH).await;
    expect_lines(&mut first, "before", GOOD_BATCH);
    let (delays, second) = kill_and_restart(
        &push,
        &mut events,
        &mut first,
        &["pull-bind", &port, "1000"],
        3,
    )
    .await;
    assert!(delays.len() >= 4, "{delays:?}");
    for d in &delays {
        assert!(
            (100..200).contains(&d.as_millis()),
            "no backoff by default: {delays:?}"
        );
    }
    drop(second);
}

/// Our DEALER to a pyzmq ROUTER that echoes, SIGKILLed and restarted on
/// the same port, with `reconnect_ivl_max` 800 ms: the delays double from
/// 100 ms up to the maximum (each plus up to 100 ms of jitter), and the
/// echoes come back over the new link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dealer_reconnects_with_backoff_to_a_restarted_libzmq_router() {
    let mut options = reconnect_options(SocketType::Dealer);
    options.reconnect_ivl = Duration::from_millis(100);
    options.reconnect_ivl_max = Duration::from_millis(800);
    let args = ["router-echo-bind", "0", "1000"];
    let Some(Dialled {
        peer: mut first,
        port,
        socket: dealer,
        mut events,
    }) = dial(&args, SocketType::Dealer, options).await
    else {
        return;
    };
    let port = port.to_string();
    send_numbered(&dealer, "before", GOOD_BATCH).await;
    expect_lines(&mut first, "before", GOOD_BATCH);
    let mut echoes = Sequences::default();
    echoes.expect(&dealer, "before", GOOD_BATCH).await;
    let (delays, second) = kill_and_restart(
        &dealer,
        &mut events,
        &mut first,
        &["router-echo-bind", &port, "1000"],
        3,
    )
    .await;
    let floors = [100, 200, 400, 800, 800, 800];
    assert!(delays.len() >= 4, "{delays:?}");
    for (d, floor) in delays.iter().zip(floors) {
        assert!(
            (floor..floor + 100).contains(&d.as_millis()),
            "backoff {delays:?}"
        );
    }
    echoes.expect(&dealer, "queued", GOOD_BATCH).await;
    echoes.expect(&dealer, "after", GOOD_BATCH).await;
    drop(second);
}

/// A server that accepts and never says a word: each attempt ends in the
/// handshake timeout, which is not a protocol error, so a connecting
/// socket keeps trying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_socket_retries_after_a_handshake_timeout() {
    let mut options = options(SocketType::Dealer);
    options.handshake_ivl = Some(Duration::from_millis(300));
    let args = ["raw-server-bind", "mute", "10000"];
    let Some(Dialled {
        peer: _server,
        socket: _dealer,
        mut events,
        ..
    }) = dial(&args, SocketType::Dealer, options).await
    else {
        return;
    };
    for _ in 0..2 {
        let failed = events
            .wait("a failed handshake", |e| {
                matches!(e, MonitorEvent::HandshakeFailed { .. })
            })
            .await;
        let (reason, protocol_error) = handshake_failed(&failed);
        assert_eq!(*reason, LinkEnd::Protocol(CloseReason::HandshakeTimeout));
        assert!(!protocol_error);
        let retry = events
            .wait("a reconnect", |e| reconnect_delay(e).is_some())
            .await;
        assert_eq!(reconnect_delay(&retry).unwrap().1, reason);
    }
    events
        .wait("a third attempt", |e| {
            matches!(e, MonitorEvent::Connected { .. })
        })
        .await;
    assert_eq!(
        events.count(|e| matches!(e, MonitorEvent::Connected { .. })),
        3
    );
}

/// A server that answers with a PLAIN greeting: the mechanism mismatch is
/// a protocol error, after which a connecting socket gives up for good,
/// as libzmq does, rather than hammer a peer that will never accept it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_socket_gives_up_after_a_protocol_error() {
    let args = ["raw-server-bind", "plain", "1500"];
    let options = options(SocketType::Dealer);
    let Some(Dialled {
        peer: mut server,
        socket: dealer,
        mut events,
        ..
    }) = dial(&args, SocketType::Dealer, options).await
    else {
        return;
    };
    let failed = events
        .wait("the failed handshake", |e| {
            matches!(e, MonitorEvent::HandshakeFailed { .. })
        })
        .await;
    let (reason, protocol_error) = handshake_failed(&failed);
    assert_eq!(*reason, mechanism_mismatch());
    assert!(protocol_error);
    let closed = events
        .wait("the connecter's end", |e| {
            matches!(e, MonitorEvent::Closed { .. })
        })
        .await;
    assert!(
        matches!(
            &closed,
            MonitorEvent::Closed { reason, .. } if *reason == mechanism_mismatch()
        ),
        "{closed:?}"
    );
    // 1.5 s is some ten reconnect intervals: none was tried.
    assert_eq!(line(&mut server), "connections 1");
    assert_eq!(events.count(|e| reconnect_delay(e).is_some()), 0);
    let stranded = dealer.try_send("nobody to take it");
    assert!(
        matches!(&stranded, Err(e) if matches!(e.error, Error::WouldBlock)),
        "{stranded:?}"
    );
}

// --- overload ---------------------------------------------------------------

/// This process's resident memory, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

/// A fresh `BIG`-byte message: `tag`, then its number, then filler.
fn big(tag: &[u8], seq: u64) -> Message {
    let mut body = vec![0xa5; BIG];
    body[..tag.len()].copy_from_slice(tag);
    body[tag.len()..tag.len() + 8].copy_from_slice(&seq.to_be_bytes());
    Message::from(body)
}

fn assert_bounded(before: u64, peak: u64, what: &str) {
    let growth = peak.saturating_sub(before);
    let bound = (HWM * BIG) as u64 + SLACK;
    eprintln!("{what}: resident memory grew by {} KiB", growth / 1024);
    assert!(
        growth < bound,
        "{what}: resident memory grew by {growth} bytes, more than {bound} \
         (sndhwm {HWM} x {BIG} bytes + {SLACK})"
    );
}

/// Our PUSH (sndhwm 16) to a pyzmq PULL that reads nothing and has tiny
/// buffers (RCVHWM 1, SO_RCVBUF 4 KiB). Offering 1500 messages of 64 KiB,
/// `try_send` soon says WouldBlock, `send` waits, and memory stays near
/// 16 x 64 KiB. When the peer finally reads, it gets exactly the accepted
/// messages, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_to_a_stalled_libzmq_pull_waits_at_the_hwm_with_bounded_memory() {
    let _turn = MEMORY.lock().await;
    let Some(mut peer) = Peer::spawn_interactive(SCRIPT, &["stalled-pull-bind", "1", "4096"])
    else {
        return;
    };
    let port = peer.port();
    let mut options = options(SocketType::Push);
    options.sndhwm = HWM;
    let push = Socket::with_options(SocketType::Push, options);
    let mut events = Events::new(&push);
    push.connect(&format!("tcp://127.0.0.1:{port}"))
        .await
        .unwrap();
    events
        .wait("the handshake", |e| {
            matches!(e, MonitorEvent::HandshakeSucceeded { .. })
        })
        .await;
    let before = rss();
    let mut peak = before;
    let mut accepted = 0u64;
    let mut refused_since: Option<Instant> = None;
    // Offer messages until the socket has refused them for 800 ms on end:
    // by then every buffer between us and the peer is full.
    while accepted < OFFERED {
        match push.try_send(big(b"", accepted)) {
            Ok(()) => {
                accepted += 1;
                refused_since = None;
            }
            Err(refused) => {
                assert!(matches!(refused.error, Error::WouldBlock), "{refused}");
                let since = *refused_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_millis(800) {
                    break;
                }
                sleep(Duration::from_millis(5)).await;
            }
        }
        peak = peak.max(rss());
    }
    assert!(
        accepted < OFFERED,
        "all {OFFERED} messages were accepted by a socket whose peer reads nothing"
    );
    let waiting = timeout(Duration::from_millis(300), push.send(big(b"", accepted))).await;
    assert!(waiting.is_err(), "send did not wait at the high-water mark");
    peak = peak.max(rss());
    eprintln!("PUSH to a stalled PULL: {accepted} of {OFFERED} messages accepted");
    assert_bounded(before, peak, "PUSH to a stalled PULL");
    assert_eq!(push.stats().sent, accepted);
    peer.tell(&format!("drain {accepted}"));
    assert_eq!(line(&mut peer), format!("got {accepted} extra 0"));
    peer.finish();
}

/// Our PUB (sndhwm 16) to a pyzmq SUB that has subscribed but then reads
/// nothing, with tiny buffers. Publishing 1500 messages of 64 KiB never
/// waits, the copies the subscriber cannot take are counted in
/// `dropped_hwm`, memory stays near 16 x 64 KiB, and when the subscriber
/// reads again it gets exactly the messages that were not dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_to_a_slow_libzmq_sub_drops_at_the_hwm_with_bounded_memory() {
    let _turn = MEMORY.lock().await;
    let mut options = options(SocketType::Pub);
    options.sndhwm = HWM;
    let publisher = Socket::with_options(SocketType::Pub, options);
    let port = port_of(&publisher.bind("tcp://127.0.0.1:*").await.unwrap()).to_string();
    let Some(mut sub) =
        Peer::spawn_interactive(SCRIPT, &["stalled-sub-connect", &port, "1", "4096"])
    else {
        return;
    };
    // Publish probes until the subscriber has one: its subscription is in.
    let prober = tokio::spawn({
        let publisher = publisher.clone();
        async move {
            loop {
                publisher.send("probe").await.unwrap();
                sleep(Duration::from_millis(20)).await;
            }
        }
    });
    assert_eq!(line(&mut sub), "subscribed");
    prober.abort();
    let _ = prober.await;
    let stats = publisher.stats();
    assert_eq!((stats.peers, stats.dropped_hwm), (1, 0));
    let before = rss();
    let mut peak = before;
    for i in 0..OFFERED {
        let sent = publisher.send(big(b"data", i)).now_or_never();
        assert!(
            matches!(sent, Some(Ok(()))),
            "PUB send {i} did not complete at once: {sent:?}"
        );
        peak = peak.max(rss());
    }
    let dropped = publisher.stats().dropped_hwm;
    let delivered = OFFERED - dropped;
    assert!(
        dropped > 0,
        "nothing was dropped for a subscriber that reads nothing"
    );
    assert!(
        delivered >= HWM as u64,
        "the subscriber's queue took {delivered}"
    );
    eprintln!("PUB to a stalled SUB: {delivered} of {OFFERED} messages queued, {dropped} dropped");
    assert_bounded(before, peak, "PUB to a stalled SUB");
    sub.tell(&format!("drain {delivered}"));
    assert_eq!(
        line(&mut sub),
        format!("got {delivered} extra 0"),
        "every message not counted as dropped reaches the subscriber"
    );
    sub.finish();
}
