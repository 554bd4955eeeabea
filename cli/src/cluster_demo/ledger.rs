//! The demo's books and the final check.
//!
//! Every node records, per stream (sender incarnation, receiver, epoch):
//! as sender, how many chunks it wrote and which ones a `PeerDown` handed
//! back (unsent or unconfirmed); as receiver, which sequence numbers
//! arrived, in what order. [`verify`] then demands, for every stream, that
//! every chunk written and not handed back arrived exactly once and in
//! order, that nothing arrived that was never written, and that no chunk
//! handed back as *unsent* arrived anyway.
//!
//! One exception: a node killed mid-run gets no `PeerDown` for its last
//! epochs (it is gone), so what it wrote there and had not delivered died
//! with it, as it would with a crashed process. Those streams are checked
//! for order and duplicates only, and the loss is counted and shown.

use std::collections::BTreeMap;

/// What a sender knows of one stream.
#[derive(Debug, Clone, Default)]
pub struct Sent {
    /// Chunks written (sequence numbers `0..written`).
    pub written: u64,
    /// Of those, chunks carrying items handed back in an earlier epoch.
    pub reserialized: u64,
    /// Handed back by `PeerDown` as never sent.
    pub unsent: Vec<u64>,
    /// Handed back by `PeerDown` as sent but not acknowledged.
    pub unconfirmed: Vec<u64>,
    /// A `PeerDown` closed this stream.
    pub ended: bool,
}

/// What a receiver saw of one stream.
#[derive(Debug, Clone, Default)]
pub struct Received {
    /// Sequence numbers that arrived, as increasing half-open runs.
    runs: Vec<(u64, u64)>,
    /// Chunks that arrived out of order or twice.
    pub disorder: u64,
    /// The first few of those, described.
    pub disorder_examples: Vec<String>,
    /// Chunks that arrived.
    pub count: u64,
}

impl Received {
    /// Notes the arrival of `seq`.
    pub fn record(&mut self, seq: u64) {
        self.count += 1;
        match self.runs.last_mut() {
            Some(last) if seq == last.1 => last.1 += 1,
            Some(last) if seq < last.1 => {
                self.disorder += 1;
                if self.disorder_examples.len() < 5 {
                    self.disorder_examples
                        .push(format!("seq {seq} after seq {}", last.1 - 1));
                }
            }
            _ => self.runs.push((seq, seq + 1)),
        }
    }

    fn contains(&self, seq: u64) -> bool {
        let i = self.runs.partition_point(|&(_, end)| end <= seq);
        self.runs.get(i).is_some_and(|&(start, _)| start <= seq)
    }

    fn highest(&self) -> Option<u64> {
        self.runs.last().map(|&(_, end)| end - 1)
    }
}

/// One node's books, handed over when its thread ends.
#[derive(Debug, Clone, Default)]
pub struct NodeLedger {
    /// `worker-3`, or `worker-3 (run 2)` for a restarted node.
    pub label: String,
    /// The node was killed rather than stopped.
    pub killed: bool,
    /// Streams it sent, by (receiver name, epoch).
    pub sent: BTreeMap<(String, u64), Sent>,
    /// Streams it received, by (sender label, epoch).
    pub received: BTreeMap<(String, u64), Received>,
    /// Chunks that broke a rule on arrival (wrong epoch, not ours, ...).
    pub violations: Vec<String>,
    /// How many such chunks, including those not described.
    pub violation_count: u64,
    /// Items handed back and not yet written again when the node stopped.
    pub backlog_left: u64,
}

impl NodeLedger {
    /// Notes a chunk that broke a rule.
    pub fn violation(&mut self, what: String) {
        self.violation_count += 1;
        if self.violations.len() < 10 {
            self.violations.push(what);
        }
    }
}

/// The label of incarnation `n` of node `name`.
pub fn label(name: &str, incarnation: u16) -> String {
    if incarnation <= 1 {
        name.to_owned()
    } else {
        format!("{name} (run {incarnation})")
    }
}

/// The outcome of [`verify`].
#[derive(Debug, Default)]
pub struct Verdict {
    /// One line per stream, then per problem.
    pub lines: Vec<String>,
    /// Problems found; empty means the run passed.
    pub failures: Vec<String>,
    /// Streams checked.
    pub streams: usize,
    /// Chunks that arrived, over all streams.
    pub arrived: u64,
    /// Chunks handed back on `PeerDown`.
    pub handed_back: u64,
    /// Chunks written again in a later epoch.
    pub reserialized: u64,
    /// Chunks lost with a killed sender (not a failure).
    pub died_with_sender: u64,
}

/// Checks every stream of every node against the rules in the module docs.
pub fn verify(ledgers: &[NodeLedger]) -> Verdict {
    let mut verdict = Verdict::default();
    // (from label, to name, epoch) -> (sender's books, sender killed, receiver's books)
    type Entry<'a> = (Option<&'a Sent>, bool, Option<&'a Received>);
    let mut streams: BTreeMap<(String, String, u64), Entry<'_>> = BTreeMap::new();
    for node in ledgers {
        for ((to, epoch), sent) in &node.sent {
            let e = streams
                .entry((node.label.clone(), to.clone(), *epoch))
                .or_default();
            e.0 = Some(sent);
            e.1 = node.killed;
        }
    }
    for node in ledgers {
        let name = node.label.split(" (run").next().unwrap_or(&node.label);
        for ((from, epoch), received) in &node.received {
            let e = streams
                .entry((from.clone(), name.to_owned(), *epoch))
                .or_default();
            // Two incarnations of one receiver never share an epoch with
            // the same sender; if they did, the second would show here.
            if e.2.is_some() {
                verdict.failures.push(format!(
                    "{from} -> {name} epoch {epoch}: received by two runs of {name}"
                ));
            }
            e.2 = Some(received);
        }
        for v in &node.violations {
            verdict.failures.push(format!("{}: {v}", node.label));
        }
        if node.violation_count > node.violations.len() as u64 {
            verdict.failures.push(format!(
                "{}: {} more bad chunks",
                node.label,
                node.violation_count - node.violations.len() as u64
            ));
        }
        if !node.killed && node.backlog_left > 0 {
            verdict.failures.push(format!(
                "{}: {} handed-back items were never written again",
                node.label, node.backlog_left
            ));
        }
    }
    // Links of nodes that write nothing to that peer (a proxy to a worker)
    // have no stream to check.
    streams.retain(|_, (sent, _, received)| {
        sent.is_some_and(|s| s.written > 0) || received.is_some_and(|r| r.count > 0)
    });
    let width = streams
        .keys()
        .map(|(from, to, _)| from.len() + to.len() + 4)
        .max()
        .unwrap_or(0);
    for ((from, to, epoch), (sent, killed, received)) in &streams {
        verdict.streams += 1;
        let name = format!("{from} -> {to}");
        let head = format!("{name:<width$}  epoch {epoch}");
        let empty = Received::default();
        let received = received.unwrap_or(&empty);
        verdict.arrived += received.count;
        let Some(sent) = sent else {
            let line = format!(
                "{head}: {} chunks arrived that were never written  FAIL",
                received.count
            );
            verdict.failures.push(line.clone());
            verdict.lines.push(line);
            continue;
        };
        let check = check_stream(sent, received);
        verdict.handed_back += check.handed_back;
        verdict.reserialized += sent.reserialized;
        let mut line = format!("{head}: {} written", sent.written);
        if sent.reserialized > 0 {
            line += &format!(" ({} re-serialized)", sent.reserialized);
        }
        if check.handed_back > 0 {
            line += &format!(
                ", {} handed back on PeerDown ({} unsent, {} unconfirmed; {} of those had arrived)",
                check.handed_back,
                sent.unsent.len(),
                sent.unconfirmed.len(),
                check.handed_back_arrived
            );
        }
        let lost_with_sender = *killed && !sent.ended;
        let mut problems = Vec::new();
        if check.missing > 0 {
            if lost_with_sender {
                verdict.died_with_sender += check.missing;
                line += &format!(
                    ", {} died with their killed sender (not checked)",
                    check.missing
                );
            } else {
                problems.push(format!(
                    "{} written and not handed back never arrived (first: seq {})",
                    check.missing,
                    check.first_missing.unwrap_or(0)
                ));
            }
        }
        if check.phantom > 0 {
            problems.push(format!("{} arrived beyond the last written", check.phantom));
        }
        if check.unsent_arrived > 0 {
            problems.push(format!(
                "{} handed back as unsent arrived anyway",
                check.unsent_arrived
            ));
        }
        if received.disorder > 0 {
            problems.push(format!(
                "{} out of order or twice ({})",
                received.disorder,
                received.disorder_examples.join(", ")
            ));
        }
        if problems.is_empty() {
            line += ", every one due arrived once, in order  ok";
        } else {
            line += &format!("  FAIL: {}", problems.join("; "));
            verdict
                .failures
                .push(format!("{name} epoch {epoch}: {}", problems.join("; ")));
        }
        verdict.lines.push(line);
    }
    verdict
}

#[derive(Debug, Default)]
struct StreamCheck {
    handed_back: u64,
    handed_back_arrived: u64,
    missing: u64,
    first_missing: Option<u64>,
    phantom: u64,
    unsent_arrived: u64,
}

fn check_stream(sent: &Sent, received: &Received) -> StreamCheck {
    let mut back: Vec<u64> = sent
        .unsent
        .iter()
        .chain(&sent.unconfirmed)
        .copied()
        .collect();
    back.sort_unstable();
    back.dedup();
    let mut check = StreamCheck {
        handed_back: back.len() as u64,
        ..StreamCheck::default()
    };
    for &seq in &back {
        if received.contains(seq) {
            check.handed_back_arrived += 1;
        }
    }
    for &seq in &sent.unsent {
        if received.contains(seq) {
            check.unsent_arrived += 1;
        }
    }
    let mut b = 0;
    for seq in 0..sent.written {
        while b < back.len() && back[b] < seq {
            b += 1;
        }
        let handed_back = back.get(b) == Some(&seq);
        if !handed_back && !received.contains(seq) {
            check.missing += 1;
            check.first_missing.get_or_insert(seq);
        }
    }
    if let Some(high) = received.highest() {
        if high >= sent.written {
            check.phantom = received
                .runs
                .iter()
                .map(|&(start, end)| end.saturating_sub(start.max(sent.written)))
                .sum();
        }
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(label: &str) -> NodeLedger {
        NodeLedger {
            label: label.into(),
            ..NodeLedger::default()
        }
    }

    fn received(seqs: impl IntoIterator<Item = u64>) -> Received {
        let mut r = Received::default();
        for s in seqs {
            r.record(s);
        }
        r
    }

    #[test]
    fn a_complete_stream_passes() {
        let mut w = node("worker-1");
        w.sent.insert(
            ("manager".into(), 1),
            Sent {
                written: 100,
                ..Sent::default()
            },
        );
        let mut m = node("manager");
        m.received.insert(("worker-1".into(), 1), received(0..100));
        let v = verify(&[w, m]);
        assert!(v.failures.is_empty(), "{:?}", v.failures);
        assert_eq!((v.streams, v.arrived), (1, 100));
    }

    #[test]
    fn handed_back_chunks_may_be_missing_but_nothing_else() {
        let mut m = node("manager");
        m.sent.insert(
            ("worker-3".into(), 1),
            Sent {
                written: 10,
                unconfirmed: vec![6, 7],
                unsent: vec![8, 9],
                ended: true,
                ..Sent::default()
            },
        );
        let mut w = node("worker-3");
        w.killed = true;
        w.received.insert(("manager".into(), 1), received(0..7));
        let v = verify(&[m.clone(), w.clone()]);
        assert!(v.failures.is_empty(), "{:?}", v.failures);
        assert_eq!(v.handed_back, 4);

        // Seq 5 missing and not handed back: a failure.
        w.received.insert(("manager".into(), 1), received(0..5));
        let v = verify(&[m.clone(), w.clone()]);
        assert_eq!(v.failures.len(), 1, "{:?}", v.failures);
        assert!(v.failures[0].contains("first: seq 5"), "{:?}", v.failures);

        // An unsent chunk that arrived is a failure too.
        w.received.insert(("manager".into(), 1), received(0..9));
        let v = verify(&[m, w]);
        assert!(
            v.failures.iter().any(|f| f.contains("unsent arrived")),
            "{:?}",
            v.failures
        );
    }

    #[test]
    fn disorder_duplicates_and_phantoms_fail() {
        let mut w = node("worker-1");
        w.sent.insert(
            ("proxy".into(), 2),
            Sent {
                written: 5,
                ..Sent::default()
            },
        );
        let mut p = node("proxy");
        p.received
            .insert(("worker-1".into(), 2), received([0, 1, 1, 2, 3, 4, 5]));
        let v = verify(&[w, p]);
        assert!(
            v.failures
                .iter()
                .any(|f| f.contains("out of order or twice"))
        );
        assert!(
            v.failures
                .iter()
                .any(|f| f.contains("beyond the last written"))
        );
    }

    #[test]
    fn a_killed_senders_last_epoch_is_not_held_against_it() {
        let mut w = node("worker-3");
        w.killed = true;
        w.sent.insert(
            ("manager".into(), 1),
            Sent {
                written: 50,
                ..Sent::default()
            },
        );
        let mut m = node("manager");
        m.received.insert(("worker-3".into(), 1), received(0..40));
        let v = verify(&[w, m]);
        assert!(v.failures.is_empty(), "{:?}", v.failures);
        assert_eq!(v.died_with_sender, 10);
    }

    #[test]
    fn chunks_nobody_wrote_fail() {
        let mut m = node("manager");
        m.received.insert(("ghost".into(), 1), received(0..3));
        assert_eq!(verify(&[m]).failures.len(), 1);
    }

    #[test]
    fn run_membership() {
        let r = received([0, 1, 2, 5, 6, 9]);
        let has: Vec<u64> = (0..11).filter(|&s| r.contains(s)).collect();
        assert_eq!(has, [0, 1, 2, 5, 6, 9]);
        assert_eq!(label("worker-1", 1), "worker-1");
        assert_eq!(label("worker-1", 2), "worker-1 (run 2)");
    }
}
