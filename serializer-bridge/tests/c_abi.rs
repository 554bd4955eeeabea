//! A C program compiled with the system's `cc` uses the bridge through its
//! C ABI (`include/serializer_bridge.h`, the cdylib) end to end.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

#[test]
fn c_program_exchanges_chunks_through_the_c_abi() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // target/<profile>/deps/c_abi-<hash> -> target/<profile>
    let profile_dir = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let library = profile_dir.join("libserializer_bridge.so");
    // `cargo test` does not rebuild the cdylib; scripts/test-all.sh runs
    // `cargo build` first. Refuse to test a stale library.
    let rebuild = "run `cargo build -p serializer-bridge` first (scripts/test-all.sh does)";
    let built = std::fs::metadata(&library)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: {rebuild}", library.display()));
    for source in std::fs::read_dir(crate_dir.join("src")).unwrap() {
        let modified = source.unwrap().metadata().unwrap().modified().unwrap();
        assert!(
            modified <= built,
            "{} is older than the sources: {rebuild}",
            library.display()
        );
    }
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let program = out_dir.join("bridge_demo");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let compiled = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-o"])
        .arg(&program)
        .arg(crate_dir.join("tests/c/bridge_demo.c"))
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
    assert!(stdout.starts_with("OK 20000 chunks in order"), "{stdout}");
}
