//! Gives the cdylib libzmq's SONAME, `libzmq.so.5`, so programs linked
//! against it record the same dependency as with the real library.

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        // Only the cdylib: the rlib and staticlib have no SONAME, and the
        // test binaries must not get one.
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libzmq.so.5");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
