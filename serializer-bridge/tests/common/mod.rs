//! What the bridge's integration tests share: how long they wait, and
//! waiting for one kind of event.

#![allow(dead_code, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use serializer_bridge::{Event, PeerManager};

/// The longest any test waits for something that should happen at once.
pub const WAIT: Duration = Duration::from_secs(10);

/// Waits up to [`WAIT`] for an event matching `want` and returns it; other
/// events are taken and dropped. Panics naming `what` if none comes.
pub fn wait_for(m: &PeerManager, what: &str, mut want: impl FnMut(&Event) -> bool) -> Event {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = m
            .wait_event(left)
            .unwrap_or_else(|| panic!("no {what} within {WAIT:?}"));
        if want(&event) {
            return event;
        }
    }
}

/// Takes events until the manager has forgotten the peer called `name`
/// (down, nothing owed, nothing unread), at most [`WAIT`].
pub fn wait_until_forgotten(m: &PeerManager, name: &str) {
    let deadline = Instant::now() + WAIT;
    while m.peer_id(name).is_some() {
        assert!(Instant::now() < deadline, "{name} was never forgotten");
        let _ = m.wait_event(Duration::from_millis(20));
    }
}
