//! Whether a message may *start*: the check libzmq makes at a message's
//! first frame, for callers that hand a message over frame by frame (the
//! drop-in libzmq's `ZMQ_SNDMORE`).
//!
//! libzmq decides at the first frame, and once that is taken the rest of
//! the message follows: a mandatory ROUTER refuses an unknown routing id
//! (EHOSTUNREACH) or a full peer (EAGAIN) there, a NODROP XPUB a full
//! subscriber of the first frame's topic (EAGAIN), a REQ a request out of
//! turn and a REP a reply without a request (EFSM), and PUSH, DEALER, PAIR
//! and REQ a full set of pipes (EAGAIN). [`admit`] makes the same decision
//! from the first frame alone, under the socket's state lock; the whole
//! message then goes through [`super::try_send`] as usual (which may still
//! wait if another sender took the room in between).

use zmtp::SocketType;

use super::fan_out;
use crate::core::{PipeEntry, State};
use crate::error::{Error, Result};

/// Whether a message starting with `first` would be taken now:
/// [`Error::WouldBlock`] where the sender would have to wait for room, or
/// the error the whole message would meet.
pub(crate) fn admit(state: &State, socket_type: SocketType, first: &[u8]) -> Result<()> {
    if state.closed {
        return Err(Error::Closed);
    }
    let modes = &state.modes;
    let room = |eligible: fn(&PipeEntry) -> bool| {
        let any = state.pipes.iter().any(|p| eligible(p) && p.tx.has_room());
        if any { Ok(()) } else { Err(Error::WouldBlock) }
    };
    match socket_type {
        SocketType::Push | SocketType::Dealer | SocketType::Pair => room(|p| p.usable),
        SocketType::Req => {
            if state.req_awaiting.is_some() && !modes.req_relaxed {
                return Err(Error::State(
                    "REQ must receive the reply before sending another request",
                ));
            }
            room(|p| p.usable)
        }
        SocketType::Rep if state.rep_pending.is_none() => {
            Err(Error::State("REP must receive a request before replying"))
        }
        SocketType::Router if modes.router_mandatory => {
            let pipe = state.routes.get(first).and_then(|&p| state.pipe(p));
            match pipe {
                None => Err(Error::HostUnreachable(bytes::Bytes::copy_from_slice(first))),
                Some(p) if !p.tx.has_room() => Err(Error::WouldBlock),
                Some(_) => Ok(()),
            }
        }
        SocketType::Xpub if modes.xpub_nodrop => {
            if fan_out::matching_have_room(state, first) {
                Ok(())
            } else {
                Err(Error::WouldBlock)
            }
        }
        SocketType::Sub | SocketType::Pull => Err(Error::Unsupported {
            socket_type,
            operation: "send",
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::modes::Mode;
    use crate::options::Options;
    use crate::rules::fan_out::peer_subscription;
    use crate::rules::fixtures::{message, with_pipes};
    use crate::rules::{Attempt, req_rep};

    #[test]
    fn a_mandatory_router_refuses_unknown_ids_and_full_peers_at_the_first_frame() {
        let (mut state, _rxs) = with_pipes(1, 1, true);
        state.routes.insert(Bytes::from_static(b"a"), 1);
        assert!(admit(&state, SocketType::Router, b"nobody").is_ok());
        state.modes.apply(Mode::RouterMandatory(true));
        assert!(matches!(
            admit(&state, SocketType::Router, b"nobody"),
            Err(Error::HostUnreachable(id)) if id == Bytes::from_static(b"nobody")
        ));
        assert!(admit(&state, SocketType::Router, b"a").is_ok());
        let _ = state.pipes[0]
            .tx
            .try_send(crate::core::Outbound::Message(message(&[b"x"])));
        assert!(matches!(
            admit(&state, SocketType::Router, b"a"),
            Err(Error::WouldBlock)
        ));
    }

    #[test]
    fn a_nodrop_xpub_refuses_when_a_subscriber_of_the_topic_is_full() {
        let (mut state, _rxs) = with_pipes(2, 1, true);
        let options = Options::new(SocketType::Xpub);
        peer_subscription(
            &mut state,
            &options,
            true,
            1,
            true,
            Bytes::from_static(b"a"),
        )
        .unwrap();
        peer_subscription(
            &mut state,
            &options,
            true,
            2,
            true,
            Bytes::from_static(b"b"),
        )
        .unwrap();
        let _ = state.pipes[0]
            .tx
            .try_send(crate::core::Outbound::Message(message(&[b"a1"])));
        assert!(admit(&state, SocketType::Xpub, b"a2").is_ok(), "drops");
        state.modes.apply(Mode::XpubNodrop(true));
        assert!(matches!(
            admit(&state, SocketType::Xpub, b"a2"),
            Err(Error::WouldBlock)
        ));
        assert!(admit(&state, SocketType::Xpub, b"b1").is_ok());
    }

    #[test]
    fn req_and_rep_refuse_out_of_turn() {
        let (mut state, _rxs) = with_pipes(1, 4, true);
        assert!(matches!(
            admit(&state, SocketType::Rep, b"r"),
            Err(Error::State(_))
        ));
        assert!(admit(&state, SocketType::Req, b"q").is_ok());
        let sent = req_rep::send_request(&mut state, message(&[b"q"])).unwrap();
        assert!(matches!(sent, Attempt::Done));
        assert!(matches!(
            admit(&state, SocketType::Req, b"q"),
            Err(Error::State(_))
        ));
        state.modes.apply(Mode::ReqRelaxed(true));
        assert!(admit(&state, SocketType::Req, b"q").is_ok());
    }

    #[test]
    fn round_robin_types_need_a_pipe_with_room() {
        let (state, _rxs) = with_pipes(0, 1, true);
        for t in [SocketType::Push, SocketType::Dealer, SocketType::Pair] {
            assert!(matches!(admit(&state, t, b"x"), Err(Error::WouldBlock)));
        }
        let (state, _rxs) = with_pipes(1, 1, false);
        assert!(admit(&state, SocketType::Push, b"x").is_ok());
        assert!(admit(&state, SocketType::Pub, b"x").is_ok());
        assert!(matches!(
            admit(&state, SocketType::Pull, b"x"),
            Err(Error::Unsupported { .. })
        ));
    }
}
