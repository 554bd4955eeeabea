//! The functions of libzmq's stable ABI that later increments build. Each
//! is exported, so programs link, and fails loudly: -1 (or NULL) with
//! ENOTSUP. `docs/libzmq.md` tracks them.

use std::ffi::{c_int, c_void};

use crate::boundary::call;
use crate::errno::Errno;

fn not_yet() -> c_int {
    call(|| Err(Errno::NOTSUP))
}

/// `zmq_sendiov`: not yet (ENOTSUP).
#[unsafe(no_mangle)]
pub extern "C" fn zmq_sendiov(
    _s: *mut c_void,
    _iov: *mut libc::iovec,
    _count: usize,
    _flags: c_int,
) -> c_int {
    not_yet()
}

/// `zmq_recviov`: not yet (ENOTSUP).
#[unsafe(no_mangle)]
pub extern "C" fn zmq_recviov(
    _s: *mut c_void,
    _iov: *mut libc::iovec,
    _count: *mut usize,
    _flags: c_int,
) -> c_int {
    not_yet()
}
