//! The committed C header is exactly what cbindgen makes of `src/ffi.rs`.
//! Run with `ZB_UPDATE_HEADER=1` to rewrite it after changing the ABI.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

#[test]
fn header_is_current() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen parses src/ffi.rs")
        .write(&mut generated);
    let path = crate_dir.join("include").join("serializer_bridge.h");
    if std::env::var("ZB_UPDATE_HEADER").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/serializer_bridge.h is stale: run `ZB_UPDATE_HEADER=1 cargo test -p serializer-bridge --test header`"
    );
}
