//! ROUTER: routing ids, and the messages that carry them.
//!
//! - **Ids** ([`assign_routing_id`]): a peer that announces an `Identity`
//!   gets it, unless another live peer holds it: then the newcomer is
//!   ignored (its link stays up, nothing is routed to it and what it sends
//!   is dropped, as libzmq does), or with `RouterHandover` takes it over
//!   and the old link is dropped. A peer with none gets a generated id,
//!   `00` then a 32-bit counter that starts at random, as libzmq makes
//!   them.
//! - **In** ([`prefix`]): every message a peer sends reaches the
//!   application with the peer's routing id as its first frame; an
//!   ignored peer's messages are dropped (`rules::admit`).
//! - **Out** ([`send_routed`]): the first frame names the peer; an unknown
//!   id drops the message (or fails with `router_mandatory`), and a full
//!   pipe drops it (or waits with `router_mandatory`).

use bytes::{BufMut, Bytes, BytesMut};
use zmtp::Message;

use super::{Attempt, offer};
use crate::core::{Core, State, Stats};
use crate::error::{Error, Result};
use crate::peers::PipeId;
use crate::refusal::Refusal;

/// Sends a message whose first frame is a peer's routing id to that peer.
pub(crate) fn send_routed(
    state: &mut State,
    stats: &Stats,
    mandatory: bool,
    mut message: Message,
) -> Result<Attempt> {
    let (true, Some(id)) = (message.len() >= 2, message.pop_front()) else {
        return Err(Error::InvalidMessage(
            "ROUTER needs a routing id frame and a body",
        ));
    };
    let Some(pipe) = state.routes.get(&id).and_then(|&p| state.pipe(p)) else {
        if mandatory {
            return Err(Error::HostUnreachable(id));
        }
        Core::count(&stats.dropped_unroutable);
        return Ok(Attempt::Done);
    };
    match offer(&pipe.tx, message) {
        Ok(()) => Ok(Attempt::Done),
        Err(mut m) if mandatory => {
            m.push_front(id);
            Ok(Attempt::Wait(m))
        }
        Err(_) => {
            Core::count(&stats.dropped_hwm);
            Ok(Attempt::Done)
        }
    }
}

/// Gives the peer on pipe `id`, which announced `wanted` (if anything), its
/// routing id and records the route. With `handover`, a live holder of the
/// same id loses its pipe (which ends its link); without, the newcomer
/// gets none (`None`: ignored). The caller records that the pipes changed.
pub(crate) fn assign_routing_id(
    state: &mut State,
    id: PipeId,
    wanted: Option<&Bytes>,
    handover: bool,
) -> Option<Bytes> {
    let Some(wanted) = wanted else {
        let generated = generate_routing_id(state);
        state.routes.insert(generated.clone(), id);
        return Some(generated);
    };
    if let Some(&holder) = state.routes.get(wanted)
        && holder != id
    {
        if !handover {
            return None;
        }
        state.drop_pipe(holder, Refusal::RoutingIdTakenOver);
    }
    state.routes.insert(wanted.clone(), id);
    Some(wanted.clone())
}

/// A generated id: `00` then a 32-bit counter that starts at random and
/// skips ids in use.
fn generate_routing_id(state: &mut State) -> Bytes {
    if state.next_generated_id == 0 {
        state.next_generated_id = fastrand::u32(1..);
    }
    loop {
        let n = state.next_generated_id;
        state.next_generated_id = n.wrapping_add(1).max(1);
        let mut id = BytesMut::with_capacity(5);
        id.put_u8(0);
        id.put_u32(n);
        let id = id.freeze();
        if !state.routes.contains_key(&id) {
            return id;
        }
    }
}

/// What the application sees of a message from the peer with
/// `routing_id`: the id, then the message.
#[inline]
pub(crate) fn prefix(routing_id: Option<&Bytes>, mut message: Message) -> Message {
    if let Some(id) = routing_id {
        message.push_front(id.clone());
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::fixtures::{message, popped, with_pipes};

    #[test]
    fn announced_ids_are_kept_and_missing_ones_generated_distinct() {
        let (mut state, _rxs) = with_pipes(3, 4, false);
        let named = Bytes::from_static(b"worker");
        assert_eq!(
            assign_routing_id(&mut state, 1, Some(&named), false),
            Some(named.clone())
        );
        let a = assign_routing_id(&mut state, 2, None, false).unwrap();
        let b = assign_routing_id(&mut state, 3, None, false).unwrap();
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert_eq!(id.len(), 5);
            assert_eq!(id[0], 0);
        }
        assert_eq!(state.routes.get(&named), Some(&1));
        assert_eq!(state.routes.get(&a), Some(&2));
        assert_eq!(state.routes.get(&b), Some(&3));
    }

    #[test]
    fn generated_ids_skip_ids_in_use_and_wrap_past_zero() {
        let (mut state, _rxs) = with_pipes(2, 4, false);
        state.next_generated_id = u32::MAX;
        let mut taken = BytesMut::new();
        taken.put_u8(0);
        taken.put_u32(u32::MAX);
        state.routes.insert(taken.freeze(), 9);
        let id = assign_routing_id(&mut state, 1, None, false).unwrap();
        assert_eq!(&id[..], &[0, 0, 0, 0, 1]);
    }

    #[test]
    fn a_newcomer_with_a_taken_id_is_ignored_without_handover() {
        let (mut state, _rxs) = with_pipes(2, 4, false);
        let id = Bytes::from_static(b"x");
        assign_routing_id(&mut state, 1, Some(&id), false).unwrap();
        assert_eq!(assign_routing_id(&mut state, 2, Some(&id), false), None);
        assert_eq!(state.routes.get(&id), Some(&1));
        assert_eq!(state.pipes.len(), 2);
    }

    #[test]
    fn handover_drops_the_old_holder() {
        let (mut state, _rxs) = with_pipes(2, 4, false);
        let id = Bytes::from_static(b"x");
        assign_routing_id(&mut state, 1, Some(&id), true).unwrap();
        assert_eq!(
            assign_routing_id(&mut state, 2, Some(&id), true),
            Some(id.clone())
        );
        assert_eq!(state.routes.get(&id), Some(&2));
        assert!(state.pipe(1).is_none());
        assert_eq!(state.dropped.get(&1), Some(&Refusal::RoutingIdTakenOver));
    }

    #[test]
    fn sends_to_the_named_peer_without_its_id() {
        let (mut state, rxs) = with_pipes(2, 4, false);
        state.routes.insert(Bytes::from_static(b"b"), 2);
        let stats = Stats::default();
        let sent = send_routed(&mut state, &stats, false, message(&[b"b", b"hi"])).unwrap();
        assert!(matches!(sent, Attempt::Done));
        assert!(popped(&rxs[0]).is_none());
        assert_eq!(popped(&rxs[1]), Some(message(&[b"hi"])));
    }

    #[test]
    fn unknown_ids_drop_or_fail_when_mandatory() {
        let (mut state, _rxs) = with_pipes(1, 4, false);
        let stats = Stats::default();
        let sent = send_routed(&mut state, &stats, false, message(&[b"?", b"hi"])).unwrap();
        assert!(matches!(sent, Attempt::Done));
        assert_eq!(
            stats
                .dropped_unroutable
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        assert!(matches!(
            send_routed(&mut state, &stats, true, message(&[b"?", b"hi"])),
            Err(Error::HostUnreachable(id)) if id == Bytes::from_static(b"?")
        ));
    }

    #[test]
    fn a_full_pipe_drops_or_waits_with_the_id_back_in_front_when_mandatory() {
        let (mut state, rxs) = with_pipes(1, 1, false);
        state.routes.insert(Bytes::from_static(b"a"), 1);
        let stats = Stats::default();
        send_routed(&mut state, &stats, false, message(&[b"a", b"1"])).unwrap();
        let dropped = send_routed(&mut state, &stats, false, message(&[b"a", b"2"])).unwrap();
        assert!(matches!(dropped, Attempt::Done));
        assert_eq!(
            stats.dropped_hwm.load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        match send_routed(&mut state, &stats, true, message(&[b"a", b"3"])).unwrap() {
            Attempt::Wait(m) => assert_eq!(m, message(&[b"a", b"3"])),
            Attempt::Done => panic!("a mandatory ROUTER waits at the mark"),
        }
        assert_eq!(popped(&rxs[0]), Some(message(&[b"1"])));
    }

    #[test]
    fn a_message_needs_an_id_and_a_body() {
        let (mut state, _rxs) = with_pipes(1, 1, false);
        let stats = Stats::default();
        assert!(matches!(
            send_routed(&mut state, &stats, false, message(&[b"a"])),
            Err(Error::InvalidMessage(_))
        ));
    }

    #[test]
    fn inbound_messages_get_the_id_in_front() {
        let id = Bytes::from_static(b"peer");
        assert_eq!(
            prefix(Some(&id), message(&[b"x"])),
            message(&[b"peer", b"x"])
        );
        assert_eq!(prefix(None, message(&[b"x"])), message(&[b"x"]));
    }
}
