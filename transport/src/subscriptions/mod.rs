//! Topic subscriptions: counted prefix sets, and a publisher's index of
//! which peers want which prefixes.
//!
//! - [`trie`]: a compressed prefix trie over bytes, in an arena; finding a
//!   key or the keys that prefix a message costs the message's length.
//! - [`SubscriptionSet`] (`set.rs`): a counted set of prefixes on that
//!   trie: our own subscriptions (SUB, XSUB; replayed to new links and
//!   used by SUB's filter) and each peer's (PUB, XPUB; checked against the
//!   per-peer caps, and listed when the peer leaves).
//! - [`Audience`] (`audience.rs`): one trie per PUB/XPUB socket from topic
//!   to the pipes subscribed to it, like libzmq's `mtrie`. A published
//!   message walks its first frame through it once and reaches the pipes
//!   found on the way: cost O(topic length + matched (topic, pipe) pairs),
//!   however many peers and subscriptions there are. One trie per peer
//!   instead would cost a walk per peer per message, which is the scan this
//!   replaces.
//!
//! Memory is proportional to the bytes subscribed: a node exists only where
//! a topic ends or two topics branch, so `n` topics make at most `2n` nodes
//! in each trie, and edge labels hold at most the topics' bytes.
//! `docs/limits.md` works out the per-peer figure.

mod audience;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod model;
mod set;
pub(crate) mod trie;

pub(crate) use audience::Audience;
pub(crate) use set::SubscriptionSet;
