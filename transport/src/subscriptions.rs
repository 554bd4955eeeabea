//! Topic subscriptions: a counted set of prefixes with prefix matching.
//!
//! Subscriptions are counted, not idempotent (subscribing to `A` twice needs
//! two cancels), and match a message by a binary prefix test on its first
//! frame; the empty topic matches everything. A linear scan is the right
//! tool for the handful of topics a cluster link carries; a trie can
//! replace it behind this interface if that ever changes.

use bytes::Bytes;

/// A counted set of topic prefixes.
#[derive(Debug, Clone, Default)]
pub(crate) struct SubscriptionSet {
    topics: Vec<(Bytes, usize)>,
}

impl SubscriptionSet {
    /// Adds one subscription; returns true if the topic is new.
    pub(crate) fn add(&mut self, topic: &Bytes) -> bool {
        if let Some((_, count)) = self.topics.iter_mut().find(|(t, _)| t == topic) {
            *count += 1;
            return false;
        }
        self.topics.push((topic.clone(), 1));
        true
    }

    /// Removes one subscription; returns true if that was the topic's last.
    /// Cancelling a topic never subscribed is ignored (returns false).
    pub(crate) fn remove(&mut self, topic: &[u8]) -> bool {
        let Some(i) = self.topics.iter().position(|(t, _)| t == topic) else {
            return false;
        };
        self.topics[i].1 -= 1;
        if self.topics[i].1 == 0 {
            self.topics.swap_remove(i);
            return true;
        }
        false
    }

    /// Whether `topic` itself is subscribed.
    pub(crate) fn contains(&self, topic: &[u8]) -> bool {
        self.topics.iter().any(|(t, _)| t == topic)
    }

    /// Whether any topic is a prefix of `data`.
    pub(crate) fn matches(&self, data: &[u8]) -> bool {
        self.topics.iter().any(|(t, _)| data.starts_with(t))
    }

    /// Every distinct topic, once each.
    pub(crate) fn topics(&self) -> impl Iterator<Item = &Bytes> {
        self.topics.iter().map(|(t, _)| t)
    }

    /// Drops everything, returning each distinct topic once.
    pub(crate) fn take_topics(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.topics)
            .into_iter()
            .map(|(t, _)| t)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_prefix_matching() {
        let mut s = SubscriptionSet::default();
        let a = Bytes::from_static(b"ab");
        assert!(!s.matches(b"abc"));
        assert!(s.add(&a));
        assert!(!s.add(&a));
        assert!(s.matches(b"abc") && s.matches(b"ab") && !s.matches(b"a"));
        assert_eq!(s.topics().count(), 1);
        assert!(!s.remove(b"ab"));
        assert!(s.matches(b"abc"));
        assert!(s.remove(b"ab"));
        assert!(!s.matches(b"abc"));
        assert!(!s.remove(b"zz"));
        s.add(&Bytes::new());
        assert!(s.matches(b"") && s.matches(b"anything"));
    }
}
