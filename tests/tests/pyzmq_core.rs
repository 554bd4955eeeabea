//! The sans-IO core against real libzmq (pyzmq in a child process), driven
//! by the blocking [`Link`] over TCP: handshakes both ways round, frames of
//! every size class, routing ids, subscriptions and heartbeats.

#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::time::Duration;

use zmtp::{CloseReason, Config, Event, HeartbeatConfig, Message, SocketType, Version};
use zmtp_tests::{Link, Peer, hex_line, standard_message};

const COUNT: usize = 30;

#[test]
fn our_push_to_libzmq_pull() {
    let Some(mut peer) = Peer::spawn("core_peer.py", &["pull-bind", &COUNT.to_string()]) else {
        return;
    };
    let mut link = Link::connect(peer.port(), Config::new(SocketType::Push)).unwrap();
    let info = link.handshake();
    assert_eq!(info.socket_type, Some(SocketType::Pull));
    assert_eq!(info.version, Version::V3_1);
    for i in 0..COUNT {
        link.send(&standard_message(i));
    }
    for i in 0..COUNT {
        assert_eq!(peer.line(), hex_line(&standard_message(i)), "message {i}");
    }
    peer.finish();
}

#[test]
fn libzmq_push_to_our_pull() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let Some(peer) = Peer::spawn("core_peer.py", &["push-connect", &port, &COUNT.to_string()])
    else {
        return;
    };
    let mut link = Link::accept(&listener, Config::new(SocketType::Pull)).unwrap();
    assert_eq!(link.handshake().socket_type, Some(SocketType::Push));
    for i in 0..COUNT {
        assert_eq!(link.recv(), standard_message(i), "message {i}");
    }
    peer.finish();
}

#[test]
fn libzmq_router_sees_our_identity_and_echoes() {
    let Some(mut peer) = Peer::spawn("core_peer.py", &["router-echo-bind", "3"]) else {
        return;
    };
    let mut config = Config::new(SocketType::Dealer);
    config.identity = "worker-7".into();
    let mut link = Link::connect(peer.port(), config).unwrap();
    let info = link.handshake();
    assert_eq!(info.socket_type, Some(SocketType::Router));
    // libzmq's ROUTER sends an (empty) Identity too.
    assert_eq!(info.metadata.identity().map(|v| v.len()), Some(0));
    for i in [0, 3, 4] {
        link.send(&standard_message(i));
        assert_eq!(
            peer.line(),
            format!("id {}", hex_line(&Message::from("worker-7")))
        );
        assert_eq!(link.recv(), standard_message(i));
    }
    peer.finish();
}

#[test]
fn libzmq_sub_subscribes_with_a_command_and_receives() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let Some(mut peer) = Peer::spawn("core_peer.py", &["sub-connect", &port, "news.", "2"]) else {
        return;
    };
    let mut link = Link::accept(&listener, Config::new(SocketType::Pub)).unwrap();
    assert_eq!(link.handshake().socket_type, Some(SocketType::Sub));
    assert_eq!(&link.subscription()[..], b"news.");
    let first: Message = ["news.eu", "rain"].into_iter().collect();
    let second = Message::from("news.us");
    link.send(&first);
    link.send(&second);
    assert_eq!(peer.line(), hex_line(&first));
    assert_eq!(peer.line(), hex_line(&second));
    peer.finish();
}

#[test]
fn we_answer_libzmq_pings() {
    // libzmq PINGs every 50 ms and drops the link 300 ms after a PING if
    // nothing arrives; we send nothing but the PONGs for 1.5 s.
    let Some(mut peer) = Peer::spawn("core_peer.py", &["dealer-heartbeat-bind", "50", "300"])
    else {
        return;
    };
    let mut link = Link::connect(peer.port(), Config::new(SocketType::Dealer)).unwrap();
    link.handshake();
    link.idle(Duration::from_millis(1500));
    link.send(&Message::from("still here"));
    assert_eq!(peer.line(), hex_line(&Message::from("still here")));
    assert_eq!(link.recv(), Message::from("ack"));
    peer.finish();
}

#[test]
fn libzmq_answers_our_pings_and_honours_our_ttl() {
    // libzmq does not PING on its own here (interval 0), so only its PONGs
    // to our PINGs keep our 200 ms timeout from firing over 1.5 s.
    let Some(mut peer) = Peer::spawn("core_peer.py", &["dealer-heartbeat-bind", "0", "0"]) else {
        return;
    };
    let mut config = Config::new(SocketType::Dealer);
    config.heartbeat = HeartbeatConfig {
        interval: Some(Duration::from_millis(50)),
        ttl: Duration::from_millis(1000),
        timeout: Some(Duration::from_millis(200)),
    };
    let mut link = Link::connect(peer.port(), config).unwrap();
    link.handshake();
    link.idle(Duration::from_millis(1500));
    link.send(&Message::from("still here"));
    assert_eq!(peer.line(), hex_line(&Message::from("still here")));
    assert_eq!(link.recv(), Message::from("ack"));
    assert!(link.connection().is_active());
    peer.finish();
}

#[test]
fn a_silent_peer_is_detected_by_our_heartbeat() {
    let Some(mut peer) = Peer::spawn("core_peer.py", &["silent-bind"]) else {
        return;
    };
    let mut config = Config::new(SocketType::Dealer);
    config.heartbeat = HeartbeatConfig {
        interval: Some(Duration::from_millis(50)),
        ttl: Duration::ZERO,
        timeout: Some(Duration::from_millis(200)),
    };
    let mut link = Link::connect(peer.port(), config).unwrap();
    link.handshake();
    match link.next_event(Duration::from_secs(5)) {
        Event::Closed(reason) => assert_eq!(reason, CloseReason::HeartbeatTimeout),
        other => panic!("expected a heartbeat timeout, got {other:?}"),
    }
}
