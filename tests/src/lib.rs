//! Support code for the whole-system tests in `tests/tests/`.
//!
//! - [`Peer`]: a libzmq peer run through pyzmq in a child process
//!   (`tests/peers/*.py`). [`Peer::spawn`] fails the test when pyzmq is
//!   missing and `ZMTP_REQUIRE_PYZMQ=1` (as in CI), and skips it otherwise.
//! - The pieces the pyzmq matrices share: messages ([`msg`], [`prefixed`],
//!   [`pattern`]), how the peer scripts print them ([`hex_line`],
//!   [`show_line`]), the PUB/SUB probes ([`hot`], [`cold`],
//!   [`publish_until_line`]) and bounded steps on our side ([`send`],
//!   [`recv`], [`Peer::wait_line`]).
//! - [`Link`]: a minimal blocking driver for one [`zmtp::Connection`] over a
//!   `std::net::TcpStream`, so the sans-IO core can meet libzmq before the
//!   tokio transport exists and independently of it.
//! - [`hostile`]: raw-TCP attackers, the server process they attack and one
//!   measured trial, for `tests/tests/hostile.rs` and `benches/hostile.sh`.

#![allow(clippy::unwrap_used)] // test support: a panic is a test failure

pub mod hostile;

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, IoSlice, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use std::fmt::Display;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Buf, Bytes, BytesMut};
use tokio::time::timeout;
use zmtp::{Config, Connection, Event, Message, PeerInfo, mechanism::Null};
use zmtp_transport::Socket;

/// How long any one step may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// The size of the multi-MiB frame the matrices send.
pub const BIG_FRAME: usize = 3 * 1024 * 1024;

/// The Python interpreter to run pyzmq peers with (`ZMTP_PYTHON`, else
/// `python3`), if it can import `zmq`.
pub fn python_with_pyzmq() -> Option<String> {
    let python = std::env::var("ZMTP_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import zmq"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    ok.then_some(python)
}

/// Whether the environment demands pyzmq (CI sets `ZMTP_REQUIRE_PYZMQ=1`).
pub fn pyzmq_required() -> bool {
    std::env::var("ZMTP_REQUIRE_PYZMQ").is_ok_and(|v| v == "1")
}

/// The i-th message of the sequence both sides of the wire tests know:
/// sizes 0, 1, 255, 256 and 70000 bytes (both size forms and the boundary),
/// every third message with a second frame. Mirrors `standard_message` in
/// `tests/peers/core_peer.py`.
pub fn standard_message(i: usize) -> Message {
    const SIZES: [usize; 5] = [0, 1, 255, 256, 70000];
    let mut m = Message::new();
    m.push(vec![(i % 256) as u8; SIZES[i % SIZES.len()]]);
    if i.is_multiple_of(3) {
        m.push(format!("part-{i}").into_bytes());
    }
    m
}

/// A message as the peer scripts print it: frames in hex joined by `|`.
pub fn hex_line(m: &Message) -> String {
    m.frames()
        .iter()
        .map(|f| f.iter().map(|b| format!("{b:02x}")).collect::<String>())
        .collect::<Vec<_>>()
        .join("|")
}

/// Bytes as lowercase hex, as the peer scripts take and print them.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A message from text frames.
pub fn msg(frames: &[&str]) -> Message {
    frames
        .iter()
        .map(|f| Bytes::copy_from_slice(f.as_bytes()))
        .collect()
}

/// A message with `front` frames put before `m`'s.
pub fn prefixed(front: &[&[u8]], m: &Message) -> Message {
    front
        .iter()
        .map(|f| Bytes::copy_from_slice(f))
        .chain(m.frames().iter().cloned())
        .collect()
}

/// The topic the PUB/SUB cases subscribe to.
pub const TOPIC: &str = "news.";
/// The warm-up message a publisher repeats until the subscriber has joined.
pub const WARM: &str = "news.warmup";

/// A message matching [`TOPIC`].
pub fn hot() -> Message {
    msg(&["news.final", "yes"])
}

/// A message not matching [`TOPIC`]: sent right before [`hot`] on the same
/// link, receiving `hot` first proves it was held back.
pub fn cold() -> Message {
    msg(&["sports.x", "no"])
}

/// Frames longer than this are printed by the peer scripts as
/// `big:LEN:CRC32` (see [`show_line`]).
pub const SHOW_LIMIT: usize = 4096;

/// `n` bytes counting 0..250 over and over: the prime period catches a
/// frame shifted by any multiple of 256. Mirrors `pattern` in
/// `tests/peers/secure_peer.py`.
pub fn pattern(n: usize) -> Bytes {
    (0..n).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into()
}

/// CRC-32 (IEEE, as Python's `zlib.crc32`).
pub fn crc32(data: &[u8]) -> u32 {
    let table: Vec<u32> = (0..256u32)
        .map(|mut c| {
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            c
        })
        .collect();
    !data.iter().fold(!0u32, |c, &b| {
        table[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

/// A message as `tests/peers/secure_peer.py` prints it: [`hex_line`], with
/// each frame over [`SHOW_LIMIT`] bytes as `big:LEN:CRC32`.
pub fn show_line(m: &Message) -> String {
    m.frames()
        .iter()
        .map(|f| {
            if f.len() > SHOW_LIMIT {
                format!("big:{}:{:08x}", f.len(), crc32(f))
            } else {
                f.iter().map(|b| format!("{b:02x}")).collect()
            }
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// Sends on our socket, failing the test (naming `ctx`) if that takes
/// longer than [`WAIT`] or fails.
pub async fn send(s: &Socket, m: Message, ctx: impl Display) {
    timeout(WAIT, s.send(m))
        .await
        .unwrap_or_else(|_| panic!("{ctx}: our {:?} send blocked", s.socket_type()))
        .unwrap_or_else(|e| panic!("{ctx}: our {:?} send: {e}", s.socket_type()));
}

/// Receives on our socket, failing the test (naming `ctx`) if nothing comes
/// within [`WAIT`] or the receive fails.
pub async fn recv(s: &Socket, ctx: impl Display) -> Message {
    timeout(WAIT, s.recv())
        .await
        .unwrap_or_else(|_| panic!("{ctx}: our {:?} received nothing", s.socket_type()))
        .unwrap_or_else(|e| panic!("{ctx}: our {:?} recv: {e}", s.socket_type()))
}

/// Publishes `warm` every 5 ms until the peer prints a line (it has
/// joined), which is returned.
pub async fn publish_until_line(
    publisher: &Socket,
    warm: Message,
    peer: &mut Peer,
    ctx: impl Display,
) -> String {
    let stop = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn({
        let publisher = publisher.clone();
        let stop = stop.clone();
        async move {
            while !stop.load(Ordering::Relaxed) {
                publisher.send(warm.clone()).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    let joined = peer.wait_line(format_args!("{ctx}: the warm-up messages"));
    stop.store(true, Ordering::Relaxed);
    task.await.unwrap();
    joined
}

/// The filter probe of the PUB cases: our `publisher` repeats [`WARM`]
/// until the peer (a subscriber to [`TOPIC`] running `warmup:` then
/// `recv:1`) has joined, then sends [`cold`] and [`hot`] on the same link;
/// the peer's next message must be `hot`, which proves `cold` was held
/// back by whichever side filters.
pub async fn publish_cold_then_hot(publisher: &Socket, peer: &mut Peer, ctx: impl Display) {
    let joined = publish_until_line(publisher, msg(&[WARM]), peer, &ctx).await;
    assert_eq!(joined, "warm", "{ctx}");
    send(publisher, cold(), &ctx).await;
    send(publisher, hot(), &ctx).await;
    let first = peer.wait_line(format_args!("{ctx}: the first message after warm-up"));
    assert_eq!(
        first,
        hex_line(&hot()),
        "{ctx}: first message after warm-up"
    );
}

/// A pyzmq peer process; killed when dropped.
pub struct Peer {
    child: Child,
    stdout: BufReader<ChildStdout>,
    /// Piped only for [`Peer::spawn_interactive`].
    stdin: Option<ChildStdin>,
}

impl Peer {
    /// Runs `tests/peers/<script>` with `args`. Returns `None` (the test
    /// should return early) when pyzmq is missing and not required.
    pub fn spawn(script: &str, args: &[&str]) -> Option<Peer> {
        Self::start(script, args, false)
    }

    /// Like [`Peer::spawn`], with the peer's stdin piped so the test can
    /// signal it with [`Peer::tell`].
    pub fn spawn_interactive(script: &str, args: &[&str]) -> Option<Peer> {
        Self::start(script, args, true)
    }

    fn start(script: &str, args: &[&str], interactive: bool) -> Option<Peer> {
        let Some(python) = python_with_pyzmq() else {
            assert!(
                !pyzmq_required(),
                "pyzmq is required (ZMTP_REQUIRE_PYZMQ=1) but `import zmq` fails"
            );
            eprintln!(
                "skipping: pyzmq is not installed (set ZMTP_REQUIRE_PYZMQ=1 to fail instead)"
            );
            return None;
        };
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("peers")
            .join(script);
        let mut child = Command::new(python)
            .arg(path)
            .args(args)
            .stdin(if interactive {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the pyzmq peer");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let stdin = child.stdin.take();
        Some(Peer {
            child,
            stdout,
            stdin,
        })
    }

    /// Writes one line to the peer's stdin (peers started with
    /// [`Peer::spawn_interactive`] only).
    pub fn tell(&mut self, line: &str) {
        let stdin = self
            .stdin
            .as_mut()
            .expect("the peer was not started with spawn_interactive");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .expect("write to the peer's stdin");
    }

    /// The next line the peer printed, without its newline.
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self
            .stdout
            .read_line(&mut line)
            .expect("read from the peer");
        assert!(n > 0, "the pyzmq peer exited early");
        line.trim_end().to_owned()
    }

    /// [`Peer::line`] from a task on a multi-thread runtime. The peer bounds
    /// every wait, so this ends: with the line, or with a panic naming
    /// `what` when the peer gave up (its reason is on stderr) and exited.
    pub fn wait_line(&mut self, what: impl Display) -> String {
        tokio::task::block_in_place(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.line()))
                .unwrap_or_else(|_| panic!("the pyzmq peer gave up waiting for {what}"))
        })
    }

    /// The port a binding peer printed first.
    pub fn port(&mut self) -> u16 {
        self.line().parse().expect("a port number")
    }

    /// Waits for the peer to exit and asserts it succeeded.
    pub fn finish(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().expect("wait for the peer");
        assert!(status.success(), "pyzmq peer failed: {status}");
    }

    /// Kills the peer at once (SIGKILL, no clean shutdown: its sockets are
    /// closed by the kernel) and reaps it.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill the peer");
        self.child.wait().expect("reap the peer");
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One ZMTP connection driven over a blocking TCP stream.
pub struct Link {
    stream: TcpStream,
    conn: Connection,
    buf: BytesMut,
    events: VecDeque<Event>,
}

impl Link {
    /// Connects to `127.0.0.1:port` with a NULL mechanism.
    pub fn connect(port: u16, config: Config) -> io::Result<Link> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        Ok(Link::new(stream, config))
    }

    /// Accepts one connection on `listener`.
    pub fn accept(listener: &TcpListener, config: Config) -> io::Result<Link> {
        let (stream, _) = listener.accept()?;
        Ok(Link::new(stream, config))
    }

    fn new(stream: TcpStream, config: Config) -> Link {
        stream.set_nodelay(true).unwrap();
        Link {
            stream,
            conn: Connection::new(config, Box::new(Null::new()), Instant::now()),
            buf: BytesMut::with_capacity(64 * 1024),
            events: VecDeque::new(),
        }
    }

    /// The connection, for inspection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Writes everything queued, with vectored writes.
    pub fn flush(&mut self) -> io::Result<()> {
        let out = self.conn.transmit();
        while out.has_remaining() {
            let mut slices = [IoSlice::new(&[]); 64];
            let n = out.chunks_vectored(&mut slices);
            let written = self.stream.write_vectored(&slices[..n])?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            out.advance(written);
        }
        Ok(())
    }

    /// One round: flush, read (or wait for a timer) until `deadline`,
    /// collect events. Returns `false` once the peer closed the stream.
    fn pump(&mut self, deadline: Instant) -> io::Result<bool> {
        self.flush()?;
        let now = Instant::now();
        let wake = self
            .conn
            .poll_timeout()
            .map_or(deadline, |t| t.min(deadline));
        let wait = wake
            .saturating_duration_since(now)
            .max(Duration::from_millis(1));
        self.stream.set_read_timeout(Some(wait))?;
        self.buf.reserve(self.conn.read_hint().max(16 * 1024));
        let mut chunk = vec![0u8; self.buf.capacity() - self.buf.len()];
        let open = match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                self.conn.handle_input(&mut self.buf, Instant::now());
                true
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                true
            }
            Err(e) => return Err(e),
        };
        self.conn.handle_timeout(Instant::now());
        self.events
            .extend(std::iter::from_fn(|| self.conn.poll_event()));
        self.flush()?;
        Ok(open)
    }

    /// The next event, pumping the link for at most `timeout`.
    pub fn next_event(&mut self, timeout: Duration) -> Event {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.events.pop_front() {
                return e;
            }
            assert!(Instant::now() < deadline, "no event within {timeout:?}");
            let open = self.pump(deadline).expect("link i/o");
            if !open && self.events.is_empty() {
                panic!("the peer closed the connection");
            }
        }
    }

    /// Keeps the link serviced (answering PINGs) for `period`, asserting
    /// that nothing but ordinary traffic happens.
    pub fn idle(&mut self, period: Duration) {
        let deadline = Instant::now() + period;
        while Instant::now() < deadline {
            assert!(
                self.pump(deadline).expect("link i/o"),
                "peer closed while idle"
            );
        }
        if let Some(Event::Closed(reason)) = self.events.back() {
            panic!("closed while idle: {reason}");
        }
    }

    /// Waits for the handshake to complete.
    pub fn handshake(&mut self) -> PeerInfo {
        match self.next_event(Duration::from_secs(10)) {
            Event::HandshakeSucceeded(info) => *info,
            other => panic!("expected the handshake, got {other:?}"),
        }
    }

    /// Sends a message and flushes it.
    pub fn send(&mut self, m: &Message) {
        self.conn.send(m).expect("send on an active connection");
        self.flush().expect("write");
    }

    /// The next message (other events are not expected).
    pub fn recv(&mut self) -> Message {
        match self.next_event(Duration::from_secs(20)) {
            Event::Message(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// The next subscription topic.
    pub fn subscription(&mut self) -> Bytes {
        match self.next_event(Duration::from_secs(10)) {
            Event::Subscribe(topic) => topic,
            other => panic!("expected a subscription, got {other:?}"),
        }
    }
}
