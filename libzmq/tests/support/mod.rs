//! What the tests that build C or C++ programs share: the cdylib built
//! into the test's own target directory and a directory holding only a
//! `libzmq.so.5` link to it, for the programs' rpath (so the loader never
//! picks the system's libzmq).

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The profile directory of the running test (`target/<profile>`).
pub fn profile_dir() -> PathBuf {
    // target/<profile>/deps/<test>-<hash> -> target/<profile>
    std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Builds the cdylib into `profile_dir` (`cargo test` builds only the
/// rlib; cargo does nothing if it is current and waits for the
/// directory's lock if another build holds it) and returns its path.
pub fn build_cdylib(profile_dir: &Path) -> PathBuf {
    let target_dir = profile_dir.parent().unwrap();
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "zmtp-libzmq",
            "--lib",
            "--profile",
        ])
        .arg(profile)
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the cdylib failed");
    let library = profile_dir.join("libzmq.so");
    assert!(library.exists(), "{} was not built", library.display());
    library
}

/// A directory under `out_dir` whose only entry is `libzmq.so.5` ->
/// `library`: programs record the SONAME and find it there.
pub fn soname_dir(out_dir: &Path, name: &str, library: &Path) -> PathBuf {
    let lib_dir = out_dir.join(name);
    std::fs::create_dir_all(&lib_dir).unwrap();
    let soname = lib_dir.join("libzmq.so.5");
    let _ = std::fs::remove_file(&soname);
    std::os::unix::fs::symlink(library, &soname).unwrap();
    lib_dir
}
