//! Fan-out: PUB, XPUB, SUB and XSUB, and the subscriptions that steer them.
//!
//! - **Out** ([`publish`]): a PUB or XPUB message goes to every ready peer
//!   whose subscriptions match its first frame; a full peer loses it
//!   (XPUB with `xpub_nodrop` waits instead, for all of them).
//!   An XSUB message ([`send_upstream`]) goes to every publisher, except
//!   `\x01topic` and `\x00topic`, which change the XSUB's subscriptions.
//! - **Our subscriptions** ([`subscribe`], [`unsubscribe`]): SUB and XSUB
//!   count them and tell every publisher; new links get them replayed
//!   (`Core::pipe_ready`).
//! - **Peers' subscriptions** ([`peer_subscription`], [`peer_left`]): a
//!   PUB or XPUB keeps what each peer subscribed to; an XPUB also tells
//!   the application when a topic gains its first subscriber or loses its
//!   last (every time with `xpub_verbose`/`xpub_verboser`).
//! - **In** ([`subscribed`]): a SUB hands out only what matches its
//!   subscriptions (a publisher filters too, but a 3.0 peer may not).

use bytes::{BufMut, Bytes, BytesMut};
use zmtp::Message;

use super::{Attempt, offer};
use crate::core::{Core, Outbound, PipeEntry, State, Stats};
use crate::options::Options;
use crate::peers::PipeId;

/// PUB and XPUB: fan-out to matching subscribers; `nodrop` (XPUB's
/// `xpub_nodrop`) waits while any of them is full instead of dropping.
pub(crate) fn publish(state: &State, stats: &Stats, nodrop: bool, message: Message) -> Attempt {
    let topic = message.first().cloned().unwrap_or_default();
    let matching = |p: &&PipeEntry| p.ready && p.peer_subscriptions.matches(&topic);
    if nodrop
        && state
            .pipes
            .iter()
            .filter(matching)
            .any(|p| !p.tx.has_room())
    {
        return Attempt::Wait(message);
    }
    for pipe in state.pipes.iter().filter(matching) {
        if offer(&pipe.tx, message.clone()).is_err() {
            Core::count(&stats.dropped_hwm);
        }
    }
    Attempt::Done
}

/// XSUB: subscriptions update our set and go to every publisher; other
/// data goes to every publisher as is.
pub(crate) fn send_upstream(state: &mut State, stats: &Stats, message: Message) -> Attempt {
    if let (1, Some(first)) = (message.len(), message.first()) {
        match first.first() {
            Some(1) => {
                subscribe(state, stats, first.slice(1..));
                return Attempt::Done;
            }
            Some(0) => {
                unsubscribe(state, stats, &first.slice(1..));
                return Attempt::Done;
            }
            _ => {}
        }
    }
    for pipe in state.pipes.iter().filter(|p| p.usable) {
        if offer(&pipe.tx, message.clone()).is_err() {
            Core::count(&stats.dropped_hwm);
        }
    }
    Attempt::Done
}

/// SUB/XSUB: adds a subscription and tells every publisher.
pub(crate) fn subscribe(state: &mut State, stats: &Stats, topic: Bytes) {
    state.subscriptions.add(&topic);
    tell_publishers(state, stats, topic, |topic, seq| Outbound::Subscribe {
        topic,
        seq,
    });
}

/// SUB/XSUB: removes one subscription; publishers hear of it when it was
/// the topic's last.
pub(crate) fn unsubscribe(state: &mut State, stats: &Stats, topic: &Bytes) {
    if state.subscriptions.remove(topic) {
        tell_publishers(state, stats, topic.clone(), |topic, seq| Outbound::Cancel {
            topic,
            seq,
        });
    }
}

/// Numbers a change of our subscriptions (so replays skip what is queued)
/// and queues `item` for every pipe.
fn tell_publishers(
    state: &mut State,
    stats: &Stats,
    topic: Bytes,
    item: fn(Bytes, u64) -> Outbound,
) {
    state.subscription_seq += 1;
    let seq = state.subscription_seq;
    for pipe in state.pipes.iter() {
        // A subscription lost at the mark is resent with the next replay,
        // as in libzmq; count it so it is visible.
        if pipe.tx.try_send(item(topic.clone(), seq)).is_err() {
            Core::count(&stats.dropped_hwm);
        }
    }
}

/// PUB/XPUB: the peer on `pipe` subscribed (or cancelled). For an XPUB
/// (`xpub`), returns the notice its application should see, if any.
pub(crate) fn peer_subscription(
    state: &mut State,
    options: &Options,
    xpub: bool,
    pipe: PipeId,
    subscribe: bool,
    topic: Bytes,
) -> Option<Message> {
    let entry = state.pipe_mut(pipe)?;
    if subscribe {
        entry.peer_subscriptions.add(&topic);
    } else if entry.peer_subscriptions.contains(&topic) {
        entry.peer_subscriptions.remove(&topic);
    } else {
        // Cancelling what this peer never subscribed to changes nothing.
        return None;
    }
    if !xpub {
        return None;
    }
    let changed = if subscribe {
        state.all_peer_topics.add(&topic)
    } else {
        state.all_peer_topics.remove(&topic)
    };
    let verbose = if subscribe {
        options.xpub_verbose || options.xpub_verboser
    } else {
        options.xpub_verboser
    };
    (changed || verbose).then(|| subscription_message(subscribe, &topic))
}

/// XPUB: a peer that subscribed to `topics` left; the cancel notices its
/// application should see.
pub(crate) fn peer_left(state: &mut State, options: &Options, topics: Vec<Bytes>) -> Vec<Message> {
    topics
        .into_iter()
        .filter(|topic| state.all_peer_topics.remove(topic) || options.xpub_verboser)
        .map(|topic| subscription_message(false, &topic))
        .collect()
}

/// SUB: whether a received message matches our subscriptions.
#[inline]
pub(crate) fn subscribed(state: &State, message: &Message) -> bool {
    let first = message.first().map(|f| &f[..]).unwrap_or_default();
    state.subscriptions.matches(first)
}

/// The 3.0-style subscription message: `01topic` or `00topic`.
pub(crate) fn subscription_message(subscribe: bool, topic: &[u8]) -> Message {
    let mut body = BytesMut::with_capacity(1 + topic.len());
    body.put_u8(u8::from(subscribe));
    body.put_slice(topic);
    Message::from(body.freeze())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::queue::PipeRx;
    use crate::rules::fixtures::with_pipes;
    use zmtp::SocketType;

    fn drain(rx: &PipeRx<Outbound>) -> Vec<String> {
        std::iter::from_fn(|| rx.try_pop())
            .map(|item| match item {
                Outbound::Message(m) => format!("msg {:?}", m.frames()),
                Outbound::Subscribe { topic, seq } => format!("sub {topic:?} {seq}"),
                Outbound::Cancel { topic, seq } => format!("cancel {topic:?} {seq}"),
            })
            .collect()
    }

    fn topic(t: &'static [u8]) -> Bytes {
        Bytes::from_static(t)
    }

    #[test]
    fn publishes_only_to_matching_ready_peers() {
        let (mut state, rxs) = with_pipes(3, 4, true);
        let options = Options::new(SocketType::Pub);
        peer_subscription(&mut state, &options, false, 1, true, topic(b"a"));
        peer_subscription(&mut state, &options, false, 2, true, topic(b"b"));
        peer_subscription(&mut state, &options, false, 3, true, topic(b""));
        state.pipes[2].ready = false;
        let stats = Stats::default();
        publish(&state, &stats, false, Message::from(topic(b"apple")));
        assert_eq!(drain(&rxs[0]).len(), 1);
        assert!(drain(&rxs[1]).is_empty());
        assert!(drain(&rxs[2]).is_empty(), "a peer not ready gets nothing");
    }

    #[test]
    fn a_full_subscriber_loses_the_message_unless_nodrop() {
        let (mut state, rxs) = with_pipes(2, 1, true);
        let options = Options::new(SocketType::Xpub);
        for pipe in [1, 2] {
            peer_subscription(&mut state, &options, true, pipe, true, topic(b""));
        }
        let stats = Stats::default();
        publish(&state, &stats, false, Message::from(topic(b"1")));
        drain(&rxs[1]);
        publish(&state, &stats, false, Message::from(topic(b"2")));
        assert_eq!(stats.dropped_hwm.load(Ordering::Relaxed), 1);
        assert_eq!(drain(&rxs[1]).len(), 1);
        assert!(matches!(
            publish(&state, &stats, true, Message::from(topic(b"3"))),
            Attempt::Wait(_)
        ));
        assert!(
            drain(&rxs[1]).is_empty(),
            "nodrop sends to none while one is full"
        );
    }

    #[test]
    fn xsub_subscription_messages_change_our_set_and_reach_every_publisher() {
        let (mut state, rxs) = with_pipes(2, 8, true);
        let stats = Stats::default();
        send_upstream(&mut state, &stats, Message::from(topic(b"\x01news")));
        assert!(state.subscriptions.matches(b"news today"));
        send_upstream(&mut state, &stats, Message::from(topic(b"\x00news")));
        assert!(!state.subscriptions.matches(b"news today"));
        send_upstream(&mut state, &stats, Message::from(topic(b"data")));
        for rx in &rxs {
            assert_eq!(
                drain(rx),
                ["sub b\"news\" 1", "cancel b\"news\" 2", "msg [b\"data\"]"]
            );
        }
    }

    #[test]
    fn publishers_hear_of_a_cancel_only_for_the_topics_last_subscription() {
        let (mut state, rxs) = with_pipes(1, 8, true);
        let stats = Stats::default();
        subscribe(&mut state, &stats, topic(b"t"));
        subscribe(&mut state, &stats, topic(b"t"));
        unsubscribe(&mut state, &stats, &topic(b"t"));
        unsubscribe(&mut state, &stats, &topic(b"t"));
        unsubscribe(&mut state, &stats, &topic(b"t"));
        assert_eq!(
            drain(&rxs[0]),
            ["sub b\"t\" 1", "sub b\"t\" 2", "cancel b\"t\" 3"]
        );
    }

    #[test]
    fn xpub_reports_a_topics_first_subscriber_and_its_last_leaving() {
        let (mut state, _rxs) = with_pipes(2, 8, true);
        let options = Options::new(SocketType::Xpub);
        let notice =
            |s: &mut State, pipe, sub| peer_subscription(s, &options, true, pipe, sub, topic(b"t"));
        assert_eq!(
            notice(&mut state, 1, true),
            Some(subscription_message(true, b"t"))
        );
        assert_eq!(notice(&mut state, 2, true), None);
        assert_eq!(notice(&mut state, 1, false), None);
        assert_eq!(
            notice(&mut state, 1, false),
            None,
            "cancelling what the peer never subscribed to changes nothing"
        );
        let topics = state.pipe_mut(2).unwrap().peer_subscriptions.take_topics();
        assert_eq!(
            peer_left(&mut state, &options, topics),
            [subscription_message(false, b"t")]
        );
    }

    #[test]
    fn verbose_xpub_reports_every_subscription() {
        let (mut state, _rxs) = with_pipes(2, 8, true);
        let mut options = Options::new(SocketType::Xpub);
        options.xpub_verbose = true;
        for pipe in [1, 2] {
            assert!(
                peer_subscription(&mut state, &options, true, pipe, true, topic(b"t")).is_some()
            );
        }
        assert!(peer_subscription(&mut state, &options, true, 1, false, topic(b"t")).is_none());
        options.xpub_verboser = true;
        assert!(peer_subscription(&mut state, &options, true, 2, false, topic(b"t")).is_some());
    }

    #[test]
    fn sub_hands_out_only_matching_messages() {
        let mut state = State::default();
        state.subscriptions.add(&topic(b"a"));
        assert!(subscribed(&state, &Message::from(topic(b"abc"))));
        assert!(!subscribed(&state, &Message::from(topic(b"b"))));
        assert!(!subscribed(&state, &Message::new()));
    }
}
