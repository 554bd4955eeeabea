//! `inproc://` links as libzmq's: a link holds the sender's `sndhwm` plus
//! the receiver's `rcvhwm` (either 0: unlimited), a message is in the
//! receiving socket's queue when the send returns, and a subscriber that
//! leaves has its subscriptions cancelled at an XPUB.
//!
//! The tests run on one thread: the link's own task never runs between two
//! calls that do not await, so what a `try_recv` finds right after a
//! `try_send` was delivered by the send itself.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tokio::time::timeout;
use zmtp_transport::{Error, InprocDomain, Options, Socket, SocketType};

mod common;

use common::{WAIT, msg, text};

fn socket(socket_type: SocketType, domain: &InprocDomain, sndhwm: usize, rcvhwm: usize) -> Socket {
    let mut options = Options::new(socket_type);
    options.linger = Some(Duration::ZERO);
    options.inproc_domain = domain.clone();
    options.sndhwm = sndhwm;
    options.rcvhwm = rcvhwm;
    Socket::with_options(socket_type, options)
}

/// Sends numbered messages without waiting until one is refused; how many
/// went.
fn send_until_full(push: &Socket, limit: usize) -> usize {
    let mut sent = 0;
    while sent < limit {
        match push.try_send(msg(&[&sent.to_string()])) {
            Ok(()) => sent += 1,
            Err(e) if matches!(e.error, Error::WouldBlock) => break,
            Err(e) => panic!("send failed: {:?}", e.error),
        }
    }
    sent
}

/// A PUSH (`sndhwm`) joined to a PULL (`rcvhwm`) over inproc, bound first
/// or connected first.
async fn pipeline(sndhwm: usize, rcvhwm: usize, bind_first: bool) -> (Socket, Socket) {
    let domain = InprocDomain::new();
    let push = socket(SocketType::Push, &domain, sndhwm, 1000);
    let pull = socket(SocketType::Pull, &domain, 1000, rcvhwm);
    if bind_first {
        pull.bind("inproc://sum").await.unwrap();
        push.connect("inproc://sum").await.unwrap();
    } else {
        push.connect("inproc://sum").await.unwrap();
        pull.bind("inproc://sum").await.unwrap();
    }
    (push, pull)
}

#[tokio::test]
async fn a_link_holds_the_senders_and_the_receivers_marks() {
    for bind_first in [true, false] {
        let (push, pull) = pipeline(2, 3, bind_first).await;
        assert_eq!(send_until_full(&push, 100), 5, "bind first: {bind_first}");
        for i in 0..5 {
            let m = timeout(WAIT, pull.recv()).await.unwrap().unwrap();
            assert_eq!(text(&m), [i.to_string()]);
        }
        // Read out, the link takes messages again.
        push.try_send(msg(&["more"])).unwrap();
        assert_eq!(text(&pull.try_recv().unwrap()), ["more"]);
    }
}

#[tokio::test]
async fn a_receive_right_after_the_sends_finds_them() {
    for bind_first in [true, false] {
        // The receiver's mark is unlimited: everything is taken at once,
        // whatever the sender's mark.
        let (push, pull) = pipeline(1, 0, bind_first).await;
        assert_eq!(send_until_full(&push, 10_000), 10_000);
        for i in 0..10_000 {
            assert_eq!(text(&pull.try_recv().unwrap()), [i.to_string()]);
        }
        assert!(matches!(pull.try_recv(), Err(Error::WouldBlock)));
    }
}

#[tokio::test]
async fn an_unlimited_senders_mark_makes_the_link_unlimited() {
    let (push, pull) = pipeline(0, 1, true).await;
    assert_eq!(send_until_full(&push, 10_000), 10_000);
    for i in 0..10_000 {
        let m = timeout(WAIT, pull.recv()).await.unwrap().unwrap();
        assert_eq!(text(&m), [i.to_string()]);
    }
}

#[tokio::test]
async fn a_raised_senders_mark_counts_at_once() {
    let (push, _pull) = pipeline(1, 1, false).await;
    let mut options = push.options().clone();
    options.sndhwm = 5;
    push.set_options(options);
    // libzmq's test_sockopt_hwm: 5 + 1.
    assert_eq!(send_until_full(&push, 100), 6);
}

#[tokio::test]
async fn routed_and_paired_messages_arrive_with_the_send() {
    let domain = InprocDomain::new();
    let router = socket(SocketType::Router, &domain, 1000, 1000);
    router.bind("inproc://routed").await.unwrap();
    let mut options = Options::new(SocketType::Dealer);
    options.inproc_domain = domain.clone();
    options.routing_id = bytes::Bytes::from_static(b"d1");
    let dealer = Socket::with_options(SocketType::Dealer, options);
    dealer.connect("inproc://routed").await.unwrap();
    dealer.try_send(msg(&["hello"])).unwrap();
    assert_eq!(text(&router.try_recv().unwrap()), ["d1", "hello"]);
    router.try_send(msg(&["d1", "back"])).unwrap();
    assert_eq!(text(&dealer.try_recv().unwrap()), ["back"]);

    let a = socket(SocketType::Pair, &domain, 1000, 1000);
    a.bind("inproc://paired").await.unwrap();
    let b = socket(SocketType::Pair, &domain, 1000, 1000);
    b.connect("inproc://paired").await.unwrap();
    a.try_send(msg(&["to b"])).unwrap();
    b.try_send(msg(&["to a"])).unwrap();
    assert_eq!(text(&b.try_recv().unwrap()), ["to b"]);
    assert_eq!(text(&a.try_recv().unwrap()), ["to a"]);
}

#[tokio::test]
async fn a_subscribers_disconnect_cancels_its_subscriptions_at_the_xpub() {
    let domain = InprocDomain::new();
    let xpub = socket(SocketType::Xpub, &domain, 1000, 1000);
    xpub.bind("inproc://topics").await.unwrap();
    let sub = socket(SocketType::Sub, &domain, 1000, 1000);
    sub.subscribe("foo").unwrap();
    sub.connect("inproc://topics").await.unwrap();
    // The subscription is there when the connect returns.
    assert_eq!(xpub.try_recv().unwrap().frames()[0][..], b"\x01foo"[..]);
    xpub.try_send(msg(&["foo", "one"])).unwrap();
    assert_eq!(text(&sub.try_recv().unwrap()), ["foo", "one"]);
    sub.disconnect("inproc://topics").unwrap();
    let cancel = timeout(WAIT, xpub.recv())
        .await
        .expect("no cancel at the XPUB")
        .unwrap();
    assert_eq!(cancel.frames()[0][..], b"\x00foo"[..]);
}
