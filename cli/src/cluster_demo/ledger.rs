//! The demo's books and the final check of the bridge's exact-outcome
//! contract.
//!
//! A stream is what one sender incarnation wrote to one receiver
//! incarnation in one cache epoch; its chunks are numbered by the bridge
//! from 1 (`PeerManager::write` returns the number, and the payload
//! carries it). The sender books what it wrote and every outcome the bridge
//! reported: `Delivered` (cumulative), `HandedBack` (a range and a reason)
//! and `DeliveredAfterHandBack`. The receiver books which numbers arrived,
//! in what order. [`verify`] then demands, per stream:
//!
//! - every chunk written by a sender that was not killed has exactly one
//!   outcome (a killed sender's last outcomes died with it: at most one);
//! - every chunk reported `Delivered` arrived, exactly once;
//! - no chunk handed back as `Unsent` or `NotDelivered` arrived, nor one
//!   handed back as `PeerRestarted` at a receiver that is still alive (a
//!   killed receiver may have taken it before it died: its state died
//!   with it, which is what `PeerRestarted` says);
//! - nothing is handed back as `PeerRestarted` unless its receiver was
//!   killed: a link that dropped between two live processes (the
//!   `--partition`) settles as `Delivered` or `NotDelivered` only;
//! - chunks handed back as `Expired` or `Shutdown` may or may not have
//!   arrived: they are counted and shown, and a `DeliveredAfterHandBack`
//!   one must have arrived;
//! - arrivals are a gap-free prefix, in order, without duplicates, nothing
//!   beyond what was written, and (checked on arrival) only in the epoch
//!   the chunk was written for.

use std::collections::{BTreeMap, BTreeSet};

use serializer_bridge::HandBack;

/// The hand-back reasons, in the order the books show them.
pub const REASONS: [HandBack; 5] = [
    HandBack::Unsent,
    HandBack::NotDelivered,
    HandBack::PeerRestarted,
    HandBack::Expired,
    HandBack::Shutdown,
];

/// A reason's place in [`REASONS`].
pub fn reason_index(reason: HandBack) -> usize {
    match reason {
        HandBack::Unsent => 0,
        HandBack::NotDelivered => 1,
        HandBack::PeerRestarted => 2,
        HandBack::Expired => 3,
        HandBack::Shutdown => 4,
    }
}

/// A short name for a reason, for the books.
pub fn reason_name(reason: HandBack) -> &'static str {
    match reason {
        HandBack::Unsent => "unsent",
        HandBack::NotDelivered => "not delivered",
        HandBack::PeerRestarted => "peer restarted",
        HandBack::Expired => "expired",
        HandBack::Shutdown => "shutdown",
    }
}

/// Chunks of a stream that one `HandedBack` event returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Back {
    /// Why.
    pub reason: HandBack,
    /// The first sequence.
    pub first: u64,
    /// How many, from `first` on.
    pub count: u64,
}

impl Back {
    fn contains(&self, seq: u64) -> bool {
        seq >= self.first && seq - self.first < self.count
    }
}

/// What a sender knows of one stream.
#[derive(Debug, Clone, Default)]
pub struct Sent {
    /// Chunks written: sequences `1..=written`.
    pub written: u64,
    /// Of those, chunks carrying items handed back in an earlier epoch.
    pub reserialized: u64,
    /// The highest sequence a `Delivered` event named (0: none).
    pub delivered: u64,
    /// What `HandedBack` events returned.
    pub back: Vec<Back>,
    /// Ranges `DeliveredAfterHandBack` named, inclusive.
    pub late: Vec<(u64, u64)>,
}

impl Sent {
    /// Chunks whose outcome had been reported when `written` were written.
    pub fn settled(&self) -> u64 {
        self.delivered + self.back.iter().map(|b| b.count).sum::<u64>()
    }
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
    /// The sequences that arrived, as increasing, disjoint, non-adjacent
    /// half-open runs.
    pub fn runs(&self) -> &[(u64, u64)] {
        &self.runs
    }

    /// Books rebuilt from their parts (a node process's report), or `None`
    /// if `runs` are not increasing, disjoint, non-adjacent and non-empty
    /// each, or do not hold `count - disorder` sequences.
    pub fn from_parts(
        runs: Vec<(u64, u64)>,
        count: u64,
        disorder: u64,
        disorder_examples: Vec<String>,
    ) -> Option<Received> {
        let mut last_end = None;
        let mut in_runs = 0u64;
        for &(start, end) in &runs {
            if start >= end || last_end.is_some_and(|last| start <= last) {
                return None;
            }
            in_runs = in_runs.checked_add(end - start)?;
            last_end = Some(end);
        }
        if count.checked_sub(disorder)? != in_runs {
            return None;
        }
        Some(Received {
            runs,
            disorder,
            disorder_examples,
            count,
        })
    }

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

    /// Whether what arrived is `1..=n` for some `n` (or nothing).
    fn is_prefix(&self) -> bool {
        match self.runs.as_slice() {
            [] => true,
            [(start, _)] => *start == 1,
            _ => false,
        }
    }
}

/// One node's books, handed over when it stops.
#[derive(Debug, Clone, Default)]
pub struct NodeLedger {
    /// `worker-3`, or `worker-3 (run 2)` for a restarted node.
    pub label: String,
    /// The node was killed rather than stopped.
    pub killed: bool,
    /// Streams it sent, by (receiver label, epoch).
    pub sent: BTreeMap<(String, u64), Sent>,
    /// Streams it received, by (sender label, epoch).
    pub received: BTreeMap<(String, u64), Received>,
    /// Chunks or events that broke a rule on arrival (wrong epoch, not
    /// ours, an outcome naming the wrong chunks, ...).
    pub violations: Vec<String>,
    /// How many, including those not described.
    pub violation_count: u64,
    /// Items handed back and not yet written again when the node stopped.
    pub backlog_left: u64,
    /// Times the node's `--partition` partner came back up after its link
    /// dropped, with everything of the dropped epoch settled.
    pub heals: u64,
}

impl NodeLedger {
    /// Notes something that broke a rule.
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
    /// One line per stream.
    pub lines: Vec<String>,
    /// Problems found; empty means the run passed.
    pub failures: Vec<String>,
    /// Streams checked.
    pub streams: usize,
    /// Chunks written, over all streams.
    pub written: u64,
    /// Chunks that arrived, over all streams.
    pub arrived: u64,
    /// Chunks reported `Delivered`.
    pub delivered: u64,
    /// Chunks handed back, per reason (in [`REASONS`] order).
    pub handed_back: [u64; 5],
    /// Of those, how many had arrived anyway.
    pub handed_back_arrived: [u64; 5],
    /// Chunks reported `DeliveredAfterHandBack`.
    pub delivered_late: u64,
    /// Chunks written again in a later epoch.
    pub reserialized: u64,
    /// Chunks of a killed sender left without an outcome (not a failure).
    pub died_with_sender: u64,
}

impl Verdict {
    /// Chunks handed back, all reasons.
    pub fn handed_back_total(&self) -> u64 {
        self.handed_back.iter().sum()
    }

    /// `unsent 3, peer restarted 140`: the reasons that occurred.
    pub fn reasons(&self) -> String {
        let parts: Vec<String> = REASONS
            .iter()
            .zip(self.handed_back.iter().zip(&self.handed_back_arrived))
            .filter(|(_, (n, _))| **n > 0)
            .map(|(r, (n, arrived))| match r {
                HandBack::Expired | HandBack::Shutdown | HandBack::PeerRestarted => {
                    format!("{} {n} ({arrived} had arrived)", reason_name(*r))
                }
                _ => format!("{} {n}", reason_name(*r)),
            })
            .collect();
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// Checks every stream of every node against the rules in the module docs.
pub fn verify(ledgers: &[NodeLedger]) -> Verdict {
    let mut verdict = Verdict::default();
    let killed: BTreeSet<&str> = ledgers
        .iter()
        .filter(|n| n.killed)
        .map(|n| n.label.as_str())
        .collect();
    // (from label, to label, epoch) -> (sender's books, receiver's books)
    type Entry<'a> = (Option<&'a Sent>, Option<&'a Received>);
    let mut streams: BTreeMap<(String, String, u64), Entry<'_>> = BTreeMap::new();
    for node in ledgers {
        for ((to, epoch), sent) in &node.sent {
            streams
                .entry((node.label.clone(), to.clone(), *epoch))
                .or_default()
                .0 = Some(sent);
        }
        for ((from, epoch), received) in &node.received {
            streams
                .entry((from.clone(), node.label.clone(), *epoch))
                .or_default()
                .1 = Some(received);
        }
        for v in &node.violations {
            verdict.failures.push(format!("{}: {v}", node.label));
        }
        if node.violation_count > node.violations.len() as u64 {
            verdict.failures.push(format!(
                "{}: {} more violations",
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
    streams.retain(|_, (sent, received)| {
        sent.is_some_and(|s| s.written > 0) || received.is_some_and(|r| r.count > 0)
    });
    let width = streams
        .keys()
        .map(|(from, to, _)| from.len() + to.len() + 4)
        .max()
        .unwrap_or(0);
    let empty_sent = Sent::default();
    let empty_received = Received::default();
    for ((from, to, epoch), (sent, received)) in &streams {
        verdict.streams += 1;
        let name = format!("{from} -> {to}");
        let head = format!("{name:<width$}  epoch {epoch}");
        let received = received.unwrap_or(&empty_received);
        verdict.arrived += received.count;
        let sender_killed = killed.contains(from.as_str());
        let receiver_killed = killed.contains(to.as_str());
        let Some(sent) = sent else {
            // A killed sender's books are kept, so nothing arrives from a
            // stream nobody booked.
            let line = format!(
                "{head}: {} chunks arrived that were never written  FAIL",
                received.count
            );
            verdict.failures.push(line.clone());
            verdict.lines.push(line);
            continue;
        };
        let sent = if sent.written == 0 { &empty_sent } else { sent };
        let check = check_stream(sent, received, receiver_killed);
        verdict.written += sent.written;
        verdict.delivered += check.delivered;
        verdict.delivered_late += check.delivered_late;
        verdict.reserialized += sent.reserialized;
        for i in 0..REASONS.len() {
            verdict.handed_back[i] += check.back[i];
            verdict.handed_back_arrived[i] += check.back_arrived[i];
        }

        let mut line = format!("{head}: {} written", sent.written);
        if sent.reserialized > 0 {
            line += &format!(" ({} re-serialized)", sent.reserialized);
        }
        line += &format!(", {} delivered", check.delivered);
        for (i, reason) in REASONS.iter().enumerate() {
            if check.back[i] > 0 {
                line += &format!(", {} back {}", check.back[i], reason_name(*reason));
                if check.back_arrived[i] > 0 {
                    line += &format!(" ({} had arrived)", check.back_arrived[i]);
                }
            }
        }
        if check.delivered_late > 0 {
            line += &format!(", {} delivered after hand-back", check.delivered_late);
        }
        let mut problems = check.problems.clone();
        if check.no_outcome > 0 {
            if sender_killed {
                verdict.died_with_sender += check.no_outcome;
                line += &format!(
                    ", {} without an outcome: died with their killed sender",
                    check.no_outcome
                );
            } else {
                problems.push(format!(
                    "{} written got no outcome (first: seq {})",
                    check.no_outcome,
                    check.first_no_outcome.unwrap_or(0)
                ));
            }
        }
        if received.disorder > 0 {
            problems.push(format!(
                "{} arrived out of order or twice ({})",
                received.disorder,
                received.disorder_examples.join(", ")
            ));
        }
        if !received.is_prefix() {
            problems.push("arrivals have a gap".to_owned());
        }
        if problems.is_empty() {
            line += "  ok";
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
    delivered: u64,
    delivered_late: u64,
    back: [u64; 5],
    back_arrived: [u64; 5],
    no_outcome: u64,
    first_no_outcome: Option<u64>,
    problems: Vec<String>,
}

/// A count and the first sequence it counts.
#[derive(Debug, Default)]
struct Tally {
    count: u64,
    first: Option<u64>,
}

impl Tally {
    fn add(&mut self, seq: u64) {
        self.count += 1;
        self.first.get_or_insert(seq);
    }

    fn report(&self, problems: &mut Vec<String>, what: &str) {
        if self.count > 0 {
            problems.push(format!(
                "{} {what} (first: seq {})",
                self.count,
                self.first.unwrap_or(0)
            ));
        }
    }
}

fn check_stream(sent: &Sent, received: &Received, receiver_killed: bool) -> StreamCheck {
    let mut check = StreamCheck::default();
    let mut several = Tally::default();
    let mut delivered_missing = Tally::default();
    let mut forbidden = Tally::default();
    let mut restarted_alive = Tally::default();
    let mut late_not_expired = Tally::default();
    if sent.delivered > sent.written {
        check.problems.push(format!(
            "Delivered through seq {} of {} written",
            sent.delivered, sent.written
        ));
    }
    for b in &sent.back {
        if b.first == 0 || b.first.saturating_add(b.count) > sent.written.saturating_add(1) {
            check.problems.push(format!(
                "{} chunks from seq {} handed back ({}) of {} written",
                b.count,
                b.first,
                reason_name(b.reason),
                sent.written
            ));
        }
    }
    for seq in 1..=sent.written {
        let arrived = received.contains(seq);
        let delivered = seq <= sent.delivered;
        let late = sent.late.iter().any(|&(a, b)| (a..=b).contains(&seq));
        let backs: Vec<HandBack> = sent
            .back
            .iter()
            .filter(|b| b.contains(seq))
            .map(|b| b.reason)
            .collect();
        let outcomes = usize::from(delivered) + backs.len();
        if outcomes == 0 {
            check.no_outcome += 1;
            check.first_no_outcome.get_or_insert(seq);
        } else if outcomes > 1 {
            several.add(seq);
        }
        if delivered && !arrived {
            delivered_missing.add(seq);
        }
        if delivered {
            check.delivered += 1;
        }
        if late {
            check.delivered_late += 1;
            if backs != [HandBack::Expired] {
                late_not_expired.add(seq);
            } else if !arrived {
                delivered_missing.add(seq);
            }
        }
        for reason in backs {
            let i = reason_index(reason);
            check.back[i] += 1;
            if reason == HandBack::PeerRestarted && !receiver_killed {
                restarted_alive.add(seq);
            }
            if arrived {
                check.back_arrived[i] += 1;
                let allowed = match reason {
                    HandBack::Unsent | HandBack::NotDelivered => false,
                    HandBack::PeerRestarted => receiver_killed,
                    HandBack::Expired | HandBack::Shutdown => true,
                };
                if !allowed {
                    forbidden.add(seq);
                }
            }
        }
    }
    several.report(&mut check.problems, "got more than one outcome");
    delivered_missing.report(&mut check.problems, "reported delivered never arrived");
    forbidden.report(
        &mut check.problems,
        "handed back as not delivered (unsent, not delivered, or restarted while the receiver lives) arrived",
    );
    restarted_alive.report(
        &mut check.problems,
        "handed back as peer restarted, but the receiver was never killed",
    );
    late_not_expired.report(
        &mut check.problems,
        "reported delivered after a hand-back that was not Expired",
    );
    let phantom: u64 = received
        .runs
        .iter()
        .map(|&(start, end)| end.saturating_sub(start.max(sent.written + 1)))
        .sum();
    if phantom > 0 {
        check
            .problems
            .push(format!("{phantom} arrived beyond the last written"));
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

    fn back(reason: HandBack, first: u64, count: u64) -> Back {
        Back {
            reason,
            first,
            count,
        }
    }

    /// worker-1 wrote `sent` to the manager in epoch 1; the manager saw
    /// `arrived`.
    fn one_stream(sent: Sent, arrived: Received) -> Verdict {
        let mut w = node("worker-1");
        w.sent.insert(("manager".into(), 1), sent);
        let mut m = node("manager");
        m.received.insert(("worker-1".into(), 1), arrived);
        verify(&[w, m])
    }

    fn failures_mention(v: &Verdict, what: &str) -> bool {
        v.failures.iter().any(|f| f.contains(what))
    }

    #[test]
    fn a_complete_stream_passes() {
        let sent = Sent {
            written: 100,
            delivered: 100,
            ..Sent::default()
        };
        let v = one_stream(sent, received(1..=100));
        assert!(v.failures.is_empty(), "{:?}", v.failures);
        assert_eq!(
            (v.streams, v.written, v.arrived, v.delivered),
            (1, 100, 100, 100)
        );
    }

    /// Delivered 1..=4, the record said 5..=6 were not, 7..=10 never left.
    fn mixed() -> Sent {
        Sent {
            written: 10,
            delivered: 4,
            back: vec![
                back(HandBack::NotDelivered, 5, 2),
                back(HandBack::Unsent, 7, 4),
            ],
            ..Sent::default()
        }
    }

    #[test]
    fn every_chunk_with_one_outcome_that_matches_the_arrivals_passes() {
        let v = one_stream(mixed(), received(1..=4));
        assert!(v.failures.is_empty(), "{:?}", v.failures);
        assert_eq!(v.delivered, 4);
        assert_eq!(v.handed_back, [4, 2, 0, 0, 0]);
        assert_eq!(v.handed_back_total(), 6);
    }

    #[test]
    fn a_delivered_chunk_that_never_arrived_fails() {
        let v = one_stream(mixed(), received(1..=3));
        assert_eq!(v.failures.len(), 1, "{:?}", v.failures);
        assert!(
            failures_mention(&v, "1 reported delivered never arrived (first: seq 4)"),
            "{:?}",
            v.failures
        );
    }

    #[test]
    fn a_not_delivered_chunk_that_arrived_fails() {
        let v = one_stream(mixed(), received(1..=5));
        assert_eq!(v.failures.len(), 1, "{:?}", v.failures);
        assert!(
            failures_mention(&v, "arrived (first: seq 5)"),
            "{:?}",
            v.failures
        );
        // An unsent one likewise.
        let v = one_stream(mixed(), received(1..=7));
        assert!(
            failures_mention(&v, "3 handed back as not delivered"),
            "{:?}",
            v.failures
        );
    }

    #[test]
    fn a_chunk_without_an_outcome_fails_unless_its_sender_was_killed() {
        let mut sent = mixed();
        sent.back.pop(); // 7..=10 never heard of again
        let v = one_stream(sent.clone(), received(1..=4));
        assert!(
            failures_mention(&v, "4 written got no outcome (first: seq 7)"),
            "{:?}",
            v.failures
        );

        let mut w = node("worker-1");
        w.killed = true;
        w.sent.insert(("manager".into(), 1), sent);
        let mut m = node("manager");
        m.received.insert(("worker-1".into(), 1), received(1..=4));
        let v = verify(&[w, m]);
        assert!(v.failures.is_empty(), "{:?}", v.failures);
        assert_eq!(v.died_with_sender, 4);
    }

    #[test]
    fn a_chunk_with_two_outcomes_fails() {
        let mut sent = mixed();
        sent.back.push(back(HandBack::Expired, 4, 1)); // 4 is also delivered
        let v = one_stream(sent, received(1..=4));
        assert!(
            failures_mention(&v, "1 got more than one outcome (first: seq 4)"),
            "{:?}",
            v.failures
        );
    }

    #[test]
    fn restarted_chunks_may_have_reached_only_a_killed_receiver() {
        let sent = Sent {
            written: 6,
            delivered: 2,
            back: vec![back(HandBack::PeerRestarted, 3, 4)],
            ..Sent::default()
        };
        let mut m = node("manager");
        m.sent.insert(("worker-3".into(), 1), sent);
        let mut w = node("worker-3");
        w.killed = true;
        w.received.insert(("manager".into(), 1), received(1..=4));
        let v = verify(&[m.clone(), w.clone()]);
        assert!(v.failures.is_empty(), "{:?}", v.failures);
        assert_eq!((v.handed_back[2], v.handed_back_arrived[2]), (4, 2));

        w.killed = false;
        let v = verify(&[m, w]);
        assert!(
            failures_mention(&v, "2 handed back as not delivered"),
            "{:?}",
            v.failures
        );
        assert!(
            failures_mention(
                &v,
                "4 handed back as peer restarted, but the receiver was never killed"
            ),
            "{:?}",
            v.failures
        );
    }

    #[test]
    fn received_books_rebuild_only_from_consistent_parts() {
        let r = received([1, 2, 3, 6, 7, 7]);
        let again = Received::from_parts(r.runs().to_vec(), r.count, r.disorder, vec![]);
        assert_eq!(again.map(|a| a.runs().to_vec()), Some(vec![(1, 4), (6, 8)]));
        for runs in [vec![(1, 4), (4, 6)], vec![(3, 3)], vec![(5, 8), (1, 2)]] {
            assert!(Received::from_parts(runs, 5, 0, vec![]).is_none());
        }
        assert!(Received::from_parts(vec![(1, 4)], 2, 0, vec![]).is_none());
        assert!(Received::from_parts(vec![(1, 4)], 3, 4, vec![]).is_none());
    }

    #[test]
    fn expired_and_shutdown_chunks_may_or_may_not_have_arrived() {
        let sent = Sent {
            written: 8,
            delivered: 2,
            back: vec![
                back(HandBack::Expired, 3, 3),
                back(HandBack::Shutdown, 6, 3),
            ],
            late: vec![(3, 4)],
            ..Sent::default()
        };
        let v = one_stream(sent.clone(), received(1..=6));
        assert!(v.failures.is_empty(), "{:?}", v.failures);
        assert_eq!(v.handed_back_arrived, [0, 0, 0, 3, 1]);
        assert_eq!(v.delivered_late, 2);
        // A chunk reported delivered after its hand-back must have arrived.
        let v = one_stream(sent, received(1..=3));
        assert!(
            failures_mention(&v, "1 reported delivered never arrived (first: seq 4)"),
            "{:?}",
            v.failures
        );
    }

    #[test]
    fn disorder_duplicates_gaps_and_phantoms_fail() {
        let sent = Sent {
            written: 5,
            delivered: 5,
            ..Sent::default()
        };
        let v = one_stream(sent.clone(), received([1, 2, 2, 3, 4, 5, 6]));
        assert!(
            failures_mention(&v, "out of order or twice"),
            "{:?}",
            v.failures
        );
        assert!(
            failures_mention(&v, "1 arrived beyond the last written"),
            "{:?}",
            v.failures
        );
        let v = one_stream(sent, received([1, 2, 4, 5]));
        assert!(failures_mention(&v, "a gap"), "{:?}", v.failures);
        assert!(
            failures_mention(&v, "reported delivered never arrived (first: seq 3)"),
            "{:?}",
            v.failures
        );
    }

    #[test]
    fn chunks_nobody_wrote_fail() {
        let mut m = node("manager");
        m.received.insert(("ghost".into(), 1), received(1..=3));
        assert_eq!(verify(&[m]).failures.len(), 1);
    }

    #[test]
    fn run_membership_and_labels() {
        let r = received([1, 2, 3, 6, 7, 10]);
        let has: Vec<u64> = (0..12).filter(|&s| r.contains(s)).collect();
        assert_eq!(has, [1, 2, 3, 6, 7, 10]);
        assert!(!r.is_prefix());
        assert!(received(1..=3).is_prefix());
        assert_eq!(label("worker-1", 1), "worker-1");
        assert_eq!(label("worker-1", 2), "worker-1 (run 2)");
    }
}
