//! `zmq_version` and `zmq_has`: which libzmq this library stands in for,
//! and what it was built with.

use std::ffi::{c_char, c_int};

use crate::boundary::c_str;

/// The libzmq version whose ABI this library provides.
pub const VERSION: (c_int, c_int, c_int) = (4, 3, 5);

/// `zmq_version`: writes major, minor and patch (NULL pointers skipped).
///
/// # Safety
/// Each pointer is NULL or valid for writing an `int`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_version(major: *mut c_int, minor: *mut c_int, patch: *mut c_int) {
    crate::boundary::call_void(|| {
        for (out, value) in [(major, VERSION.0), (minor, VERSION.1), (patch, VERSION.2)] {
            if !out.is_null() {
                // SAFETY: not NULL, and valid for an int write (contract).
                unsafe { out.write(value) };
            }
        }
    });
}

/// Capabilities `zmq_has` confirms: the transports and mechanisms built in.
const CAPABILITIES: [&str; 2] = ["ipc", "curve"];

/// `zmq_has`: 1 if `capability` ("ipc", "curve") is available, else 0
/// ("draft", "pgm", "tipc", "norm", "gssapi", "ws", "wss", "vmci").
///
/// # Safety
/// `capability` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_has(capability: *const c_char) -> c_int {
    crate::boundary::call(|| {
        // SAFETY: caller's contract.
        let name = unsafe { c_str(capability) }.unwrap_or("");
        Ok(c_int::from(CAPABILITIES.contains(&name)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_4_3_5_and_capabilities() {
        let (mut a, mut b, mut c) = (0, 0, 0);
        // SAFETY: three valid int pointers.
        unsafe { zmq_version(&mut a, &mut b, &mut c) };
        assert_eq!((a, b, c), (4, 3, 5));
        // SAFETY: NUL-terminated literals.
        unsafe {
            assert_eq!(zmq_has(c"ipc".as_ptr()), 1);
            assert_eq!(zmq_has(c"curve".as_ptr()), 1);
            assert_eq!(zmq_has(c"draft".as_ptr()), 0);
        }
    }
}
