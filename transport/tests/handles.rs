//! `Sender` and `Receiver`, the socket's ends for one task: the same
//! messages to the same peers as the socket's own calls, with their copy of
//! the pipes kept current, waits at the high-water mark, closing and the
//! hand-back of unread messages.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tokio::time::{sleep, timeout};
use zmtp_transport::{Error, Message, Options, Socket, SocketType};

const WAIT: Duration = Duration::from_secs(10);

fn body(m: &Message) -> Vec<u8> {
    m.frames()[0].to_vec()
}

async fn bound(socket_type: SocketType) -> (Socket, String) {
    let s = Socket::new(socket_type);
    let ep = s.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    (s, ep)
}

#[tokio::test]
async fn a_sender_deals_round_robin_and_follows_peers_that_come_later() {
    let (a, ep_a) = bound(SocketType::Pull).await;
    let push = Socket::new(SocketType::Push);
    push.connect(&ep_a).await.unwrap();
    let mut sender = push.sender();
    // One peer: everything goes to it.
    for i in 0..4u8 {
        timeout(WAIT, sender.send(vec![i])).await.unwrap().unwrap();
    }
    for i in 0..4u8 {
        assert_eq!(body(&timeout(WAIT, a.recv()).await.unwrap().unwrap()), [i]);
    }
    // A second peer joins: the sender's copy of the pipes picks it up and
    // deals messages in turn.
    let (b, ep_b) = bound(SocketType::Pull).await;
    push.connect(&ep_b).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while push.stats().peers < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "second peer never came"
        );
        sleep(Duration::from_millis(5)).await;
    }
    for i in 0..10u8 {
        sender.send(vec![i]).await.unwrap();
    }
    let mut at_a = Vec::new();
    let mut at_b = Vec::new();
    for _ in 0..5 {
        at_a.push(body(&timeout(WAIT, a.recv()).await.unwrap().unwrap())[0]);
        at_b.push(body(&timeout(WAIT, b.recv()).await.unwrap().unwrap())[0]);
    }
    let mut all: Vec<u8> = at_a.iter().chain(&at_b).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..10).collect::<Vec<u8>>());
    assert!(at_a.windows(2).all(|w| w[0] < w[1]), "in order per peer");
    drop(sender);
    assert_eq!(
        push.stats().sent,
        14,
        "sends through the Sender are counted"
    );
}

#[tokio::test]
async fn a_sender_waits_at_the_high_water_mark_and_goes_on_when_there_is_room() {
    let mut options = Options::new(SocketType::Pull);
    options.rcvhwm = 10;
    let pull = Socket::with_options(SocketType::Pull, options);
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    let mut options = Options::new(SocketType::Push);
    options.sndhwm = 10;
    let push = Socket::with_options(SocketType::Push, options);
    push.connect(&ep).await.unwrap();
    let mut sender = push.sender();
    // Fill everything between the two (both queues, the kernel's buffers):
    // try_send refuses at some point and hands the message back.
    let mut sent = 0u32;
    let refused = loop {
        match sender.try_send(sent.to_be_bytes().to_vec()) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent < 1_000_000, "never reached the high-water mark");
        if sent.is_multiple_of(64) {
            sleep(Duration::from_millis(1)).await;
        }
    };
    assert!(matches!(refused.error, Error::WouldBlock));
    assert_eq!(body(&refused.message), sent.to_be_bytes());
    // A send now waits until the reader makes room, then goes through.
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        let mut receiver = pull.receiver();
        for _ in 0..=sent {
            let m = timeout(WAIT, receiver.recv()).await.unwrap().unwrap();
            got.push(u32::from_be_bytes(body(&m).try_into().unwrap()));
        }
        got
    });
    timeout(WAIT, sender.send(sent.to_be_bytes().to_vec()))
        .await
        .unwrap()
        .unwrap();
    let got = reader.await.unwrap();
    assert_eq!(got, (0..=sent).collect::<Vec<u32>>());
}

#[tokio::test]
async fn a_sender_of_a_closed_socket_says_closed() {
    let (_pull, ep) = bound(SocketType::Pull).await;
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    let mut sender = push.sender();
    sender.send(vec![1]).await.unwrap();
    drop(push);
    let e = timeout(WAIT, sender.send(vec![2])).await.unwrap();
    assert!(matches!(e, Err(Error::Closed)), "{e:?}");
}

#[tokio::test]
async fn a_sender_keeps_the_rules_of_other_socket_types() {
    // REQ through a Sender still alternates with receiving.
    let (rep, ep) = bound(SocketType::Rep).await;
    let req = Socket::new(SocketType::Req);
    req.connect(&ep).await.unwrap();
    let mut sender = req.sender();
    sender.send("ping").await.unwrap();
    assert!(matches!(sender.send("again").await, Err(Error::State(_))));
    let request = timeout(WAIT, rep.recv()).await.unwrap().unwrap();
    assert_eq!(body(&request), b"ping");
    rep.send("pong").await.unwrap();
    let mut receiver = req.receiver();
    let reply = timeout(WAIT, receiver.recv()).await.unwrap().unwrap();
    assert_eq!(body(&reply), b"pong");
}

#[tokio::test]
async fn a_dropped_receiver_gives_back_what_it_did_not_hand_out() {
    let (pull, ep) = bound(SocketType::Pull).await;
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    for i in 0..20u8 {
        push.send(vec![i]).await.unwrap();
    }
    // Wait until all 20 are queued at the PULL, so one batch takes them.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut probe = pull.receiver();
        match probe.try_recv() {
            Ok(first) => {
                assert_eq!(body(&first), [0]);
                break;
            }
            Err(Error::WouldBlock) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(tokio::time::Instant::now() < deadline, "nothing arrived");
        sleep(Duration::from_millis(5)).await;
    }
    // The probe took a batch, handed out message 0 and gave the rest back.
    let mut receiver = pull.receiver();
    for i in 1..5u8 {
        assert_eq!(
            body(&timeout(WAIT, receiver.recv()).await.unwrap().unwrap()),
            [i]
        );
    }
    drop(receiver);
    // The socket's own recv goes on where the receiver stopped.
    for i in 5..20u8 {
        assert_eq!(
            body(&timeout(WAIT, pull.recv()).await.unwrap().unwrap()),
            [i]
        );
    }
    assert_eq!(pull.stats().received, 20);
    assert!(matches!(pull.try_recv(), Err(Error::WouldBlock)));
}

#[tokio::test]
async fn a_receiver_returns_what_was_queued_then_closed() {
    let (pull, ep) = bound(SocketType::Pull).await;
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    let mut receiver = pull.receiver();
    assert!(matches!(receiver.try_recv(), Err(Error::WouldBlock)));
    push.send("last").await.unwrap();
    let m = timeout(WAIT, receiver.recv()).await.unwrap().unwrap();
    assert_eq!(body(&m), b"last");
    pull.close().await;
    let e = timeout(WAIT, receiver.recv()).await.unwrap();
    assert!(matches!(e, Err(Error::Closed)), "{e:?}");
}

#[tokio::test]
async fn a_receiver_takes_at_most_a_batch_and_leaves_the_rest_queued() {
    let pull = Socket::new(SocketType::Pull);
    pull.bind("inproc://batch-bound").await.unwrap();
    let push = Socket::new(SocketType::Push);
    push.connect("inproc://batch-bound").await.unwrap();
    for i in 0..300u16 {
        push.send(i.to_be_bytes().to_vec()).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while pull.inproc_in_flight() {
        assert!(tokio::time::Instant::now() < deadline, "never delivered");
        sleep(Duration::from_millis(5)).await;
    }
    // All 300 are queued: the receiver's batch is 256 of them, so the
    // socket's own receive finds message 256 next.
    let mut receiver = pull.receiver();
    assert_eq!(body(&receiver.try_recv().unwrap()), 0u16.to_be_bytes());
    assert_eq!(body(&pull.try_recv().unwrap()), 256u16.to_be_bytes());
    assert_eq!(body(&receiver.try_recv().unwrap()), 1u16.to_be_bytes());
}

#[tokio::test]
async fn a_receiver_with_metadata_keeps_the_peer_of_messages_whose_link_ended() {
    let (pull, ep) = bound(SocketType::Pull).await;
    let a = Socket::new(SocketType::Push);
    let b = Socket::new(SocketType::Push);
    a.connect(&ep).await.unwrap();
    b.connect(&ep).await.unwrap();
    b.send("b").await.unwrap();
    let mut receiver = pull.receiver().with_metadata();
    let first = timeout(WAIT, receiver.recv()).await.unwrap().unwrap();
    assert_eq!(body(&first), b"b");
    let peer_b = receiver.last_peer_ref().cloned().expect("a TCP peer");
    // A sends two messages and leaves; the receiver takes both in one
    // batch and hands out the first.
    a.send("a1").await.unwrap();
    a.send("a2").await.unwrap();
    drop(a);
    let deadline = tokio::time::Instant::now() + WAIT;
    while pull.stats().peers > 1 {
        assert!(tokio::time::Instant::now() < deadline, "A never left");
        sleep(Duration::from_millis(5)).await;
    }
    let a1 = timeout(WAIT, receiver.recv()).await.unwrap().unwrap();
    assert_eq!(body(&a1), b"a1");
    let peer_a = receiver.last_peer().expect("A's metadata");
    assert_ne!(peer_a, peer_b);
    // B leaves too, which forgets A's ended link in the socket's
    // directory: the held message still has its sender.
    drop(b);
    while pull.stats().peers > 0 {
        assert!(tokio::time::Instant::now() < deadline, "B never left");
        sleep(Duration::from_millis(5)).await;
    }
    let a2 = timeout(WAIT, receiver.recv()).await.unwrap().unwrap();
    assert_eq!(body(&a2), b"a2");
    assert_eq!(receiver.last_peer_ref(), Some(&peer_a));
}
