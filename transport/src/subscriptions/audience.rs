//! Which peers want which prefixes: a PUB's or XPUB's index for fan-out.
//!
//! One trie per socket maps each topic to the sorted list of pipes that
//! subscribed to it (each pipe once, however many times it subscribed:
//! the counts live in each peer's own [`SubscriptionSet`]). This is
//! libzmq's `mtrie`. Publishing walks the message's first frame once and
//! collects the pipes found along the way, so a message costs its topic's
//! length plus the (topic, pipe) pairs it matches, not a scan of every
//! peer's subscriptions.
//!
//! [`SubscriptionSet`]: super::SubscriptionSet

use super::trie::Trie;
use crate::peers::PipeId;

/// Topic to the pipes subscribed to it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Audience {
    trie: Trie<Vec<PipeId>>,
}

impl Audience {
    /// `pipe` now subscribes to `topic`; true if it is the topic's first
    /// pipe (false if it was listed already).
    pub(crate) fn insert(&mut self, topic: &[u8], pipe: PipeId) -> bool {
        let node = self.trie.find_or_insert(topic);
        let pipes = self.trie.slot(node).get_or_insert_with(Vec::new);
        match pipes.binary_search(&pipe) {
            Ok(_) => false,
            Err(pos) => {
                pipes.insert(pos, pipe);
                pipes.len() == 1
            }
        }
    }

    /// `pipe` no longer subscribes to `topic`; true if it was the topic's
    /// last pipe.
    pub(crate) fn remove(&mut self, topic: &[u8], pipe: PipeId) -> bool {
        let Some(node) = self.trie.find(topic) else {
            return false;
        };
        let slot = self.trie.slot(node);
        let Some(pipes) = slot else {
            return false;
        };
        let Ok(pos) = pipes.binary_search(&pipe) else {
            return false;
        };
        pipes.remove(pos);
        if !pipes.is_empty() {
            return false;
        }
        *slot = None;
        self.trie.prune(node);
        true
    }

    /// The pipes subscribed to a prefix of `data`, each once, sorted. The
    /// usual case, one subscribed prefix, lends its list without a copy.
    pub(crate) fn matching<'a>(&'a self, data: &'a [u8]) -> Matched<'a> {
        let mut lists = self.trie.prefixes(data);
        let Some(first) = lists.next() else {
            return Matched::One(&[]);
        };
        let Some(second) = lists.next() else {
            return Matched::One(first);
        };
        let mut all = Vec::with_capacity(first.len() + second.len());
        all.extend_from_slice(first);
        all.extend_from_slice(second);
        lists.for_each(|pipes| all.extend_from_slice(pipes));
        // A pipe subscribed to two prefixes of the topic is found twice.
        all.sort_unstable();
        all.dedup();
        Matched::Many(all)
    }
}

/// What [`Audience::matching`] found.
#[derive(Debug)]
pub(crate) enum Matched<'a> {
    /// One prefix's list (or none), as the trie holds it.
    One(&'a [PipeId]),
    /// Several prefixes' lists, merged.
    Many(Vec<PipeId>),
}

impl Matched<'_> {
    /// The pipes, each once, sorted.
    pub(crate) fn pipes(&self) -> &[PipeId] {
        match self {
            Matched::One(pipes) => pipes,
            Matched::Many(pipes) => pipes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matching(a: &Audience, data: &[u8]) -> Vec<PipeId> {
        a.matching(data).pipes().to_vec()
    }

    #[test]
    fn finds_each_matching_pipe_once() {
        let mut a = Audience::default();
        assert!(a.insert(b"ab", 2));
        assert!(!a.insert(b"ab", 2), "listed already: not the first again");
        assert!(!a.insert(b"ab", 1));
        assert!(!a.insert(b"ab", 1), "a pipe is listed once");
        assert!(a.insert(b"a", 2));
        assert!(a.insert(b"", 3));
        assert!(a.insert(b"b", 4));
        assert_eq!(matching(&a, b"abc"), [1, 2, 3]);
        assert_eq!(matching(&a, b"b"), [3, 4]);
        assert!(!a.remove(b"ab", 1));
        assert!(a.remove(b"ab", 2), "the topic's last pipe");
        assert!(!a.remove(b"ab", 2), "gone already");
        assert!(!a.remove(b"zz", 2));
        assert_eq!(matching(&a, b"abc"), [2, 3]);
    }
}
