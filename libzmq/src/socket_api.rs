//! The socket functions of the C ABI: `zmq_socket`, `zmq_close`, binding
//! and connecting, options, and sending and receiving frames (from
//! buffers or `zmq_msg_t`s).

use std::ffi::{c_char, c_int, c_void};

use bytes::Bytes;

use crate::boundary::{bytes, c_str, call, call_ptr};
use crate::ctx_api::context;
use crate::errno::Errno;
use crate::handle::{self, tags};
use crate::message::{self, zmq_msg_t};
use crate::socket::{ZSocket, socket_type};
use crate::sockopt::Value;

/// The socket behind a C handle (ENOTSOCK if it is not one).
///
/// # Safety
/// `s` is NULL or a pointer from `zmq_socket` not yet closed.
unsafe fn socket<'a>(s: *mut c_void) -> Result<&'a ZSocket, Errno> {
    // SAFETY: forwarded contract.
    unsafe { handle::borrow::<ZSocket>(s, tags::SOCKET, Errno::NOTSOCK) }
}

/// Frame sizes are returned as `int`: longer ones report `INT_MAX`.
fn size_int(len: usize) -> c_int {
    c_int::try_from(len).unwrap_or(c_int::MAX)
}

/// `zmq_socket`: a socket of libzmq type number `type_` in `ctx`.
///
/// # Safety
/// `ctx` is NULL or a live context pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_socket(ctx: *mut c_void, type_: c_int) -> *mut c_void {
    call_ptr(|| {
        // SAFETY: caller's contract.
        let ctx = unsafe { context(ctx) }?.clone();
        let socket = ZSocket::new(ctx, socket_type(type_)?)?;
        Ok(handle::into_raw(tags::SOCKET, socket))
    })
}

/// `zmq_close`: closes the socket; queued messages are delivered in the
/// background for up to `ZMQ_LINGER`.
///
/// # Safety
/// `s` is NULL or a live socket pointer, used by no other thread now; it
/// is dangling afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_close(s: *mut c_void) -> c_int {
    call(|| {
        // SAFETY: caller's contract, which gives the pointer up.
        let socket = unsafe { handle::from_raw::<ZSocket>(s, tags::SOCKET, Errno::NOTSOCK) }?;
        socket.close();
        Ok(0)
    })
}

/// `zmq_bind`: binds an endpoint (`tcp://*:*` picks a port; read it back
/// with `ZMQ_LAST_ENDPOINT`).
///
/// # Safety
/// `s` is NULL or a live socket; `addr` NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_bind(s: *mut c_void, addr: *const c_char) -> c_int {
    call(|| {
        // SAFETY: caller's contract, for both pointers.
        let (socket, addr) = unsafe { (socket(s)?, c_str(addr)?) };
        socket.bind(addr).map(|()| 0)
    })
}

/// `zmq_connect`: connects an endpoint (in the background, reconnecting).
///
/// # Safety
/// As [`zmq_bind`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_connect(s: *mut c_void, addr: *const c_char) -> c_int {
    call(|| {
        // SAFETY: caller's contract, for both pointers.
        let (socket, addr) = unsafe { (socket(s)?, c_str(addr)?) };
        socket.connect(addr).map(|()| 0)
    })
}

/// `zmq_unbind`: stops a bound endpoint (named as `ZMQ_LAST_ENDPOINT`
/// reads it for a wildcard bind) and closes the links accepted through
/// it; ENOENT if the socket has no such endpoint. Like libzmq, it also
/// stops a connected endpoint of that name.
///
/// # Safety
/// As [`zmq_bind`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_unbind(s: *mut c_void, addr: *const c_char) -> c_int {
    call(|| {
        // SAFETY: caller's contract, for both pointers.
        let (socket, addr) = unsafe { (socket(s)?, c_str(addr)?) };
        socket.term_endpoint(addr).map(|()| 0)
    })
}

/// `zmq_disconnect`: stops a connected endpoint (no more reconnects) and
/// closes its link; ENOENT if the socket has no such endpoint. Like
/// libzmq, the same function as [`zmq_unbind`].
///
/// # Safety
/// As [`zmq_bind`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_disconnect(s: *mut c_void, addr: *const c_char) -> c_int {
    call(|| {
        // SAFETY: caller's contract, for both pointers.
        let (socket, addr) = unsafe { (socket(s)?, c_str(addr)?) };
        socket.term_endpoint(addr).map(|()| 0)
    })
}

/// `zmq_send`: sends `len` bytes as one frame (copied); returns `len`.
///
/// # Safety
/// `s` is NULL or a live socket; `buf` readable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_send(
    s: *mut c_void,
    buf: *const c_void,
    len: usize,
    flags: c_int,
) -> c_int {
    call(|| {
        // SAFETY: caller's contract, for both pointers.
        let (socket, data) = unsafe { (socket(s)?, bytes(buf, len)?) };
        socket.send(&mut Bytes::copy_from_slice(data), flags)?;
        Ok(size_int(len))
    })
}

/// `zmq_send_const`: as `zmq_send`, but the bytes are constant and stay
/// valid for the life of the process, so they are not copied.
///
/// # Safety
/// `s` is NULL or a live socket; `buf` readable for `len` bytes and never
/// changed or freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_send_const(
    s: *mut c_void,
    buf: *const c_void,
    len: usize,
    flags: c_int,
) -> c_int {
    call(|| {
        // SAFETY: caller's contract: a live socket, and bytes that are
        // valid and unchanged for the rest of the process ('static).
        let (socket, data) = unsafe { (socket(s)?, bytes::<'static>(buf, len)?) };
        socket.send(&mut Bytes::from_static(data), flags)?;
        Ok(size_int(len))
    })
}

/// `zmq_recv`: receives one frame into `buf`, truncated to `len`; returns
/// the frame's full length.
///
/// # Safety
/// `s` is NULL or a live socket; `buf` writable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_recv(
    s: *mut c_void,
    buf: *mut c_void,
    len: usize,
    flags: c_int,
) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        let socket = unsafe { socket(s) }?;
        if buf.is_null() && len > 0 {
            return Err(Errno::INVAL);
        }
        let frame = socket.recv(flags)?.frame;
        let n = frame.len().min(len);
        if n > 0 {
            // SAFETY: `buf` is writable for `len` >= n bytes (contract) and
            // cannot overlap the frame, which this library allocated.
            unsafe { std::ptr::copy_nonoverlapping(frame.as_ptr(), buf.cast::<u8>(), n) };
        }
        Ok(size_int(frame.len()))
    })
}

/// `zmq_msg_send`: sends the message's frame; on success the message is
/// emptied (as if freshly initialised), on failure it is left as it was
/// (see `ZSocket::send`). The frame moves into the socket uncopied.
///
/// # Safety
/// `msg` is NULL or an initialised message; `s` NULL or a live socket.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_send(msg: *mut zmq_msg_t, s: *mut c_void, flags: c_int) -> c_int {
    call(|| {
        // SAFETY: caller's contract, for both pointers.
        let (socket, state) = unsafe { (socket(s)?, message::state(msg)?) };
        let len = state.frame.len();
        socket.send(&mut state.frame, flags)?;
        *state = message::MsgState::new(Bytes::new());
        Ok(size_int(len))
    })
}

/// `zmq_msg_recv`: receives one frame into the message (its previous
/// content is released); returns the frame's length.
///
/// # Safety
/// `msg` is NULL or an initialised message; `s` NULL or a live socket.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_recv(msg: *mut zmq_msg_t, s: *mut c_void, flags: c_int) -> c_int {
    call(|| {
        // SAFETY: caller's contract, for both pointers.
        let (socket, state) = unsafe { (socket(s)?, message::state(msg)?) };
        socket.recv_into(state, flags)?;
        Ok(size_int(state.frame.len()))
    })
}

/// `zmq_sendmsg`: the old name of `zmq_msg_send` (arguments swapped).
///
/// # Safety
/// As [`zmq_msg_send`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_sendmsg(s: *mut c_void, msg: *mut zmq_msg_t, flags: c_int) -> c_int {
    // SAFETY: same contract.
    unsafe { zmq_msg_send(msg, s, flags) }
}

/// `zmq_recvmsg`: the old name of `zmq_msg_recv` (arguments swapped).
///
/// # Safety
/// As [`zmq_msg_recv`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_recvmsg(s: *mut c_void, msg: *mut zmq_msg_t, flags: c_int) -> c_int {
    // SAFETY: same contract.
    unsafe { zmq_msg_recv(msg, s, flags) }
}

/// `zmq_socket_monitor`: the socket's events, as libzmq's version 1
/// two-frame messages, on a PAIR bound at `addr` (`inproc://` only);
/// `addr` NULL stops monitoring.
///
/// # Safety
/// `s` is NULL or a live socket; `addr` NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_socket_monitor(
    s: *mut c_void,
    addr: *const c_char,
    events: c_int,
) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        let socket = unsafe { socket(s) }?;
        let addr = if addr.is_null() {
            None
        } else {
            // SAFETY: not NULL, NUL-terminated (contract).
            Some(unsafe { c_str(addr) }?)
        };
        socket.monitor(addr, events).map(|()| 0)
    })
}

/// `zmq_setsockopt`: sets option number `option` from `len` bytes.
///
/// # Safety
/// `s` is NULL or a live socket; `value` readable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_setsockopt(
    s: *mut c_void,
    option: c_int,
    value: *const c_void,
    len: usize,
) -> c_int {
    call(|| {
        // SAFETY: caller's contract, for both pointers.
        let (socket, value) = unsafe { (socket(s)?, bytes(value, len)?) };
        socket.set_option(option, value).map(|()| 0)
    })
}

/// `zmq_getsockopt`: writes option `option` into `value` (room for `*len`
/// bytes) and sets `*len` to the size written.
///
/// # Safety
/// `s` is NULL or a live socket; `len` NULL or valid; `value` writable
/// for `*len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_getsockopt(
    s: *mut c_void,
    option: c_int,
    value: *mut c_void,
    len: *mut usize,
) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        let socket = unsafe { socket(s) }?;
        if len.is_null() || value.is_null() {
            return Err(Errno::FAULT);
        }
        // SAFETY: `len` is valid for reads and writes (contract).
        let room = unsafe { *len };
        let answer = socket.get_option(option)?;
        // libzmq zeroes the rest of a larger buffer after a number.
        let number = matches!(answer, Value::Int(_) | Value::Int64(_));
        let encoded = encode(answer, room)?;
        // SAFETY: `value` is writable for `room` >= encoded.len() bytes
        // (checked by `encode`), and does not overlap our fresh buffer;
        // the zeroed tail lies within the same `room` bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(encoded.as_ptr(), value.cast::<u8>(), encoded.len());
            if number {
                let tail = value.cast::<u8>().add(encoded.len());
                std::ptr::write_bytes(tail, 0, room - encoded.len());
            }
            *len = encoded.len();
        }
        Ok(0)
    })
}

/// The bytes of a `getsockopt` answer for a buffer of `room` bytes:
/// EINVAL if it does not fit (ints and int64s need exactly their size, as
/// libzmq checks).
fn encode(value: Value, room: usize) -> Result<Vec<u8>, Errno> {
    let bytes = match value {
        Value::Int(n) if room >= 4 => n.to_ne_bytes().to_vec(),
        Value::Int64(n) if room >= 8 => n.to_ne_bytes().to_vec(),
        Value::Bytes(b) if room >= b.len() => b,
        Value::Str(s) if room > s.len() => {
            let mut b = s.into_bytes();
            b.push(0);
            b
        }
        Value::Key(k) if room == 32 => k.to_vec(),
        Value::Key(k) if room >= 41 => {
            let mut b = zmtp::z85::encode_key(&k).into_bytes();
            b.push(0);
            b
        }
        _ => return Err(Errno::INVAL),
    };
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_must_fit() {
        assert_eq!(encode(Value::Int(3), 4), Ok(3i32.to_ne_bytes().to_vec()));
        assert_eq!(encode(Value::Int(3), 2), Err(Errno::INVAL));
        assert_eq!(encode(Value::Str("ab".into()), 3), Ok(b"ab\0".to_vec()));
        assert_eq!(encode(Value::Str("ab".into()), 2), Err(Errno::INVAL));
        assert_eq!(encode(Value::Key([0; 32]), 41).map(|b| b.len()), Ok(41));
        assert_eq!(encode(Value::Key([0; 32]), 33), Err(Errno::INVAL));
    }
}
