//! Zeek's ZeroMQ cluster backend, as a C++ program using cppzmq exactly as
//! Zeek does (`tests/cpp/zeek_cluster.cpp`), built with `g++` against
//! `include/zmq.h` and cppzmq's headers and run unchanged on the drop-in:
//! the steerable XPUB/XSUB forwarder with XPUB_VERBOSER, NODROP and
//! STATISTICS, nodes' XSUB and XPUB, subscriptions as 0x01/0x00 frames, a
//! node going down seen as an unsubscription, PUSH/PULL logs with
//! IMMEDIATE, the inproc PAIR bridge and `zmq_poll(-1)`, monitors on inproc
//! PAIRs, and CURVE with ZAP handler threads.
//!
//! cppzmq's headers come from Debian at test time (`apt-get download
//! cppzmq-dev`, unpacked with `dpkg -x` into the target directory; never
//! installed, since the package depends on the real libzmq). Without
//! `apt-get` or the package the test is skipped, unless
//! `ZMTP_REQUIRE_CPPZMQ=1` (CI sets it): then it fails.
//!
//! The program prints one line per check. Checks that depend on
//! `ZMQ_XPUB_VERBOSER` are named `verboser: ...` and asserted by their own
//! test, so a failure says which behaviour is missing.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod support;

/// What one run of the program printed, or why there was none.
enum Run {
    /// The program ran: its stdout and stderr.
    Ran { stdout: String, stderr: String },
    /// cppzmq's headers could not be had (and CI does not demand them).
    Skipped(String),
}

/// The directory holding `usr/include/zmq.hpp` from Debian's cppzmq-dev,
/// fetched once into `dir`.
fn cppzmq_headers(dir: &Path) -> Result<PathBuf, String> {
    let include = dir.join("usr/include");
    if include.join("zmq.hpp").exists() && include.join("zmq_addon.hpp").exists() {
        return Ok(include);
    }
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let download = Command::new("apt-get")
        .args(["download", "cppzmq-dev"])
        .current_dir(dir)
        .output()
        .map_err(|e| format!("apt-get: {e}"))?;
    if !download.status.success() {
        return Err(format!(
            "apt-get download cppzmq-dev failed: {}",
            String::from_utf8_lossy(&download.stderr)
        ));
    }
    let deb = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or("no .deb after apt-get download")?;
    let unpacked = Command::new("dpkg")
        .arg("-x")
        .arg(&deb)
        .arg(dir)
        .status()
        .map_err(|e| format!("dpkg: {e}"))?;
    if !unpacked.success() || !include.join("zmq.hpp").exists() {
        return Err(format!("dpkg -x {} gave no zmq.hpp", deb.display()));
    }
    Ok(include)
}

/// Runs `program` to its end, killing it after `limit`.
fn run_with_limit(program: &Path, limit: Duration) -> (bool, String, String) {
    let mut child = Command::new(program)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut timed_out = false;
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            timed_out = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let mut stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if timed_out {
        stderr.push_str(&format!("\n(killed after {limit:?})"));
    }
    let ok = out.status.success() && !timed_out;
    (
        ok,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

/// Builds and runs the program once for both tests.
fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let cppzmq = match cppzmq_headers(&out_dir.join("cppzmq-dev")) {
            Ok(dir) => dir,
            Err(why) => {
                assert!(
                    std::env::var("ZMTP_REQUIRE_CPPZMQ").as_deref() != Ok("1"),
                    "cppzmq's headers are required (ZMTP_REQUIRE_CPPZMQ=1): {why}"
                );
                return Run::Skipped(why);
            }
        };
        let profile_dir = support::profile_dir();
        let library = support::build_cdylib(&profile_dir);
        let lib_dir = support::soname_dir(&out_dir, "libzmq-lib-cpp", &library);
        let program = out_dir.join("zeek_cluster");
        let cxx = std::env::var("CXX").unwrap_or_else(|_| "g++".into());
        // Our zmq.h comes first: cppzmq's `#include <zmq.h>` finds it
        // before any system copy.
        let compiled = Command::new(&cxx)
            .args([
                "-std=c++17",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-O1",
                "-pthread",
            ])
            .arg("-I")
            .arg(crate_dir.join("include"))
            .arg("-I")
            .arg(&cppzmq)
            .arg("-o")
            .arg(&program)
            .arg(crate_dir.join("tests/cpp/zeek_cluster.cpp"))
            .arg("-L")
            .arg(&profile_dir)
            .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
            .arg("-lzmq")
            .output()
            .expect("a C++ compiler (g++) is needed");
        assert!(
            compiled.status.success(),
            "g++ failed:\n{}",
            String::from_utf8_lossy(&compiled.stderr)
        );
        let (_, stdout, stderr) = run_with_limit(&program, Duration::from_secs(600));
        Run::Ran { stdout, stderr }
    })
}

/// The program's failed checks, split into those that need VERBOSER and
/// the rest; panics if the program did not run on the drop-in or did not
/// finish.
fn failures(stdout: &str, stderr: &str) -> (Vec<String>, Vec<String>) {
    let first = stdout.lines().next().unwrap_or_default();
    let ours = support::profile_dir().join("libzmq.so");
    assert!(
        first.starts_with(&format!("libzmq {}", ours.display())) && first.ends_with("header 4.3.5"),
        "not the drop-in and its header: {first:?}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("OK:") || l.starts_with("FAILED:")),
        "the program did not finish:\n{stdout}\n{stderr}"
    );
    let failed: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("FAIL "))
        .map(str::to_owned)
        .collect();
    failed.into_iter().partition(|l| l.starts_with("verboser:"))
}

#[test]
fn zeeks_cppzmq_backend_runs_on_the_drop_in() {
    let (stdout, stderr) = match run() {
        Run::Ran { stdout, stderr } => (stdout, stderr),
        Run::Skipped(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let (_, others) = failures(stdout, stderr);
    assert!(others.is_empty(), "failed: {others:#?}\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("ok proxy_steerable ended with ETERM"),
        "{stdout}"
    );
}

/// The checks that need `ZMQ_XPUB_VERBOSER` on the forwarder (Zeek's
/// removal of a topic several nodes held). On libzmq 4.3 they fail without
/// VERBOSER; on the drop-in they also need a node's XPUB to keep one
/// peer's repeated subscriptions as one, as libzmq does (`docs/libzmq.md`,
/// "Zeek's backend through cppzmq").
#[test]
fn zeeks_node_down_checks_that_need_xpub_verboser() {
    let (stdout, stderr) = match run() {
        Run::Ran { stdout, stderr } => (stdout, stderr),
        Run::Skipped(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let (verboser, _) = failures(stdout, stderr);
    assert!(
        verboser.is_empty(),
        "failed: {verboser:#?}\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("ok verboser:"), "{stdout}");
}
