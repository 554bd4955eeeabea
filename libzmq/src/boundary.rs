//! The edge between C and Rust: every exported function runs its body
//! through [`call`] (or [`call_ptr`]), which catches panics so none unwinds
//! into C, and turns a typed [`Errno`] into libzmq's convention: -1 or NULL
//! returned, the number left in the caller's `errno`.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use crate::errno::{Errno, set_errno};

/// Runs an `int`-returning body: `Ok(n)` is returned as is, an error (or
/// a caught panic, reported as EFAULT) sets `errno` and returns -1.
pub fn call(body: impl FnOnce() -> Result<c_int, Errno>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(n)) => n,
        Ok(Err(errno)) => {
            set_errno(errno);
            -1
        }
        Err(_) => {
            set_errno(Errno::FAULT);
            -1
        }
    }
}

/// Runs a pointer-returning body: an error (or a caught panic) sets
/// `errno` and returns NULL.
pub fn call_ptr<T>(body: impl FnOnce() -> Result<*mut T, Errno>) -> *mut T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(p)) => p,
        Ok(Err(errno)) => {
            set_errno(errno);
            ptr::null_mut()
        }
        Err(_) => {
            set_errno(Errno::FAULT);
            ptr::null_mut()
        }
    }
}

/// Runs a body that returns nothing, swallowing a panic (there is no way
/// to report it: the C signature returns `void`).
pub fn call_void(body: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(body));
}

/// A C string argument as UTF-8, EINVAL if NULL or not UTF-8.
///
/// # Safety
/// `s` is NULL or points to a NUL-terminated string that stays valid and
/// unchanged for `'a`.
pub unsafe fn c_str<'a>(s: *const c_char) -> Result<&'a str, Errno> {
    if s.is_null() {
        return Err(Errno::INVAL);
    }
    // SAFETY: not NULL, and NUL-terminated and valid for 'a by the
    // caller's contract.
    let s = unsafe { CStr::from_ptr(s) };
    s.to_str().map_err(|_| Errno::INVAL)
}

/// A `(pointer, length)` argument as a byte slice; NULL is allowed only
/// with length 0.
///
/// # Safety
/// `data` is NULL or readable for `len` bytes that stay valid and
/// unchanged for `'a`.
pub unsafe fn bytes<'a>(data: *const c_void, len: usize) -> Result<&'a [u8], Errno> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(Errno::INVAL);
    }
    // SAFETY: not NULL and readable for `len` bytes for 'a, by the
    // caller's contract; u8 has no alignment or validity requirement.
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::get_errno;

    #[test]
    fn errors_become_minus_one_and_errno() {
        assert_eq!(call(|| Ok(7)), 7);
        assert_eq!(call(|| Err(Errno::AGAIN)), -1);
        assert_eq!(get_errno(), libc::EAGAIN);
    }

    #[test]
    fn panics_stop_at_the_boundary() {
        let rc = call(|| panic!("boom"));
        assert_eq!((rc, get_errno()), (-1, libc::EFAULT));
        let p: *mut u8 = call_ptr(|| panic!("boom"));
        assert!(p.is_null());
    }
}
