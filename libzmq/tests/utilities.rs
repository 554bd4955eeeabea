//! Message ownership and the small utilities through the C ABI: copy,
//! move and SHARED; writable `init_size` data; free callbacks that send on
//! another socket; linger honoured by `zmq_ctx_term`; atomic counters,
//! stopwatches and threads.

#![allow(unsafe_code, clippy::unwrap_used)]

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use zmq::atomic_counter::*;
use zmq::ctx_api::*;
use zmq::msg_api::*;
use zmq::socket_api::*;
use zmq::stopwatch::*;
use zmq::thread::*;
use zmq::zmq_msg_t;

const PULL: c_int = 7;
const PUSH: c_int = 8;
const LINGER: c_int = 17;
const SHARED: c_int = 3;
const SRCFD: c_int = 2;

fn new_msg() -> zmq_msg_t {
    // SAFETY: plain bytes; zmq_msg_init* overwrite them.
    unsafe { std::mem::zeroed() }
}

#[test]
fn copies_share_and_moves_empty_the_source() {
    let (mut a, mut b, mut c) = (new_msg(), new_msg(), new_msg());
    // SAFETY: our own messages, initialised before use.
    unsafe {
        assert_eq!(zmq_msg_init_size(&mut a, 3), 0);
        let data = zmq_msg_data(&mut a).cast::<u8>();
        data.copy_from_nonoverlapping(b"abc".as_ptr(), 3);
        assert_eq!(zmq_msg_get(&a, SHARED), 0);
        zmq_msg_init(&mut b);
        assert_eq!(zmq_msg_copy(&mut b, &mut a), 0);
        assert_eq!((zmq_msg_get(&a, SHARED), zmq_msg_get(&b, SHARED)), (1, 1));
        assert_eq!(zmq_msg_data(&mut b).cast::<u8>(), data);
        zmq_msg_init(&mut c);
        assert_eq!(zmq_msg_move(&mut c, &mut b), 0);
        assert_eq!((zmq_msg_size(&b), zmq_msg_size(&c)), (0, 3));
        assert_eq!(zmq_msg_get(&c, SRCFD), -1);
        assert_eq!(zmq_msg_set(&mut c, 1, 1), -1);
        for m in [&mut a, &mut b, &mut c] {
            assert_eq!(zmq_msg_close(m), 0);
        }
        // Closed messages are refused, not read.
        assert_eq!(zmq_msg_close(&mut a), -1);
        assert_eq!(zmq::errno::zmq_errno(), libc::EFAULT);
    }
}

static CALLBACKS: AtomicUsize = AtomicUsize::new(0);

/// A free callback that sends on another socket, as pyzmq's does.
unsafe extern "C" fn free_and_notify(_data: *mut c_void, hint: *mut c_void) {
    // Counted before the send: the test reads the count once the notice
    // is in.
    CALLBACKS.fetch_add(1, Ordering::SeqCst);
    // SAFETY: `hint` is the live PUSH socket the test passed.
    let rc = unsafe { zmq_send(hint, b"freed".as_ptr().cast(), 5, 0) };
    assert_eq!(rc, 5);
}

#[test]
fn free_callbacks_may_send_on_another_socket() {
    static DATA: [u8; 4] = *b"data";
    let ctx = zmq_ctx_new();
    // SAFETY: live handles and valid buffers throughout.
    unsafe {
        let pull = zmq_socket(ctx, PULL);
        let push = zmq_socket(ctx, PUSH);
        assert_eq!(zmq_bind(pull, c"inproc://free-notices".as_ptr()), 0);
        assert_eq!(zmq_connect(push, c"inproc://free-notices".as_ptr()), 0);
        let mut msg = new_msg();
        let rc = zmq_msg_init_data(
            &mut msg,
            DATA.as_ptr().cast_mut().cast(),
            4,
            Some(free_and_notify),
            push,
        );
        assert_eq!(rc, 0);
        // Closed unsent: the callback still runs, on our thread, not this one.
        assert_eq!(zmq_msg_close(&mut msg), 0);
        let mut buf = [0u8; 8];
        let n = zmq_recv(pull, buf.as_mut_ptr().cast(), 8, 0);
        assert_eq!((n, &buf[..5]), (5, &b"freed"[..]));
        assert_eq!(CALLBACKS.load(Ordering::SeqCst), 1);
        for s in [push, pull] {
            let zero: c_int = 0;
            zmq_setsockopt(s, LINGER, (&raw const zero).cast(), 4);
            zmq_close(s);
        }
        assert_eq!(zmq_ctx_term(ctx), 0);
    }
}

#[test]
fn term_honours_linger_for_undeliverable_messages() {
    let ctx = zmq_ctx_new();
    // SAFETY: live handles and valid buffers throughout.
    unsafe {
        let push = zmq_socket(ctx, PUSH);
        // Nobody listens there: the message can never be delivered.
        assert_eq!(zmq_connect(push, c"tcp://127.0.0.1:1".as_ptr()), 0);
        assert_eq!(zmq_send(push, b"stuck".as_ptr().cast(), 5, 0), 5);
        let linger: c_int = 200;
        zmq_setsockopt(push, LINGER, (&raw const linger).cast(), 4);
        assert_eq!(zmq_close(push), 0);
        let started = Instant::now();
        assert_eq!(zmq_ctx_term(ctx), 0);
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(150), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }
}

#[test]
fn atomic_counters_count() {
    let c = zmq_atomic_counter_new();
    // SAFETY: a live counter, then destroyed.
    unsafe {
        zmq_atomic_counter_set(c, 2);
        assert_eq!(zmq_atomic_counter_inc(c), 2);
        assert_eq!(zmq_atomic_counter_value(c), 3);
        assert_eq!(zmq_atomic_counter_dec(c), 1);
        assert_eq!(zmq_atomic_counter_dec(c), 1);
        assert_eq!(zmq_atomic_counter_dec(c), 0);
        let mut p = c;
        zmq_atomic_counter_destroy(&mut p);
        assert!(p.is_null());
    }
}

static RAN: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn bump(arg: *mut c_void) {
    RAN.fetch_add(arg as usize, Ordering::SeqCst);
}

#[test]
fn threads_run_and_stopwatches_measure() {
    let watch = zmq_stopwatch_start();
    // SAFETY: a valid function; the handle is closed once.
    unsafe {
        let t = zmq_threadstart(Some(bump), 7 as *mut c_void);
        assert!(!t.is_null());
        zmq_threadclose(t);
    }
    assert_eq!(RAN.load(Ordering::SeqCst), 7);
    std::thread::sleep(Duration::from_millis(5));
    // SAFETY: a running stopwatch, stopped once.
    unsafe {
        assert!(zmq_stopwatch_intermediate(watch) >= 5000);
        assert!(zmq_stopwatch_stop(watch) >= 5000);
    }
}

#[test]
fn constant_data_reports_shared() {
    // libzmq's test_msg_flags: zmq_msg_init_data without a free function
    // is constant data, SHARED from the start.
    static DATA: [u8; 5] = *b"TEST\0";
    let mut m = new_msg();
    // SAFETY: our own message over static data that outlives it.
    unsafe {
        let data = DATA.as_ptr().cast_mut().cast();
        assert_eq!(
            zmq_msg_init_data(&mut m, data, 5, None, std::ptr::null_mut()),
            0
        );
        assert_eq!(zmq_msg_get(&m, SHARED), 1);
        assert_eq!(zmq_msg_close(&mut m), 0);
    }
}
