//! A listener's admission of links in their handshake, against raw
//! connections that hold places without finishing: a flood as large as
//! `max_handshakes` does not keep a real peer out (the oldest pending link
//! is evicted for it), one source cannot take more than its share, and a
//! link that sends no greeting is closed at the greeting deadline, well
//! before `handshake_ivl`.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UnixStream};
use tokio::time::timeout;
use zmtp_transport::{
    Endpoint, LinkEnd, Monitor, MonitorEvent, Options, Refusal, Socket, SocketType,
};

use common::{WAIT, msg, recv, text};

/// The handshake interval of these tests: far longer than any of them, so
/// that only admission can let a real peer in.
const LONG: Duration = Duration::from_secs(120);

/// A ZMTP 3.1 NULL greeting, all 64 bytes.
fn greeting() -> Vec<u8> {
    let mut g = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 1];
    g.extend_from_slice(b"NULL");
    g.resize(64, 0);
    g
}

/// A PULL socket with these caps, bound to an ephemeral port.
async fn pull(options: Options) -> (Socket, Monitor, SocketAddr) {
    let socket = Socket::with_options(SocketType::Pull, options);
    let monitor = socket.monitor();
    let ep = socket.bind("tcp://127.0.0.1:*").await.unwrap();
    let addr = ep.to_string().replace("tcp://", "").parse().unwrap();
    (socket, monitor, addr)
}

fn options(max: usize, per_source: usize, greeting_ivl: Option<Duration>) -> Options {
    let mut o = Options::new(SocketType::Pull);
    o.max_handshakes = max;
    o.max_handshakes_per_source = per_source;
    o.greeting_ivl = greeting_ivl;
    o.handshake_ivl = Some(LONG);
    o.linger = Some(Duration::ZERO);
    o
}

/// A raw connection from `from` (an address of the loopback network).
async fn raw_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// Waits for `n` events that `want` picks; fails after [`WAIT`].
async fn events(monitor: &mut Monitor, n: usize, want: impl Fn(&MonitorEvent) -> bool) {
    let mut seen = 0;
    while seen < n {
        let event = timeout(WAIT, monitor.next())
            .await
            .unwrap_or_else(|_| panic!("{seen} of {n} events seen"))
            .unwrap();
        seen += usize::from(want(&event));
    }
}

/// Checks that no handshake failed among the events queued on `monitor`.
fn no_other_handshake_failed(monitor: &mut Monitor) {
    while let Some(event) = monitor.try_next() {
        assert!(
            !matches!(event, MonitorEvent::HandshakeFailed { .. }),
            "{event:?}"
        );
    }
}

fn is_accepted(e: &MonitorEvent) -> bool {
    matches!(e, MonitorEvent::Accepted { .. })
}

/// Whether the listener closed `raw`: it reads to the end (our greeting
/// may come first) within [`WAIT`].
async fn closed_by_listener<S: AsyncReadExt + Unpin>(raw: &mut S) -> bool {
    ends_within(raw, WAIT).await
}

/// Whether `raw` reads to its end within `limit`.
async fn ends_within<S: AsyncReadExt + Unpin>(raw: &mut S, limit: Duration) -> bool {
    let mut sink = [0u8; 256];
    let ended = timeout(limit, async {
        loop {
            match raw.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    ended.await.is_ok()
}

/// A real peer sends one message through `to`; it must arrive.
async fn real_peer_gets_through(socket: &Socket, to: &str) -> Socket {
    let push = Socket::new(SocketType::Push);
    push.connect(to).await.unwrap();
    push.send(msg(&["through"])).await.unwrap();
    assert_eq!(text(&recv(socket).await), ["through"]);
    push
}

#[tokio::test]
async fn a_flood_of_idle_connections_does_not_keep_a_real_peer_out() {
    const MAX: usize = 16;
    // No greeting deadline: eviction alone must let the peer in.
    let (socket, mut monitor, addr) = pull(options(MAX, 64, None)).await;
    let mut flood = Vec::new();
    for i in 0..MAX {
        let mut raw = TcpStream::connect(addr).await.unwrap();
        if i % 2 == 1 {
            // Half of them start a greeting and stop.
            raw.write_all(&greeting()[..10]).await.unwrap();
        }
        flood.push(raw);
    }
    events(&mut monitor, MAX, is_accepted).await;

    let _push = real_peer_gets_through(&socket, &format!("tcp://{addr}")).await;
    // The oldest of the flood made room, and said why.
    assert!(closed_by_listener(&mut flood[0]).await);
    events(&mut monitor, 1, |e| {
        matches!(e, MonitorEvent::HandshakeFailed { reason, .. }
            if *reason == LinkEnd::Refused(Refusal::Evicted { max: MAX }))
    })
    .await;
}

/// At the defaults (256 places, 32 per source, 5 s for the greeting), 256
/// silent connections from eight addresses fill every place; a real peer
/// from a ninth still gets its message through at once.
#[tokio::test]
async fn at_the_defaults_a_full_house_of_silent_peers_does_not_keep_a_real_one_out() {
    let defaults = Options::new(SocketType::Pull);
    let (max, per_source) = (defaults.max_handshakes, defaults.max_handshakes_per_source);
    let mut options = options(max, per_source, defaults.greeting_ivl);
    options.handshake_ivl = defaults.handshake_ivl;
    let (socket, mut monitor, addr) = pull(options).await;
    let mut flood = Vec::new();
    for i in 0..max {
        let host = 2 + u8::try_from(i / per_source).unwrap();
        flood.push(raw_from([127, 0, 0, host], addr).await);
    }
    events(&mut monitor, max, is_accepted).await;
    let started = std::time::Instant::now();
    let _push = real_peer_gets_through(&socket, &format!("tcp://{addr}")).await;
    eprintln!("past {max} silent connections in {:?}", started.elapsed());
    // Within the greeting deadline: eviction let it in, not a timeout.
    assert!(started.elapsed() < defaults.greeting_ivl.unwrap());
}

#[tokio::test]
async fn one_source_holds_at_most_its_share() {
    const PER_SOURCE: usize = 4;
    let (socket, mut monitor, addr) = pull(options(16, PER_SOURCE, None)).await;
    let mut held = Vec::new();
    for _ in 0..PER_SOURCE {
        held.push(raw_from([127, 0, 0, 2], addr).await);
    }
    events(&mut monitor, PER_SOURCE, is_accepted).await;
    let mut over = raw_from([127, 0, 0, 2], addr).await;
    events(&mut monitor, 1, |e| {
        matches!(e, MonitorEvent::Refused { reason, .. }
            if *reason == LinkEnd::Refused(Refusal::TooManyFromSource { max: PER_SOURCE }))
    })
    .await;
    assert!(closed_by_listener(&mut over).await);

    // Another source (127.0.0.1) is not affected.
    let _push = real_peer_gets_through(&socket, &format!("tcp://{addr}")).await;
    // Nobody was evicted: the global cap was never reached.
    no_other_handshake_failed(&mut monitor);
}

#[tokio::test]
async fn no_greeting_in_time_closes_the_link_and_a_greeting_keeps_it() {
    const IVL: Duration = Duration::from_millis(300);
    let (_socket, mut monitor, addr) = pull(options(16, 16, Some(IVL))).await;
    let mut partial = TcpStream::connect(addr).await.unwrap();
    partial.write_all(&greeting()[..63]).await.unwrap();
    let mut greeted = TcpStream::connect(addr).await.unwrap();
    greeted.write_all(&greeting()).await.unwrap();

    events(&mut monitor, 1, |e| {
        matches!(e, MonitorEvent::HandshakeFailed { reason, .. }
            if *reason == LinkEnd::Refused(Refusal::GreetingTimeout { ivl: IVL }))
    })
    .await;
    assert!(closed_by_listener(&mut partial).await);
    // The greeted link stays for its handshake (`handshake_ivl` is long):
    // it is still open at three times the greeting deadline.
    assert!(
        !ends_within(&mut greeted, 3 * IVL).await,
        "the greeted link was closed"
    );
    no_other_handshake_failed(&mut monitor);
}

#[tokio::test]
async fn ipc_peers_share_one_source_and_the_oldest_makes_room() {
    const MAX: usize = 4;
    let socket = Socket::with_options(SocketType::Pull, options(MAX, 8, None));
    let mut monitor = socket.monitor();
    let name = format!("zmtp-admission-{}", std::process::id());
    let ep: Endpoint = socket.bind(&format!("ipc://@{name}")).await.unwrap();
    let mut flood = Vec::new();
    for _ in 0..MAX {
        flood.push(abstract_connect(&name));
    }
    events(&mut monitor, MAX, is_accepted).await;
    let _push = real_peer_gets_through(&socket, &ep.to_string()).await;
    let oldest = flood.first_mut().unwrap();
    assert!(closed_by_listener(oldest).await);
}

/// A raw connection to the abstract ipc name `name`.
fn abstract_connect(name: &str) -> UnixStream {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let std_stream = std::os::unix::net::UnixStream::connect_addr(&addr).unwrap();
    std_stream.set_nonblocking(true).unwrap();
    UnixStream::from_std(std_stream).unwrap()
}
