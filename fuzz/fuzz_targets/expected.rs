//! What a receiving `Connection` must report for what its peer sent, shared
//! by the targets that check a pair end to end (`connection_pair`, and
//! `plain`/`curve` through `secure_common.rs`).

use std::collections::VecDeque;

use bytes::Bytes;
use zmtp::{Message, SocketType};

/// What a side must see next from its peer.
#[derive(Debug, PartialEq)]
pub enum Expected {
    Message(Message),
    Subscribe(Bytes),
    Cancel(Bytes),
}

/// What a receiver of `socket_type` reports for a data message: a
/// publisher reads one whose first frame starts with 1 or 0 as a
/// subscription (the ZMTP 3.0 form).
pub fn expect_for(socket_type: SocketType, message: Message) -> Expected {
    if socket_type.is_publisher() {
        let first = message.frames()[0].clone();
        match first.first() {
            Some(1) => return Expected::Subscribe(first.slice(1..)),
            Some(0) => return Expected::Cancel(first.slice(1..)),
            _ => {}
        }
    }
    Expected::Message(message)
}

/// The event a side must see for a SUBSCRIBE (`subscribe`) or CANCEL.
pub fn expect_subscription(subscribe: bool, topic: Bytes) -> Expected {
    if subscribe {
        Expected::Subscribe(topic)
    } else {
        Expected::Cancel(topic)
    }
}

/// A message of `frames` frames whose lengths come from `len`, each with a
/// pattern unique to it (numbered by `seq`), so a mix-up cannot pass
/// unnoticed.
pub fn patterned(frames: usize, seq: &mut u32, mut len: impl FnMut() -> usize) -> Message {
    let mut message = Message::new();
    for f in 0..frames {
        *seq = seq.wrapping_add(1);
        let len = len();
        let body: Vec<u8> = (0..len)
            .map(|i| (*seq as usize * 7 + f * 13 + i) as u8)
            .collect();
        message.push(body);
    }
    message
}

/// Checks traffic a side reported (`got`) against what it must see next;
/// traffic before the handshake is a failure too.
pub fn check_next(
    name: &str,
    handshake_done: bool,
    expected: &mut VecDeque<Expected>,
    got: Expected,
) {
    assert!(handshake_done, "{name}: {got:?} before handshake");
    let want = expected.pop_front();
    assert_eq!(Some(&got), want.as_ref(), "{name} received out of order");
}
