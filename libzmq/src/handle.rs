//! Opaque pointers handed to C: a tagged box per object, so a pointer that
//! is not (or no longer) one of ours is refused with EFAULT/ENOTSOCK where
//! libzmq refuses it, instead of being used.
//!
//! The tag is checked on every call and cleared when the object is freed;
//! like libzmq's own check it catches mistakes, it cannot make a dangling
//! pointer safe: a freed pointer passed back is the caller's undefined
//! behaviour, as in C.

use std::ffi::c_void;

use crate::errno::Errno;

/// A boxed object with a tag naming its kind.
#[repr(C)]
pub struct Tagged<T> {
    tag: u32,
    value: T,
}

/// Kinds of objects, with tag values that are unlikely by accident.
pub mod tags {
    /// A context.
    pub const CONTEXT: u32 = 0xabad_cafe;
    /// A socket.
    pub const SOCKET: u32 = 0xbaddecaf;
    /// An atomic counter.
    pub const COUNTER: u32 = 0xc0ffee00;
    /// A stopwatch.
    pub const STOPWATCH: u32 = 0x5707_3a7c;
    /// A thread.
    pub const THREAD: u32 = 0x7e4d_0001;
    /// A timer set.
    pub const TIMERS: u32 = 0xcafe_dada;
}

/// Boxes `value` and returns the pointer C holds.
pub fn into_raw<T>(tag: u32, value: T) -> *mut c_void {
    Box::into_raw(Box::new(Tagged { tag, value })).cast()
}

/// Borrows the object behind `ptr`, `err` if NULL or not tagged `tag`.
///
/// # Safety
/// `ptr` is NULL or was returned by [`into_raw`] with a `T` and not yet
/// passed to [`from_raw`] (the C contract for every handle).
pub unsafe fn borrow<'a, T>(ptr: *mut c_void, tag: u32, err: Errno) -> Result<&'a T, Errno> {
    if ptr.is_null() {
        return Err(err);
    }
    let tagged = ptr.cast::<Tagged<T>>();
    // SAFETY: by the contract, a live `Tagged<T>` from `into_raw`; shared
    // access only (the value synchronises its own mutation).
    let tagged = unsafe { &*tagged };
    if tagged.tag != tag {
        return Err(err);
    }
    Ok(&tagged.value)
}

/// Takes the object behind `ptr` back, clearing its tag.
///
/// # Safety
/// As for [`borrow`]; afterwards `ptr` is dangling and no other call may
/// be using the object (the C caller's duty, as with libzmq).
pub unsafe fn from_raw<T>(ptr: *mut c_void, tag: u32, err: Errno) -> Result<T, Errno> {
    // SAFETY: same contract.
    unsafe { borrow::<T>(ptr, tag, err)? };
    // SAFETY: checked above to be a live box of `Tagged<T>` from
    // `into_raw`, and the caller gives up the pointer now.
    let mut boxed = unsafe { Box::from_raw(ptr.cast::<Tagged<T>>()) };
    boxed.tag = 0;
    Ok(boxed.value)
}
