//! `zmq_socket_monitor` through the C ABI: libzmq's version 1 events
//! (six bytes, then the endpoint) on an inproc PAIR, from LISTENING
//! through the handshake to MONITOR_STOPPED.

#![allow(unsafe_code, clippy::unwrap_used)]

use std::ffi::{c_int, c_void};

use zmq::ctx_api::*;
use zmq::errno::zmq_errno;
use zmq::socket_api::*;

const PAIR: c_int = 0;
const PULL: c_int = 7;
const PUSH: c_int = 8;
const LINGER: c_int = 17;
const RCVTIMEO: c_int = 27;
const EVENT_ALL: c_int = 0xFFFF;
const LISTENING: u16 = 0x0008;
const ACCEPTED: u16 = 0x0020;
const HANDSHAKE_SUCCEEDED: u16 = 0x1000;
const MONITOR_STOPPED: u16 = 0x0400;
const CLOSED: u16 = 0x0080;
const CONNECTED: u16 = 0x0001;
const CONNECT_DELAYED: u16 = 0x0002;
const HANDSHAKE_FAILED_AUTH: u16 = 0x4000;
const PLAIN_SERVER: c_int = 44;
const PLAIN_USERNAME: c_int = 45;
const PLAIN_PASSWORD: c_int = 46;
const DISCONNECTED: u16 = 0x0200;

/// The next event on the monitor's PAIR: (event, value, endpoint).
///
/// # Safety
/// `pair` is a live socket.
unsafe fn next_event(pair: *mut c_void) -> (u16, u32, String) {
    let mut head = [0u8; 16];
    let mut endpoint = [0u8; 256];
    // SAFETY: live socket, buffers of the given sizes.
    let (n, m) = unsafe {
        let n = zmq_recv(pair, head.as_mut_ptr().cast(), head.len(), 0);
        let m = zmq_recv(pair, endpoint.as_mut_ptr().cast(), endpoint.len(), 0);
        (n, m)
    };
    assert_eq!(n, 6, "event frame: errno {}", zmq_errno());
    assert!(m >= 0, "endpoint frame: errno {}", zmq_errno());
    let event = u16::from_ne_bytes([head[0], head[1]]);
    let value = u32::from_ne_bytes([head[2], head[3], head[4], head[5]]);
    (
        event,
        value,
        String::from_utf8_lossy(&endpoint[..m as usize]).into_owned(),
    )
}

fn set_int(s: *mut c_void, option: c_int, value: c_int) {
    // SAFETY: a live socket and an int.
    unsafe { zmq_setsockopt(s, option, (&raw const value).cast(), 4) };
}

#[test]
fn events_arrive_as_libzmq_v1_messages() {
    let ctx = zmq_ctx_new();
    // SAFETY: live handles and valid C strings throughout.
    unsafe {
        let pull = zmq_socket(ctx, PULL);
        assert_eq!(
            zmq_socket_monitor(pull, c"tcp://127.0.0.1:9".as_ptr(), EVENT_ALL),
            -1
        );
        assert_eq!(zmq_errno(), libc::EPROTONOSUPPORT);
        assert_eq!(
            zmq_socket_monitor(pull, c"inproc://monitor-pull".as_ptr(), EVENT_ALL),
            0
        );
        let watcher = zmq_socket(ctx, PAIR);
        set_int(watcher, RCVTIMEO, 5000);
        assert_eq!(zmq_connect(watcher, c"inproc://monitor-pull".as_ptr()), 0);

        assert_eq!(zmq_bind(pull, c"tcp://127.0.0.1:*".as_ptr()), 0);
        let (event, _, endpoint) = next_event(watcher);
        assert_eq!(event, LISTENING);
        assert!(endpoint.starts_with("tcp://127.0.0.1:"), "{endpoint}");

        let push = zmq_socket(ctx, PUSH);
        let c_endpoint = std::ffi::CString::new(endpoint.clone()).unwrap();
        assert_eq!(zmq_connect(push, c_endpoint.as_ptr()), 0);
        assert_eq!(next_event(watcher).0, ACCEPTED);
        assert_eq!(next_event(watcher), (HANDSHAKE_SUCCEEDED, 0, endpoint));

        // Turning monitoring off reports MONITOR_STOPPED.
        assert_eq!(zmq_socket_monitor(pull, std::ptr::null(), 0), 0);
        assert_eq!(next_event(watcher).0, MONITOR_STOPPED);

        for s in [push, pull, watcher] {
            set_int(s, LINGER, 0);
            assert_eq!(zmq_close(s), 0);
        }
        assert_eq!(zmq_ctx_term(ctx), 0);
    }
}

#[test]
fn closing_a_bound_socket_reports_closed_then_monitor_stopped() {
    // libzmq's test_monitor: the listener's CLOSED (and DISCONNECTED for a
    // link) come before MONITOR_STOPPED, with linger 0 too.
    let ctx = zmq_ctx_new();
    // SAFETY: live handles and valid C strings throughout.
    unsafe {
        let pull = zmq_socket(ctx, PULL);
        assert_eq!(
            zmq_socket_monitor(pull, c"inproc://monitor-closing".as_ptr(), EVENT_ALL),
            0
        );
        let watcher = zmq_socket(ctx, PAIR);
        set_int(watcher, RCVTIMEO, 5000);
        assert_eq!(
            zmq_connect(watcher, c"inproc://monitor-closing".as_ptr()),
            0
        );
        assert_eq!(zmq_bind(pull, c"tcp://127.0.0.1:*".as_ptr()), 0);
        let (event, _, endpoint) = next_event(watcher);
        assert_eq!(event, LISTENING);
        let push = zmq_socket(ctx, PUSH);
        let c_endpoint = std::ffi::CString::new(endpoint.clone()).unwrap();
        assert_eq!(zmq_connect(push, c_endpoint.as_ptr()), 0);
        assert_eq!(next_event(watcher).0, ACCEPTED);
        assert_eq!(next_event(watcher).0, HANDSHAKE_SUCCEEDED);

        set_int(pull, LINGER, 0);
        assert_eq!(zmq_close(pull), 0);
        let mut seen = Vec::new();
        loop {
            let (event, _, _) = next_event(watcher);
            seen.push(event);
            if event == MONITOR_STOPPED {
                break;
            }
        }
        seen.retain(|e| *e != DISCONNECTED);
        assert_eq!(seen, [CLOSED, MONITOR_STOPPED]);

        for s in [push, watcher] {
            set_int(s, LINGER, 0);
            assert_eq!(zmq_close(s), 0);
        }
        assert_eq!(zmq_ctx_term(ctx), 0);
    }
}

#[test]
fn a_failed_handshake_is_followed_by_disconnected() {
    // libzmq ends every engine with DISCONNECTED, a failed handshake too
    // (after its HANDSHAKE_FAILED_* event). Here PLAIN without a ZAP
    // handler, which is refused.
    let ctx = zmq_ctx_new();
    // SAFETY: live handles and valid C strings and buffers throughout.
    unsafe {
        let pull = zmq_socket(ctx, PULL);
        set_int(pull, PLAIN_SERVER, 1);
        assert_eq!(
            zmq_socket_monitor(pull, c"inproc://monitor-refused".as_ptr(), EVENT_ALL),
            0
        );
        let watcher = zmq_socket(ctx, PAIR);
        set_int(watcher, RCVTIMEO, 5000);
        assert_eq!(
            zmq_connect(watcher, c"inproc://monitor-refused".as_ptr()),
            0
        );
        assert_eq!(zmq_bind(pull, c"tcp://127.0.0.1:*".as_ptr()), 0);
        let (event, _, endpoint) = next_event(watcher);
        assert_eq!(event, LISTENING);

        let push = zmq_socket(ctx, PUSH);
        for (option, value) in [(PLAIN_USERNAME, "admin"), (PLAIN_PASSWORD, "secret")] {
            assert_eq!(
                zmq_setsockopt(push, option, value.as_ptr().cast(), value.len()),
                0
            );
        }
        let c_endpoint = std::ffi::CString::new(endpoint.clone()).unwrap();
        assert_eq!(zmq_connect(push, c_endpoint.as_ptr()), 0);
        assert_eq!(next_event(watcher).0, ACCEPTED);
        assert_eq!(next_event(watcher).0, HANDSHAKE_FAILED_AUTH);
        assert_eq!(next_event(watcher), (DISCONNECTED, 0, endpoint));

        for s in [push, pull, watcher] {
            set_int(s, LINGER, 0);
            assert_eq!(zmq_close(s), 0);
        }
        assert_eq!(zmq_ctx_term(ctx), 0);
    }
}

#[test]
fn closing_a_connected_socket_reports_only_monitor_stopped() {
    // libzmq's test_monitor: a socket's own close ends its links and
    // connecters without DISCONNECTED or CLOSED (those are for a peer's
    // end and for listeners).
    let ctx = zmq_ctx_new();
    // SAFETY: live handles and valid C strings throughout.
    unsafe {
        let pull = zmq_socket(ctx, PULL);
        assert_eq!(zmq_bind(pull, c"tcp://127.0.0.1:*".as_ptr()), 0);
        let mut endpoint = [0u8; 256];
        let mut len = endpoint.len();
        assert_eq!(
            zmq_getsockopt(pull, 32, endpoint.as_mut_ptr().cast(), &mut len),
            0
        );
        let push = zmq_socket(ctx, PUSH);
        assert_eq!(
            zmq_socket_monitor(push, c"inproc://monitor-own-close".as_ptr(), EVENT_ALL),
            0
        );
        let watcher = zmq_socket(ctx, PAIR);
        set_int(watcher, RCVTIMEO, 5000);
        assert_eq!(
            zmq_connect(watcher, c"inproc://monitor-own-close".as_ptr()),
            0
        );
        assert_eq!(zmq_connect(push, endpoint.as_ptr().cast()), 0);
        // A tcp connect is asynchronous: libzmq reports CONNECT_DELAYED
        // (value EINPROGRESS) before CONNECTED.
        assert_eq!(
            next_event(watcher),
            (
                CONNECT_DELAYED,
                libc::EINPROGRESS as u32,
                endpoint_str(&endpoint)
            )
        );
        assert_eq!(next_event(watcher).0, CONNECTED);
        assert_eq!(next_event(watcher).0, HANDSHAKE_SUCCEEDED);

        set_int(push, LINGER, 0);
        assert_eq!(zmq_close(push), 0);
        assert_eq!(next_event(watcher).0, MONITOR_STOPPED);

        for s in [pull, watcher] {
            set_int(s, LINGER, 0);
            assert_eq!(zmq_close(s), 0);
        }
        assert_eq!(zmq_ctx_term(ctx), 0);
    }
}

/// The C string in `buf` as a `String`.
fn endpoint_str(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
