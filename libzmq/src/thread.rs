//! `zmq_threadstart` and `zmq_threadclose`: a thread running a C function,
//! and joining it.

use std::ffi::c_void;
use std::thread::JoinHandle;

use crate::boundary::{call_ptr, call_void};
use crate::errno::Errno;
use crate::handle::{self, tags};

/// libzmq's `zmq_thread_fn`: `void (*)(void *)`.
pub type ThreadFn = unsafe extern "C" fn(arg: *mut c_void);

/// The function and argument, moved to the new thread.
struct Start {
    func: ThreadFn,
    arg: *mut c_void,
}

// SAFETY: the argument is the caller's, handed to the caller's function
// on the thread the caller asked for; making it usable there is the
// caller's part, as with pthread_create.
unsafe impl Send for Start {}

impl Start {
    fn run(self) {
        // SAFETY: the caller's function with the caller's argument, once.
        unsafe { (self.func)(self.arg) };
    }
}

/// `zmq_threadstart`: runs `func(arg)` on a new thread; NULL on failure.
///
/// # Safety
/// `func` is a valid function that may run on another thread with `arg`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_threadstart(func: Option<ThreadFn>, arg: *mut c_void) -> *mut c_void {
    call_ptr(|| {
        let func = func.ok_or(Errno::INVAL)?;
        let start = Start { func, arg };
        let thread = std::thread::Builder::new()
            .spawn(move || start.run())
            .map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EAGAIN)))?;
        Ok(handle::into_raw(tags::THREAD, thread))
    })
}

/// `zmq_threadclose`: waits for the thread to end, and frees its handle.
///
/// # Safety
/// `thread` is NULL or from `zmq_threadstart`, not yet closed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_threadclose(thread: *mut c_void) {
    call_void(|| {
        // SAFETY: caller's contract, which gives the handle up.
        if let Ok(t) =
            unsafe { handle::from_raw::<JoinHandle<()>>(thread, tags::THREAD, Errno::FAULT) }
        {
            let _ = t.join();
        }
    });
}
