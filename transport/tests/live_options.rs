//! `Socket::set_options` on a live socket: high-water marks apply to the
//! pipes there are at once; the other options to the endpoints bound or
//! connected afterwards, as in libzmq.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use zmtp_transport::{Error, Options, Socket, SocketType};

mod common;

use common::{msg, text};

/// Sends until the socket would block; how many went.
fn fill(s: &Socket) -> usize {
    let mut sent = 0;
    loop {
        match s.try_send(msg(&["x"])) {
            Ok(()) => sent += 1,
            Err(e) if matches!(e.error, Error::WouldBlock) => return sent,
            Err(e) => panic!("{e}"),
        }
        assert!(sent < 10_000, "no high-water mark");
    }
}

/// A PUSH with a pipe to an endpoint nobody serves (so nothing drains).
async fn stuck_push(sndhwm: usize) -> Socket {
    let mut options = Options::new(SocketType::Push);
    options.sndhwm = sndhwm;
    options.linger = Some(Duration::ZERO);
    let push = Socket::with_options(SocketType::Push, options);
    push.connect(&format!("tcp://127.0.0.1:{}", dead_port()))
        .await
        .unwrap();
    push
}

#[tokio::test]
async fn a_raised_sndhwm_applies_to_the_pipe_there_is() {
    let push = stuck_push(2).await;
    assert_eq!(fill(&push), 2);
    let mut options = push.current_options();
    options.sndhwm = 5;
    push.set_options(options);
    assert_eq!(fill(&push), 3);
    assert_eq!(push.current_options().sndhwm, 5);
    // What the socket was made with is still readable.
    assert_eq!(push.options().sndhwm, 2);
}

#[tokio::test]
async fn a_lowered_sndhwm_keeps_what_is_queued() {
    let push = stuck_push(5).await;
    assert_eq!(fill(&push), 5);
    let mut options = push.current_options();
    options.sndhwm = 2;
    push.set_options(options);
    // Nothing is dropped, and nothing more goes until it drains below 2.
    assert_eq!(fill(&push), 0);
}

/// A port with nobody behind it.
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn a_new_sndhwm_sizes_pipes_made_later() {
    let push = stuck_push(1).await;
    let mut options = push.current_options();
    options.sndhwm = 3;
    push.set_options(options);
    push.connect(&format!("tcp://127.0.0.1:{}", dead_port()))
        .await
        .unwrap();
    // Both pipes hold three.
    assert_eq!(fill(&push), 6);
}

#[tokio::test]
async fn the_routing_id_counts_from_the_next_connect() {
    let first = Socket::new(SocketType::Router);
    let second = Socket::new(SocketType::Router);
    let first_at = first.bind("tcp://127.0.0.1:*").await.unwrap();
    let second_at = second.bind("tcp://127.0.0.1:*").await.unwrap();
    let dealer = Socket::new(SocketType::Dealer);
    let mut options = dealer.current_options();
    options.routing_id = "alpha".into();
    dealer.set_options(options);
    dealer.connect(&first_at.to_string()).await.unwrap();
    let mut options = dealer.current_options();
    options.routing_id = "beta".into();
    dealer.set_options(options);
    dealer.connect(&second_at.to_string()).await.unwrap();
    // Round-robin: one message to each.
    dealer.send(msg(&["hi"])).await.unwrap();
    dealer.send(msg(&["hi"])).await.unwrap();
    assert_eq!(text(&common::recv(&first).await), ["alpha", "hi"]);
    assert_eq!(text(&common::recv(&second).await), ["beta", "hi"]);
}

#[tokio::test]
async fn maxmsgsize_counts_from_the_next_bind() {
    let pull = Socket::new(SocketType::Pull);
    let lenient = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let mut options = pull.current_options();
    options.maxmsgsize = Some(10);
    pull.set_options(options);
    let strict = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let big = "x".repeat(100);

    let to_strict = Socket::new(SocketType::Push);
    to_strict.connect(&strict.to_string()).await.unwrap();
    to_strict.send(msg(&[&big])).await.unwrap();
    let to_lenient = Socket::new(SocketType::Push);
    to_lenient.connect(&lenient.to_string()).await.unwrap();
    to_lenient.send(msg(&[&big])).await.unwrap();
    to_lenient.send(msg(&["end"])).await.unwrap();
    // Only the lenient endpoint's messages arrive.
    assert_eq!(text(&common::recv(&pull).await), [big.as_str()]);
    assert_eq!(text(&common::recv(&pull).await), ["end"]);
    assert!(matches!(pull.try_recv(), Err(Error::WouldBlock)));
}

/// LINGER is read when the socket closes, as libzmq does: set to 0 on a
/// live socket whose message waits for a peer that never comes, the close
/// ends its connecter at once instead of redialling forever (libzmq's
/// `test_security_zap` closes its bounced clients this way).
#[tokio::test]
async fn a_linger_changed_on_a_live_socket_holds_at_close() {
    let push = Socket::new(SocketType::Push);
    assert_eq!(push.options().linger, None, "libzmq's default: forever");
    // A port nothing listens on.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    push.connect(&format!("tcp://{addr}")).await.unwrap();
    push.try_send(msg(&["never delivered"])).unwrap();
    let mut options = push.current_options();
    options.linger = Some(Duration::ZERO);
    push.set_options(options);
    tokio::time::timeout(common::WAIT, push.close())
        .await
        .expect("the close waited for a peer despite LINGER 0");
}
