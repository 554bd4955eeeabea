//! A C program compiled with the system's `cc` against `include/zmq.h`
//! and the cdylib (`libzmq.so`, SONAME `libzmq.so.5`) runs the basic
//! patterns end to end: the header's numbers and layouts agree with the
//! library's.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

mod support;

#[test]
fn c_program_runs_against_the_header_and_cdylib() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let profile_dir = support::profile_dir();
    let library = support::build_cdylib(&profile_dir);
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    // The program records the SONAME, `libzmq.so.5`: the loader finds it
    // through a link next to nothing else of the system's.
    let lib_dir = support::soname_dir(&out_dir, "libzmq-lib", &library);
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
