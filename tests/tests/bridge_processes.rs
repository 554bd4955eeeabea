//! The serializer bridge with peers in processes of their own
//! (`bridge_peer`): one killed with SIGKILL mid-stream while another keeps
//! its rate, every chunk written to it accounted for exactly once
//! (delivered, or handed back when it returns as a new process), a new
//! epoch when it returns; and a stalled peer that fills up with memory
//! bounded while the others are unaffected, and whose chunks come back when
//! it dies and never returns.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serializer_bridge::{
    BridgeConfig, CacheEpoch, Caps, Chunk, Event, HandBack, LinkDown, PeerId, PeerManager,
    WriteRefused,
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

/// The outcomes the manager was told of the chunks it wrote to one peer in
/// one epoch.
#[derive(Default, Debug)]
struct Outcomes {
    /// Sequences `1..=delivered` were delivered.
    delivered: u64,
    /// Handed back: (reason, first sequence, count).
    back: Vec<(HandBack, u64, u64)>,
}

impl Outcomes {
    /// How many chunks have an outcome so far.
    fn settled(&self) -> u64 {
        self.delivered + self.back.iter().map(|b| b.2).sum::<u64>()
    }

    /// Checks that the outcomes cover `1..=written` once each: delivered
    /// first, then the hand-backs, contiguous.
    fn assert_exact(&self, written: u64) {
        let mut back = self.back.clone();
        back.sort_by_key(|&(_, first, _)| first);
        let mut next = self.delivered + 1;
        for (reason, first, count) in back {
            assert_eq!(
                first, next,
                "{reason:?} hand-back from {first}, expected {next}: {self:?}"
            );
            next += count;
        }
        assert_eq!(next - 1, written, "{self:?}");
    }
}

struct Manager {
    bridge: PeerManager,
    seen: HashMap<PeerId, Seen>,
    names: HashMap<String, PeerId>,
    downs: Vec<(PeerId, CacheEpoch, LinkDown)>,
    outcomes: HashMap<(PeerId, CacheEpoch), Outcomes>,
}

impl Manager {
    fn start(caps: Caps, in_doubt_timeout: Duration) -> Manager {
        let mut config = BridgeConfig::new("manager");
        config.listen.push("tcp://127.0.0.1:*".into());
        config.caps = caps;
        config.in_doubt_timeout = in_doubt_timeout;
        Manager {
            bridge: PeerManager::start(config).unwrap(),
            seen: HashMap::new(),
            names: HashMap::new(),
            downs: Vec::new(),
            outcomes: HashMap::new(),
        }
    }

    /// Writes `n` chunks of `size` bytes to `peer` in `epoch`; how many
    /// the bridge took (their sequences must be the next ones).
    fn write(&mut self, peer: PeerId, epoch: CacheEpoch, n: u64, size: usize) -> u64 {
        let mut written = 0;
        for _ in 0..n {
            match self
                .bridge
                .write(peer, Chunk::serial(epoch, vec![0u8; size]))
            {
                Ok(seq) => {
                    written += 1;
                    assert_eq!(seq, written, "sequences count from 1 in the epoch");
                }
                Err((WriteRefused::Full { .. }, _)) => {}
                Err((why, _)) => panic!("{why}"),
            }
        }
        written
    }

    /// The outcomes of what was written to `peer` in `epoch`: delivered,
    /// the hand-back reasons, and how many chunks have an outcome.
    fn outcomes(&self, peer: PeerId, epoch: CacheEpoch) -> (u64, Vec<HandBack>, u64) {
        self.outcomes
            .get(&(peer, epoch))
            .map_or((0, Vec::new(), 0), |o| {
                let reasons = o.back.iter().map(|b| b.0).collect();
                (o.delivered, reasons, o.settled())
            })
    }

    /// Checks that the chunks written to `peer` in `epoch` have exactly
    /// one outcome each.
    fn assert_exact(&self, peer: PeerId, epoch: CacheEpoch, written: u64) {
        match self.outcomes.get(&(peer, epoch)) {
            Some(o) => o.assert_exact(written),
            None => assert_eq!(written, 0, "no outcome at all"),
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
                Event::PeerUp {
                    peer, node, epoch, ..
                } => {
                    self.names.insert(node, peer);
                    let seen = self.seen.entry(peer).or_default();
                    assert!(epoch > seen.epoch, "epochs only increase");
                    seen.epoch = epoch;
                    seen.next_seq = 1;
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
                    reason,
                } => self.downs.push((peer, epoch, reason)),
                Event::Delivered {
                    peer,
                    epoch,
                    through,
                } => {
                    let o = self.outcomes.entry((peer, epoch)).or_default();
                    assert!(through > o.delivered, "Delivered is cumulative");
                    o.delivered = through;
                }
                Event::HandedBack {
                    peer,
                    epoch,
                    reason,
                    first_seq,
                    chunks,
                } => self.outcomes.entry((peer, epoch)).or_default().back.push((
                    reason,
                    first_seq,
                    chunks.len() as u64,
                )),
                Event::DeliveredAfterHandBack { .. } => {
                    panic!("no peer here returns as the same process after expiry")
                }
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
    let mut m = Manager::start(Caps::default(), Duration::from_secs(30));
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
    let written = m.write(victim_id, first_epoch, 500, 64);
    assert_eq!(written, 500);
    // Killed as soon as it has taken some, so (most likely) some of the
    // 500 are delivered and the rest are not.
    m.wait_until("the victim to take some", |m| {
        m.outcomes(victim_id, first_epoch).0 > 0
    });
    victim.kill();
    let steady_before = m.chunks_of("steady");
    m.wait_until("the victim's PeerDown", |m| {
        m.downs.iter().any(|d| d.0 == victim_id)
    });
    let (_, down_epoch, reason) = m.downs.iter().find(|d| d.0 == victim_id).unwrap().clone();
    assert_eq!(down_epoch, first_epoch);
    assert_eq!(reason, LinkDown::Closed);
    let stats = m.bridge.stats(victim_id).unwrap();
    assert_eq!(
        stats.pending, 0,
        "nothing left queued once the link is down"
    );
    // What was on the wire waits for the victim's next hello; the rest
    // came back at once.
    let (delivered, reasons, settled) = m.outcomes(victim_id, first_epoch);
    assert!(delivered > 0);
    assert!(
        reasons.iter().all(|r| *r == HandBack::Unsent),
        "{reasons:?}"
    );
    assert_eq!(
        settled + stats.in_doubt,
        written,
        "delivered {delivered}, the rest back or in doubt"
    );

    // The steady peer keeps flowing while the victim is gone.
    m.run_for(Duration::from_millis(500));
    assert!(
        m.chunks_of("steady") > steady_before + 100,
        "the steady peer stalled"
    );

    // The victim returns under the same name: same id, a new epoch, its
    // sequence starts again. Its hello says it is a new process: whatever
    // was in doubt comes back (the old process's state died with it).
    let mut victim = Node::spawn("victim", &ep, &[]);
    assert!(victim.line().starts_with("up "));
    m.wait_until("the victim back", |m| {
        m.seen[&victim_id].epoch > first_epoch && m.seen[&victim_id].next_seq > 100
    });
    assert_eq!(m.names["victim"], victim_id, "a stable peer id");
    let (delivered_after, reasons, settled) = m.outcomes(victim_id, first_epoch);
    assert_eq!(
        delivered_after, delivered,
        "nothing delivered after the kill"
    );
    assert_eq!(
        settled, written,
        "every chunk written has exactly one outcome: {delivered} delivered, the rest handed back ({reasons:?})"
    );
    assert!(
        reasons
            .iter()
            .all(|r| matches!(r, HandBack::Unsent | HandBack::PeerRestarted)),
        "{reasons:?}"
    );
    m.assert_exact(victim_id, first_epoch, written);
    assert_eq!(m.bridge.stats(victim_id).unwrap().in_doubt, 0);
    eprintln!(
        "victim: {written} written, {delivered} delivered, {} handed back ({reasons:?})",
        written - delivered
    );
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
    // A peer that dies and never returns costs the in-doubt timeout.
    let mut m = Manager::start(caps, Duration::from_secs(2));
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
            Ok(seq) => {
                accepted += 1;
                assert_eq!(seq, accepted);
            }
            Err((WriteRefused::Full { .. }, _)) => refused += 1,
            Err((why, _)) => panic!("{why}"),
        }
        if accepted.is_multiple_of(64) || refused > 0 {
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

    // The stalled peer dies and does not come back: it read nothing, so
    // nothing was delivered; what never left comes back at once
    // (`Unsent`), what was on the wire after the in-doubt timeout
    // (`Expired`), and the counts add up.
    stalled.kill();
    m.wait_until("every chunk's outcome", |m| {
        m.outcomes(stalled_id, epoch).2 == accepted
    });
    let (delivered, reasons, settled) = m.outcomes(stalled_id, epoch);
    assert_eq!((delivered, settled), (0, accepted));
    assert!(
        reasons
            .iter()
            .all(|r| matches!(r, HandBack::Unsent | HandBack::Expired)),
        "{reasons:?}"
    );
    m.assert_exact(stalled_id, epoch, accepted);
    assert!(m.bridge.is_idle(stalled_id));
    eprintln!("stalled: {accepted} written, all handed back ({reasons:?})");
    assert!(!m.bridge.is_filling_up(stalled_id));
}
