//! Seals and opens N CURVE MESSAGE frames of one size, for instruction
//! counts under callgrind: `curve_cost SIZE COUNT`.
//!
//! ```text
//! valgrind --tool=callgrind target/release/examples/curve_cost 64 10000
//! ```
//!
//! Divide the instruction count (minus a run with COUNT 0) by COUNT for
//! the cost of one seal plus one open.

use bytes::BytesMut;
use zmtp::mechanism::curve::CurveCipher;
use zmtp::{Cipher, CurveSecretKey, Frame, FrameHeader};

fn main() {
    let mut args = std::env::args().skip(1);
    let size: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let client_secret = CurveSecretKey::from_bytes([1; 32]);
    let server_secret = CurveSecretKey::from_bytes([2; 32]);
    let mut client = CurveCipher::for_client(&client_secret, &server_secret.public_key());
    let mut server = CurveCipher::for_server(&server_secret, &client_secret.public_key());
    let body = vec![0x5a; size];
    let mut out = BytesMut::with_capacity(2 * (size + 64));
    let mut total = 0usize;
    for _ in 0..count {
        out.clear();
        client.seal(false, false, &body, &mut out).expect("seal");
        let wire = out.split().freeze();
        let len = wire.len();
        let header = if len - 2 <= 255 { 2 } else { 9 };
        debug_assert_eq!(FrameHeader::encoded_len(len - header), header);
        let frame = Frame {
            more: false,
            command: false,
            body: wire.slice(header..),
        };
        let opened = server.open(frame).expect("open");
        total += opened.body.len();
    }
    println!("{total}");
}
