//! The socket options libzmq's XPUB, ROUTER and REQ tests exercise,
//! through the C ABI: XPUB_VERBOSE/VERBOSER set on a bound socket,
//! XPUB_MANUAL, XPUB_WELCOME_MSG, XPUB_NODROP at the mark, ROUTER_HANDOVER
//! set on a bound socket, refusals at a message's first frame (mandatory
//! ROUTER, NODROP XPUB, REQ out of turn), REQ_CORRELATE and REQ_RELAXED,
//! CONFLATE, PROBE_ROUTER.

#![allow(unsafe_code, clippy::unwrap_used)]

use std::ffi::{CStr, CString, c_int, c_void};

use zmq::ctx_api::*;
use zmq::errno::{EFSM, zmq_errno};
use zmq::socket_api::*;

const PUB: c_int = 1;
const SUB: c_int = 2;
const REQ: c_int = 3;
const REP: c_int = 4;
const DEALER: c_int = 5;
const ROUTER: c_int = 6;
const PULL: c_int = 7;
const PUSH: c_int = 8;
const XPUB: c_int = 9;
const XSUB: c_int = 10;
const DONTWAIT: c_int = 1;
const SNDMORE: c_int = 2;
const ROUTING_ID: c_int = 5;
const SUBSCRIBE: c_int = 6;
const UNSUBSCRIBE: c_int = 7;
const EVENTS: c_int = 15;
const LINGER: c_int = 17;
const SNDHWM: c_int = 23;
const RCVHWM: c_int = 24;
const RCVTIMEO: c_int = 27;
const SNDTIMEO: c_int = 28;
const LAST_ENDPOINT: c_int = 32;
const ROUTER_MANDATORY: c_int = 33;
const XPUB_VERBOSE: c_int = 40;
const PROBE_ROUTER: c_int = 51;
const REQ_CORRELATE: c_int = 52;
const REQ_RELAXED: c_int = 53;
const CONFLATE: c_int = 54;
const ROUTER_HANDOVER: c_int = 56;
const XPUB_NODROP: c_int = 69;
const XPUB_MANUAL: c_int = 71;
const XPUB_WELCOME_MSG: c_int = 72;
const XPUB_VERBOSER: c_int = 78;
const POLLOUT: c_int = 2;

/// Long enough for any step on a loaded machine: a receive that should
/// succeed waits up to this, never as a pass condition.
const PATIENCE_MS: c_int = 10_000;

fn socket(ctx: *mut c_void, kind: c_int) -> *mut c_void {
    // SAFETY: a live context.
    let s = unsafe { zmq_socket(ctx, kind) };
    assert!(!s.is_null(), "zmq_socket: errno {}", zmq_errno());
    set_int(s, RCVTIMEO, PATIENCE_MS);
    s
}

fn set(s: *mut c_void, option: c_int, value: &[u8]) -> c_int {
    // SAFETY: a live socket and `value`.
    let rc = unsafe { zmq_setsockopt(s, option, value.as_ptr().cast(), value.len()) };
    if rc == 0 { 0 } else { zmq_errno() }
}

fn set_int(s: *mut c_void, option: c_int, value: c_int) {
    assert_eq!(set(s, option, &value.to_ne_bytes()), 0, "option {option}");
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

/// `Ok(n)` or `Err(errno)`.
fn send(s: *mut c_void, data: &[u8], flags: c_int) -> Result<c_int, c_int> {
    // SAFETY: a live socket and `data`.
    let n = unsafe { zmq_send(s, data.as_ptr().cast(), data.len(), flags) };
    if n < 0 { Err(zmq_errno()) } else { Ok(n) }
}

fn sent(s: *mut c_void, data: &[u8], flags: c_int) {
    assert_eq!(send(s, data, flags), Ok(data.len() as c_int));
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

fn received(s: *mut c_void, expected: &[u8]) {
    assert_eq!(recv(s, 0).as_deref(), Ok(expected));
}

fn nothing_waiting(s: *mut c_void) {
    assert_eq!(recv(s, DONTWAIT), Err(libc::EAGAIN));
}

fn close_all(ctx: *mut c_void, sockets: &[*mut c_void]) {
    for &s in sockets {
        set_int(s, LINGER, 0);
        // SAFETY: a live socket, given up.
        assert_eq!(unsafe { zmq_close(s) }, 0);
    }
    // SAFETY: a live context, given up.
    assert_eq!(unsafe { zmq_ctx_term(ctx) }, 0);
}

fn close(s: *mut c_void) {
    set_int(s, LINGER, 0);
    // SAFETY: a live socket, given up.
    assert_eq!(unsafe { zmq_close(s) }, 0);
}

/// Subscribes `sub` to a marker topic and waits for the XPUB's notice of
/// it: everything `sub` sent before has been seen by then.
fn marker(xpub: *mut c_void, sub: *mut c_void, topic: &[u8]) {
    assert_eq!(set(sub, SUBSCRIBE, topic), 0);
    let mut notice = vec![1u8];
    notice.extend_from_slice(topic);
    received(xpub, &notice);
}

#[test]
fn verbose_and_verboser_set_on_a_bound_xpub() {
    let ctx = zmq_ctx_new();
    let xpub = socket(ctx, XPUB);
    let endpoint = bind(xpub, "inproc://modes-verbose");
    let (sub0, sub1) = (socket(ctx, SUB), socket(ctx, SUB));
    connect(sub0, &endpoint);
    connect(sub1, &endpoint);
    assert_eq!(set(sub0, SUBSCRIBE, b"A"), 0);
    received(xpub, b"\x01A");
    assert_eq!(set(sub1, SUBSCRIBE, b"A"), 0);
    marker(xpub, sub1, b"m1");

    set_int(xpub, XPUB_VERBOSE, 1);
    assert_eq!(set(sub1, SUBSCRIBE, b"A"), 0);
    received(xpub, b"\x01A");
    // VERBOSE passes no cancel that leaves another subscriber.
    assert_eq!(set(sub0, UNSUBSCRIBE, b"A"), 0);
    marker(xpub, sub0, b"m2");

    set_int(xpub, XPUB_VERBOSER, 1);
    assert_eq!(set(sub0, SUBSCRIBE, b"A"), 0);
    received(xpub, b"\x01A");
    assert_eq!(set(sub1, UNSUBSCRIBE, b"A"), 0);
    assert_eq!(set(sub1, UNSUBSCRIBE, b"A"), 0);
    received(xpub, b"\x00A");
    // sub0 leaves: every topic it held is cancelled, in topic order.
    close(sub0);
    received(xpub, b"\x00A");
    received(xpub, b"\x00m2");
    sent(xpub, b"m1 still", 0);
    received(sub1, b"m1 still");
    close_all(ctx, &[xpub, sub1]);
}

#[test]
fn manual_subscriptions_follow_the_application() {
    let ctx = zmq_ctx_new();
    let xpub = socket(ctx, XPUB);
    let endpoint = bind(xpub, "tcp://127.0.0.1:*");
    assert_eq!(set(xpub, SUBSCRIBE, b"X"), libc::EINVAL, "not manual");
    set_int(xpub, XPUB_MANUAL, 1);
    let xsub = socket(ctx, XSUB);
    connect(xsub, &endpoint);
    sent(xsub, b"\x01A", 0);
    sent(xsub, b"\x01B", 0);
    received(xpub, b"\x01A");
    assert_eq!(set(xpub, SUBSCRIBE, b"XA"), 0);
    received(xpub, b"\x01B");
    assert_eq!(set(xpub, SUBSCRIBE, b"XB"), 0);
    sent(xsub, b"\x00A", 0);
    received(xpub, b"\x00A");
    assert_eq!(set(xpub, UNSUBSCRIBE, b"XA"), 0);
    sent(xpub, b"XA", 0);
    sent(xpub, b"XB", 0);
    received(xsub, b"XB");
    close(xsub);
    // Its departure cancels what it asked for and still held.
    received(xpub, b"\x00B");
    assert_eq!(
        set(xpub, UNSUBSCRIBE, b"XB"),
        0,
        "no peer: nothing, no error"
    );
    close_all(ctx, &[xpub]);
}

#[test]
fn each_subscriber_is_welcomed() {
    let ctx = zmq_ctx_new();
    let xpub = socket(ctx, XPUB);
    let endpoint = bind(xpub, "inproc://modes-welcome");
    assert_eq!(set(xpub, XPUB_WELCOME_MSG, b"W"), 0);
    let sub = socket(ctx, SUB);
    assert_eq!(set(sub, SUBSCRIBE, b"W"), 0);
    connect(sub, &endpoint);
    received(xpub, b"\x01W");
    received(sub, b"W");
    close_all(ctx, &[xpub, sub]);
}

#[test]
fn nodrop_refuses_at_the_mark_and_loses_nothing() {
    let ctx = zmq_ctx_new();
    let xpub = socket(ctx, XPUB);
    set_int(xpub, SNDHWM, 8);
    let endpoint = bind(xpub, "inproc://modes-nodrop");
    set_int(xpub, XPUB_NODROP, 1);
    let sub = socket(ctx, SUB);
    set_int(sub, RCVHWM, 8);
    connect(sub, &endpoint);
    assert_eq!(set(sub, SUBSCRIBE, b""), 0);
    received(xpub, b"\x01");
    set_int(xpub, SNDTIMEO, 0);
    let mut count = 0;
    while send(xpub, b"", 0).is_ok() {
        count += 1;
        assert!(count < 100_000);
    }
    assert_eq!(zmq_errno(), libc::EAGAIN);
    // Refused at the first frame: nothing of the message is kept.
    assert_eq!(send(xpub, b"", SNDMORE), Err(libc::EAGAIN));
    for _ in 0..count {
        received(sub, b"");
    }
    nothing_waiting(sub);
    close_all(ctx, &[xpub, sub]);
}

#[test]
fn handover_set_on_a_bound_router() {
    let ctx = zmq_ctx_new();
    let router = socket(ctx, ROUTER);
    let endpoint = bind(router, "tcp://127.0.0.1:*");
    set_int(router, ROUTER_HANDOVER, 1);
    let mut dealers = Vec::new();
    for _ in 0..2 {
        let dealer = socket(ctx, DEALER);
        assert_eq!(set(dealer, ROUTING_ID, b"X"), 0);
        connect(dealer, &endpoint);
        sent(dealer, b"Hello", 0);
        received(router, b"X");
        received(router, b"Hello");
        dealers.push(dealer);
    }
    sent(router, b"X", SNDMORE);
    sent(router, b"to two", 0);
    received(dealers[1], b"to two");
    nothing_waiting(dealers[0]);
    close_all(ctx, &[router, dealers[0], dealers[1]]);
}

#[test]
fn a_mandatory_router_refuses_at_the_first_frame() {
    let ctx = zmq_ctx_new();
    let router = socket(ctx, ROUTER);
    let endpoint = bind(router, "inproc://modes-mandatory");
    set_int(router, ROUTER_MANDATORY, 1);
    assert_eq!(send(router, b"nobody", SNDMORE), Err(libc::EHOSTUNREACH));
    let dealer = socket(ctx, DEALER);
    assert_eq!(set(dealer, ROUTING_ID, b"d"), 0);
    connect(dealer, &endpoint);
    sent(dealer, b"hi", 0);
    received(router, b"d");
    received(router, b"hi");
    // The refused first frame left nothing behind: this message is whole.
    sent(router, b"d", SNDMORE);
    sent(router, b"back", 0);
    received(dealer, b"back");
    close_all(ctx, &[router, dealer]);
}

#[test]
fn req_out_of_turn_is_refused_at_the_first_frame() {
    let ctx = zmq_ctx_new();
    let rep = socket(ctx, REP);
    let endpoint = bind(rep, "inproc://modes-req-turn");
    let req = socket(ctx, REQ);
    connect(req, &endpoint);
    assert_eq!(send(rep, b"r", SNDMORE), Err(EFSM));
    assert_eq!(recv(req, 0), Err(EFSM));
    sent(req, b"q", SNDMORE);
    sent(req, b"q2", 0);
    assert_eq!(send(req, b"again", SNDMORE), Err(EFSM));
    received(rep, b"q");
    received(rep, b"q2");
    sent(rep, b"r", 0);
    received(req, b"r");
    close_all(ctx, &[rep, req]);
}

#[test]
fn a_correlating_req_drops_a_reply_with_the_wrong_id() {
    let ctx = zmq_ctx_new();
    let router = socket(ctx, ROUTER);
    let endpoint = bind(router, "tcp://127.0.0.1:*");
    let req = socket(ctx, REQ);
    set_int(req, REQ_CORRELATE, 1);
    connect(req, &endpoint);
    sent(req, b"ABC", SNDMORE);
    sent(req, b"DEF", 0);
    let peer = recv(router, 0).unwrap();
    let id = recv(router, 0).unwrap();
    assert_eq!(id.len(), 4);
    received(router, b"");
    received(router, b"ABC");
    received(router, b"DEF");
    let bad = u32::from_ne_bytes(id[..].try_into().unwrap()).wrapping_add(1);
    for (id, body) in [(&bad.to_ne_bytes()[..], &b"DATA"[..]), (&id[..], b"GHI")] {
        sent(router, &peer, SNDMORE);
        sent(router, id, SNDMORE);
        sent(router, b"", SNDMORE);
        sent(router, body, 0);
    }
    received(req, b"GHI");
    close_all(ctx, &[router, req]);
}

#[test]
fn a_relaxed_req_may_ask_again_and_hears_only_the_last_answer() {
    let ctx = zmq_ctx_new();
    let reps: Vec<_> = (0..2).map(|_| socket(ctx, REP)).collect();
    let endpoints: Vec<_> = reps.iter().map(|&r| bind(r, "tcp://127.0.0.1:*")).collect();
    let req = socket(ctx, REQ);
    set_int(req, REQ_RELAXED, 1);
    // A connecting REQ has both pipes at once: requests alternate.
    for endpoint in &endpoints {
        connect(req, endpoint);
    }
    assert_eq!(get_int(req, EVENTS), POLLOUT);
    sent(req, b"A", SNDMORE);
    sent(req, b"B", 0);
    received(reps[0], b"A");
    received(reps[0], b"B");
    assert_eq!(get_int(req, EVENTS), POLLOUT, "relaxed: may send again");
    sent(req, b"C", 0);
    received(reps[1], b"C");
    // The first request's answer is stale: dropped.
    sent(reps[0], b"WRONG", 0);
    sent(reps[1], b"OK", 0);
    received(req, b"OK");
    assert_eq!(recv(req, DONTWAIT), Err(EFSM), "answered: no request out");
    close_all(ctx, &[req, reps[0], reps[1]]);
}

#[test]
fn a_conflating_pull_gives_the_newest() {
    let ctx = zmq_ctx_new();
    let pull = socket(ctx, PULL);
    set_int(pull, CONFLATE, 1);
    assert_eq!(get_int(pull, CONFLATE), 1);
    let endpoint = bind(pull, "tcp://127.0.0.1:*");
    let push = socket(ctx, PUSH);
    connect(push, &endpoint);
    for i in 0..20u32 {
        sent(push, &i.to_ne_bytes(), 0);
    }
    loop {
        if recv(pull, 0).unwrap() == 19u32.to_ne_bytes() {
            break;
        }
    }
    nothing_waiting(pull);
    close_all(ctx, &[pull, push]);
}

#[test]
fn probe_router_greets_each_router_peer_with_an_empty_message() {
    let ctx = zmq_ctx_new();
    let router = socket(ctx, ROUTER);
    let endpoint = bind(router, "tcp://127.0.0.1:*");
    let dealer = socket(ctx, DEALER);
    assert_eq!(set(dealer, ROUTING_ID, b"probe"), 0);
    set_int(dealer, PROBE_ROUTER, 1);
    connect(dealer, &endpoint);
    received(router, b"probe");
    received(router, b"");
    close_all(ctx, &[router, dealer]);
}

#[test]
fn pub_and_sub_options_still_apply() {
    let ctx = zmq_ctx_new();
    let publisher = socket(ctx, PUB);
    assert_eq!(set(publisher, XPUB_NODROP, &2i32.to_ne_bytes()), 0);
    assert_eq!(
        set(publisher, XPUB_NODROP, &(-1i32).to_ne_bytes()),
        libc::EINVAL
    );
    close_all(ctx, &[publisher]);
}
