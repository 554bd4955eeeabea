//! The context functions of the C ABI: `zmq_ctx_*` and the legacy
//! `zmq_init`, `zmq_term`, `zmq_ctx_destroy`.

use std::ffi::{c_int, c_void};
use std::sync::Arc;

use crate::boundary::{call, call_ptr};
use crate::context::{self, Context};
use crate::errno::Errno;
use crate::handle::{self, tags};
use crate::message::zmq_msg_t;

/// The context behind a C handle (EFAULT if it is not one).
///
/// # Safety
/// `ctx` is NULL or a pointer from `zmq_ctx_new` not yet terminated.
pub(crate) unsafe fn context<'a>(ctx: *mut c_void) -> Result<&'a Arc<Context>, Errno> {
    // SAFETY: forwarded contract.
    unsafe { handle::borrow::<Arc<Context>>(ctx, tags::CONTEXT, Errno::FAULT) }
}

/// `zmq_ctx_new`: a new context (no threads until its first socket).
#[unsafe(no_mangle)]
pub extern "C" fn zmq_ctx_new() -> *mut c_void {
    call_ptr(|| Ok(handle::into_raw(tags::CONTEXT, Context::new())))
}

/// `zmq_ctx_shutdown`: blocked calls on the context's sockets return
/// ETERM, in every thread, and so do later calls.
///
/// # Safety
/// `ctx` is NULL or a live context pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_ctx_shutdown(ctx: *mut c_void) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        unsafe { context(ctx) }?.shut_down();
        Ok(0)
    })
}

/// `zmq_ctx_term`: shuts down, waits until every socket is closed and has
/// lingered, and frees the context.
///
/// # Safety
/// `ctx` is NULL or a live context pointer; it is dangling afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_ctx_term(ctx: *mut c_void) -> c_int {
    call(|| {
        // SAFETY: caller's contract; other threads may still use the
        // context (blocked calls), so it is shared until they are done.
        let shared = unsafe { context(ctx) }?.clone();
        shared.terminate();
        // SAFETY: every socket is closed now, and the caller gives the
        // handle up with this call.
        let owned = unsafe { handle::from_raw::<Arc<Context>>(ctx, tags::CONTEXT, Errno::FAULT) }?;
        drop(owned);
        Ok(0)
    })
}

/// `zmq_ctx_destroy`: the old name of `zmq_ctx_term`.
///
/// # Safety
/// As [`zmq_ctx_term`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_ctx_destroy(ctx: *mut c_void) -> c_int {
    // SAFETY: same contract.
    unsafe { zmq_ctx_term(ctx) }
}

/// `zmq_term`: the old name of `zmq_ctx_term`.
///
/// # Safety
/// As [`zmq_ctx_term`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_term(ctx: *mut c_void) -> c_int {
    // SAFETY: same contract.
    unsafe { zmq_ctx_term(ctx) }
}

/// `zmq_init`: the old constructor; `io_threads` as `ZMQ_IO_THREADS`.
#[unsafe(no_mangle)]
pub extern "C" fn zmq_init(io_threads: c_int) -> *mut c_void {
    if io_threads < 0 {
        crate::errno::set_errno(Errno::INVAL);
        return std::ptr::null_mut();
    }
    let ctx = zmq_ctx_new();
    if !ctx.is_null() {
        // SAFETY: just made by zmq_ctx_new.
        unsafe { zmq_ctx_set(ctx, context::ZMQ_IO_THREADS, io_threads) };
    }
    ctx
}

/// `zmq_ctx_set`: IO_THREADS, MAX_SOCKETS, IPV6, BLOCKY, MAX_MSGSZ, and
/// the thread scheduling options (kept, not applied).
///
/// # Safety
/// `ctx` is NULL or a live context pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_ctx_set(ctx: *mut c_void, option: c_int, value: c_int) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        let ctx = unsafe { context(ctx) }?;
        let mut result = Ok(0);
        ctx.set_options(|o| match option {
            context::ZMQ_IO_THREADS if value >= 0 => o.io_threads = value,
            context::ZMQ_MAX_SOCKETS if value >= 1 => o.max_sockets = value,
            context::ZMQ_IPV6 if value == 0 || value == 1 => o.ipv6 = value == 1,
            context::ZMQ_BLOCKY if value == 0 || value == 1 => o.blocky = value == 1,
            context::ZMQ_MAX_MSGSZ if value >= 0 => o.max_msgsz = value,
            context::ZMQ_THREAD_PRIORITY if value >= 0 => o.thread_priority = value,
            context::ZMQ_THREAD_SCHED_POLICY if value >= 0 => o.thread_sched_policy = value,
            // CPUs for the I/O threads: accepted as libzmq does, not applied.
            context::ZMQ_THREAD_AFFINITY_CPU_ADD | context::ZMQ_THREAD_AFFINITY_CPU_REMOVE
                if value >= 0 => {}
            context::ZMQ_THREAD_NAME_PREFIX => o.thread_name_prefix = value,
            _ => result = Err(Errno::INVAL),
        });
        result
    })
}

/// `zmq_ctx_get`: the value of a context option, -1/EINVAL if unknown.
///
/// # Safety
/// `ctx` is NULL or a live context pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_ctx_get(ctx: *mut c_void, option: c_int) -> c_int {
    call(|| {
        // SAFETY: caller's contract.
        let o = unsafe { context(ctx) }?.options();
        Ok(match option {
            context::ZMQ_IO_THREADS => o.io_threads,
            context::ZMQ_MAX_SOCKETS => o.max_sockets,
            // Also ZMQ_THREAD_PRIORITY's number: libzmq answers the limit.
            context::ZMQ_SOCKET_LIMIT => context::SOCKET_LIMIT,
            context::ZMQ_IPV6 => c_int::from(o.ipv6),
            context::ZMQ_BLOCKY => c_int::from(o.blocky),
            context::ZMQ_MAX_MSGSZ => o.max_msgsz,
            context::ZMQ_MSG_T_SIZE => {
                c_int::try_from(std::mem::size_of::<zmq_msg_t>()).unwrap_or(64)
            }
            context::ZMQ_THREAD_SCHED_POLICY => o.thread_sched_policy,
            context::ZMQ_THREAD_NAME_PREFIX => o.thread_name_prefix,
            _ => return Err(Errno::INVAL),
        })
    })
}
