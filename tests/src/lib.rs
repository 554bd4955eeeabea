//! Support code for the whole-system tests in `tests/tests/`.
//!
//! The interop suite runs real libzmq peers through pyzmq in child
//! processes. [`python_with_pyzmq`] finds an interpreter that has it; when
//! `ZMTP_REQUIRE_PYZMQ=1` (as in CI) a missing pyzmq is a test failure,
//! never a skip.

use std::process::Command;

/// The Python interpreter to run pyzmq peers with (`ZMTP_PYTHON`, else
/// `python3`), if it can import `zmq`.
pub fn python_with_pyzmq() -> Option<String> {
    let python = std::env::var("ZMTP_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import zmq"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    ok.then_some(python)
}

/// Whether the environment demands pyzmq (CI sets `ZMTP_REQUIRE_PYZMQ=1`).
pub fn pyzmq_required() -> bool {
    std::env::var("ZMTP_REQUIRE_PYZMQ").is_ok_and(|v| v == "1")
}
