//! Fuzzes one whole `Connection` against arbitrary peer bytes: greeting,
//! NULL handshake, framing, commands, heartbeats and limits together.
//!
//! Input layout:
//! - byte 0: our socket type (`SocketType::ALL[b % 11]`); `b / 11` holds
//!   flags: prefix a valid peer greeting and NULL READY from a compatible
//!   type (so most runs reach the Active state), make that greeting ZMTP 3.0,
//!   use small frame and message limits, turn heartbeats on;
//! - byte 1: a peer-type choice and the limits' sizes;
//! - byte 2: how many schedule bytes follow;
//! - the schedule: one step per byte (feed a chunk of peer bytes of a size the
//!   byte picks, advance the fake clock and fire timers, send a message,
//!   subscribe or cancel);
//! - everything after the schedule: the peer's bytes, after the prefix.
//!
//! After every step all events are drained and checked, and everything we
//! transmit is collected; at the end it must parse as a well-formed ZMTP
//! stream (our greeting, then whole frames, every command decodable), since
//! whatever the peer sends, we must never put garbage on the wire.

#![no_main]

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use zmtp::mechanism::Null;
use zmtp::{
    Command, Config, Connection, Decoded, Event, FrameDecoder, Greeting, HeartbeatConfig,
    MechanismName, Message, Metadata, SendError, SocketType, State, Version,
};

fuzz_target!(|data: &[u8]| run(data));

fn run(data: &[u8]) {
    let &[first, knobs, schedule_len, ref rest @ ..] = data else {
        return;
    };
    let local = SocketType::ALL[usize::from(first % 11)];
    let flags = first / 11;
    let with_prefix = flags & 1 != 0;
    let peer_3_0 = flags & 2 != 0;
    let small_limits = flags & 4 != 0;
    let heartbeats = flags & 8 != 0;

    let mut config = Config::new(local);
    if small_limits {
        // Limits around the short/long header boundary and a few frames.
        // They apply once Active; handshake frames have their own cap, so a
        // tiny limit still lets the peer's READY in.
        config.max_frame_size = Some(u64::from(knobs & 0x0f) * 20);
        config.max_message_size = Some(u64::from(knobs >> 4) * 60);
    }
    if heartbeats {
        config.heartbeat = HeartbeatConfig {
            interval: Some(Duration::from_millis(100 + u64::from(knobs) * 10)),
            ttl: Duration::from_millis(u64::from(knobs) * 100),
            timeout: (knobs & 1 != 0).then(|| Duration::from_millis(u64::from(knobs >> 1) * 50)),
        };
    }
    if knobs & 0x80 != 0 {
        config.identity = Bytes::from_static(b"fuzz-id");
    }
    if flags & 16 != 0 {
        config.handshake_timeout = None;
    }
    let limits = (config.max_frame_size, config.max_message_size);

    let (schedule, wire) = rest.split_at(usize::from(schedule_len).min(rest.len()));
    let mut peer = BytesMut::new();
    if with_prefix {
        let compatible: Vec<SocketType> = SocketType::ALL
            .into_iter()
            .filter(|&t| local.is_compatible(t))
            .collect();
        let peer_type = compatible[usize::from(knobs) % compatible.len()];
        let mut greeting = Greeting::new(MechanismName::NULL, false);
        if peer_3_0 {
            greeting.version = Version::V3_0;
        }
        greeting.encode(&mut peer);
        Command::Ready(Metadata::for_socket(
            peer_type,
            &Bytes::from_static(b"peer"),
        ))
        .encode(&mut peer)
        .expect("a standard READY encodes");
    }
    peer.extend_from_slice(wire);

    let start = Instant::now();
    let mut now = start;
    let mut conn = Connection::new(config, Box::new(Null::new()), now);
    let mut check = Checker::new(limits);
    let mut inbound = BytesMut::new();
    let mut sent_frames = 0u8;

    for &step in schedule {
        let arg = step >> 2;
        match step & 3 {
            0 => {
                let n = chunk_len(arg).min(peer.len());
                inbound.extend_from_slice(&peer.split_to(n));
                conn.handle_input(&mut inbound, now);
            }
            1 => {
                now = match conn.poll_timeout() {
                    // Land exactly on the deadline, the boundary case.
                    Some(deadline) if arg == 63 => deadline.max(now),
                    _ => now + Duration::from_millis(u64::from(arg) * u64::from(arg) * 100),
                };
                conn.handle_timeout(now);
            }
            2 => {
                let mut message = Message::new();
                for i in 0..arg % 4 {
                    sent_frames = sent_frames.wrapping_add(1);
                    let len = usize::from(arg) * 5 + usize::from(i);
                    message.push(vec![sent_frames; len]);
                }
                let result = conn.send(&message);
                check.send_result(&conn, result, message.is_empty());
            }
            _ => {
                let topic = vec![b't'; usize::from(arg >> 1)];
                let result = if arg & 1 == 0 {
                    conn.send_subscribe(&topic)
                } else {
                    conn.send_cancel(&topic)
                };
                check.send_result(&conn, result, false);
            }
        }
        check.drain(&mut conn);
    }
    // The rest of the peer's bytes in one go, then the far future.
    inbound.extend_from_slice(&peer);
    conn.handle_input(&mut inbound, now);
    check.drain(&mut conn);
    conn.handle_timeout(now + Duration::from_secs(24 * 3600));
    check.drain(&mut conn);
    check.finish();
}

/// Chunk sizes from one byte: 1 to 48 bytes one by one, then coarser steps
/// up to about 1 KiB, so both byte-at-a-time and bulk reads happen.
fn chunk_len(arg: u8) -> usize {
    let arg = usize::from(arg);
    if arg < 48 { arg + 1 } else { (arg - 47) * 64 }
}

/// Checks events and output across the life of one connection.
struct Checker {
    max_frame: Option<u64>,
    max_message: Option<u64>,
    handshake_done: bool,
    closed: bool,
    out: BytesMut,
}

impl Checker {
    fn new((max_frame, max_message): (Option<u64>, Option<u64>)) -> Self {
        Checker {
            max_frame,
            max_message,
            handshake_done: false,
            closed: false,
            out: BytesMut::new(),
        }
    }

    /// `send` and friends succeed exactly when the connection is active.
    fn send_result(&self, conn: &Connection, result: Result<(), SendError>, empty: bool) {
        match (conn.state(), result) {
            (State::Active, Err(SendError::EmptyMessage)) if empty => {}
            (State::Active, Ok(())) if !empty => {}
            (State::Closed, Err(SendError::Closed)) => {}
            (State::Greeting | State::Handshake, Err(SendError::NotReady)) => {}
            (state, result) => panic!("send in state {state:?} gave {result:?}"),
        }
    }

    /// Takes every event and every outgoing byte, checking the event order:
    /// the handshake once, messages only after it, nothing after Closed.
    fn drain(&mut self, conn: &mut Connection) {
        while let Some(event) = conn.poll_event() {
            assert!(!self.closed, "event after Closed: {event:?}");
            match event {
                Event::HandshakeSucceeded(_) => {
                    assert!(!self.handshake_done, "second HandshakeSucceeded");
                    self.handshake_done = true;
                }
                Event::Message(message) => {
                    assert!(self.handshake_done, "message before the handshake");
                    assert!(!message.is_empty());
                    if let Some(max) = self.max_message {
                        assert!(message.cost() as u64 <= max);
                    }
                    if let Some(max) = self.max_frame {
                        assert!(message.frames().iter().all(|f| f.len() as u64 <= max));
                    }
                }
                Event::Subscribe(_) | Event::Cancel(_) => {
                    assert!(self.handshake_done, "subscription before the handshake");
                    assert!(conn.socket_type().is_publisher());
                }
                Event::Closed(_) => self.closed = true,
                // NULL never asks an authenticator, and no other event is
                // ours to expect; the allow covers variants still to come.
                #[allow(unreachable_patterns)]
                other => panic!("unexpected event under NULL: {other:?}"),
            }
        }
        assert_eq!(conn.is_closed(), self.closed, "state and events disagree");
        assert_eq!(conn.is_active(), self.handshake_done && !self.closed);
        if self.closed {
            assert_eq!(conn.poll_timeout(), None);
        }
        assert!(conn.read_hint() >= 1);

        let queue = conn.transmit();
        let mut slices = [std::io::IoSlice::new(&[]); 64];
        let n = queue.chunks_vectored(&mut slices);
        let vectored: usize = slices[..n].iter().map(|s| s.len()).sum();
        assert!(vectored <= queue.remaining());
        assert!(n == slices.len() || vectored == queue.remaining());
        while queue.has_remaining() {
            let chunk = queue.chunk();
            assert!(!chunk.is_empty(), "non-empty queue gave an empty chunk");
            let take = chunk.len().min(700);
            self.out.extend_from_slice(&chunk[..take]);
            queue.advance(take);
        }
        assert!(queue.is_empty());
    }

    /// Everything we sent must be a well-formed ZMTP stream.
    fn finish(mut self) {
        let Ok(Decoded::Complete { consumed, .. }) = Greeting::decode(&self.out) else {
            panic!("our output does not start with a greeting");
        };
        self.out.advance(consumed);
        let decoder = FrameDecoder::default();
        while !self.out.is_empty() {
            match decoder.decode(&mut self.out) {
                Ok(Decoded::Complete { value, .. }) => {
                    if value.command {
                        Command::decode(&value.body).expect("we sent a malformed command");
                    }
                }
                other => panic!("our output ends in a broken frame: {other:?}"),
            }
        }
    }
}
