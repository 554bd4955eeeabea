//! Volume: a million small chunks (16 B to 4 KiB) and a few hundred large
//! ones (up to 1 MiB) from several workers to a manager at once, every one
//! checked for order by the sequence number it carries, and every one
//! reported `Delivered` to its worker (none handed back).

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

use serializer_bridge::{
    BridgeConfig, CacheEpoch, Chunk, Event, PeerConfig, PeerId, PeerManager, WriteRefused,
};

const WORKERS: u64 = 4;
const SMALL_PER_WORKER: u64 = 250_000;
const LARGE_PER_WORKER: u64 = 75;

/// The payload of chunk `n`: its number, then filler of a size that
/// depends on `n` (16 B to 4 KiB, every 3334th chunk up to 1 MiB).
fn payload(n: u64) -> Vec<u8> {
    let size = if n.is_multiple_of(3334) {
        (256 << 10) + (n as usize * 7919) % (768 << 10)
    } else {
        16 + (n as usize * 31) % (4096 - 16)
    };
    let mut data = vec![(n % 251) as u8; size.max(8)];
    data[..8].copy_from_slice(&n.to_be_bytes());
    data
}

/// Books one event of a worker: `Delivered` extends `delivered`; nothing
/// may come back.
fn take(delivered: &mut u64, stream: (PeerId, CacheEpoch), event: Option<Event>) {
    match event {
        Some(Event::Delivered {
            peer,
            epoch,
            through,
        }) => {
            assert_eq!((peer, epoch), stream);
            assert!(through > *delivered, "Delivered is cumulative");
            *delivered = through;
        }
        Some(
            other @ (Event::HandedBack { .. }
            | Event::PeerDown { .. }
            | Event::DeliveredAfterHandBack { .. }),
        ) => panic!("{other:?}"),
        _ => {}
    }
}

fn run_worker(name: String, endpoint: String, total: u64) {
    let mut config = BridgeConfig::new(name);
    config.peers.push(PeerConfig {
        name: "manager".into(),
        endpoint,
    });
    let bridge = PeerManager::start(config).unwrap();
    let (peer, epoch) = loop {
        if let Some(Event::PeerUp { peer, epoch, .. }) = bridge.wait_event(Duration::from_secs(10))
        {
            break (peer, epoch);
        }
    };
    // Outcomes: cumulative `Delivered` up to `total`, nothing back.
    let mut delivered = 0;
    let mut n = 0;
    while n < total {
        match bridge.write(peer, Chunk::serial(epoch, payload(n))) {
            Ok(seq) => {
                n += 1;
                assert_eq!(seq, n);
            }
            Err((WriteRefused::Full { .. }, _)) => {
                // Back-pressure: wait for the manager's acks.
                while bridge.is_filling_up(peer) {
                    take(
                        &mut delivered,
                        (peer, epoch),
                        bridge.wait_event(Duration::from_millis(5)),
                    );
                }
            }
            Err((why, _)) => panic!("write refused: {why}"),
        }
    }
    // Wait until everything is delivered before leaving.
    let deadline = Instant::now() + Duration::from_secs(120);
    while delivered < total {
        assert!(
            Instant::now() < deadline,
            "only {delivered} of {total} delivered"
        );
        take(
            &mut delivered,
            (peer, epoch),
            bridge.wait_event(Duration::from_millis(10)),
        );
    }
    assert!(bridge.is_idle(peer));
}

#[test]
fn a_million_chunks_from_four_workers_arrive_in_order() {
    let mut config = BridgeConfig::new("manager");
    config.listen.push("tcp://127.0.0.1:*".into());
    let manager = PeerManager::start(config).unwrap();
    let endpoint = manager.bound_endpoints()[0].to_string();
    let per_worker = SMALL_PER_WORKER + LARGE_PER_WORKER;
    let started = Instant::now();
    let workers: Vec<_> = (0..WORKERS)
        .map(|i| {
            let endpoint = endpoint.clone();
            thread::spawn(move || run_worker(format!("worker-{i}"), endpoint, per_worker))
        })
        .collect();

    let mut next: HashMap<PeerId, u64> = HashMap::new();
    let mut epochs: HashMap<PeerId, CacheEpoch> = HashMap::new();
    let mut bytes = 0u64;
    let total = WORKERS * per_worker;
    let mut received = 0u64;
    let deadline = Instant::now() + Duration::from_secs(240);
    while received < total {
        assert!(
            Instant::now() < deadline,
            "only {received} of {total} chunks arrived"
        );
        let Some(event) = manager.wait_event(Duration::from_secs(1)) else {
            continue;
        };
        match event {
            Event::PeerUp { peer, epoch, .. } => {
                epochs.insert(peer, epoch);
            }
            Event::Chunk { peer, chunk } => {
                assert_eq!(Some(&chunk.epoch), epochs.get(&peer));
                let n = u64::from_be_bytes(chunk.data[..8].try_into().unwrap());
                let expected = next.entry(peer).or_insert(0);
                assert_eq!(n, *expected, "chunk out of order from {peer:?}");
                assert_eq!(chunk.data.len(), payload(n).len());
                *expected += 1;
                bytes += chunk.data.len() as u64;
                received += 1;
            }
            // A worker leaves once all its chunks are acknowledged; any
            // other link dropping is a failure.
            Event::PeerDown { peer, reason, .. } => {
                assert_eq!(
                    next.get(&peer),
                    Some(&per_worker),
                    "a link dropped early: {reason}"
                );
            }
            _ => {}
        }
    }
    for w in workers {
        w.join().unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "{received} chunks, {:.1} MB in {elapsed:.1} s: {:.0} chunks/s, {:.1} MB/s",
        bytes as f64 / 1e6,
        received as f64 / elapsed,
        bytes as f64 / 1e6 / elapsed
    );
    assert!(next.values().all(|&n| n == per_worker));
}
