//! Subscriptions under load: a raw peer that subscribes to 60,000 topics
//! (closed at the per-peer cap, or served when the cap allows it, while a
//! well-behaved SUB keeps getting its messages), and XPUB notices that must
//! all reach a slow application, directly and through an XSUB/XPUB proxy.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, sleep, timeout};
use zmtp_transport::{LinkEnd, Message, MonitorEvent, Options, Refusal, Socket, SocketType};

mod common;

use common::{WAIT, recv};

/// Distinct topics the raw peer subscribes to.
const FLOOD: usize = 60_000;

/// The bytes of a ZMTP 3.1 NULL greeting (as client), a READY saying SUB,
/// and then a SUBSCRIBE command for each of `topics`.
fn raw_subscriber(topics: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut out = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
    let mut mechanism = [0u8; 20];
    mechanism[..4].copy_from_slice(b"NULL");
    out.extend_from_slice(&mechanism);
    out.extend_from_slice(&[0u8; 32]); // as-server 0, filler
    let mut ready = vec![5];
    ready.extend_from_slice(b"READY");
    ready.push(11);
    ready.extend_from_slice(b"Socket-Type");
    ready.extend_from_slice(&3u32.to_be_bytes());
    ready.extend_from_slice(b"SUB");
    command(&mut out, &ready);
    for topic in topics {
        let mut body = vec![9];
        body.extend_from_slice(b"SUBSCRIBE");
        body.extend_from_slice(&topic);
        command(&mut out, &body);
    }
    out
}

/// A short command frame (every body here is under 256 bytes).
fn command(out: &mut Vec<u8>, body: &[u8]) {
    out.push(0x04);
    out.push(u8::try_from(body.len()).unwrap());
    out.extend_from_slice(body);
}

fn flood_topic(i: usize) -> Vec<u8> {
    format!("flood/{i:05}").into_bytes()
}

/// A raw peer: writes `bytes`, then reads until the link closes. The
/// watch tells what it read so far and whether the link is closed.
async fn raw_peer(endpoint: &str, bytes: Vec<u8>) -> watch::Receiver<(Vec<u8>, bool)> {
    let address = endpoint.trim_start_matches("tcp://").to_owned();
    let stream = TcpStream::connect(address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let (tx, rx) = watch::channel((Vec::new(), false));
    tokio::spawn(async move {
        // The peer may close the link before we finish writing.
        let _ = writer.write_all(&bytes).await;
        // Keep the write half open: closing it would end the link too.
        std::future::pending::<()>().await;
        drop(writer);
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => tx.send_modify(|(seen, _)| seen.extend_from_slice(&buf[..n])),
            }
        }
        tx.send_modify(|(_, closed)| *closed = true);
    });
    rx
}

/// A SUB subscribed to `news`, connected to `endpoint`.
async fn legit_subscriber(endpoint: &str) -> Socket {
    let sub = Socket::new(SocketType::Sub);
    sub.subscribe("news").unwrap();
    sub.connect(endpoint).await.unwrap();
    sub
}

/// Publishes `news` until `sub` gets one.
async fn publish_until_received(publisher: &Socket, sub: &Socket) {
    let deadline = Instant::now() + WAIT;
    loop {
        publisher.send("news!").await.unwrap();
        if timeout(Duration::from_millis(20), sub.recv()).await.is_ok() {
            return;
        }
        assert!(Instant::now() < deadline, "the legit SUB got nothing");
    }
}

/// The reason of the next `Disconnected` event on `monitor`.
async fn next_disconnect(monitor: &mut zmtp_transport::Monitor) -> LinkEnd {
    loop {
        let event = timeout(WAIT, monitor.next()).await.unwrap().unwrap();
        if let MonitorEvent::Disconnected { reason, .. } = event {
            return reason;
        }
    }
}

/// A PUB with `options`, bound on tcp, with a legit SUB connected and
/// served; returns the PUB, its endpoint and the SUB.
async fn publisher_with_a_legit_subscriber(options: Options) -> (Socket, String, Socket) {
    let publisher = Socket::with_options(SocketType::Pub, options);
    let ep = publisher
        .bind("tcp://127.0.0.1:*")
        .await
        .unwrap()
        .to_string();
    let sub = legit_subscriber(&ep).await;
    publish_until_received(&publisher, &sub).await;
    (publisher, ep, sub)
}

/// The flood is refused at `max` topics: only the flooding link closes,
/// with a typed reason, and the legit SUB is served before and after.
async fn flood_closed_at(options: Options, max: usize) {
    let (publisher, ep, sub) = publisher_with_a_legit_subscriber(options).await;
    let mut monitor = publisher.monitor();
    let mut raw = raw_peer(&ep, raw_subscriber((0..FLOOD).map(flood_topic))).await;
    assert_eq!(
        next_disconnect(&mut monitor).await,
        LinkEnd::Refused(Refusal::TooManySubscriptions { max })
    );
    timeout(WAIT, raw.wait_for(|(_, closed)| *closed))
        .await
        .expect("the flooding link stays open")
        .unwrap();
    publish_until_received(&publisher, &sub).await;
    assert_eq!(publisher.stats().peers, 1, "the legit SUB is still there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_flood_is_closed_at_a_small_cap() {
    let mut options = Options::new(SocketType::Pub);
    options.max_peer_subscriptions = 100;
    flood_closed_at(options, 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_flood_is_closed_at_the_default_cap() {
    let options = Options::new(SocketType::Pub);
    assert_eq!(options.max_peer_subscriptions, 10_000);
    flood_closed_at(options, 10_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_flood_past_the_byte_cap_is_closed() {
    let mut options = Options::new(SocketType::Pub);
    options.max_peer_subscription_bytes = 1000;
    let (publisher, ep, sub) = publisher_with_a_legit_subscriber(options).await;
    let mut monitor = publisher.monitor();
    let _raw = raw_peer(&ep, raw_subscriber((0..FLOOD).map(flood_topic))).await;
    assert_eq!(
        next_disconnect(&mut monitor).await,
        LinkEnd::Refused(Refusal::SubscriptionBytes { max: 1000 })
    );
    publish_until_received(&publisher, &sub).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_thousand_subscriptions_within_the_cap_are_all_served() {
    let mut options = Options::new(SocketType::Pub);
    options.max_peer_subscriptions = 2 * FLOOD;
    let (publisher, ep, sub) = publisher_with_a_legit_subscriber(options).await;
    let mut raw = raw_peer(&ep, raw_subscriber((0..FLOOD).map(flood_topic))).await;
    // The last topic subscribed is served once every SUBSCRIBE before it
    // has been taken in.
    let last = flood_topic(FLOOD - 1);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        publisher.send(Message::from(last.clone())).await.unwrap();
        let seen = timeout(Duration::from_millis(50), raw.changed()).await;
        if seen.is_ok() && raw.borrow().0.windows(last.len()).any(|w| w == last) {
            break;
        }
        assert!(!raw.borrow().1, "the raw peer's link closed");
        assert!(Instant::now() < deadline, "the last topic was never served");
    }
    publish_until_received(&publisher, &sub).await;
}

/// What an XPUB application read: `(subscribe, topic)` in order.
async fn read_notices_slowly(xpub: &Socket, count: usize) -> Vec<(bool, Vec<u8>)> {
    let mut notices = Vec::new();
    while notices.len() < count {
        let m = recv(xpub).await;
        let frame = &m.frames()[0];
        notices.push((frame[0] == 1, frame[1..].to_vec()));
        if notices.len() % 16 == 0 {
            sleep(Duration::from_millis(2)).await;
        }
    }
    notices
}

const TOPICS: usize = 300;

fn topic(i: usize) -> String {
    format!("topic/{i:03}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xpub_notices_all_reach_a_slow_reader() {
    for transport in ["tcp://127.0.0.1:*", "inproc://xpub-slow-reader"] {
        let mut options = Options::new(SocketType::Xpub);
        options.rcvhwm = 4;
        let xpub = Socket::with_options(SocketType::Xpub, options);
        let ep = xpub.bind(transport).await.unwrap().to_string();
        let sub = Socket::new(SocketType::Sub);
        for i in 0..TOPICS {
            sub.subscribe(topic(i)).unwrap();
        }
        let mut monitor = sub.monitor();
        sub.connect(&ep).await.unwrap();
        // Cancelled after the link is up, so the XPUB hears of them (before
        // it, the replay would leave them out).
        if transport.starts_with("tcp") {
            loop {
                let event = timeout(WAIT, monitor.next()).await.unwrap().unwrap();
                if matches!(event, MonitorEvent::HandshakeSucceeded { .. }) {
                    break;
                }
            }
        }
        for i in 0..TOPICS / 2 {
            sub.unsubscribe(topic(i)).unwrap();
        }
        // The SUB leaves: the XPUB reports its remaining topics gone.
        let reader = tokio::spawn(async move {
            let notices = read_notices_slowly(&xpub, 2 * TOPICS).await;
            (xpub, notices)
        });
        sleep(Duration::from_millis(50)).await;
        sub.close().await;
        let (xpub, notices) = reader.await.unwrap_or_else(|e| panic!("{transport}: {e}"));
        let subscribed: BTreeSet<_> = notices.iter().filter(|n| n.0).map(|n| &n.1).collect();
        let cancelled: BTreeSet<_> = notices.iter().filter(|n| !n.0).map(|n| &n.1).collect();
        assert_eq!((subscribed.len(), cancelled.len()), (TOPICS, TOPICS));
        assert!(
            timeout(Duration::from_millis(100), xpub.recv())
                .await
                .is_err(),
            "{transport}: nothing more"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_carries_every_unsubscribe_upstream() {
    use zmtp_transport::proxy::Proxy;
    // upstream XPUB <- XSUB (proxy) XPUB <- SUB; the proxy's XPUB reads
    // its notices through a small queue.
    let upstream = Socket::new(SocketType::Xpub);
    let up_ep = upstream
        .bind("tcp://127.0.0.1:*")
        .await
        .unwrap()
        .to_string();
    let frontend = Socket::new(SocketType::Xsub);
    frontend.connect(&up_ep).await.unwrap();
    let mut options = Options::new(SocketType::Xpub);
    options.rcvhwm = 2;
    let backend = Socket::with_options(SocketType::Xpub, options);
    let back_ep = backend.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    let (handle, task) = Proxy::new(frontend, backend, None).spawn();

    let sub = Socket::new(SocketType::Sub);
    for i in 0..TOPICS {
        sub.subscribe(topic(i)).unwrap();
    }
    sub.connect(&back_ep).await.unwrap();
    // Every subscription reaches the upstream publisher ...
    let mut held = BTreeSet::new();
    while held.len() < TOPICS {
        let m = recv(&upstream).await;
        let frame = &m.frames()[0];
        assert_eq!(frame[0], 1, "a subscription");
        held.insert(frame[1..].to_vec());
    }
    // ... and when the SUB leaves, every cancellation follows.
    sub.close().await;
    while !held.is_empty() {
        let m = recv(&upstream).await;
        let frame = &m.frames()[0];
        assert_eq!(frame[0], 0, "a cancellation");
        assert!(held.remove(&frame[1..]), "a topic held");
    }
    handle.terminate();
    timeout(WAIT, task).await.unwrap().unwrap().unwrap();
}

/// A raw SUB-like peer whose link the test can end (dropping it), writing
/// SUBSCRIBE and CANCEL commands when told.
struct RawPeer(TcpStream);

impl RawPeer {
    async fn connect(endpoint: &str, topics: &[&[u8]]) -> RawPeer {
        let address = endpoint.trim_start_matches("tcp://");
        let mut stream = TcpStream::connect(address).await.unwrap();
        let topics = topics.iter().map(|t| t.to_vec());
        stream.write_all(&raw_subscriber(topics)).await.unwrap();
        RawPeer(stream)
    }

    async fn send(&mut self, name: &[u8], topic: &[u8]) {
        let mut body = vec![u8::try_from(name.len()).unwrap()];
        body.extend_from_slice(name);
        body.extend_from_slice(topic);
        let mut out = Vec::new();
        command(&mut out, &body);
        self.0.write_all(&out).await.unwrap();
    }
}

/// Reads notices until none comes for a while, replaying them on `held`
/// (what was read before): what an XSUB/XPUB proxy would hold upstream.
async fn replay_notices(
    xpub: &Socket,
    mut held: BTreeSet<Vec<u8>>,
) -> (Vec<(bool, Vec<u8>)>, BTreeSet<Vec<u8>>) {
    let mut read = Vec::new();
    while let Ok(m) = timeout(Duration::from_millis(300), xpub.recv()).await {
        let frame = m.unwrap().frames()[0].clone();
        let (subscribe, topic) = (frame[0] == 1, frame[1..].to_vec());
        if subscribe {
            held.insert(topic.clone());
        } else {
            held.remove(&topic);
        }
        read.push((subscribe, topic));
        // A slow reader: the links wait for room in turn.
        sleep(Duration::from_millis(5)).await;
    }
    (read, held)
}

/// Issue 13: peer A's last hold on `z` goes (by a cancel, or by leaving)
/// while the XPUB's inbound queue is full, then peer B subscribes to `z`.
/// The socket's state went "z gone", then "z back": the application must
/// read the cancel before the subscribe, or a proxy ends unsubscribed
/// upstream while B is subscribed. B's link waits for room before A's
/// does (its first notice, `b0`, came first), which is what let B's later
/// notice overtake A's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_reach_the_application_in_state_order() {
    for leave in [false, true] {
        let mut options = Options::new(SocketType::Xpub);
        options.rcvhwm = 1;
        let xpub = Socket::with_options(SocketType::Xpub, options);
        let ep = xpub.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
        let topics: [&[u8]; 6] = [b"z", b"a1", b"a2", b"a3", b"a4", b"a5"];
        let mut a = RawPeer::connect(&ep, &topics).await;
        let mut seen = BTreeSet::new();
        while seen.len() < topics.len() {
            let frame = recv(&xpub).await.frames()[0].clone();
            assert_eq!(frame[0], 1);
            seen.insert(frame[1..].to_vec());
        }
        // The inbound queue fills with the filler's notice, and B's first
        // notice waits.
        let _filler = RawPeer::connect(&ep, &[b"fill"]).await;
        sleep(Duration::from_millis(100)).await;
        let mut b = RawPeer::connect(&ep, &[b"b0"]).await;
        sleep(Duration::from_millis(100)).await;
        if leave {
            drop(a);
        } else {
            for t in topics {
                a.send(b"CANCEL", t).await;
            }
        }
        sleep(Duration::from_millis(200)).await;
        b.send(b"SUBSCRIBE", b"z").await;
        sleep(Duration::from_millis(200)).await;
        let (read, held) = replay_notices(&xpub, seen).await;
        let expected: BTreeSet<Vec<u8>> = [b"fill".to_vec(), b"b0".to_vec(), b"z".to_vec()].into();
        assert_eq!(held, expected, "leave {leave}: read {read:?}");
        // Every state change is reported once: fill, b0, the a-topics
        // gone, and z gone and back.
        assert_eq!(read.len(), 9, "leave {leave}: read {read:?}");
    }
}

/// One step of a random schedule for [`notices_replay_to_the_true_set`].
#[derive(Debug, Clone)]
enum Step {
    /// Peer subscribes to topic (if it does not hold it).
    Subscribe(usize, usize),
    /// Peer cancels topic (if it holds it).
    Cancel(usize, usize),
    /// Peer leaves (its socket closes).
    Leave(usize),
    /// The schedule waits this many milliseconds.
    Pause(u64),
}

fn step(peers: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..peers, 0..3usize).prop_map(|(p, t)| Step::Subscribe(p, t)),
        3 => (0..peers, 0..3usize).prop_map(|(p, t)| Step::Cancel(p, t)),
        1 => (0..peers).prop_map(Step::Leave),
        2 => (0..4u64).prop_map(Step::Pause),
    ]
}

fn schedule() -> impl Strategy<Value = (usize, Vec<Step>)> {
    (2..=4usize).prop_flat_map(|peers| (Just(peers), prop::collection::vec(step(peers), 1..30)))
}

/// Replays `notices` on an empty set; fails on a subscribe of a topic
/// held, or a cancel of one not held (a notice lost or out of order).
fn replay(notices: &[(bool, Vec<u8>)]) -> Result<BTreeSet<Vec<u8>>, TestCaseError> {
    let mut held = BTreeSet::new();
    for (subscribe, topic) in notices {
        let changed = if *subscribe {
            held.insert(topic.clone())
        } else {
            held.remove(topic)
        };
        prop_assert!(changed, "{subscribe} {topic:?} in {notices:?}");
    }
    Ok(held)
}

/// Runs `steps` with SUB peers of an XPUB (`rcvhwm` 1) whose application
/// reads slowly; the notices it read must replay to the topics the
/// remaining peers hold.
async fn notices_under(transport: &str, peers: usize, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut options = Options::new(SocketType::Xpub);
    options.rcvhwm = 1;
    let xpub = Socket::with_options(SocketType::Xpub, options);
    let ep = xpub.bind(transport).await.unwrap().to_string();
    let (done_tx, mut done) = watch::channel(false);
    let reader = tokio::spawn(async move {
        let mut read = Vec::new();
        loop {
            match timeout(Duration::from_millis(300), xpub.recv()).await {
                Ok(m) => {
                    let frame = m.unwrap().frames()[0].clone();
                    read.push((frame[0] == 1, frame[1..].to_vec()));
                    sleep(Duration::from_millis(1)).await;
                }
                Err(_) if *done.borrow_and_update() => return read,
                Err(_) => {}
            }
        }
    });
    let mut subs = Vec::new();
    for _ in 0..peers {
        let sub = Socket::new(SocketType::Sub);
        sub.connect(&ep).await.unwrap();
        subs.push(Some((sub, BTreeSet::new())));
    }
    let name = |t: usize| format!("t{t}").into_bytes();
    for step in steps {
        match *step {
            Step::Subscribe(p, t) => {
                if let Some((sub, held)) = subs[p].as_mut()
                    && held.insert(t)
                {
                    sub.subscribe(name(t)).unwrap();
                }
            }
            Step::Cancel(p, t) => {
                if let Some((sub, held)) = subs[p].as_mut()
                    && held.remove(&t)
                {
                    sub.unsubscribe(name(t)).unwrap();
                }
            }
            Step::Leave(p) => {
                if let Some((sub, _)) = subs[p].take() {
                    sub.close().await;
                }
            }
            Step::Pause(ms) => sleep(Duration::from_millis(ms)).await,
        }
    }
    done_tx.send(true).unwrap();
    let read = reader.await.unwrap();
    let truth: BTreeSet<Vec<u8>> = subs
        .iter()
        .flatten()
        .flat_map(|(_, held)| held.iter().map(|&t| name(t)))
        .collect();
    prop_assert_eq!(replay(&read)?, truth, "{} read {:?}", transport, read);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Issue 13's invariant for a proxy: over random schedules of
    /// subscribe, cancel and leave across 2 to 4 peers, with a slow reader
    /// behind a one-message queue, the notices the application reads
    /// replay (each a change) to the socket's true set of topics.
    #[test]
    fn notices_replay_to_the_true_set((peers, steps) in schedule()) {
        static CASE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let case = CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            notices_under("tcp://127.0.0.1:*", peers, &steps).await?;
            notices_under(&format!("inproc://notices-{case}"), peers, &steps).await
        })?;
    }
}
