//! `cluster-demo --processes`: every node a process of its own, this same
//! binary re-executed as the hidden `zmtp cluster-node`.
//!
//! The servers start first and report the endpoints they bound; the
//! workers start with those (worker-1 with the relay's, under
//! `--partition`). A reader thread per child prints its log lines with the
//! parent's clock, keeps its latest snapshot for the reports and passes
//! everything else to the parent's steps, which wait for exactly the
//! message they need, with a timeout. The kill is a real SIGKILL
//! (`Child::kill`) of a process that was told to hang first and sent its
//! books then; the restart is a new process, a new incarnation. A child
//! that is left over when the run ends early is killed when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serializer_bridge::PeerConfig;

use super::ledger::NodeLedger;
use super::lines::{self, FromNode, Reader, ToNode};
use super::log::Log;
use super::node::{Role, Snapshot};
use super::node_process::NodeArgs;
use super::relay::Relay;
use super::{
    Cluster, ClusterDemoArgs, Finished, IpcPath, Layout, SERVERS, Schedule, drive, introduce,
    server_endpoint, start_relay,
};
use crate::error::CliError;

/// The longest line a node may write; longer is an error (the node's
/// ledger lines are short, its log lines one sentence).
const MAX_LINE: u64 = 1 << 20;

/// How long to wait for a node's answer to a step.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// What a child's reader passes on.
#[derive(Debug)]
enum Inbox {
    Message(FromNode),
    /// Its stdout ended (it exited or was killed) or could not be read.
    Closed(String),
}

/// One node process.
struct NodeProcess {
    name: String,
    incarnation: u16,
    child: Child,
    stdin: Option<ChildStdin>,
    snapshot: Arc<Mutex<Snapshot>>,
    inbox: mpsc::Receiver<Inbox>,
    reader: Option<JoinHandle<()>>,
    /// Books sent at `hang`, with the chunks then pending.
    frozen: Option<(NodeLedger, u64)>,
    /// Exit already collected.
    reaped: bool,
}

/// The node processes of a run.
struct Processes<'a> {
    exe: PathBuf,
    log: Log,
    layout: &'a Layout,
    servers: Vec<PeerConfig>,
    relay: Option<&'a Relay>,
    nodes: Vec<NodeProcess>,
    /// Lines the nodes wrote that broke the format.
    problems: Arc<Mutex<Vec<String>>>,
}

/// Runs the cluster as processes.
pub fn run(
    args: &ClusterDemoArgs,
    schedule: Schedule,
    layout: &Layout,
    log: &Log,
) -> Result<(), CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::new(format!("finding this program to start the nodes: {e}")))?;
    let ipc = IpcPath::new();
    let mut cluster = Processes {
        exe,
        log: log.clone(),
        layout,
        servers: Vec::new(),
        relay: None,
        nodes: Vec::new(),
        problems: Arc::new(Mutex::new(Vec::new())),
    };
    // Servers first, each reporting the endpoint it bound.
    for (name, role, tcp) in SERVERS {
        let listen = server_endpoint(tcp, &ipc);
        let spec = layout.spec(name, role, 1);
        let line = NodeArgs::command_line(&spec, layout.caps, Some(&listen), &[]);
        cluster.spawn(name, 1, &line)?;
    }
    for (name, ..) in SERVERS {
        let node = cluster.node(name)?;
        let endpoint = node.expect("its bound endpoint", |m| match m {
            FromNode::Bound(endpoint) => Ok(endpoint),
            other => Err(other),
        })?;
        cluster.servers.push(PeerConfig {
            name: name.to_owned(),
            endpoint,
        });
    }
    let relay = start_relay(layout, &cluster.servers)?;
    introduce(log, args, &cluster.servers, schedule, relay.as_ref());
    let cluster = Processes {
        relay: relay.as_ref(),
        ..cluster
    };
    drive(args, schedule, log, cluster, relay.as_ref())
}

impl Processes<'_> {
    fn node(&mut self, name: &str) -> Result<&mut NodeProcess, CliError> {
        self.nodes
            .iter_mut()
            .find(|n| n.name == name)
            .ok_or_else(|| CliError::new(format!("no node {name}")))
    }

    fn start_worker(&mut self, name: &str, incarnation: u16) -> Result<u32, CliError> {
        let spec = self.layout.spec(name, Role::Worker, incarnation);
        let peers = self.layout.peers_of(name, &self.servers, self.relay);
        let line = NodeArgs::command_line(&spec, self.layout.caps, None, &peers);
        self.spawn(name, incarnation, &line)
    }

    /// Starts `zmtp cluster-node ...`; returns its pid.
    fn spawn(&mut self, name: &str, incarnation: u16, line: &[String]) -> Result<u32, CliError> {
        let mut child = Command::new(&self.exe)
            .args(line)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| CliError::new(format!("starting the {name} process: {e}")))?;
        let pid = child.id();
        let (stdin, stdout) = match (child.stdin.take(), child.stdout.take()) {
            (Some(stdin), Some(stdout)) => (stdin, stdout),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(CliError::new(format!("the {name} process has no pipes")));
            }
        };
        let snapshot = Arc::new(Mutex::new(Snapshot::default()));
        let (tx, inbox) = mpsc::channel();
        let label = format!("{name} (pid {pid})");
        let reader = {
            let (snapshot, log, problems) =
                (snapshot.clone(), self.log.clone(), self.problems.clone());
            std::thread::Builder::new()
                .name(format!("from-{name}"))
                .spawn(move || read_node(stdout, &label, &snapshot, &log, &problems, &tx))
                .map_err(|e| CliError::new(format!("starting a reader thread: {e}")))?
        };
        self.nodes.push(NodeProcess {
            name: name.to_owned(),
            incarnation,
            child,
            stdin: Some(stdin),
            snapshot,
            inbox,
            reader: Some(reader),
            frozen: None,
            reaped: false,
        });
        Ok(pid)
    }
}

impl NodeProcess {
    fn send(&mut self, command: ToNode) -> Result<(), CliError> {
        let name = &self.name;
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| CliError::new(format!("{name}: its stdin is closed")))?;
        stdin
            .write_all(lines::command_line(command).as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|e| CliError::new(format!("telling {name} {command:?}: {e}")))
    }

    /// Waits for the message `pick` takes; anything else first is an error.
    fn expect<T>(
        &self,
        what: &str,
        pick: impl Fn(FromNode) -> Result<T, FromNode>,
    ) -> Result<T, CliError> {
        let name = &self.name;
        match self.inbox.recv_timeout(STEP_TIMEOUT) {
            Ok(Inbox::Message(message)) => pick(message).map_err(|other| {
                CliError::new(format!(
                    "{name} sent {} where the parent waited for {what}",
                    describe(&other)
                ))
            }),
            Ok(Inbox::Closed(why)) => Err(CliError::new(format!(
                "{name}'s process ended ({why}) where the parent waited for {what}"
            ))),
            Err(_) => Err(CliError::new(format!(
                "{name} did not send {what} within {} s",
                STEP_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Waits for the process to exit (killing it after `STEP_TIMEOUT`).
    fn wait(&mut self) -> Result<ExitStatus, CliError> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.reaped = true;
                    if let Some(reader) = self.reader.take() {
                        let _ = reader.join();
                    }
                    return Ok(status);
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    self.reaped = true;
                    return Err(CliError::new(format!(
                        "{} did not exit within {} s and was killed",
                        self.name,
                        STEP_TIMEOUT.as_secs()
                    )));
                }
                Err(e) => {
                    return Err(CliError::new(format!("waiting for {}: {e}", self.name)));
                }
            }
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        // A run that ends early leaves no node behind.
        if !self.reaped {
            self.stdin = None;
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Cluster for Processes<'_> {
    fn start_workers(&mut self) -> Result<(), CliError> {
        for name in &self.layout.workers {
            self.start_worker(name, 1)?;
        }
        let pids: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("{} {}", n.name, n.child.id()))
            .collect();
        self.log
            .line(&format!("node processes (pid): {}", pids.join(", ")));
        Ok(())
    }

    fn workers(&self) -> Vec<String> {
        self.layout.workers.clone()
    }

    fn pause(&mut self, name: &str, paused: bool) -> Result<(), CliError> {
        let command = if paused {
            ToNode::Pause
        } else {
            ToNode::Resume
        };
        self.node(name)?.send(command)
    }

    fn hang(&mut self, name: &str) -> Result<(), CliError> {
        let node = self.node(name)?;
        node.send(ToNode::Hang)?;
        let ledger = node.expect("its books", |m| match m {
            FromNode::Ledger(ledger) => Ok(ledger),
            other => Err(other),
        })?;
        let pending = node.expect("frozen", |m| match m {
            FromNode::Frozen { pending } => Ok(pending),
            other => Err(other),
        })?;
        node.frozen = Some((*ledger, pending));
        Ok(())
    }

    /// A real SIGKILL of the node's process; its books are those it sent
    /// when it hung (it wrote and took nothing since).
    fn kill(&mut self, name: &str) -> Result<NodeLedger, CliError> {
        if self.node(name)?.frozen.is_none() {
            self.hang(name)?;
        }
        let at = self
            .nodes
            .iter()
            .position(|n| n.name == name)
            .ok_or_else(|| CliError::new(format!("no node {name}")))?;
        let mut node = self.nodes.remove(at);
        let pid = node.child.id();
        let (mut ledger, pending) = node
            .frozen
            .take()
            .ok_or_else(|| CliError::new(format!("{name}: no books from before the kill")))?;
        ledger.killed = true;
        self.log.line(&format!(
            "KILL {name}: SIGKILL to its process (pid {pid}), no goodbye, with {pending} of \
             its chunks unacknowledged",
        ));
        node.child
            .kill()
            .map_err(|e| CliError::new(format!("killing {name} (pid {pid}): {e}")))?;
        let status = node.wait()?;
        self.log
            .line(&format!("{name}'s process (pid {pid}) is gone: {status}"));
        Ok(ledger)
    }

    fn restart(&mut self, name: &str) -> Result<(), CliError> {
        let pid = self.start_worker(name, 2)?;
        self.log.line(&format!(
            "RESTART {name} under the same name: a new process (pid {pid}), a new incarnation"
        ));
        Ok(())
    }

    fn snapshots(&self) -> Vec<(String, u16, Snapshot)> {
        self.nodes
            .iter()
            .map(|n| {
                let snap = n.snapshot.lock().unwrap_or_else(|p| p.into_inner()).clone();
                (n.name.clone(), n.incarnation, snap)
            })
            .collect()
    }

    fn drain(&mut self) -> Result<(), CliError> {
        for node in &mut self.nodes {
            node.send(ToNode::Drain)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Finished, CliError> {
        // Every loop stops before any bridge shuts down, so no node reports
        // the others' shutdown; then each bridge's last events are booked.
        for node in &mut self.nodes {
            node.send(ToNode::Stop)?;
        }
        for node in &self.nodes {
            node.expect("stopped", |m| match m {
                FromNode::Stopped => Ok(()),
                other => Err(other),
            })?;
        }
        for node in &mut self.nodes {
            node.send(ToNode::Shutdown)?;
        }
        let mut ledgers = Vec::new();
        for node in &mut self.nodes {
            let ledger = node.expect("its books", |m| match m {
                FromNode::Ledger(ledger) => Ok(ledger),
                other => Err(other),
            })?;
            ledgers.push(*ledger);
            node.stdin = None;
            let status = node.wait()?;
            if !status.success() {
                self.problems
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(format!("{}: its process exited with {status}", node.name));
            }
        }
        let problems =
            std::mem::take(&mut *self.problems.lock().unwrap_or_else(|p| p.into_inner()));
        Ok(Finished { ledgers, problems })
    }
}

/// A message, briefly, for an error.
fn describe(message: &FromNode) -> String {
    match message {
        FromNode::Bound(e) => format!("a bound endpoint ({e})"),
        FromNode::Log(_) => "a log line".to_owned(),
        FromNode::Snapshot(_) => "a snapshot".to_owned(),
        FromNode::Frozen { .. } => "frozen".to_owned(),
        FromNode::Stopped => "stopped".to_owned(),
        FromNode::Ledger(l) => format!("the books of {}", l.label),
    }
}

/// A child's stdout, line by line: log lines printed, snapshots kept,
/// the rest passed on; lines that break the format are printed and kept
/// as problems (the run then fails).
fn read_node(
    stdout: ChildStdout,
    label: &str,
    snapshot: &Mutex<Snapshot>,
    log: &Log,
    problems: &Mutex<Vec<String>>,
    tx: &mpsc::Sender<Inbox>,
) {
    let mut stdout = BufReader::new(stdout);
    let mut reader = Reader::default();
    let mut line = Vec::new();
    let why = loop {
        line.clear();
        match (&mut stdout).take(MAX_LINE).read_until(b'\n', &mut line) {
            Ok(0) => {
                break if reader.in_ledger() {
                    "its output ended inside its books".to_owned()
                } else {
                    "end of its output".to_owned()
                };
            }
            Ok(_) => {}
            Err(e) => break format!("reading its output: {e}"),
        }
        if line.last() != Some(&b'\n') {
            break format!("a line longer than {MAX_LINE} bytes, or cut short");
        }
        line.pop();
        let parsed = std::str::from_utf8(&line)
            .map_err(|_| "a line that is not UTF-8".to_owned())
            .and_then(|text| reader.feed(text).map_err(|e| e.to_string()));
        match parsed {
            Ok(None) => {}
            Ok(Some(FromNode::Log(text))) => log.line(&text),
            Ok(Some(FromNode::Snapshot(snap))) => {
                *snapshot.lock().unwrap_or_else(|p| p.into_inner()) = snap;
            }
            Ok(Some(message)) => {
                if tx.send(Inbox::Message(message)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let problem = format!("{label}: a bad line from the node process: {e}");
                log.line(&problem);
                problems
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(problem);
            }
        }
    };
    let _ = tx.send(Inbox::Closed(why));
}
