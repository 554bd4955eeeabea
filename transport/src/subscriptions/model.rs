//! The obvious implementation of a counted topic set, a list scanned on
//! every call: what the property tests and the fuzz target hold the trie
//! to. Not for production (every call costs the number of topics).

use bytes::Bytes;

/// A counted set of topics as a plain list.
#[derive(Debug, Clone, Default)]
pub struct Model {
    topics: Vec<(Vec<u8>, u64)>,
}

impl Model {
    /// Adds one subscription; true if the topic is new.
    pub fn add(&mut self, topic: &[u8]) -> bool {
        if let Some((_, count)) = self.topics.iter_mut().find(|(t, _)| t == topic) {
            *count += 1;
            return false;
        }
        self.topics.push((topic.to_vec(), 1));
        true
    }

    /// Removes one subscription; true if it was the topic's last.
    pub fn remove(&mut self, topic: &[u8]) -> bool {
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

    /// Whether a topic is a prefix of `data`.
    pub fn matches(&self, data: &[u8]) -> bool {
        self.topics.iter().any(|(t, _)| data.starts_with(t))
    }

    /// How many times `topic` is subscribed.
    pub fn count(&self, topic: &[u8]) -> u64 {
        self.topics
            .iter()
            .find(|(t, _)| t == topic)
            .map_or(0, |(_, c)| *c)
    }

    /// Distinct topics.
    pub fn len(&self) -> usize {
        self.topics.len()
    }

    /// Whether no topic is held.
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// Bytes of the distinct topics.
    pub fn bytes(&self) -> usize {
        self.topics.iter().map(|(t, _)| t.len()).sum()
    }

    /// The distinct topics, sorted.
    pub fn topics(&self) -> Vec<Bytes> {
        let mut topics: Vec<Bytes> = self
            .topics
            .iter()
            .map(|(t, _)| Bytes::copy_from_slice(t))
            .collect();
        topics.sort();
        topics
    }
}
