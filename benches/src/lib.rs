//! Shared helpers for the benchmarks in `benches/benches/`.
//!
//! Run them with `cargo bench -p zmtp-benches`. The whole-system comparison
//! with libzmq is `benches/compare.sh` (one markdown table), which runs the
//! `zmtp-perf` binary of this package against a small C probe built on
//! libzmq (`benches/probe/`, never built by cargo).

use std::time::Instant;

use bytes::{Buf, BytesMut};
use zmtp::{Config, Connection, SocketType, mechanism::Null};

/// A PUSH and a PULL connection that have completed their NULL handshake in
/// memory, ready to move messages.
pub fn connected_pair() -> (Connection, Connection) {
    let now = Instant::now();
    let mut push = Connection::new(Config::new(SocketType::Push), Box::new(Null::new()), now);
    let mut pull = Connection::new(Config::new(SocketType::Pull), Box::new(Null::new()), now);
    for _ in 0..2 {
        shuttle(&mut push, &mut pull, now);
        shuttle(&mut pull, &mut push, now);
    }
    while push.poll_event().is_some() {}
    while pull.poll_event().is_some() {}
    assert!(
        push.is_active() && pull.is_active(),
        "in-memory handshake failed"
    );
    (push, pull)
}

/// Moves every queued byte of `from` into `to`.
pub fn shuttle(from: &mut Connection, to: &mut Connection, now: Instant) {
    let out = from.transmit();
    let mut wire = BytesMut::with_capacity(out.remaining());
    while out.has_remaining() {
        let chunk = out.chunk();
        wire.extend_from_slice(chunk);
        let n = chunk.len();
        out.advance(n);
    }
    to.handle_input(&mut wire, now);
}
