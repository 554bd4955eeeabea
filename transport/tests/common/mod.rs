//! What the transport's integration tests share: bounded waits and
//! messages written as text.

#![allow(dead_code)] // each test file uses its own part

use std::time::Duration;

use tokio::time::timeout;
use zmtp_transport::{Message, Socket};

/// How long any one step may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A message from text frames.
pub fn msg(frames: &[&str]) -> Message {
    frames.iter().map(|f| f.as_bytes().to_vec()).collect()
}

/// A message's frames as text.
pub fn text(m: &Message) -> Vec<String> {
    m.frames()
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

/// The next message on `s`, within [`WAIT`].
pub async fn recv(s: &Socket) -> Message {
    timeout(WAIT, s.recv())
        .await
        .expect("recv timed out")
        .unwrap()
}
