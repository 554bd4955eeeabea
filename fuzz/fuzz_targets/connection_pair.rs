//! Fuzzes two `Connection`s talking to each other through memory, checking
//! that what one side sends is exactly what the other side receives.
//!
//! Byte 0 picks a compatible pair of socket types (and, in `b / 21`, whether
//! heartbeats run and whether size limits are set at exactly the largest
//! message sent); byte 1 picks identities and the heartbeat interval. The
//! rest drives the run: first the cut points of the bytes shuttled during the
//! handshake, then a list of operations: either side sends a message (frame
//! count and sizes, across the short/long header and zero-copy boundaries),
//! sends SUBSCRIBE or CANCEL, the bytes in flight are moved in pieces of
//! fuzzed size, or the fake clock advances and timers fire.
//!
//! Asserted: both handshakes complete and report the peer's type and
//! identity; every message arrives intact, once, in order (a publisher
//! reads a message whose first frame starts with 1 or 0 as a subscription,
//! the ZMTP 3.0 form, and that is what it must report); SUBSCRIBE and CANCEL
//! reach publishers and are ignored by everyone else; and neither side ever
//! closes. Heartbeats run with a TTL of three intervals and time steps of at
//! most one interval, and all bytes in flight are delivered before the clock
//! moves, so a close would be a bug, not a starved peer.

#![no_main]

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use zmtp::testing::{End, Pair};
use zmtp::{Config, Connection, Event, HeartbeatConfig, Message, SendError, SocketType, Version};

/// Largest frame the harness sends; the size limits, when on, sit exactly here.
const LARGEST_FRAME: usize = 20_000;
/// Most frames in one message.
const MAX_FRAMES: usize = 4;

#[path = "expected.rs"]
mod expected;

use expected::{Expected, check_next, expect_for, expect_subscription, patterned};

fuzz_target!(|data: &[u8]| run(data));

/// What one end of the pair still has to receive, and knows of its peer.
struct Side {
    name: &'static str,
    expected: VecDeque<Expected>,
    peer_type: SocketType,
    peer_identity: Option<Bytes>,
    handshake_done: bool,
}

/// The pair of connections (A is the client end, B the server end) and
/// what each end must see.
struct Run {
    pair: Pair,
    a: Side,
    b: Side,
}

impl Run {
    fn side(&mut self, end: End) -> (&mut Connection, &mut Side) {
        match end {
            End::Client => (&mut self.pair.client, &mut self.a),
            End::Server => (&mut self.pair.server, &mut self.b),
        }
    }

    /// Moves up to `max` bytes from `from` to its peer.
    fn pump(&mut self, from: End, max: usize) -> usize {
        self.pair.pump(from, max)
    }

    /// Delivers everything in flight both ways, answers included.
    fn flush(&mut self) {
        while self.pump(End::Client, usize::MAX) + self.pump(End::Server, usize::MAX) > 0 {}
        self.drain(End::Client);
        self.drain(End::Server);
    }

    /// Takes a side's events, matching each against what it must receive next.
    fn drain(&mut self, end: End) {
        let (conn, side) = self.side(end);
        while let Some(event) = conn.poll_event() {
            let got = match event {
                Event::HandshakeSucceeded(info) => {
                    assert!(!side.handshake_done, "{}: second handshake", side.name);
                    side.handshake_done = true;
                    assert_eq!(info.version, Version::V3_1);
                    assert_eq!(info.socket_type, Some(side.peer_type));
                    assert_eq!(info.identity, side.peer_identity, "{}: identity", side.name);
                    continue;
                }
                Event::Closed(reason) => panic!("{} closed: {reason}", side.name),
                Event::Message(m) => Expected::Message(m),
                Event::Subscribe(t) => Expected::Subscribe(t),
                Event::Cancel(t) => Expected::Cancel(t),
                // NULL never asks an authenticator, and no other event is ours
                // to expect; the allow covers variants still to come.
                #[allow(unreachable_patterns)]
                other => panic!("{}: unexpected event under NULL: {other:?}", side.name),
            };
            check_next(side.name, side.handshake_done, &mut side.expected, got);
        }
    }

    fn drain_both(&mut self) {
        self.drain(End::Client);
        self.drain(End::Server);
    }

    /// Sends a message whose shape comes from the input and records what the
    /// peer must report for it.
    fn send_message(&mut self, from: End, input: &mut Input<'_>, seq: &mut u32) {
        let shape = input.byte();
        let frames = usize::from(shape) % (MAX_FRAMES + 1);
        let message = patterned(frames, seq, || frame_len(input.byte()));
        let (conn, side) = self.side(from);
        let result = conn.send(&message);
        if message.is_empty() {
            assert_eq!(result, Err(SendError::EmptyMessage));
            return;
        }
        assert_eq!(result, Ok(()), "{} could not send", side.name);
        let (to_conn, to) = self.side(from.peer());
        let expected = expect_for(to_conn.socket_type(), message);
        to.expected.push_back(expected);
    }

    /// Sends SUBSCRIBE or CANCEL; only publishers report them.
    fn subscription(&mut self, from: End, arg: u8) {
        let topic = Bytes::from(vec![b'a' + arg % 26; usize::from(arg >> 2)]);
        let subscribe = arg & 2 == 0;
        let conn = self.pair.conn(from);
        let result = if subscribe {
            conn.send_subscribe(&topic)
        } else {
            conn.send_cancel(&topic)
        };
        assert_eq!(result, Ok(()));
        let (to_conn, to) = self.side(from.peer());
        if to_conn.socket_type().is_publisher() {
            to.expected.push_back(expect_subscription(subscribe, topic));
        }
    }
}

/// Reads the fuzz input one byte at a time.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn next(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    /// A byte, or 0 once the input runs out.
    fn byte(&mut self) -> u8 {
        self.next().unwrap_or(0)
    }
}

fn run(data: &[u8]) {
    let [first, knobs, rest @ ..] = data else {
        return;
    };
    let pairs: Vec<(SocketType, SocketType)> = SocketType::ALL
        .into_iter()
        .flat_map(|a| SocketType::ALL.into_iter().map(move |b| (a, b)))
        .filter(|&(a, b)| a.is_compatible(b))
        .collect();
    let (type_a, type_b) = pairs[usize::from(*first) % pairs.len()];
    let flags = usize::from(*first) / pairs.len();
    let heartbeats = flags & 1 != 0;
    let limits = flags & 2 != 0;
    let interval = Duration::from_millis(100 + u64::from(*knobs) * 4);

    let config = |socket_type: SocketType, identity: &'static [u8]| {
        let mut c = Config::new(socket_type);
        c.identity = Bytes::from_static(identity);
        if heartbeats {
            c.heartbeat = HeartbeatConfig {
                interval: Some(interval),
                ttl: interval * 3,
                timeout: None,
            };
        }
        if limits {
            c.max_frame_size = Some(LARGEST_FRAME as u64);
            // Every frame after the first costs FRAME_COST as well.
            let overhead = zmtp::config::FRAME_COST * (MAX_FRAMES - 1);
            c.max_message_size = Some((LARGEST_FRAME * MAX_FRAMES + overhead) as u64);
        }
        c
    };
    let id_a: &'static [u8] = if knobs & 1 != 0 { b"side-a" } else { b"" };
    let id_b: &'static [u8] = if knobs & 2 != 0 { b"side-b" } else { b"" };
    let announced = |t: SocketType, id: &'static [u8]| {
        (t.sends_identity() && !id.is_empty()).then(|| Bytes::from_static(id))
    };
    let side = |name, peer_type, peer_identity| Side {
        name,
        expected: VecDeque::new(),
        peer_type,
        peer_identity,
        handshake_done: false,
    };
    let mut run = Run {
        pair: Pair::null(config(type_a, id_a), config(type_b, id_b)),
        a: side("A", type_b, announced(type_b, id_b)),
        b: side("B", type_a, announced(type_a, id_a)),
    };
    let mut input = Input(rest);

    // Handshake, with fuzzed cut points; both sides write at once, as they
    // would over a real socket.
    while !(run.a.handshake_done && run.b.handshake_done) {
        if !run.pair.client.is_active() {
            assert_eq!(
                run.pair.client.send(&Message::from("early")),
                Err(SendError::NotReady)
            );
        }
        let cut_ab = input.next().map_or(usize::MAX, |c| usize::from(c % 80) + 1);
        let cut_ba = input.next().map_or(usize::MAX, |c| usize::from(c % 80) + 1);
        // Both sides' output is taken before either reads.
        run.pair.in_flight(End::Client);
        run.pair.in_flight(End::Server);
        let moved = run.pump(End::Client, cut_ab) + run.pump(End::Server, cut_ba);
        run.drain_both();
        if moved == 0 {
            assert!(
                run.a.handshake_done && run.b.handshake_done,
                "handshake stalled: A {:?}, B {:?}",
                run.pair.client.state(),
                run.pair.server.state()
            );
        }
    }

    let mut seq = 0u32;
    while let Some(op) = input.next() {
        match op % 6 {
            0 => run.send_message(End::Client, &mut input, &mut seq),
            1 => run.send_message(End::Server, &mut input, &mut seq),
            2 => {
                let n = chunk_len(input.byte());
                run.pump(End::Client, n);
            }
            3 => {
                let n = chunk_len(input.byte());
                run.pump(End::Server, n);
            }
            4 => {
                let arg = input.byte();
                let from = if arg & 1 == 0 {
                    End::Client
                } else {
                    End::Server
                };
                run.subscription(from, arg);
            }
            _ => {
                run.flush();
                let step = input.byte();
                // At most one interval per step when heartbeats run; see the
                // header for why that keeps both sides alive.
                run.pair.advance(if heartbeats {
                    interval * u32::from(step) / 255
                } else {
                    Duration::from_secs(u64::from(step))
                });
                run.flush();
            }
        }
        run.drain_both();
    }

    run.flush();
    for end in [End::Client, End::Server] {
        let unread = run.pair.unread(end).is_empty();
        let (conn, side) = run.side(end);
        assert!(conn.is_active(), "{} is {:?}", side.name, conn.state());
        assert!(
            side.expected.is_empty(),
            "{} never received {:?}",
            side.name,
            side.expected
        );
        assert!(unread, "{} kept a partial frame", side.name);
    }
}

/// Frame sizes from one byte: mostly small, some around the 255/256 header
/// boundary, some around the 8 KiB zero-copy threshold, one largest.
fn frame_len(b: u8) -> usize {
    match b {
        0..=199 => usize::from(b),
        200..=239 => 250 + usize::from(b - 200),
        240..=254 => 8185 + usize::from(b - 240),
        255 => LARGEST_FRAME,
    }
}

/// Bytes moved per shuttle step: 1 to 200 one by one, then coarser.
fn chunk_len(b: u8) -> usize {
    let b = usize::from(b);
    if b < 200 { b + 1 } else { (b - 199) * 512 }
}
