//! Group fan-out against the old way: one chunk broadcast to N members as
//! one group write (encoded once, the same bytes shared by every member's
//! link) versus N unicast writes of separately encoded chunks (the
//! per-peer caches make every peer's bytes different).
//!
//! `cargo bench -p zmtp-benches --bench group` runs, in one process over
//! tcp loopback, a writer `PeerManager` and N member `PeerManager`s (N = 1
//! for the single-peer baseline, then 4, 16, 64) with one reader thread
//! taking every member's events. Each run moves `per_member` chunks of 512
//! bytes to every member and prints:
//! - delivered per member: chunks/s, from the first write until the
//!   slowest member has taken all of them (the minimum over members);
//! - writer CPU per logical chunk: the writing thread plus the writer's
//!   bridge thread (from /proc's schedstat, so it excludes the members'
//!   own work),
//!   divided by the chunks written once for all members;
//! - encodings: how many times a chunk was serialized.
//!
//! The "encoding" is a stand-in serializer: it fills the chunk from a
//! state buffer, mixing in a per-peer cache id, so the unicast bytes do
//! differ per peer. `GROUP_SIZES` (comma-separated) and `GROUP_CHUNKS`
//! (chunks per member at N = 1; fewer at larger N) change the runs;
//! `GROUP_MODES=group` (or `unicast`) runs one way only, and
//! `GROUP_SINGLE=0` skips the single-peer baseline (for profiling one run
//! under callgrind: the writer's bridge thread is then the second thread).

// A benchmark binary: main and helpers need no docs.
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use serializer_bridge::{BridgeConfig, CacheEpoch, Chunk, Event, PeerConfig, PeerId, PeerManager};

const CHUNK: usize = 512;
/// Chunks outstanding per member before the writer waits (well below the
/// group's lag cap, so nobody leaves).
const WINDOW: usize = 1024;

/// The stand-in serializer: `CHUNK` bytes from `state`, with the peer's
/// cache id and the sequence mixed in.
fn encode(state: &[u8; CHUNK], cache_id: u64, seq: u64) -> Bytes {
    let mut b = BytesMut::with_capacity(CHUNK);
    b.put_u64(seq);
    b.put_u64(cache_id);
    let mut x = cache_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seq;
    for chunk in state[16..].chunks(8) {
        x = x.rotate_left(5) ^ u64::from(chunk[0]);
        for &byte in chunk {
            b.put_u8(byte ^ (x as u8));
        }
    }
    b.freeze()
}

/// CPU time of this process's threads whose name starts with `prefix`,
/// in seconds (the scheduler's nanosecond count in `schedstat`).
fn thread_cpu(prefix: &str) -> f64 {
    let mut ns = 0u64;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end().starts_with(prefix) {
            ns += schedstat_ns(&task.path().join("schedstat"));
        }
    }
    ns as f64 / 1e9
}

/// User and kernel CPU seconds of this process's threads whose name
/// starts with `prefix` (`stat` fields 14 and 15, in the kernel's fixed
/// 100 Hz ticks: coarse, for shares over a whole run).
fn thread_user_sys(prefix: &str) -> (f64, f64) {
    let (mut user, mut sys) = (0u64, 0u64);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (0.0, 0.0);
    };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.trim_end().starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // After the ")" that closes the name: state is field 3, so
        // utime (14) and stime (15) are the 12th and 13th from there.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
        let fields: Vec<u64> = rest
            .split_whitespace()
            .skip(1)
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        user += fields.get(10).copied().unwrap_or(0);
        sys += fields.get(11).copied().unwrap_or(0);
    }
    (user as f64 / 100.0, sys as f64 / 100.0)
}

/// The first field of a `schedstat` file: nanoseconds on a CPU.
fn schedstat_ns(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds of the calling thread.
fn my_cpu() -> f64 {
    schedstat_ns(std::path::Path::new("/proc/thread-self/schedstat")) as f64 / 1e9
}

fn wait_up(m: &PeerManager) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(Event::PeerUp { .. }) = m.wait_event(Duration::from_millis(50)) {
            return;
        }
    }
    panic!("a member never came up");
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Unicast,
    Group,
}

struct Outcome {
    per_member_rate: f64,
    /// Group epochs the writer had to move to (a member left).
    resets: u64,
    cpu_per_chunk: f64,
    encodings: u64,
}

fn run(n: usize, per_member: u64, mode: Mode) -> Outcome {
    let mut config = BridgeConfig::new("writer");
    config.listen.push("tcp://127.0.0.1:*".into());
    let writer = PeerManager::start(config).unwrap();
    let endpoint = writer.bound_endpoints()[0].to_string();
    let names: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    let members: Vec<PeerManager> = names
        .iter()
        .map(|name| {
            let mut config = BridgeConfig::new(name.as_str());
            config.peers.push(PeerConfig {
                name: "writer".into(),
                endpoint: endpoint.clone(),
            });
            PeerManager::start(config).unwrap()
        })
        .collect();
    for m in &members {
        wait_up(m);
    }
    let peers: Vec<(PeerId, CacheEpoch)> = names
        .iter()
        .map(|name| {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let _ = writer.poll_event();
                if let Some(id) = writer.peer_id(name)
                    && let Some(epoch) = writer.epoch(id)
                {
                    break (id, epoch);
                }
                assert!(Instant::now() < deadline, "{name} not up at the writer");
                std::thread::sleep(Duration::from_millis(5));
            }
        })
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let group = writer.join_group("all", &refs);
    let mut group_epoch = {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let _ = writer.poll_event();
            let (epoch, now) = writer.group_epoch(group).unwrap();
            if now.len() == n {
                break epoch;
            }
            assert!(Instant::now() < deadline, "the group never had {n} members");
            std::thread::sleep(Duration::from_millis(5));
        }
    };

    // The members' reader: takes every event, counts the chunks.
    let taken: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let taken = taken.clone();
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("members-reader".into())
            .spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    let mut any = false;
                    for (i, m) in members.iter().enumerate() {
                        while let Some(event) = m.poll_event() {
                            any = true;
                            if matches!(event, Event::Chunk { .. } | Event::GroupChunk { .. }) {
                                taken[i].fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    if !any {
                        std::thread::yield_now();
                    }
                }
                members
            })
            .unwrap()
    };

    let state = [0x5au8; CHUNK];
    let mut encodings = 0u64;
    let mut resets = 0u64;
    let start = Instant::now();
    let writer_cpu_before = thread_cpu("bridge-writer");
    let writer_split_before = thread_user_sys("bridge-writer");
    let members_cpu_before = thread_cpu("bridge-m") + thread_cpu("members-reader");
    let me_before = my_cpu();
    for seq in 0..per_member {
        // Keep at most WINDOW chunks outstanding per member.
        if seq % 64 == 0 {
            loop {
                // Group: chunks without an outcome (what the lag cap
                // counts); unicast: what the slowest member has not taken.
                let behind = match mode {
                    Mode::Group => writer.group_pending(group).unwrap_or(0) as u64,
                    Mode::Unicast => {
                        let slowest = taken
                            .iter()
                            .map(|t| t.load(Ordering::Relaxed))
                            .min()
                            .unwrap_or(0);
                        seq.saturating_sub(slowest)
                    }
                };
                if behind < WINDOW as u64 {
                    break;
                }
                let _ = writer.poll_event();
                std::thread::yield_now();
            }
            while writer.poll_event().is_some() {}
        }
        match mode {
            Mode::Group => {
                let mut data = encode(&state, 0, seq);
                encodings += 1;
                while let Err((why, chunk)) =
                    writer.write_group(group, Chunk::serial(group_epoch, data))
                {
                    // A member left (the event says why): reset the group
                    // cache, encode again for the new epoch.
                    while let Some(event) = writer.poll_event() {
                        if let Event::GroupEpoch { epoch, left, .. } = event {
                            eprintln!("  group of {n}: now {epoch}, left: {left:?} ({why})");
                        }
                    }
                    group_epoch = writer.group_epoch(group).unwrap().0;
                    resets += 1;
                    data = chunk.data;
                    encodings += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            Mode::Unicast => {
                for (i, (peer, epoch)) in peers.iter().enumerate() {
                    let data = encode(&state, i as u64 + 1, seq);
                    encodings += 1;
                    writer
                        .write(*peer, Chunk::serial(*epoch, data))
                        .map_err(|(why, _)| why)
                        .unwrap();
                }
            }
        }
    }
    let me_cpu = my_cpu() - me_before;
    // Until every member has everything, or (if one left and missed some)
    // until nothing has moved for two seconds.
    let mut last = (0u64, Instant::now(), start.elapsed());
    while taken.iter().any(|t| t.load(Ordering::Relaxed) < per_member) {
        let _ = writer.poll_event();
        std::thread::sleep(Duration::from_micros(200));
        let total: u64 = taken.iter().map(|t| t.load(Ordering::Relaxed)).sum();
        if total != last.0 {
            last = (total, Instant::now(), start.elapsed());
        } else if last.1.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    let elapsed = if taken
        .iter()
        .all(|t| t.load(Ordering::Relaxed) >= per_member)
    {
        start.elapsed().as_secs_f64()
    } else {
        last.2.as_secs_f64()
    };
    let slowest = taken
        .iter()
        .map(|t| t.load(Ordering::Relaxed))
        .min()
        .unwrap_or(0);
    let writer_cpu = thread_cpu("bridge-writer") - writer_cpu_before;
    let split = thread_user_sys("bridge-writer");
    let (user, sys) = (
        split.0 - writer_split_before.0,
        split.1 - writer_split_before.1,
    );
    let kernel_share = sys / (user + sys).max(1e-9);
    let members_cpu = thread_cpu("bridge-m") + thread_cpu("members-reader") - members_cpu_before;
    eprintln!(
        "  {n} members, {mode:?}: writing thread {:.2} us/chunk, writer's bridge thread {:.2} us/chunk \
         ({:.0}% of it in the kernel); members' bridge threads and reader {:.2} us per chunk per member",
        me_cpu / per_member as f64 * 1e6,
        writer_cpu / per_member as f64 * 1e6,
        kernel_share * 100.0,
        members_cpu / (per_member * n as u64) as f64 * 1e6
    );
    stop.store(true, Ordering::Release);
    let members = reader.join().unwrap();
    // Members send nothing but ACKs (and the handshake): their bridge
    // messages to the writer, per chunk each took.
    let acks: u64 = members
        .iter()
        .filter_map(|m| m.stats(m.peer_id("writer")?))
        .map(|s| s.write_calls)
        .sum();
    eprintln!(
        "  {n} members, {mode:?}: {:.3} ACKs per chunk per member",
        acks as f64 / (per_member * n as u64) as f64
    );
    drop(members);
    drop(writer);
    Outcome {
        per_member_rate: slowest as f64 / elapsed,
        resets,
        cpu_per_chunk: (me_cpu + writer_cpu) / per_member as f64,
        encodings,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes
    // nothing: then one tiny run, to show it works.
    let benching = std::env::args().any(|a| a == "--bench");
    let sizes: Vec<usize> = std::env::var("GROUP_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![4, 16, 64]);
    let base: u64 = std::env::var("GROUP_CHUNKS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if benching { 40_000 } else { 500 });
    let sizes = if benching { sizes } else { vec![4] };
    let modes: Vec<Mode> = match std::env::var("GROUP_MODES").as_deref() {
        Ok("group") => vec![Mode::Group],
        Ok("unicast") => vec![Mode::Unicast],
        _ => vec![Mode::Unicast, Mode::Group],
    };
    let single = if std::env::var("GROUP_SINGLE").as_deref() == Ok("0") {
        Outcome {
            per_member_rate: f64::NAN,
            resets: 0,
            cpu_per_chunk: f64::NAN,
            encodings: 0,
        }
    } else {
        run(1, base, Mode::Unicast)
    };
    println!(
        "single peer, unicast: {:.0} chunks/s, writer CPU {:.2} us/chunk",
        single.per_member_rate,
        single.cpu_per_chunk * 1e6
    );
    println!(
        "| members | way | chunks/s per member (slowest) | x single-peer rate | writer CPU us/chunk | x single unicast CPU | encodings | group epoch changes |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for n in sizes {
        // Fewer chunks per member for big groups, so a run stays short.
        let per_member = (base * 4 / n as u64).clamp(base / 16, base).max(200);
        for &mode in &modes {
            let o = run(n, per_member, mode);
            println!(
                "| {n} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} |",
                match mode {
                    Mode::Unicast => "N unicast writes, N encodings",
                    Mode::Group => "one group write, 1 encoding",
                },
                o.per_member_rate,
                o.per_member_rate / single.per_member_rate,
                o.cpu_per_chunk * 1e6,
                o.cpu_per_chunk / single.cpu_per_chunk.max(1e-9),
                o.encodings,
                o.resets
            );
        }
    }
}
