//! Fuzzes `Command::decode`, which parses every command frame a peer sends
//! after the handshake (READY, ERROR, PING, PONG, SUBSCRIBE, CANCEL, unknown).
//!
//! Every command it accepts must survive `encode_body` and decode to the same
//! value; since each layout is fully determined by its fields, the body bytes
//! must also come back unchanged, and `body_len` must be their length. The
//! whole-frame `encode` is checked to wrap that same body.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use zmtp::{Command, Decoded, FrameDecoder};

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    let Ok(command) = Command::decode(&body) else {
        return;
    };
    let mut out = BytesMut::new();
    command
        .encode_body(&mut out)
        .expect("a decoded command must be encodable");
    assert_eq!(out.len(), command.body_len());
    assert_eq!(&out[..], data, "body must round-trip byte for byte");
    assert_eq!(Command::decode(&out.freeze()), Ok(command.clone()));

    let mut frame = BytesMut::new();
    command
        .encode(&mut frame)
        .expect("a decoded command must be encodable as a frame");
    let Ok(Decoded::Complete { value, .. }) = FrameDecoder::default().decode(&mut frame) else {
        panic!("an encoded command must be one whole frame");
    };
    assert!(value.command && !value.more && frame.is_empty());
    assert_eq!(&value.body[..], data);
});
