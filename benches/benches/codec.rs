//! Decode and encode throughput of the sans-IO core, without sockets.
//!
//! `cargo bench -p zmtp-benches --bench codec` reports, for 64 B and 64 KiB
//! single-frame messages, messages per second (elements) and bytes per
//! second for:
//! - `encode`: `Connection::send` of a batch into the outgoing queue;
//! - `decode`: `Connection::handle_input` over a read buffer holding a batch
//!   of frames, then taking every message event.

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use zmtp::{Event, Message};
use zmtp_benches::connected_pair;

const SIZES: [(usize, &str); 2] = [(64, "64B"), (64 * 1024, "64KiB")];

/// Messages per batch, so each iteration handles about 1 MiB or more.
fn batch_for(size: usize) -> usize {
    (1 << 20) / size.max(1)
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for (size, name) in SIZES {
        let batch = batch_for(size).max(16);
        let message = Message::from(Bytes::from(vec![0xAB; size]));
        let (mut push, _pull) = connected_pair();
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(BenchmarkId::new("msgs", name), |b| {
            b.iter(|| {
                for _ in 0..batch {
                    push.send(black_box(&message)).expect("send");
                }
                let out = push.transmit();
                let n = out.remaining();
                out.advance(n);
            })
        });
        group.throughput(Throughput::Bytes((batch * size) as u64));
        group.bench_function(BenchmarkId::new("bytes", name), |b| {
            b.iter(|| {
                for _ in 0..batch {
                    push.send(black_box(&message)).expect("send");
                }
                let out = push.transmit();
                let n = out.remaining();
                out.advance(n);
            })
        });
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for (size, name) in SIZES {
        let batch = batch_for(size).max(16);
        let (mut push, mut pull) = connected_pair();
        let message = Message::from(Bytes::from(vec![0xCD; size]));
        for _ in 0..batch {
            push.send(&message).expect("send");
        }
        let out = push.transmit();
        let wire = out.copy_to_bytes(out.remaining());
        let now = Instant::now();
        let mut run = || {
            let mut buf = BytesMut::from(&wire[..]);
            pull.handle_input(&mut buf, now);
            let mut count = 0;
            while let Some(event) = pull.poll_event() {
                if let Event::Message(m) = event {
                    count += black_box(m).len();
                }
            }
            assert_eq!(count, batch);
        };
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(BenchmarkId::new("msgs", name), |b| b.iter(&mut run));
        group.throughput(Throughput::Bytes((batch * size) as u64));
        group.bench_function(BenchmarkId::new("bytes", name), |b| b.iter(&mut run));
    }
    group.finish();
}

criterion_group!(benches, encode, decode);
criterion_main!(benches);
