//! The rules of each socket type: where a sent message goes, what happens
//! at the high-water mark, and which received messages the application sees.
//!
//! | type | send | at the mark | receive |
//! |---|---|---|---|
//! | PUSH, DEALER, PAIR | round-robin over usable pipes | wait | as is |
//! | REQ | round-robin, adds the empty delimiter | wait | only the reply from the pipe asked, delimiter stripped |
//! | REP | back to the requester with its envelope | drop | envelope kept for the reply |
//! | ROUTER | to the pipe named by frame 1 | drop, or wait with `router_mandatory` | routing id frame in front |
//! | PUB, XPUB | to every pipe whose subscriptions match frame 1 | drop (XPUB waits with `xpub_nodrop`) | XPUB: subscription notices and upstream data |
//! | SUB | subscriptions only | drop | local prefix filter |
//! | XSUB | to every pipe; `\x01topic`/`\x00topic` are subscriptions | drop | as is |
//! | PULL | — | — | as is |

use std::sync::atomic::Ordering;

use bytes::Bytes;
use zmtp::{Message, SocketType};

use crate::core::{Core, Outbound, State};
use crate::error::{Error, Result};
use crate::peers::PipeId;
use crate::queue::PipeTx;

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
    let attempt = match core.socket_type {
        SocketType::Push | SocketType::Dealer | SocketType::Pair => {
            let mut slot = Some(message);
            match round_robin_slot(&mut state, &mut slot) {
                Some(_) => Attempt::Done,
                None => Attempt::Wait(slot.unwrap_or_default()),
            }
        }
        SocketType::Req => send_request(core, &mut state, message)?,
        SocketType::Rep => send_reply(core, &mut state, message)?,
        SocketType::Router => send_routed(core, &mut state, message)?,
        SocketType::Pub | SocketType::Xpub => publish(core, &mut state, message),
        SocketType::Xsub => send_upstream(core, &mut state, message),
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

/// Offers the message in `slot` to one pipe, which takes it (leaving `None`)
/// if it has room.
fn offer_slot(tx: &PipeTx<Outbound>, slot: &mut Option<Message>) -> bool {
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

/// Gives the message to the next usable pipe with room, in turn.
fn round_robin(state: &mut State, message: Message) -> Result<u64, Message> {
    let mut slot = Some(message);
    match round_robin_slot(state, &mut slot) {
        Some(pipe) => Ok(pipe),
        None => Err(slot.unwrap_or_default()),
    }
}

/// [`round_robin`] for a message in `slot`, which moves only into the pipe
/// that takes it (a message is 72 bytes: moving it in and out of every
/// call on the way showed up in the send path's instruction count).
fn round_robin_slot(state: &mut State, slot: &mut Option<Message>) -> Option<u64> {
    let n = state.pipes.len();
    // No `%` per send: `next` stays below `n` (pipes may have gone since).
    let mut i = if state.next < n { state.next } else { 0 };
    for _ in 0..n {
        let pipe = &state.pipes[i];
        i += 1;
        if i == n {
            i = 0;
        }
        if !pipe.usable {
            continue;
        }
        if offer_slot(&pipe.tx, slot) {
            state.next = i;
            return Some(pipe.id);
        }
    }
    None
}

fn send_request(core: &Core, state: &mut State, mut message: Message) -> Result<Attempt> {
    if state.req_awaiting.is_some() && !core.options.req_relaxed {
        return Err(Error::State(
            "REQ must receive the reply before sending another request",
        ));
    }
    message.push_front(Bytes::new());
    match round_robin(state, message) {
        Ok(pipe) => {
            state.req_awaiting = Some(pipe);
            Ok(Attempt::Done)
        }
        Err(mut m) => {
            m.pop_front();
            Ok(Attempt::Wait(m))
        }
    }
}

fn send_reply(core: &Core, state: &mut State, message: Message) -> Result<Attempt> {
    let Some((pipe_id, envelope)) = state.rep_pending.take() else {
        return Err(Error::State("REP must receive a request before replying"));
    };
    let reply: Message = envelope.into_iter().chain(message.into_frames()).collect();
    match state.pipe(pipe_id) {
        Some(pipe) => {
            if offer(&pipe.tx, reply).is_err() {
                Core::count(&core.stats.dropped_hwm);
            }
        }
        // The requester left; libzmq drops the reply too.
        None => Core::count(&core.stats.dropped_unroutable),
    }
    Ok(Attempt::Done)
}

fn send_routed(core: &Core, state: &mut State, mut message: Message) -> Result<Attempt> {
    if message.len() < 2 {
        return Err(Error::InvalidMessage(
            "ROUTER needs a routing id frame and a body",
        ));
    }
    let Some(id) = message.pop_front() else {
        return Err(Error::InvalidMessage(
            "ROUTER needs a routing id frame and a body",
        ));
    };
    let mandatory = core.options.router_mandatory;
    let Some(pipe) = state.routes.get(&id).and_then(|&p| state.pipe(p)) else {
        if mandatory {
            return Err(Error::HostUnreachable(id));
        }
        Core::count(&core.stats.dropped_unroutable);
        return Ok(Attempt::Done);
    };
    match offer(&pipe.tx, message) {
        Ok(()) => Ok(Attempt::Done),
        Err(mut m) if mandatory => {
            m.push_front(id);
            Ok(Attempt::Wait(m))
        }
        Err(_) => {
            Core::count(&core.stats.dropped_hwm);
            Ok(Attempt::Done)
        }
    }
}

/// Fan-out to matching subscribers; a full subscriber loses this message.
fn publish(core: &Core, state: &mut State, message: Message) -> Attempt {
    let topic = message.first().cloned().unwrap_or_default();
    let matching = |p: &&crate::core::PipeEntry| p.ready && p.peer_subscriptions.matches(&topic);
    if core.socket_type == SocketType::Xpub
        && core.options.xpub_nodrop
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
            Core::count(&core.stats.dropped_hwm);
        }
    }
    Attempt::Done
}

/// XSUB: subscriptions update our set and go to every publisher; other
/// data goes to every publisher as is.
fn send_upstream(core: &Core, state: &mut State, message: Message) -> Attempt {
    if let (1, Some(first)) = (message.len(), message.first()) {
        match first.first() {
            Some(1) => {
                subscribe(core, state, first.slice(1..));
                return Attempt::Done;
            }
            Some(0) => {
                unsubscribe(core, state, &first.slice(1..));
                return Attempt::Done;
            }
            _ => {}
        }
    }
    for pipe in state.pipes.iter().filter(|p| p.usable) {
        if offer(&pipe.tx, message.clone()).is_err() {
            Core::count(&core.stats.dropped_hwm);
        }
    }
    Attempt::Done
}

/// SUB/XSUB: adds a subscription and tells every publisher.
pub(crate) fn subscribe(core: &Core, state: &mut State, topic: Bytes) {
    state.subscriptions.add(&topic);
    state.subscription_seq += 1;
    let seq = state.subscription_seq;
    broadcast(
        core,
        state,
        |topic| Outbound::Subscribe { topic, seq },
        topic,
    );
}

/// SUB/XSUB: removes one subscription; publishers hear of it when it was
/// the topic's last.
pub(crate) fn unsubscribe(core: &Core, state: &mut State, topic: &Bytes) {
    if !state.subscriptions.remove(topic) {
        return;
    }
    state.subscription_seq += 1;
    let seq = state.subscription_seq;
    broadcast(
        core,
        state,
        |topic| Outbound::Cancel { topic, seq },
        topic.clone(),
    );
}

fn broadcast(core: &Core, state: &State, item: impl Fn(Bytes) -> Outbound, topic: Bytes) {
    for pipe in state.pipes.iter() {
        // A subscription lost at the mark is resent with the next replay,
        // as in libzmq; count it so it is visible.
        if pipe.tx.try_send(item(topic.clone())).is_err() {
            core.stats.dropped_hwm.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Checks that this socket type may receive, and that a REQ or REP socket
/// is in the right phase to.
pub(crate) fn check_recv(core: &Core) -> Result<()> {
    match core.socket_type {
        SocketType::Push | SocketType::Pub => Err(Error::Unsupported {
            socket_type: core.socket_type,
            operation: "recv",
        }),
        SocketType::Req if !core.options.req_relaxed && core.state().req_awaiting.is_none() => {
            Err(Error::State("REQ must send a request before receiving"))
        }
        SocketType::Rep if core.state().rep_pending.is_some() => Err(Error::State(
            "REP must reply before receiving the next request",
        )),
        _ => Ok(()),
    }
}

/// Socket types that receive every inbound message as it is, with no rule
/// for [`check_recv`] or [`accept`] to apply (the hot path skips both).
#[inline]
pub(crate) fn accepts_as_is(socket_type: SocketType) -> bool {
    !matches!(
        socket_type,
        SocketType::Sub | SocketType::Req | SocketType::Rep | SocketType::Push | SocketType::Pub
    )
}

/// Socket types whose links queue inbound messages as they come, with no
/// rule for [`Core::admit`] to apply.
#[inline]
pub(crate) fn admits_as_is(socket_type: SocketType) -> bool {
    !matches!(socket_type, SocketType::Router | SocketType::Pub)
}

/// Applies the socket's receive rules to one inbound message; `None` means
/// it is dropped (and counted).
pub(crate) fn accept(core: &Core, pipe: PipeId, mut message: Message) -> Option<Message> {
    let accepted = match core.socket_type {
        SocketType::Sub => {
            let first = message.first().map(|f| &f[..]).unwrap_or_default();
            core.state().subscriptions.matches(first).then_some(message)
        }
        SocketType::Req => {
            let mut state = core.state();
            let from_asked = state.req_awaiting == Some(pipe);
            let delimited = message.first().is_some_and(|f| f.is_empty()) && message.len() > 1;
            if from_asked && delimited {
                state.req_awaiting = None;
                message.pop_front();
                Some(message)
            } else {
                None
            }
        }
        SocketType::Rep => {
            let frames = message.frames();
            match frames.iter().position(|f| f.is_empty()) {
                Some(i) if i + 1 < frames.len() => {
                    let envelope = frames[..=i].to_vec();
                    let body: Message = frames[i + 1..].iter().cloned().collect();
                    core.state().rep_pending = Some((pipe, envelope));
                    Some(body)
                }
                _ => None,
            }
        }
        _ => Some(message),
    };
    if accepted.is_none() {
        Core::count(&core.stats.rejected);
        Core::count(&core.stats.dropped_inbound);
    }
    accepted
}
