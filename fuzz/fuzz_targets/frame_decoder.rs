//! Fuzzes `FrameDecoder::decode`, which splits frames off the read buffer and
//! enforces the maximum frame size before buffering any body.
//!
//! The first byte picks the limit (none, or a small, medium or arbitrary
//! 64-bit maximum, read from the next bytes); the rest is the read buffer,
//! decoded frame by frame until it runs dry or fails. Checked:
//! - a `Complete` frame never exceeds the maximum, and `consumed` is exactly
//!   what left the buffer: header plus body, the body being those bytes;
//! - `Incomplete` leaves the buffer untouched, and `needed` is a true lower
//!   bound: `needed - 1` more bytes still leave it incomplete;
//! - `FrameTooLarge` names a size above the maximum and consumes nothing.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use zmtp::{Decoded, FrameDecoder, FrameHeader};

/// The protocol's own limit, which `FrameDecoder::new(None)` applies.
const PROTOCOL_MAX: u64 = i64::MAX as u64;

/// Largest padding used to probe the `needed` bound; keeps runs cheap.
const PROBE_MAX: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (max, rest) = choose_max(mode, rest);
    let decoder = FrameDecoder::new(max);
    let limit = max.unwrap_or(PROTOCOL_MAX);
    assert_eq!(decoder.max_frame_size(), limit);

    let mut buf = BytesMut::from(rest);
    loop {
        let before = buf.clone();
        match decoder.decode(&mut buf) {
            Ok(Decoded::Complete { value, consumed }) => {
                assert!(value.body.len() as u64 <= limit, "frame over the maximum");
                assert_eq!(before.len() - buf.len(), consumed);
                let Decoded::Complete {
                    value: header,
                    consumed: header_len,
                } = FrameHeader::decode(&before)
                else {
                    panic!("a complete frame has a complete header");
                };
                assert_eq!(header.size, value.body.len() as u64);
                assert_eq!((header.more, header.command), (value.more, value.command));
                assert_eq!(consumed, header_len + value.body.len());
                assert_eq!(value.body[..], before[header_len..consumed]);
                assert_eq!(buf[..], before[consumed..]);
            }
            Ok(Decoded::Incomplete { needed }) => {
                assert_eq!(buf, before, "Incomplete must leave the buffer untouched");
                assert!(needed >= 1);
                if needed - 1 <= PROBE_MAX {
                    let mut more = before.clone();
                    more.resize(before.len() + needed - 1, 0);
                    assert!(
                        matches!(decoder.decode(&mut more), Ok(Decoded::Incomplete { .. })),
                        "needed = {needed} was not a lower bound"
                    );
                }
                break;
            }
            Err(e) => {
                assert_eq!(buf, before, "a refused frame consumes nothing");
                assert!(e.size > e.max);
                assert!(e.max <= limit);
                break;
            }
        }
    }
});

/// Picks the maximum frame size from `mode` and the bytes after it.
fn choose_max(mode: u8, rest: &[u8]) -> (Option<u64>, &[u8]) {
    let width = match mode % 4 {
        0 => return (None, rest),
        1 => 1, // 0..=255: around the short/long header boundary
        2 => 2, // up to 64 KiB
        _ => 8, // anything, including above the protocol's own limit
    };
    if rest.len() < width {
        return (None, rest);
    }
    let (raw, rest) = rest.split_at(width);
    let max = raw.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    (Some(max), rest)
}
