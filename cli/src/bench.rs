//! `zmtp bench`: libzmq's perf tools (`local_thr`, `remote_thr`,
//! `local_lat`, `remote_lat`, `inproc_thr`, `inproc_lat`) with their
//! arguments and output lines, so results compare line by line.
//!
//! ```text
//! $ zmtp bench local-thr tcp://127.0.0.1:5555 64 1000000 &
//! $ zmtp bench remote-thr tcp://127.0.0.1:5555 64 1000000
//! message size: 64 [B]
//! message count: 1000000
//! mean throughput: 1234567 [msg/s]
//! mean throughput: 632.098 [Mb/s]
//!
//! $ zmtp bench local-lat tcp://127.0.0.1:5556 64 10000 &
//! $ zmtp bench remote-lat tcp://127.0.0.1:5556 64 10000
//! message size: 64 [B]
//! roundtrip count: 10000
//! average latency: 21.345 [us]
//! ```
//!
//! As in libzmq: the throughput clock starts at the first message received
//! and stops at the last; the latency is half the mean round trip. The
//! `local-*` side binds (PULL, REP), the `remote-*` side connects (PUSH,
//! REQ). `inproc://` endpoints only exist inside one process, so
//! `local-thr`/`local-lat` with an `inproc://` endpoint run both sides
//! in-process, as `inproc-thr SIZE COUNT`/`inproc-lat SIZE COUNT` do.
//! On a terminal, runs longer than a second show a progress bar on stderr.

use std::io::Write;
use std::str::FromStr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, Subcommand};
use zmtp_transport::{Endpoint, Error, Message, Socket, SocketType};

use crate::common;
use crate::error::CliError;
use crate::progress::Progress;

/// `zmtp bench ...`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Bind PULL, receive COUNT messages, print the throughput (libzmq's local_thr).
    #[command(after_help = "Example:\n  zmtp bench local-thr tcp://127.0.0.1:5555 64 1000000")]
    LocalThr(Remote),
    /// Connect PUSH and send COUNT messages of SIZE bytes (libzmq's remote_thr).
    #[command(after_help = "Example:\n  zmtp bench remote-thr tcp://127.0.0.1:5555 64 1000000")]
    RemoteThr(Remote),
    /// Bind REP and echo COUNT messages (libzmq's local_lat).
    #[command(after_help = "Example:\n  zmtp bench local-lat tcp://127.0.0.1:5556 64 10000")]
    LocalLat(Remote),
    /// Connect REQ, make COUNT round trips, print the latency (libzmq's remote_lat).
    #[command(after_help = "Example:\n  zmtp bench remote-lat tcp://127.0.0.1:5556 64 10000")]
    RemoteLat(Remote),
    /// Both throughput sides in this process over inproc:// (libzmq's inproc_thr).
    #[command(after_help = "Example:\n  zmtp bench inproc-thr 64 1000000")]
    InprocThr(Local),
    /// Both latency sides in this process over inproc:// (libzmq's inproc_lat).
    #[command(after_help = "Example:\n  zmtp bench inproc-lat 64 10000")]
    InprocLat(Local),
}

/// `EP SIZE COUNT`.
#[derive(Debug, Args)]
pub struct Remote {
    /// Endpoint: tcp://..., ipc://... (inproc:// for local-thr/local-lat only).
    endpoint: String,
    #[command(flatten)]
    run: Local,
}

/// `SIZE COUNT`.
#[derive(Debug, Clone, Copy, Args)]
pub struct Local {
    /// Message size in bytes.
    size: usize,
    /// Number of messages (or round trips).
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
}

/// Runs `zmtp bench ...`.
pub async fn run(command: BenchCommand) -> Result<(), CliError> {
    let work = async {
        match command {
            BenchCommand::LocalThr(r) if is_inproc(&r.endpoint)? => {
                inproc_thr(&r.endpoint, r.run).await
            }
            BenchCommand::LocalLat(r) if is_inproc(&r.endpoint)? => {
                inproc_lat(&r.endpoint, r.run).await
            }
            BenchCommand::RemoteThr(r) | BenchCommand::RemoteLat(r) if is_inproc(&r.endpoint)? => {
                Err(CliError::new(
                    "inproc:// endpoints live inside one process: use `zmtp bench inproc-thr SIZE COUNT` \
                     or `inproc-lat`, or `local-thr`/`local-lat` with the inproc endpoint",
                ))
            }
            BenchCommand::LocalThr(r) => {
                let pull = bound(SocketType::Pull, &r.endpoint).await?;
                local_thr(&pull, r.run).await
            }
            BenchCommand::RemoteThr(r) => {
                let push = connected(SocketType::Push, &r.endpoint).await?;
                remote_thr(push, r.run, true).await
            }
            BenchCommand::LocalLat(r) => {
                let rep = bound(SocketType::Rep, &r.endpoint).await?;
                local_lat(rep, r.run).await
            }
            BenchCommand::RemoteLat(r) => {
                let req = connected(SocketType::Req, &r.endpoint).await?;
                remote_lat(&req, r.run).await
            }
            BenchCommand::InprocThr(run) => {
                inproc_thr(
                    &format!("inproc://zmtp-bench-thr-{}", std::process::id()),
                    run,
                )
                .await
            }
            BenchCommand::InprocLat(run) => {
                inproc_lat(
                    &format!("inproc://zmtp-bench-lat-{}", std::process::id()),
                    run,
                )
                .await
            }
        }
    };
    tokio::select! {
        result = work => result,
        () = common::ctrl_c() => Err(CliError::interrupted()),
    }
}

fn is_inproc(endpoint: &str) -> Result<bool, CliError> {
    Ok(matches!(Endpoint::from_str(endpoint)?, Endpoint::Inproc(_)))
}

async fn bound(socket_type: SocketType, endpoint: &str) -> Result<Socket, CliError> {
    let socket = Socket::new(socket_type);
    common::bind_announced(&socket, endpoint).await?;
    Ok(socket)
}

async fn connected(socket_type: SocketType, endpoint: &str) -> Result<Socket, CliError> {
    let socket = Socket::new(socket_type);
    socket.connect(endpoint).await?;
    Ok(socket)
}

/// Receives without the async path while messages are waiting.
async fn recv_fast(socket: &Socket) -> Result<Message, Error> {
    match socket.try_recv() {
        Err(Error::WouldBlock) => socket.recv().await,
        other => other,
    }
}

/// Sends without the async path while there is room. At the high-water
/// mark it waits in `send`, but re-checks every millisecond: an `inproc://`
/// link does not yet wake a sender when its pipe gets room again (a
/// transport gap), and a bench must not hang on it. A `send` cut short by
/// the timer queued nothing (it is cancel-safe), so trying again is right.
async fn send_fast(socket: &Socket, payload: &Bytes) -> Result<(), Error> {
    match socket.try_send(Message::from(payload.clone())) {
        Ok(()) => return Ok(()),
        Err(e) if matches!(e.error, Error::WouldBlock) => {}
        Err(e) => return Err(e.error),
    }
    loop {
        let attempt = socket.send(Message::from(payload.clone()));
        if let Ok(result) = tokio::time::timeout(Duration::from_millis(1), attempt).await {
            return result;
        }
    }
}

fn check_size(message: &Message, size: usize) -> Result<(), CliError> {
    if message.len() == 1 && message.size() == size {
        Ok(())
    } else {
        Err(CliError::new(format!(
            "message of incorrect size received: {} frames, {} bytes (expected 1 frame of {size})",
            message.len(),
            message.size()
        )))
    }
}

/// libzmq's local_thr: clock from the first message to the last.
async fn local_thr(pull: &Socket, run: Local) -> Result<(), CliError> {
    let first = recv_fast(pull).await?;
    check_size(&first, run.size)?;
    let start = Instant::now();
    let progress = Progress::start("receiving", run.count);
    for i in 1..run.count {
        let message = recv_fast(pull).await?;
        check_size(&message, run.size)?;
        if i % 1024 == 0 {
            progress.add(1024);
        }
    }
    let elapsed_us = start.elapsed().as_micros().max(1);
    progress.finish();
    let throughput = (run.count as f64 / elapsed_us as f64 * 1_000_000.0) as u64;
    let megabits = (throughput as f64 * run.size as f64 * 8.0) / 1_000_000.0;
    print_lines(&[
        format!("message size: {} [B]", run.size),
        format!("message count: {}", run.count),
        format!("mean throughput: {throughput} [msg/s]"),
        format!("mean throughput: {megabits:.3} [Mb/s]"),
    ])
}

/// libzmq's remote_thr: COUNT messages of SIZE bytes, then linger until
/// they are all written.
/// `show_progress` is off when the receiving side runs here too and shows its own.
async fn remote_thr(push: Socket, run: Local, show_progress: bool) -> Result<(), CliError> {
    // One buffer shared by every message: nothing is copied per send.
    let payload = Bytes::from(vec![0u8; run.size]);
    let progress = Progress::start("sending", if show_progress { run.count } else { 0 });
    for i in 0..run.count {
        send_fast(&push, &payload).await?;
        if i % 1024 == 1023 {
            progress.add(1024);
        }
    }
    progress.finish();
    push.close().await;
    Ok(())
}

/// libzmq's local_lat: echo COUNT messages.
async fn local_lat(rep: Socket, run: Local) -> Result<(), CliError> {
    for _ in 0..run.count {
        let message = rep.recv().await?;
        check_size(&message, run.size)?;
        rep.send(message).await?;
    }
    rep.close().await;
    Ok(())
}

/// libzmq's remote_lat: half the mean round trip.
async fn remote_lat(req: &Socket, run: Local) -> Result<(), CliError> {
    let payload = Bytes::from(vec![0u8; run.size]);
    let progress = Progress::start("round trips", run.count);
    let start = Instant::now();
    for i in 0..run.count {
        req.send(Message::from(payload.clone())).await?;
        let reply = req.recv().await?;
        check_size(&reply, run.size)?;
        if i % 64 == 63 {
            progress.add(64);
        }
    }
    let elapsed_us = start.elapsed().as_micros() as f64;
    progress.finish();
    let latency = elapsed_us / (run.count as f64 * 2.0);
    print_lines(&[
        format!("message size: {} [B]", run.size),
        format!("roundtrip count: {}", run.count),
        format!("average latency: {latency:.3} [us]"),
    ])
}

/// Both throughput sides here: PUSH in a task, PULL measuring.
async fn inproc_thr(endpoint: &str, run: Local) -> Result<(), CliError> {
    let pull = bound(SocketType::Pull, endpoint).await?;
    let push = connected(SocketType::Push, endpoint).await?;
    let sender = tokio::spawn(remote_thr(push, run, false));
    local_thr(&pull, run).await?;
    join(sender).await
}

/// Both latency sides here: REP echoing in a task, REQ measuring.
async fn inproc_lat(endpoint: &str, run: Local) -> Result<(), CliError> {
    let rep = bound(SocketType::Rep, endpoint).await?;
    let req = connected(SocketType::Req, endpoint).await?;
    let echo = tokio::spawn(local_lat(rep, run));
    remote_lat(&req, run).await?;
    join(echo).await
}

async fn join(task: tokio::task::JoinHandle<Result<(), CliError>>) -> Result<(), CliError> {
    task.await
        .map_err(|e| CliError::new(format!("benchmark task failed: {e}")))?
}

fn print_lines(lines: &[String]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}").map_err(CliError::output)?;
    }
    out.flush().map_err(CliError::output)
}
