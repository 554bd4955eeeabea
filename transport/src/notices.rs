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

    mod schedules {
        //! The engine's rules for the notice queue, driven by a random
        //! scheduler that picks which link, departure task or reader runs
        //! next: every delivery order a runtime could produce, including
        //! the wake orders a real test cannot force.

        use std::collections::{BTreeSet, VecDeque};
        use std::sync::Arc;

        use bytes::Bytes;
        use proptest::prelude::*;
        use zmtp::SocketType;

        use crate::core::{Core, Inbound, PipeEntry};
        use crate::options::Options;
        use crate::queue::{self, PipeRx};

        /// A link as the engine runs it: commands its peer sent and it has
        /// not read, what it decoded and not delivered, and its ticket.
        #[derive(Default)]
        struct Link {
            unread: VecDeque<(bool, u8)>,
            pending: VecDeque<Inbound>,
            ticket: Option<u64>,
            leaving: bool,
            /// Ended: its departure task waits for this ticket, if any.
            departed: Option<Option<u64>>,
            /// What the peer holds (the truth, once everything is read).
            held: BTreeSet<u8>,
        }

        #[derive(Debug, Clone)]
        enum Action {
            Send(usize, bool, u8),
            Leave(usize),
            Run(usize),
            Read,
        }

        fn action(peers: usize) -> impl Strategy<Value = Action> {
            prop_oneof![
                4 => (0..peers, any::<bool>(), 0..3u8).prop_map(|(p, s, t)| Action::Send(p, s, t)),
                1 => (0..peers).prop_map(Action::Leave),
                4 => (0..peers).prop_map(Action::Run),
                3 => Just(Action::Read),
            ]
        }

        fn xpub(peers: usize) -> (Arc<Core>, Vec<PipeRx<crate::core::Outbound>>) {
            let mut options = Options::new(SocketType::Xpub);
            options.rcvhwm = 1;
            let core = Core::new(SocketType::Xpub, options);
            let mut rxs = Vec::new();
            let mut state = core.state();
            for id in 0..peers as u64 {
                let (tx, rx) = queue::pipe(4);
                let mut entry = PipeEntry::new(id, tx, true);
                entry.ready = true;
                state.pipes.push(entry);
                rxs.push(rx);
            }
            core.pipes_changed(&mut state);
            drop(state);
            (core, rxs)
        }

        /// One turn of link `id`, as `Engine::deliver` and `decode` do it.
        fn run(core: &Core, id: usize, link: &mut Link) {
            if link.departed.is_some() {
                if let Some(Some(ticket)) = link.departed
                    && core.deliver_notices() >= ticket
                {
                    link.departed = Some(None);
                }
                return;
            }
            if let Some(ticket) = link.ticket {
                if core.deliver_notices() < ticket {
                    return;
                }
                link.ticket = None;
            }
            if !link.pending.is_empty() {
                core.inbound.push_batch(&mut link.pending);
                return;
            }
            match link.unread.pop_front() {
                Some((subscribe, t)) => {
                    let topic = Bytes::from(vec![t]);
                    let made = core.on_subscription(id as u64, subscribe, topic, &mut link.pending);
                    if let Some(ticket) = made.unwrap() {
                        link.ticket = Some(ticket);
                    }
                }
                None if link.leaving => {
                    let pending = std::mem::take(&mut link.pending);
                    let ticket = core.pipe_down(id as u64, true, pending, None);
                    link.departed = Some(ticket.max(link.ticket));
                }
                None => {}
            }
        }

        fn read(core: &Core, notices: &mut Vec<(bool, u8)>) -> bool {
            match core.inbound.try_pop() {
                Some(item) => {
                    let frame = &item.message.frames()[0];
                    notices.push((frame[0] == 1, frame[1]));
                    true
                }
                None => false,
            }
        }

        proptest! {
            /// Whatever runs when, the notices read replay (each a change)
            /// to the topics the remaining peers hold.
            #[test]
            fn notices_replay_to_the_true_set(
                (peers, actions) in (2..=4usize)
                    .prop_flat_map(|n| (Just(n), prop::collection::vec(action(n), 1..80)))
            ) {
                let (core, _rxs) = xpub(peers);
                let mut links: Vec<Link> = (0..peers).map(|_| Link::default()).collect();
                let mut notices = Vec::new();
                for action in actions {
                    match action {
                        Action::Send(p, subscribe, t) => {
                            let link = &mut links[p];
                            let changes = if subscribe { link.held.insert(t) } else { link.held.remove(&t) };
                            if changes && !link.leaving {
                                link.unread.push_back((subscribe, t));
                            }
                        }
                        Action::Leave(p) => links[p].leaving = true,
                        Action::Run(p) => run(&core, p, &mut links[p]),
                        Action::Read => {
                            read(&core, &mut notices);
                        }
                    }
                }
                // Everything runs to the end, the reader last of all.
                for _ in 0..10_000 {
                    for (p, link) in links.iter_mut().enumerate() {
                        run(&core, p, link);
                    }
                    read(&core, &mut notices);
                }
                prop_assert!(core.inbound.is_empty());
                let mut replayed = BTreeSet::new();
                for &(subscribe, t) in &notices {
                    let changed = if subscribe { replayed.insert(t) } else { replayed.remove(&t) };
                    prop_assert!(changed, "{} {} in {:?}", subscribe, t, notices);
                }
                let truth: BTreeSet<u8> = links
                    .iter()
                    .filter(|l| !l.leaving)
                    .flat_map(|l| l.held.iter().copied())
                    .collect();
                prop_assert_eq!(replayed, truth, "{:?}", notices);
            }
        }
    }
}
