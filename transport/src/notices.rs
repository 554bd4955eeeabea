//! The socket's ordered notice queue: XPUB subscription notices, in the
//! order the socket's state changed.
//!
//! A notice (`01topic` when a topic gains its first subscriber, `00topic`
//! when it loses its last) is appended here under the socket's state lock,
//! at the moment the state changes, so the queue's order is the state's
//! order. Whichever task next has room in the inbound queue moves the
//! queue's front there ([`NoticeQueue::drain_into`]); a link whose items
//! are still here neither reads nor delivers anything else until they have
//! gone (push-back: nothing is dropped), so its own messages keep their
//! place around its notices.
//!
//! The items a link had decoded before a notice (its pending batch) are
//! appended just before it, and a departed link's last messages, its
//! cancel notices and its link notice likewise: the queue holds whole
//! stretches of links' streams, each in order. What it holds is bounded in
//! `docs/limits.md` ("Subscriptions").

use std::collections::VecDeque;

use crate::core::Inbound;
use crate::queue::Queue;

/// Items waiting for the inbound queue, in the order they were appended.
#[derive(Debug, Default)]
pub(crate) struct NoticeQueue {
    items: VecDeque<Inbound>,
    /// Items ever appended: the ticket of the last one.
    appended: u64,
}

impl NoticeQueue {
    /// Appends `item`; returns its ticket (delivered once
    /// [`NoticeQueue::delivered`] reaches it).
    pub(crate) fn push(&mut self, item: Inbound) -> u64 {
        self.items.push_back(item);
        self.appended += 1;
        self.appended
    }

    /// Appends every item of `items`, in order, leaving it empty; returns
    /// the last one's ticket, if any moved.
    pub(crate) fn append(&mut self, items: &mut VecDeque<Inbound>) -> Option<u64> {
        if items.is_empty() {
            return None;
        }
        self.appended += items.len() as u64;
        self.items.append(items);
        Some(self.appended)
    }

    /// Items ever taken out: every ticket up to this was delivered.
    pub(crate) fn delivered(&self) -> u64 {
        self.appended - self.items.len() as u64
    }

    /// Moves as many items from the front as fit into `inbound`; returns
    /// [`NoticeQueue::delivered`].
    pub(crate) fn drain_into(&mut self, inbound: &Queue<Inbound>) -> u64 {
        if !self.items.is_empty() {
            inbound.push_batch(&mut self.items);
        }
        self.delivered()
    }

    /// Items waiting.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zmtp::Message;

    fn item(pipe: u64) -> Inbound {
        Inbound {
            pipe,
            message: Message::from(bytes::Bytes::from(pipe.to_string())),
            from_peer: false,
        }
    }

    #[test]
    fn drains_in_order_as_room_appears_and_counts_tickets() {
        let mut notices = NoticeQueue::default();
        let inbound = Queue::new(2);
        assert_eq!(notices.push(item(1)), 1);
        let mut rest: VecDeque<_> = [item(2), item(3)].into();
        assert_eq!(notices.append(&mut rest), Some(3));
        assert_eq!(notices.append(&mut rest), None);
        assert_eq!(notices.drain_into(&inbound), 2);
        assert_eq!(notices.len(), 1);
        assert_eq!(inbound.try_pop().map(|i| i.pipe), Some(1));
        assert_eq!(notices.drain_into(&inbound), 3);
        let order: Vec<_> = std::iter::from_fn(|| inbound.try_pop().map(|i| i.pipe)).collect();
        assert_eq!(order, [2, 3]);
    }
}
