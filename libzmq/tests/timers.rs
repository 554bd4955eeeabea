//! `zmq_timers_*` through the C ABI, as libzmq 4.3 behaves: handlers run on
//! the caller's thread from `zmq_timers_execute`, `timeout` is -1 with no
//! timer, cancelled and unknown ids are EINVAL, bad pointers EFAULT, and a
//! handler may cancel timers of its own set.
//!
//! No assertion depends on speed: waits are upper-bounded by the timers'
//! own deadlines and only "not before" is checked.

#![allow(unsafe_code, clippy::unwrap_used)]

use std::ffi::{c_int, c_void};
use std::ptr;
use std::time::{Duration, Instant};

use zmq::errno::zmq_errno;
use zmq::timers::*;

unsafe extern "C" fn count(_id: c_int, arg: *mut c_void) {
    // SAFETY: every test passes a live `Vec<c_int>` as the argument.
    let fired = unsafe { &mut *arg.cast::<Vec<c_int>>() };
    fired.push(_id);
}

/// Cancels timer 2 of the set in `arg` (a `*mut c_void` timer set).
unsafe extern "C" fn cancel_two(_id: c_int, arg: *mut c_void) {
    // SAFETY: the test passes a pointer to its set's pointer.
    let set = unsafe { *arg.cast::<*mut c_void>() };
    // SAFETY: the set is live while its timers run.
    assert_eq!(unsafe { zmq_timers_cancel(set, 2) }, 0);
}

/// Sleeps until the set's next timer is due (bounded by `limit`).
fn sleep_until_due(set: *mut c_void, limit: Duration) {
    let started = Instant::now();
    loop {
        // SAFETY: a live set.
        let ms = unsafe { zmq_timers_timeout(set) };
        if ms <= 0 || started.elapsed() > limit {
            return;
        }
        std::thread::sleep(Duration::from_millis(u64::try_from(ms).unwrap()));
    }
}

#[test]
fn timers_fire_repeat_and_cancel() {
    let mut fired: Vec<c_int> = Vec::new();
    let arg = ptr::from_mut(&mut fired).cast::<c_void>();
    let mut set = zmq_timers_new();
    assert!(!set.is_null());
    // SAFETY: a live set; `fired` outlives it.
    unsafe {
        assert_eq!(zmq_timers_timeout(set), -1);
        assert_eq!(zmq_timers_execute(set), 0);
        let started = Instant::now();
        let fast = zmq_timers_add(set, 20, Some(count), arg);
        let slow = zmq_timers_add(set, 100_000, Some(count), arg);
        assert_eq!((fast, slow), (1, 2));
        let timeout = zmq_timers_timeout(set);
        assert!((0..=20).contains(&timeout), "{timeout}");
        // Not due yet (unless the machine stalled 20 ms: then it is).
        zmq_timers_execute(set);
        if started.elapsed() < Duration::from_millis(20) {
            assert!(fired.is_empty());
        }
        sleep_until_due(set, Duration::from_secs(30));
        assert_eq!(zmq_timers_execute(set), 0);
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert!(fired.contains(&fast) && !fired.contains(&slow), "{fired:?}");
        // It repeats.
        let before = fired.len();
        sleep_until_due(set, Duration::from_secs(30));
        zmq_timers_execute(set);
        assert!(fired.len() > before);
        // Cancel: once, then EINVAL; unknown ids EINVAL.
        assert_eq!(zmq_timers_cancel(set, fast), 0);
        assert_eq!(zmq_timers_cancel(set, fast), -1);
        assert_eq!(zmq_errno(), libc::EINVAL);
        assert_eq!(zmq_timers_cancel(set, 42), -1);
        assert_eq!(zmq_errno(), libc::EINVAL);
        assert_eq!(zmq_timers_set_interval(set, 42, 5), -1);
        assert_eq!(zmq_errno(), libc::EINVAL);
        assert_eq!(zmq_timers_reset(set, 42), -1);
        assert_eq!(zmq_errno(), libc::EINVAL);
        // Only the slow one is left.
        let timeout = zmq_timers_timeout(set);
        assert!(timeout > 1000, "{timeout}");
        // set_interval brings it close; reset keeps the new interval.
        assert_eq!(zmq_timers_set_interval(set, slow, 10), 0);
        assert!(zmq_timers_timeout(set) <= 10);
        assert_eq!(zmq_timers_reset(set, slow), 0);
        let count_before = fired.iter().filter(|&&id| id == slow).count();
        sleep_until_due(set, Duration::from_secs(30));
        zmq_timers_execute(set);
        assert_eq!(
            fired.iter().filter(|&&id| id == slow).count(),
            count_before + 1
        );
        assert_eq!(zmq_timers_destroy(&mut set), 0);
        assert!(set.is_null());
    }
}

#[test]
fn handlers_may_cancel_timers_of_their_set() {
    let mut set = zmq_timers_new();
    let mut fired: Vec<c_int> = Vec::new();
    let set_arg = ptr::from_mut(&mut set).cast::<c_void>();
    let fired_arg = ptr::from_mut(&mut fired).cast::<c_void>();
    // SAFETY: a live set; `set` and `fired` outlive its timers.
    unsafe {
        // Timer 1 (due first) cancels timer 2, due in the same round.
        assert_eq!(zmq_timers_add(set, 0, Some(cancel_two), set_arg), 1);
        assert_eq!(zmq_timers_add(set, 1, Some(count), fired_arg), 2);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(zmq_timers_execute(set), 0);
        assert!(fired.is_empty(), "{fired:?}");
        assert_eq!(zmq_timers_cancel(set, 1), 0);
        assert_eq!(zmq_timers_timeout(set), -1);
        assert_eq!(zmq_timers_destroy(&mut set), 0);
    }
}

#[test]
fn bad_arguments() {
    let mut set = zmq_timers_new();
    // SAFETY: NULL and a live set; a NULL handler is refused.
    unsafe {
        assert_eq!(zmq_timers_add(set, 10, None, ptr::null_mut()), -1);
        assert_eq!(zmq_errno(), libc::EFAULT);
        assert_eq!(
            zmq_timers_add(ptr::null_mut(), 10, Some(count), ptr::null_mut()),
            -1
        );
        assert_eq!(zmq_errno(), libc::EFAULT);
        assert_eq!(zmq_timers_timeout(ptr::null_mut()), -1);
        assert_eq!(zmq_errno(), libc::EFAULT);
        assert_eq!(zmq_timers_execute(ptr::null_mut()), -1);
        assert_eq!(zmq_timers_cancel(ptr::null_mut(), 1), -1);
        assert_eq!(zmq_timers_set_interval(ptr::null_mut(), 1, 1), -1);
        assert_eq!(zmq_timers_reset(ptr::null_mut(), 1), -1);
        assert_eq!(zmq_errno(), libc::EFAULT);
        assert_eq!(zmq_timers_destroy(&mut set), 0);
        // Destroying twice: the pointer is NULL now.
        assert_eq!(zmq_timers_destroy(&mut set), -1);
        assert_eq!(zmq_errno(), libc::EFAULT);
        assert_eq!(zmq_timers_destroy(ptr::null_mut()), -1);
    }
}
