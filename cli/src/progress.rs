//! A progress bar on stderr for long benchmark runs, with no dependency.
//!
//! It draws only when stderr is a terminal (so logs and tests never see
//! it) and only once a run has lasted a second, redraws four times a
//! second, and erases itself when the run ends. The counter is an atomic
//! the hot loop bumps; the drawing happens in its own task.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;

/// A running progress display; [`Progress::finish`] erases it.
pub struct Progress {
    done: Arc<AtomicU64>,
    drawer: Option<JoinHandle<()>>,
}

const WIDTH: u64 = 40;

impl Progress {
    /// Starts counting towards `total` items, drawing `label` and a bar if
    /// stderr is a terminal (a `total` of 0 never draws).
    pub fn start(label: &'static str, total: u64) -> Self {
        let done = Arc::new(AtomicU64::new(0));
        let drawer = (total > 0 && std::io::stderr().is_terminal()).then(|| {
            let done = done.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let mut tick = tokio::time::interval(Duration::from_millis(250));
                loop {
                    tick.tick().await;
                    draw(label, done.load(Ordering::Relaxed), total);
                }
            })
        });
        Progress { done, drawer }
    }

    /// Adds `n` finished items.
    #[inline]
    pub fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Stops drawing and erases the bar.
    pub fn finish(self) {
        if let Some(drawer) = self.drawer {
            drawer.abort();
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

fn draw(label: &str, done: u64, total: u64) {
    let total = total.max(1);
    let filled = (done.min(total) * WIDTH / total) as usize;
    let bar = format!(
        "{}{}",
        "#".repeat(filled),
        "-".repeat(WIDTH as usize - filled)
    );
    let percent = done.min(total) * 100 / total;
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r{label} [{bar}] {percent:3}% {done}/{total}");
    let _ = err.flush();
}
