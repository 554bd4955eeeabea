//! `zmq_unbind`, `zmq_disconnect`, inproc connects before the bind, inproc
//! names per context, and the errno of endpoints that cannot be: through
//! the C ABI as a C program calls it.

#![allow(unsafe_code, clippy::unwrap_used)]

use std::ffi::{CStr, CString, c_int, c_void};

use zmq::ctx_api::*;
use zmq::errno::zmq_errno;
use zmq::socket_api::*;

const PAIR: c_int = 0;
const REQ: c_int = 3;
const REP: c_int = 4;
const PULL: c_int = 7;
const PUSH: c_int = 8;
const DONTWAIT: c_int = 1;
const LINGER: c_int = 17;
const RCVTIMEO: c_int = 27;
const LAST_ENDPOINT: c_int = 32;
const SNDHWM: c_int = 23;

fn socket(ctx: *mut c_void, kind: c_int) -> *mut c_void {
    // SAFETY: a live context.
    let s = unsafe { zmq_socket(ctx, kind) };
    assert!(!s.is_null(), "zmq_socket: errno {}", zmq_errno());
    s
}

fn set_int(s: *mut c_void, option: c_int, value: c_int) {
    // SAFETY: a live socket and an int.
    let rc = unsafe { zmq_setsockopt(s, option, (&raw const value).cast(), 4) };
    assert_eq!(rc, 0, "setsockopt {option}: errno {}", zmq_errno());
}

/// A call's result as libzmq reports it: Ok, or the errno.
fn rc(rc: c_int) -> Result<(), c_int> {
    if rc == 0 { Ok(()) } else { Err(zmq_errno()) }
}

fn try_bind(s: *mut c_void, endpoint: &str) -> Result<(), c_int> {
    let e = CString::new(endpoint).unwrap();
    // SAFETY: a live socket, a C string.
    rc(unsafe { zmq_bind(s, e.as_ptr()) })
}

fn try_connect(s: *mut c_void, endpoint: &str) -> Result<(), c_int> {
    let e = CString::new(endpoint).unwrap();
    // SAFETY: a live socket, a C string.
    rc(unsafe { zmq_connect(s, e.as_ptr()) })
}

fn unbind(s: *mut c_void, endpoint: &str) -> Result<(), c_int> {
    let e = CString::new(endpoint).unwrap();
    // SAFETY: a live socket, a C string.
    rc(unsafe { zmq_unbind(s, e.as_ptr()) })
}

fn disconnect(s: *mut c_void, endpoint: &str) -> Result<(), c_int> {
    let e = CString::new(endpoint).unwrap();
    // SAFETY: a live socket, a C string.
    rc(unsafe { zmq_disconnect(s, e.as_ptr()) })
}

/// Binds and returns `ZMQ_LAST_ENDPOINT`.
fn bind(s: *mut c_void, endpoint: &str) -> String {
    try_bind(s, endpoint).unwrap_or_else(|e| panic!("bind {endpoint}: errno {e}"));
    let mut buf = [0u8; 256];
    let mut len = buf.len();
    // SAFETY: a live socket and a buffer of `len` bytes.
    let rc = unsafe { zmq_getsockopt(s, LAST_ENDPOINT, buf.as_mut_ptr().cast(), &mut len) };
    assert_eq!(rc, 0);
    CStr::from_bytes_until_nul(&buf)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

fn connect(s: *mut c_void, endpoint: &str) {
    try_connect(s, endpoint).unwrap_or_else(|e| panic!("connect {endpoint}: errno {e}"));
}

fn send(s: *mut c_void, data: &[u8], flags: c_int) -> c_int {
    // SAFETY: a live socket and `data`.
    unsafe { zmq_send(s, data.as_ptr().cast(), data.len(), flags) }
}

fn recv(s: *mut c_void, flags: c_int) -> Result<Vec<u8>, c_int> {
    let mut buf = vec![0u8; 256];
    // SAFETY: a live socket and a buffer of that size.
    let n = unsafe { zmq_recv(s, buf.as_mut_ptr().cast(), buf.len(), flags) };
    if n < 0 {
        return Err(zmq_errno());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

fn close(s: *mut c_void) {
    set_int(s, LINGER, 0);
    // SAFETY: a live socket, given up.
    assert_eq!(unsafe { zmq_close(s) }, 0);
}

fn term(ctx: *mut c_void) {
    // SAFETY: a live context, given up.
    assert_eq!(unsafe { zmq_ctx_term(ctx) }, 0);
}

/// A request and its reply, as libzmq's tests `bounce`.
fn bounce(rep: *mut c_void, req: *mut c_void) {
    set_int(rep, RCVTIMEO, 10_000);
    set_int(req, RCVTIMEO, 10_000);
    assert_eq!(send(req, b"ping", 0), 4);
    assert_eq!(recv(rep, 0).unwrap(), b"ping");
    assert_eq!(send(rep, b"pong", 0), 4);
    assert_eq!(recv(req, 0).unwrap(), b"pong");
}

#[test]
fn a_wildcard_bind_unbinds_by_its_last_endpoint() {
    let ctx = zmq_ctx_new();
    for wildcard in ["tcp://*:*", "tcp://127.0.0.1:*"] {
        let rep = socket(ctx, REP);
        let req = socket(ctx, REQ);
        let bound = bind(rep, wildcard);
        connect(req, &bound);
        bounce(rep, req);
        assert_eq!(disconnect(req, &bound), Ok(()));
        assert_eq!(unbind(rep, &bound), Ok(()));
        // Gone: a second time finds nothing.
        assert_eq!(unbind(rep, &bound), Err(libc::ENOENT));
        assert_eq!(disconnect(req, &bound), Err(libc::ENOENT));
        // The port is free again.
        let again = socket(ctx, REP);
        bind(again, &bound);
        close(again);
        close(req);
        close(rep);
    }
    term(ctx);
}

#[test]
fn unknown_and_malformed_endpoints() {
    let ctx = zmq_ctx_new();
    let s = socket(ctx, PULL);
    // Before anything was bound or connected.
    assert_eq!(unbind(s, "tcp://127.0.0.1:5555"), Err(libc::ENOENT));
    assert_eq!(disconnect(s, "inproc://x"), Err(libc::ENOENT));
    assert_eq!(unbind(s, "tcp://nonsense"), Err(libc::EINVAL));
    let bound = bind(s, "tcp://127.0.0.1:*");
    assert_eq!(unbind(s, "tcp://127.0.0.1:1"), Err(libc::ENOENT));
    assert_eq!(unbind(s, "tcp://127.0.0.1:*"), Err(libc::ENOENT));
    assert_eq!(unbind(s, "udp://127.0.0.1:1"), Err(libc::EPROTONOSUPPORT));
    // zmq_disconnect of a bound endpoint stops it too, as in libzmq.
    assert_eq!(disconnect(s, &bound), Ok(()));
    close(s);
    term(ctx);
}

#[test]
fn disconnect_sends_everything_to_the_endpoints_left() {
    let ctx = zmq_ctx_new();
    let near = socket(ctx, PULL);
    let far = socket(ctx, PULL);
    let near_at = bind(near, "tcp://127.0.0.1:*");
    let far_at = bind(far, "tcp://127.0.0.1:*");
    let push = socket(ctx, PUSH);
    connect(push, &near_at);
    connect(push, &far_at);
    assert_eq!(disconnect(push, &far_at), Ok(()));
    for _ in 0..10 {
        assert_eq!(send(push, b"m", 0), 1);
    }
    set_int(near, RCVTIMEO, 10_000);
    for _ in 0..10 {
        assert_eq!(recv(near, 0).unwrap(), b"m");
    }
    assert_eq!(recv(far, DONTWAIT), Err(libc::EAGAIN));
    close(push);
    close(near);
    close(far);
    term(ctx);
}

#[test]
fn ipc_paths_longer_than_sun_path_are_enametoolong() {
    let ctx = zmq_ctx_new();
    let s = socket(ctx, PAIR);
    let long = format!("ipc:///tmp/{}", "a".repeat(120));
    assert_eq!(try_bind(s, &long), Err(libc::ENAMETOOLONG));
    assert_eq!(try_connect(s, &long), Err(libc::ENAMETOOLONG));
    close(s);
    term(ctx);
}

#[test]
fn inproc_connect_before_bind_delivers_what_was_queued() {
    let ctx = zmq_ctx_new();
    let push = socket(ctx, PUSH);
    set_int(push, SNDHWM, 5);
    connect(push, "inproc://early");
    // Queued up to the high-water mark while nobody is bound.
    let mut sent = 0;
    while send(push, b"q", DONTWAIT) == 1 {
        sent += 1;
        assert!(sent <= 5);
    }
    assert_eq!(zmq_errno(), libc::EAGAIN);
    let pull = socket(ctx, PULL);
    bind(pull, "inproc://early");
    set_int(pull, RCVTIMEO, 10_000);
    for _ in 0..sent {
        assert_eq!(recv(pull, 0).unwrap(), b"q");
    }
    close(push);
    close(pull);
    term(ctx);
}

#[test]
fn term_with_a_pending_inproc_connect_does_not_hang() {
    let ctx = zmq_ctx_new();
    let push = socket(ctx, PUSH);
    connect(push, "inproc://never-bound");
    assert_eq!(send(push, b"stuck", 0), 5);
    // Default linger (forever), as libzmq's test: the pending connect
    // holds nothing that would keep term waiting.
    // SAFETY: a live socket, given up.
    assert_eq!(unsafe { zmq_close(push) }, 0);
    term(ctx);
}

#[test]
fn each_context_has_its_own_inproc_names() {
    let (one, two) = (zmq_ctx_new(), zmq_ctx_new());
    let a = socket(one, PULL);
    let b = socket(two, PULL);
    bind(a, "inproc://per-context");
    bind(b, "inproc://per-context");
    let push = socket(two, PUSH);
    connect(push, "inproc://per-context");
    assert_eq!(send(push, b"two", 0), 3);
    set_int(b, RCVTIMEO, 10_000);
    assert_eq!(recv(b, 0).unwrap(), b"two");
    assert_eq!(recv(a, DONTWAIT), Err(libc::EAGAIN));
    for s in [a, b, push] {
        close(s);
    }
    term(one);
    term(two);
}

/// A pointer wrapper to move a context into threads.
struct Ptr(*mut c_void);
// SAFETY: contexts are thread-safe in the C contract.
unsafe impl Send for Ptr {}

#[test]
fn sockets_closed_before_the_bind_still_deliver() {
    let ctx = zmq_ctx_new();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let ctx = Ptr(ctx);
            std::thread::spawn(move || {
                let ctx = ctx;
                let pair = socket(ctx.0, PAIR);
                connect(pair, "inproc://sink");
                assert_eq!(send(pair, b"foobar", 0), 6);
                // Default linger: the message waits for the bind.
                // SAFETY: a live socket, given up.
                assert_eq!(unsafe { zmq_close(pair) }, 0);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let pull = socket(ctx, PULL);
    bind(pull, "inproc://sink");
    set_int(pull, RCVTIMEO, 10_000);
    for _ in 0..8 {
        assert_eq!(recv(pull, 0).unwrap(), b"foobar");
    }
    close(pull);
    term(ctx);
}

#[test]
fn a_connect_with_a_source_address_disconnects_by_its_full_string() {
    let ctx = zmq_ctx_new();
    let rep = socket(ctx, REP);
    let req = socket(ctx, REQ);
    let bound = bind(rep, "tcp://127.0.0.1:*");
    let from = format!("tcp://127.0.0.1:0;{}", bound.trim_start_matches("tcp://"));
    connect(req, &from);
    bounce(rep, req);
    assert_eq!(disconnect(req, &bound), Err(libc::ENOENT));
    assert_eq!(disconnect(req, &from), Ok(()));
    close(req);
    close(rep);
    term(ctx);
}
