//! The one-process cluster (the default `cluster-demo`): every node a
//! `PeerManager` on its own thread, steered through its [`Control`]; a
//! kill drops the node's bridge without a goodbye.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

use serializer_bridge::{BridgeConfig, PeerConfig, PeerManager};

use super::ledger::NodeLedger;
use super::log::Log;
use super::node::{self, Control, NodeSpec, Role, Snapshot, Stopped};
use super::relay::Relay;
use super::{
    Cluster, ClusterDemoArgs, Finished, IpcPath, Layout, SERVERS, Schedule, drive, introduce,
    server_endpoint, start_relay,
};
use crate::error::CliError;

struct Running {
    spec: NodeSpec,
    control: Arc<Control>,
    thread: JoinHandle<Stopped>,
}

/// The nodes of one process.
struct Threads<'a> {
    log: Log,
    layout: &'a Layout,
    servers: Vec<PeerConfig>,
    relay: Option<&'a Relay>,
    running: Vec<Running>,
}

/// Runs the cluster in this process.
pub fn run(
    args: &ClusterDemoArgs,
    schedule: Schedule,
    layout: &Layout,
    log: &Log,
) -> Result<(), CliError> {
    let ipc = IpcPath::new();
    // Servers first: the workers need their endpoints.
    let mut running = Vec::new();
    let mut servers = Vec::new();
    for (name, role, tcp) in SERVERS {
        let mut config = BridgeConfig::new(name);
        config.caps = layout.caps;
        config.listen.push(server_endpoint(tcp, &ipc));
        let bridge = start(config)?;
        let bound = bridge
            .bound_endpoints()
            .first()
            .map(ToString::to_string)
            .ok_or_else(|| CliError::new(format!("{name}: no endpoint bound")))?;
        servers.push(PeerConfig {
            name: name.to_owned(),
            endpoint: bound,
        });
        running.push(spawn(layout.spec(name, role, 1), bridge, log)?);
    }
    let relay = start_relay(layout, &servers)?;
    introduce(log, args, &servers, schedule, relay.as_ref());
    let cluster = Threads {
        log: log.clone(),
        layout,
        servers,
        relay: relay.as_ref(),
        running,
    };
    drive(args, schedule, log, cluster, relay.as_ref())
}

impl Threads<'_> {
    fn start_worker(&mut self, name: &str, incarnation: u16) -> Result<(), CliError> {
        let mut config = BridgeConfig::new(name);
        config.caps = self.layout.caps;
        config.peers = self.layout.peers_of(name, &self.servers, self.relay);
        let bridge = start(config)?;
        let spec = self.layout.spec(name, Role::Worker, incarnation);
        self.running.push(spawn(spec, bridge, &self.log)?);
        Ok(())
    }
}

impl Cluster for Threads<'_> {
    fn start_workers(&mut self) -> Result<(), CliError> {
        for name in &self.layout.workers {
            self.start_worker(name, 1)?;
        }
        Ok(())
    }

    fn workers(&self) -> Vec<String> {
        self.layout.workers.clone()
    }

    fn pause(&mut self, name: &str, paused: bool) -> Result<(), CliError> {
        for node in self.running.iter().filter(|n| n.spec.name == name) {
            node.control.frozen.store(paused, Ordering::Release);
        }
        Ok(())
    }

    fn hang(&mut self, name: &str) -> Result<(), CliError> {
        for node in self.running.iter().filter(|n| n.spec.name == name) {
            node.control.frozen.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Kills the node called `name`: its loop stops and its bridge is
    /// dropped with whatever it still holds. Returns its books.
    fn kill(&mut self, name: &str) -> Result<NodeLedger, CliError> {
        let at = self
            .running
            .iter()
            .position(|n| n.spec.name == name)
            .ok_or_else(|| CliError::new(format!("no node {name}")))?;
        let node = self.running.remove(at);
        node.control.stop.store(true, Ordering::Release);
        let stopped = node
            .thread
            .join()
            .map_err(|_| CliError::new(format!("node {name} failed")))?;
        self.log.line(&format!(
            "KILL {name}: its PeerManager is dropped, no goodbye, with {} of its chunks \
             unacknowledged",
            stopped.pending()
        ));
        Ok(stopped.kill())
    }

    fn restart(&mut self, name: &str) -> Result<(), CliError> {
        self.log
            .line(&format!("RESTART {name} under the same name"));
        self.start_worker(name, 2)
    }

    fn snapshots(&self) -> Vec<(String, u16, Snapshot)> {
        self.running
            .iter()
            .map(|n| {
                let snap = n
                    .control
                    .snapshot
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                (n.spec.name.clone(), n.spec.incarnation, snap)
            })
            .collect()
    }

    fn drain(&mut self) -> Result<(), CliError> {
        for node in &self.running {
            node.control.draining.store(true, Ordering::Release);
        }
        Ok(())
    }

    fn finish(self) -> Result<Finished, CliError> {
        for node in &self.running {
            node.control.stop.store(true, Ordering::Release);
        }
        // Every loop stops before any bridge shuts down, so no node reports
        // the others' shutdown; then each bridge's last events are booked.
        let mut stopped = Vec::new();
        for node in self.running {
            let name = node.spec.name.clone();
            let node = node
                .thread
                .join()
                .map_err(|_| CliError::new(format!("node {name} failed")))?;
            stopped.push(node);
        }
        Ok(Finished {
            ledgers: stopped.into_iter().map(Stopped::shut_down).collect(),
            problems: Vec::new(),
        })
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
