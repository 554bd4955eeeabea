//! The demo's output: timestamped lines on stdout, shared by the driver
//! and every node thread (its own file so that nodes need nothing else of
//! the driver).

use std::io::Write;
use std::time::Instant;

/// Timestamped lines on stdout, shared by every node thread. Output that
/// cannot be written (a closed pipe) is dropped; the demo runs on.
#[derive(Debug, Clone)]
pub struct Log {
    start: Instant,
}

impl Log {
    /// A log whose times count from now.
    pub fn starting_now() -> Self {
        Log {
            start: Instant::now(),
        }
    }

    /// When the run started: the zero of every timestamp.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Prints `[  t.ts] text` and flushes.
    pub fn line(&self, text: &str) {
        let t = self.start.elapsed().as_secs_f64();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "[{t:6.2}s] {text}");
        let _ = out.flush();
    }

    /// Prints `text` as it is.
    pub fn plain(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}
