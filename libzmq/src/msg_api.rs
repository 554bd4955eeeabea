//! The message functions of the C ABI: the 14 `zmq_msg_*` calls other
//! than send and receive, over the state kept inside a `zmq_msg_t`.

use std::ffi::{c_char, c_int, c_void};

use bytes::Bytes;

use crate::boundary::{call, call_ptr};
use crate::errno::{Errno, set_errno};
use crate::free_thread::{FreeFn, UserBuffer};
use crate::message::{self, MsgState, ZMQ_MORE, ZMQ_SHARED, ZMQ_SRCFD, zmq_msg_t};

/// `zmq_msg_init`: an empty message.
///
/// # Safety
/// `msg` is NULL or points to `sizeof(zmq_msg_t)` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_init(msg: *mut zmq_msg_t) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        unsafe { message::init(msg, MsgState::new(Bytes::new())) }.map(|()| 0)
    })
}

/// `zmq_msg_init_size`: a message of `size` zeroed bytes for the caller to
/// fill through `zmq_msg_data`.
///
/// # Safety
/// As [`zmq_msg_init`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_init_size(msg: *mut zmq_msg_t, size: usize) -> c_int {
    call(|| {
        let frame = Bytes::from(zeroed(size));
        // SAFETY: caller's contract.
        unsafe { message::init(msg, MsgState::new(frame)) }.map(|()| 0)
    })
}

/// `size` zero bytes, by malloc and a memset: calloc's own path (what
/// `vec![0; size]` takes) costs more for the small frames most messages
/// are (callgrind, 64 B: 307 instructions per `zmq_msg_init_size` with
/// it, 193 without).
#[allow(
    clippy::slow_vector_initialization,
    reason = "calloc is the slow path here"
)]
fn zeroed(size: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(size);
    bytes.resize(size, 0u8);
    bytes
}

/// `zmq_msg_init_data`: a message over the caller's `size` bytes at
/// `data`, not copied; `ffn(data, hint)` (if not NULL) is called once the
/// last reference is gone, from a thread of this library.
///
/// # Safety
/// `msg` as in [`zmq_msg_init`]; `data` readable for `size` bytes until
/// `ffn` is called (forever if `ffn` is NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_init_data(
    msg: *mut zmq_msg_t,
    data: *mut c_void,
    size: usize,
    ffn: Option<FreeFn>,
    hint: *mut c_void,
) -> c_int {
    call(|| {
        if data.is_null() && size > 0 {
            return Err(Errno::INVAL);
        }
        let constant = ffn.is_none();
        // SAFETY: readable until `ffn` runs (caller's contract), which
        // UserBuffer calls only after its last reference drops.
        let buffer = unsafe { UserBuffer::new(data, size, ffn, hint) };
        let mut state = MsgState::new(Bytes::from_owner(buffer));
        if constant {
            // No free function: constant data, SHARED from the start (libzmq).
            state.mark_shared();
        }
        // SAFETY: caller's contract for `msg`.
        unsafe { message::init(msg, state) }.map(|()| 0)
    })
}

/// `zmq_msg_close`: releases the message's content.
///
/// # Safety
/// `msg` is NULL or an initialised message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_close(msg: *mut zmq_msg_t) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        drop(unsafe { message::take(msg) }?);
        Ok(0)
    })
}

/// `zmq_msg_move`: moves `src`'s content to `dest` (releasing what `dest`
/// held); `src` becomes empty.
///
/// # Safety
/// Both NULL or initialised messages.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_move(dest: *mut zmq_msg_t, src: *mut zmq_msg_t) -> c_int {
    // SAFETY: caller's contract, passed on.
    unsafe {
        fill_from(dest, src, |s| {
            std::mem::replace(s, MsgState::new(Bytes::new()))
        })
    }
}

/// `zmq_msg_copy`: `dest` shares `src`'s content (no bytes copied); both
/// then report `ZMQ_SHARED`.
///
/// # Safety
/// Both NULL or initialised messages.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_copy(dest: *mut zmq_msg_t, src: *mut zmq_msg_t) -> c_int {
    // SAFETY: caller's contract, passed on.
    unsafe { fill_from(dest, src, MsgState::share) }
}

/// `dest` takes what `fill` makes of `src` (releasing what `dest` held);
/// nothing happens when both are the same message. The common body of
/// `zmq_msg_move` and `zmq_msg_copy`.
///
/// # Safety
/// Both NULL or initialised messages.
unsafe fn fill_from(
    dest: *mut zmq_msg_t,
    src: *mut zmq_msg_t,
    fill: impl FnOnce(&mut MsgState) -> MsgState,
) -> c_int {
    call(|| {
        if dest == src {
            return Ok(0);
        }
        // SAFETY: caller's contract; distinct messages (checked), so the
        // two exclusive borrows do not alias.
        let (d, s) = unsafe { (message::state(dest)?, message::state(src)?) };
        *d = fill(s);
        Ok(0)
    })
}

/// `zmq_msg_data`: the content's address (NULL with EFAULT for an invalid
/// message).
///
/// # Safety
/// `msg` is NULL or an initialised message. Writing through the pointer
/// is allowed as in libzmq, except into `zmq_send_const` data or a
/// message shared by `zmq_msg_copy`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_data(msg: *mut zmq_msg_t) -> *mut c_void {
    call_ptr(|| {
        // SAFETY: caller's contract.
        let state = unsafe { message::state(msg) }?;
        Ok(state.frame.as_ptr().cast_mut().cast())
    })
}

/// `zmq_msg_size`: the content's length (0 for an invalid message).
///
/// # Safety
/// `msg` is NULL or an initialised message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_size(msg: *const zmq_msg_t) -> usize {
    // SAFETY: caller's contract; only read.
    match unsafe { message::state(msg.cast_mut()) } {
        Ok(state) => state.frame.len(),
        Err(e) => {
            set_errno(e);
            0
        }
    }
}

/// `zmq_msg_more`: 1 if more frames of this message follow.
///
/// # Safety
/// `msg` is NULL or an initialised message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_more(msg: *const zmq_msg_t) -> c_int {
    // SAFETY: same contract.
    unsafe { zmq_msg_get(msg, ZMQ_MORE) }
}

/// `zmq_msg_get`: MORE, SRCFD (always -1: frames here have no single
/// source descriptor) or SHARED.
///
/// # Safety
/// `msg` is NULL or an initialised message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_get(msg: *const zmq_msg_t, property: c_int) -> c_int {
    call(|| {
        // SAFETY: caller's contract; only read.
        let state = unsafe { message::state(msg.cast_mut()) }?;
        match property {
            ZMQ_MORE => Ok(c_int::from(state.more())),
            ZMQ_SRCFD => Ok(-1),
            ZMQ_SHARED => Ok(c_int::from(state.shared())),
            _ => Err(Errno::INVAL),
        }
    })
}

/// `zmq_msg_set`: no property is settable (libzmq's answer too): EINVAL.
///
/// # Safety
/// `msg` is NULL or an initialised message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_set(
    msg: *mut zmq_msg_t,
    _property: c_int,
    _value: c_int,
) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        unsafe { message::state(msg) }?;
        Err(Errno::INVAL)
    })
}

/// `zmq_msg_gets`: a metadata property of a received frame's sender
/// ("Socket-Type", "User-Id", "Peer-Address", "Identity", any property
/// of its handshake), valid while the message lives; NULL with EINVAL if
/// absent.
///
/// # Safety
/// `msg` is NULL or an initialised message; `property` NULL or a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_msg_gets(
    msg: *const zmq_msg_t,
    property: *const c_char,
) -> *const c_char {
    call_ptr(|| {
        // SAFETY: caller's contract, for both pointers.
        let (state, name) = unsafe {
            (
                message::state(msg.cast_mut())?,
                message::property_name(property)?,
            )
        };
        let metadata = state.metadata.as_ref().ok_or(Errno::INVAL)?;
        metadata.get(name).map(|p| p.cast_mut())
    })
    .cast_const()
}
