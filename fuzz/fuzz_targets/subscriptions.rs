//! Fuzzes the subscription trie (`zmtp_transport`'s `SubscriptionSet` and
//! the publisher's topic-to-pipes `Audience`) against the obvious models:
//! a list of counted topics, and a list of (topic, pipe) pairs.
//!
//! The input is a sequence of operations, each an operation byte, a length
//! byte and that many topic bytes. Topic bytes are folded onto four letters
//! so that shared prefixes, splits and merges of edges, and repeats are
//! common; every answer (new topic, last cancel, match, counts, sizes, the
//! listed topics, the matching pipes) must agree with the model.

#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use zmtp_transport::fuzz_subscriptions::{Index, Model, Subscriptions};

fuzz_target!(|data: &[u8]| {
    let mut set = Subscriptions::default();
    let mut model = Model::default();
    let mut index = Index::default();
    let mut pairs: BTreeSet<(Vec<u8>, u64)> = BTreeSet::new();
    let mut rest = data;
    while let [op, len, tail @ ..] = rest {
        let len = usize::from(*len % 12).min(tail.len());
        let (raw, next) = tail.split_at(len);
        rest = next;
        let topic: Vec<u8> = raw.iter().map(|b| b'a' + b % 4).collect();
        let pipe = u64::from(op >> 4) % 4;
        match op % 7 {
            0 | 1 => assert_eq!(set.add(&topic), model.add(&topic)),
            2 => assert_eq!(set.remove(&topic), model.remove(&topic)),
            3 => assert_eq!(set.matches(&topic), model.matches(&topic)),
            4 => {
                let first = !pairs.iter().any(|(t, _)| *t == topic);
                let added = pairs.insert((topic.clone(), pipe));
                assert_eq!(index.insert(&topic, pipe), added && first);
            }
            5 => {
                let removed = pairs.remove(&(topic.clone(), pipe));
                let last = removed && !pairs.iter().any(|(t, _)| *t == topic);
                assert_eq!(index.remove(&topic, pipe), last);
            }
            _ => {
                let expected: BTreeSet<u64> = pairs
                    .iter()
                    .filter(|(t, _)| topic.starts_with(t))
                    .map(|(_, p)| *p)
                    .collect();
                let got = index.matching(&topic);
                assert_eq!(got, expected.into_iter().collect::<Vec<_>>());
            }
        }
        assert_eq!(set.size(), (model.len(), model.bytes()));
        assert_eq!(set.count(&topic), model.count(&topic));
        assert_eq!(set.contains(&topic), model.count(&topic) > 0);
    }
    assert_eq!(set.topics(), model.topics());
});
