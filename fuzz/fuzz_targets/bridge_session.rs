//! Fuzzes the bridge's link protocol: an honest connector [`Session`] and an
//! acceptor `Session` exchange messages while the input also injects
//! arbitrary bridge messages (decoded from the input's bytes, so valid and
//! invalid ones alike), link ups and downs, writes, reads and time.
//!
//! Whatever arrives, no session may panic, and each must keep its queues
//! within the caps: written and unconfirmed chunks, chunks in doubt, and
//! unread received chunks within the window it announced.

#![no_main]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serializer_bridge::session::{Role, Session, Settings, Window};
use serializer_bridge::wire::Wire;
use serializer_bridge::{Caps, Chunk, PeerId};
use zmtp::Message;

const CAPS: Caps = Caps {
    soft_chunks: 4,
    hard_chunks: 8,
    soft_bytes: 256,
    hard_bytes: 1024,
};
const WINDOW: Window = Window {
    chunks: 6,
    bytes: 512,
};

fn settings(node: &str, incarnation: u64) -> Arc<Settings> {
    Arc::new(Settings {
        node: node.to_owned(),
        incarnation,
        capabilities: 0,
        cache_size: 0,
        caps: CAPS,
        window: WINDOW,
        ack_every: 2,
        handshake_timeout: Duration::from_millis(100),
        in_doubt_timeout: Duration::from_millis(500),
    })
}

/// Reads the input a byte or a slice at a time; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        *first
    }
    fn bytes(&mut self) -> &[u8] {
        let len = usize::from(self.byte()).min(self.0.len());
        let (taken, rest) = self.0.split_at(len);
        self.0 = rest;
        taken
    }
}

/// A bridge message made of input bytes: up to three frames.
fn injected(input: &mut Input<'_>) -> Option<Wire> {
    let frames = usize::from(input.byte() % 4);
    let mut message = Message::new();
    for i in 0..frames {
        let frame = input.bytes().to_vec();
        // Steer the first frame towards real tags half the time.
        let frame = match (i, frame.first()) {
            (0, Some(b)) if b % 2 == 0 => vec![b"HWCAR"[usize::from(b / 2) % 5]],
            _ => frame,
        };
        message.push(Bytes::from(frame));
    }
    Wire::decode(&message).ok()
}

fn check(s: &Session) {
    assert!(s.pending() <= CAPS.hard_chunks);
    assert!(s.in_doubt() <= CAPS.hard_chunks);
    assert!(s.stats().pending_bytes <= CAPS.hard_bytes as u64);
    // Unread chunks within our window, plus the events a few handshakes make.
    assert!(s.backlog() <= WINDOW.chunks as usize + s.unread_events());
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mut now = Instant::now();
    let mut w = Session::new(PeerId(0), "m".into(), Role::Connector, settings("w", 1));
    let mut m = Session::new(PeerId(0), "w".into(), Role::Acceptor, settings("m", 2));
    let mut to_m: Vec<Wire> = Vec::new();
    let mut to_w: Vec<Wire> = Vec::new();
    for _ in 0..256 {
        if input.0.is_empty() {
            break;
        }
        match input.byte() % 12 {
            0 => {
                w.link_up(now);
                m.link_up(now);
            }
            1 => {
                to_m.clear();
                to_w.clear();
                w.link_down(now);
                m.link_down(now);
            }
            2 | 3 => {
                let s = if input.byte() % 2 == 0 { &mut w } else { &mut m };
                let epoch = s.epoch().unwrap_or_default();
                let data = Bytes::copy_from_slice(input.bytes());
                let _ = s.write(Chunk::serial(epoch, data));
            }
            4 => {
                while let Some(wire) = w.poll_transmit() {
                    to_m.push(wire);
                }
                while let Some(wire) = m.poll_transmit() {
                    to_w.push(wire);
                }
            }
            5 => {
                for wire in std::mem::take(&mut to_m) {
                    if m.handle(wire, now).is_err() {
                        m.link_down(now);
                    }
                }
            }
            6 => {
                for wire in std::mem::take(&mut to_w) {
                    if w.handle(wire, now).is_err() {
                        w.link_down(now);
                    }
                }
            }
            7 => {
                while w.poll_event().is_some() {}
                while m.poll_event().is_some() {}
            }
            8 => {
                let _ = w.take();
                let _ = m.take();
            }
            9 => {
                // Something a hostile or broken peer says.
                if let Some(wire) = injected(&mut input) {
                    let target = if input.byte() % 2 == 0 { &mut w } else { &mut m };
                    if target.handle(wire, now).is_err() {
                        target.link_down(now);
                    }
                }
            }
            10 => {
                now += Duration::from_millis(u64::from(input.byte()) * 4);
                let _ = w.handle_timeout(now);
                let _ = m.handle_timeout(now);
            }
            _ => {
                let (a, b) = if input.byte() % 2 == 0 { (&mut to_m, &mut m) } else { (&mut to_w, &mut w) };
                if !a.is_empty() {
                    let wire = a.remove(0);
                    if b.handle(wire, now).is_err() {
                        b.link_down(now);
                    }
                }
            }
        }
        check(&w);
        check(&m);
    }
});
