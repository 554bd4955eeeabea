//! XPUB extras: `XpubManual` subscriptions and the first message a new
//! peer gets (`XpubWelcome`, and `ProbeRouter` for ROUTER, DEALER, REQ).
//!
//! - **Manual** (libzmq's `ZMQ_XPUB_MANUAL`): what a peer asks for is only
//!   recorded ([`claim`], within the same per-peer caps as subscriptions)
//!   and passed to the application, every time. The topics a peer gets are
//!   the ones the application subscribes it to ([`subscribe_peer`]): the
//!   XPUB's own `subscribe`/`unsubscribe` apply to the peer whose message
//!   the application received last (`Core::last_received`), and do nothing
//!   if that peer has left. When a peer leaves, the application hears a
//!   cancellation for every topic it had asked for (`fan_out::peer_left`).
//! - **First message** ([`first_message`]): queued in a new peer's pipe
//!   when its handshake completes, before anything else.

use bytes::Bytes;
use zmtp::{Message, SocketType};

use super::fan_out;
use crate::core::{PipeEntry, State};
use crate::modes::Modes;
use crate::options::Options;
use crate::peers::PipeId;
use crate::refusal::Refusal;

/// A manual XPUB's peer asked to subscribe (or cancel): it is recorded for
/// the cancellations at its departure, within the peer's caps.
pub(crate) fn claim(
    entry: &mut PipeEntry,
    options: &Options,
    subscribe: bool,
    topic: &Bytes,
) -> Result<(), Refusal> {
    let claimed = &mut entry.claimed;
    match (subscribe, claimed.contains(topic)) {
        (true, false) => {
            fan_out::within_budget(claimed, options, topic.len())?;
            claimed.add(topic);
        }
        (false, true) => {
            claimed.remove(topic);
        }
        _ => {}
    }
    Ok(())
}

/// A manual XPUB's application subscribes (or unsubscribes) the peer on
/// `pipe` to `topic`; nothing if that peer is gone.
pub(crate) fn subscribe_peer(state: &mut State, pipe: PipeId, subscribe: bool, topic: &Bytes) {
    let Some(entry) = state.pipe_mut(pipe) else {
        return;
    };
    let set = &mut entry.peer_subscriptions;
    match (subscribe, set.contains(topic)) {
        (true, false) => {
            set.add(topic);
            state.audience.insert(topic, pipe);
        }
        (false, true) => {
            set.remove(topic);
            state.audience.remove(topic, pipe);
        }
        _ => {}
    }
}

/// The message a new peer of a `socket_type` socket gets first, if any:
/// the XPUB's welcome message, or an empty probe.
pub(crate) fn first_message(modes: &Modes, socket_type: SocketType) -> Option<Message> {
    match socket_type {
        SocketType::Xpub => modes.xpub_welcome.clone().map(Message::from),
        SocketType::Router | SocketType::Dealer | SocketType::Req if modes.probe_router => {
            Some(Message::from(Bytes::new()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modes::Mode;
    use crate::rules::fan_out::{peer_left, peer_subscription, publish, subscription_message};
    use crate::rules::fixtures::{popped, with_pipes};

    fn topic(t: &'static [u8]) -> Bytes {
        Bytes::from_static(t)
    }

    #[test]
    fn a_manual_xpub_passes_every_request_and_routes_what_the_application_chose() {
        let (mut state, rxs) = with_pipes(1, 8, true);
        state.modes.apply(Mode::XpubManual(true));
        let options = Options::new(SocketType::Xpub);
        for _ in 0..2 {
            let notice = peer_subscription(&mut state, &options, true, 1, true, topic(b"A"));
            assert_eq!(notice, Ok(Some(subscription_message(true, b"A"))));
        }
        let stats = crate::core::Stats::default();
        publish(&state, &stats, false, Message::from(topic(b"A")));
        assert_eq!(popped(&rxs[0]), None, "the peer's request routes nothing");
        subscribe_peer(&mut state, 1, true, &topic(b"XA"));
        publish(&state, &stats, false, Message::from(topic(b"XA")));
        assert_eq!(popped(&rxs[0]), Some(Message::from(topic(b"XA"))));
        subscribe_peer(&mut state, 1, false, &topic(b"XA"));
        publish(&state, &stats, false, Message::from(topic(b"XA")));
        assert_eq!(popped(&rxs[0]), None);
        subscribe_peer(&mut state, 9, true, &topic(b"XA"));
    }

    #[test]
    fn a_departing_manual_peer_cancels_what_it_asked_for() {
        let (mut state, _rxs) = with_pipes(2, 8, true);
        state.modes.apply(Mode::XpubManual(true));
        let options = Options::new(SocketType::Xpub);
        for t in [b"A" as &'static [u8], b"B"] {
            for pipe in [1, 2] {
                peer_subscription(&mut state, &options, true, pipe, true, topic(t)).unwrap();
            }
        }
        peer_subscription(&mut state, &options, true, 1, false, topic(b"A")).unwrap();
        subscribe_peer(&mut state, 1, true, &topic(b"XB"));
        let entry = state.pipe_mut(1).unwrap();
        let topics = entry.peer_subscriptions.take_topics();
        let claimed = entry.claimed.take_topics();
        assert_eq!(
            peer_left(&mut state, true, 1, topics, claimed),
            [subscription_message(false, b"B")]
        );
        assert!(state.audience.matching(b"XB").pipes().is_empty());
    }

    #[test]
    fn manual_requests_count_against_the_caps() {
        let (mut state, _rxs) = with_pipes(1, 8, true);
        state.modes.apply(Mode::XpubManual(true));
        let mut options = Options::new(SocketType::Xpub);
        options.max_peer_subscriptions = 1;
        peer_subscription(&mut state, &options, true, 1, true, topic(b"A")).unwrap();
        assert_eq!(
            peer_subscription(&mut state, &options, true, 1, true, topic(b"B")),
            Err(Refusal::TooManySubscriptions { max: 1 })
        );
    }

    #[test]
    fn welcome_and_probe_messages() {
        let mut modes = Modes::default();
        assert_eq!(first_message(&modes, SocketType::Xpub), None);
        modes.apply(Mode::XpubWelcome(topic(b"W")));
        assert_eq!(
            first_message(&modes, SocketType::Xpub),
            Some(Message::from(topic(b"W")))
        );
        assert_eq!(first_message(&modes, SocketType::Router), None);
        modes.apply(Mode::ProbeRouter(true));
        for t in [SocketType::Router, SocketType::Dealer, SocketType::Req] {
            assert_eq!(
                first_message(&modes, t),
                Some(Message::from(Bytes::new())),
                "{t:?}"
            );
        }
        assert_eq!(first_message(&modes, SocketType::Push), None);
    }

    mod schedules {
        //! A manual XPUB under random schedules of peer requests, the
        //! application's choices and departures.

        use std::collections::BTreeSet;

        use proptest::prelude::*;

        use super::*;
        use crate::core::Outbound;

        #[derive(Debug, Clone)]
        enum Step {
            /// Peer `.0` asks to subscribe (`.1`) to topic `.2`, or cancel.
            Ask(u64, bool, u8),
            /// The application (un)subscribes peer `.0` to topic `.2`.
            Choose(u64, bool, u8),
            /// Peer `.0` leaves.
            Leave(u64),
            /// A message of topic `.0` is published.
            Publish(u8),
        }

        fn step() -> impl Strategy<Value = Step> {
            prop_oneof![
                3 => (1..=3u64, any::<bool>(), 0..3u8).prop_map(|(p, s, t)| Step::Ask(p, s, t)),
                3 => (1..=3u64, any::<bool>(), 0..3u8).prop_map(|(p, s, t)| Step::Choose(p, s, t)),
                1 => (1..=3u64).prop_map(Step::Leave),
                3 => (0..3u8).prop_map(Step::Publish),
            ]
        }

        proptest! {
            /// Every request is passed on; messages reach exactly the peers
            /// the application chose for their topic; a departure cancels
            /// exactly what the peer asked for and did not cancel.
            #[test]
            fn requests_pass_choices_route_departures_cancel_claims(
                steps in proptest::collection::vec(step(), 1..80)
            ) {
                let (mut state, rxs) = with_pipes(3, 1024, true);
                state.modes.apply(Mode::XpubManual(true));
                let options = Options::new(SocketType::Xpub);
                let stats = crate::core::Stats::default();
                let mut asked: Vec<BTreeSet<u8>> = vec![BTreeSet::new(); 3];
                let mut chosen: Vec<BTreeSet<u8>> = vec![BTreeSet::new(); 3];
                let mut gone = [false; 3];
                for step in steps {
                    match step {
                        Step::Ask(p, on, t) if !gone[p as usize - 1] => {
                            let topic = Bytes::from(vec![t]);
                            let notice = peer_subscription(&mut state, &options, true, p, on, topic);
                            prop_assert_eq!(notice, Ok(Some(subscription_message(on, &[t]))));
                            let set = &mut asked[p as usize - 1];
                            if on { set.insert(t); } else { set.remove(&t); }
                        }
                        Step::Choose(p, on, t) => {
                            subscribe_peer(&mut state, p, on, &Bytes::from(vec![t]));
                            if !gone[p as usize - 1] {
                                let set = &mut chosen[p as usize - 1];
                                if on { set.insert(t); } else { set.remove(&t); }
                            }
                        }
                        Step::Leave(p) if !gone[p as usize - 1] => {
                            let i = p as usize - 1;
                            gone[i] = true;
                            let entry = state.pipe_mut(p).unwrap();
                            let topics = entry.peer_subscriptions.take_topics();
                            let claimed = entry.claimed.take_topics();
                            let mut notices = peer_left(&mut state, true, p, topics, claimed);
                            notices.sort_by(|a, b| a.frames().cmp(b.frames()));
                            let expected: Vec<Message> = asked[i]
                                .iter()
                                .map(|t| subscription_message(false, &[*t]))
                                .collect();
                            prop_assert_eq!(notices, expected);
                            state.pipes.retain(|e| e.id != p);
                            state.reindex();
                            chosen[i].clear();
                        }
                        Step::Publish(t) => {
                            publish(&state, &stats, false, Message::from(Bytes::from(vec![t])));
                            for (i, rx) in rxs.iter().enumerate() {
                                let got = std::iter::from_fn(|| rx.try_pop())
                                    .filter(|o| matches!(o, Outbound::Message(_)))
                                    .count();
                                prop_assert_eq!(got, usize::from(chosen[i].contains(&t)), "peer {}", i + 1);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}
