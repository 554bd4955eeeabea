//! CURVE MESSAGE throughput: the cost of sealing and opening one frame.
//!
//! `cargo bench -p zmtp-benches --bench curve` reports, for 64 B and 64 KiB
//! frames, frames per second (elements) and payload bytes per second for:
//! - `curve_message`: `CurveCipher::seal` on the client then
//!   `CurveCipher::open` on the server, the framing included (XSalsa20 and
//!   Poly1305 twice over the payload, plus one copy on open);
//! - `curve_connection`: the same frames through two CURVE `Connection`s
//!   after an in-memory handshake (`send`, `transmit`, `handle_input`, the
//!   message event), to set against the NULL figures of the `codec` bench.

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use zmtp::mechanism::curve::CurveCipher;
use zmtp::testing::Pair;
use zmtp::{
    AuthReply, Cipher, Config, Connection, CurveClient, CurveKeyPair, CurveServer, Decoded, Event,
    FrameDecoder, Message, SocketType,
};

const SIZES: [(usize, &str); 2] = [(64, "64B"), (64 * 1024, "64KiB")];

fn message(c: &mut Criterion) {
    let mut group = c.benchmark_group("curve_message");
    for (size, name) in SIZES {
        let client_transient = CurveKeyPair::generate();
        let server_transient = CurveKeyPair::generate();
        let mut client =
            CurveCipher::for_client(client_transient.secret(), server_transient.public());
        let mut server =
            CurveCipher::for_server(server_transient.secret(), client_transient.public());
        let payload = vec![0xAB; size];
        let decoder = FrameDecoder::default();
        let mut run = || {
            let mut wire = BytesMut::with_capacity(size + 64);
            client
                .seal(false, false, black_box(&payload), &mut wire)
                .expect("seal");
            let Ok(Decoded::Complete { value, .. }) = decoder.decode(&mut wire) else {
                panic!("one whole frame")
            };
            let frame = server.open(value).expect("open");
            assert_eq!(black_box(frame.body).len(), size);
        };
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("seal_open_frames", name), |b| {
            b.iter(&mut run)
        });
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("seal_open_bytes", name), |b| {
            b.iter(&mut run)
        });
    }
    group.finish();
}

/// A PUSH client and a PULL server after a CURVE handshake in memory.
fn curve_pair() -> (Connection, Connection) {
    let now = Instant::now();
    let server_keys = CurveKeyPair::generate();
    let client = Connection::new(
        Config::new(SocketType::Push),
        Box::new(CurveClient::new(
            CurveKeyPair::generate(),
            *server_keys.public(),
        )),
        now,
    );
    let server = Connection::new(
        Config::new(SocketType::Pull),
        Box::new(CurveServer::new(server_keys)),
        now,
    );
    let mut pair = Pair::new(client, server);
    pair.now = now;
    pair.shuttle();
    let request = pair
        .server_auth_request()
        .expect("CURVE asks the authenticator");
    drop(request);
    pair.server
        .authenticate(AuthReply::accept(), now)
        .expect("pending");
    pair.shuttle();
    pair.handshakes();
    (pair.client, pair.server)
}

fn connection(c: &mut Criterion) {
    let mut group = c.benchmark_group("curve_connection");
    for (size, name) in SIZES {
        let (mut client, mut server) = curve_pair();
        let message = Message::from(Bytes::from(vec![0xCD; size]));
        let now = Instant::now();
        let mut run = || {
            client.send(black_box(&message)).expect("send");
            let out = client.transmit();
            let mut wire = BytesMut::from(out.copy_to_bytes(out.remaining()).as_ref());
            server.handle_input(&mut wire, now);
            let Some(Event::Message(m)) = server.poll_event() else {
                panic!("no message")
            };
            black_box(m);
        };
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("msgs", name), |b| b.iter(&mut run));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("bytes", name), |b| b.iter(&mut run));
    }
    group.finish();
}

criterion_group!(benches, message, connection);
criterion_main!(benches);
