//! The subscription trie and its model, opened to the fuzz target
//! `fuzz/fuzz_targets/subscriptions.rs` (feature `fuzzing`). Not an API.

use crate::subscriptions::{Audience, SubscriptionSet};

pub use crate::subscriptions::model::Model;

/// A counted topic set on the trie ([`SubscriptionSet`]).
#[derive(Debug, Default)]
pub struct Subscriptions(SubscriptionSet);

impl Subscriptions {
    /// Adds one subscription; true if the topic is new.
    pub fn add(&mut self, topic: &[u8]) -> bool {
        self.0.add(topic)
    }

    /// Removes one subscription; true if it was the topic's last.
    pub fn remove(&mut self, topic: &[u8]) -> bool {
        self.0.remove(topic)
    }

    /// Whether a topic is a prefix of `data`.
    pub fn matches(&self, data: &[u8]) -> bool {
        self.0.matches(data)
    }

    /// Whether `topic` itself is held.
    pub fn contains(&self, topic: &[u8]) -> bool {
        self.0.contains(topic)
    }

    /// How many times `topic` is subscribed.
    pub fn count(&self, topic: &[u8]) -> u64 {
        self.0.count(topic)
    }

    /// Distinct topics and their bytes.
    pub fn size(&self) -> (usize, usize) {
        (self.0.len(), self.0.bytes())
    }

    /// The distinct topics, sorted.
    pub fn topics(&self) -> Vec<bytes::Bytes> {
        let mut topics = self.0.topics();
        topics.sort();
        topics
    }
}

/// A publisher's topic-to-pipes index ([`Audience`]).
#[derive(Debug, Default)]
pub struct Index(Audience);

impl Index {
    /// `pipe` subscribes to `topic`; true if the topic's first pipe.
    pub fn insert(&mut self, topic: &[u8], pipe: u64) -> bool {
        self.0.insert(topic, pipe)
    }

    /// `pipe` leaves `topic`; true if the topic's last pipe.
    pub fn remove(&mut self, topic: &[u8], pipe: u64) -> bool {
        self.0.remove(topic, pipe)
    }

    /// The pipes subscribed to a prefix of `data`, sorted, each once.
    pub fn matching(&self, data: &[u8]) -> Vec<u64> {
        self.0.matching(data).pipes().to_vec()
    }
}
