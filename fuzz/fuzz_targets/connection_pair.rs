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
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use zmtp::mechanism::Null;
use zmtp::{Config, Connection, Event, HeartbeatConfig, Message, SendError, SocketType, Version};

/// Largest frame the harness sends; the size limits, when on, sit exactly here.
const LARGEST_FRAME: usize = 20_000;
/// Most frames in one message.
const MAX_FRAMES: usize = 4;

fuzz_target!(|data: &[u8]| run(data));

/// What a side must see next from its peer.
#[derive(Debug, PartialEq)]
enum Expected {
    Message(Message),
    Subscribe(Bytes),
    Cancel(Bytes),
}

/// One connection with its read buffer and what it still has to receive.
struct Side {
    name: &'static str,
    conn: Connection,
    inbound: BytesMut,
    expected: VecDeque<Expected>,
    peer_type: SocketType,
    peer_identity: Option<Bytes>,
    handshake_done: bool,
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
            c.max_message_size = Some((LARGEST_FRAME * MAX_FRAMES) as u64);
        }
        c
    };
    let id_a: &'static [u8] = if knobs & 1 != 0 { b"side-a" } else { b"" };
    let id_b: &'static [u8] = if knobs & 2 != 0 { b"side-b" } else { b"" };
    let announced = |t: SocketType, id: &'static [u8]| {
        (t.sends_identity() && !id.is_empty()).then(|| Bytes::from_static(id))
    };

    let mut now = Instant::now();
    let mut a = Side {
        name: "A",
        conn: Connection::new(config(type_a, id_a), Box::new(Null::new()), now),
        inbound: BytesMut::new(),
        expected: VecDeque::new(),
        peer_type: type_b,
        peer_identity: announced(type_b, id_b),
        handshake_done: false,
    };
    let mut b = Side {
        name: "B",
        conn: Connection::new(config(type_b, id_b), Box::new(Null::new()), now),
        inbound: BytesMut::new(),
        expected: VecDeque::new(),
        peer_type: type_a,
        peer_identity: announced(type_a, id_a),
        handshake_done: false,
    };
    let mut input = Input(rest);

    // Handshake, with fuzzed cut points; both sides write at once, as they
    // would over a real socket.
    while !(a.handshake_done && b.handshake_done) {
        if !a.conn.is_active() {
            assert_eq!(
                a.conn.send(&Message::from("early")),
                Err(SendError::NotReady)
            );
        }
        let cut_ab = input.next().map_or(usize::MAX, |c| usize::from(c % 80) + 1);
        let cut_ba = input.next().map_or(usize::MAX, |c| usize::from(c % 80) + 1);
        let moved = pump(&mut a, &mut b, cut_ab, now) + pump(&mut b, &mut a, cut_ba, now);
        drain(&mut a);
        drain(&mut b);
        if moved == 0 {
            assert!(
                a.handshake_done && b.handshake_done,
                "handshake stalled: A {:?}, B {:?}",
                a.conn.state(),
                b.conn.state()
            );
        }
    }

    let mut seq = 0u32;
    while let Some(op) = input.next() {
        match op % 6 {
            0 => send_message(&mut a, &mut b, &mut input, &mut seq),
            1 => send_message(&mut b, &mut a, &mut input, &mut seq),
            2 => {
                let n = chunk_len(input.byte());
                pump(&mut a, &mut b, n, now);
            }
            3 => {
                let n = chunk_len(input.byte());
                pump(&mut b, &mut a, n, now);
            }
            4 => {
                let arg = input.byte();
                let (from, to) = if arg & 1 == 0 {
                    (&mut a, &mut b)
                } else {
                    (&mut b, &mut a)
                };
                subscription(from, to, arg);
            }
            _ => {
                flush(&mut a, &mut b, now);
                let step = input.byte();
                // At most one interval per step when heartbeats run; see the
                // header for why that keeps both sides alive.
                now += if heartbeats {
                    interval * u32::from(step) / 255
                } else {
                    Duration::from_secs(u64::from(step))
                };
                a.conn.handle_timeout(now);
                b.conn.handle_timeout(now);
                flush(&mut a, &mut b, now);
            }
        }
        drain(&mut a);
        drain(&mut b);
    }

    flush(&mut a, &mut b, now);
    for side in [&a, &b] {
        assert!(
            side.conn.is_active(),
            "{} is {:?}",
            side.name,
            side.conn.state()
        );
        assert!(
            side.expected.is_empty(),
            "{} never received {:?}",
            side.name,
            side.expected
        );
        assert!(
            side.inbound.is_empty(),
            "{} kept a partial frame",
            side.name
        );
    }
}

/// Sends a message whose shape comes from the input and records what the
/// peer must report for it.
fn send_message(from: &mut Side, to: &mut Side, input: &mut Input<'_>, seq: &mut u32) {
    let shape = input.byte();
    let frames = usize::from(shape) % (MAX_FRAMES + 1);
    let mut message = Message::new();
    for f in 0..frames {
        *seq = seq.wrapping_add(1);
        let len = frame_len(input.byte());
        // A pattern unique to the frame, so a mix-up cannot pass unnoticed.
        let body: Vec<u8> = (0..len)
            .map(|i| (*seq as usize * 7 + f * 13 + i) as u8)
            .collect();
        message.push(body);
    }
    let result = from.conn.send(&message);
    if message.is_empty() {
        assert_eq!(result, Err(SendError::EmptyMessage));
        return;
    }
    assert_eq!(result, Ok(()), "{} could not send", from.name);
    to.expected
        .push_back(expect_for(to.conn.socket_type(), message));
}

/// What a receiver of `socket_type` reports for a data message.
fn expect_for(socket_type: SocketType, message: Message) -> Expected {
    if socket_type.is_publisher() {
        let first = message.frames()[0].clone();
        match first.first() {
            Some(1) => return Expected::Subscribe(first.slice(1..)),
            Some(0) => return Expected::Cancel(first.slice(1..)),
            _ => {}
        }
    }
    Expected::Message(message)
}

/// Sends SUBSCRIBE or CANCEL; only publishers report them.
fn subscription(from: &mut Side, to: &mut Side, arg: u8) {
    let topic = Bytes::from(vec![b'a' + arg % 26; usize::from(arg >> 2)]);
    let subscribe = arg & 2 == 0;
    let result = if subscribe {
        from.conn.send_subscribe(&topic)
    } else {
        from.conn.send_cancel(&topic)
    };
    assert_eq!(result, Ok(()));
    if to.conn.socket_type().is_publisher() {
        to.expected.push_back(if subscribe {
            Expected::Subscribe(topic)
        } else {
            Expected::Cancel(topic)
        });
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

/// Moves up to `max` bytes from `from`'s output into `to` and lets `to`
/// read them; returns how many moved.
fn pump(from: &mut Side, to: &mut Side, max: usize, now: Instant) -> usize {
    let queue = from.conn.transmit();
    let mut moved = 0;
    while moved < max && queue.has_remaining() {
        let chunk = queue.chunk();
        assert!(!chunk.is_empty());
        let n = chunk.len().min(max - moved);
        to.inbound.extend_from_slice(&chunk[..n]);
        queue.advance(n);
        moved += n;
    }
    if moved > 0 {
        to.conn.handle_input(&mut to.inbound, now);
    }
    moved
}

/// Delivers everything in flight both ways, answers included.
fn flush(a: &mut Side, b: &mut Side, now: Instant) {
    while pump(a, b, usize::MAX, now) + pump(b, a, usize::MAX, now) > 0 {}
    drain(a);
    drain(b);
}

/// Takes a side's events, matching each against what it must receive next.
fn drain(side: &mut Side) {
    while let Some(event) = side.conn.poll_event() {
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
        assert!(
            side.handshake_done,
            "{}: {got:?} before handshake",
            side.name
        );
        let want = side.expected.pop_front();
        assert_eq!(
            Some(&got),
            want.as_ref(),
            "{} received out of order",
            side.name
        );
    }
}
