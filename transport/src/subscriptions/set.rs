//! A counted set of topic prefixes: one peer's subscriptions, or our own.
//!
//! Subscriptions are counted, not idempotent (subscribing to `A` twice needs
//! two cancels), and match a message by a binary prefix test on its first
//! frame; the empty topic matches everything. The set also keeps how many
//! distinct topics it holds and their bytes, which the per-peer caps
//! ([`Options::max_peer_subscriptions`](crate::Options::max_peer_subscriptions))
//! are checked against.

use bytes::Bytes;

use super::trie::Trie;

/// A counted set of topic prefixes.
#[derive(Debug, Clone, Default)]
pub(crate) struct SubscriptionSet {
    /// Each topic with how many times it is subscribed (at least 1).
    trie: Trie<u64>,
    topics: usize,
    bytes: usize,
}

impl SubscriptionSet {
    /// Adds one subscription; returns true if the topic is new.
    pub(crate) fn add(&mut self, topic: &[u8]) -> bool {
        let node = self.trie.find_or_insert(topic);
        let count = self.trie.slot(node).get_or_insert(0);
        *count = count.saturating_add(1);
        let new = *count == 1;
        if new {
            self.topics += 1;
            self.bytes += topic.len();
        }
        new
    }

    /// Removes one subscription; returns true if that was the topic's last.
    /// Cancelling a topic never subscribed is ignored (returns false).
    pub(crate) fn remove(&mut self, topic: &[u8]) -> bool {
        let Some(node) = self.trie.find(topic) else {
            return false;
        };
        let slot = self.trie.slot(node);
        match slot {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                *slot = None;
                self.trie.prune(node);
                self.topics -= 1;
                self.bytes -= topic.len();
                true
            }
            None => false,
        }
    }

    /// Whether `topic` itself is subscribed.
    pub(crate) fn contains(&self, topic: &[u8]) -> bool {
        self.trie
            .find(topic)
            .is_some_and(|n| self.trie.value(n).is_some())
    }

    /// Whether any topic is a prefix of `data`: one walk along `data`.
    pub(crate) fn matches(&self, data: &[u8]) -> bool {
        self.trie.prefixes(data).next().is_some()
    }

    /// How many times `topic` is subscribed.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn count(&self, topic: &[u8]) -> u64 {
        self.trie
            .find(topic)
            .and_then(|n| self.trie.value(n))
            .copied()
            .unwrap_or(0)
    }

    /// Distinct topics held.
    pub(crate) fn len(&self) -> usize {
        self.topics
    }

    /// Bytes of the distinct topics held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Every distinct topic, once each, in no particular order.
    pub(crate) fn topics(&self) -> Vec<Bytes> {
        self.trie
            .entries()
            .into_iter()
            .map(|(topic, _)| Bytes::from(topic))
            .collect()
    }

    /// Drops everything, returning each distinct topic once.
    pub(crate) fn take_topics(&mut self) -> Vec<Bytes> {
        let topics = self.topics();
        *self = SubscriptionSet::default();
        topics
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::model::Model;
    use super::*;

    #[test]
    fn counted_prefix_matching() {
        let mut s = SubscriptionSet::default();
        assert!(!s.matches(b"abc"));
        assert!(s.add(b"ab"));
        assert!(!s.add(b"ab"));
        assert!(s.matches(b"abc") && s.matches(b"ab") && !s.matches(b"a"));
        assert_eq!(s.topics().len(), 1);
        assert_eq!((s.len(), s.bytes()), (1, 2));
        assert!(!s.remove(b"ab"));
        assert!(s.matches(b"abc"));
        assert!(s.remove(b"ab"));
        assert!(!s.matches(b"abc"));
        assert!(!s.remove(b"zz"));
        assert!(!s.remove(b"a"), "a prefix of a topic is not a topic");
        s.add(b"");
        assert!(s.matches(b"") && s.matches(b"anything"));
        assert_eq!((s.len(), s.bytes()), (1, 0));
    }

    #[test]
    fn sixty_thousand_distinct_topics_cost_their_bytes() {
        let mut s = SubscriptionSet::default();
        for i in 0..60_000u32 {
            assert!(s.add(format!("topic/{i}").as_bytes()));
        }
        assert_eq!(s.len(), 60_000);
        assert!(s.matches(b"topic/59999/x") && !s.matches(b"topic/x"));
        assert!(
            s.trie.node_count() <= 2 * 60_000 + 1,
            "a node only where topics end or branch"
        );
        for i in 0..60_000u32 {
            assert!(s.remove(format!("topic/{i}").as_bytes()));
        }
        assert_eq!((s.len(), s.bytes(), s.trie.node_count()), (0, 0, 1));
    }

    /// One step of a random schedule.
    #[derive(Debug, Clone)]
    enum Op {
        Add(Vec<u8>),
        Remove(Vec<u8>),
        Match(Vec<u8>),
    }

    /// Short topics over a small alphabet, so that prefixes, shared edges
    /// and repeats are common.
    fn topic() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c')], 0..6)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => topic().prop_map(Op::Add),
            2 => topic().prop_map(Op::Remove),
            2 => proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c')], 0..9)
                .prop_map(Op::Match),
        ]
    }

    proptest! {
        #[test]
        fn behaves_as_the_linear_model(ops in proptest::collection::vec(op(), 0..200)) {
            let mut set = SubscriptionSet::default();
            let mut model = Model::default();
            for op in ops {
                match op {
                    Op::Add(t) => prop_assert_eq!(set.add(&t), model.add(&t)),
                    Op::Remove(t) => prop_assert_eq!(set.remove(&t), model.remove(&t)),
                    Op::Match(d) => prop_assert_eq!(set.matches(&d), model.matches(&d)),
                }
                prop_assert_eq!(set.len(), model.len());
                prop_assert_eq!(set.bytes(), model.bytes());
                prop_assert_eq!(set.len() == 0, model.is_empty());
            }
            let mut topics = set.topics();
            topics.sort();
            prop_assert_eq!(topics, model.topics());
            for t in model.topics() {
                prop_assert!(set.contains(&t));
                prop_assert_eq!(set.count(&t), model.count(&t));
            }
        }
    }
}
