//! Shared harness of the `plain` and `curve` targets: a security mechanism
//! under fuzzed input, one side alone or both sides through memory.
//!
//! Byte 0 picks the scenario: `b % 3 == 0` the client alone, `1` the server
//! alone, `2` a client/server pair. The rest is interpreted by the scenario.
//!
//! **Alone.** A genuine peer connection plays the first `k` handshake round
//! trips (byte 1 bits 0-1), so the fuzzed bytes land at every step: right
//! after the greeting (k = 0), after HELLO or WELCOME, or once Active. Then
//! the remaining input is the peer's stream, fed in chunks (byte 1 bits 2-7).
//! The side's authentication requests get the status of byte 1 bits 2-3
//! (200 most often). Checked: events come in a valid order (at most one
//! request, from servers only and before the handshake; at most one
//! handshake; traffic only after it; nothing after Closed); and everything
//! the side writes is a well-formed stream: our greeting, then whole frames,
//! handshake commands with the COMMAND flag, and under a sealing mechanism
//! only MESSAGE commands with outer flags 0x00/0x02 afterwards.
//!
//! **Pair.** A client and a server of a compatible pair of types (byte 1),
//! no handshake timeout, heartbeats on or off. Each later byte is an
//! operation: either side sends a message of fuzzed shape, the client
//! subscribes or cancels, in-flight bytes move in fuzzed pieces, the clock
//! advances (after a full flush, by at most one heartbeat interval), or (when
//! the mechanism authenticates traffic) one in-flight byte is flipped.
//! Checked: the server's request names the client's credentials; every
//! message and subscription that arrives is the next one sent, intact, even
//! after a flipped byte (CURVE must never deliver a forgery); and with no
//! flip and an accepting authenticator, both sides end Active with
//! everything delivered.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use zmtp::mechanism::Mechanism;
use zmtp::testing::{End, Pair, transmitted};
use zmtp::{
    AuthReply, AuthStatus, Config, Connection, Credentials, Decoded, Event, FrameDecoder, Greeting,
    HeartbeatConfig, SendError, SocketType,
};

#[path = "expected.rs"]
mod expected;

use expected::{Expected, check_next, expect_for, expect_subscription, patterned};

/// What a target supplies: its mechanisms and what they reveal.
pub struct Setup {
    /// A fresh client mechanism, deterministic.
    pub client: fn() -> Box<dyn Mechanism>,
    /// A fresh server mechanism, deterministic.
    pub server: fn() -> Box<dyn Mechanism>,
    /// What the server's authentication request must name.
    pub credentials: fn() -> Credentials,
    /// Whether traffic is sealed (MESSAGE) and authenticated.
    pub sealed: bool,
}

pub fn run(data: &[u8], setup: &Setup) {
    let [first, rest @ ..] = data else {
        return;
    };
    match first % 3 {
        0 => alone(false, rest, setup),
        1 => alone(true, rest, setup),
        _ => pair(rest, setup),
    }
}

fn status_of(bits: u8) -> AuthStatus {
    match bits & 3 {
        0 | 1 => AuthStatus::Success,
        2 => AuthStatus::AuthenticationFailure,
        _ => [AuthStatus::TemporaryFailure, AuthStatus::InternalError][usize::from(bits >> 2 & 1)],
    }
}

fn config(socket_type: SocketType) -> Config {
    let mut c = Config::new(socket_type);
    c.handshake_timeout = None;
    c
}

// ---------------------------------------------------------------------------
// One side alone.

fn alone(server_side: bool, data: &[u8], setup: &Setup) {
    let [knobs, wire @ ..] = data else {
        return;
    };
    let round_trips = knobs & 3;
    let status = status_of(knobs >> 2);
    let chunk = usize::from(knobs >> 2) * 3 + 1;
    let now = Instant::now();
    let dealer = || Connection::new(config(SocketType::Dealer), (setup.client)(), now);
    let router = || Connection::new(config(SocketType::Router), (setup.server)(), now);
    // The side under test is the pair's server end, its genuine peer the
    // client end.
    let mut pair = if server_side {
        Pair::new(dealer(), router())
    } else {
        Pair::new(router(), dealer())
    };
    pair.now = now;
    let (side, peer) = (End::Server, End::Client);
    let mut check = Checker::new(server_side, setup.sealed);

    // The peer's greeting always arrives; then k genuine round trips.
    pair.pump(peer, 64);
    check.drain(&mut pair, status);
    for _ in 0..round_trips {
        pair.pump(side, usize::MAX);
        while let Some(event) = pair.client.poll_event() {
            if let Event::AuthenticationRequested(_) = event {
                let _ = pair.client.authenticate(AuthReply::accept(), now);
            }
        }
        pair.pump(peer, usize::MAX);
        check.drain(&mut pair, status);
    }

    // Now the fuzzed peer bytes, in chunks.
    for piece in wire.chunks(chunk) {
        pair.deliver(side, piece);
        check.drain(&mut pair, status);
    }
    pair.server.handle_timeout(now + Duration::from_secs(3600));
    check.drain(&mut pair, status);
    check.finish();
}

/// Checks one side's events and everything it writes.
struct Checker {
    server_side: bool,
    sealed: bool,
    requested: bool,
    handshake_done: bool,
    closed: bool,
    /// Everything the side wrote.
    out: BytesMut,
}

impl Checker {
    fn new(server_side: bool, sealed: bool) -> Self {
        Checker {
            server_side,
            sealed,
            requested: false,
            handshake_done: false,
            closed: false,
            out: BytesMut::new(),
        }
    }

    /// Checks the events of the side under test (the pair's server end)
    /// and records what it wrote, which stays in flight for its peer.
    fn drain(&mut self, pair: &mut Pair, status: AuthStatus) {
        let now = pair.now;
        let conn = &mut pair.server;
        while let Some(event) = conn.poll_event() {
            assert!(!self.closed, "event after Closed: {event:?}");
            match event {
                Event::AuthenticationRequested(_) => {
                    assert!(self.server_side, "a client asked to authenticate");
                    assert!(!self.requested && !self.handshake_done);
                    assert!(conn.is_awaiting_authentication());
                    self.requested = true;
                    conn.authenticate(AuthReply::with_status(status), now)
                        .expect("a pending request takes a reply");
                    assert!(!conn.is_awaiting_authentication());
                }
                Event::HandshakeSucceeded(info) => {
                    assert!(!self.handshake_done, "second handshake");
                    assert!(!self.server_side || (self.requested && status.is_success()));
                    self.handshake_done = true;
                    assert!(conn.is_active());
                    let _ = info;
                }
                Event::Message(_) | Event::Subscribe(_) | Event::Cancel(_) => {
                    assert!(self.handshake_done, "traffic before the handshake");
                }
                Event::Closed(reason) => {
                    self.closed = true;
                    assert!(conn.is_closed());
                    let _ = reason.to_string();
                }
            }
        }
        let out = transmitted(conn);
        self.out.extend_from_slice(&out);
        pair.in_flight(End::Server).extend_from_slice(&out);
    }

    /// Our output: a greeting, then whole well-formed frames.
    fn finish(self) {
        let mut out = self.out;
        assert!(out.len() >= 64, "our greeting is always sent");
        let greeting = out.split_to(64);
        assert!(matches!(
            Greeting::decode(&greeting),
            Ok(Decoded::Complete { .. })
        ));
        let mut active = false;
        while !out.is_empty() {
            let frame = match FrameDecoder::default().decode(&mut out) {
                Ok(Decoded::Complete { value, .. }) => value,
                other => panic!("we wrote a broken frame: {other:?}"),
            };
            assert!(!frame.more || !frame.command, "a command with MORE");
            if self.sealed && frame.body.starts_with(b"\x07MESSAGE") {
                assert!(!frame.more && !frame.command, "MESSAGE outer flags");
                assert!(frame.body.len() >= 33);
                active = true;
                continue;
            }
            assert!(frame.command, "clear data frame: {frame:?}");
            let name_len = usize::from(frame.body[0]);
            let name = &frame.body[1..1 + name_len];
            if !self.sealed {
                // PLAIN's and NULL's commands decode; data may follow READY.
                assert!(zmtp::Command::decode(&frame.body).is_ok());
            } else {
                assert!(!active, "a bare command after MESSAGEs: {name:?}");
                assert!(
                    matches!(
                        name,
                        b"HELLO" | b"WELCOME" | b"INITIATE" | b"READY" | b"ERROR"
                    ),
                    "{name:?}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// A pair through memory.

/// What one end still has to receive, and what it has seen.
struct Side {
    name: &'static str,
    expected: VecDeque<Expected>,
    handshake_done: bool,
    requested: bool,
}

impl Side {
    fn new(name: &'static str) -> Self {
        Side {
            name,
            expected: VecDeque::new(),
            handshake_done: false,
            requested: false,
        }
    }
}

struct Run<'a> {
    setup: &'a Setup,
    status: AuthStatus,
    pair: Pair,
    client: Side,
    server: Side,
    /// A byte was flipped or the authenticator refused: closes are allowed.
    disturbed: bool,
}

fn pair(data: &[u8], setup: &Setup) {
    let [knobs, ops @ ..] = data else {
        return;
    };
    let (client_type, server_type) = [
        (SocketType::Dealer, SocketType::Router),
        (SocketType::Sub, SocketType::Xpub),
        (SocketType::Req, SocketType::Rep),
        (SocketType::Pair, SocketType::Pair),
    ][usize::from(knobs & 3)];
    let heartbeats = knobs & 4 != 0;
    let status = status_of(knobs >> 3);
    let interval = Duration::from_millis(100);
    let config = |t| {
        let mut c = config(t);
        if heartbeats {
            c.heartbeat = HeartbeatConfig {
                interval: Some(interval),
                ttl: interval * 3,
                timeout: None,
            };
        }
        c
    };
    let now = Instant::now();
    let mut pair = Pair::new(
        Connection::new(config(client_type), (setup.client)(), now),
        Connection::new(config(server_type), (setup.server)(), now),
    );
    pair.now = now;
    let mut run = Run {
        setup,
        status,
        pair,
        client: Side::new("client"),
        server: Side::new("server"),
        disturbed: !status.is_success(),
    };
    let mut ops = ops.iter().copied();
    let mut seq = 0u32;
    while let Some(op) = ops.next() {
        let arg = ops.next().unwrap_or(0);
        match op % 8 {
            0 => run.send_message(End::Client, arg, &mut ops, &mut seq),
            1 => run.send_message(End::Server, arg, &mut ops, &mut seq),
            2 if client_type == SocketType::Sub => run.subscription(End::Client, arg),
            3 => {
                run.pump(End::Client, usize::from(arg) * 7 + 1);
            }
            4 => {
                run.pump(End::Server, usize::from(arg) * 7 + 1);
            }
            5 if setup.sealed => {
                let target = if arg & 1 == 0 {
                    End::Client
                } else {
                    End::Server
                };
                run.flip(target, arg, ops.next().unwrap_or(1));
            }
            6 => {
                run.flush();
                run.pair.advance(if heartbeats {
                    interval * u32::from(arg) / 255
                } else {
                    Duration::from_secs(u64::from(arg))
                });
                run.drain(End::Client);
                run.drain(End::Server);
            }
            _ => run.flush(),
        }
    }
    run.flush();
    if !run.disturbed {
        for end in [End::Client, End::Server] {
            let unread = run.pair.unread(end).is_empty();
            let (conn, side) = run.side(end);
            assert!(conn.is_active(), "{} is {:?}", side.name, conn.state());
            assert!(
                side.expected.is_empty(),
                "{} never got {:?}",
                side.name,
                side.expected
            );
            assert!(unread, "{} kept a partial frame", side.name);
        }
    } else if !status.is_success() && run.server.requested {
        // Refused: the server is closed; the client too if told with ERROR,
        // unless a flipped byte got in the way.
        assert!(run.pair.server.is_closed());
    }
}

impl Run<'_> {
    fn side(&mut self, end: End) -> (&mut Connection, &mut Side) {
        match end {
            End::Client => (&mut self.pair.client, &mut self.client),
            End::Server => (&mut self.pair.server, &mut self.server),
        }
    }

    fn send_message(
        &mut self,
        from: End,
        shape: u8,
        ops: &mut impl Iterator<Item = u8>,
        seq: &mut u32,
    ) {
        let message = patterned(usize::from(shape % 4), seq, || {
            frame_len(ops.next().unwrap_or(0))
        });
        let disturbed = self.disturbed;
        let (conn, side) = self.side(from);
        match conn.send(&message) {
            Ok(()) => {
                assert!(!message.is_empty());
                let (to_conn, to) = self.side(from.peer());
                let expected = expect_for(to_conn.socket_type(), message);
                to.expected.push_back(expected);
            }
            Err(SendError::EmptyMessage) => assert!(message.is_empty()),
            Err(SendError::NotReady) => assert!(!conn.is_active()),
            Err(SendError::Closed) => assert!(disturbed && conn.is_closed()),
            Err(e) => panic!("{}: send failed: {e}", side.name),
        }
        self.drain(from);
    }

    fn subscription(&mut self, from: End, arg: u8) {
        let topic = Bytes::from(vec![b'a' + arg % 26; usize::from(arg >> 3)]);
        let subscribe = arg & 4 == 0;
        let conn = self.pair.conn(from);
        let result = if subscribe {
            conn.send_subscribe(&topic)
        } else {
            conn.send_cancel(&topic)
        };
        if result.is_ok() {
            let (_, to) = self.side(from.peer());
            to.expected.push_back(expect_subscription(subscribe, topic));
        }
    }

    /// Flips one in-flight byte from `from`.
    fn flip(&mut self, from: End, at: u8, with: u8) {
        let in_flight = self.pair.in_flight(from);
        if in_flight.is_empty() {
            return;
        }
        let i = usize::from(at) * 37 % in_flight.len();
        in_flight[i] ^= with | 1;
        self.disturbed = true;
    }

    /// Moves up to `max` bytes from `from` to its peer.
    fn pump(&mut self, from: End, max: usize) -> usize {
        let n = self.pair.pump(from, max);
        self.drain(from.peer());
        n
    }

    fn flush(&mut self) {
        while self.pump(End::Client, usize::MAX) + self.pump(End::Server, usize::MAX) > 0 {}
        self.drain(End::Client);
        self.drain(End::Server);
    }

    fn drain(&mut self, end: End) {
        let (disturbed, status, now) = (self.disturbed, self.status, self.pair.now);
        let credentials = self.setup.credentials;
        let (conn, side) = self.side(end);
        while let Some(event) = conn.poll_event() {
            let got = match event {
                Event::AuthenticationRequested(request) => {
                    assert_eq!(side.name, "server");
                    assert!(!side.requested && !side.handshake_done);
                    side.requested = true;
                    if !disturbed {
                        assert_eq!(request.credentials, credentials());
                    }
                    conn.authenticate(AuthReply::with_status(status), now)
                        .expect("pending");
                    continue;
                }
                Event::HandshakeSucceeded(_) => {
                    assert!(!side.handshake_done, "{}: second handshake", side.name);
                    side.handshake_done = true;
                    continue;
                }
                Event::Closed(reason) => {
                    assert!(disturbed, "{} closed: {reason}", side.name);
                    continue;
                }
                Event::Message(m) => Expected::Message(m),
                Event::Subscribe(t) => Expected::Subscribe(t),
                Event::Cancel(t) => Expected::Cancel(t),
            };
            check_next(side.name, side.handshake_done, &mut side.expected, got);
        }
    }
}

/// Frame sizes: mostly small, some around the 255/256 header boundary.
fn frame_len(b: u8) -> usize {
    match b {
        0..=199 => usize::from(b),
        200..=249 => 200 + usize::from(b - 200) * 2,
        250..=254 => 1000 * usize::from(b - 249),
        255 => 9000,
    }
}
