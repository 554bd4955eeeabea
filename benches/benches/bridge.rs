//! The serializer bridge against the bare socket layer it runs on.
//!
//! `cargo bench -p zmtp-benches --bench bridge` reports, for 256 B and
//! 64 KiB chunks, chunks (elements) and bytes per second for:
//! - `bridge`: a worker [`PeerManager`] writing chunks to a manager
//!   `PeerManager` in the same process over tcp loopback, the manager
//!   reading every one (epochs, sequence numbers, acks and flow-control
//!   windows included: the whole `write` -> `read` path);
//! - `push_pull`: the same payloads as single-frame messages from a PUSH to
//!   a PULL socket over tcp loopback, set up like the bridge (each socket on
//!   a one-worker runtime of its own, the receiving loop on the bench
//!   thread).
//!
//! Each iteration moves one batch (2 MiB of 256 B chunks, 16 MiB of 64 KiB
//! ones) from the first write to the last read; the difference between the
//! two groups is what the bridge costs on top of the sockets.

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serializer_bridge::{
    BridgeConfig, CacheEpoch, Chunk, Event, PeerConfig, PeerId, PeerManager, WriteRefused,
};
use tokio::runtime::Runtime;
use zmtp_transport::{Message, Socket, SocketType};

const SIZES: [(usize, &str); 2] = [(256, "256B"), (64 * 1024, "64KiB")];

/// Chunks per iteration: 2 MiB of small ones, 16 MiB of large ones.
fn batch_for(size: usize) -> usize {
    if size < 4096 {
        (2 << 20) / size
    } else {
        (16 << 20) / size
    }
}

/// A worker and a manager bridge, linked and in the same epoch.
struct BridgePair {
    manager: PeerManager,
    worker: PeerManager,
    /// The manager, as the worker knows it.
    to_manager: PeerId,
    /// The worker, as the manager knows it.
    from_worker: PeerId,
    epoch: CacheEpoch,
}

fn wait_peer_up(bridge: &PeerManager) -> (PeerId, CacheEpoch) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(Event::PeerUp { peer, epoch, .. }) =
            bridge.wait_event(Duration::from_millis(100))
        {
            return (peer, epoch);
        }
    }
    panic!("the bridge link did not come up");
}

fn bridge_pair() -> BridgePair {
    let mut config = BridgeConfig::new("manager");
    config.listen.push("tcp://127.0.0.1:*".into());
    let manager = PeerManager::start(config).expect("manager starts");
    let endpoint = manager.bound_endpoints()[0].to_string();
    let mut config = BridgeConfig::new("worker");
    config.peers.push(PeerConfig {
        name: "manager".into(),
        endpoint,
    });
    let worker = PeerManager::start(config).expect("worker starts");
    let (to_manager, epoch) = wait_peer_up(&worker);
    let (from_worker, manager_epoch) = wait_peer_up(&manager);
    assert_eq!(epoch, manager_epoch, "both sides agree the epoch");
    BridgePair {
        manager,
        worker,
        to_manager,
        from_worker,
        epoch,
    }
}

/// Writes `batch` chunks on the worker and reads them all on the manager,
/// writing again whenever the worker's queue has room.
fn bridge_batch(pair: &BridgePair, payload: &Bytes, batch: usize) {
    let (mut sent, mut got) = (0, 0);
    while got < batch {
        while sent < batch {
            match pair
                .worker
                .write(pair.to_manager, Chunk::serial(pair.epoch, payload.clone()))
            {
                Ok(_) => sent += 1,
                Err((WriteRefused::Full { .. }, _)) => break,
                Err((why, _)) => panic!("write refused: {why}"),
            }
        }
        // FillingUp / Drained: nobody needs them here.
        while pair.worker.poll_event().is_some() {}
        let before = got;
        while let Some(chunk) = pair.manager.read(pair.from_worker) {
            black_box(chunk.len());
            got += 1;
        }
        if got == before {
            match pair.manager.wait_event(Duration::from_millis(1)) {
                Some(Event::Chunk { chunk, .. }) => {
                    black_box(chunk.len());
                    got += 1;
                }
                Some(Event::PeerDown { reason, .. }) => panic!("the link dropped: {reason}"),
                _ => {}
            }
        }
    }
}

fn bridge(c: &mut Criterion) {
    let mut group = c.benchmark_group("bridge");
    let pair = bridge_pair();
    for (size, name) in SIZES {
        let batch = batch_for(size);
        let payload = Bytes::from(vec![0xAB; size]);
        let mut run = |iters: u64| {
            let start = Instant::now();
            for _ in 0..iters {
                bridge_batch(&pair, &payload, batch);
            }
            start.elapsed()
        };
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(BenchmarkId::new("chunks", name), |b| {
            b.iter_custom(&mut run)
        });
        group.throughput(Throughput::Bytes((batch * size) as u64));
        group.bench_function(BenchmarkId::new("bytes", name), |b| b.iter_custom(&mut run));
    }
    group.finish();
}

/// A PUSH and a PULL over tcp loopback, each on a one-worker runtime of its
/// own, as each bridge runs its sockets.
struct SocketPair {
    push_runtime: Runtime,
    pull_runtime: Runtime,
    push: Socket,
    pull: Socket,
}

fn one_worker_runtime(name: &str) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("runtime")
}

fn socket_pair() -> SocketPair {
    let pull_runtime = one_worker_runtime("pull");
    let push_runtime = one_worker_runtime("push");
    let pull = Socket::new(SocketType::Pull);
    let endpoint = pull_runtime
        .block_on(pull.bind("tcp://127.0.0.1:*"))
        .expect("bind")
        .to_string();
    let push = Socket::new(SocketType::Push);
    push_runtime
        .block_on(push.connect(&endpoint))
        .expect("connect");
    let deadline = Instant::now() + Duration::from_secs(10);
    while push.stats().peers == 0 {
        assert!(Instant::now() < deadline, "PUSH never connected");
        std::thread::sleep(Duration::from_millis(1));
    }
    SocketPair {
        push_runtime,
        pull_runtime,
        push,
        pull,
    }
}

/// Sends `batch` messages from a task on the PUSH runtime and receives them
/// all on this thread.
fn socket_batch(pair: &SocketPair, payload: &Bytes, batch: usize) {
    let push = pair.push.clone();
    let body = payload.clone();
    let sender = pair.push_runtime.spawn(async move {
        for _ in 0..batch {
            push.send(Message::from(body.clone())).await.expect("send");
        }
    });
    pair.pull_runtime.block_on(async {
        for _ in 0..batch {
            let message = pair.pull.recv().await.expect("recv");
            black_box(message.size());
        }
    });
    pair.push_runtime.block_on(sender).expect("sender task");
}

fn push_pull(c: &mut Criterion) {
    let mut group = c.benchmark_group("push_pull");
    let pair = socket_pair();
    for (size, name) in SIZES {
        let batch = batch_for(size);
        let payload = Bytes::from(vec![0xAB; size]);
        let mut run = |iters: u64| {
            let start = Instant::now();
            for _ in 0..iters {
                socket_batch(&pair, &payload, batch);
            }
            start.elapsed()
        };
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(BenchmarkId::new("msgs", name), |b| b.iter_custom(&mut run));
        group.throughput(Throughput::Bytes((batch * size) as u64));
        group.bench_function(BenchmarkId::new("bytes", name), |b| b.iter_custom(&mut run));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = bridge, push_pull
}
criterion_main!(benches);
