//! `zmq_sendiov` and `zmq_recviov` through the C ABI, as libzmq's
//! test_iov uses them: a multipart message sent from an iovec array, read
//! back into malloc'd buffers the caller frees; libzmq's errno values for
//! a bad socket, a zero count and a NULL array.

#![allow(unsafe_code, clippy::unwrap_used)]

use std::ffi::{c_int, c_void};

use zmq::ctx_api::*;
use zmq::errno::zmq_errno;
use zmq::iov_api::*;
use zmq::socket_api::*;

const PAIR: c_int = 0;
const SNDMORE: c_int = 2;
const LINGER: c_int = 17;

#[test]
fn iovecs_send_and_receive_multipart_messages() {
    let ctx = zmq_ctx_new();
    // SAFETY: live handles, C strings, and iovecs over live buffers.
    unsafe {
        let a = zmq_socket(ctx, PAIR);
        let b = zmq_socket(ctx, PAIR);
        assert_eq!(zmq_bind(a, c"inproc://iov".as_ptr()), 0);
        assert_eq!(zmq_connect(b, c"inproc://iov".as_ptr()), 0);

        let mut parts = [*b"one", *b"two", *b"six"];
        let mut send: Vec<libc::iovec> = parts
            .iter_mut()
            .map(|p| libc::iovec {
                iov_base: p.as_mut_ptr().cast(),
                iov_len: 3,
            })
            .collect();
        let none: *mut c_void = std::ptr::null_mut();
        assert_eq!(
            (
                zmq_sendiov(none, send.as_mut_ptr(), 3, SNDMORE),
                zmq_errno()
            ),
            (-1, libc::ENOTSOCK)
        );
        assert_eq!(
            (zmq_sendiov(b, send.as_mut_ptr(), 0, 0), zmq_errno()),
            (-1, libc::EINVAL)
        );
        assert_eq!(
            (zmq_sendiov(b, std::ptr::null_mut(), 3, 0), zmq_errno()),
            (-1, libc::EINVAL)
        );
        // The last frame's size, as libzmq returns.
        assert_eq!(zmq_sendiov(b, send.as_mut_ptr(), 3, SNDMORE), 3);

        let mut recv = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; 4];
        let mut count = 0usize;
        assert_eq!(
            (
                zmq_recviov(a, recv.as_mut_ptr(), &mut count, 0),
                zmq_errno()
            ),
            (-1, libc::EINVAL)
        );
        assert_eq!(
            (
                zmq_recviov(a, recv.as_mut_ptr(), std::ptr::null_mut(), 0),
                zmq_errno()
            ),
            (-1, libc::EINVAL)
        );
        count = 4;
        assert_eq!(zmq_recviov(a, recv.as_mut_ptr(), &mut count, 0), 3);
        assert_eq!(count, 3);
        for (iov, part) in recv.iter().zip(parts) {
            let got = std::slice::from_raw_parts(iov.iov_base.cast::<u8>(), iov.iov_len);
            assert_eq!(got, part);
            libc::free(iov.iov_base);
        }
        for s in [a, b] {
            let zero: c_int = 0;
            zmq_setsockopt(s, LINGER, (&raw const zero).cast(), 4);
            assert_eq!(zmq_close(s), 0);
        }
    }
    assert_eq!(unsafe { zmq_ctx_term(ctx) }, 0);
}
