//! libzmq's atomic counters (`zmq_atomic_counter_*`): an `int` shared
//! between threads, behind an opaque pointer.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicI32, Ordering};

use crate::boundary::{call, call_ptr, call_void};
use crate::errno::Errno;
use crate::handle::{self, tags};

/// The counter behind `counter`, EFAULT if not one.
///
/// # Safety
/// `counter` is NULL or from `zmq_atomic_counter_new`, not destroyed.
unsafe fn counter<'a>(counter: *mut c_void) -> Result<&'a AtomicI32, Errno> {
    // SAFETY: forwarded contract.
    unsafe { handle::borrow::<AtomicI32>(counter, tags::COUNTER, Errno::FAULT) }
}

/// `zmq_atomic_counter_new`: a counter at 0.
#[unsafe(no_mangle)]
pub extern "C" fn zmq_atomic_counter_new() -> *mut c_void {
    call_ptr(|| Ok(handle::into_raw(tags::COUNTER, AtomicI32::new(0))))
}

/// `zmq_atomic_counter_set`.
///
/// # Safety
/// `counter` is NULL or a live counter.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_atomic_counter_set(c: *mut c_void, value: c_int) {
    call_void(|| {
        // SAFETY: caller's contract.
        if let Ok(c) = unsafe { counter(c) } {
            c.store(value, Ordering::SeqCst);
        }
    });
}

/// `zmq_atomic_counter_inc`: adds one, returns the value before.
///
/// # Safety
/// `counter` is NULL or a live counter.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_atomic_counter_inc(c: *mut c_void) -> c_int {
    // SAFETY: caller's contract.
    call(|| Ok(unsafe { counter(c) }?.fetch_add(1, Ordering::SeqCst)))
}

/// `zmq_atomic_counter_dec`: subtracts one; returns 1 if the counter is
/// still above zero, else 0 (libzmq's meaning).
///
/// # Safety
/// `counter` is NULL or a live counter.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_atomic_counter_dec(c: *mut c_void) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        let before = unsafe { counter(c) }?.fetch_sub(1, Ordering::SeqCst);
        Ok(c_int::from(before - 1 > 0))
    })
}

/// `zmq_atomic_counter_value`.
///
/// # Safety
/// `counter` is NULL or a live counter.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_atomic_counter_value(c: *mut c_void) -> c_int {
    // SAFETY: caller's contract.
    call(|| Ok(unsafe { counter(c) }?.load(Ordering::SeqCst)))
}

/// `zmq_atomic_counter_destroy`: frees `*counter_p` and sets it to NULL.
///
/// # Safety
/// `counter_p` is NULL or points to NULL or a live counter.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_atomic_counter_destroy(counter_p: *mut *mut c_void) {
    call_void(|| {
        if counter_p.is_null() {
            return;
        }
        // SAFETY: valid for reads and writes (contract); the counter is
        // given up with this call.
        unsafe {
            let _ = handle::from_raw::<AtomicI32>(*counter_p, tags::COUNTER, Errno::FAULT);
            *counter_p = std::ptr::null_mut();
        }
    });
}
