//! Bounded memory per link (issue 13), against raw TCP peers that speak
//! ZMTP by hand (zmtp's own `Connection` does their handshake): peers
//! that flood empty messages at a socket the application does not read,
//! a peer that sends PINGs and never reads what we send back, and
//! messages of many tiny frames against `maxmsgsize`. The bounds asserted
//! are the ones `docs/limits.md` works out ("One link", "One socket").

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;
use zmtp::mechanism::Null;
use zmtp::{Command, Config, Connection, Event};
use zmtp_transport::{LinkEnd, MonitorEvent, Options, Socket, SocketType};

mod common;

use common::WAIT;

/// Most messages one link decodes ahead of the inbound queue: the
/// engine's decode batch.
const DECODE_BATCH: u64 = 256;

/// The process's resident memory, in bytes.
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// A socket bound to a loopback port, and that port's address.
async fn bound(socket_type: SocketType, options: Options) -> (Socket, String) {
    let socket = Socket::with_options(socket_type, options);
    let ep = socket.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    let addr = ep.trim_start_matches("tcp://").to_owned();
    (socket, addr)
}

fn options(socket_type: SocketType) -> Options {
    let mut options = Options::new(socket_type);
    options.linger = Some(Duration::ZERO);
    options
}

/// Completes a NULL handshake as `socket_type` over `stream`, by hand.
async fn handshake(mut stream: TcpStream, socket_type: SocketType) -> TcpStream {
    let mut conn = Connection::new(
        Config::new(socket_type),
        Box::new(Null::new()),
        Instant::now(),
    );
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        while conn.transmit().has_remaining() {
            let chunk = conn.transmit().chunk().to_vec();
            stream.write_all(&chunk).await.unwrap();
            conn.transmit().advance(chunk.len());
        }
        if conn.is_active() {
            return stream;
        }
        let n = timeout(WAIT, stream.read_buf(&mut buf)).await.unwrap();
        assert!(n.unwrap() > 0, "the socket closed during the handshake");
        conn.handle_input(&mut buf, Instant::now());
        while let Some(event) = conn.poll_event() {
            assert!(!matches!(event, Event::Closed(_)), "{event:?}");
        }
    }
}

/// A raw peer of type `socket_type`, connected and past its handshake.
async fn raw_peer(addr: &str, socket_type: SocketType) -> TcpStream {
    let stream = TcpStream::connect(addr).await.unwrap();
    handshake(stream, socket_type).await
}

/// Polls `f` until it returns the same value for a whole second (or
/// `WAIT` passes), and returns that value.
async fn settled<T: PartialEq + Copy>(mut f: impl FnMut() -> T) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut last = f();
    let mut since = tokio::time::Instant::now();
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = f();
        if now != last {
            last = now;
            since = tokio::time::Instant::now();
        } else if since.elapsed() >= Duration::from_secs(1) {
            break;
        }
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_empty_messages_is_held_to_one_batch_per_link() {
    const LINKS: usize = 64;
    // Bytes of empty messages (two bytes each on the wire) every peer
    // sends: 131,072 messages, far beyond what the kernel buffers take.
    const FLOOD: usize = 256 * 1024;
    let (pull, addr) = bound(SocketType::Pull, options(SocketType::Pull)).await;
    let rcvhwm = pull.options().rcvhwm;
    let mut streams = Vec::new();
    for _ in 0..LINKS {
        streams.push(raw_peer(&addr, SocketType::Push).await);
    }
    let flood = Bytes::from(vec![0u8; FLOOD]);
    let before = rss();
    let peers: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            let flood = flood.clone();
            tokio::spawn(async move {
                let _ = stream.write_all(&flood).await;
                // Stay connected: the socket holds what it read.
                std::future::pending::<()>().await;
            })
        })
        .collect();
    let held = settled(|| pull.stats().held_by_links).await;
    let grown = rss().saturating_sub(before);
    let stats = pull.stats();
    eprintln!("{LINKS} links flooding: {held} messages held by links, RSS +{grown} bytes");
    assert_eq!(stats.peers, LINKS);
    assert!(
        held <= LINKS as u64 * DECODE_BATCH,
        "{held} messages held by {LINKS} links beyond the queue's {rcvhwm}"
    );
    // Per link: a read buffer (8 KiB here, at most 256 KiB) and at most a
    // decode batch (256 messages of about 90 bytes); 256 KiB each leaves
    // room for the task and the allocator. The engine that decoded whole
    // reads took 5 MiB.
    let bound = LINKS * (256 << 10) + (16 << 20);
    assert!(grown < bound, "RSS grew by {grown} bytes (bound {bound})");

    // Reading goes on from what the links left in their buffers.
    for _ in 0..5 * rcvhwm {
        let m = common::recv(&pull).await;
        assert_eq!(m.frames(), [Bytes::new()]);
    }
    let held = settled(|| pull.stats().held_by_links).await;
    assert!(
        held <= LINKS as u64 * DECODE_BATCH,
        "{held} held after reading"
    );
    for peer in peers {
        peer.abort();
    }
}

/// One PING frame with a 16-byte context, as it goes on the wire.
fn ping_frame() -> Vec<u8> {
    let mut body = BytesMut::new();
    let ping = Command::Ping {
        ttl: 0,
        context: Bytes::from_static(&[7; 16]),
    };
    ping.encode_body(&mut body).unwrap();
    let mut frame = vec![0x04, u8::try_from(body.len()).unwrap()];
    frame.extend_from_slice(&body);
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_pings_and_never_reads_stops_being_read() {
    // Most a peer can write once we stop reading: our kernel receive
    // buffer, its send buffer and what we read before our PONGs filled
    // its receive buffer, our send buffer and our own output to the mark.
    const STOPPED: usize = 24 << 20;
    const TRIED: usize = 96 << 20;
    let (pull, addr) = bound(SocketType::Pull, options(SocketType::Pull)).await;
    let mut monitor = pull.monitor();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.set_send_buffer_size(4096).unwrap();
    let stream = socket.connect(addr.parse().unwrap()).await.unwrap();
    let mut stream = handshake(stream, SocketType::Push).await;
    let chunk: Vec<u8> = ping_frame().repeat((1 << 20) / ping_frame().len());
    let mut sent = 0;
    while sent < TRIED {
        // A write that makes no progress for two seconds has stalled: we
        // stopped reading.
        match timeout(Duration::from_secs(2), stream.write_all(&chunk)).await {
            Ok(Ok(())) => sent += chunk.len(),
            Ok(Err(e)) => panic!("the link closed: {e}"),
            Err(_) => break,
        }
    }
    eprintln!("{sent} bytes of PINGs written before the reads stopped");
    assert!(
        sent < STOPPED,
        "{sent} bytes of PINGs read from a peer that never reads"
    );

    // The link is still up, and another peer is served as usual.
    let push = Socket::with_options(SocketType::Push, options(SocketType::Push));
    push.connect(&format!("tcp://{addr}")).await.unwrap();
    push.send(common::msg(&["hello"])).await.unwrap();
    assert_eq!(common::text(&common::recv(&pull).await), ["hello"]);
    let ended = timeout(Duration::from_millis(200), async {
        loop {
            if let Some(MonitorEvent::Disconnected { reason, .. }) = monitor.next().await {
                return reason;
            }
        }
    })
    .await;
    assert!(ended.is_err(), "a link ended: {ended:?}");
    drop(stream);
}

#[tokio::test]
async fn a_message_of_many_empty_frames_costs_their_overhead_against_maxmsgsize() {
    let mut opts = options(SocketType::Pull);
    opts.maxmsgsize = Some(1024);
    let (pull, addr) = bound(SocketType::Pull, opts).await;
    let mut monitor = pull.monitor();
    // 64 empty frames: no bytes, but 63 frames' overhead beyond the
    // first (63 x 48 = 3,024 bytes) in memory.
    let mut stream = raw_peer(&addr, SocketType::Push).await;
    let mut wire = [0x01u8, 0x00].repeat(63);
    wire.extend_from_slice(&[0x00, 0x00]);
    stream.write_all(&wire).await.unwrap();
    let reason = timeout(WAIT, async {
        loop {
            if let Some(MonitorEvent::Disconnected { reason, .. }) = monitor.next().await {
                return reason;
            }
        }
    })
    .await
    .unwrap();
    assert!(
        matches!(
            &reason,
            LinkEnd::Protocol(zmtp::CloseReason::MessageTooLarge { .. })
        ),
        "{reason:?}"
    );
    // A single frame of exactly maxmsgsize is fine, as in libzmq.
    let mut stream = raw_peer(&addr, SocketType::Push).await;
    let mut wire = vec![0x02u8, 0, 0, 0, 0, 0, 0, 4, 0];
    wire.extend_from_slice(&[5u8; 1024]);
    stream.write_all(&wire).await.unwrap();
    let m = common::recv(&pull).await;
    assert_eq!(m.size(), 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_sending_large_messages_both_ways_keep_reading_each_other() {
    // The read stop counts only output the peer caused: were the
    // application's messages counted, each side would hold a large message
    // unsent, stop reading the other, and both would wait forever.
    const SIZE: usize = 8 << 20;
    const COUNT: usize = 4;
    let (a, addr) = bound(SocketType::Pair, options(SocketType::Pair)).await;
    let b = Socket::with_options(SocketType::Pair, options(SocketType::Pair));
    b.connect(&format!("tcp://{addr}")).await.unwrap();
    let big = Bytes::from(vec![1u8; SIZE]);
    for _ in 0..COUNT {
        a.send(big.clone()).await.unwrap();
        b.send(big.clone()).await.unwrap();
    }
    for _ in 0..COUNT {
        assert_eq!(common::recv(&a).await.size(), SIZE);
        assert_eq!(common::recv(&b).await.size(), SIZE);
    }
}

/// `SocketStats::held_by_links` counts what waits in an XPUB's notice
/// queue too: each subscriber's notice is held there (its link stops
/// reading) while the application's queue (`rcvhwm` 1) is full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_waiting_for_a_full_queue_count_as_held_by_links() {
    const LINKS: usize = 4;
    let mut opts = options(SocketType::Xpub);
    opts.rcvhwm = 1;
    let (xpub, addr) = bound(SocketType::Xpub, opts).await;
    let mut streams = Vec::new();
    for i in 0..LINKS {
        let mut stream = raw_peer(&addr, SocketType::Sub).await;
        // A ZMTP 3.0 subscription: a data frame `01topic`.
        let topic = format!("\x01topic-{i}");
        let mut frame = vec![0u8, topic.len() as u8];
        frame.extend_from_slice(topic.as_bytes());
        stream.write_all(&frame).await.unwrap();
        streams.push(stream);
    }
    // One notice fits the queue; the others wait in the notice queue.
    let held = settled(|| xpub.stats().held_by_links).await;
    assert_eq!(held, LINKS as u64 - 1, "notices waiting for the queue");
    for _ in 0..LINKS {
        let notice = common::recv(&xpub).await;
        assert_eq!(notice.frames()[0][0], 1, "a subscribe notice");
    }
    let held = settled(|| xpub.stats().held_by_links).await;
    assert_eq!(held, 0, "everything delivered");
}

/// `Options::rcvhwm_bytes` bounds the inbound queue by bytes: with room
/// for 1,000 messages but 100,000 bytes, two 64 KiB messages fill it (the
/// second crosses the mark) and the link holds the third, decoded, with
/// the rest unread; everything arrives, in order, once the application
/// reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_bound_fills_the_inbound_queue_before_its_message_count() {
    const MESSAGES: usize = 20;
    let mut opts = options(SocketType::Pull);
    opts.rcvhwm_bytes = Some(100_000);
    let (pull, addr) = bound(SocketType::Pull, opts).await;
    let mut stream = raw_peer(&addr, SocketType::Push).await;
    let writer = tokio::spawn(async move {
        for i in 0..MESSAGES {
            let mut frame = vec![0x02u8];
            frame.extend_from_slice(&(64u64 * 1024).to_be_bytes());
            frame.extend(std::iter::repeat_n(i as u8, 64 * 1024));
            stream.write_all(&frame).await.unwrap();
        }
        stream
    });
    let held = settled(|| pull.stats().held_by_links).await;
    assert_eq!(held, 1, "the queue is full by bytes: one message waits");
    for i in 0..MESSAGES {
        let m = common::recv(&pull).await;
        assert_eq!(m.frames()[0].len(), 64 * 1024);
        assert_eq!(m.frames()[0][0], i as u8);
    }
    let _stream = writer.await.unwrap();
}
