//! Error numbers as libzmq reports them, and the thread's `errno`.
//!
//! On Linux every POSIX error is the system's own value; the four errors
//! only ZeroMQ has sit at `ZMQ_HAUSNUMERO + 51..54`, as in libzmq's
//! `zmq.h`. Failing calls return -1 (or NULL) and leave the number in the
//! calling thread's C `errno`, which [`zmq_errno`] reads back.

use std::ffi::{CStr, c_char, c_int};

use thiserror::Error;

/// The base of ZeroMQ's own error numbers.
pub const ZMQ_HAUSNUMERO: c_int = 156_384_712;
/// The operation is not valid in the socket's current state (REQ/REP turns).
pub const EFSM: c_int = ZMQ_HAUSNUMERO + 51;
/// The peer speaks an incompatible protocol.
pub const ENOCOMPATPROTO: c_int = ZMQ_HAUSNUMERO + 52;
/// The context was shut down or terminated.
pub const ETERM: c_int = ZMQ_HAUSNUMERO + 53;
/// No I/O thread is available.
pub const EMTHREAD: c_int = ZMQ_HAUSNUMERO + 54;

/// Why a call failed, as the number the C caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{} (errno {})", describe(self.0), self.0)]
pub struct Errno(pub c_int);

impl Errno {
    /// An argument is invalid (unknown option, bad endpoint, NULL pointer).
    pub const INVAL: Errno = Errno(libc::EINVAL);
    /// The call would block (DONTWAIT, or the timeout passed).
    pub const AGAIN: Errno = Errno(libc::EAGAIN);
    /// Not supported (yet) by this library or by this socket type.
    pub const NOTSUP: Errno = Errno(libc::ENOTSUP);
    /// The context is shutting down.
    pub const TERM: Errno = Errno(ETERM);
    /// Out of turn for a REQ or REP socket.
    pub const FSM: Errno = Errno(EFSM);
    /// The object pointer is not a live object of this library.
    pub const FAULT: Errno = Errno(libc::EFAULT);
    /// The socket is not a socket (closed, or the wrong pointer).
    pub const NOTSOCK: Errno = Errno(libc::ENOTSOCK);
    /// A system call was interrupted.
    pub const INTR: Errno = Errno(libc::EINTR);
}

/// Sets the calling thread's C `errno`.
pub fn set_errno(errno: Errno) {
    // SAFETY: `__errno_location` returns the address of this thread's
    // `errno`, valid for the whole life of the thread and written by no
    // other thread; storing an int there is what `errno = n` does in C.
    unsafe { *libc::__errno_location() = errno.0 };
}

/// Reads the calling thread's C `errno`.
pub fn get_errno() -> c_int {
    // SAFETY: as in `set_errno`: this thread's own `errno`, always valid.
    unsafe { *libc::__errno_location() }
}

/// The text for ZeroMQ's own numbers, `None` for the system's.
fn zmq_message(errnum: c_int) -> Option<&'static CStr> {
    Some(match errnum {
        EFSM => c"Operation cannot be accomplished in current state",
        ENOCOMPATPROTO => c"The protocol is not compatible with the socket type",
        ETERM => c"Context was terminated",
        EMTHREAD => c"No thread available",
        _ => return None,
    })
}

/// A human-readable text for any error number.
pub fn describe(errnum: c_int) -> String {
    match zmq_message(errnum) {
        Some(text) => text.to_string_lossy().into_owned(),
        None => std::io::Error::from_raw_os_error(errnum).to_string(),
    }
}

/// `zmq_errno`: the calling thread's `errno` (for callers whose runtime
/// hides the C variable).
#[unsafe(no_mangle)]
pub extern "C" fn zmq_errno() -> c_int {
    get_errno()
}

/// `zmq_strerror`: a static, NUL-terminated description of `errnum`.
#[unsafe(no_mangle)]
pub extern "C" fn zmq_strerror(errnum: c_int) -> *const c_char {
    match zmq_message(errnum) {
        Some(text) => text.as_ptr(),
        // SAFETY: `strerror` returns a pointer to a NUL-terminated string
        // that glibc keeps valid (a static table entry, or a thread-local
        // buffer for unknown numbers, valid until the next call in this
        // thread), which is the lifetime libzmq documents too.
        None => unsafe { libc::strerror(errnum) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zmq_numbers_match_libzmq() {
        assert_eq!(ETERM, 156_384_765);
        assert_eq!(EFSM, 156_384_763);
        assert_eq!(EMTHREAD, 156_384_766);
    }

    #[test]
    fn errno_is_per_thread() {
        set_errno(Errno::TERM);
        std::thread::spawn(|| {
            set_errno(Errno::AGAIN);
            assert_eq!(zmq_errno(), libc::EAGAIN);
        })
        .join()
        .unwrap_or_default();
        assert_eq!(zmq_errno(), ETERM);
    }

    #[test]
    fn strerror_covers_both_kinds() {
        // SAFETY: zmq_strerror returns valid NUL-terminated strings.
        let term = unsafe { CStr::from_ptr(zmq_strerror(ETERM)) };
        assert_eq!(term.to_str().ok(), Some("Context was terminated"));
        // SAFETY: as above.
        let inval = unsafe { CStr::from_ptr(zmq_strerror(libc::EINVAL)) };
        assert_eq!(inval.to_str().ok(), Some("Invalid argument"));
        assert_eq!(describe(ETERM), "Context was terminated");
    }
}
