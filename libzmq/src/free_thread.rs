//! The thread that runs `zmq_msg_init_data` free callbacks.
//!
//! A caller's buffer becomes a frame through [`UserBuffer`], with no copy.
//! The frame may be dropped anywhere: in an engine task after the write,
//! in another socket's receiver, in `zmq_msg_close`. Dropping it only
//! queues the callback here; one process-wide thread of ours calls it at
//! once. So the callback never runs on a runtime worker (where a blocking
//! `zmq_msg_send` inside it could stall the very I/O it waits for) nor
//! under any lock of ours (pyzmq's callback sends on another socket).

use std::ffi::c_void;
use std::sync::LazyLock;
use std::sync::mpsc::{Sender, channel};

/// libzmq's `zmq_free_fn`: `void (*)(void *data, void *hint)`.
pub type FreeFn = unsafe extern "C" fn(data: *mut c_void, hint: *mut c_void);

/// One callback owed.
struct FreeJob {
    free: FreeFn,
    data: *mut c_void,
    hint: *mut c_void,
}

// SAFETY: the job carries the caller's pointers only to hand them back to
// the caller's own callback; libzmq documents that the callback may run in
// any thread, so the caller made data and hint usable from another thread.
unsafe impl Send for FreeJob {}

static JOBS: LazyLock<Option<Sender<FreeJob>>> = LazyLock::new(|| {
    let (tx, rx) = channel::<FreeJob>();
    std::thread::Builder::new()
        .name("zmq-free".into())
        .spawn(move || {
            for job in rx {
                // A panic cannot come out of C code we call; nothing to catch.
                // SAFETY: `free` is the callback the caller passed with this
                // very data and hint, called once, as the contract says.
                unsafe { (job.free)(job.data, job.hint) };
            }
        })
        .ok()
        .map(|_| tx)
});

/// A caller's buffer lent to a frame until the last reference drops.
pub struct UserBuffer {
    data: *mut c_void,
    len: usize,
    free: Option<FreeFn>,
    hint: *mut c_void,
}

// SAFETY: the buffer is only read (through `as_ref`) and handed back to
// the callback; libzmq's contract lets any thread read it and free it.
unsafe impl Send for UserBuffer {}
// SAFETY: shared access is read-only.
unsafe impl Sync for UserBuffer {}

impl UserBuffer {
    /// Lends `len` bytes at `data`, to be returned through `free(data,
    /// hint)` (if any).
    ///
    /// # Safety
    /// `data` is readable for `len` bytes (or `len` is 0) until `free` is
    /// called, or for the rest of the process if `free` is `None`.
    pub unsafe fn new(
        data: *mut c_void,
        len: usize,
        free: Option<FreeFn>,
        hint: *mut c_void,
    ) -> Self {
        UserBuffer {
            data,
            len,
            free,
            hint,
        }
    }
}

impl AsRef<[u8]> for UserBuffer {
    fn as_ref(&self) -> &[u8] {
        if self.len == 0 || self.data.is_null() {
            return &[];
        }
        // SAFETY: readable for `len` bytes until the callback runs, which
        // happens only after this value is dropped (`new`'s contract).
        unsafe { std::slice::from_raw_parts(self.data.cast::<u8>(), self.len) }
    }
}

impl Drop for UserBuffer {
    fn drop(&mut self) {
        let Some(free) = self.free else { return };
        let job = FreeJob {
            free,
            data: self.data,
            hint: self.hint,
        };
        match JOBS.as_ref() {
            Some(jobs) => {
                if let Err(returned) = jobs.send(job) {
                    run_here(returned.0);
                }
            }
            // The thread could not be started: call it here rather than leak.
            None => run_here(job),
        }
    }
}

fn run_here(job: FreeJob) {
    // SAFETY: the caller's own callback with its own data and hint, once.
    unsafe { (job.free)(job.data, job.hint) };
}
