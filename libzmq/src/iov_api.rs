//! `zmq_sendiov` and `zmq_recviov`: a multipart message sent from, or
//! received into, an array of `struct iovec`, as libzmq 4.3 does it. Each
//! element is one frame, copied; received frames go into buffers from
//! `malloc` that the caller releases with `free`.

use std::ffi::{c_int, c_void};

use bytes::Bytes;

use crate::boundary::call;
use crate::errno::Errno;
use crate::handle::{self, tags};
use crate::socket::ZSocket;

/// `ZMQ_SNDMORE`.
const ZMQ_SNDMORE: c_int = 2;

/// `zmq_sendiov`: sends `count` frames, `iov[i]` each, with `flags` on
/// every frame but the last, which goes without `ZMQ_SNDMORE`. Returns
/// the last frame's size (libzmq's answer). EINVAL for no frames or a
/// NULL array; a failed frame stops there with its errno.
///
/// # Safety
/// `s` is NULL or a live socket; `iov` NULL or `count` iovecs, each
/// readable for `iov_len` bytes at `iov_base`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_sendiov(
    s: *mut c_void,
    iov: *mut libc::iovec,
    count: usize,
    flags: c_int,
) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        let socket = unsafe { socket(s) }?;
        if count == 0 || iov.is_null() {
            return Err(Errno::INVAL);
        }
        // SAFETY: `iov` holds `count` iovecs (contract).
        let parts = unsafe { std::slice::from_raw_parts(iov, count) };
        let mut sent = 0;
        for (i, part) in parts.iter().enumerate() {
            // SAFETY: each iovec is readable for its length (contract).
            let data = unsafe { iov_bytes(part) }?;
            let frame_flags = if i + 1 == count {
                flags & !ZMQ_SNDMORE
            } else {
                flags
            };
            socket.send(&mut Bytes::copy_from_slice(data), frame_flags)?;
            sent = c_int::try_from(data.len()).unwrap_or(c_int::MAX);
        }
        Ok(sent)
    })
}

/// `zmq_recviov`: receives up to `*count` frames of one message into
/// `iov` (each `iov_base` a fresh `malloc` block of `iov_len` bytes, for
/// the caller to `free`), stopping after the message's last frame; sets
/// `*count` to the frames received and returns it. EINVAL for a NULL or
/// zero count or a NULL array.
///
/// # Safety
/// `s` is NULL or a live socket; `count` NULL or valid; `iov` NULL or
/// writable for `*count` iovecs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_recviov(
    s: *mut c_void,
    iov: *mut libc::iovec,
    count: *mut usize,
    flags: c_int,
) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        let socket = unsafe { socket(s) }?;
        if count.is_null() || iov.is_null() {
            return Err(Errno::INVAL);
        }
        // SAFETY: `count` is valid (checked non-NULL; contract).
        let room = unsafe { *count };
        if room == 0 {
            return Err(Errno::INVAL);
        }
        // SAFETY: as above.
        unsafe { *count = 0 };
        let mut received = 0usize;
        while received < room {
            let frame = socket.recv(flags)?;
            let copy = malloc_copy(&frame.frame)?;
            // SAFETY: `iov` is writable for `room` > `received` iovecs and
            // `count` is valid (contract).
            unsafe {
                *iov.add(received) = copy;
                received += 1;
                *count = received;
            }
            if !frame.more() {
                break;
            }
        }
        Ok(c_int::try_from(received).unwrap_or(c_int::MAX))
    })
}

/// The socket behind a C handle (ENOTSOCK if it is not one).
///
/// # Safety
/// `s` is NULL or a pointer this library handed out.
unsafe fn socket<'a>(s: *mut c_void) -> Result<&'a ZSocket, Errno> {
    // SAFETY: forwarded contract.
    unsafe { handle::borrow::<ZSocket>(s, tags::SOCKET, Errno::NOTSOCK) }
}

/// The bytes an iovec points at.
///
/// # Safety
/// `part.iov_base` is readable for `part.iov_len` bytes (or the length 0).
unsafe fn iov_bytes<'a>(part: &libc::iovec) -> Result<&'a [u8], Errno> {
    if part.iov_len == 0 {
        return Ok(&[]);
    }
    if part.iov_base.is_null() {
        return Err(Errno::INVAL);
    }
    // SAFETY: readable for `iov_len` bytes (contract), not NULL (checked).
    Ok(unsafe { std::slice::from_raw_parts(part.iov_base.cast::<u8>(), part.iov_len) })
}

/// `data` in a fresh `malloc` block, as an iovec (ENOMEM if none).
fn malloc_copy(data: &[u8]) -> Result<libc::iovec, Errno> {
    // SAFETY: malloc of any size; at least 1 byte so that a NULL answer
    // always means failure.
    let block = unsafe { libc::malloc(data.len().max(1)) };
    if block.is_null() {
        return Err(Errno(libc::ENOMEM));
    }
    // SAFETY: `block` is a fresh allocation of at least `data.len()` bytes,
    // distinct from `data`.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), block.cast::<u8>(), data.len()) };
    Ok(libc::iovec {
        iov_base: block,
        iov_len: data.len(),
    })
}
