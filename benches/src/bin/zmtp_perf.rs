//! `zmtp-perf`: libzmq's perf tools for zmtp-rs, with the same arguments and
//! output lines as `benches/probe/zmq_probe.c` (libzmq), so
//! `benches/compare.sh` can set the two side by side.
//!
//! ```text
//! zmtp-perf local_thr  EP SIZE COUNT   bind PULL, time COUNT messages
//! zmtp-perf remote_thr EP SIZE COUNT   connect PUSH, send COUNT messages
//! zmtp-perf local_lat  EP SIZE COUNT   bind REP, echo COUNT messages
//! zmtp-perf remote_lat EP SIZE COUNT   connect REQ, COUNT round trips
//! zmtp-perf inproc_thr SIZE COUNT      both throughput ends, inproc://
//! zmtp-perf local_mem  EP SIZE COUNT   bind PULL, never read
//! zmtp-perf remote_mem EP SIZE COUNT   connect PUSH, queue until blocked,
//!                                      report the memory that took
//! zmtp-perf local_idle  EP SIZE COUNT  bind PULL, one message from each of
//!                                      COUNT peers, report the memory they
//!                                      took
//! zmtp-perf remote_idle EP SIZE COUNT  COUNT PUSH sockets, one connection
//!                                      and one message each, then idle
//! ```
//!
//! As in libzmq's tools the throughput clock starts at the first message
//! received and stops at the last; the latency is half the mean round trip,
//! and `remote_lat` adds the median and 99th percentile round trip. The
//! sender hands the socket a buffer of its own per message, as libzmq's
//! `remote_thr` does with `zmq_msg_init_size` (see [`Bodies`]).
//!
//! Settings for experiments (the defaults are what `compare.sh` measures):
//! - `ZMTP_PERF_RUNTIME=current_thread` (default) or `multi_thread[:N]`
//!   (N workers, default 2). The current-thread runtime is the faster here
//!   (2 cores, 64 B over tcp: 4.2 M msg/s against 3.1 M with two workers and
//!   4.0 M with one; REQ/REP 23 us against 56 and 44). A process is one
//!   engine task and one application loop handing messages over through
//!   the socket's queues: on one thread a hand-off is a queue operation and
//!   a task switch, across threads it may be a futex wake-up and cache
//!   lines moving between cores, and with both ends of a test on 2 cores,
//!   extra workers only compete for them.
//! - `ZMTP_PERF_API=handles` (default: the throughput modes send through a
//!   [`zmtp_transport::Sender`] and receive through a
//!   [`zmtp_transport::Receiver`], the socket's ends for one task, as a
//!   libzmq socket belongs to one thread), `async` (`Socket::send().await`,
//!   `Socket::recv().await` on the shared handle) or `try` (`try_send` /
//!   `try_recv` first, the async call only when they would block). The
//!   latency modes use the socket's own calls in every setting.
//! - `ZMTP_PERF_PAYLOAD=recycled` (default, see [`Bodies`]), `fresh` (a
//!   newly zeroed allocation per message: `calloc`, which for large sizes
//!   costs a memset or page faults that libzmq's `malloc` does not) or
//!   `shared` (one `Bytes` cloned for every message: no allocation at all).
//! - `ZMTP_PERF_BLOCK_ON=1`: the application loop is the future the
//!   runtime's `block_on` drives instead of a spawned task (before issue 15
//!   it always was; each wake-up of that future costs tokio a non-blocking
//!   `epoll_wait` first).
//! - `PERF_CURVE=1` (read by `zmq_probe` too): the binding side is a CURVE
//!   server and the connecting side its client, with fixed benchmark keys.

use std::collections::VecDeque;
use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;
use zmtp_transport::{
    CurveKeyPair, CurveSecretKey, Error, Message, Options, Security, Socket, SocketType,
    TrySendError,
};

const USAGE: &str = "usage: zmtp-perf local_thr|remote_thr|local_lat|remote_lat|local_mem|remote_mem|local_idle|remote_idle EP SIZE COUNT\n       \
                     zmtp-perf inproc_thr SIZE COUNT";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    LocalThr,
    RemoteThr,
    LocalLat,
    RemoteLat,
    LocalMem,
    RemoteMem,
    LocalIdle,
    RemoteIdle,
    InprocThr,
}

/// How messages are sent and received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Async,
    Try,
    Handles,
}

#[derive(Debug, Clone)]
struct Run {
    mode: Mode,
    endpoint: String,
    size: usize,
    count: u64,
    api: Api,
    payload: Payload,
}

/// Where the sender's message bodies come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payload {
    Recycled,
    Fresh,
    Shared,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = match parse(&args) {
        Ok(run) => run,
        Err(why) => {
            eprintln!("zmtp-perf: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match build_runtime() {
        Ok(runtime) => runtime,
        Err(why) => {
            eprintln!("zmtp-perf: {why}");
            return ExitCode::from(2);
        }
    };
    // The application loop runs as a task of its own, not as the future
    // `block_on` drives: when a link's task wakes a task, the scheduler
    // runs it next, but when it wakes `block_on`'s future, tokio first
    // polls the I/O driver without blocking (one more `epoll_wait` per
    // hand-over: a quarter of a REQ/REP round trip's system calls).
    let app = if std::env::var("ZMTP_PERF_BLOCK_ON").as_deref() == Ok("1") {
        runtime.block_on(execute(run))
    } else {
        let app = runtime.spawn(execute(run));
        runtime
            .block_on(app)
            .unwrap_or_else(|e| Err(format!("the application task failed: {e}")))
    };
    match app {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("zmtp-perf: {why}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> Result<Run, String> {
    let number = |text: &str, what: &str| {
        text.parse::<u64>()
            .map_err(|_| format!("{what} must be a number, not {text:?}"))
    };
    let (mode, endpoint, size, count) = match args {
        [mode, size, count] if mode == "inproc_thr" => (
            Mode::InprocThr,
            format!("inproc://zmtp-perf-{}", std::process::id()),
            size,
            count,
        ),
        [mode, endpoint, size, count] => {
            let mode = match mode.as_str() {
                "local_thr" => Mode::LocalThr,
                "remote_thr" => Mode::RemoteThr,
                "local_lat" => Mode::LocalLat,
                "remote_lat" => Mode::RemoteLat,
                "local_mem" => Mode::LocalMem,
                "remote_mem" => Mode::RemoteMem,
                "local_idle" => Mode::LocalIdle,
                "remote_idle" => Mode::RemoteIdle,
                other => return Err(format!("unknown mode {other:?}")),
            };
            (mode, endpoint.clone(), size, count)
        }
        _ => return Err("wrong number of arguments".into()),
    };
    let size = usize::try_from(number(size, "SIZE")?).map_err(|_| "SIZE is too large")?;
    let count = number(count, "COUNT")?;
    if count == 0 {
        return Err("COUNT must be at least 1".into());
    }
    let api = match std::env::var("ZMTP_PERF_API").as_deref() {
        Err(_) | Ok("handles") => Api::Handles,
        Ok("async") => Api::Async,
        Ok("try") => Api::Try,
        Ok(other) => {
            return Err(format!(
                "ZMTP_PERF_API={other:?}: use handles, async or try"
            ));
        }
    };
    let payload = match std::env::var("ZMTP_PERF_PAYLOAD").as_deref() {
        Err(_) | Ok("recycled") => Payload::Recycled,
        Ok("fresh") => Payload::Fresh,
        Ok("shared") => Payload::Shared,
        Ok(other) => {
            return Err(format!(
                "ZMTP_PERF_PAYLOAD={other:?}: use recycled, fresh or shared"
            ));
        }
    };
    Ok(Run {
        mode,
        endpoint,
        size,
        count,
        api,
        payload,
    })
}

fn build_runtime() -> Result<tokio::runtime::Runtime, String> {
    let setting = std::env::var("ZMTP_PERF_RUNTIME").unwrap_or_default();
    let mut builder = match setting.split_once(':') {
        _ if setting.is_empty() || setting == "current_thread" => {
            tokio::runtime::Builder::new_current_thread()
        }
        _ if setting == "multi_thread" => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        }
        Some(("multi_thread", n)) => {
            let n: usize = n
                .parse()
                .map_err(|_| format!("ZMTP_PERF_RUNTIME={setting:?}: bad worker count"))?;
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n.max(1));
            b
        }
        _ => {
            return Err(format!(
                "ZMTP_PERF_RUNTIME={setting:?}: use current_thread or multi_thread[:N]"
            ));
        }
    };
    builder
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))
}

async fn execute(run: Run) -> Result<(), String> {
    match run.mode {
        Mode::LocalThr => {
            let pull = bound(SocketType::Pull, &run.endpoint).await?;
            local_thr(&pull, &run).await?;
            pull.close().await;
        }
        Mode::RemoteThr => {
            let push = connected(SocketType::Push, &run.endpoint).await?;
            remote_thr(push, &run).await?;
        }
        Mode::LocalLat => {
            let rep = bound(SocketType::Rep, &run.endpoint).await?;
            local_lat(&rep, &run).await?;
            rep.close().await;
        }
        Mode::RemoteLat => {
            let req = connected(SocketType::Req, &run.endpoint).await?;
            remote_lat(&req, &run).await?;
            req.close().await;
        }
        Mode::LocalMem => {
            // A PULL that never reads; compare.sh kills it.
            let _pull = bound(SocketType::Pull, &run.endpoint).await?;
            tokio::time::sleep(std::time::Duration::from_secs(120)).await;
        }
        Mode::RemoteMem => {
            let push = connected(SocketType::Push, &run.endpoint).await?;
            remote_mem(&push, &run).await?;
        }
        Mode::LocalIdle => {
            let pull = bound(SocketType::Pull, &run.endpoint).await?;
            local_idle(&pull, &run).await?;
        }
        Mode::RemoteIdle => remote_idle(&run).await?,
        Mode::InprocThr => {
            let pull = bound(SocketType::Pull, &run.endpoint).await?;
            let push = connected(SocketType::Push, &run.endpoint).await?;
            let sender = tokio::spawn({
                let run = run.clone();
                async move { remote_thr(push, &run).await }
            });
            local_thr(&pull, &run).await?;
            sender
                .await
                .map_err(|e| format!("sender task failed: {e}"))??;
            pull.close().await;
        }
    }
    Ok(())
}

/// Benchmark-only CURVE keys, the same as in `zmq_probe.c` (public keys are
/// derived from these secrets).
const CURVE_SERVER_SECRET: &str = "mM-3H:3RpF^*)oy+}mmI83mR@o6#c({IL)Gro>H2";
const CURVE_CLIENT_SECRET: &str = ">[oi5t}vO$:W^i=?yUE#jfaTZO1&WbOR1*:HoBQ>";

/// The socket's options: with `PERF_CURVE=1` the binding side is a CURVE
/// server and the connecting side its client.
fn options(socket_type: SocketType, bind: bool) -> Result<Options, String> {
    let mut options = Options::new(socket_type);
    if std::env::var("PERF_CURVE").as_deref() != Ok("1") {
        return Ok(options);
    }
    let secret = |z85: &str| CurveSecretKey::from_z85(z85).map_err(|e| e.to_string());
    let server = CurveKeyPair::from_secret(secret(CURVE_SERVER_SECRET)?);
    options.security = if bind {
        Security::CurveServer { keys: server }
    } else {
        Security::CurveClient {
            keys: CurveKeyPair::from_secret(secret(CURVE_CLIENT_SECRET)?),
            server_key: *server.public(),
        }
    };
    Ok(options)
}

async fn bound(socket_type: SocketType, endpoint: &str) -> Result<Socket, String> {
    let socket = Socket::with_options(socket_type, options(socket_type, true)?);
    socket
        .bind(endpoint)
        .await
        .map_err(|e| format!("bind {endpoint}: {e}"))?;
    Ok(socket)
}

async fn connected(socket_type: SocketType, endpoint: &str) -> Result<Socket, String> {
    let socket = Socket::with_options(socket_type, options(socket_type, false)?);
    socket
        .connect(endpoint)
        .await
        .map_err(|e| format!("connect {endpoint}: {e}"))?;
    Ok(socket)
}

/// Sends one message the way the run asks.
async fn send(socket: &Socket, message: Message, run: &Run) -> Result<(), String> {
    if run.api == Api::Try {
        match socket.try_send(message) {
            Ok(()) => return Ok(()),
            Err(TrySendError {
                error: Error::WouldBlock,
                message,
            }) => return socket.send(message).await.map_err(|e| e.to_string()),
            Err(e) => return Err(e.error.to_string()),
        }
    }
    socket.send(message).await.map_err(|e| e.to_string())
}

/// Receives one message the way the run asks.
async fn recv(socket: &Socket, run: &Run) -> Result<Message, String> {
    if run.api == Api::Try {
        match socket.try_recv() {
            Err(Error::WouldBlock) => {}
            other => return other.map_err(|e| e.to_string()),
        }
    }
    socket.recv().await.map_err(|e| e.to_string())
}

fn check_size(message: &Message, size: usize) -> Result<(), String> {
    if message.len() == 1 && message.size() == size {
        Ok(())
    } else {
        Err(format!(
            "message of bad size: {} frames, {} bytes (expected one frame of {size})",
            message.len(),
            message.size()
        ))
    }
}

/// libzmq's local_thr: the clock runs from the first message to the last.
async fn local_thr(pull: &Socket, run: &Run) -> Result<(), String> {
    check_size(&recv(pull, run).await?, run.size)?;
    let start = Instant::now();
    if run.api == Api::Handles {
        // The socket's receiving end for one task, as a libzmq socket
        // belongs to one thread.
        let mut receiver = pull.receiver();
        for _ in 1..run.count {
            let message = receiver.recv().await.map_err(|e| e.to_string())?;
            check_size(&message, run.size)?;
        }
    } else if run.api == Api::Async {
        // The plain call in the loop, as an application writes it (no
        // helper future around it).
        for _ in 1..run.count {
            let message = pull.recv().await.map_err(|e| e.to_string())?;
            check_size(&message, run.size)?;
        }
    } else {
        for _ in 1..run.count {
            check_size(&recv(pull, run).await?, run.size)?;
        }
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    let msgs = run.count as f64 / secs;
    println!("message size: {} [B]", run.size);
    println!("message count: {}", run.count);
    println!("mean throughput: {msgs:.0} [msg/s]");
    println!(
        "mean throughput: {:.3} [Mb/s]",
        msgs * run.size as f64 * 8.0 / 1e6
    );
    Ok(())
}

/// The sender's message bodies, one per message as libzmq's `remote_thr`
/// mallocs one per message.
///
/// A body the socket has finished with (written out, dropped by the link)
/// is handed out again, as `malloc` hands out freed memory; otherwise a new
/// one is made. Zeroing a fresh buffer every time (`calloc`) would cost the
/// sender, at 1 MiB, a memset or 256 page faults per message that libzmq's
/// uninitialised `malloc` does not pay, and halve the large-message rows.
struct Bodies {
    size: usize,
    /// Handed-out bodies, oldest first: the first to come free.
    out: VecDeque<Bytes>,
}

impl Bodies {
    fn new(size: usize) -> Self {
        Bodies {
            size,
            out: VecDeque::new(),
        }
    }

    fn next(&mut self) -> Bytes {
        let body = match self.out.front() {
            Some(oldest) if oldest.is_unique() => self.out.pop_front(),
            _ => None,
        }
        .unwrap_or_else(|| Bytes::from(vec![0u8; self.size]));
        self.out.push_back(body.clone());
        body
    }
}

/// libzmq's remote_thr: COUNT messages, then linger until all are written.
async fn remote_thr(push: Socket, run: &Run) -> Result<(), String> {
    let shared = Bytes::from(vec![0u8; run.size]);
    let mut bodies = Bodies::new(run.size);
    let plain = run.api == Api::Async;
    let mut sender = push.sender();
    for _ in 0..run.count {
        let body = match run.payload {
            Payload::Recycled => bodies.next(),
            Payload::Fresh => Bytes::from(vec![0u8; run.size]),
            Payload::Shared => shared.clone(),
        };
        if run.api == Api::Handles {
            sender.send(body).await.map_err(|e| e.to_string())?;
        } else if plain {
            // The plain call, as an application writes it.
            push.send(body).await.map_err(|e| e.to_string())?;
        } else {
            send(&push, Message::from(body), run).await?;
        }
    }
    push.close().await;
    Ok(())
}

/// libzmq's local_lat: echo COUNT messages.
async fn local_lat(rep: &Socket, run: &Run) -> Result<(), String> {
    for _ in 0..run.count {
        let message = recv(rep, run).await?;
        check_size(&message, run.size)?;
        send(rep, message, run).await?;
    }
    Ok(())
}

/// A PUSH facing a PULL that never reads: queues fresh messages without
/// waiting until nothing more goes for half a second (COUNT at most), then
/// reports how many it queued and how much its resident memory grew.
async fn remote_mem(push: &Socket, run: &Run) -> Result<(), String> {
    let before = rss_bytes();
    let mut queued = 0u64;
    let mut idle = 0;
    while queued < run.count && idle < 50 {
        // Written, so every page is really there (as the C probe's memset).
        match push.try_send(vec![1u8; run.size]) {
            Ok(()) => {
                queued += 1;
                idle = 0;
            }
            Err(TrySendError {
                error: Error::WouldBlock,
                ..
            }) => {
                idle += 1;
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            Err(e) => return Err(e.error.to_string()),
        }
    }
    println!("message size: {} [B]", run.size);
    println!("queued: {queued} [msg]");
    println!("sender memory: {} [B]", rss_bytes() - before);
    Ok(())
}

/// The binding side of the idle-connections row: measures its resident
/// memory, receives one message from each of COUNT peers (so every
/// connection is up and past its handshake), lets them settle for 200 ms and
/// measures again.
async fn local_idle(pull: &Socket, run: &Run) -> Result<(), String> {
    let before = rss_bytes();
    for _ in 0..run.count {
        check_size(&pull.recv().await.map_err(|e| e.to_string())?, run.size)?;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let grown = rss_bytes() - before;
    println!("connections: {}", run.count);
    println!("receiver memory: {grown} [B]");
    println!(
        "memory per connection: {} [B]",
        grown / i64::try_from(run.count).unwrap_or(i64::MAX)
    );
    Ok(())
}

/// COUNT idle peers: a PUSH socket each, one message each, then nothing
/// until `compare.sh` kills the process.
async fn remote_idle(run: &Run) -> Result<(), String> {
    let mut peers = Vec::with_capacity(usize::try_from(run.count).unwrap_or(0));
    for _ in 0..run.count {
        let push = connected(SocketType::Push, &run.endpoint).await?;
        push.send(vec![1u8; run.size])
            .await
            .map_err(|e| e.to_string())?;
        peers.push(push);
    }
    tokio::time::sleep(std::time::Duration::from_secs(120)).await;
    drop(peers);
    Ok(())
}

/// This process's resident set size in bytes (0 if unknown).
fn rss_bytes() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// libzmq's remote_lat, with the median and 99th percentile round trip.
async fn remote_lat(req: &Socket, run: &Run) -> Result<(), String> {
    let payload = Bytes::from(vec![0u8; run.size]);
    let mut round_trips = Vec::with_capacity(usize::try_from(run.count).unwrap_or(0));
    let start = Instant::now();
    for _ in 0..run.count {
        let sent = Instant::now();
        send(req, Message::from(payload.clone()), run).await?;
        let reply = recv(req, run).await?;
        round_trips.push(sent.elapsed());
        check_size(&reply, run.size)?;
    }
    let elapsed_us = start.elapsed().as_secs_f64() * 1e6;
    round_trips.sort_unstable();
    let quantile = |q: f64| {
        let rank = ((q * round_trips.len() as f64).ceil() as usize).clamp(1, round_trips.len());
        round_trips[rank - 1].as_secs_f64() * 1e6
    };
    println!("message size: {} [B]", run.size);
    println!("roundtrip count: {}", run.count);
    println!(
        "average latency: {:.3} [us]",
        elapsed_us / run.count as f64 / 2.0
    );
    println!("p50 roundtrip: {:.3} [us]", quantile(0.50));
    println!("p99 roundtrip: {:.3} [us]", quantile(0.99));
    Ok(())
}
