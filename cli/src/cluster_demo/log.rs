//! The demo's output: timestamped lines on stdout, shared by the driver
//! and every node thread (its own file so that nodes need nothing else of
//! the driver).
//!
//! In a node process (`--processes`) stdout is the pipe to the parent, so
//! a line goes out as a `log` line of the [`lines`](super::lines) format
//! and the parent stamps and prints it.

use std::io::Write;
use std::time::Instant;

use super::lines;

/// Timestamped lines on stdout, shared by every node thread. Output that
/// cannot be written (a closed pipe) is dropped; the demo runs on.
#[derive(Debug, Clone)]
pub struct Log {
    start: Instant,
    to_parent: bool,
}

impl Log {
    /// A log whose times count from now.
    pub fn starting_now() -> Self {
        Log {
            start: Instant::now(),
            to_parent: false,
        }
    }

    /// The log of a node process: every line goes to the parent, which
    /// stamps it with its own clock.
    pub fn to_parent() -> Self {
        Log {
            start: Instant::now(),
            to_parent: true,
        }
    }

    /// When the run started: the zero of every timestamp.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Prints `[  t.ts] text` and flushes.
    pub fn line(&self, text: &str) {
        if self.to_parent {
            lines::emit(&lines::FromNode::Log(text.to_owned()));
            return;
        }
        let t = self.start.elapsed().as_secs_f64();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "[{t:6.2}s] {text}");
        let _ = out.flush();
    }

    /// Prints `text` as it is.
    pub fn plain(&self, text: &str) {
        if self.to_parent {
            lines::emit(&lines::FromNode::Log(text.to_owned()));
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}
