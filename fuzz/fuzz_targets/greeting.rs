//! Fuzzes `Greeting::decode`, the first thing a connection runs on bytes from
//! an unauthenticated peer.
//!
//! Besides "never panics", it checks the streaming contract: a prefix of the
//! greeting is `Incomplete` with the exact number of missing bytes, and a
//! complete greeting re-encodes to bytes that decode to the same value. Only
//! the fields we keep must agree byte for byte: the padding, the signature end
//! (only bit 0 is checked) and the filler are ignored on receive by design.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use zmtp::{Decoded, Greeting};

const GREETING_LEN: usize = 64;

fuzz_target!(|data: &[u8]| {
    match Greeting::decode(data) {
        Err(_) => {
            // Refusal must come from the bytes seen, so more input cannot
            // make it acceptable again.
            let mut longer = data.to_vec();
            longer.resize(GREETING_LEN.max(data.len()), 0xff);
            assert!(Greeting::decode(&longer).is_err());
        }
        Ok(Decoded::Incomplete { needed }) => {
            assert!(data.len() < GREETING_LEN);
            assert_eq!(needed, GREETING_LEN - data.len());
        }
        Ok(Decoded::Complete { value, consumed }) => {
            assert_eq!(consumed, GREETING_LEN);
            // Every prefix of an acceptable greeting is a valid prefix.
            for len in 0..GREETING_LEN {
                assert_eq!(
                    Greeting::decode(&data[..len]),
                    Ok(Decoded::Incomplete {
                        needed: GREETING_LEN - len
                    })
                );
            }
            let mut wire = BytesMut::new();
            value.encode(&mut wire);
            assert_eq!(wire.len(), GREETING_LEN);
            assert_eq!(
                Greeting::decode(&wire),
                Ok(Decoded::Complete {
                    value,
                    consumed: GREETING_LEN
                })
            );
            // Version, mechanism and as-server byte (when 0 or 1) are kept
            // verbatim; the rest is normalised.
            assert_eq!(wire[10..32], data[10..32]);
            assert_eq!(wire[32], u8::from(data[32] != 0));
        }
    }
});
