//! `zmq_proxy_steerable` and `zmq_proxy` through the C ABI: messages cross
//! a PULL→PUSH proxy, a REQ in another context reads the eight statistics
//! frames and terminates it (Zeek's forwarder pattern), and a plain proxy
//! ends with ETERM when its context shuts down.

#![allow(unsafe_code, clippy::unwrap_used)]

use std::ffi::{c_int, c_void};
use std::time::Duration;

use zmq::ctx_api::*;
use zmq::errno::{ETERM, zmq_errno};
use zmq::proxy_api::{zmq_proxy, zmq_proxy_steerable};
use zmq::socket_api::*;

const REQ: c_int = 3;
const REP: c_int = 4;
const PULL: c_int = 7;
const PUSH: c_int = 8;
const LINGER: c_int = 17;
const RCVMORE: c_int = 13;
const RCVTIMEO: c_int = 27;

struct Ptr(*mut c_void);
// SAFETY: each socket is used by one thread at a time, as the C contract
// asks; contexts are thread-safe.
unsafe impl Send for Ptr {}

fn close_all(sockets: &[*mut c_void]) {
    for &s in sockets {
        let zero: c_int = 0;
        // SAFETY: live sockets, given up.
        unsafe {
            zmq_setsockopt(s, LINGER, (&raw const zero).cast(), 4);
            assert_eq!(zmq_close(s), 0);
        }
    }
}

#[test]
fn a_steered_proxy_forwards_counts_and_terminates() {
    let proxy_ctx = zmq_ctx_new();
    let node_ctx = zmq_ctx_new();
    // SAFETY: live handles and valid buffers throughout.
    unsafe {
        let front = zmq_socket(proxy_ctx, PULL);
        let back = zmq_socket(proxy_ctx, PUSH);
        let control = zmq_socket(node_ctx, REP);
        assert_eq!(zmq_bind(front, c"inproc://proxy-front".as_ptr()), 0);
        assert_eq!(zmq_bind(back, c"inproc://proxy-back".as_ptr()), 0);
        assert_eq!(zmq_bind(control, c"inproc://proxy-control".as_ptr()), 0);
        let (f, b, c) = (Ptr(front), Ptr(back), Ptr(control));
        let runner = std::thread::spawn(move || {
            let (f, b, c) = (f, b, c);
            let rc = zmq_proxy_steerable(f.0, b.0, std::ptr::null_mut(), c.0);
            (rc, f, b, c)
        });

        // inproc names belong to a context (as in libzmq): the data
        // sockets reach the proxy's, the requester the node's control.
        let producer = zmq_socket(proxy_ctx, PUSH);
        let consumer = zmq_socket(proxy_ctx, PULL);
        let requester = zmq_socket(node_ctx, REQ);
        assert_eq!(zmq_connect(producer, c"inproc://proxy-front".as_ptr()), 0);
        assert_eq!(zmq_connect(consumer, c"inproc://proxy-back".as_ptr()), 0);
        assert_eq!(
            zmq_connect(requester, c"inproc://proxy-control".as_ptr()),
            0
        );
        assert_eq!(zmq_send(producer, b"through".as_ptr().cast(), 7, 0), 7);
        let mut buf = [0u8; 16];
        assert_eq!(zmq_recv(consumer, buf.as_mut_ptr().cast(), 16, 0), 7);
        assert_eq!(&buf[..7], b"through");

        assert_eq!(
            zmq_send(requester, b"STATISTICS".as_ptr().cast(), 10, 0),
            10
        );
        let mut stats = Vec::new();
        loop {
            let mut v = [0u8; 8];
            assert_eq!(zmq_recv(requester, v.as_mut_ptr().cast(), 8, 0), 8);
            stats.push(u64::from_ne_bytes(v));
            let mut more: c_int = 0;
            let mut len = 4usize;
            zmq_getsockopt(requester, RCVMORE, (&raw mut more).cast(), &mut len);
            if more == 0 {
                break;
            }
        }
        // Frontend received 1 message of 7 bytes; backend sent it.
        assert_eq!(stats, [1, 7, 0, 0, 0, 0, 1, 7]);

        assert_eq!(zmq_send(requester, b"TERMINATE".as_ptr().cast(), 9, 0), 9);
        assert_eq!(zmq_recv(requester, buf.as_mut_ptr().cast(), 16, 0), 0);
        let (rc, f, b, c) = runner.join().unwrap();
        assert_eq!(rc, 0);
        close_all(&[producer, consumer, requester, f.0, b.0, c.0]);
        assert_eq!(zmq_ctx_term(node_ctx), 0);
        assert_eq!(zmq_ctx_term(proxy_ctx), 0);
    }
}

#[test]
fn a_plain_proxy_ends_with_eterm_on_shutdown() {
    let ctx = zmq_ctx_new();
    // SAFETY: live handles throughout.
    unsafe {
        let front = zmq_socket(ctx, PULL);
        let back = zmq_socket(ctx, PUSH);
        assert_eq!(zmq_bind(front, c"inproc://plain-front".as_ptr()), 0);
        let (f, b) = (Ptr(front), Ptr(back));
        let runner = std::thread::spawn(move || {
            let (f, b) = (f, b);
            let rc = zmq_proxy(f.0, b.0, std::ptr::null_mut());
            (rc, zmq_errno(), f, b)
        });
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(zmq_ctx_shutdown(ctx), 0);
        let (rc, errno, f, b) = runner.join().unwrap();
        assert_eq!((rc, errno), (-1, ETERM));
        assert_eq!(zmq_close(f.0), 0);
        assert_eq!(zmq_close(b.0), 0);
        assert_eq!(zmq_ctx_term(ctx), 0);
    }
}

#[test]
fn a_proxy_forwards_what_a_receive_had_taken_but_not_handed_out() {
    let ctx = zmq_ctx_new();
    // SAFETY: live handles and valid buffers throughout.
    unsafe {
        let front = zmq_socket(ctx, PULL);
        let back = zmq_socket(ctx, PUSH);
        let producer = zmq_socket(ctx, PUSH);
        let consumer = zmq_socket(ctx, PULL);
        assert_eq!(zmq_bind(front, c"inproc://held-front".as_ptr()), 0);
        assert_eq!(zmq_bind(back, c"inproc://held-back".as_ptr()), 0);
        assert_eq!(zmq_connect(producer, c"inproc://held-front".as_ptr()), 0);
        assert_eq!(zmq_connect(consumer, c"inproc://held-back".as_ptr()), 0);
        for i in 0..5u8 {
            assert_eq!(zmq_send(producer, [b'0' + i].as_ptr().cast(), 1, 0), 1);
        }
        // All five reach the front (settling, not an assertion); the
        // application reads one, which takes the rest off the transport
        // in the same batch.
        std::thread::sleep(Duration::from_millis(200));
        let mut buf = [0u8; 4];
        assert_eq!(zmq_recv(front, buf.as_mut_ptr().cast(), 4, 0), 1);
        assert_eq!(buf[0], b'0');
        let (f, b) = (Ptr(front), Ptr(back));
        let runner = std::thread::spawn(move || {
            let (f, b) = (f, b);
            let rc = zmq_proxy(f.0, b.0, std::ptr::null_mut());
            (rc, f, b)
        });
        let timeout: c_int = 5000;
        zmq_setsockopt(consumer, RCVTIMEO, (&raw const timeout).cast(), 4);
        for i in 1..5u8 {
            assert_eq!(zmq_recv(consumer, buf.as_mut_ptr().cast(), 4, 0), 1);
            assert_eq!(buf[0], b'0' + i);
        }
        assert_eq!(zmq_ctx_shutdown(ctx), 0);
        let (rc, f, b) = runner.join().unwrap();
        assert_eq!(rc, -1);
        close_all(&[f.0, b.0, producer, consumer]);
        assert_eq!(zmq_ctx_term(ctx), 0);
    }
}
