//! `zmtp cluster-demo`: the serializer bridge doing its job — a monitor
//! cluster's state chunks flowing between nodes under load, a node killed
//! and restarted, every chunk accounted for — in one process, in ~15
//! seconds; with `--processes`, a process per node and a real SIGKILL;
//! with `--partition`, a network partition between two live nodes.
//!
//! ```text
//! $ cargo run --release -p zmtp-cli -- cluster-demo
//! $ zmtp cluster-demo --workers 5 --seconds 30 --chunk-size 4096
//! $ zmtp cluster-demo --processes --partition
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
//! `--processes` runs every node as its own OS process: this binary,
//! re-executed as the hidden `zmtp cluster-node` with the node's set-up on
//! its command line (see [`processes`] and [`node_process`]). The parent
//! steers each node over its stdin and reads its log lines, snapshots and
//! books from its stdout, in the line format of [`lines`]. The worker
//! that hangs is told to, sends its books then (it writes and takes
//! nothing afterwards, so they are exact), and is killed with a real
//! SIGKILL; its restart is a new process, a new incarnation.
//!
//! `--partition` (with or without `--processes`) routes worker-1's link
//! to the manager through a fault-injecting TCP relay ([`relay`]) in this
//! process. Part-way through, worker-1 pauses for a moment (so the
//! manager's chunks to it are in flight, unacknowledged), then the relay cuts the link
//! for a couple of seconds — less than the bridge's in-doubt timeout —
//! and heals it. Both sides get a `PeerDown`; neither process died, so
//! when the link is back each side's chunks in doubt are settled from the
//! other's delivery record, as `Delivered` or `HandedBack(NotDelivered)`,
//! never `PeerRestarted`, and each side prints
//! `partition healed: worker-1 -> manager: N in doubt settled: D delivered,
//! H handed back (not delivered)`. The books check it, and that both
//! sides saw the heal.
//!
//! At the end the writers stop generating, every node waits until each of
//! its peers is idle (everything written has its outcome), the bridges are
//! shut down and the events `shutdown` returns are booked, and the books of
//! every node are checked (see [`ledger`]): every chunk has exactly one
//! outcome, and what arrived is exactly what the outcomes say. The command
//! exits 0 only then; otherwise it prints what was wrong and exits 1.

mod group;
mod ledger;
mod lines;
mod log;
mod node;
mod node_process;
mod payload;
mod processes;
mod relay;
mod threads;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use serializer_bridge::{Caps, PeerConfig};

use crate::error::CliError;
use ledger::NodeLedger;
use log::Log;
use node::{NodeSpec, Role, Snapshot};
use relay::Relay;

pub use node_process::{NodeArgs, run_node};

/// `zmtp cluster-demo`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    zmtp cluster-demo\n  \
    zmtp cluster-demo --workers 5 --seconds 30 --chunk-size 4096\n  \
    zmtp cluster-demo --seconds 5 --rate 500 --no-kill\n  \
    zmtp cluster-demo --processes --partition")]
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
    /// Run every node as its own OS process (this binary, re-executed);
    /// the worker is killed with SIGKILL and restarted as a new process.
    #[arg(long)]
    processes: bool,
    /// Route worker-1's link to the manager through a relay that cuts it
    /// part-way through (both processes live on) and heals it; what was in
    /// flight must settle as delivered or not delivered, never restarted.
    #[arg(long)]
    partition: bool,
    /// When the relay cuts the link (seconds; default 65% of the run).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, requires = "partition")]
    partition_at: Option<f64>,
    /// How long the link stays cut (below the bridge's 30 s in-doubt timeout).
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0, value_parser = parse_seconds, requires = "partition")]
    partition_for: f64,
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
    /// The manager broadcasts its state to all workers as one group (one
    /// encoding per state chunk) instead of one unicast stream per worker,
    /// and reports the encodings saved.
    #[arg(long)]
    groups: bool,
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

/// The node on each side of the `--partition` link.
const PARTITIONED: (&str, &str) = ("worker-1", "manager");

/// How long before the cut worker-1 pauses, so the manager's
/// chunks to it are in flight (sent, not acknowledged) when the link drops.
const PAUSE_BEFORE_CUT: f64 = 0.3;

/// The longest `--partition-for`: well below the bridge's in-doubt timeout
/// (30 s), so the chunks in flight are settled by the peer's record.
const MAX_PARTITION: f64 = 20.0;

/// When things happen, checked against each other.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    kill_at: Option<f64>,
    /// (cut at, healed at), seconds.
    partition: Option<(f64, f64)>,
}

impl Schedule {
    fn of(args: &ClusterDemoArgs) -> Result<Schedule, CliError> {
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
        let partition = if args.partition {
            if kill_at.is_some() && args.workers < 2 {
                return Err(CliError::new(
                    "--partition cuts worker-1's link, and the one worker is the one killed: \
                     use --workers 2 or more, or --no-kill",
                ));
            }
            if args.partition_for <= 0.0 || args.partition_for > MAX_PARTITION {
                return Err(CliError::new(format!(
                    "--partition-for must be above 0 and at most {MAX_PARTITION:.0} s \
                     (below the bridge's 30 s in-doubt timeout)"
                )));
            }
            let at = args.partition_at.unwrap_or(args.seconds * 0.65);
            let healed = at + args.partition_for;
            if healed + 1.0 > args.seconds {
                return Err(CliError::new(format!(
                    "the partition at {at:.1} s for {:.1} s would not be healed a second before \
                     the run ends at {:.1} s (see --partition-at, --partition-for, --seconds)",
                    args.partition_for, args.seconds
                )));
            }
            Some((at, healed))
        } else {
            None
        };
        Ok(Schedule { kill_at, partition })
    }
}

/// The cluster's layout: who is who and how each node is set up.
#[derive(Debug, Clone)]
struct Layout {
    workers: Vec<String>,
    caps: Caps,
    chunk_size: usize,
    rate: f64,
    broadcast_rate: f64,
    stall: Option<(Duration, Duration)>,
    partition: bool,
    groups: bool,
}

/// The servers: name, role, whether it listens on tcp (else ipc).
const SERVERS: [(&str, Role, bool); 3] = [
    ("manager", Role::Manager, true),
    ("proxy", Role::Proxy, true),
    ("logger", Role::Logger, false),
];

impl Layout {
    fn of(args: &ClusterDemoArgs) -> Layout {
        Layout {
            workers: (1..=args.workers).map(|i| format!("worker-{i}")).collect(),
            caps: Caps {
                soft_chunks: args.soft_cap,
                hard_chunks: args.hard_cap,
                ..Caps::default()
            },
            chunk_size: args.chunk_size as usize,
            rate: args.rate,
            broadcast_rate: args.broadcast_rate,
            stall: (args.logger_stall > 0.0).then(|| {
                (
                    Duration::from_secs_f64(args.logger_period),
                    Duration::from_secs_f64(args.logger_stall.min(args.logger_period)),
                )
            }),
            partition: args.partition,
            groups: args.groups,
        }
    }

    fn spec(&self, name: &str, role: Role, incarnation: u16) -> NodeSpec {
        let partner = match (self.partition, name) {
            (true, n) if n == PARTITIONED.0 => Some(PARTITIONED.1.to_owned()),
            (true, n) if n == PARTITIONED.1 => Some(PARTITIONED.0.to_owned()),
            _ => None,
        };
        NodeSpec {
            name: name.to_owned(),
            incarnation,
            role,
            expected: if role == Role::Worker {
                SERVERS.iter().map(|(n, ..)| (*n).to_owned()).collect()
            } else {
                self.workers.clone()
            },
            chunk_size: self.chunk_size,
            rate: self.rate,
            broadcast_rate: self.broadcast_rate,
            stall: self.stall.filter(|_| role == Role::Logger),
            partner,
            groups: self.groups,
        }
    }

    /// The peers worker `name` connects to: the servers, except that
    /// worker-1 reaches the manager through the relay if there is one.
    fn peers_of(
        &self,
        name: &str,
        servers: &[PeerConfig],
        relay: Option<&Relay>,
    ) -> Vec<PeerConfig> {
        servers
            .iter()
            .map(|server| match relay {
                Some(relay) if name == PARTITIONED.0 && server.name == PARTITIONED.1 => {
                    PeerConfig {
                        name: server.name.clone(),
                        endpoint: relay.endpoint(),
                    }
                }
                _ => server.clone(),
            })
            .collect()
    }
}

/// A running cluster, whichever way its nodes run: threads of this
/// process or processes of their own.
trait Cluster {
    /// Starts every worker as its first incarnation (the servers run
    /// already).
    fn start_workers(&mut self) -> Result<(), CliError>;
    /// The workers' names.
    fn workers(&self) -> Vec<String>;
    /// The node `name` stops (or starts again) reading and writing; its
    /// bridge runs on.
    fn pause(&mut self, name: &str, paused: bool) -> Result<(), CliError>;
    /// The node `name` stops reading and writing (it is about to be killed).
    fn hang(&mut self, name: &str) -> Result<(), CliError>;
    /// Kills the node `name` without a goodbye; returns its books (marked
    /// killed) and prints the KILL line.
    fn kill(&mut self, name: &str) -> Result<NodeLedger, CliError>;
    /// Starts the node `name` again as its next incarnation; prints the
    /// RESTART line.
    fn restart(&mut self, name: &str) -> Result<(), CliError>;
    /// Every node's (name, incarnation, latest snapshot).
    fn snapshots(&self) -> Vec<(String, u16, Snapshot)>;
    /// Every node stops generating and finishes what it owes.
    fn drain(&mut self) -> Result<(), CliError>;
    /// Stops every loop, then shuts every bridge down; returns the books.
    fn finish(self) -> Result<Finished, CliError>;
}

/// What a finished cluster hands back.
struct Finished {
    ledgers: Vec<NodeLedger>,
    /// Problems outside the books (a node process that misbehaved).
    problems: Vec<String>,
}

/// Runs `zmtp cluster-demo`.
pub fn run(args: &ClusterDemoArgs) -> Result<(), CliError> {
    let schedule = Schedule::of(args)?;
    let log = Log::starting_now();
    let layout = Layout::of(args);
    if args.processes {
        processes::run(args, schedule, &layout, &log)
    } else {
        threads::run(args, schedule, &layout, &log)
    }
}

/// Where a server listens: an ephemeral tcp port on loopback, or the
/// logger's ipc path.
fn server_endpoint(tcp: bool, ipc: &IpcPath) -> String {
    if tcp {
        "tcp://127.0.0.1:*".to_owned()
    } else {
        ipc.endpoint()
    }
}

/// Starts the partition relay in front of the manager, if asked for.
fn start_relay(layout: &Layout, servers: &[PeerConfig]) -> Result<Option<Relay>, CliError> {
    if !layout.partition {
        return Ok(None);
    }
    let manager = servers
        .iter()
        .find(|s| s.name == PARTITIONED.1)
        .ok_or_else(|| CliError::new("no manager to partition"))?;
    let address: SocketAddr = manager
        .endpoint
        .strip_prefix("tcp://")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| {
            CliError::new(format!(
                "the manager's endpoint {} is no tcp address the relay can reach",
                manager.endpoint
            ))
        })?;
    Relay::start(address)
        .map(Some)
        .map_err(|e| CliError::new(format!("starting the partition relay: {e}")))
}

/// The run itself: reports, the hang, kill and restart, the partition,
/// then the drain, the books and the verdict.
fn drive<C: Cluster>(
    args: &ClusterDemoArgs,
    schedule: Schedule,
    log: &Log,
    mut cluster: C,
    relay: Option<&Relay>,
) -> Result<(), CliError> {
    cluster.start_workers()?;
    let workers = cluster.workers();
    let mut finished: Vec<NodeLedger> = Vec::new();
    let victim = workers.last().cloned().unwrap_or_default();
    let kill_at = schedule.kill_at;
    let mut killed_at: Option<Instant> = None;
    let mut hung = false;
    let mut restarted = kill_at.is_none();
    let mut paused = false;
    let mut cut = false;
    let mut healed = false;
    let mut report = Report::default();
    let report_every = Duration::from_secs_f64(args.report_every.max(0.1));
    let mut next_report = log.start() + report_every;
    let at = |seconds: f64| log.start() + Duration::from_secs_f64(seconds);
    let end = at(args.seconds);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
        let now = Instant::now();
        if let Some(kill) = kill_at.filter(|_| killed_at.is_none()) {
            if !hung && args.hang > 0.0 && now >= at(kill - args.hang) {
                log.line(&format!(
                    "{victim} hangs: it reads and writes nothing until it is killed"
                ));
                cluster.hang(&victim)?;
                hung = true;
            }
            if now >= at(kill) {
                finished.push(cluster.kill(&victim)?);
                killed_at = Some(Instant::now());
            }
        }
        if let Some(killed) = killed_at.filter(|_| !restarted)
            && now >= killed + Duration::from_secs_f64(args.down_for)
        {
            cluster.restart(&victim)?;
            restarted = true;
        }
        if let (Some((cut_at, heal_at)), Some(relay)) = (schedule.partition, relay) {
            if !paused && now >= at((cut_at - PAUSE_BEFORE_CUT).max(0.0)) {
                log.line(&format!(
                    "{} pauses (reads and writes nothing) for a moment, so the manager's \
                     chunks to it are in flight when the partition comes",
                    PARTITIONED.0
                ));
                cluster.pause(PARTITIONED.0, true)?;
                paused = true;
            }
            if !cut && now >= at(cut_at) {
                let dropped = relay.cut();
                cluster.pause(PARTITIONED.0, false)?;
                log.line(&format!(
                    "PARTITION {} -> {}: the relay cuts the link ({dropped} connection(s) \
                     dropped, bytes in flight lost) for {:.1} s; both nodes live on",
                    PARTITIONED.0,
                    PARTITIONED.1,
                    heal_at - cut_at
                ));
                cut = true;
            }
            if cut && !healed && now >= at(heal_at) {
                relay.heal();
                log.line(&format!(
                    "partition ends: the relay forwards {} -> {} again; the link comes back \
                     and the chunks in doubt are settled by each side's record",
                    PARTITIONED.0, PARTITIONED.1
                ));
                healed = true;
            }
        }
        if now >= next_report {
            next_report += report_every;
            report.print(log, &cluster.snapshots(), args.report_every);
        }
    }

    // The drain: no new items; wait until every peer of every node is idle,
    // so every outcome is settled before the bridges shut down.
    log.line("load stops: writers finish what they owe, every peer goes idle, then the books are checked");
    cluster.drain()?;
    let drain_deadline = Instant::now() + Duration::from_secs_f64(args.drain_timeout);
    let mut settled_rounds = 0;
    while settled_rounds < 3 && Instant::now() < drain_deadline {
        std::thread::sleep(Duration::from_millis(100));
        let all = cluster.snapshots().iter().all(|(_, _, s)| s.settled);
        settled_rounds = if all { settled_rounds + 1 } else { 0 };
    }
    if settled_rounds < 3 {
        let waiting: Vec<String> = cluster
            .snapshots()
            .into_iter()
            .filter(|(_, _, s)| !s.settled)
            .map(|(name, ..)| name)
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
    report.print(log, &cluster.snapshots(), 0.0);
    let Finished { ledgers, problems } = cluster.finish()?;
    finished.extend(ledgers);
    judge(log, &finished, problems, schedule.partition.is_some())
}

/// Verifies the books, prints the verdict; `Ok` only on PASS.
fn judge(
    log: &Log,
    finished: &[NodeLedger],
    problems: Vec<String>,
    partition: bool,
) -> Result<(), CliError> {
    let mut verdict = ledger::verify(finished);
    verdict.failures.extend(problems);
    if partition {
        for side in [PARTITIONED.0, PARTITIONED.1] {
            let heals: u64 = finished
                .iter()
                .filter(|l| l.label == side)
                .map(|l| l.heals)
                .sum();
            if heals == 0 {
                verdict.failures.push(format!(
                    "{side}: never saw the partition heal with everything in doubt settled"
                ));
            }
        }
    }
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

fn introduce(
    log: &Log,
    args: &ClusterDemoArgs,
    servers: &[PeerConfig],
    schedule: Schedule,
    relay: Option<&Relay>,
) {
    if args.processes {
        log.plain(&format!(
            "zmtp cluster demo: a manager, a proxy, a logger and {} workers, each node its own \
             OS process (`zmtp cluster-node`) with a serializer-bridge PeerManager",
            args.workers
        ));
    } else {
        log.plain(&format!(
            "zmtp cluster demo: a manager, a proxy, a logger and {} workers in one process, \
             each node a serializer-bridge PeerManager on its own thread",
            args.workers
        ));
    }
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
    if let Some(at) = schedule.kill_at {
        let how = if args.processes {
            "killed (SIGKILL to its process)"
        } else {
            "killed"
        };
        log.plain(&format!(
            "  worker-{} hangs at {:.1} s, is {how} at {at:.1} s and restarted {:.1} s later",
            args.workers,
            (at - args.hang).max(0.0),
            args.down_for
        ));
    }
    if let (Some((cut, healed)), Some(relay)) = (schedule.partition, relay) {
        log.plain(&format!(
            "  {} reaches the {} through a relay at {}: cut at {cut:.1} s, healed at {healed:.1} s",
            PARTITIONED.0,
            PARTITIONED.1,
            relay.endpoint()
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
    fn print(&mut self, log: &Log, nodes: &[(String, u16, Snapshot)], interval: f64) {
        for (name, incarnation, snap) in nodes {
            let mut parts = Vec::new();
            for peer in &snap.peers {
                let key = (name.clone(), *incarnation, peer.name.clone());
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
            log.line(&format!("{name:<9} {}", parts.join("  ")));
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
