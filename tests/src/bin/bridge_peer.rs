//! A cluster node in a process of its own, for the bridge tests that kill
//! peers with SIGKILL.
//!
//! ```text
//! bridge_peer NODE PEER=ENDPOINT [--send-size N] [--stall]
//! ```
//! Connects to PEER, then writes SERIAL chunks to it as fast as the bridge
//! takes them, each carrying (epoch, sequence) in its first 16 bytes (the
//! sequence the bridge gives it, from 1 in each epoch), and reads (and so
//! delivers) whatever the peer sends, unless `--stall`. Prints, on stdout,
//! flushed: `up EPOCH` when a link comes up, `down EPOCH` when it drops,
//! and `back EPOCH FIRST COUNT` when chunks are handed back.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use serializer_bridge::{BridgeConfig, Chunk, Event, PeerConfig, PeerManager, WriteRefused};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(node), Some(peer)) = (args.first(), args.get(1)) else {
        eprintln!("usage: bridge_peer NODE PEER=ENDPOINT [--send-size N] [--stall]");
        return ExitCode::from(2);
    };
    let Some((peer_name, endpoint)) = peer.split_once('=') else {
        eprintln!("bridge_peer: PEER=ENDPOINT expected, got {peer:?}");
        return ExitCode::from(2);
    };
    let stall = args.iter().any(|a| a == "--stall");
    let size = args
        .iter()
        .position(|a| a == "--send-size")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(256usize)
        .max(16);
    let mut config = BridgeConfig::new(node.clone());
    config.peers.push(PeerConfig {
        name: peer_name.into(),
        endpoint: endpoint.into(),
    });
    let bridge = match PeerManager::start(config) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("bridge_peer: {e}");
            return ExitCode::from(1);
        }
    };
    let mut out = std::io::stdout();
    let mut link = None;
    let mut seq = 0u64;
    loop {
        let wait = if link.is_some() {
            Duration::ZERO
        } else {
            Duration::from_millis(50)
        };
        let event = bridge.wait_event(wait);
        match event {
            Some(Event::PeerUp { peer, epoch, .. }) => {
                link = Some((peer, epoch));
                seq = 0;
                let _ = writeln!(out, "up {}", epoch.0);
            }
            Some(Event::PeerDown { epoch, .. }) => {
                link = None;
                let _ = writeln!(out, "down {}", epoch.0);
            }
            Some(Event::HandedBack {
                epoch,
                first_seq,
                chunks,
                ..
            }) => {
                let _ = writeln!(out, "back {} {first_seq} {}", epoch.0, chunks.len());
            }
            _ => {}
        }
        let _ = out.flush();
        let Some((peer, epoch)) = link else { continue };
        if stall {
            // Never read again: nothing is acknowledged, the sender's
            // queue for us fills up.
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        for _ in 0..64 {
            let mut data = vec![0u8; size];
            data[..8].copy_from_slice(&epoch.0.to_be_bytes());
            data[8..16].copy_from_slice(&(seq + 1).to_be_bytes());
            match bridge.write(peer, Chunk::serial(epoch, data)) {
                Ok(given) if given == seq + 1 => seq = given,
                Ok(given) => {
                    eprintln!("bridge_peer: write got seq {given}, expected {}", seq + 1);
                    return ExitCode::from(1);
                }
                Err((WriteRefused::Full { .. }, _)) => {
                    std::thread::sleep(Duration::from_millis(1));
                    break;
                }
                Err(_) => break,
            }
        }
    }
}
