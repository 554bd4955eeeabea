//! Who sent a received message: what a handshake established about a peer
//! ([`PeerMetadata`]) and the directory of it, by pipe, that the socket
//! keeps ([`PeerDirectory`]). The directory is a leaf: the socket's core
//! owns one, and nothing here knows about the socket around it.
//!
//! Messages carry only the id of the pipe they came in on;
//! [`Socket::recv_with_metadata`](crate::Socket::recv_with_metadata) looks
//! the peer up here. (Tagging every message with an `Arc` of the metadata
//! cost two atomic operations per message, for the few callers who ask.)
//!
//! A link's entry outlives the link until every message it queued has been
//! taken off the inbound queue: when the link ends, its entry is retired
//! with the queue position just past its last message and dropped once the
//! queue has been taken beyond that position. Lookups happen under the
//! inbound queue's lock, in the same step as taking the message, so an
//! entry is never dropped between a message leaving the queue and its
//! lookup.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use crate::tls::peer::TlsPeer;

/// Identifies one pipe within its socket.
pub(crate) type PipeId = u64;

/// What the handshake established about a message's sender: libzmq's
/// message properties (`zmq_msg_gets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerMetadata {
    /// The peer's address (libzmq's `Peer-Address`).
    pub address: String,
    /// The user id the authenticator gave it (libzmq's `User-Id`).
    pub user_id: Option<Bytes>,
    /// The peer's handshake properties followed by the authenticator's.
    pub properties: zmtp::Metadata,
    /// Over `tls://`: the identity in the peer's certificate, if it
    /// presented one.
    pub tls_peer: Option<Arc<TlsPeer>>,
}

impl PeerMetadata {
    /// A property by name, ignoring ASCII case; also answers
    /// `Peer-Address` and `User-Id` as libzmq does.
    pub fn get(&self, name: &str) -> Option<Bytes> {
        if name.eq_ignore_ascii_case("Peer-Address") {
            return Some(Bytes::copy_from_slice(self.address.as_bytes()));
        }
        if name.eq_ignore_ascii_case("User-Id") {
            return self.user_id.clone();
        }
        self.properties.get(name).cloned()
    }
}

/// Ended links remembered at most, whatever the queue holds: a consumer
/// that stops reading while links keep ending and reconnecting must not
/// grow this without bound. Past it, the oldest messages still queued come
/// out without their metadata.
const RETIRED_MAX: usize = 1024;

/// The peers of a socket's links, live and recently ended.
#[derive(Debug, Default)]
pub(crate) struct PeerDirectory {
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    live: HashMap<PipeId, Arc<PeerMetadata>>,
    /// Ended links: (inbound position past their last message, pipe, peer),
    /// in the order they ended.
    retired: VecDeque<(u64, PipeId, Arc<PeerMetadata>)>,
}

impl PeerDirectory {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        // Nothing here panics while holding the lock; tolerate poison anyway.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A link's handshake succeeded: messages from `pipe` come from `peer`.
    pub(crate) fn register(&self, pipe: PipeId, peer: Arc<PeerMetadata>) {
        self.lock().live.insert(pipe, peer);
    }

    /// The link on `pipe` ended and its last message went into the inbound
    /// queue at a position below `end`; `taken` is how far the queue has
    /// been taken (read after every lookup below it finished), so earlier
    /// retirements the consumer has moved past are forgotten.
    pub(crate) fn retire(&self, pipe: PipeId, end: u64, taken: u64) {
        let mut entries = self.lock();
        if let Some(peer) = entries.live.remove(&pipe) {
            entries.retired.push_back((end, pipe, peer));
        }
        while entries
            .retired
            .front()
            .is_some_and(|(end, ..)| *end <= taken)
            || entries.retired.len() > RETIRED_MAX
        {
            entries.retired.pop_front();
        }
    }

    /// The peer of a message from `pipe`.
    pub(crate) fn lookup(&self, pipe: PipeId) -> Option<Arc<PeerMetadata>> {
        let entries = self.lock();
        if let Some(peer) = entries.live.get(&pipe) {
            return Some(peer.clone());
        }
        entries
            .retired
            .iter()
            .find(|(_, p, _)| *p == pipe)
            .map(|(.., peer)| peer.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(address: &str) -> Arc<PeerMetadata> {
        Arc::new(PeerMetadata {
            address: address.into(),
            user_id: None,
            properties: Default::default(),
            tls_peer: None,
        })
    }

    #[test]
    fn retired_peers_stay_until_the_queue_moves_past_them() {
        let peers = PeerDirectory::default();
        peers.register(1, peer("a"));
        peers.register(2, peer("b"));
        assert_eq!(peers.lookup(1).unwrap().address, "a");
        // Link 1 ended with its last message at position 9.
        peers.retire(1, 10, 4);
        assert_eq!(peers.lookup(1).unwrap().address, "a");
        // Link 2 ends once the queue was taken past link 1's messages.
        peers.retire(2, 20, 10);
        assert!(peers.lookup(1).is_none());
        assert_eq!(peers.lookup(2).unwrap().address, "b");
        assert!(peers.lookup(3).is_none());
    }
}
