//! Z85 and CURVE keys for C: `zmq_z85_encode`, `zmq_z85_decode`,
//! `zmq_curve_keypair`, `zmq_curve_public`, over zmtp's Z85 and keys.

use std::ffi::{c_char, c_int};

use zmtp::{CurveKeyPair, CurveSecretKey};

use crate::boundary::{c_str, call, call_ptr};
use crate::errno::Errno;

/// Writes `text` and a NUL to `dest`.
///
/// # Safety
/// `dest` is writable for `text.len() + 1` bytes.
unsafe fn write_c(dest: *mut c_char, text: &str) {
    // SAFETY: room for the text and its NUL (contract); our string does
    // not overlap the caller's buffer.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), dest.cast::<u8>(), text.len());
        dest.add(text.len()).write(0);
    }
}

/// `zmq_z85_encode`: encodes `size` bytes (a multiple of 4) into `dest`
/// (room for `size * 5 / 4 + 1`); returns `dest`, or NULL with EINVAL.
///
/// # Safety
/// `data` readable for `size` bytes; `dest` writable as above.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_z85_encode(
    dest: *mut c_char,
    data: *const u8,
    size: usize,
) -> *mut c_char {
    call_ptr(|| {
        if dest.is_null() {
            return Err(Errno::INVAL);
        }
        // SAFETY: caller's contract.
        let data = unsafe { crate::boundary::bytes(data.cast(), size) }?;
        let text = zmtp::z85::encode(data).map_err(|_| Errno::INVAL)?;
        // SAFETY: `dest` has room for size * 5 / 4 + 1 = text.len() + 1.
        unsafe { write_c(dest, &text) };
        Ok(dest)
    })
}

/// `zmq_z85_decode`: decodes a Z85 string (length a multiple of 5) into
/// `dest` (room for `strlen * 4 / 5`); returns `dest`, or NULL with EINVAL.
///
/// # Safety
/// `string` NUL-terminated; `dest` writable as above.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_z85_decode(dest: *mut u8, string: *const c_char) -> *mut u8 {
    call_ptr(|| {
        if dest.is_null() {
            return Err(Errno::INVAL);
        }
        // SAFETY: caller's contract.
        let text = unsafe { c_str(string) }?;
        let data = zmtp::z85::decode(text).map_err(|_| Errno::INVAL)?;
        // SAFETY: room for strlen * 4 / 5 = data.len() bytes (contract).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), dest, data.len()) };
        Ok(dest)
    })
}

/// `zmq_curve_keypair`: a new key pair, each key as 40 Z85 characters and
/// a NUL.
///
/// # Safety
/// Both pointers writable for 41 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_curve_keypair(public: *mut c_char, secret: *mut c_char) -> c_int {
    call(|| {
        if public.is_null() || secret.is_null() {
            return Err(Errno::INVAL);
        }
        let pair = CurveKeyPair::generate();
        // SAFETY: 41 writable bytes each (contract); keys are 40 chars.
        unsafe {
            write_c(public, &pair.public().to_z85());
            write_c(secret, &pair.secret().to_z85());
        }
        Ok(0)
    })
}

/// `zmq_curve_public`: the public key (40 Z85 characters and a NUL) of a
/// Z85 secret key.
///
/// # Safety
/// `public` writable for 41 bytes; `secret` a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_curve_public(public: *mut c_char, secret: *const c_char) -> c_int {
    call(|| {
        if public.is_null() {
            return Err(Errno::INVAL);
        }
        // SAFETY: caller's contract.
        let text = unsafe { c_str(secret) }?;
        let secret = CurveSecretKey::from_z85(text).map_err(|_| Errno::INVAL)?;
        // SAFETY: 41 writable bytes (contract).
        unsafe { write_c(public, &secret.public_key().to_z85()) };
        Ok(0)
    })
}
