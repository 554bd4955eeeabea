//! Fuzzes a listener's admission rules (`zmtp_transport::admission`, exposed
//! by the `fuzzing` feature) with arbitrary schedules: arrivals from a few
//! sources, greetings, links that complete or end, time passing and the
//! listener's timer firing, under arbitrary caps and greeting interval.
//!
//! After every step: no more links pending than the global cap, none from
//! one source beyond the per-source cap, an eviction takes the oldest
//! pending link, a link that left is never cut, nothing is cut for its
//! greeting before its deadline, and no overdue link survives the timer.

#![no_main]

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use zmtp_transport::admission::{Admission, Cut, Limits, LinkId, Source};

/// The input as a stream of small numbers.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }
}

/// What the target remembers of each pending link: arrival order, start
/// and greeting, to check the machine's answers against.
struct Shadow {
    limits: Limits,
    pending: Vec<(LinkId, Instant, bool)>,
    left: HashSet<LinkId>,
}

impl Shadow {
    fn due(&self, started: Instant) -> Option<Instant> {
        started.checked_add(self.limits.greeting_ivl?)
    }

    /// Checks the cuts of one step and forgets the links they took.
    fn take_cuts(&mut self, cuts: &[Cut], now: Instant) {
        for cut in cuts {
            let id = cut.id();
            assert!(!self.left.contains(&id), "{id:?} cut after it left");
            let at = self
                .pending
                .iter()
                .position(|(p, ..)| *p == id)
                .expect("cut a link that was not pending");
            let (_, started, greeted) = self.pending.remove(at);
            match cut {
                Cut::Evicted(_) => assert_eq!(at, 0, "evicted a link that was not the oldest"),
                Cut::GreetingTimeout(_) => {
                    assert!(!greeted, "a greeted link timed out");
                    let due = self.due(started).expect("a timeout without a deadline");
                    assert!(due <= now, "cut before its greeting deadline");
                }
            }
        }
    }

    fn check(&self, a: &Admission, sources: &[Source]) {
        assert!(a.len() <= self.limits.max_pending);
        assert_eq!(a.len(), self.pending.len());
        for source in sources {
            assert!(a.pending_from(*source) <= self.limits.max_per_source);
        }
        assert_eq!(a.oldest(), self.pending.first().map(|(id, ..)| *id));
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let (Some(max_pending), Some(max_per_source), Some(ivl)) =
        (input.next(), input.next(), input.next())
    else {
        return;
    };
    let limits = Limits {
        max_pending: usize::from(max_pending % 9),
        max_per_source: usize::from(max_per_source % 6),
        greeting_ivl: (ivl != 0).then(|| Duration::from_millis(u64::from(ivl))),
    };
    let sources: Vec<Source> = (1..=4)
        .map(|n| Source::from_ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))))
        .chain([Source::Local])
        .collect();
    let t0 = Instant::now();
    let mut now = t0;
    let mut a = Admission::new(limits);
    let mut shadow = Shadow {
        limits,
        pending: Vec::new(),
        left: HashSet::new(),
    };
    let mut cuts = Vec::new();
    while let (Some(op), Some(arg)) = (input.next(), input.next()) {
        cuts.clear();
        let k = usize::from(arg);
        match op % 6 {
            0 | 1 => {
                let source = sources[k % sources.len()];
                let admitted = a.admit(source, now, &mut cuts);
                shadow.take_cuts(&cuts, now);
                if let Ok(id) = admitted {
                    shadow.pending.push((id, now, false));
                }
            }
            2 if !shadow.pending.is_empty() => {
                let at = k % shadow.pending.len();
                shadow.pending[at].2 = true;
                a.greeted(shadow.pending[at].0);
            }
            3 if !shadow.pending.is_empty() => {
                let (id, ..) = shadow.pending.remove(k % shadow.pending.len());
                assert!(a.leave(id));
                shadow.left.insert(id);
            }
            4 => now += Duration::from_millis(u64::from(arg)),
            5 => {
                a.expire(now, &mut cuts);
                shadow.take_cuts(&cuts, now);
                for (_, started, greeted) in &shadow.pending {
                    let overdue = shadow.due(*started).is_some_and(|due| due <= now);
                    assert!(*greeted || !overdue, "an overdue link survived the timer");
                }
            }
            _ => {}
        }
        shadow.check(&a, &sources);
    }
});
