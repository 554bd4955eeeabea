//! Options set on a socket that is already bound or connected, through
//! the C ABI: SNDHWM applies to the pipes there are at once (libzmq's
//! `test_sockopt_hwm`), ROUTING_ID and MAXMSGSIZE from the next bind or
//! connect.

#![allow(unsafe_code, clippy::unwrap_used)]

use std::ffi::{CStr, CString, c_int, c_void};

use zmq::ctx_api::*;
use zmq::errno::zmq_errno;
use zmq::socket_api::*;

const ROUTER: c_int = 6;
const DEALER: c_int = 5;
const PULL: c_int = 7;
const PUSH: c_int = 8;
const DONTWAIT: c_int = 1;
const ROUTING_ID: c_int = 5;
const LINGER: c_int = 17;
const MAXMSGSIZE: c_int = 22;
const SNDHWM: c_int = 23;
const RCVTIMEO: c_int = 27;
const LAST_ENDPOINT: c_int = 32;

fn socket(ctx: *mut c_void, kind: c_int) -> *mut c_void {
    // SAFETY: a live context.
    let s = unsafe { zmq_socket(ctx, kind) };
    assert!(!s.is_null(), "zmq_socket: errno {}", zmq_errno());
    s
}

fn set(s: *mut c_void, option: c_int, value: &[u8]) {
    // SAFETY: a live socket and a buffer of that length.
    let rc = unsafe { zmq_setsockopt(s, option, value.as_ptr().cast(), value.len()) };
    assert_eq!(rc, 0, "setsockopt {option}: errno {}", zmq_errno());
}

fn set_int(s: *mut c_void, option: c_int, value: c_int) {
    set(s, option, &value.to_ne_bytes());
}

fn get_int(s: *mut c_void, option: c_int) -> c_int {
    let mut value: c_int = -7;
    let mut len = 4usize;
    // SAFETY: a live socket, an int and its size.
    let rc = unsafe { zmq_getsockopt(s, option, (&raw mut value).cast(), &mut len) };
    assert_eq!(rc, 0, "getsockopt {option}: errno {}", zmq_errno());
    value
}

fn bind(s: *mut c_void, endpoint: &str) -> String {
    let e = CString::new(endpoint).unwrap();
    // SAFETY: a live socket, a C string.
    assert_eq!(unsafe { zmq_bind(s, e.as_ptr()) }, 0, "bind {endpoint}");
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
    let e = CString::new(endpoint).unwrap();
    // SAFETY: a live socket, a C string.
    assert_eq!(
        unsafe { zmq_connect(s, e.as_ptr()) },
        0,
        "connect {endpoint}"
    );
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

/// DONTWAIT sends until EAGAIN; how many went.
fn fill(s: *mut c_void) -> usize {
    let mut sent = 0;
    while send(s, b"", DONTWAIT) == 0 {
        sent += 1;
        assert!(sent < 10_000, "no high-water mark");
    }
    assert_eq!(zmq_errno(), libc::EAGAIN);
    sent
}

#[test]
fn sndhwm_changes_reach_the_pipes_there_are() {
    let ctx = zmq_ctx_new();
    let push = socket(ctx, PUSH);
    set_int(push, SNDHWM, 1);
    // Pending: nothing drains the pipe.
    connect(push, "inproc://nobody-yet");
    set_int(push, SNDHWM, 5);
    assert_eq!(get_int(push, SNDHWM), 5);
    assert_eq!(fill(push), 5);
    // Lowered when full: nothing is dropped, nothing more fits.
    set_int(push, SNDHWM, 2);
    assert_eq!(fill(push), 0);
    let pull = socket(ctx, PULL);
    bind(pull, "inproc://nobody-yet");
    set_int(pull, RCVTIMEO, 10_000);
    for _ in 0..5 {
        assert_eq!(recv(pull, 0).unwrap(), b"");
    }
    close(push);
    close(pull);
    // SAFETY: a live context, given up.
    assert_eq!(unsafe { zmq_ctx_term(ctx) }, 0);
}

#[test]
fn routing_id_counts_from_the_next_connect() {
    let ctx = zmq_ctx_new();
    let first = socket(ctx, ROUTER);
    let second = socket(ctx, ROUTER);
    let first_at = bind(first, "tcp://127.0.0.1:*");
    let second_at = bind(second, "tcp://127.0.0.1:*");
    for s in [first, second] {
        set_int(s, RCVTIMEO, 10_000);
    }

    let dealer = socket(ctx, DEALER);
    set(dealer, ROUTING_ID, b"alpha");
    connect(dealer, &first_at);
    set(dealer, ROUTING_ID, b"beta");
    connect(dealer, &second_at);
    // Round-robin: one to each router.
    assert_eq!(send(dealer, b"hey", 0), 3);
    assert_eq!(send(dealer, b"hey", 0), 3);
    assert_eq!(recv(first, 0).unwrap(), b"alpha");
    assert_eq!(recv(first, 0).unwrap(), b"hey");
    assert_eq!(recv(second, 0).unwrap(), b"beta");
    assert_eq!(recv(second, 0).unwrap(), b"hey");
    close(dealer);
    close(first);
    close(second);
    // SAFETY: a live context, given up.
    assert_eq!(unsafe { zmq_ctx_term(ctx) }, 0);
}

#[test]
fn maxmsgsize_counts_from_the_next_bind() {
    let ctx = zmq_ctx_new();
    let pull = socket(ctx, PULL);
    let lenient = bind(pull, "tcp://127.0.0.1:*");
    set(pull, MAXMSGSIZE, &4i64.to_ne_bytes());
    let strict = bind(pull, "tcp://127.0.0.1:*");
    set_int(pull, RCVTIMEO, 10_000);
    let to_strict = socket(ctx, PUSH);
    connect(to_strict, &strict);
    assert_eq!(send(to_strict, b"too long", 0), 8);
    let to_lenient = socket(ctx, PUSH);
    connect(to_lenient, &lenient);
    assert_eq!(send(to_lenient, b"long enough", 0), 11);
    assert_eq!(send(to_lenient, b"end", 0), 3);
    assert_eq!(recv(pull, 0).unwrap(), b"long enough");
    assert_eq!(recv(pull, 0).unwrap(), b"end");
    assert_eq!(recv(pull, DONTWAIT), Err(libc::EAGAIN));
    for s in [to_strict, to_lenient, pull] {
        close(s);
    }
    // SAFETY: a live context, given up.
    assert_eq!(unsafe { zmq_ctx_term(ctx) }, 0);
}

const CURVE_SERVER: c_int = 47;
const CURVE_PUBLICKEY: c_int = 48;
const CURVE_SECRETKEY: c_int = 49;
const CURVE_SERVERKEY: c_int = 50;

/// A CURVE key pair as 40 Z85 characters each.
fn keypair() -> ([u8; 40], [u8; 40]) {
    let (mut public, mut secret) = ([0u8; 41], [0u8; 41]);
    // SAFETY: 41-byte buffers each.
    let rc = unsafe {
        zmq::z85_api::zmq_curve_keypair(public.as_mut_ptr().cast(), secret.as_mut_ptr().cast())
    };
    assert_eq!(rc, 0);
    (
        public[..40].try_into().unwrap(),
        secret[..40].try_into().unwrap(),
    )
}

#[test]
fn security_set_after_a_bind_holds_for_the_next_bind() {
    let ctx = zmq_ctx_new();
    let (server_public, server_secret) = keypair();
    let (client_public, client_secret) = keypair();
    let pull = socket(ctx, PULL);
    let open = bind(pull, "tcp://127.0.0.1:*");
    set_int(pull, CURVE_SERVER, 1);
    set(pull, CURVE_SECRETKEY, &server_secret);
    let secured = bind(pull, "tcp://127.0.0.1:*");
    set_int(pull, RCVTIMEO, 10_000);

    // The first endpoint still speaks NULL, the second CURVE.
    let plain = socket(ctx, PUSH);
    connect(plain, &open);
    assert_eq!(send(plain, b"null", 0), 4);
    assert_eq!(recv(pull, 0).unwrap(), b"null");
    let curve = socket(ctx, PUSH);
    set(curve, CURVE_SERVERKEY, &server_public);
    set(curve, CURVE_PUBLICKEY, &client_public);
    set(curve, CURVE_SECRETKEY, &client_secret);
    connect(curve, &secured);
    assert_eq!(send(curve, b"curve", 0), 5);
    assert_eq!(recv(pull, 0).unwrap(), b"curve");
    for s in [plain, curve, pull] {
        close(s);
    }
    // SAFETY: a live context, given up.
    assert_eq!(unsafe { zmq_ctx_term(ctx) }, 0);
}
