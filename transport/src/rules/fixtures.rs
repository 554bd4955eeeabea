//! What the rule files' unit tests build on: a socket state with pipes
//! whose far ends the test reads, and messages from byte strings.

use bytes::Bytes;
use zmtp::Message;

use crate::core::{Outbound, PipeEntry, State};
use crate::queue::{self, PipeRx};

/// A state with `n` usable pipes (ids 1 to `n`) of `capacity` each,
/// `ready` (handshake done) or not, and the pipes' far ends.
pub(crate) fn with_pipes(n: u64, capacity: usize, ready: bool) -> (State, Vec<PipeRx<Outbound>>) {
    let mut state = State::default();
    let mut rxs = Vec::new();
    for id in 1..=n {
        let (tx, rx) = queue::pipe(capacity);
        let mut entry = PipeEntry::new(id, tx, true);
        entry.ready = ready;
        state.pipes.push(entry);
        rxs.push(rx);
    }
    (state, rxs)
}

/// A message of these frames.
pub(crate) fn message(frames: &[&'static [u8]]) -> Message {
    frames.iter().map(|f| Bytes::from_static(f)).collect()
}

/// The next message queued on a pipe, if any (a subscription there is a
/// test failure).
pub(crate) fn popped(rx: &PipeRx<Outbound>) -> Option<Message> {
    match rx.try_pop()? {
        Outbound::Message(m) => Some(m),
        other => panic!("not a message: {other:?}"),
    }
}
