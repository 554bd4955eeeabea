//! A C program compiled with the system's `cc` against `include/zmq.h`
//! and the cdylib (`libzmq.so`, SONAME `libzmq.so.5`) runs the basic
//! patterns end to end: the header's numbers and layouts agree with the
//! library's.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the cdylib into the target directory this test runs from
/// (`cargo test` builds only the rlib; cargo does nothing if it is
/// current and waits for the directory's lock if another build holds it).
fn build_cdylib(profile_dir: &Path) {
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
}

#[test]
fn c_program_runs_against_the_header_and_cdylib() {
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
    let library = profile_dir.join("libzmq.so");
    assert!(library.exists(), "{} was not built", library.display());
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    // The program records the SONAME, `libzmq.so.5`: the loader finds it
    // through a link next to nothing else of the system's.
    let lib_dir = out_dir.join("libzmq-lib");
    std::fs::create_dir_all(&lib_dir).unwrap();
    let soname = lib_dir.join("libzmq.so.5");
    let _ = std::fs::remove_file(&soname);
    std::os::unix::fs::symlink(&library, &soname).unwrap();
    let program = out_dir.join("zmq_abi_demo");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let compiled = Command::new(&cc)
        .args([
            "-std=gnu11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-O1",
            "-pthread",
            "-o",
        ])
        .arg(&program)
        .arg(crate_dir.join("tests/c/abi_demo.c"))
        .arg("-I")
        .arg(crate_dir.join("include"))
        .arg("-L")
        .arg(&profile_dir)
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .arg("-lzmq")
        .status()
        .expect("a C compiler (cc) is needed");
    assert!(compiled.success(), "cc failed");
    let run = Command::new(&program).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "C program failed: {stdout}{stderr}");
    assert!(stdout.starts_with("OK libzmq 4.3.5 ABI"), "{stdout}");
}
