//! A C program compiled with the system's `cc` uses the bridge through its
//! C ABI (`include/serializer_bridge.h`, the cdylib) end to end: chunks in
//! order, their DELIVERED events, and the HANDED_BACK events of the chunks
//! still owed when the manager stops; and groups (`tests/c/group_demo.c`).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the cdylib into the target directory this test runs from:
/// `cargo test` builds only the rlib, and a fresh checkout has no
/// `libserializer_bridge.so` (or a stale one) until something runs
/// `cargo build`. Cargo waits for the build directory's lock if another
/// build holds it, and does nothing if the library is current.
fn build_cdylib(profile_dir: &Path) {
    let target_dir = profile_dir.parent().unwrap();
    // Cargo names the dev profile's directory `debug`.
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
            "serializer-bridge",
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
}

/// Builds the library, compiles `tests/c/<name>.c` against it and runs
/// it; its standard output.
fn run_c_program(name: &str) -> String {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // target/<profile>/deps/c_abi-<hash> -> target/<profile>
    let profile_dir = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    build_cdylib(&profile_dir);
    let library = profile_dir.join("libserializer_bridge.so");
    assert!(library.exists(), "{} was not built", library.display());
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let program = out_dir.join(name);
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let compiled = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-o"])
        .arg(&program)
        .arg(crate_dir.join(format!("tests/c/{name}.c")))
        .arg("-I")
        .arg(crate_dir.join("include"))
        .arg("-L")
        .arg(&profile_dir)
        .arg(format!("-Wl,-rpath,{}", profile_dir.display()))
        .arg("-lserializer_bridge")
        .status()
        .expect("a C compiler (cc) is needed");
    assert!(compiled.success(), "cc failed");
    let run = Command::new(&program).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "C program failed: {stdout}{stderr}");
    stdout.into_owned()
}

#[test]
fn c_program_exchanges_chunks_through_the_c_abi() {
    let stdout = run_c_program("bridge_demo");
    assert!(
        stdout.starts_with("OK 20000 chunks in order, 20000 delivered"),
        "{stdout}"
    );
    assert!(stdout.contains("300 more handed back on stop"), "{stdout}");
}

#[test]
fn c_program_writes_to_a_group_through_the_c_abi() {
    let stdout = run_c_program("group_demo");
    assert!(
        stdout.starts_with("OK 2000 group chunks to 2 members in order, 2000 delivered"),
        "{stdout}"
    );
    assert!(stdout.contains("50 handed back on stop"), "{stdout}");
}
