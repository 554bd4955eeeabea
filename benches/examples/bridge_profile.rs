//! A fixed amount of bridge traffic for instruction-count profiles.
//!
//! `bridge_profile bridge|bare SIZE COUNT` moves COUNT chunks of SIZE bytes
//! from a worker [`PeerManager`] to a manager one (or, with `bare`, as
//! single-frame messages from a PUSH to a PULL socket), with the writing
//! calls on the thread `writer` and the reading calls on the thread
//! `reader`, so that a per-thread profile splits the cost four ways: the
//! caller's writes, the writer's bridge thread (`bridge-worker`), the
//! reader's bridge thread (`bridge-manager`) and the caller's reads.
//!
//! ```sh
//! cargo build --release -p zmtp-benches --example bridge_profile
//! valgrind --tool=callgrind --separate-threads=yes \
//!     target/release/examples/bridge_profile bridge 256 100000
//! ```
//!
//! The per-chunk budget in `docs/bridge-protocol.md` ("What a chunk
//! costs") comes from these profiles.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serializer_bridge::{
    BridgeConfig, Chunk, Event, PeerConfig, PeerId, PeerManager, WriteRefused,
};
use zmtp_transport::{Message, Socket, SocketType};

fn wait_peer_up(bridge: &PeerManager) -> (PeerId, serializer_bridge::CacheEpoch) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(Event::PeerUp { peer, epoch, .. }) =
            bridge.wait_event(Duration::from_millis(100))
        {
            return (peer, epoch);
        }
    }
    panic!("the bridge link did not come up");
}

fn bridge(size: usize, count: usize) {
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
    let (from_worker, _) = wait_peer_up(&manager);
    let payload = Bytes::from(vec![0xAB; size]);
    let start = Instant::now();
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("reader".into())
            .spawn_scoped(s, || {
                let mut got = 0;
                while got < count {
                    let before = got;
                    while let Some(chunk) = manager.read(from_worker) {
                        std::hint::black_box(chunk.len());
                        got += 1;
                    }
                    if got == before
                        && let Some(Event::Chunk { chunk, .. }) =
                            manager.wait_event(Duration::from_millis(1))
                    {
                        std::hint::black_box(chunk.len());
                        got += 1;
                    }
                }
            })
            .expect("reader thread");
        std::thread::Builder::new()
            .name("writer".into())
            .spawn_scoped(s, || {
                let mut sent = 0;
                while sent < count {
                    match worker.write(to_manager, Chunk::serial(epoch, payload.clone())) {
                        Ok(_) => sent += 1,
                        Err((WriteRefused::Full { .. }, _)) => {
                            while worker.poll_event().is_some() {}
                            std::thread::sleep(Duration::from_micros(100));
                        }
                        Err((why, _)) => panic!("write refused: {why}"),
                    }
                }
                while worker.poll_event().is_some() {}
            })
            .expect("writer thread");
    });
    report("bridge", size, count, start.elapsed());
}

fn bare(size: usize, count: usize) {
    let runtime = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(name)
            .enable_all()
            .build()
            .expect("runtime")
    };
    let pull_runtime = runtime("bridge-manager");
    let push_runtime = runtime("bridge-worker");
    let pull = Socket::new(SocketType::Pull);
    let endpoint = pull_runtime
        .block_on(pull.bind("tcp://127.0.0.1:*"))
        .expect("bind")
        .to_string();
    let push = Socket::new(SocketType::Push);
    push_runtime
        .block_on(push.connect(&endpoint))
        .expect("connect");
    while push.stats().peers == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let payload = Bytes::from(vec![0xAB; size]);
    let start = Instant::now();
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("reader".into())
            .spawn_scoped(s, || {
                pull_runtime.block_on(async {
                    for _ in 0..count {
                        let message = pull.recv().await.expect("recv");
                        std::hint::black_box(message.size());
                    }
                })
            })
            .expect("reader thread");
        std::thread::Builder::new()
            .name("writer".into())
            .spawn_scoped(s, || {
                push_runtime.block_on(async {
                    for _ in 0..count {
                        push.send(Message::from(payload.clone()))
                            .await
                            .expect("send");
                    }
                })
            })
            .expect("writer thread");
    });
    report("bare", size, count, start.elapsed());
}

fn report(what: &str, size: usize, count: usize, elapsed: Duration) {
    println!(
        "{what} {size} B: {count} in {:.3} s, {:.0} per s",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let size = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(256);
    let count = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    match args.get(1).map(String::as_str) {
        Some("bare") => bare(size, count),
        _ => bridge(size, count),
    }
}
