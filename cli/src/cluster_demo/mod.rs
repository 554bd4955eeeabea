//! `zmtp cluster-demo`: the serializer bridge doing its job — a monitor
//! cluster's state chunks flowing between nodes under load, a node killed
//! and restarted, every chunk accounted for — in one process, in ~15
//! seconds.
//!
//! ```text
//! $ cargo run --release -p zmtp-cli -- cluster-demo
//! $ zmtp cluster-demo --workers 5 --seconds 30 --chunk-size 4096
//! ```
//!
//! The cluster: a manager, a proxy and a logger accept links; N workers
//! connect to all three (manager and proxy over tcp on 127.0.0.1 ephemeral
//! ports, the logger over ipc). Every node is a `PeerManager` on its own
//! thread. Workers write SERIAL chunks to manager and proxy and LOG_WRITE
//! chunks to the logger; the manager broadcasts SERIAL chunks back to each
//! worker (serialized once per peer, as the per-peer caches require).
//! The logger stops reading now and then, like a node with a slow disk:
//! the workers' queues to it pass the soft cap (`FillingUp`), the workers
//! hold back, and the queues drain (`Drained`) when it reads again, while
//! the other links flow on.
//!
//! Part-way through, the last worker hangs for a moment (reads nothing, so
//! chunks sent to it go unacknowledged), is killed (its `PeerManager`
//! dropped without a goodbye) and is restarted under the same name. The
//! servers get a `PeerDown`; what the dead link had not delivered comes
//! back as `HandedBack` (`Unsent` at once, the chunks that were on the wire
//! as `PeerRestarted` when the new process says hello); the restarted
//! worker comes up in a new cache epoch, and the manager re-serializes the
//! handed-back chunks for it.
//!
//! At the end the writers stop generating, every node waits until each of
//! its peers is idle (everything written has its outcome), the bridges are
//! shut down and the events `shutdown` returns are booked, and the books of
//! every node are checked (see [`ledger`]): every chunk has exactly one
//! outcome, and what arrived is exactly what the outcomes say. The command
//! exits 0 only then; otherwise it prints what was wrong and exits 1.

mod ledger;
mod log;
mod node;
mod payload;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::Args;
use serializer_bridge::{BridgeConfig, Caps, PeerConfig, PeerManager};

use crate::error::CliError;
use ledger::NodeLedger;
use log::Log;
use node::{Control, NodeSpec, Role, Snapshot, Stopped};

/// `zmtp cluster-demo`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    zmtp cluster-demo\n  \
    zmtp cluster-demo --workers 5 --seconds 30 --chunk-size 4096\n  \
    zmtp cluster-demo --seconds 5 --rate 500 --no-kill")]
pub struct ClusterDemoArgs {
    /// Worker nodes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: u16,
    /// Seconds of load before the final drain and check.
    #[arg(long, default_value_t = 12.0, value_parser = parse_seconds)]
    seconds: f64,
    /// Bytes per chunk (at least 32).
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(32..=16_777_216))]
    chunk_size: u32,
    /// Chunks per second each worker writes to each of manager, proxy and logger.
    #[arg(long, default_value_t = 3000.0, value_parser = parse_rate)]
    rate: f64,
    /// Chunks per second the manager writes to each worker.
    #[arg(long, default_value_t = 300.0, value_parser = parse_rate)]
    broadcast_rate: f64,
    /// When to kill the last worker (seconds; default 40% of the run).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    kill_at: Option<f64>,
    /// How long before the kill the worker hangs (reads and writes
    /// nothing), so the manager has unacknowledged chunks to hand back.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.5, value_parser = parse_seconds)]
    hang: f64,
    /// How long the killed worker stays dead before it restarts.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.5, value_parser = parse_seconds)]
    down_for: f64,
    /// Do not kill and restart a worker.
    #[arg(long)]
    no_kill: bool,
    /// How long the logger stops reading each time (0: never).
    #[arg(long, value_name = "SECONDS", default_value_t = 1.5, value_parser = parse_seconds)]
    logger_stall: f64,
    /// How often the logger stalls.
    #[arg(long, value_name = "SECONDS", default_value_t = 4.0, value_parser = parse_seconds)]
    logger_period: f64,
    /// Pending chunks per peer above which the bridge reports FillingUp.
    #[arg(long, value_name = "CHUNKS", default_value_t = 2000)]
    soft_cap: usize,
    /// Pending chunks per peer at which the bridge refuses writes.
    #[arg(long, value_name = "CHUNKS", default_value_t = 8000)]
    hard_cap: usize,
    /// Seconds between rate reports.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0, value_parser = parse_seconds)]
    report_every: f64,
    /// Give up waiting for every peer to be idle at the end after this
    /// many seconds (then check anyway: what is still owed comes back on
    /// shutdown).
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = parse_seconds)]
    drain_timeout: f64,
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=86_400.0).contains(&s) => Ok(s),
        _ => Err(format!(
            "{text:?} is not a number of seconds between 0 and 86400"
        )),
    }
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if r.is_finite() && (0.0..=10_000_000.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "{text:?} is not a rate between 0 and 10000000 per second"
        )),
    }
}

struct Running {
    spec: NodeSpec,
    control: Arc<Control>,
    thread: JoinHandle<Stopped>,
}

/// Runs `zmtp cluster-demo`.
pub fn run(args: &ClusterDemoArgs) -> Result<(), CliError> {
    if args.hard_cap <= args.soft_cap || args.soft_cap == 0 {
        return Err(CliError::new(
            "--hard-cap must be above --soft-cap, which must be above 0",
        ));
    }
    let kill_at = (!args.no_kill).then(|| args.kill_at.unwrap_or(args.seconds * 0.4));
    if let Some(at) = kill_at {
        if args.hang > at {
            return Err(CliError::new("--hang must not be longer than --kill-at"));
        }
        if at + args.down_for + 0.5 > args.seconds {
            return Err(CliError::new(format!(
                "the worker killed at {at:.1} s and down for {:.1} s would not be back \
                 before the run ends at {:.1} s (see --kill-at, --down-for, --seconds, --no-kill)",
                args.down_for, args.seconds
            )));
        }
    }
    let log = Log::starting_now();
    let ipc = IpcPath::new();
    let caps = Caps {
        soft_chunks: args.soft_cap,
        hard_chunks: args.hard_cap,
        ..Caps::default()
    };
    let workers: Vec<String> = (1..=args.workers).map(|i| format!("worker-{i}")).collect();
    let servers = [
        ("manager", Role::Manager, "tcp://127.0.0.1:*".to_owned()),
        ("proxy", Role::Proxy, "tcp://127.0.0.1:*".to_owned()),
        ("logger", Role::Logger, ipc.endpoint()),
    ];
    let spec = |name: &str, role: Role, incarnation: u16| NodeSpec {
        name: name.to_owned(),
        incarnation,
        role,
        expected: if role == Role::Worker {
            servers.iter().map(|(n, ..)| (*n).to_owned()).collect()
        } else {
            workers.clone()
        },
        chunk_size: args.chunk_size as usize,
        rate: args.rate,
        broadcast_rate: args.broadcast_rate,
        stall: (role == Role::Logger && args.logger_stall > 0.0).then(|| {
            (
                Duration::from_secs_f64(args.logger_period),
                Duration::from_secs_f64(args.logger_stall.min(args.logger_period)),
            )
        }),
    };

    // Servers first: the workers need their endpoints.
    let mut running = Vec::new();
    let mut peers = Vec::new();
    for (name, role, endpoint) in &servers {
        let mut config = BridgeConfig::new(*name);
        config.caps = caps;
        config.listen.push(endpoint.clone());
        let bridge = start(config)?;
        let bound = bridge
            .bound_endpoints()
            .first()
            .map(ToString::to_string)
            .ok_or_else(|| CliError::new(format!("{name}: no endpoint bound")))?;
        peers.push(PeerConfig {
            name: (*name).to_owned(),
            endpoint: bound,
        });
        running.push(spawn(spec(name, *role, 1), bridge, &log)?);
    }
    let worker_config = |name: &str| {
        let mut config = BridgeConfig::new(name);
        config.caps = caps;
        config.peers = peers.clone();
        config
    };

    introduce(&log, args, &peers, kill_at);
    for name in &workers {
        let bridge = start(worker_config(name))?;
        running.push(spawn(spec(name, Role::Worker, 1), bridge, &log)?);
    }

    // The run: reports, the kill and the restart.
    let mut finished: Vec<NodeLedger> = Vec::new();
    let victim = workers.last().cloned().unwrap_or_default();
    let mut killed_at: Option<Instant> = None;
    let mut hung = false;
    let mut restarted = kill_at.is_none();
    let mut report = Report::default();
    let report_every = Duration::from_secs_f64(args.report_every.max(0.1));
    let mut next_report = log.start() + report_every;
    let end = log.start() + Duration::from_secs_f64(args.seconds);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
        let now = Instant::now();
        if let Some(at) = kill_at.filter(|_| killed_at.is_none()) {
            if !hung
                && args.hang > 0.0
                && now >= log.start() + Duration::from_secs_f64(at - args.hang)
            {
                log.line(&format!(
                    "{victim} hangs: it reads and writes nothing until it is killed"
                ));
                for node in running.iter().filter(|n| n.spec.name == victim) {
                    node.control.frozen.store(true, Ordering::Release);
                }
                hung = true;
            }
            if now >= log.start() + Duration::from_secs_f64(at) {
                let ledger = kill(&mut running, &victim, &log)?;
                finished.push(ledger);
                killed_at = Some(Instant::now());
            }
        }
        if let Some(at) = killed_at.filter(|_| !restarted) {
            if now >= at + Duration::from_secs_f64(args.down_for) {
                log.line(&format!("RESTART {victim} under the same name"));
                let bridge = start(worker_config(&victim))?;
                running.push(spawn(spec(&victim, Role::Worker, 2), bridge, &log)?);
                restarted = true;
            }
        }
        if now >= next_report {
            next_report += report_every;
            report.print(&log, &running, args.report_every);
        }
    }

    // The drain: no new items; wait until every peer of every node is idle,
    // so every outcome is settled before the bridges shut down.
    log.line("load stops: writers finish what they owe, every peer goes idle, then the books are checked");
    for node in &running {
        node.control.draining.store(true, Ordering::Release);
    }
    let drain_deadline = Instant::now() + Duration::from_secs_f64(args.drain_timeout);
    let mut settled_rounds = 0;
    while settled_rounds < 3 && Instant::now() < drain_deadline {
        std::thread::sleep(Duration::from_millis(100));
        let all = running.iter().all(|n| snapshot(n).settled);
        settled_rounds = if all { settled_rounds + 1 } else { 0 };
    }
    if settled_rounds < 3 {
        let waiting: Vec<String> = running
            .iter()
            .filter(|n| !snapshot(n).settled)
            .map(|n| n.spec.name.clone())
            .collect();
        log.line(&format!(
            "peers not idle within {:.0} s (still busy: {}); shutting down anyway",
            args.drain_timeout,
            waiting.join(", ")
        ));
    } else {
        log.line("idle: every chunk written has its outcome");
    }
    log.line("totals (chunks):");
    report.print(&log, &running, 0.0);
    for node in &running {
        node.control.stop.store(true, Ordering::Release);
    }
    // Every loop stops before any bridge shuts down, so no node reports
    // the others' shutdown; then each bridge's last events are booked.
    let mut stopped = Vec::new();
    for node in running {
        let name = node.spec.name.clone();
        let node = node
            .thread
            .join()
            .map_err(|_| CliError::new(format!("node {name} failed")))?;
        stopped.push(node);
    }
    for node in stopped {
        finished.push(node.shut_down());
    }
    drop(ipc);

    let verdict = ledger::verify(&finished);
    log.plain("");
    log.plain("Verification, per (sender, receiver, cache epoch) stream:");
    for line in &verdict.lines {
        log.plain(&format!("  {line}"));
    }
    let mut summary = format!(
        "{} streams, {} chunks written, {} delivered, {} handed back ({}), {} arrived, \
         {} re-serialized in a later epoch",
        verdict.streams,
        verdict.written,
        verdict.delivered,
        verdict.handed_back_total(),
        verdict.reasons(),
        verdict.arrived,
        verdict.reserialized
    );
    if verdict.delivered_late > 0 {
        summary += &format!(", {} delivered after hand-back", verdict.delivered_late);
    }
    if verdict.died_with_sender > 0 {
        summary += &format!(
            ", {} without an outcome died with the killed worker",
            verdict.died_with_sender
        );
    }
    if verdict.failures.is_empty() {
        log.plain(&format!(
            "PASS: every chunk got exactly one outcome and arrived as it says ({summary})"
        ));
        Ok(())
    } else {
        log.plain(&format!("FAIL ({summary}):"));
        for failure in &verdict.failures {
            log.plain(&format!("  {failure}"));
        }
        Err(CliError::new(format!(
            "cluster-demo: verification failed: {} problems (listed above)",
            verdict.failures.len()
        )))
    }
}

fn start(config: BridgeConfig) -> Result<PeerManager, CliError> {
    let node = config.node.clone();
    PeerManager::start(config).map_err(|e| CliError::new(format!("starting {node}: {e}")))
}

fn spawn(spec: NodeSpec, bridge: PeerManager, log: &Log) -> Result<Running, CliError> {
    let control = Arc::new(Control::default());
    let thread = {
        let (spec, control, log) = (spec.clone(), control.clone(), log.clone());
        std::thread::Builder::new()
            .name(format!("demo-{}", spec.name))
            .spawn(move || node::run(spec, bridge, control, log))
            .map_err(|e| CliError::new(format!("starting a node thread: {e}")))?
    };
    Ok(Running {
        spec,
        control,
        thread,
    })
}

/// Kills the node called `name`: its loop stops and its bridge is dropped
/// with whatever it still holds. Returns its books.
fn kill(running: &mut Vec<Running>, name: &str, log: &Log) -> Result<NodeLedger, CliError> {
    let at = running
        .iter()
        .position(|n| n.spec.name == name)
        .ok_or_else(|| CliError::new(format!("no node {name}")))?;
    let node = running.remove(at);
    node.control.stop.store(true, Ordering::Release);
    let stopped = node
        .thread
        .join()
        .map_err(|_| CliError::new(format!("node {name} failed")))?;
    log.line(&format!(
        "KILL {name}: its PeerManager is dropped, no goodbye, with {} of its chunks \
         unacknowledged",
        stopped.pending()
    ));
    Ok(stopped.kill())
}

fn snapshot(node: &Running) -> Snapshot {
    node.control
        .snapshot
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

fn introduce(log: &Log, args: &ClusterDemoArgs, servers: &[PeerConfig], kill_at: Option<f64>) {
    log.plain(&format!(
        "zmtp cluster demo: a manager, a proxy, a logger and {} workers in one process, \
         each node a serializer-bridge PeerManager on its own thread",
        args.workers
    ));
    for server in servers {
        let what = match server.name.as_str() {
            "manager" => {
                "workers send it SERIAL chunks; it broadcasts SERIAL chunks to every worker"
            }
            "proxy" => "workers send it SERIAL chunks",
            _ => "workers send it LOG_WRITE chunks; it stops reading now and then (a slow disk)",
        };
        log.plain(&format!(
            "  {:<8} {:<40} {what}",
            server.name, server.endpoint
        ));
    }
    log.plain(&format!(
        "  load: each worker writes {} chunks/s of {} B to each server; the manager {} chunks/s to each worker",
        args.rate, args.chunk_size, args.broadcast_rate
    ));
    log.plain(&format!(
        "  back-pressure: FillingUp above {} pending chunks per peer, writes refused at {}",
        args.soft_cap, args.hard_cap
    ));
    if let Some(at) = kill_at {
        log.plain(&format!(
            "  worker-{} hangs at {:.1} s, is killed at {at:.1} s and restarted {:.1} s later",
            args.workers,
            (at - args.hang).max(0.0),
            args.down_for
        ));
    }
    log.plain(&format!(
        "  reports every {:.0} s: per peer [cache epoch] >chunks/s written to it <chunks/s read from it",
        args.report_every
    ));
    log.plain("");
}

/// Rates between reports, from the nodes' snapshots.
#[derive(Default)]
struct Report {
    last: std::collections::HashMap<(String, u16, String), (u64, u64)>,
}

impl Report {
    fn print(&mut self, log: &Log, running: &[Running], interval: f64) {
        for node in running {
            let snap = snapshot(node);
            let mut parts = Vec::new();
            for peer in &snap.peers {
                let key = (
                    node.spec.name.clone(),
                    node.spec.incarnation,
                    peer.name.clone(),
                );
                let (w0, r0) = self.last.get(&key).copied().unwrap_or((0, 0));
                self.last.insert(key, (peer.written, peer.read));
                let epoch = peer
                    .epoch
                    .map_or_else(|| "down".to_owned(), |e| format!("e{e}"));
                let mut part = format!("{}[{epoch}]", peer.name);
                let (out, inn) = if interval > 0.0 {
                    (
                        rate(peer.written.saturating_sub(w0) as f64 / interval),
                        rate(peer.read.saturating_sub(r0) as f64 / interval),
                    )
                } else {
                    (peer.written.to_string(), peer.read.to_string())
                };
                if peer.written > 0 {
                    part += &format!(" >{out}");
                }
                if peer.read > 0 {
                    part += &format!(" <{inn}");
                }
                if peer.filling {
                    part += &format!(" FILLING({} pending)", peer.pending);
                }
                parts.push(part);
            }
            log.line(&format!("{:<9} {}", node.spec.name, parts.join("  ")));
        }
    }
}

fn rate(per_second: f64) -> String {
    if per_second >= 10_000.0 {
        format!("{:.0}k", per_second / 1000.0)
    } else if per_second >= 1000.0 {
        format!("{:.1}k", per_second / 1000.0)
    } else {
        format!("{per_second:.0}")
    }
}

/// The logger's ipc socket file, removed when dropped.
struct IpcPath {
    path: PathBuf,
}

impl IpcPath {
    fn new() -> Self {
        let file = format!("zmtp-cluster-demo-{}.ipc", std::process::id());
        let mut path = std::env::temp_dir().join(&file);
        // A Unix socket path holds 107 bytes at most.
        if path.as_os_str().len() > 100 {
            path = PathBuf::from("/tmp").join(file);
        }
        IpcPath { path }
    }

    fn endpoint(&self) -> String {
        format!("ipc://{}", self.path.display())
    }
}

impl Drop for IpcPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
