//! Fuzzes `Metadata::decode`, the property-list parser behind READY (and the
//! PLAIN and CURVE handshakes), which reads attacker-chosen 32-bit lengths.
//!
//! Parsing is strict (no stray or truncated bytes), so any list it accepts
//! must encode back to exactly the input: a byte-for-byte round trip, which
//! also pins `encoded_len`. Lookups and the `Socket-Type` parse run on every
//! accepted list to catch panics there too.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use zmtp::Metadata;

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    let Ok(metadata) = Metadata::decode(&body) else {
        return;
    };
    assert_eq!(metadata.encoded_len(), data.len());
    let mut out = BytesMut::new();
    metadata
        .encode(&mut out)
        .expect("a decoded list must be encodable");
    assert_eq!(&out[..], data, "round trip must be exact");
    assert_eq!(Metadata::decode(&out.freeze()), Ok(metadata.clone()));

    let _ = metadata.socket_type();
    let _ = metadata.identity();
    for property in metadata.iter() {
        if let Ok(name) = std::str::from_utf8(&property.name) {
            // The first property with this name, ignoring case, is found.
            assert!(metadata.get(name).is_some());
        }
    }
});
