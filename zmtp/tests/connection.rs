//! The `Connection` state machine driven through its public API: captured
//! libzmq bytes in, exact bytes and events out, timers driven by hand.

#![allow(clippy::unwrap_used)] // test helpers panic on purpose

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use zmtp::{
    CloseReason, Command, Config, Connection, Event, HeartbeatConfig, Input, MechanismName,
    Message, Metadata, SocketType, State, Version,
    config::FRAME_COST,
    mechanism::Null,
    testing::{Pair, events, transmitted},
};

fn null(config: Config) -> Connection {
    Connection::new(config, Box::new(Null::new()), Instant::now())
}

fn conn(socket_type: SocketType) -> Connection {
    null(Config::new(socket_type))
}

/// Everything the connection wants written, in order.
fn take_output(c: &mut Connection) -> Vec<u8> {
    transmitted(c).to_vec()
}

fn feed(c: &mut Connection, bytes: &[u8]) {
    let mut buf = BytesMut::from(bytes);
    c.handle_input(&mut buf, Instant::now());
}

/// A peer's greeting as libzmq sends it (padding = id_len + 1).
fn greeting(mechanism: &[u8], minor: u8) -> Vec<u8> {
    let mut g = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, minor];
    let mut name = [0u8; 20];
    name[..mechanism.len()].copy_from_slice(mechanism);
    g.extend_from_slice(&name);
    g.extend_from_slice(&[0; 32]);
    g
}

fn ready(socket_type: SocketType, identity: &'static [u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    Command::Ready(Metadata::for_socket(
        socket_type,
        &Bytes::from_static(identity),
    ))
    .encode(&mut out)
    .unwrap();
    out.to_vec()
}

/// A connection of `ours` that has completed a NULL handshake with a peer
/// of `theirs` speaking ZMTP 3.`minor`, with its output and events drained.
fn active(ours: Config, theirs: SocketType, minor: u8) -> Connection {
    let mut c = null(ours);
    let mut input = greeting(b"NULL", minor);
    input.extend(ready(theirs, b""));
    feed(&mut c, &input);
    assert!(c.is_active(), "{:?}", events(&mut c));
    take_output(&mut c);
    events(&mut c);
    c
}

fn closed_reason(c: &mut Connection) -> CloseReason {
    match events(c).pop() {
        Some(Event::Closed(reason)) => reason,
        other => panic!("expected Closed, got {other:?}"),
    }
}

fn messages(evs: Vec<Event>) -> Vec<Vec<Vec<u8>>> {
    evs.into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.frames().iter().map(|f| f.to_vec()).collect()),
            _ => None,
        })
        .collect()
}

#[test]
fn sends_greeting_then_ready_exactly_as_libzmq() {
    let mut c = conn(SocketType::Dealer);
    let mut expected = greeting(b"NULL", 1);
    expected[8] = 0; // we leave the padding zero
    assert_eq!(take_output(&mut c), expected);
    // READY goes out only once the peer's greeting shows the same mechanism.
    feed(&mut c, &greeting(b"NULL", 1));
    assert_eq!(
        take_output(&mut c),
        b"\x04\x29\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\x00"
    );
    assert_eq!(c.state(), State::Handshake);
}

#[test]
fn handshake_with_captured_libzmq_dealer() {
    let mut c = conn(SocketType::Router);
    let mut input = greeting(b"NULL", 1);
    input[8] = 4; // libzmq with a 3-byte routing id
    input.extend_from_slice(
        b"\x04\x2c\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\x03ABC",
    );
    feed(&mut c, &input);
    let evs = events(&mut c);
    let [Event::HandshakeSucceeded(info)] = &evs[..] else {
        panic!("{evs:?}")
    };
    assert_eq!(info.version, Version::V3_1);
    assert_eq!(info.socket_type, Some(SocketType::Dealer));
    assert_eq!(info.identity.as_deref(), Some(&b"ABC"[..]));
    assert_eq!(c.peer_version(), Some(Version::V3_1));
}

#[test]
fn empty_identity_is_reported_as_none() {
    let mut c = conn(SocketType::Router);
    let mut input = greeting(b"NULL", 1);
    input.extend(ready(SocketType::Router, b""));
    feed(&mut c, &input);
    let evs = events(&mut c);
    let [Event::HandshakeSucceeded(info)] = &evs[..] else {
        panic!("{evs:?}")
    };
    assert_eq!(info.identity, None);
    assert_eq!(info.metadata.identity().map(|v| v.len()), Some(0));
}

#[test]
fn ready_without_socket_type_is_accepted_like_libzmq() {
    let mut c = conn(SocketType::Pull);
    let mut input = greeting(b"NULL", 1);
    input.extend_from_slice(b"\x04\x06\x05READY");
    feed(&mut c, &input);
    assert!(c.is_active());
}

#[test]
fn every_compatible_pair_handshakes_in_memory() {
    for a in SocketType::ALL {
        for b in SocketType::ALL {
            let mut pair = Pair::null(Config::new(a), Config::new(b));
            pair.shuttle();
            assert_eq!(pair.client.is_active(), a.is_compatible(b), "{a} with {b}");
            assert_eq!(pair.server.is_active(), a.is_compatible(b), "{b} with {a}");
        }
    }
}

#[test]
fn incompatible_peer_gets_error_and_close() {
    let mut c = conn(SocketType::Push);
    take_output(&mut c);
    let mut input = greeting(b"NULL", 1);
    input.extend(ready(SocketType::Push, b""));
    feed(&mut c, &input);
    assert_eq!(
        closed_reason(&mut c),
        CloseReason::IncompatibleSocketType {
            ours: SocketType::Push,
            theirs: SocketType::Push
        }
    );
    let out = take_output(&mut c);
    assert!(
        out.ends_with(b"\x04\x1a\x05ERROR\x13Invalid socket type"),
        "{out:?}"
    );
    assert!(c.send(&Message::from("x")).is_err());
}

#[test]
fn lowercase_socket_type_value_is_refused() {
    let mut c = conn(SocketType::Router);
    let mut input = greeting(b"NULL", 1);
    input.extend_from_slice(b"\x04\x1c\x05READY\x0bSocket-Type\x00\x00\x00\x06dealer");
    feed(&mut c, &input);
    assert!(matches!(
        closed_reason(&mut c),
        CloseReason::UnknownSocketType(_)
    ));
}

#[test]
fn mechanism_mismatch_closes_before_any_handshake() {
    let mut c = conn(SocketType::Dealer);
    take_output(&mut c);
    feed(&mut c, &greeting(b"PLAIN", 1));
    assert_eq!(
        closed_reason(&mut c),
        CloseReason::MechanismMismatch {
            ours: MechanismName::NULL,
            theirs: MechanismName::PLAIN
        }
    );
    assert!(take_output(&mut c).is_empty(), "no READY after a mismatch");
}

#[test]
fn garbage_and_legacy_greetings_close() {
    let mut c = conn(SocketType::Dealer);
    feed(&mut c, b"GET / HTTP/1.1\r\n\r\n");
    assert!(matches!(closed_reason(&mut c), CloseReason::Greeting(_)));

    let mut c = conn(SocketType::Dealer);
    let mut legacy = greeting(b"NULL", 0);
    legacy[10] = 1;
    feed(&mut c, &legacy[..11]);
    assert!(matches!(closed_reason(&mut c), CloseReason::Greeting(_)));
}

#[test]
fn data_before_handshake_closes() {
    let mut c = conn(SocketType::Pull);
    let mut input = greeting(b"NULL", 1);
    input.extend_from_slice(b"\x00\x02hi");
    feed(&mut c, &input);
    assert_eq!(closed_reason(&mut c), CloseReason::DataBeforeHandshake);
}

#[test]
fn peer_error_during_handshake_closes() {
    let mut c = conn(SocketType::Pull);
    let mut input = greeting(b"NULL", 1);
    input.extend_from_slice(b"\x04\x0a\x05ERROR\x03400");
    feed(&mut c, &input);
    let reason = closed_reason(&mut c);
    assert!(reason.to_string().contains("400"), "{reason}");
    assert!(reason.is_protocol_error());
}

#[test]
fn huge_frame_is_refused_without_buffering() {
    let mut c = active(Config::new(SocketType::Pull), SocketType::Push, 1);
    let mut buf = BytesMut::from(&[0x02, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3][..]);
    c.handle_input(&mut buf, Instant::now());
    assert!(matches!(closed_reason(&mut c), CloseReason::FrameTooLarge(e) if e.size == 1 << 63));
    assert!(buf.capacity() < 4096);
}

#[test]
fn configured_limits_apply_per_frame_and_per_message() {
    let mut config = Config::new(SocketType::Pull);
    config.max_frame_size = Some(10);
    let mut c = active(config, SocketType::Push, 1);
    feed(&mut c, b"\x00\x0a0123456789");
    assert_eq!(messages(events(&mut c)).len(), 1);
    feed(&mut c, b"\x00\x0b");
    assert!(matches!(
        closed_reason(&mut c),
        CloseReason::FrameTooLarge(_)
    ));

    // A message costs its bytes plus FRAME_COST for each frame after the
    // first: 3, then 3 + 2 + 48, then 53 + 1 + 48.
    let mut config = Config::new(SocketType::Pull);
    config.max_message_size = Some(100);
    let mut c = active(config, SocketType::Push, 1);
    feed(&mut c, b"\x01\x03abc\x01\x02de");
    assert!(messages(events(&mut c)).is_empty());
    feed(&mut c, b"\x00\x01f");
    assert_eq!(
        closed_reason(&mut c),
        CloseReason::MessageTooLarge {
            size: 102,
            max: 100
        }
    );
    // A single frame may be exactly the maximum.
    let mut config = Config::new(SocketType::Pull);
    config.max_message_size = Some(5);
    let mut c = active(config, SocketType::Push, 1);
    feed(&mut c, b"\x00\x05abcde");
    assert_eq!(messages(events(&mut c)), [vec![b"abcde".to_vec()]]);
}

#[test]
fn empty_frames_cost_their_handles_against_the_message_size() {
    // 64 empty frames hold no bytes but 63 handles beyond the first.
    let mut config = Config::new(SocketType::Pull);
    config.max_message_size = Some(1024);
    let mut c = active(config, SocketType::Push, 1);
    let mut wire = b"\x01\x00".repeat(63);
    wire.extend_from_slice(b"\x00\x00");
    feed(&mut c, &wire);
    let size = 22 * FRAME_COST as u64;
    assert_eq!(
        closed_reason(&mut c),
        CloseReason::MessageTooLarge { size, max: 1024 }
    );
}

#[test]
fn decoding_pauses_at_the_event_cap_and_resumes_from_the_buffer() {
    let mut c = active(Config::new(SocketType::Pull), SocketType::Push, 1);
    // Five empty messages with a PING between the second and the third,
    // and the start of a sixth message.
    let mut wire = BytesMut::from(&b"\x00\x00\x00\x00"[..]);
    Command::Ping {
        ttl: 0,
        context: Bytes::new(),
    }
    .encode(&mut wire)
    .unwrap();
    wire.extend_from_slice(b"\x00\x00\x00\x00\x00\x00\x00\x03ab");
    let now = Instant::now();
    assert_eq!(c.handle_input_until(&mut wire, now, 2), Input::Paused);
    assert_eq!(messages(events(&mut c)).len(), 2);
    // The PING is answered on the way to the next two messages.
    assert_eq!(c.handle_input_until(&mut wire, now, 2), Input::Paused);
    assert_eq!(messages(events(&mut c)).len(), 2);
    assert!(!take_output(&mut c).is_empty());
    assert_eq!(c.handle_input_until(&mut wire, now, 2), Input::Drained);
    assert_eq!(messages(events(&mut c)).len(), 1);
    assert_eq!(&wire[..], b"\x00\x03ab");
    // Nothing is decoded while the events are not taken.
    wire.extend_from_slice(b"c\x00\x00");
    assert_eq!(c.handle_input_until(&mut wire, now, 1), Input::Paused);
    assert_eq!(c.handle_input_until(&mut wire, now, 1), Input::Paused);
    assert_eq!(&wire[..], b"\x00\x00");
    assert_eq!(messages(events(&mut c)), [vec![b"abc".to_vec()]]);
}

#[test]
fn a_message_that_never_ends_is_cut_at_the_frame_cap() {
    let mut config = Config::new(SocketType::Pull);
    config.max_frames_per_message = Some(4);
    let mut c = active(config.clone(), SocketType::Push, 1);
    // Four frames make a message...
    feed(&mut c, b"\x01\x01a\x01\x01b\x01\x01c\x00\x01d");
    assert_eq!(
        messages(events(&mut c)),
        [vec![
            b"a".to_vec(),
            b"b".to_vec(),
            b"c".to_vec(),
            b"d".to_vec()
        ]]
    );
    // ...a fifth closes the link instead of growing the message.
    let mut c = active(config, SocketType::Push, 1);
    feed(&mut c, b"\x01\x01a\x01\x01b\x01\x01c\x01\x01d\x01\x01e");
    assert_eq!(closed_reason(&mut c), CloseReason::TooManyFrames { max: 4 });

    // The default holds a never-ending message of empty frames to 65,536.
    let config = Config::new(SocketType::Pull);
    assert_eq!(
        config.max_frames_per_message,
        Some(zmtp::config::DEFAULT_MAX_FRAMES)
    );
    let mut c = active(config, SocketType::Push, 1);
    let endless: Vec<u8> = std::iter::repeat_n([1u8, 0], 70_000).flatten().collect();
    feed(&mut c, &endless);
    assert_eq!(
        closed_reason(&mut c),
        CloseReason::TooManyFrames {
            max: zmtp::config::DEFAULT_MAX_FRAMES
        }
    );
}

#[test]
fn read_hint_tracks_a_partial_large_frame() {
    let mut c = active(Config::new(SocketType::Pull), SocketType::Push, 1);
    let mut buf = BytesMut::from(&[0x02, 0, 0, 0, 0, 0, 1, 0, 0, 7, 7][..]);
    c.handle_input(&mut buf, Instant::now());
    assert_eq!(c.read_hint(), 65536 - 2);
    assert_eq!(buf.len(), 11, "partial frame stays in the buffer");
}

#[test]
fn large_received_frames_are_not_copied() {
    let mut c = active(Config::new(SocketType::Pull), SocketType::Push, 1);
    let mut buf = BytesMut::new();
    zmtp::Frame::data(vec![5u8; 50_000], false).encode(&mut buf);
    let body_start = buf.as_ptr() as usize + 9;
    c.handle_input(&mut buf, Instant::now());
    let Some(Event::Message(m)) = c.poll_event() else {
        panic!("no message")
    };
    assert_eq!(m.frames()[0].as_ptr() as usize, body_start);
}

#[test]
fn multipart_with_empty_frames_and_size_boundaries() {
    let (mut push, mut pull) = pair(SocketType::Push, SocketType::Pull);
    let parts: Vec<Bytes> = [0usize, 255, 256, 0, 70_000]
        .iter()
        .map(|&n| Bytes::from(vec![n as u8; n]))
        .collect();
    let message: Message = parts.iter().cloned().collect();
    push.send(&message).unwrap();
    let wire = take_output(&mut push);
    assert_eq!(&wire[..2], &[0x01, 0x00]);
    assert_eq!(&wire[2..4], &[0x01, 0xff]);
    assert_eq!(&wire[259..268], &[0x03, 0, 0, 0, 0, 0, 0, 1, 0]);
    feed(&mut pull, &wire);
    let got = messages(events(&mut pull));
    assert_eq!(
        got,
        vec![parts.iter().map(|p| p.to_vec()).collect::<Vec<_>>()]
    );
}

#[test]
fn router_reply_bytes_match_capture() {
    // ROUTER sending [b'BOB', b'', b'rep'] puts these bytes on BOB's link.
    let mut c = active(Config::new(SocketType::Router), SocketType::Req, 1);
    c.send(&["", "rep"].into_iter().collect()).unwrap();
    assert_eq!(take_output(&mut c), b"\x01\x00\x00\x03rep");
}

/// `command_bytes` counts the bodies of the commands received after the
/// handshake (the PING here, 27 bytes) and nothing of the data frames.
#[test]
fn command_bytes_count_command_bodies_only() {
    let mut c = active(Config::new(SocketType::Pull), SocketType::Push, 1);
    assert_eq!(c.command_bytes(), 0);
    let mut input = b"\x01\x01a".to_vec();
    input.extend_from_slice(b"\x05\x1b\x04PING\x00\x00");
    input.extend_from_slice(&[b'c'; 20]);
    input.extend_from_slice(b"\x00\x01b");
    feed(&mut c, &input);
    assert_eq!(c.command_bytes(), 27);
}

#[test]
fn ping_is_answered_with_truncated_context_even_mid_message() {
    let mut c = active(Config::new(SocketType::Pull), SocketType::Push, 1);
    let mut input = b"\x01\x01a".to_vec();
    input.extend_from_slice(b"\x05\x1b\x04PING\x00\x00");
    input.extend_from_slice(&[b'c'; 20]);
    input.extend_from_slice(b"\x00\x01b");
    feed(&mut c, &input);
    assert_eq!(
        messages(events(&mut c)),
        vec![vec![b"a".to_vec(), b"b".to_vec()]]
    );
    let mut pong = b"\x04\x15\x04PONG".to_vec();
    pong.extend_from_slice(&[b'c'; 16]);
    assert_eq!(take_output(&mut c), pong);
}

#[test]
fn pings_from_a_peer_that_never_reads_grow_the_output_only_so_far() {
    let mut c = active(Config::new(SocketType::Pull), SocketType::Push, 1);
    take_output(&mut c);
    // 160 MB of PINGs would once have queued 22 bytes of PONG each; nothing
    // is taken off the output in between, as from a peer that never reads.
    let ping = b"\x04\x17\x04PING\x00\x00cccccccccccccccc";
    let burst: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 10_000)
        .collect();
    for _ in 0..20 {
        feed(&mut c, &burst);
    }
    let queued = take_output(&mut c).len();
    assert!(
        queued <= zmtp::PONG_BACKLOG + 64,
        "{queued} bytes of PONG queued"
    );
    assert!(queued > 1000, "PINGs are answered while there is room");
    // Once the output drains, PINGs are answered again.
    feed(&mut c, ping);
    assert_eq!(take_output(&mut c).len(), 23);
}

#[test]
fn unknown_commands_after_handshake_are_ignored() {
    let mut c = active(Config::new(SocketType::Pull), SocketType::Push, 1);
    feed(&mut c, b"\x04\x08\x04JOINgrp\x00\x01x");
    assert_eq!(messages(events(&mut c)), vec![vec![b"x".to_vec()]]);
    assert!(c.is_active());
}

#[test]
fn error_after_handshake_closes() {
    let mut c = active(Config::new(SocketType::Pull), SocketType::Push, 1);
    feed(&mut c, b"\x04\x0a\x05ERROR\x03bye");
    assert_eq!(closed_reason(&mut c), CloseReason::PeerError("bye".into()));
}

fn heartbeat_config(ivl: u64, ttl: u64, timeout: Option<u64>) -> Config {
    let mut config = Config::new(SocketType::Dealer);
    config.heartbeat = HeartbeatConfig {
        interval: Some(Duration::from_millis(ivl)),
        ttl: Duration::from_millis(ttl),
        timeout: timeout.map(Duration::from_millis),
    };
    config
}

#[test]
fn heartbeat_sends_ping_with_ttl_and_times_out_on_silence() {
    let start = Instant::now();
    let mut c = active(
        heartbeat_config(100, 2500, Some(1000)),
        SocketType::Dealer,
        1,
    );
    let first = c.poll_timeout().expect("heartbeat armed");
    assert!(first > start && first <= Instant::now() + Duration::from_millis(100));
    c.handle_timeout(first);
    assert_eq!(take_output(&mut c), b"\x04\x07\x04PING\x00\x19");
    // Any frame cancels the timeout, not only PONG.
    feed(&mut c, b"\x00\x01x");
    c.handle_timeout(first + Duration::from_millis(1000));
    assert!(c.is_active());
    take_output(&mut c);
    // Silence after that PING: closed one timeout later.
    c.handle_timeout(first + Duration::from_millis(2000));
    assert_eq!(closed_reason(&mut c), CloseReason::HeartbeatTimeout);
    assert!(!CloseReason::HeartbeatTimeout.is_protocol_error());
}

#[test]
fn peer_ttl_closes_a_silent_link() {
    let mut c = active(Config::new(SocketType::Dealer), SocketType::Dealer, 1);
    let now = Instant::now();
    let mut buf = BytesMut::from(&b"\x04\x07\x04PING\x00\x05"[..]);
    c.handle_input(&mut buf, now);
    let deadline = c.poll_timeout().expect("ttl armed");
    assert_eq!(deadline, now + Duration::from_millis(500));
    c.handle_timeout(deadline - Duration::from_millis(1));
    assert!(c.is_active());
    c.handle_timeout(deadline);
    assert_eq!(closed_reason(&mut c), CloseReason::HeartbeatTtlExpired);
}

#[test]
fn heartbeats_zmtp_3_0_peers_too() {
    // libzmq heartbeats (and times out) any peer, whatever its greeting's
    // minor version; its test_heartbeats greets as 3.0.
    let mut c = active(heartbeat_config(100, 0, Some(1000)), SocketType::Dealer, 0);
    let first = c.poll_timeout().expect("heartbeat armed for a 3.0 peer");
    c.handle_timeout(first);
    assert_eq!(take_output(&mut c), b"\x04\x07\x04PING\x00\x00");
    c.handle_timeout(first + Duration::from_millis(1000));
    assert_eq!(closed_reason(&mut c), CloseReason::HeartbeatTimeout);
}

#[test]
fn handshake_timeout() {
    let mut config = Config::new(SocketType::Dealer);
    config.handshake_timeout = Some(Duration::from_millis(50));
    let mut c = null(config);
    let deadline = c.poll_timeout().expect("handshake deadline");
    c.handle_timeout(deadline - Duration::from_millis(1));
    assert_eq!(c.state(), State::Greeting);
    c.handle_timeout(deadline);
    assert_eq!(closed_reason(&mut c), CloseReason::HandshakeTimeout);
    assert!(!CloseReason::HandshakeTimeout.is_protocol_error());
}

#[test]
fn publisher_sees_both_subscription_forms() {
    for publisher in [SocketType::Pub, SocketType::Xpub] {
        for minor in [0, 1] {
            let mut c = active(Config::new(publisher), SocketType::Xsub, minor);
            feed(
                &mut c,
                b"\x04\x0c\x09SUBSCRIBEab\x00\x03\x01cd\x04\x09\x06CANCELab\x00\x03\x00cd\x00\x02zz",
            );
            let evs = events(&mut c);
            let kinds: Vec<String> = evs
                .iter()
                .map(|e| match e {
                    Event::Subscribe(t) => format!("+{}", String::from_utf8_lossy(t)),
                    Event::Cancel(t) => format!("-{}", String::from_utf8_lossy(t)),
                    Event::Message(m) => format!("m{}", String::from_utf8_lossy(&m.frames()[0])),
                    other => format!("{other:?}"),
                })
                .collect();
            assert_eq!(
                kinds,
                ["+ab", "+cd", "-ab", "-cd", "mzz"],
                "{publisher} 3.{minor}"
            );
        }
    }
}

#[test]
fn subscriber_sends_the_form_the_peer_understands() {
    let mut c = active(Config::new(SocketType::Sub), SocketType::Pub, 1);
    c.send_subscribe(b"ab").unwrap();
    c.send_cancel(b"ab").unwrap();
    assert_eq!(
        take_output(&mut c),
        b"\x04\x0c\x09SUBSCRIBEab\x04\x09\x06CANCELab"
    );
    let mut c = active(Config::new(SocketType::Sub), SocketType::Pub, 0);
    c.send_subscribe(b"ab").unwrap();
    c.send_cancel(b"ab").unwrap();
    assert_eq!(take_output(&mut c), b"\x00\x03\x01ab\x00\x03\x00ab");
}

#[test]
fn subscriptions_are_not_reported_to_non_publishers() {
    let mut c = active(Config::new(SocketType::Sub), SocketType::Pub, 1);
    feed(&mut c, b"\x04\x0c\x09SUBSCRIBEab\x00\x03\x01cd");
    assert_eq!(messages(events(&mut c)), vec![vec![b"\x01cd".to_vec()]]);
}

#[test]
fn send_before_handshake_is_refused() {
    let mut c = conn(SocketType::Push);
    assert_eq!(c.send(&Message::from("x")), Err(zmtp::SendError::NotReady));
    let mut c = active(Config::new(SocketType::Push), SocketType::Pull, 1);
    assert_eq!(c.send(&Message::new()), Err(zmtp::SendError::EmptyMessage));
}

/// Two connections that completed a handshake through memory.
fn pair(a: SocketType, b: SocketType) -> (Connection, Connection) {
    let mut pair = Pair::null(Config::new(a), Config::new(b));
    pair.shuttle();
    pair.handshakes();
    (pair.client, pair.server)
}

/// A readable summary of an event, for comparing event streams.
fn describe(e: &Event) -> String {
    match e {
        Event::AuthenticationRequested(r) => format!("auth {r:?}"),
        Event::HandshakeSucceeded(info) => format!("up {:?} {:?}", info.socket_type, info.identity),
        Event::Message(m) => format!("msg {:?}", m.frames()),
        Event::Subscribe(t) => format!("sub {t:?}"),
        Event::Cancel(t) => format!("cancel {t:?}"),
        Event::Closed(r) => format!("closed {r}"),
    }
}

/// The bytes a peer would send: greeting, READY, then `messages` and a PING.
fn peer_stream(messages: &[Vec<Vec<u8>>]) -> Vec<u8> {
    let mut wire = greeting(b"NULL", 1);
    wire.extend(ready(SocketType::Dealer, b"peer"));
    let mut out = BytesMut::new();
    for m in messages {
        for (i, f) in m.iter().enumerate() {
            zmtp::Frame::data(f.clone(), i + 1 < m.len()).encode(&mut out);
        }
        Command::Ping {
            ttl: 0,
            context: Bytes::from_static(b"ctx"),
        }
        .encode(&mut out)
        .unwrap();
    }
    wire.extend_from_slice(&out);
    wire
}

fn run_split(stream: &[u8], cuts: &[usize]) -> (Vec<String>, Vec<u8>) {
    run_capped(stream, cuts, &[])
}

/// The events and output of `stream` fed in pieces cut at `cuts`, each
/// piece decoded at most `caps[i] % 4 + 1` events at a time (taking them
/// between calls) until the buffer is drained, as a driver whose consumer
/// has little room does; no caps decodes everything at once.
fn run_capped(stream: &[u8], cuts: &[usize], caps: &[usize]) -> (Vec<String>, Vec<u8>) {
    let mut c = conn(SocketType::Router);
    take_output(&mut c);
    let mut buf = BytesMut::new();
    let mut at = 0;
    let mut points: Vec<usize> = cuts.iter().map(|&c| c % (stream.len() + 1)).collect();
    points.sort_unstable();
    points.push(stream.len());
    let now = Instant::now();
    let mut caps = caps.iter().cycle().map(|&c| c % 4 + 1);
    let mut evs = Vec::new();
    for p in points {
        buf.extend_from_slice(&stream[at..p.max(at)]);
        at = p.max(at);
        loop {
            let cap = caps.next().unwrap_or(usize::MAX);
            let input = c.handle_input_until(&mut buf, now, cap);
            let taken = events(&mut c);
            assert!(
                taken.len() <= cap,
                "{} events past a cap of {cap}",
                taken.len()
            );
            evs.extend(taken.iter().map(describe));
            if input == Input::Drained {
                break;
            }
        }
    }
    (evs, take_output(&mut c))
}

/// Fewer than `count` messages of 1 to `frames - 1` frames of fewer than
/// `size` bytes each.
fn some_messages(
    count: usize,
    frames: usize,
    size: usize,
) -> impl Strategy<Value = Vec<Vec<Vec<u8>>>> {
    let frame = proptest::collection::vec(any::<u8>(), 0..size);
    proptest::collection::vec(proptest::collection::vec(frame, 1..frames), 0..count)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn capped_decoding_gives_the_same_events_and_output(
        msgs in some_messages(8, 4, 40),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
        caps in proptest::collection::vec(any::<usize>(), 1..6),
    ) {
        let stream = peer_stream(&msgs);
        prop_assert_eq!(run_split(&stream, &[]), run_capped(&stream, &cuts, &caps));
    }

    #[test]
    fn split_stream_gives_same_events(
        msgs in some_messages(6, 4, 300),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let stream = peer_stream(&msgs);
        let whole = run_split(&stream, &[]);
        let split = run_split(&stream, &cuts);
        prop_assert_eq!(&whole, &split);
        prop_assert_eq!(whole.0.len(), msgs.len() + 1);
        prop_assert!(whole.0[0].starts_with("up Some(Dealer)"));
    }

    #[test]
    fn byte_by_byte_equals_whole(
        msgs in some_messages(3, 3, 40),
    ) {
        let stream = peer_stream(&msgs);
        let every: Vec<usize> = (0..stream.len()).collect();
        prop_assert_eq!(run_split(&stream, &[]), run_split(&stream, &every));
    }

    #[test]
    fn messages_survive_the_round_trip(
        msgs in proptest::collection::vec(
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..2000), 1..4),
            1..8,
        ),
    ) {
        let (mut push, mut pull) = pair(SocketType::Push, SocketType::Pull);
        for m in &msgs {
            push.send(&m.iter().cloned().collect()).unwrap();
        }
        let wire = take_output(&mut push);
        feed(&mut pull, &wire);
        prop_assert_eq!(messages(events(&mut pull)), msgs);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        kind in 0usize..11,
        handshake in any::<bool>(),
        garbage in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let local = SocketType::ALL[kind];
        let mut c = conn(local);
        let mut input = Vec::new();
        if handshake {
            input = greeting(b"NULL", 1);
            let peer = SocketType::ALL.into_iter().find(|p| local.is_compatible(*p)).unwrap();
            input.extend(ready(peer, b""));
        }
        input.extend_from_slice(&garbage);
        feed(&mut c, &input);
        c.handle_timeout(Instant::now() + Duration::from_secs(60));
        events(&mut c);
        let _ = c.send(&Message::from("x"));
        take_output(&mut c);
    }
}

#[test]
fn handshake_frames_are_bounded_before_authentication() {
    let mut c = conn(SocketType::Pull);
    let mut input = greeting(b"NULL", 1);
    input.extend_from_slice(&[0x06, 0, 0, 0, 0, 0, 1, 0, 1]); // a 65537-byte command
    feed(&mut c, &input);
    assert!(matches!(
        closed_reason(&mut c),
        CloseReason::FrameTooLarge(e) if e.max == zmtp::HANDSHAKE_FRAME_MAX
    ));
}

#[test]
fn delivered_messages_never_overtake_other_events() {
    // The peer's greeting, READY and two messages arrive in one read: the
    // handshake's event comes first, so both messages queue behind it.
    let mut c = null(Config::new(SocketType::Pull));
    let mut wire = BytesMut::from(&greeting(b"NULL", 1)[..]);
    wire.extend_from_slice(&ready(SocketType::Push, b""));
    wire.extend_from_slice(b"\x00\x01a\x00\x01b");
    let mut delivered = Vec::new();
    let input = c.handle_input_with(&mut wire, Instant::now(), 16, |m| delivered.push(m));
    assert_eq!(input, Input::Drained);
    assert!(delivered.is_empty());
    let evs = events(&mut c);
    assert!(matches!(evs[0], Event::HandshakeSucceeded(_)), "{evs:?}");
    assert_eq!(messages(evs), [vec![b"a".to_vec()], vec![b"b".to_vec()]]);
    // With nothing waiting, messages go straight to `deliver`, the
    // multipart one once whole, and the cap counts them.
    wire.extend_from_slice(b"\x00\x01c\x01\x01d\x00\x01e\x00\x01f");
    let input = c.handle_input_with(&mut wire, Instant::now(), 2, |m| delivered.push(m));
    assert_eq!(input, Input::Paused);
    let frames: Vec<Vec<Vec<u8>>> = delivered
        .iter()
        .map(|m| m.frames().iter().map(|f| f.to_vec()).collect())
        .collect();
    assert_eq!(
        frames,
        [vec![b"c".to_vec()], vec![b"d".to_vec(), b"e".to_vec()]]
    );
    assert!(c.poll_event().is_none());
    assert_eq!(&wire[..], b"\x00\x01f");
}

#[test]
fn a_message_past_the_limit_closes_after_the_ones_before_it() {
    let mut config = Config::new(SocketType::Pull);
    config.max_message_size = Some(1);
    let mut c = active(config, SocketType::Push, 1);
    let mut wire = BytesMut::from(&b"\x00\x01a\x00\x02bc\x00\x01d"[..]);
    let mut delivered = Vec::new();
    c.handle_input_with(&mut wire, Instant::now(), 16, |m| delivered.push(m));
    assert_eq!(delivered.len(), 1);
    assert!(matches!(
        c.poll_event(),
        Some(Event::Closed(CloseReason::MessageTooLarge {
            size: 2,
            max: 1
        }))
    ));
    assert!(c.poll_event().is_none());
}
