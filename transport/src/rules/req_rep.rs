//! REQ and REP: one request, then its reply, with the envelope that
//! routes the reply back.
//!
//! - **REQ** sends a request round-robin with an empty delimiter frame in
//!   front ([`send_request`]) and then hands out only a delimited reply
//!   from the pipe it asked, delimiter stripped ([`accept_reply`]); it may
//!   not send again before that reply (unless `ReqRelaxed`: then a new
//!   request makes every earlier one's reply stale, dropped when it comes).
//!   With `ReqCorrelate` a request id frame (4 bytes, a counter that
//!   starts at random, in the machine's byte order as libzmq writes it)
//!   goes before the delimiter, and only a reply carrying the last
//!   request's id back is handed out.
//! - **REP** takes a request apart at the first empty frame: the frames up
//!   to it are the envelope, kept for the reply; the rest goes to the
//!   application ([`accept_request`]). The reply goes back on the request's
//!   pipe with the envelope in front ([`send_reply`]), or is dropped if
//!   the requester left or is full, as libzmq does.
//! - [`check_recv`]: each side may receive only in its turn.

use bytes::Bytes;
use zmtp::Message;

use super::round_robin::round_robin;
use super::{Attempt, offer, offer_slot};
use crate::core::{Core, State, Stats};
use crate::error::{Error, Result};
use crate::peers::PipeId;

/// REQ: sends a request to the next pipe in turn, unless a reply is still
/// owed and `ReqRelaxed` is off.
pub(crate) fn send_request(state: &mut State, mut message: Message) -> Result<Attempt> {
    if state.req_awaiting.is_some() && !state.modes.req_relaxed {
        return Err(Error::State(
            "REQ must receive the reply before sending another request",
        ));
    }
    let id = state
        .modes
        .req_correlate
        .then(|| state.request_id.wrapping_add(1));
    message.push_front(Bytes::new());
    if let Some(id) = id {
        message.push_front(Bytes::copy_from_slice(&id.to_ne_bytes()));
    }
    let mut slot = Some(message);
    let taken = round_robin(&state.pipes, &mut state.next, |p| {
        p.usable && offer_slot(&p.tx, &mut slot)
    });
    match taken {
        Some(i) => {
            state.req_awaiting = Some(state.pipes[i].id);
            state.req_reply_id = id;
            if let Some(id) = id {
                state.request_id = id;
            }
            Ok(Attempt::Done)
        }
        None => {
            let mut m = slot.unwrap_or_default();
            m.pop_front();
            if id.is_some() {
                m.pop_front();
            }
            Ok(Attempt::Wait(m))
        }
    }
}

/// REP: sends the reply to the request being served, envelope first.
pub(crate) fn send_reply(state: &mut State, stats: &Stats, message: Message) -> Result<Attempt> {
    let Some((pipe_id, envelope)) = state.rep_pending.take() else {
        return Err(Error::State("REP must receive a request before replying"));
    };
    let reply: Message = envelope.into_iter().chain(message.into_frames()).collect();
    match state.pipe(pipe_id) {
        Some(pipe) => {
            if offer(&pipe.tx, reply).is_err() {
                Core::count(&stats.dropped_hwm);
            }
        }
        // The requester left; libzmq drops the reply too.
        None => Core::count(&stats.dropped_unroutable),
    }
    Ok(Attempt::Done)
}

/// REQ: the reply, delimiter stripped, if `message` is the delimited reply
/// from the pipe asked; `None` (dropped) otherwise.
pub(crate) fn accept_reply(
    state: &mut State,
    pipe: PipeId,
    mut message: Message,
) -> Option<Message> {
    if state.req_awaiting != Some(pipe) {
        return None;
    }
    if let Some(id) = state.req_reply_id {
        if message.first().map(|f| &f[..]) != Some(&id.to_ne_bytes()[..]) {
            return None;
        }
        message.pop_front();
    }
    let delimited = message.first().is_some_and(|f| f.is_empty()) && message.len() > 1;
    if !delimited {
        return None;
    }
    state.req_awaiting = None;
    state.req_reply_id = None;
    message.pop_front();
    Some(message)
}

/// REP: the request's body, its envelope kept for the reply; `None`
/// (dropped) if it has no delimiter or nothing after it.
pub(crate) fn accept_request(state: &mut State, pipe: PipeId, message: Message) -> Option<Message> {
    let frames = message.frames();
    let i = frames.iter().position(|f| f.is_empty())?;
    if i + 1 >= frames.len() {
        return None;
    }
    let envelope = frames[..=i].to_vec();
    let body: Message = frames[i + 1..].iter().cloned().collect();
    state.rep_pending = Some((pipe, envelope));
    Some(body)
}

/// REQ (`is_req`) or REP: whether it is this side's turn to receive. A
/// REQ must have a request out, relaxed or not (as libzmq: EFSM).
pub(crate) fn check_recv(state: &State, is_req: bool) -> Result<()> {
    if is_req && state.req_awaiting.is_none() {
        return Err(Error::State("REQ must send a request before receiving"));
    }
    if !is_req && state.rep_pending.is_some() {
        return Err(Error::State(
            "REP must reply before receiving the next request",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::rules::fixtures::{message, popped, with_pipes};

    #[test]
    fn a_request_is_delimited_and_only_its_pipes_delimited_reply_is_accepted() {
        let (mut state, rxs) = with_pipes(2, 4, false);
        state.next = 1;
        assert!(check_recv(&state, true).is_err());
        send_request(&mut state, message(&[b"q"])).unwrap();
        assert_eq!(popped(&rxs[1]), Some(message(&[b"", b"q"])));
        assert_eq!(state.req_awaiting, Some(2));
        assert!(send_request(&mut state, message(&[b"q2"])).is_err());
        check_recv(&state, true).unwrap();
        assert_eq!(
            accept_reply(&mut state, 1, message(&[b"", b"a"])),
            None,
            "wrong pipe"
        );
        assert_eq!(
            accept_reply(&mut state, 2, message(&[b"a"])),
            None,
            "no delimiter"
        );
        assert_eq!(
            accept_reply(&mut state, 2, message(&[b""])),
            None,
            "no body"
        );
        assert_eq!(
            accept_reply(&mut state, 2, message(&[b"", b"a"])),
            Some(message(&[b"a"]))
        );
        assert_eq!(state.req_awaiting, None);
        assert_eq!(
            accept_reply(&mut state, 2, message(&[b"", b"a"])),
            None,
            "answered"
        );
    }

    #[test]
    fn relaxed_req_may_send_again_and_waits_without_the_delimiter() {
        let (mut state, _rxs) = with_pipes(1, 1, false);
        state.modes.req_relaxed = true;
        send_request(&mut state, message(&[b"1"])).unwrap();
        match send_request(&mut state, message(&[b"2"])).unwrap() {
            Attempt::Wait(m) => assert_eq!(m, message(&[b"2"])),
            Attempt::Done => panic!("the pipe is full"),
        }
        assert_eq!(state.req_awaiting, Some(1));
    }

    #[test]
    fn rep_keeps_the_envelope_and_sends_it_back_with_the_reply() {
        let (mut state, rxs) = with_pipes(1, 4, false);
        let stats = Stats::default();
        assert!(send_reply(&mut state, &stats, message(&[b"r"])).is_err());
        check_recv(&state, false).unwrap();
        let body = accept_request(&mut state, 1, message(&[b"id", b"", b"q", b"q2"]));
        assert_eq!(body, Some(message(&[b"q", b"q2"])));
        assert!(check_recv(&state, false).is_err());
        send_reply(&mut state, &stats, message(&[b"r"])).unwrap();
        assert_eq!(popped(&rxs[0]), Some(message(&[b"id", b"", b"r"])));
        check_recv(&state, false).unwrap();
    }

    #[test]
    fn rep_drops_requests_without_a_delimited_body() {
        let mut state = State::default();
        assert_eq!(accept_request(&mut state, 1, message(&[b"q"])), None);
        assert_eq!(accept_request(&mut state, 1, message(&[b"id", b""])), None);
        assert!(state.rep_pending.is_none());
    }

    #[test]
    fn a_reply_whose_requester_left_is_dropped_and_counted() {
        let (mut state, _rxs) = with_pipes(1, 4, false);
        let stats = Stats::default();
        accept_request(&mut state, 7, message(&[b"", b"q"])).unwrap();
        send_reply(&mut state, &stats, message(&[b"r"])).unwrap();
        assert_eq!(stats.dropped_unroutable.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_correlating_req_wants_its_request_id_back() {
        let (mut state, rxs) = with_pipes(1, 4, false);
        state.modes.req_correlate = true;
        state.request_id = u32::MAX;
        send_request(&mut state, message(&[b"q"])).unwrap();
        let id = 0u32.to_ne_bytes();
        let sent = popped(&rxs[0]).unwrap();
        assert_eq!(sent.frames()[0][..], id[..], "the counter wraps");
        assert_eq!(sent.frames()[1..], message(&[b"", b"q"]).frames()[..]);
        let wrong = Bytes::copy_from_slice(&7u32.to_ne_bytes());
        let reply = |id: Bytes| -> Message {
            [id, Bytes::new(), Bytes::from_static(b"r")]
                .into_iter()
                .collect()
        };
        assert_eq!(accept_reply(&mut state, 1, reply(wrong)), None);
        assert_eq!(accept_reply(&mut state, 1, message(&[b"", b"r"])), None);
        let right = Bytes::copy_from_slice(&id);
        assert_eq!(
            accept_reply(&mut state, 1, reply(right)),
            Some(message(&[b"r"]))
        );
    }

    mod schedules {
        //! A relaxed, correlating REQ under random schedules: requests
        //! sent, and replies (to any earlier request, from any pipe) coming
        //! back in any order.

        use proptest::prelude::*;

        use super::*;

        #[derive(Debug, Clone)]
        enum Step {
            /// Send a request.
            Send,
            /// The peer on pipe `.0` answers the request numbered `.1`
            /// among those it got (modulo), or a reply without an id.
            Reply(usize, usize, bool),
        }

        fn step() -> impl Strategy<Value = Step> {
            prop_oneof![
                1 => Just(Step::Send),
                3 => (0..3usize, 0..4usize, any::<bool>()).prop_map(|(p, r, id)| Step::Reply(p, r, id)),
            ]
        }

        proptest! {
            /// Exactly the replies to the last request, from the pipe it
            /// went to, carrying its id, are handed out, once.
            #[test]
            fn only_the_last_requests_reply_is_accepted(
                steps in proptest::collection::vec(step(), 1..60),
                correlate in any::<bool>(),
            ) {
                let (mut state, rxs) = with_pipes(3, 64, false);
                state.modes.req_relaxed = true;
                state.modes.req_correlate = correlate;
                // Per pipe, the requests it received: (request id frame, the request's number).
                let mut got: Vec<Vec<(Option<Bytes>, usize)>> = vec![Vec::new(); 3];
                let mut sent = 0usize;
                // The last request: its pipe and number; whether answered.
                let mut last: Option<(usize, usize)> = None;
                let mut answered = false;
                for step in steps {
                    match step {
                        Step::Send => {
                            sent += 1;
                            let body = Bytes::from(sent.to_string());
                            let done = send_request(&mut state, Message::from(body)).unwrap();
                            prop_assert!(matches!(done, Attempt::Done));
                            let pipe = state.req_awaiting.unwrap() as usize - 1;
                            let request = popped(&rxs[pipe]).unwrap();
                            let id = correlate.then(|| request.frames()[0].clone());
                            got[pipe].push((id, sent));
                            last = Some((pipe, sent));
                            answered = false;
                        }
                        Step::Reply(pipe, which, with_id) => {
                            let index = which % got[pipe].len().max(1);
                            let Some((id, number)) = got[pipe].get(index).cloned() else {
                                continue;
                            };
                            let mut reply: Vec<Bytes> = Vec::new();
                            if with_id {
                                reply.extend(id);
                            }
                            reply.push(Bytes::new());
                            reply.push(Bytes::from(number.to_string()));
                            let accepted = accept_reply(
                                &mut state,
                                pipe as u64 + 1,
                                reply.into_iter().collect(),
                            );
                            let expected = last == Some((pipe, number))
                                && !answered
                                && (with_id || !correlate)
                                // Uncorrelated, any reply on the awaited pipe will do.
                                || !correlate && !answered && last.is_some_and(|(p, _)| p == pipe);
                            match accepted {
                                Some(m) => {
                                    prop_assert!(expected, "accepted {:?}", m);
                                    if correlate {
                                        prop_assert_eq!(m, Message::from(Bytes::from(number.to_string())));
                                    }
                                    answered = true;
                                }
                                None => prop_assert!(!expected, "refused reply {}", number),
                            }
                        }
                    }
                }
            }
        }
    }
}
