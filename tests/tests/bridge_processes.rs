//! The serializer bridge with peers in processes of their own
//! (`bridge_peer`): one killed with SIGKILL mid-stream while another keeps
//! its rate, its undelivered chunks handed back, a new epoch when it
//! returns; and a stalled peer that fills up with memory bounded while the
//! others are unaffected.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serializer_bridge::{
    BridgeConfig, CacheEpoch, Caps, Chunk, Event, PeerId, PeerManager, WriteRefused,
};

/// A `bridge_peer` process, killed when dropped.
struct Node {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Node {
    fn spawn(name: &str, manager_endpoint: &str, extra: &[&str]) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bridge_peer"))
            .arg(name)
            .arg(format!("manager={manager_endpoint}"))
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Node { child, out }
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        line.trim().to_owned()
    }

    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Per-peer bookkeeping on the manager's side.
#[derive(Default)]
struct Seen {
    epoch: CacheEpoch,
    next_seq: u64,
    chunks: u64,
}

struct Manager {
    bridge: PeerManager,
    seen: HashMap<PeerId, Seen>,
    names: HashMap<String, PeerId>,
    downs: Vec<(PeerId, CacheEpoch, usize)>,
}

impl Manager {
    fn start(caps: Caps) -> Manager {
        let mut config = BridgeConfig::new("manager");
        config.listen.push("tcp://127.0.0.1:*".into());
        config.caps = caps;
        Manager {
            bridge: PeerManager::start(config).unwrap(),
            seen: HashMap::new(),
            names: HashMap::new(),
            downs: Vec::new(),
        }
    }

    fn endpoint(&self) -> String {
        self.bridge.bound_endpoints()[0].to_string()
    }

    /// Handles events for `period`, checking every chunk's epoch and order.
    fn run_for(&mut self, period: Duration) {
        let deadline = Instant::now() + period;
        while let Some(event) = self
            .bridge
            .wait_event(deadline.saturating_duration_since(Instant::now()))
        {
            match event {
                Event::PeerUp { peer, node, epoch } => {
                    self.names.insert(node, peer);
                    let seen = self.seen.entry(peer).or_default();
                    assert!(epoch > seen.epoch, "epochs only increase");
                    seen.epoch = epoch;
                    seen.next_seq = 0;
                }
                Event::Chunk { peer, chunk } => {
                    let seen = self.seen.get_mut(&peer).unwrap();
                    let epoch = u64::from_be_bytes(chunk.data[..8].try_into().unwrap());
                    let seq = u64::from_be_bytes(chunk.data[8..16].try_into().unwrap());
                    assert_eq!(
                        CacheEpoch(epoch),
                        chunk.epoch,
                        "serialized for the epoch it arrived in"
                    );
                    assert_eq!(
                        chunk.epoch, seen.epoch,
                        "no chunk crosses into another epoch"
                    );
                    assert_eq!(seq, seen.next_seq, "in order, nothing missing");
                    seen.next_seq += 1;
                    seen.chunks += 1;
                }
                Event::PeerDown {
                    peer,
                    epoch,
                    unsent,
                    unconfirmed,
                    ..
                } => self
                    .downs
                    .push((peer, epoch, unsent.len() + unconfirmed.len())),
                _ => {}
            }
            if Instant::now() >= deadline {
                break;
            }
        }
    }

    fn chunks_of(&self, name: &str) -> u64 {
        self.names
            .get(name)
            .and_then(|p| self.seen.get(p))
            .map_or(0, |s| s.chunks)
    }

    fn wait_until(&mut self, what: &str, mut done: impl FnMut(&Manager) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            self.run_for(Duration::from_millis(20));
        }
    }
}

#[test]
fn a_killed_peer_is_isolated_and_returns_in_a_new_epoch() {
    let mut m = Manager::start(Caps::default());
    let ep = m.endpoint();
    let mut victim = Node::spawn("victim", &ep, &[]);
    let _steady = Node::spawn("steady", &ep, &[]);
    assert!(victim.line().starts_with("up "));
    m.wait_until("both peers", |m| {
        m.chunks_of("victim") > 1000 && m.chunks_of("steady") > 1000
    });

    // The manager also sends to the victim, so it has chunks in flight
    // when the victim dies.
    let victim_id = m.names["victim"];
    let first_epoch = m.seen[&victim_id].epoch;
    let mut written = 0u64;
    for n in 0..500u64 {
        let mut data = vec![0u8; 64];
        data[8..16].copy_from_slice(&n.to_be_bytes());
        if m.bridge
            .write(victim_id, Chunk::serial(first_epoch, data))
            .is_ok()
        {
            written += 1;
        }
    }
    victim.kill();
    let steady_before = m.chunks_of("steady");
    m.wait_until("the victim's PeerDown", |m| {
        m.downs.iter().any(|d| d.0 == victim_id)
    });
    let (_, down_epoch, returned) = *m.downs.iter().find(|d| d.0 == victim_id).unwrap();
    assert_eq!(down_epoch, first_epoch);
    let stats = m.bridge.stats(victim_id).unwrap();
    assert_eq!(stats.pending, 0, "nothing left pending after the hand-back");
    assert!(
        returned as u64 <= written,
        "{returned} returned of {written}"
    );

    // The steady peer keeps flowing while the victim is gone.
    m.run_for(Duration::from_millis(500));
    assert!(
        m.chunks_of("steady") > steady_before + 100,
        "the steady peer stalled"
    );

    // The victim returns under the same name: same id, a new epoch, its
    // sequence starts again.
    let mut victim = Node::spawn("victim", &ep, &[]);
    assert!(victim.line().starts_with("up "));
    m.wait_until("the victim back", |m| {
        m.seen[&victim_id].epoch > first_epoch && m.seen[&victim_id].next_seq > 100
    });
    assert_eq!(m.names["victim"], victim_id, "a stable peer id");
    let (why, _) = m
        .bridge
        .write(victim_id, Chunk::serial(first_epoch, "old"))
        .unwrap_err();
    assert!(matches!(why, WriteRefused::StaleEpoch { .. }));
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn a_stalled_peer_fills_up_with_memory_bounded_and_others_unaffected() {
    let caps = Caps {
        soft_chunks: 1000,
        hard_chunks: 2000,
        soft_bytes: 8 << 20,
        hard_bytes: 16 << 20,
    };
    let mut m = Manager::start(caps);
    let ep = m.endpoint();
    let mut stalled = Node::spawn("stalled", &ep, &["--stall"]);
    let _steady = Node::spawn("steady", &ep, &[]);
    assert!(stalled.line().starts_with("up "));
    m.wait_until("both peers", |m| {
        m.names.contains_key("stalled") && m.chunks_of("steady") > 100
    });
    let stalled_id = m.names["stalled"];
    let epoch = m.seen[&stalled_id].epoch;

    let before = rss_kib();
    let mut accepted = 0u64;
    let mut refused = 0u64;
    // Write 16 KiB chunks until the hard cap refuses, then keep trying:
    // every further write must be refused too.
    while refused < 500 {
        match m
            .bridge
            .write(stalled_id, Chunk::serial(epoch, vec![0u8; 16 << 10]))
        {
            Ok(()) => accepted += 1,
            Err((WriteRefused::Full { .. }, _)) => refused += 1,
            Err((why, _)) => panic!("{why}"),
        }
        if accepted % 64 == 0 || refused > 0 {
            m.run_for(Duration::from_millis(1));
        }
        assert!(accepted <= 2000, "the hard cap did not hold");
    }
    m.run_for(Duration::from_millis(300));
    let growth_mib = rss_kib().saturating_sub(before) / 1024;
    assert!(m.bridge.is_filling_up(stalled_id));
    assert_eq!(accepted, 1024, "16 MiB of 16 KiB chunks");
    // 16 MiB hard cap, plus socket buffers and allocator slack.
    assert!(growth_mib < 16 + 48, "memory grew {growth_mib} MiB");

    // The steady peer goes on while the stalled one stays full. (Waited
    // for rather than timed: a fixed half second was too short once on a
    // loaded machine.)
    let steady = m.chunks_of("steady");
    m.wait_until("the steady peer to go on", |m| {
        m.chunks_of("steady") > steady + 100
    });
    assert!(
        m.bridge.is_filling_up(stalled_id),
        "the stalled peer drained"
    );
}
