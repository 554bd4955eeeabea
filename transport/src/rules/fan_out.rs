//! Fan-out: PUB, XPUB, SUB and XSUB, and the subscriptions that steer them.
//!
//! - **Out** ([`publish`]): a PUB or XPUB message goes to every ready peer
//!   whose subscriptions match its first frame, found by one walk of that
//!   frame through the socket's [`Audience`](crate::subscriptions::Audience);
//!   a full peer loses it (XPUB with `xpub_nodrop` waits instead, for all
//!   of them).
//!   An XSUB message ([`send_upstream`]) goes to every publisher, except
//!   `\x01topic` and `\x00topic`, which change the XSUB's subscriptions.
//! - **Our subscriptions** ([`subscribe`], [`unsubscribe`]): SUB and XSUB
//!   count them and tell every publisher; new links get them replayed
//!   (`Core::pipe_ready`).
//! - **Peers' subscriptions** ([`peer_subscription`], [`peer_left`]): a
//!   PUB or XPUB keeps which topics each peer holds (a set, as libzmq's
//!   `mtrie`: a repeated subscription changes nothing, one cancellation
//!   ends it), within the per-peer caps (`Options::max_peer_subscriptions`,
//!   `_bytes`: a peer past them loses its link). An XPUB also tells the
//!   application, as libzmq does: a subscription when it is the topic's
//!   first (every one with `XpubVerbose`/`XpubVerboser`); a cancellation
//!   when the topic lost its last peer, or the peer did not hold it (every
//!   one with `XpubVerboser`); a departing peer's topics that lost their
//!   last peer (all of them with `XpubVerboser`). With `XpubManual` the
//!   peer's requests only reach the application (`xpub_manual.rs`).
//! - **In** ([`subscribed`]): a SUB hands out only what matches its
//!   subscriptions (a publisher filters too, but a 3.0 peer may not).

use bytes::{BufMut, Bytes, BytesMut};
use zmtp::Message;

use super::{Attempt, offer, xpub_manual};
use crate::core::{Core, Outbound, PipeEntry, State, Stats};
use crate::options::Options;
use crate::peers::PipeId;
use crate::refusal::Refusal;
use crate::subscriptions::SubscriptionSet;

/// PUB and XPUB: fan-out to matching subscribers; `nodrop` (XPUB's
/// `xpub_nodrop`) waits while any of them is full instead of dropping.
pub(crate) fn publish(state: &State, stats: &Stats, nodrop: bool, message: Message) -> Attempt {
    let topic = message.first().map(|f| &f[..]).unwrap_or_default();
    let matched = state.audience.matching(topic);
    let targets = || {
        matched
            .pipes()
            .iter()
            .filter_map(|&id| state.pipe(id))
            .filter(|p: &&PipeEntry| p.ready)
    };
    if nodrop && targets().any(|p| !p.tx.has_room()) {
        return Attempt::Wait(message);
    }
    for pipe in targets() {
        if offer(&pipe.tx, message.clone()).is_err() {
            Core::count(&stats.dropped_hwm);
        }
    }
    Attempt::Done
}

/// XPUB with `xpub_nodrop`: whether every ready subscriber of `topic` has
/// room for one more message.
pub(crate) fn matching_have_room(state: &State, topic: &[u8]) -> bool {
    let matched = state.audience.matching(topic);
    matched
        .pipes()
        .iter()
        .filter_map(|&id| state.pipe(id))
        .filter(|p| p.ready)
        .all(|p| p.tx.has_room())
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
/// (`xpub`), returns the notice its application should see, if any; a
/// subscription past the peer's caps is refused (its link must end).
pub(crate) fn peer_subscription(
    state: &mut State,
    options: &Options,
    xpub: bool,
    pipe: PipeId,
    subscribe: bool,
    topic: Bytes,
) -> Result<Option<Message>, Refusal> {
    let modes = &state.modes;
    let (manual, verbose_subscribe, verbose_cancel) = (
        xpub && modes.xpub_manual,
        modes.verbose_subscribe,
        modes.verbose_cancel,
    );
    let Some(entry) = state.pipe_mut(pipe) else {
        return Ok(None);
    };
    if manual {
        xpub_manual::claim(entry, options, subscribe, &topic)?;
        return Ok(Some(subscription_message(subscribe, &topic)));
    }
    let set = &mut entry.peer_subscriptions;
    let held = set.contains(&topic);
    let notify = match (subscribe, held) {
        // A repeat changes nothing.
        (true, true) => verbose_subscribe,
        (true, false) => {
            within_budget(set, options, topic.len())?;
            set.add(&topic);
            state.audience.insert(&topic, pipe) || verbose_subscribe
        }
        (false, true) => {
            set.remove(&topic);
            state.audience.remove(&topic, pipe) || verbose_cancel
        }
        // Nothing to cancel: libzmq passes it on in every mode ("not
        // found" is not "values remain").
        (false, false) => true,
    };
    Ok((xpub && notify).then(|| subscription_message(subscribe, &topic)))
}

/// Whether a peer holding `set` may add a new topic of `len` bytes.
pub(crate) fn within_budget(
    set: &SubscriptionSet,
    options: &Options,
    len: usize,
) -> Result<(), Refusal> {
    let max = options.max_peer_subscriptions;
    if set.len() >= max {
        return Err(Refusal::TooManySubscriptions { max });
    }
    let max = options.max_peer_subscription_bytes;
    if set.bytes().saturating_add(len) > max {
        return Err(Refusal::SubscriptionBytes { max });
    }
    Ok(())
}

/// PUB/XPUB: the peer on `pipe`, subscribed to `topics` (and, with
/// `xpub_manual`, having asked for `claimed`), left; they are forgotten.
/// For an XPUB (`xpub`), returns the cancel notices its application should
/// see: the topics that lost their last peer (all of them with
/// `XpubVerboser`), or with `XpubManual` every topic the peer asked for.
pub(crate) fn peer_left(
    state: &mut State,
    xpub: bool,
    pipe: PipeId,
    topics: Vec<Bytes>,
    claimed: Vec<Bytes>,
) -> Vec<Message> {
    let manual = xpub && state.modes.xpub_manual;
    let verbose = state.modes.verbose_cancel;
    let mut notices: Vec<Message> = topics
        .into_iter()
        .filter(|topic| state.audience.remove(topic, pipe) || verbose)
        .filter(|_| xpub && !manual)
        .map(|topic| subscription_message(false, &topic))
        .collect();
    if manual {
        notices.extend(claimed.iter().map(|t| subscription_message(false, t)));
    }
    notices
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

    use proptest::prelude::*;

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
        for (pipe, t) in [(1, b"a" as &[u8]), (2, b"b"), (3, b"")] {
            peer_subscription(&mut state, &options, false, pipe, true, Bytes::from(t)).unwrap();
        }
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
            peer_subscription(&mut state, &options, true, pipe, true, topic(b"")).unwrap();
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
        let notice = |s: &mut State, pipe, sub| {
            peer_subscription(s, &options, true, pipe, sub, topic(b"t")).unwrap()
        };
        assert_eq!(
            notice(&mut state, 1, true),
            Some(subscription_message(true, b"t"))
        );
        assert_eq!(notice(&mut state, 2, true), None);
        assert_eq!(notice(&mut state, 1, false), None);
        assert_eq!(
            notice(&mut state, 1, false),
            Some(subscription_message(false, b"t")),
            "a cancellation of what the peer does not hold is passed, as libzmq"
        );
        let topics = state.pipe_mut(2).unwrap().peer_subscriptions.take_topics();
        assert_eq!(
            peer_left(&mut state, true, 2, topics, Vec::new()),
            [subscription_message(false, b"t")]
        );
    }

    #[test]
    fn verbose_xpub_reports_every_subscription() {
        let (mut state, _rxs) = with_pipes(2, 8, true);
        let options = Options::new(SocketType::Xpub);
        state.modes.apply(crate::Mode::XpubVerbose(true));
        for pipe in [1, 2] {
            assert!(
                peer_subscription(&mut state, &options, true, pipe, true, topic(b"t"))
                    .unwrap()
                    .is_some()
            );
        }
        assert!(
            peer_subscription(&mut state, &options, true, 1, false, topic(b"t"))
                .unwrap()
                .is_none()
        );
        state.modes.apply(crate::Mode::XpubVerboser(true));
        assert!(
            peer_subscription(&mut state, &options, true, 2, false, topic(b"t"))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_peer_that_subscribed_twice_and_left_is_reported_gone() {
        let (mut state, _rxs) = with_pipes(1, 8, true);
        let options = Options::new(SocketType::Xpub);
        for _ in 0..2 {
            peer_subscription(&mut state, &options, true, 1, true, topic(b"t")).unwrap();
        }
        let topics = state.pipe_mut(1).unwrap().peer_subscriptions.take_topics();
        assert_eq!(
            peer_left(&mut state, true, 1, topics, Vec::new()),
            [subscription_message(false, b"t")],
            "the topic lost its only subscriber, however often it subscribed"
        );
        assert_eq!(
            peer_subscription(&mut state, &options, true, 1, true, topic(b"t")).unwrap(),
            Some(subscription_message(true, b"t")),
            "a new subscriber is the topic's first again"
        );
    }

    #[test]
    fn a_peer_past_its_caps_is_refused_and_the_others_are_not() {
        let (mut state, rxs) = with_pipes(2, 8, true);
        let mut options = Options::new(SocketType::Pub);
        options.max_peer_subscriptions = 2;
        options.max_peer_subscription_bytes = 5;
        let sub = |s: &mut State, pipe, t: &'static [u8]| {
            peer_subscription(s, &options, false, pipe, true, topic(t))
        };
        assert_eq!(sub(&mut state, 1, b"a"), Ok(None));
        assert_eq!(sub(&mut state, 1, b"bb"), Ok(None));
        assert_eq!(sub(&mut state, 1, b"a"), Ok(None), "a repeat only counts");
        assert_eq!(
            sub(&mut state, 1, b"c"),
            Err(Refusal::TooManySubscriptions { max: 2 })
        );
        assert_eq!(
            sub(&mut state, 2, b"abcdef"),
            Err(Refusal::SubscriptionBytes { max: 5 })
        );
        assert_eq!(sub(&mut state, 2, b"abcde"), Ok(None));
        let stats = Stats::default();
        publish(&state, &stats, false, Message::from(topic(b"abcdef")));
        assert_eq!(drain(&rxs[0]).len(), 1);
        assert_eq!(drain(&rxs[1]).len(), 1);
    }

    #[test]
    fn a_peer_subscribed_to_two_prefixes_of_a_topic_gets_one_copy() {
        let (mut state, rxs) = with_pipes(1, 8, true);
        let options = Options::new(SocketType::Pub);
        for t in [b"" as &[u8], b"a", b"ab"] {
            peer_subscription(&mut state, &options, false, 1, true, Bytes::from(t)).unwrap();
        }
        publish(
            &state,
            &Stats::default(),
            false,
            Message::from(topic(b"abc")),
        );
        assert_eq!(drain(&rxs[0]).len(), 1);
    }

    /// One step of a random schedule at a publisher.
    #[derive(Debug, Clone)]
    enum Step {
        Subscribe(u64, Vec<u8>),
        Cancel(u64, Vec<u8>),
        Leave(u64),
        Publish(Vec<u8>),
        /// 0: quiet, 1: `XpubVerbose`, 2: `XpubVerboser`.
        Verbosity(u8),
    }

    fn word(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b')], 0..max)
    }

    fn step() -> impl Strategy<Value = Step> {
        let peer = 1..=PEERS;
        prop_oneof![
            4 => (peer.clone(), word(4)).prop_map(|(p, t)| Step::Subscribe(p, t)),
            3 => (peer.clone(), word(4)).prop_map(|(p, t)| Step::Cancel(p, t)),
            1 => peer.prop_map(Step::Leave),
            3 => word(6).prop_map(Step::Publish),
            1 => (0..3u8).prop_map(Step::Verbosity),
        ]
    }

    const PEERS: u64 = 4;

    /// Each peer's topics, as libzmq's `mtrie` keeps them: a set.
    type Held = Vec<std::collections::BTreeSet<Vec<u8>>>;

    fn holders(model: &Held, t: &[u8]) -> usize {
        model.iter().filter(|m| m.contains(t)).count()
    }

    proptest! {
        /// Against a model where each peer holds a set of topics: a message
        /// reaches exactly the peers with a matching topic, once each, and
        /// an XPUB's notices follow libzmq's rules in each verbosity: a
        /// subscription when the topic had no peer (always when verbose); a
        /// cancellation when the topic lost its last peer or the peer did
        /// not hold it (always when verboser); on leaving, each held topic
        /// left with no peer (every held topic when verboser).
        #[test]
        fn fan_out_and_notices_follow_the_per_peer_model(
            steps in proptest::collection::vec(step(), 0..120)
        ) {
            let (mut state, rxs) = with_pipes(PEERS, 1024, true);
            let options = Options::new(SocketType::Xpub);
            let mut model: Held = vec![Default::default(); PEERS as usize];
            let (mut verbose_subscribe, mut verbose_cancel) = (false, false);
            let stats = Stats::default();
            for step in steps {
                match step {
                    Step::Subscribe(p, t) => {
                        let expected = holders(&model, &t) == 0 || verbose_subscribe;
                        model[p as usize - 1].insert(t.clone());
                        let notice = peer_subscription(
                            &mut state, &options, true, p, true, Bytes::from(t.clone())
                        ).unwrap();
                        prop_assert_eq!(notice, expected.then(|| subscription_message(true, &t)));
                    }
                    Step::Cancel(p, t) => {
                        let held = model[p as usize - 1].remove(&t);
                        let expected = !held || holders(&model, &t) == 0 || verbose_cancel;
                        let notice = peer_subscription(
                            &mut state, &options, true, p, false, Bytes::from(t.clone())
                        ).unwrap();
                        prop_assert_eq!(notice, expected.then(|| subscription_message(false, &t)));
                    }
                    Step::Leave(p) => {
                        let gone = std::mem::take(&mut model[p as usize - 1]);
                        let mut expected: Vec<Message> = gone
                            .iter()
                            .filter(|t| holders(&model, t) == 0 || verbose_cancel)
                            .map(|t| subscription_message(false, t))
                            .collect();
                        let topics = state.pipe_mut(p).unwrap().peer_subscriptions.take_topics();
                        let mut notices = peer_left(&mut state, true, p, topics, Vec::new());
                        notices.sort_by(|a, b| a.frames().cmp(b.frames()));
                        expected.sort_by(|a, b| a.frames().cmp(b.frames()));
                        prop_assert_eq!(notices, expected);
                    }
                    Step::Publish(data) => {
                        publish(&state, &stats, false, Message::from(Bytes::from(data.clone())));
                        for (i, rx) in rxs.iter().enumerate() {
                            let got = drain(rx).len();
                            let matches = model[i].iter().any(|t| data.starts_with(t));
                            prop_assert_eq!(got, usize::from(matches), "peer {}", i + 1);
                        }
                    }
                    Step::Verbosity(v) => {
                        let mode = match v {
                            0 => crate::Mode::XpubVerboser(false),
                            1 => crate::Mode::XpubVerbose(true),
                            _ => crate::Mode::XpubVerboser(true),
                        };
                        state.modes.apply(mode);
                        (verbose_subscribe, verbose_cancel) = (v > 0, v > 1);
                    }
                }
            }
        }
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
