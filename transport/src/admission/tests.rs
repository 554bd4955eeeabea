//! Admission against a model: a plain list of pending links in arrival
//! order, and the rules written out the slow way. Random schedules of
//! arrivals, greetings, departures and time must give the same answers,
//! and keep the caps, the deadline and the eviction order.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

const IVL: Duration = Duration::from_millis(50);

fn limits(max_pending: usize, max_per_source: usize) -> Limits {
    Limits {
        max_pending,
        max_per_source,
        greeting_ivl: Some(IVL),
    }
}

fn ip(last: u8) -> Source {
    Source::from_ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)))
}

#[test]
fn the_oldest_makes_room_for_a_newcomer() {
    let t0 = Instant::now();
    let mut a = Admission::new(limits(2, 8));
    let mut cuts = Vec::new();
    let first = a.admit(ip(1), t0, &mut cuts).unwrap();
    let second = a.admit(ip(2), t0, &mut cuts).unwrap();
    let third = a.admit(ip(3), t0, &mut cuts).unwrap();
    assert_eq!(cuts, [Cut::Evicted(first)]);
    assert!(a.contains(second) && a.contains(third) && !a.contains(first));
    assert_eq!(a.len(), 2);
}

#[test]
fn a_source_at_its_cap_is_refused_and_others_are_not() {
    let t0 = Instant::now();
    let mut a = Admission::new(limits(16, 2));
    let mut cuts = Vec::new();
    a.admit(ip(1), t0, &mut cuts).unwrap();
    a.admit(ip(1), t0, &mut cuts).unwrap();
    assert_eq!(
        a.admit(ip(1), t0, &mut cuts),
        Err(Turned::TooManyFromSource { max: 2 })
    );
    assert!(a.admit(ip(2), t0, &mut cuts).is_ok());
    assert!(cuts.is_empty());
}

#[test]
fn a_silent_link_is_cut_at_its_greeting_deadline_and_a_greeted_one_is_not() {
    let t0 = Instant::now();
    let mut a = Admission::new(limits(16, 16));
    let mut cuts = Vec::new();
    let silent = a.admit(ip(1), t0, &mut cuts).unwrap();
    let talker = a.admit(ip(1), t0, &mut cuts).unwrap();
    a.greeted(talker);
    assert_eq!(a.next_deadline(), Some(t0 + IVL));
    a.expire(t0 + IVL - Duration::from_millis(1), &mut cuts);
    assert!(cuts.is_empty());
    a.expire(t0 + IVL, &mut cuts);
    assert_eq!(cuts, [Cut::GreetingTimeout(silent)]);
    assert_eq!(a.next_deadline(), None);
    assert!(a.contains(talker));
    assert!(a.leave(talker));
    assert!(a.is_empty() && a.pending_from(ip(1)) == 0);
}

#[test]
fn no_place_at_all_refuses_everyone() {
    let mut a = Admission::new(limits(0, 4));
    assert_eq!(
        a.admit(ip(1), Instant::now(), &mut Vec::new()),
        Err(Turned::HandshakeCap { max: 0 })
    );
}

#[test]
fn sources_are_ipv4_hosts_and_ipv6_prefixes() {
    let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
    assert_eq!(Source::from_ip(mapped), ip(1));
    let a = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, 1));
    let b = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 9, 9, 9, 9));
    let c = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1));
    assert_eq!(Source::from_ip(a), Source::from_ip(b));
    assert_ne!(Source::from_ip(a), Source::from_ip(c));
}

/// One step of a schedule.
#[derive(Debug, Clone)]
enum Op {
    /// A newcomer from source number `.0`.
    Arrive(u8),
    /// The pending link at this position (modulo) sends its greeting.
    Greet(usize),
    /// The pending link at this position (modulo) completes or ends.
    Leave(usize),
    /// Time passes, in milliseconds.
    Wait(u16),
    /// The listener's timer fires.
    Expire,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..4).prop_map(Op::Arrive),
        2 => any::<usize>().prop_map(Op::Greet),
        2 => any::<usize>().prop_map(Op::Leave),
        2 => (0u16..40).prop_map(Op::Wait),
        1 => Just(Op::Expire),
    ]
}

/// The model: pending links in arrival order.
#[derive(Debug, Clone, Copy)]
struct Entry {
    id: LinkId,
    source: Source,
    started: Instant,
    greeted: bool,
}

struct Model {
    limits: Limits,
    pending: Vec<Entry>,
    /// Links that completed or ended: never to be cut.
    left: Vec<LinkId>,
}

impl Model {
    fn overdue(&self, now: Instant) -> Vec<LinkId> {
        let Some(ivl) = self.limits.greeting_ivl else {
            return Vec::new();
        };
        self.pending
            .iter()
            .filter(|e| !e.greeted && e.started + ivl <= now)
            .map(|e| e.id)
            .collect()
    }

    fn drop_ids(&mut self, ids: &[LinkId]) {
        self.pending.retain(|e| !ids.contains(&e.id));
    }

    fn count(&self, source: Source) -> usize {
        self.pending.iter().filter(|e| e.source == source).count()
    }

    /// What the rules say a newcomer meets, the cuts it causes included.
    fn admit(&mut self, source: Source, now: Instant) -> (Vec<Cut>, Result<(), Turned>) {
        let overdue = self.overdue(now);
        self.drop_ids(&overdue);
        let mut cuts: Vec<Cut> = overdue.into_iter().map(Cut::GreetingTimeout).collect();
        if self.count(source) >= self.limits.max_per_source {
            let max = self.limits.max_per_source;
            return (cuts, Err(Turned::TooManyFromSource { max }));
        }
        if self.limits.max_pending == 0 {
            return (cuts, Err(Turned::HandshakeCap { max: 0 }));
        }
        while self.pending.len() >= self.limits.max_pending {
            let oldest = self.pending.remove(0);
            cuts.push(Cut::Evicted(oldest.id));
        }
        (cuts, Ok(()))
    }

    /// Checks the machine against the model and the invariants.
    fn check(&self, a: &Admission, now: Instant) {
        assert!(a.len() <= self.limits.max_pending, "over the global cap");
        let ids: Vec<LinkId> = a.iter().map(|(id, ..)| id).collect();
        let model_ids: Vec<LinkId> = self.pending.iter().map(|e| e.id).collect();
        assert_eq!(ids, model_ids);
        for (id, source, started, greeted) in a.iter() {
            assert!(a.pending_from(source) <= self.limits.max_per_source);
            assert_eq!(a.pending_from(source), self.count(source));
            let e = self.pending.iter().find(|e| e.id == id).unwrap();
            assert_eq!((e.source, e.started, e.greeted), (source, started, greeted));
            assert!(started <= now);
        }
        let first_ungreeted = self.pending.iter().find(|e| !e.greeted);
        let due = first_ungreeted.and_then(|e| Some(e.started + self.limits.greeting_ivl?));
        assert_eq!(a.next_deadline(), due);
    }
}

fn run(limits: Limits, ops: &[Op]) {
    let t0 = Instant::now();
    let mut now = t0;
    let mut a = Admission::new(limits);
    let mut model = Model {
        limits,
        pending: Vec::new(),
        left: Vec::new(),
    };
    let mut cuts = Vec::new();
    for op in ops {
        cuts.clear();
        match *op {
            Op::Arrive(n) => {
                let source = ip(n);
                let oldest_before = a.oldest();
                let (expected_cuts, expected) = model.admit(source, now);
                let got = a.admit(source, now, &mut cuts);
                assert_eq!(cuts, expected_cuts);
                assert_eq!(got.map(|_| ()), expected);
                // An eviction takes the oldest of those still pending after
                // the overdue ones went.
                if let Some(Cut::Evicted(evicted)) = cuts.last() {
                    let overdue = cuts.len() - 1;
                    assert!(overdue > 0 || oldest_before == Some(*evicted));
                }
                if let Ok(id) = got {
                    model.pending.push(Entry {
                        id,
                        source,
                        started: now,
                        greeted: false,
                    });
                }
            }
            Op::Greet(k) if !model.pending.is_empty() => {
                let i = k % model.pending.len();
                model.pending[i].greeted = true;
                a.greeted(model.pending[i].id);
            }
            Op::Leave(k) if !model.pending.is_empty() => {
                let e = model.pending.remove(k % model.pending.len());
                model.left.push(e.id);
                assert!(a.leave(e.id));
                assert!(!a.leave(e.id), "left twice");
            }
            Op::Greet(_) | Op::Leave(_) => {}
            Op::Wait(ms) => now += Duration::from_millis(u64::from(ms)),
            Op::Expire => {
                let overdue = model.overdue(now);
                model.drop_ids(&overdue);
                a.expire(now, &mut cuts);
                let expected: Vec<Cut> = overdue.into_iter().map(Cut::GreetingTimeout).collect();
                assert_eq!(cuts, expected);
                // The deadline is kept: nothing owed is overdue now.
                assert!(a.next_deadline().is_none_or(|at| at > now));
            }
        }
        for cut in &cuts {
            assert!(!model.left.contains(&cut.id()), "cut after it left");
        }
        model.check(&a, now);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn admission_follows_the_model(
        max_pending in 0usize..6,
        max_per_source in 0usize..4,
        ops in proptest::collection::vec(op(), 0..200),
    ) {
        run(limits(max_pending, max_per_source), &ops);
    }

    #[test]
    fn without_a_greeting_deadline_nothing_times_out(
        ops in proptest::collection::vec(op(), 0..200),
    ) {
        let limits = Limits { greeting_ivl: None, ..limits(4, 3) };
        run(limits, &ops);
    }
}
