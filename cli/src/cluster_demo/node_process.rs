//! `zmtp cluster-node` (hidden): one node of `cluster-demo --processes`
//! as a process of its own.
//!
//! The parent starts it with the node's whole set-up on the command line,
//! talks to it over stdin and stdout in the [`lines`](super::lines) format
//! and reads its books from it: at the end after `stop` and `shutdown`, or,
//! for the worker about to be killed, at `hang`, after which it writes
//! and reads nothing more until the parent's SIGKILL ends it with its
//! bridge still running. The end of stdin (the parent is gone) ends it.

use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use clap::Args;
use serializer_bridge::{BridgeConfig, Caps, PeerConfig, PeerManager};

use super::lines::{self, FromNode, ToNode};
use super::log::Log;
use super::node::{self, Control, NodeSpec, Role};
use crate::error::CliError;

/// `zmtp cluster-node`: set by the parent, not meant to be typed.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The node's name.
    #[arg(long)]
    name: String,
    /// Its role.
    #[arg(long, value_enum)]
    role: Role,
    /// Which run of the node this is, from 1.
    #[arg(long, default_value_t = 1)]
    incarnation: u16,
    /// An endpoint to listen on; the bound one is reported first.
    #[arg(long, value_name = "EP")]
    listen: Option<String>,
    /// A peer to connect to, as NAME=ENDPOINT. Repeatable.
    #[arg(long = "peer", value_name = "NAME=EP", value_parser = parse_peer)]
    peers: Vec<PeerConfig>,
    /// A peer that must be up before the node counts as settled. Repeatable.
    #[arg(long = "expect", value_name = "NAME")]
    expected: Vec<String>,
    /// Bytes per chunk.
    #[arg(long)]
    chunk_size: usize,
    /// Worker: chunks per second to each server.
    #[arg(long)]
    rate: f64,
    /// Manager: chunks per second to each worker.
    #[arg(long)]
    broadcast_rate: f64,
    /// Pending chunks per peer above which the bridge reports FillingUp.
    #[arg(long)]
    soft_cap: usize,
    /// Pending chunks per peer at which the bridge refuses writes.
    #[arg(long)]
    hard_cap: usize,
    /// Logger: stall every this many seconds...
    #[arg(long, requires = "stall_for")]
    stall_period: Option<f64>,
    /// ...for this many.
    #[arg(long, requires = "stall_period")]
    stall_for: Option<f64>,
    /// The peer across the partition relay.
    #[arg(long)]
    partner: Option<String>,
    /// Manager: broadcast as one group (`cluster-demo --groups`).
    #[arg(long)]
    groups: bool,
}

fn parse_peer(text: &str) -> Result<PeerConfig, String> {
    match text.split_once('=') {
        Some((name, endpoint)) if !name.is_empty() && !endpoint.is_empty() => Ok(PeerConfig {
            name: name.to_owned(),
            endpoint: endpoint.to_owned(),
        }),
        _ => Err(format!("{text:?} is not NAME=ENDPOINT")),
    }
}

impl NodeArgs {
    /// The command line that sets up `spec` (the inverse of parsing).
    pub fn command_line(
        spec: &NodeSpec,
        caps: Caps,
        listen: Option<&str>,
        peers: &[PeerConfig],
    ) -> Vec<String> {
        let role = match spec.role {
            Role::Manager => "manager",
            Role::Proxy => "proxy",
            Role::Logger => "logger",
            Role::Worker => "worker",
        };
        let mut line = vec![
            "cluster-node".to_owned(),
            format!("--name={}", spec.name),
            format!("--role={role}"),
            format!("--incarnation={}", spec.incarnation),
            format!("--chunk-size={}", spec.chunk_size),
            format!("--rate={}", spec.rate),
            format!("--broadcast-rate={}", spec.broadcast_rate),
            format!("--soft-cap={}", caps.soft_chunks),
            format!("--hard-cap={}", caps.hard_chunks),
        ];
        if let Some(listen) = listen {
            line.push(format!("--listen={listen}"));
        }
        for peer in peers {
            line.push(format!("--peer={}={}", peer.name, peer.endpoint));
        }
        for name in &spec.expected {
            line.push(format!("--expect={name}"));
        }
        if let Some((period, stall)) = spec.stall {
            line.push(format!("--stall-period={}", period.as_secs_f64()));
            line.push(format!("--stall-for={}", stall.as_secs_f64()));
        }
        if let Some(partner) = &spec.partner {
            line.push(format!("--partner={partner}"));
        }
        if spec.groups {
            line.push("--groups".to_owned());
        }
        line
    }
}

/// Runs `zmtp cluster-node`.
pub fn run_node(args: &NodeArgs) -> Result<(), CliError> {
    let name = args.name.clone();
    let mut config = BridgeConfig::new(name.as_str());
    config.caps = Caps {
        soft_chunks: args.soft_cap,
        hard_chunks: args.hard_cap,
        ..Caps::default()
    };
    config.listen.extend(args.listen.clone());
    config.peers = args.peers.clone();
    let bridge =
        PeerManager::start(config).map_err(|e| CliError::new(format!("starting {name}: {e}")))?;
    if args.listen.is_some() {
        let bound = bridge
            .bound_endpoints()
            .first()
            .map(ToString::to_string)
            .ok_or_else(|| CliError::new(format!("{name}: no endpoint bound")))?;
        lines::emit(&FromNode::Bound(bound));
    }
    let spec = NodeSpec {
        name: name.clone(),
        incarnation: args.incarnation,
        role: args.role,
        expected: args.expected.clone(),
        chunk_size: args.chunk_size,
        rate: args.rate,
        broadcast_rate: args.broadcast_rate,
        stall: match (args.stall_period, args.stall_for) {
            (Some(period), Some(stall)) => Some((
                Duration::from_secs_f64(period),
                Duration::from_secs_f64(stall),
            )),
            _ => None,
        },
        partner: args.partner.clone(),
        groups: args.groups,
    };
    let control = Arc::new(Control::default());
    let commands = listen_to_parent(&control, &name)?;
    let looping = Arc::new(AtomicBool::new(true));
    report_snapshots(&control, &looping)?;

    let stopped = node::run(spec, bridge, control, Log::to_parent());
    looping.store(false, Ordering::Release);
    match commands.recv() {
        Ok(Some(ToNode::Hang)) => {
            // Books as they stand now: nothing is written or taken after
            // this, so what the parent has is what died with us.
            let pending = stopped.pending();
            let (ledger, _bridge) = stopped.abandon();
            lines::emit(&FromNode::Ledger(Box::new(ledger)));
            lines::emit(&FromNode::Frozen { pending });
            // Wait for the SIGKILL, the bridge still up and unread.
            while let Ok(Some(_)) = commands.recv() {}
            Err(CliError::new(format!(
                "{name}: the parent went away while this node waited to be killed"
            )))
        }
        Ok(Some(ToNode::Stop)) => {
            lines::emit(&FromNode::Stopped);
            loop {
                match commands.recv() {
                    Ok(Some(ToNode::Shutdown)) => break,
                    Ok(Some(ToNode::Drain)) => {}
                    Ok(Some(other)) => {
                        return Err(CliError::new(format!(
                            "{name}: {other:?} after stop, where shutdown was expected"
                        )));
                    }
                    Ok(None) | Err(_) => {
                        return Err(CliError::new(format!(
                            "{name}: the parent went away before the shutdown"
                        )));
                    }
                }
            }
            let ledger = stopped.shut_down();
            lines::emit(&FromNode::Ledger(Box::new(ledger)));
            Ok(())
        }
        Ok(other) => Err(CliError::new(format!(
            "{name}: the loop ended on {other:?}; the parent went away or sent nonsense"
        ))),
        Err(_) => Err(CliError::new(format!("{name}: the command reader failed"))),
    }
}

/// Reads the parent's commands from stdin. `drain`, `pause` and `resume`
/// are applied at once;
/// `hang` and `stop` end the loop and are passed on, as is `shutdown`;
/// the end of stdin, or a line that is no command, ends the loop and is
/// passed on as `None`.
fn listen_to_parent(
    control: &Arc<Control>,
    name: &str,
) -> Result<mpsc::Receiver<Option<ToNode>>, CliError> {
    let (tx, rx) = mpsc::channel();
    let control = control.clone();
    let name = name.to_owned();
    std::thread::Builder::new()
        .name("parent-commands".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                let Ok(line) = line else { break };
                match lines::command(&line) {
                    Ok(ToNode::Drain) => control.draining.store(true, Ordering::Release),
                    Ok(ToNode::Pause) => control.frozen.store(true, Ordering::Release),
                    Ok(ToNode::Resume) => control.frozen.store(false, Ordering::Release),
                    Ok(command) => {
                        if matches!(command, ToNode::Hang | ToNode::Stop) {
                            control.stop.store(true, Ordering::Release);
                        }
                        if tx.send(Some(command)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        eprintln!("zmtp: {name}: from the parent: {e}");
                        break;
                    }
                }
            }
            control.stop.store(true, Ordering::Release);
            let _ = tx.send(None);
        })
        .map_err(|e| CliError::new(format!("starting the command reader: {e}")))?;
    Ok(rx)
}

/// Sends the node's snapshot to the parent every 100 ms while it loops.
fn report_snapshots(control: &Arc<Control>, looping: &Arc<AtomicBool>) -> Result<(), CliError> {
    let control = control.clone();
    let looping = looping.clone();
    std::thread::Builder::new()
        .name("snapshots".into())
        .spawn(move || {
            while looping.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(100));
                let snap = control
                    .snapshot
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                lines::emit(&FromNode::Snapshot(snap));
            }
        })
        .map_err(|e| CliError::new(format!("starting the snapshot reporter: {e}")))?;
    Ok(())
}
