//! Stopwatches (`zmq_stopwatch_*`), and `zmq_sleep`.

use std::ffi::{c_int, c_ulong, c_void};
use std::time::Instant;

use crate::boundary::{call_ptr, call_void};
use crate::errno::Errno;
use crate::handle::{self, tags};

fn micros(started: &Instant) -> c_ulong {
    c_ulong::try_from(started.elapsed().as_micros()).unwrap_or(c_ulong::MAX)
}

/// `zmq_stopwatch_start`: a running stopwatch.
#[unsafe(no_mangle)]
pub extern "C" fn zmq_stopwatch_start() -> *mut c_void {
    call_ptr(|| Ok(handle::into_raw(tags::STOPWATCH, Instant::now())))
}

/// `zmq_stopwatch_intermediate`: microseconds since the start (0 for an
/// invalid pointer).
///
/// # Safety
/// `watch` is NULL or a running stopwatch.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_stopwatch_intermediate(watch: *mut c_void) -> c_ulong {
    // SAFETY: caller's contract.
    match unsafe { handle::borrow::<Instant>(watch, tags::STOPWATCH, Errno::FAULT) } {
        Ok(started) => micros(started),
        Err(_) => 0,
    }
}

/// `zmq_stopwatch_stop`: microseconds since the start; frees the watch.
///
/// # Safety
/// `watch` is NULL or a running stopwatch; dangling afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_stopwatch_stop(watch: *mut c_void) -> c_ulong {
    // SAFETY: caller's contract, which gives the watch up.
    match unsafe { handle::from_raw::<Instant>(watch, tags::STOPWATCH, Errno::FAULT) } {
        Ok(started) => micros(&started),
        Err(_) => 0,
    }
}

/// `zmq_sleep`: sleeps `seconds` seconds.
#[unsafe(no_mangle)]
pub extern "C" fn zmq_sleep(seconds: c_int) {
    call_void(|| {
        let secs = u64::try_from(seconds).unwrap_or(0);
        std::thread::sleep(std::time::Duration::from_secs(secs));
    });
}
