//! Shared helpers for the benchmarks in `benches/benches/`.
//!
//! Run them with `cargo bench -p zmtp-benches`. The whole-system comparison
//! with libzmq is `benches/compare.sh` (one markdown table), which runs the
//! `zmtp-perf` binary of this package against a small C probe built on
//! libzmq (`benches/probe/`, never built by cargo).

use zmtp::testing::Pair;
use zmtp::{Config, Connection, SocketType};

/// A PUSH and a PULL connection that have completed their NULL handshake in
/// memory, ready to move messages.
pub fn connected_pair() -> (Connection, Connection) {
    let mut pair = Pair::null(Config::new(SocketType::Push), Config::new(SocketType::Pull));
    pair.shuttle();
    pair.handshakes();
    (pair.client, pair.server)
}
