//! The functions of libzmq's stable ABI that later increments build. Each
//! is exported, so programs link, and fails loudly: -1 (or NULL) with
//! ENOTSUP. `docs/libzmq.md` tracks them.

use std::ffi::{c_int, c_long, c_void};

use crate::boundary::{call, call_ptr};
use crate::errno::Errno;

/// libzmq's `zmq_timer_fn`.
pub type TimerFn = unsafe extern "C" fn(timer_id: c_int, arg: *mut c_void);

fn not_yet() -> c_int {
    call(|| Err(Errno::NOTSUP))
}

/// `zmq_timers_new`: not yet (NULL, ENOTSUP).
#[unsafe(no_mangle)]
pub extern "C" fn zmq_timers_new() -> *mut c_void {
    call_ptr(|| Err(Errno::NOTSUP))
}

/// `zmq_timers_destroy`: not yet (ENOTSUP).
#[unsafe(no_mangle)]
pub extern "C" fn zmq_timers_destroy(_timers_p: *mut *mut c_void) -> c_int {
    not_yet()
}

/// `zmq_timers_add`: not yet (ENOTSUP).
#[unsafe(no_mangle)]
pub extern "C" fn zmq_timers_add(
    _timers: *mut c_void,
    _interval: usize,
    _handler: Option<TimerFn>,
    _arg: *mut c_void,
) -> c_int {
    not_yet()
}

/// `zmq_timers_cancel`: not yet (ENOTSUP).
#[unsafe(no_mangle)]
pub extern "C" fn zmq_timers_cancel(_timers: *mut c_void, _timer_id: c_int) -> c_int {
    not_yet()
}

/// `zmq_timers_set_interval`: not yet (ENOTSUP).
#[unsafe(no_mangle)]
pub extern "C" fn zmq_timers_set_interval(
    _timers: *mut c_void,
    _timer_id: c_int,
    _interval: usize,
) -> c_int {
    not_yet()
}

/// `zmq_timers_reset`: not yet (ENOTSUP).
#[unsafe(no_mangle)]
pub extern "C" fn zmq_timers_reset(_timers: *mut c_void, _timer_id: c_int) -> c_int {
    not_yet()
}

/// `zmq_timers_timeout`: not yet (-1, ENOTSUP).
#[unsafe(no_mangle)]
pub extern "C" fn zmq_timers_timeout(_timers: *mut c_void) -> c_long {
    c_long::from(not_yet())
}

/// `zmq_timers_execute`: not yet (ENOTSUP).
#[unsafe(no_mangle)]
pub extern "C" fn zmq_timers_execute(_timers: *mut c_void) -> c_int {
    not_yet()
}
