//! inproc high-water marks through the C ABI, as libzmq's `test_hwm`
//! counts them: a link holds the sender's SNDHWM plus the receiver's
//! RCVHWM (either 0: unlimited), and DONTWAIT receives right after the
//! sends find every message sent.

#![allow(unsafe_code, clippy::unwrap_used)]

use std::ffi::{CString, c_int, c_void};

use zmq::ctx_api::*;
use zmq::errno::zmq_errno;
use zmq::socket_api::*;

const PULL: c_int = 7;
const PUSH: c_int = 8;
const DONTWAIT: c_int = 1;
const LINGER: c_int = 17;
const SNDHWM: c_int = 23;
const RCVHWM: c_int = 24;

/// Sends stop here whatever the marks (libzmq's test: `MAX_SENDS`).
const MAX_SENDS: usize = 10_000;

fn socket(ctx: *mut c_void, kind: c_int, hwm_option: c_int, hwm: c_int) -> *mut c_void {
    // SAFETY: a live context.
    let s = unsafe { zmq_socket(ctx, kind) };
    assert!(!s.is_null(), "zmq_socket: errno {}", zmq_errno());
    let value = hwm.to_ne_bytes();
    // SAFETY: a live socket and a buffer of that length.
    let rc = unsafe { zmq_setsockopt(s, hwm_option, value.as_ptr().cast(), value.len()) };
    assert_eq!(rc, 0);
    s
}

fn endpoint(s: *mut c_void, name: &str, bind: bool) {
    let e = CString::new(name).unwrap();
    // SAFETY: a live socket, a C string.
    let rc = unsafe {
        match bind {
            true => zmq_bind(s, e.as_ptr()),
            false => zmq_connect(s, e.as_ptr()),
        }
    };
    assert_eq!(rc, 0, "{name}: errno {}", zmq_errno());
}

/// Empty DONTWAIT sends, or receives, until EAGAIN (or `MAX_SENDS`).
fn count(s: *mut c_void, sending: bool) -> usize {
    let mut n = 0;
    while n < MAX_SENDS {
        // SAFETY: a live socket; an empty buffer.
        let rc = unsafe {
            match sending {
                true => zmq_send(s, std::ptr::null(), 0, DONTWAIT),
                false => zmq_recv(s, std::ptr::null_mut(), 0, DONTWAIT),
            }
        };
        if rc != 0 {
            assert_eq!(zmq_errno(), libc::EAGAIN);
            break;
        }
        n += 1;
    }
    n
}

fn close(s: *mut c_void) {
    let zero = 0 as c_int;
    // SAFETY: a live socket, an int; then given up.
    unsafe {
        zmq_setsockopt(s, LINGER, (&raw const zero).cast(), 4);
        assert_eq!(zmq_close(s), 0);
    }
}

/// How many empty messages a PUSH with `sndhwm` sends without waiting to
/// a PULL with `rcvhwm` over one inproc link, checking that as many are
/// received at once.
fn sent_and_received(sndhwm: c_int, rcvhwm: c_int, bind_first: bool) -> usize {
    let ctx = zmq_ctx_new();
    let push = socket(ctx, PUSH, SNDHWM, sndhwm);
    let pull = socket(ctx, PULL, RCVHWM, rcvhwm);
    endpoint(
        if bind_first { pull } else { push },
        "inproc://a",
        bind_first,
    );
    endpoint(
        if bind_first { push } else { pull },
        "inproc://a",
        !bind_first,
    );
    let sent = count(push, true);
    assert_eq!(count(pull, false), sent, "received at once");
    close(push);
    close(pull);
    // SAFETY: a live context, given up.
    assert_eq!(unsafe { zmq_ctx_term(ctx) }, 0);
    sent
}

#[test]
fn a_link_holds_the_senders_and_the_receivers_marks() {
    for bind_first in [true, false] {
        assert_eq!(sent_and_received(1000, 1000, bind_first), 2000);
        assert_eq!(sent_and_received(1, 1, bind_first), 2);
    }
}

#[test]
fn either_mark_unlimited_makes_the_link_unlimited() {
    for bind_first in [true, false] {
        assert_eq!(sent_and_received(1, 0, bind_first), MAX_SENDS);
        assert_eq!(sent_and_received(0, 1, bind_first), MAX_SENDS);
    }
}
