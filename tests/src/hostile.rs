//! Hostile peers (issue 13): raw-TCP attackers that speak just enough
//! ZMTP by hand to do harm, the server process they attack, and one trial
//! (attack, measure the server's memory, check that a well-behaved peer is
//! still served) shared by `tests/tests/hostile.rs`, which holds our
//! server to the bounds of `docs/limits.md`, and by the `hostile-attack`
//! bin that `benches/hostile.sh` runs against libzmq and against us.
//!
//! The server is a child process ([`Server`]): `hostile_server` (ours) or
//! `benches/hostile_server.py` (libzmq), which share a line protocol
//! described in `tests/src/bin/hostile_server.rs`.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout};
use zmtp_transport::{Message, Options, Socket, SocketType, TlsConfig, TlsRoots};

/// How long a well-behaved peer may take to be served during an attack.
pub const LEGIT_DEADLINE: Duration = Duration::from_secs(5);

// --- the server process ----------------------------------------------------

/// A server process under attack, killed when dropped.
pub struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    /// The TCP port it bound on 127.0.0.1.
    pub port: u16,
    /// For a `tls://` server, the roots its certificate chains to.
    pub tls: Option<TlsRoots>,
}

/// Memory of a process, from `/proc/PID/status`, in bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// Resident now (`VmRSS`).
    pub rss: u64,
    /// Highest resident so far (`VmHWM`).
    pub hwm: u64,
}

impl Server {
    /// Starts `program args...` and waits (up to 20 s) for its `port N`.
    pub fn spawn(program: &str, args: &[String]) -> io::Result<Server> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut server = Server {
            child,
            stdin,
            lines,
            port: 0,
            tls: None,
        };
        let line = server
            .next_line(Duration::from_secs(20))
            .ok_or_else(|| io::Error::other(format!("{program} printed no port")))?;
        server.port = line
            .strip_prefix("port ")
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| io::Error::other(format!("{program} said {line:?}")))?;
        Ok(server)
    }

    /// The endpoint it listens on.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "tls" } else { "tcp" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Its socket address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.port)
    }

    /// Its memory now (zeros if it is gone).
    pub fn memory(&self) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map_or(0, |kb| kb * 1024)
        };
        Memory {
            rss: field("VmRSS:"),
            hwm: field("VmHWM:"),
        }
    }

    /// CPU time it has used (user + system), from `/proc/PID/stat`,
    /// assuming the usual 100 ticks per second.
    pub fn cpu(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the parenthesised command name: state is field 3,
        // utime and stime are fields 14 and 15.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let tick = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Duration::from_millis((tick(11) + tick(12)) * 10)
    }

    /// Waits (up to 30 s) until it has worked off what the attack gave it:
    /// it used under 30 ms of CPU in the last 300 ms.
    pub async fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = self.cpu();
        while Instant::now() < deadline {
            sleep(Duration::from_millis(300)).await;
            let now = self.cpu();
            if now.saturating_sub(last) < Duration::from_millis(30) {
                return;
            }
            last = now;
        }
    }

    /// Whether it still runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends it one line on stdin.
    pub fn tell(&mut self, line: &str) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = writeln!(stdin, "{line}").and_then(|()| stdin.flush());
        }
    }

    /// Its next stdout line, waiting up to `wait`.
    pub fn next_line(&self, wait: Duration) -> Option<String> {
        self.lines.recv_timeout(wait).ok()
    }

    /// Waits (without blocking the runtime) until it prints `line`.
    pub async fn wait_for(&self, line: &str, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            while let Ok(got) = self.lines.try_recv() {
                if got == line {
                    return true;
                }
            }
            sleep(Duration::from_millis(10)).await;
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// --- ZMTP by hand ----------------------------------------------------------

/// Our 64-byte NULL greeting, version 3.1, as a client.
pub fn null_greeting() -> Vec<u8> {
    let mut g = vec![0u8; 64];
    g[0] = 0xff;
    g[9] = 0x7f;
    g[10] = 3;
    g[11] = 1;
    g[12..16].copy_from_slice(b"NULL");
    g
}

/// One frame: `flags` (MORE 0x01, COMMAND 0x04) and the body, in the short
/// form up to 255 bytes and the long form beyond.
pub fn frame(flags: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 9);
    frame_header(&mut out, flags, body.len() as u64);
    out.extend_from_slice(body);
    out
}

/// A frame header declaring `len` bytes.
pub fn frame_header(out: &mut Vec<u8>, flags: u8, len: u64) {
    match u8::try_from(len) {
        Ok(short) => out.extend_from_slice(&[flags, short]),
        Err(_) => {
            out.push(flags | 0x02);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
}

/// A command frame: name-length, name, data.
pub fn command(name: &str, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(1 + name.len() + data.len());
    body.push(name.len() as u8);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(data);
    frame(0x04, &body)
}

/// One metadata property.
pub fn property(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
    out.extend_from_slice(value);
}

/// A READY with `Socket-Type` and `extra` properties already encoded.
pub fn ready(socket_type: &str, extra: &[u8]) -> Vec<u8> {
    let mut props = Vec::new();
    property(&mut props, "Socket-Type", socket_type.as_bytes());
    props.extend_from_slice(extra);
    command("READY", &props)
}

/// A raw connection from `source` (a loopback address other than
/// 127.0.0.1 lets a test tell attackers from the legitimate peer).
pub async fn dial_from(source: Ipv4Addr, target: SocketAddr) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    socket.connect(target).await
}

/// A raw connection that has sent its greeting and READY as `socket_type`
/// (it reads nothing: the peer's half is left in the kernel).
pub async fn handshaken(target: SocketAddr, socket_type: &str) -> io::Result<TcpStream> {
    let mut stream = dial_from(ATTACKER, target).await?;
    stream.write_all(&null_greeting()).await?;
    stream.write_all(&ready(socket_type, &[])).await?;
    Ok(stream)
}

/// Where attackers connect from unless an attack says otherwise.
pub const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// Writes `data`, `chunk` bytes at a time, giving up when the peer closes
/// or pushes back for `stall`. Returns the bytes written and whether the
/// peer closed the link.
pub async fn pour(stream: &mut TcpStream, data: &[u8], stall: Duration) -> (u64, bool) {
    let mut sent = 0u64;
    for piece in data.chunks(64 * 1024) {
        match timeout(stall, stream.write_all(piece)).await {
            Ok(Ok(())) => sent += piece.len() as u64,
            Ok(Err(_)) => return (sent, true),
            Err(_) => return (sent, false),
        }
    }
    (sent, false)
}

/// Whether the server closes `stream` within `wait` (reading and dropping
/// whatever it sent first).
pub async fn closed_by_server(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

// --- the attacks -----------------------------------------------------------

/// One attack of the suite; `--attack NAME` of `hostile-attack`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// Links each pour 64 KiB of empty messages while the application is
    /// busy (issue row 1).
    EmptyFlood,
    /// One message that never ends, 2-byte frames (row 2).
    EndlessMultipart,
    /// PINGs from a peer that never reads (row 3).
    PingNoRead,
    /// Connections that send nothing, from one source (row 4).
    SilentHandshakes,
    /// Connections that send nothing, each from its own source address.
    SilentManySources,
    /// Greetings trickled a byte at a time.
    SlowLoris,
    /// Connections that send nothing to a `tls://` listener (not even a
    /// ClientHello), from one source.
    TlsSilent,
    /// Distinct SUBSCRIBEs to a PUB from one peer (row 5).
    Subscriptions,
    /// READYs packed with empty properties (row 6).
    MetadataProperties,
    /// A 60,000-byte Identity to a ROUTER (row 7).
    LongIdentity,
    /// XPUB notices while its inbound queue is full (row 9).
    XpubNotices,
    /// A frame declaring 1 GiB to a server with `maxmsgsize` 1 MiB.
    HugeFrameCapped,
    /// A frame declaring 1 GiB, partly sent, with no `maxmsgsize`.
    HugeFrameUncapped,
    /// Many short-lived connections, each handshaking and sending once.
    Churn,
    /// One-byte messages each followed by a read buffer's worth of PINGs
    /// (whose PONGs the attacker reads), while the application is busy:
    /// each queued message pins the buffer it arrived in.
    PinnedBuffers,
}

/// What a legitimate peer does to prove the server still serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legit {
    /// A PUSH sends `legit-push`; the server prints `got legit-push`.
    Push,
    /// A DEALER sends `legit-dealer`; the (ROUTER) server prints it.
    Dealer,
    /// A SUB to `legit.` receives a published tick.
    Sub,
    /// A SUB subscribed before the attack leaves after it; the (XPUB)
    /// server must print its subscribe and its cancel notice.
    Notices,
}

/// What an attack did, as the attacker saw it.
#[derive(Debug, Default)]
pub struct Report {
    /// Bytes the attacker got into the server's direction.
    pub sent: u64,
    /// Links (or connection attempts) the attack opened.
    pub links: usize,
    /// Of those, how many the server closed.
    pub closed: usize,
}

/// Connections an attack keeps open (and tasks it keeps running) while the
/// legitimate peer tries its luck; dropped after.
#[derive(Default)]
pub struct Held {
    streams: Vec<TcpStream>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Links of [`Attack::EmptyFlood`] (the issue had 150).
pub const FLOOD_LINKS: usize = 32;
/// Bytes of empty messages each flood link sends (2 bytes per message).
pub const FLOOD_BYTES: usize = 64 * 1024;
/// Bytes of 2-byte frames [`Attack::EndlessMultipart`] offers.
pub const MULTIPART_BYTES: usize = 8 * 1024 * 1024;
/// Bytes of PINGs [`Attack::PingNoRead`] offers.
pub const PING_BYTES: usize = 48 * 1024 * 1024;
/// Connections of the silent and slow-loris attacks (our default
/// `max_handshakes`).
pub const SILENT_LINKS: usize = 256;
/// SUBSCRIBEs of [`Attack::Subscriptions`] (as in the issue).
pub const SUBSCRIPTIONS: usize = 60_000;
/// Links of [`Attack::MetadataProperties`].
pub const METADATA_LINKS: usize = 64;
/// Bytes of the Identity of [`Attack::LongIdentity`].
pub const IDENTITY_BYTES: usize = 60_000;
/// Links of [`Attack::XpubNotices`], each subscribing [`NOTICE_TOPICS`].
pub const NOTICE_LINKS: usize = 4;
/// Distinct topics each [`Attack::XpubNotices`] link subscribes.
pub const NOTICE_TOPICS: usize = 5_000;
/// Bytes of the 1 GiB frame [`Attack::HugeFrameUncapped`] actually sends.
pub const HUGE_SENT: usize = 32 * 1024 * 1024;
/// Messages [`Attack::PinnedBuffers`] offers (the server's `rcvhwm` is
/// 200 of them).
pub const PINNED_MESSAGES: usize = 250;
/// PINGs after each of those messages: a 256 KiB read buffer's worth.
pub const PINNED_PAD: usize = 256 * 1024;
/// Connections of [`Attack::Churn`].
pub const CHURN_LINKS: usize = 2_000;

impl Attack {
    /// Every attack, in table order.
    pub const ALL: [Attack; 15] = [
        Attack::EmptyFlood,
        Attack::EndlessMultipart,
        Attack::PingNoRead,
        Attack::SilentHandshakes,
        Attack::SilentManySources,
        Attack::SlowLoris,
        Attack::TlsSilent,
        Attack::Subscriptions,
        Attack::MetadataProperties,
        Attack::LongIdentity,
        Attack::XpubNotices,
        Attack::HugeFrameCapped,
        Attack::HugeFrameUncapped,
        Attack::Churn,
        Attack::PinnedBuffers,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Attack::EmptyFlood => "empty-flood",
            Attack::EndlessMultipart => "endless-multipart",
            Attack::PingNoRead => "ping-no-read",
            Attack::SilentHandshakes => "silent-handshakes",
            Attack::SilentManySources => "silent-many-sources",
            Attack::SlowLoris => "slow-loris",
            Attack::TlsSilent => "tls-silent",
            Attack::Subscriptions => "subscriptions",
            Attack::MetadataProperties => "metadata-properties",
            Attack::LongIdentity => "long-identity",
            Attack::XpubNotices => "xpub-notices",
            Attack::HugeFrameCapped => "huge-frame-capped",
            Attack::HugeFrameUncapped => "huge-frame-uncapped",
            Attack::Churn => "churn",
            Attack::PinnedBuffers => "pinned-buffers",
        }
    }

    /// The attack called `name`.
    pub fn from_name(name: &str) -> Option<Attack> {
        Attack::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The server's arguments: socket type and options.
    pub fn server_args(self) -> Vec<String> {
        let args: &[&str] = match self {
            Attack::EmptyFlood => &["PULL", "busy=1"],
            Attack::EndlessMultipart
            | Attack::SilentHandshakes
            | Attack::SilentManySources
            | Attack::SlowLoris
            | Attack::TlsSilent
            | Attack::HugeFrameUncapped
            | Attack::Churn => &["PULL"],
            Attack::HugeFrameCapped => &["PULL", "maxmsgsize=1048576"],
            Attack::PingNoRead | Attack::LongIdentity | Attack::MetadataProperties => &["ROUTER"],
            Attack::Subscriptions => &["PUB"],
            Attack::XpubNotices => &["XPUB", "busy=1", "rcvhwm=16"],
            Attack::PinnedBuffers => &["PULL", "busy=1", "rcvhwm=200"],
        };
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    /// How the legitimate peer checks the server.
    pub fn legit(self) -> Legit {
        match self {
            Attack::PingNoRead | Attack::LongIdentity | Attack::MetadataProperties => Legit::Dealer,
            Attack::Subscriptions => Legit::Sub,
            Attack::XpubNotices => Legit::Notices,
            _ => Legit::Push,
        }
    }

    /// Whether the server's application is busy (reads nothing) during the
    /// attack and must be told to `read` before the legitimate peer checks.
    pub fn busy(self) -> bool {
        self.server_args().iter().any(|a| a == "busy=1")
    }

    /// Runs the attack against `target`; what it holds open stays open
    /// until the returned [`Held`] is dropped.
    pub async fn run(self, target: SocketAddr) -> io::Result<(Report, Held)> {
        match self {
            Attack::EmptyFlood => empty_flood(target).await,
            Attack::EndlessMultipart => endless_multipart(target).await,
            Attack::PingNoRead => ping_no_read(target).await,
            Attack::SilentHandshakes | Attack::TlsSilent => silent(target, |_| ATTACKER).await,
            Attack::SilentManySources => silent(target, many_sources).await,
            Attack::SlowLoris => slow_loris(target).await,
            Attack::Subscriptions => subscriptions(target).await,
            Attack::MetadataProperties => metadata_properties(target).await,
            Attack::LongIdentity => long_identity(target).await,
            Attack::XpubNotices => xpub_notices(target).await,
            Attack::HugeFrameCapped => huge_frame(target, 1 << 20).await,
            Attack::HugeFrameUncapped => huge_frame(target, HUGE_SENT).await,
            Attack::Churn => churn(target).await,
            Attack::PinnedBuffers => pinned_buffers(target).await,
        }
    }
}

/// The i-th of many source addresses: 127.1.x.y.
fn many_sources(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8)
}

/// Opens one handshaken link of `socket_type`, pours `data` into it for at
/// most `patience`, counts it in `report` and keeps it open in `held`.
async fn pour_link(
    target: SocketAddr,
    socket_type: &str,
    data: &[u8],
    patience: Duration,
    report: &mut Report,
    held: &mut Held,
) -> io::Result<()> {
    let mut stream = handshaken(target, socket_type).await?;
    let (sent, closed) = pour(&mut stream, data, patience).await;
    report.sent += sent;
    report.links += 1;
    report.closed += usize::from(closed);
    held.streams.push(stream);
    Ok(())
}

async fn empty_flood(target: SocketAddr) -> io::Result<(Report, Held)> {
    let empties = [0u8, 0].repeat(FLOOD_BYTES / 2);
    let mut report = Report::default();
    let mut held = Held::default();
    for _ in 0..FLOOD_LINKS {
        pour_link(
            target,
            "PUSH",
            &empties,
            Duration::from_secs(2),
            &mut report,
            &mut held,
        )
        .await?;
    }
    // Let the server's engines read what the kernel holds for them.
    sleep(Duration::from_secs(1)).await;
    Ok((report, held))
}

async fn endless_multipart(target: SocketAddr) -> io::Result<(Report, Held)> {
    let frames = [1u8, 0].repeat(MULTIPART_BYTES / 2);
    one_link(target, "PUSH", &frames).await
}

/// One handshaken link pouring `data`; the report says whether the server
/// closed it (within 2 s after the last byte).
async fn one_link(
    target: SocketAddr,
    socket_type: &str,
    data: &[u8],
) -> io::Result<(Report, Held)> {
    let mut stream = handshaken(target, socket_type).await?;
    let (sent, mut closed) = pour(&mut stream, data, Duration::from_secs(3)).await;
    if !closed {
        closed = closed_by_server(&mut stream, Duration::from_secs(2)).await;
    }
    let report = Report {
        sent,
        links: 1,
        closed: usize::from(closed),
    };
    let mut held = Held::default();
    held.streams.push(stream);
    Ok((report, held))
}

async fn ping_no_read(target: SocketAddr) -> io::Result<(Report, Held)> {
    let mut data = b"\x04PING\x00\x00".to_vec();
    data.extend_from_slice(&[0xab; 16]);
    let ping = frame(0x04, &data);
    let pings = ping.repeat(PING_BYTES / ping.len());
    let mut stream = handshaken(target, "DEALER").await?;
    let (sent, closed) = pour(&mut stream, &pings, Duration::from_secs(3)).await;
    // Never read: the PONGs stay in the server's direction.
    sleep(Duration::from_millis(500)).await;
    let report = Report {
        sent,
        links: 1,
        closed: usize::from(closed),
    };
    let mut held = Held::default();
    held.streams.push(stream);
    Ok((report, held))
}

async fn silent(
    target: SocketAddr,
    source: impl Fn(usize) -> Ipv4Addr,
) -> io::Result<(Report, Held)> {
    let mut held = Held::default();
    for i in 0..SILENT_LINKS {
        held.streams.push(dial_from(source(i), target).await?);
    }
    sleep(Duration::from_millis(300)).await;
    let report = Report {
        links: SILENT_LINKS,
        ..Report::default()
    };
    Ok((report, held))
}

async fn slow_loris(target: SocketAddr) -> io::Result<(Report, Held)> {
    let mut held = Held::default();
    for _ in 0..SILENT_LINKS {
        let mut stream = dial_from(ATTACKER, target).await?;
        held.tasks.push(tokio::spawn(async move {
            for byte in null_greeting() {
                if stream.write_all(&[byte]).await.is_err() {
                    return;
                }
                sleep(Duration::from_millis(500)).await;
            }
            std::future::pending::<()>().await;
        }));
    }
    sleep(Duration::from_millis(300)).await;
    let report = Report {
        links: SILENT_LINKS,
        ..Report::default()
    };
    Ok((report, held))
}

async fn subscriptions(target: SocketAddr) -> io::Result<(Report, Held)> {
    let mut data = Vec::with_capacity(SUBSCRIPTIONS * 20);
    for i in 0..SUBSCRIPTIONS {
        data.extend_from_slice(&command("SUBSCRIBE", format!("t{i:06}").as_bytes()));
    }
    let mut stream = handshaken(target, "SUB").await?;
    let (sent, mut closed) = pour(&mut stream, &data, Duration::from_secs(3)).await;
    if !closed {
        // A per-peer cap closes the link once the server has read past it.
        closed = closed_by_server(&mut stream, Duration::from_secs(3)).await;
    }
    let report = Report {
        sent,
        links: 1,
        closed: usize::from(closed),
    };
    let mut held = Held::default();
    // Read (and drop) what is published, as a subscriber would.
    held.tasks.push(tokio::spawn(async move {
        let _ = closed_by_server(&mut stream, Duration::from_secs(3600)).await;
    }));
    Ok((report, held))
}

async fn metadata_properties(target: SocketAddr) -> io::Result<(Report, Held)> {
    // Just under the 64 KiB handshake frame cap: 6 bytes a property.
    let mut extra = Vec::new();
    while extra.len() + 6 < 64 * 1024 - 64 {
        property(&mut extra, "x", b"");
    }
    let command = ready("DEALER", &extra);
    let mut report = Report::default();
    let mut held = Held::default();
    for _ in 0..METADATA_LINKS {
        let mut stream = dial_from(ATTACKER, target).await?;
        let mut hello = null_greeting();
        hello.extend_from_slice(&command);
        // A link the server refused or closed shows as such below.
        let (sent, _) = pour(&mut stream, &hello, Duration::from_secs(2)).await;
        report.sent += sent;
        report.links += 1;
        held.streams.push(stream);
    }
    sleep(Duration::from_millis(500)).await;
    for stream in &mut held.streams {
        if closed_by_server(stream, Duration::from_millis(50)).await {
            report.closed += 1;
        }
    }
    Ok((report, held))
}

async fn long_identity(target: SocketAddr) -> io::Result<(Report, Held)> {
    let mut extra = Vec::new();
    property(&mut extra, "Identity", &vec![b'i'; IDENTITY_BYTES]);
    let mut stream = dial_from(ATTACKER, target).await?;
    stream.write_all(&null_greeting()).await?;
    stream.write_all(&ready("DEALER", &extra)).await?;
    stream.write_all(&frame(0, b"attacker")).await?;
    let closed = closed_by_server(&mut stream, Duration::from_secs(3)).await;
    let report = Report {
        sent: (IDENTITY_BYTES + 100) as u64,
        links: 1,
        closed: usize::from(closed),
    };
    Ok((report, Held::default()))
}

async fn xpub_notices(target: SocketAddr) -> io::Result<(Report, Held)> {
    let mut report = Report::default();
    let mut held = Held::default();
    for link in 0..NOTICE_LINKS {
        let mut data = Vec::new();
        for i in 0..NOTICE_TOPICS {
            data.extend_from_slice(&command("SUBSCRIBE", format!("x{link}.{i}").as_bytes()));
        }
        pour_link(
            target,
            "SUB",
            &data,
            Duration::from_secs(3),
            &mut report,
            &mut held,
        )
        .await?;
    }
    sleep(Duration::from_millis(500)).await;
    Ok((report, held))
}

async fn huge_frame(target: SocketAddr, body: usize) -> io::Result<(Report, Held)> {
    let mut data = Vec::with_capacity(body + 9);
    frame_header(&mut data, 0, 1 << 30);
    data.resize(body + 9, 0x5a);
    one_link(target, "PUSH", &data).await
}

async fn churn(target: SocketAddr) -> io::Result<(Report, Held)> {
    let mut report = Report::default();
    for _ in 0..CHURN_LINKS {
        report.links += 1;
        // The server may refuse a newcomer (a per-source cap on links in
        // their handshake): that is the server's call, not an attack error.
        let sent = async {
            let mut stream = handshaken(target, "PUSH").await?;
            stream.write_all(&frame(0, b"churn")).await
        };
        match sent.await {
            Ok(()) => report.sent += 5,
            Err(_) => report.closed += 1,
        }
    }
    sleep(Duration::from_millis(500)).await;
    Ok((report, Held::default()))
}

/// A CA and a server certificate for 127.0.0.1 signed by it, the
/// certificate and key written as PEM files into `dir`: the CA's roots and
/// the server arguments naming the files.
pub fn tls_files(dir: &Path) -> io::Result<(TlsRoots, Vec<String>)> {
    let err = |e: rcgen::Error| io::Error::other(e.to_string());
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).map_err(err)?;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().map_err(err)?;
    let cert = params.signed_by(&key, &issuer).map_err(err)?;
    std::fs::create_dir_all(dir)?;
    let cert_path = dir.join("server.pem");
    let key_path = dir.join("server.key");
    std::fs::write(&cert_path, cert.pem())?;
    std::fs::write(&key_path, key.serialize_pem())?;
    let roots = TlsRoots::from_pem(ca_cert.pem().as_bytes())
        .map_err(|e| io::Error::other(e.to_string()))?;
    let files = vec![
        format!("tls_cert={}", cert_path.display()),
        format!("tls_key={}", key_path.display()),
    ];
    Ok((roots, files))
}

async fn pinned_buffers(target: SocketAddr) -> io::Result<(Report, Held)> {
    let mut ping = b"\x04PING\x00\x00".to_vec();
    ping.extend_from_slice(&[0xab; 16]);
    let ping = frame(0x04, &ping);
    let mut unit = frame(0, b"p");
    unit.extend_from_slice(&ping.repeat(PINNED_PAD / ping.len()));
    let stream = handshaken(target, "PUSH").await?;
    let (mut rx, mut tx) = stream.into_split();
    let mut held = Held::default();
    // Read (and drop) the PONGs, so the server keeps reading.
    held.tasks.push(tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while matches!(rx.read(&mut buf).await, Ok(n) if n > 0) {}
    }));
    let mut report = Report {
        links: 1,
        ..Report::default()
    };
    for _ in 0..PINNED_MESSAGES {
        match timeout(Duration::from_secs(3), tx.write_all(&unit)).await {
            Ok(Ok(())) => report.sent += unit.len() as u64,
            Ok(Err(_)) => {
                report.closed = 1;
                break;
            }
            Err(_) => break, // pushed back: the queue is full
        }
    }
    held.tasks.push(tokio::spawn(async move {
        let _keep = tx;
        std::future::pending::<()>().await;
    }));
    Ok((report, held))
}

// --- the legitimate peer -----------------------------------------------------

/// Whether a well-behaved peer is served within [`LEGIT_DEADLINE`].
pub async fn legit_served(legit: Legit, server: &mut Server, sub: Option<Socket>) -> bool {
    let endpoint = server.endpoint();
    match legit {
        Legit::Push | Legit::Dealer => {
            let (socket_type, text) = if legit == Legit::Push {
                (SocketType::Push, "legit-push")
            } else {
                (SocketType::Dealer, "legit-dealer")
            };
            let mut options = quick_options(socket_type);
            options.tls = server.tls.clone().map(TlsConfig::client);
            let socket = Socket::with_options(socket_type, options);
            let sent = within(async {
                let mut m = Message::new();
                m.push(text.as_bytes().to_vec());
                socket.connect(&endpoint).await.is_ok() && socket.send(m).await.is_ok()
            })
            .await;
            sent && server
                .wait_for(&format!("got {text}"), LEGIT_DEADLINE)
                .await
        }
        Legit::Sub => {
            let socket = Socket::with_options(SocketType::Sub, quick_options(SocketType::Sub));
            within(async {
                socket.subscribe("legit.").is_ok()
                    && socket.connect(&endpoint).await.is_ok()
                    && socket.recv().await.is_ok()
            })
            .await
        }
        Legit::Notices => {
            // The subscriber leaves: its cancel notice is made by the
            // socket itself, into the full inbound queue.
            let Some(socket) = sub else { return false };
            let closed = timeout(LEGIT_DEADLINE, socket.close()).await.is_ok();
            sleep(Duration::from_millis(300)).await;
            server.tell("read");
            closed
                && server.wait_for("sub legit.", LEGIT_DEADLINE).await
                && server.wait_for("unsub legit.", LEGIT_DEADLINE).await
        }
    }
}

/// Whether `step` comes true within [`LEGIT_DEADLINE`].
async fn within(step: impl std::future::Future<Output = bool>) -> bool {
    timeout(LEGIT_DEADLINE, step).await.unwrap_or(false)
}

/// A subscriber to `legit.` that has received a tick, made before an
/// [`Legit::Notices`] attack.
pub async fn early_subscriber(server: &Server) -> Option<Socket> {
    let socket = Socket::with_options(SocketType::Sub, quick_options(SocketType::Sub));
    socket.subscribe("legit.").ok()?;
    socket.connect(&server.endpoint()).await.ok()?;
    timeout(LEGIT_DEADLINE, socket.recv()).await.ok()?.ok()?;
    Some(socket)
}

/// The legitimate peer's options: reconnect quickly after a refusal.
fn quick_options(socket_type: SocketType) -> Options {
    let mut options = Options::new(socket_type);
    options.reconnect_ivl = Duration::from_millis(50);
    options.reconnect_ivl_max = Duration::from_millis(200);
    options
}

// --- one trial ---------------------------------------------------------------

/// What one attack did to one server.
#[derive(Debug)]
pub struct Trial {
    /// The attack.
    pub attack: Attack,
    /// What the attacker saw.
    pub report: Report,
    /// The server's resident memory before the attack.
    pub before: u64,
    /// Its peak during the attack (`VmHWM`), minus `before`.
    pub growth: u64,
    /// Its resident memory after the legitimate peer's turn, minus
    /// `before` (negative growth reads as zero).
    pub after: u64,
    /// CPU time the server used from the attack's start until it settled
    /// (see [`Server::settle`]) and the legitimate peer had its turn.
    pub cpu: Duration,
    /// Whether the legitimate peer was served within [`LEGIT_DEADLINE`].
    pub legit_served: bool,
    /// Whether the server still runs at the end.
    pub alive: bool,
}

impl Trial {
    /// One line for `benches/hostile.sh`: growth and outcome.
    pub fn summary(&self) -> String {
        format!(
            "+{:.1} MB peak, {} ({}/{} links closed, {:.1} MB sent, {:.2} s CPU){}",
            self.growth as f64 / 1e6,
            if self.legit_served {
                "legit served"
            } else {
                "LEGIT NOT SERVED"
            },
            self.report.closed,
            self.report.links,
            self.report.sent as f64 / 1e6,
            self.cpu.as_secs_f64(),
            if self.alive { "" } else { ", SERVER DIED" },
        )
    }
}

/// Starts `program` with the attack's server arguments, attacks it, and
/// checks a legitimate peer.
pub async fn trial(attack: Attack, program: &str, prefix: &[String]) -> io::Result<Trial> {
    let mut args = prefix.to_vec();
    args.extend(attack.server_args());
    let mut roots = None;
    if attack == Attack::TlsSilent {
        let dir = std::env::temp_dir().join(format!("hostile-tls-{}", std::process::id()));
        let (ca, files) = tls_files(&dir)?;
        roots = Some(ca);
        args.extend(files);
    }
    let mut server = Server::spawn(program, &args)?;
    server.tls = roots;
    let sub = if attack.legit() == Legit::Notices {
        early_subscriber(&server).await
    } else {
        None
    };
    sleep(Duration::from_millis(300)).await;
    let before = server.memory().rss;
    let cpu_before = server.cpu();
    let (report, held) = attack.run(server.addr()).await?;
    server.settle().await;
    let growth = server.memory().hwm.saturating_sub(before);
    if attack.busy() && attack.legit() != Legit::Notices {
        server.tell("read");
    }
    let legit_served = legit_served(attack.legit(), &mut server, sub).await;
    let after = server.memory().rss.saturating_sub(before);
    let cpu = server.cpu().saturating_sub(cpu_before);
    drop(held);
    let alive = server.alive();
    Ok(Trial {
        attack,
        report,
        before,
        growth,
        after,
        cpu,
        legit_served,
        alive,
    })
}
