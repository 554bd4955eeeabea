//! The rules of each socket type, as plain functions over the socket's
//! state: where a sent message goes, what happens at the high-water mark,
//! and which received messages the application sees. No tokio here: the
//! handles (`socket.rs`, `sender.rs`, `receiver.rs`) and the links
//! (`engine.rs`, `inproc.rs`) call in, and each rule is unit-tested in its
//! own file.
//!
//! | type | send | at the mark | receive | file |
//! |---|---|---|---|---|
//! | PUSH, DEALER, PAIR | round-robin over usable pipes | wait | as is | `round_robin.rs` |
//! | REQ | round-robin, adds the empty delimiter | wait | only the reply from the pipe asked, delimiter stripped | `req_rep.rs` |
//! | REP | back to the requester with its envelope | drop | envelope kept for the reply | `req_rep.rs` |
//! | ROUTER | to the pipe named by frame 1 | drop, or wait with `router_mandatory` | routing id frame in front | `routed.rs` |
//! | PUB, XPUB | to every pipe whose subscriptions match frame 1 | drop (XPUB waits with `xpub_nodrop`) | PUB: nothing; XPUB: subscription notices and upstream data, the sender noted for `XpubManual` | `fan_out.rs`, `xpub_manual.rs` |
//! | SUB | subscriptions only | drop | local prefix filter | `fan_out.rs` |
//! | XSUB | to every pipe; `\x01topic`/`\x00topic` are subscriptions | drop | as is | `fan_out.rs` |
//! | PULL | — | — | as is | |
//!
//! Inbound rules run in one of two places, and [`ReceiveRule`] says which
//! for every type in one table: rules that need the link's own state (the
//! ROUTER's routing id) or that throw everything away (a PUB) run as the
//! link queues the message ([`admit`]); rules that need the socket's
//! state at the moment the application reads (SUB's subscriptions, REQ/REP
//! turns) run as a reader takes it ([`next_accepted`], the one loop every
//! receive path uses). Types with no rule skip both.
//!
//! The behaviours an application may change on a live socket (verbose,
//! manual and nodrop XPUB, mandatory and handover ROUTER, relaxed and
//! correlated REQ, probes) are read from [`State::modes`](crate::core::State)
//! under the same lock. [`first_frame`] decides whether a message may
//! start, as libzmq does at its first frame.

mod fan_out;
pub(crate) mod first_frame;
#[cfg(test)]
mod fixtures;
mod req_rep;
mod round_robin;
mod routed;
mod xpub_manual;

use std::task::Poll;

use bytes::Bytes;
use zmtp::{Message, SocketType};

use crate::core::{Core, Inbound, Outbound};
use crate::error::{Error, Result};
use crate::peers::PipeId;
use crate::queue::PipeTx;

pub(crate) use fan_out::{peer_left, peer_subscription, subscribe, unsubscribe};
pub(crate) use round_robin::round_robin;
pub(crate) use routed::assign_routing_id;
pub(crate) use xpub_manual::{first_message, subscribe_peer};

/// The outcome of one attempt to send.
pub(crate) enum Attempt {
    /// Queued (or, by the type's rules, dropped and counted).
    Done,
    /// Every suitable pipe is full or there is none: wait and retry.
    Wait(Message),
}

/// Tries to queue `message` according to the socket type, without waiting.
pub(crate) fn try_send(core: &Core, message: Message) -> Result<Attempt> {
    if message.is_empty() {
        return Err(Error::InvalidMessage("a message needs at least one frame"));
    }
    let mut state = core.state();
    if state.closed {
        return Err(Error::Closed);
    }
    let stats = &core.stats;
    let attempt = match core.socket_type {
        SocketType::Push | SocketType::Dealer | SocketType::Pair => {
            let mut slot = Some(message);
            let state = &mut *state;
            match round_robin(&state.pipes, &mut state.next, |p| {
                p.usable && offer_slot(&p.tx, &mut slot)
            }) {
                Some(_) => Attempt::Done,
                None => Attempt::Wait(slot.unwrap_or_default()),
            }
        }
        SocketType::Req => req_rep::send_request(&mut state, message)?,
        SocketType::Rep => req_rep::send_reply(&mut state, stats, message)?,
        SocketType::Router => {
            let mandatory = state.modes.router_mandatory;
            routed::send_routed(&mut state, stats, mandatory, message)?
        }
        SocketType::Pub => fan_out::publish(&state, stats, false, message),
        SocketType::Xpub => fan_out::publish(&state, stats, state.modes.xpub_nodrop, message),
        SocketType::Xsub => fan_out::send_upstream(&mut state, stats, message),
        SocketType::Sub | SocketType::Pull => {
            return Err(Error::Unsupported {
                socket_type: core.socket_type,
                operation: "send",
            });
        }
    };
    if matches!(attempt, Attempt::Done) {
        state.sent += 1;
    }
    Ok(attempt)
}

/// Offers the message in `slot` to one pipe, which takes it (leaving
/// `None`) if it has room: the message moves only into the pipe that takes
/// it (a message is 72 bytes: moving it in and out of every call on the way
/// showed up in the send path's instruction count).
#[inline]
pub(crate) fn offer_slot(tx: &PipeTx<Outbound>, slot: &mut Option<Message>) -> bool {
    tx.try_send_with(|| Outbound::Message(slot.take().unwrap_or_default()))
}

/// Offers a message to one pipe, handing it back if the pipe cannot take it.
fn offer(tx: &PipeTx<Outbound>, message: Message) -> Result<(), Message> {
    match tx.try_send(Outbound::Message(message)) {
        Ok(()) => Ok(()),
        Err(e) => match e.into_inner() {
            Outbound::Message(m) => Err(m),
            // Only messages are offered, so only messages come back.
            _ => Err(Message::new()),
        },
    }
}

/// What a socket type does with the messages its peers send, in the one
/// table both the links and the readers consult.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReceiveRule {
    /// PULL, DEALER, PAIR, XSUB: as they come.
    AsIs,
    /// XPUB: as they come, the pipe each came from noted for `XpubManual`
    /// (`Core::last_received`).
    NotingPeer,
    /// PUSH and PUB cannot receive: the link drops what peers send, and
    /// `recv` is refused.
    SendOnly,
    /// ROUTER: the link puts the peer's routing id in front.
    RoutingIdFirst,
    /// SUB: readers hand out only what matches the subscriptions.
    Subscribed,
    /// REQ: readers hand out only the awaited reply.
    Reply,
    /// REP: readers keep each request's envelope for the reply.
    Request,
}

impl ReceiveRule {
    /// The rule of `socket_type`.
    pub(crate) const fn of(socket_type: SocketType) -> Self {
        match socket_type {
            SocketType::Pull | SocketType::Dealer | SocketType::Pair | SocketType::Xsub => {
                ReceiveRule::AsIs
            }
            SocketType::Xpub => ReceiveRule::NotingPeer,
            SocketType::Push | SocketType::Pub => ReceiveRule::SendOnly,
            SocketType::Router => ReceiveRule::RoutingIdFirst,
            SocketType::Sub => ReceiveRule::Subscribed,
            SocketType::Req => ReceiveRule::Reply,
            SocketType::Rep => ReceiveRule::Request,
        }
    }

    /// Links queue messages as they come, with no call to [`admit`] (the
    /// hot path skips it: the call costs a move of the message in and out).
    #[inline]
    pub(crate) fn admits_as_is(self) -> bool {
        !matches!(self, ReceiveRule::SendOnly | ReceiveRule::RoutingIdFirst)
    }

    /// Readers hand messages out as they come, with no [`check_recv`] or
    /// per-message rule.
    #[inline]
    pub(crate) fn accepts_as_is(self) -> bool {
        matches!(self, ReceiveRule::AsIs | ReceiveRule::RoutingIdFirst)
    }
}

/// The link-side rule: what the application should see of a message the
/// peer whose routing id is `routing_id` sent. A PUB or PUSH drops it
/// (counted), a ROUTER puts the routing id in front.
#[inline]
pub(crate) fn admit(core: &Core, routing_id: Option<&Bytes>, message: Message) -> Option<Message> {
    match core.receive_rule {
        ReceiveRule::SendOnly => {
            Core::count(&core.stats.dropped_inbound);
            None
        }
        // A peer without an id is one a ROUTER ignores (its id was taken).
        ReceiveRule::RoutingIdFirst => match routing_id {
            Some(_) => Some(routed::prefix(routing_id, message)),
            None => {
                Core::count(&core.stats.dropped_inbound);
                None
            }
        },
        _ => Some(message),
    }
}

/// Checks that this socket type may receive, and that a REQ or REP socket
/// is in the right phase to. Free for the types with no receive rule.
#[inline]
pub(crate) fn check_recv(core: &Core) -> Result<()> {
    match core.receive_rule {
        ReceiveRule::AsIs
        | ReceiveRule::NotingPeer
        | ReceiveRule::RoutingIdFirst
        | ReceiveRule::Subscribed => Ok(()),
        ReceiveRule::SendOnly => Err(Error::Unsupported {
            socket_type: core.socket_type,
            operation: "recv",
        }),
        ReceiveRule::Reply => req_rep::check_recv(&core.state(), true),
        ReceiveRule::Request => req_rep::check_recv(&core.state(), false),
    }
}

/// The next message this socket type accepts, from what `take` yields (a
/// queued message with whatever the caller takes along, `T`): every receive
/// path (`Socket::recv`, `try_recv`, `recv_with_metadata`, the `Stream`,
/// and a `Receiver`'s) loops here. `Pending` and `Ready(None)` (closed)
/// pass through from `take`; rejected messages are dropped and counted.
#[inline]
pub(crate) fn next_accepted<T>(
    core: &Core,
    mut take: impl FnMut() -> Poll<Option<(Inbound, T)>>,
) -> Poll<Option<(Message, T)>> {
    loop {
        let Some((inbound, extra)) = std::task::ready!(take()) else {
            return Poll::Ready(None);
        };
        if core.receive_rule.accepts_as_is() {
            return Poll::Ready(Some((inbound.message, extra)));
        }
        if let Some(message) = accept(core, inbound.pipe, inbound.message) {
            return Poll::Ready(Some((message, extra)));
        }
    }
}

/// Applies the reader-side rules to one inbound message; `None` means it
/// is dropped (and counted).
fn accept(core: &Core, pipe: PipeId, message: Message) -> Option<Message> {
    let accepted = match core.receive_rule {
        ReceiveRule::Subscribed => fan_out::subscribed(&core.state(), &message).then_some(message),
        ReceiveRule::Reply => req_rep::accept_reply(&mut core.state(), pipe, message),
        ReceiveRule::Request => req_rep::accept_request(&mut core.state(), pipe, message),
        ReceiveRule::NotingPeer => {
            core.last_received
                .store(pipe, std::sync::atomic::Ordering::Relaxed);
            Some(message)
        }
        // A PUSH or PUB link drops everything before it is queued.
        ReceiveRule::AsIs | ReceiveRule::RoutingIdFirst | ReceiveRule::SendOnly => Some(message),
    };
    if accepted.is_none() {
        Core::count(&core.stats.rejected);
        Core::count(&core.stats.dropped_inbound);
    }
    accepted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_with_an_inbound_rule_runs_it_at_the_link_or_the_reader() {
        for t in SocketType::ALL {
            let rule = ReceiveRule::of(t);
            let has_rule = matches!(
                t,
                SocketType::Pub
                    | SocketType::Push
                    | SocketType::Router
                    | SocketType::Sub
                    | SocketType::Req
                    | SocketType::Rep
                    | SocketType::Xpub
            );
            assert_eq!(
                has_rule,
                !(rule.admits_as_is() && rule.accepts_as_is()),
                "{t:?}"
            );
        }
    }

    fn queued(core: &Core, pipe: PipeId, frames: &[&'static [u8]]) {
        let message = frames.iter().map(|f| Bytes::from_static(f)).collect();
        let inbound = Inbound {
            pipe,
            message,
            from_peer: true,
        };
        assert!(core.inbound.try_push(inbound).is_ok());
    }

    /// `next_accepted` over the socket's queue, as `Socket::try_recv` does.
    fn next(core: &Core) -> Poll<Option<Message>> {
        next_accepted(core, || match core.inbound.try_pop() {
            Some(inbound) => Poll::Ready(Some((inbound, ()))),
            None => Poll::Pending,
        })
        .map(|m| m.map(|(message, ())| message))
    }

    fn frames(m: &Message) -> Vec<&[u8]> {
        m.frames().iter().map(|f| &f[..]).collect()
    }

    #[test]
    fn the_reader_drops_and_counts_what_the_rules_reject_and_hands_out_the_rest() {
        let core = Core::new(SocketType::Sub, crate::Options::new(SocketType::Sub));
        subscribe(&mut core.state(), &core.stats, Bytes::from_static(b"a"));
        queued(&core, 1, &[b"b1"]);
        queued(&core, 1, &[b"a1"]);
        queued(&core, 1, &[b"b2"]);
        let Poll::Ready(Some(m)) = next(&core) else {
            panic!("a1 is subscribed to");
        };
        assert_eq!(frames(&m), [b"a1"]);
        assert!(
            next(&core).is_pending(),
            "b2 is dropped, then nothing waits"
        );
        let dropped = core
            .stats
            .dropped_inbound
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(dropped, 2);
    }

    #[test]
    fn req_accepts_the_reply_only_in_its_turn() {
        let core = Core::new(SocketType::Req, crate::Options::new(SocketType::Req));
        assert!(matches!(check_recv(&core), Err(Error::State(_))));
        core.state().req_awaiting = Some(3);
        check_recv(&core).unwrap();
        queued(&core, 2, &[b"", b"stray"]);
        queued(&core, 3, &[b"", b"reply"]);
        let Poll::Ready(Some(m)) = next(&core) else {
            panic!("the reply from pipe 3 is accepted");
        };
        assert_eq!(frames(&m), [b"reply"]);
    }

    #[test]
    fn links_of_send_only_types_drop_and_routers_prefix() {
        let publisher = Core::new(SocketType::Pub, crate::Options::new(SocketType::Pub));
        assert_eq!(admit(&publisher, None, Message::from("x")), None);
        assert!(matches!(
            check_recv(&publisher),
            Err(Error::Unsupported { .. })
        ));
        let router = Core::new(SocketType::Router, crate::Options::new(SocketType::Router));
        let id = Bytes::from_static(b"id");
        let m = admit(&router, Some(&id), Message::from("x")).unwrap();
        assert_eq!(frames(&m), [&b"id"[..], b"x"]);
    }

    #[test]
    fn the_reader_skips_the_types_whose_rules_the_link_applies() {
        assert!(ReceiveRule::of(SocketType::Router).accepts_as_is());
        assert!(!ReceiveRule::of(SocketType::Router).admits_as_is());
        for t in [SocketType::Sub, SocketType::Req, SocketType::Rep] {
            assert!(ReceiveRule::of(t).admits_as_is(), "{t:?}");
            assert!(!ReceiveRule::of(t).accepts_as_is(), "{t:?}");
        }
        for t in [SocketType::Push, SocketType::Pub] {
            let rule = ReceiveRule::of(t);
            assert!(!rule.admits_as_is() && !rule.accepts_as_is(), "{t:?}");
        }
    }
}
