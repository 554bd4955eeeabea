//! A context: the runtime its sockets run on, its options, and its
//! shutdown.
//!
//! One multi-thread tokio runtime per context, with `ZMQ_IO_THREADS`
//! workers, built when the first socket is made (so `zmq_ctx_set` before
//! that still counts). C callers block on their own threads (see `wait`);
//! the runtime's threads only run the transport's tasks.
//!
//! Shutdown: `zmq_ctx_shutdown` flips a watch channel that every blocked
//! call races against, so each returns ETERM at once, in whatever thread
//! it blocks, and every later call on the context's sockets fails with
//! ETERM too. `zmq_ctx_term` shuts down the same way, then waits until
//! every socket is closed and each closed socket has lingered (up to its
//! `ZMQ_LINGER`), and only then stops the runtime.

use std::ffi::c_int;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use zmtp_transport::InprocDomain;

use crate::errno::Errno;
use crate::inproc_scope::InprocScope;
use crate::signaler::Signaler;
use crate::wait::{Deadline, wait};

/// `ZMQ_IO_THREADS`.
pub const ZMQ_IO_THREADS: c_int = 1;
/// `ZMQ_MAX_SOCKETS`.
pub const ZMQ_MAX_SOCKETS: c_int = 2;
/// `ZMQ_SOCKET_LIMIT` (read only): the largest `ZMQ_MAX_SOCKETS` allowed.
pub const ZMQ_SOCKET_LIMIT: c_int = 3;
/// `ZMQ_THREAD_PRIORITY` (accepted, not applied).
pub const ZMQ_THREAD_PRIORITY: c_int = 3;
/// `ZMQ_THREAD_SCHED_POLICY` (accepted, not applied).
pub const ZMQ_THREAD_SCHED_POLICY: c_int = 4;
/// `ZMQ_MAX_MSGSZ`: the largest message size (default `INT_MAX`).
pub const ZMQ_MAX_MSGSZ: c_int = 5;
/// `ZMQ_MSG_T_SIZE` (read only): `sizeof(zmq_msg_t)`.
pub const ZMQ_MSG_T_SIZE: c_int = 6;
/// `ZMQ_THREAD_AFFINITY_CPU_ADD` (accepted, not applied).
pub const ZMQ_THREAD_AFFINITY_CPU_ADD: c_int = 7;
/// `ZMQ_THREAD_AFFINITY_CPU_REMOVE` (accepted, not applied).
pub const ZMQ_THREAD_AFFINITY_CPU_REMOVE: c_int = 8;
/// `ZMQ_THREAD_NAME_PREFIX` (kept for `zmq_ctx_get`, not applied).
pub const ZMQ_THREAD_NAME_PREFIX: c_int = 9;
/// `ZMQ_IPV6`: the default of new sockets' `ZMQ_IPV6`.
pub const ZMQ_IPV6: c_int = 42;
/// `ZMQ_BLOCKY`: whether `zmq_ctx_term` honours linger (default 1).
pub const ZMQ_BLOCKY: c_int = 70;

/// The most sockets a context can be allowed (libzmq's limit with
/// `select`/`epoll`: its `ZMQ_SOCKET_LIMIT`).
pub const SOCKET_LIMIT: c_int = 65_535;

/// The options `zmq_ctx_set` changes.
#[derive(Debug, Clone)]
pub struct ContextOptions {
    /// Runtime worker threads.
    pub io_threads: c_int,
    /// Sockets allowed at once.
    pub max_sockets: c_int,
    /// Default of new sockets' `ZMQ_IPV6`.
    pub ipv6: bool,
    /// `ZMQ_BLOCKY`: false makes closed sockets' linger 0 for `ctx_term`.
    pub blocky: bool,
    /// `ZMQ_MAX_MSGSZ`.
    pub max_msgsz: c_int,
    /// `ZMQ_THREAD_PRIORITY`, `ZMQ_THREAD_SCHED_POLICY` (kept for `get`).
    pub thread_priority: c_int,
    /// See `thread_priority`.
    pub thread_sched_policy: c_int,
    /// `ZMQ_THREAD_NAME_PREFIX` (kept for `get`; threads are "zmq-io").
    pub thread_name_prefix: c_int,
}

impl Default for ContextOptions {
    fn default() -> Self {
        ContextOptions {
            io_threads: 1,
            max_sockets: 1023,
            ipv6: false,
            blocky: true,
            max_msgsz: c_int::MAX,
            thread_priority: -1,
            thread_sched_policy: -1,
            thread_name_prefix: 0,
        }
    }
}

/// What the context's lock guards.
#[derive(Default)]
struct Registry {
    runtime: Option<Runtime>,
    /// Sockets made and not yet closed.
    open: usize,
    /// Closed sockets still lingering, each a task on the runtime.
    lingering: Vec<JoinHandle<()>>,
    options: ContextOptions,
    /// `zmq_ctx_term` has run: no more sockets, no runtime.
    terminated: bool,
}

/// A context, shared by its C handle and its sockets.
pub struct Context {
    registry: Mutex<Registry>,
    /// Signalled when a socket closes (for `term`).
    closed: Condvar,
    /// True once shut down; every blocked call races against it.
    shutdown: watch::Sender<bool>,
    /// `shutdown`'s value, read without its lock by every C call.
    shut: AtomicBool,
    /// Readable once shut down, for `zmq_poll` (made by its first use;
    /// `None` if the descriptor could not be made).
    shutdown_fd: OnceLock<Option<Signaler>>,
    /// This context's `inproc://` names.
    inproc: InprocScope,
    /// Where the context's sockets' inproc links meet (with the names
    /// scoped as above), so that `term` can drop its pending connects.
    inproc_domain: InprocDomain,
}

impl Context {
    /// A fresh context with libzmq's defaults; no threads yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Context {
            registry: Mutex::new(Registry::default()),
            closed: Condvar::new(),
            shutdown: watch::Sender::new(false),
            shut: AtomicBool::new(false),
            shutdown_fd: OnceLock::new(),
            inproc: InprocScope::new(),
            inproc_domain: InprocDomain::new(),
        })
    }

    /// Where the context's sockets bind and connect `inproc://` names.
    pub fn inproc_domain(&self) -> &InprocDomain {
        &self.inproc_domain
    }

    /// This context's `inproc://` namespace.
    pub fn inproc(&self) -> &InprocScope {
        &self.inproc
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `zmq_ctx_shutdown` or `zmq_ctx_term` has run.
    pub fn is_shut_down(&self) -> bool {
        self.shut.load(Ordering::Acquire)
    }

    /// ETERM once the context is shut down.
    pub fn check_live(&self) -> Result<(), Errno> {
        if self.is_shut_down() {
            Err(Errno::TERM)
        } else {
            Ok(())
        }
    }

    /// The options as they are now.
    pub fn options(&self) -> ContextOptions {
        self.lock().options.clone()
    }

    /// Changes the options (`zmq_ctx_set`).
    pub fn set_options(&self, change: impl FnOnce(&mut ContextOptions)) {
        change(&mut self.lock().options);
    }

    /// Accounts for a new socket and returns the runtime it runs on
    /// (building it with the first socket). EMFILE past `max_sockets`,
    /// ETERM after shutdown.
    pub fn open_socket(&self) -> Result<Handle, Errno> {
        self.check_live()?;
        let mut registry = self.lock();
        if registry.terminated {
            return Err(Errno::TERM);
        }
        let limit = usize::try_from(registry.options.max_sockets.min(SOCKET_LIMIT)).unwrap_or(0);
        if registry.open >= limit {
            return Err(Errno(libc::EMFILE));
        }
        let handle = match &registry.runtime {
            Some(runtime) => runtime.handle().clone(),
            None => {
                let threads = usize::try_from(registry.options.io_threads)
                    .unwrap_or(1)
                    .max(1);
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(threads)
                    .thread_name("zmq-io")
                    .on_thread_start(block_sigpipe)
                    .enable_all()
                    .build()
                    .map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EMFILE)))?;
                let handle = runtime.handle().clone();
                registry.runtime = Some(runtime);
                handle
            }
        };
        registry.open += 1;
        Ok(handle)
    }

    /// Accounts for a closed socket, whose remaining delivery (`linger`)
    /// runs as `lingering` until `term` waits for it.
    pub fn socket_closed(&self, lingering: Option<JoinHandle<()>>) {
        let mut registry = self.lock();
        registry.open = registry.open.saturating_sub(1);
        registry.lingering.retain(|task| !task.is_finished());
        registry.lingering.extend(lingering);
        self.closed.notify_all();
    }

    /// `zmq_ctx_shutdown`: every blocked call returns ETERM, and so does
    /// every later call but `zmq_close`.
    pub fn shut_down(&self) {
        self.shut.store(true, Ordering::Release);
        self.shutdown.send_replace(true);
        if let Some(Some(fd)) = self.shutdown_fd.get() {
            fd.raise();
        }
    }

    /// A descriptor that is readable once the context is shut down (for
    /// `zmq_poll`, which waits on descriptors).
    pub fn shutdown_fd(&self) -> Result<RawFd, Errno> {
        let fd = self.shutdown_fd.get_or_init(|| Signaler::new().ok());
        let fd = fd.as_ref().ok_or(Errno(libc::EMFILE))?;
        // Made after a shutdown's raise, or just as it happened: raised
        // here (raising twice is harmless).
        if self.is_shut_down() {
            fd.raise();
        }
        Ok(fd.as_raw_fd())
    }

    /// The shutdown signal blocked calls race against.
    pub fn shutdown_signal(&self) -> &watch::Sender<bool> {
        &self.shutdown
    }

    /// `zmq_ctx_term`: shuts down, waits for every socket to be closed and
    /// to finish lingering, then stops the runtime.
    pub fn terminate(&self) {
        self.shut_down();
        let mut registry = self.lock();
        while registry.open > 0 {
            registry = self
                .closed
                .wait(registry)
                .unwrap_or_else(|p| p.into_inner());
        }
        registry.terminated = true;
        // Messages closed sockets left for inproc binds that never came
        // go with the context (they also hold those sockets' state).
        self.inproc_domain.clear();
        let lingering = std::mem::take(&mut registry.lingering);
        let runtime = registry.runtime.take();
        drop(registry);
        if let Some(runtime) = runtime {
            // The runtime is shut down already as far as callers go, so
            // nothing but these tasks is waited for here.
            let (unused, _) = watch::channel(false);
            let _ = wait(runtime.handle(), &unused, Deadline::Never, async {
                for task in lingering {
                    let _ = task.await;
                }
            });
            runtime.shutdown_timeout(Duration::from_millis(100));
        }
    }
}

/// Blocks SIGPIPE on the calling thread (each of the runtime's threads,
/// where every socket write happens). A write to a connection the peer
/// closed then fails with EPIPE, which ends that link, instead of raising
/// SIGPIPE, whose default action kills the C program (libzmq sends with
/// `MSG_NOSIGNAL` for the same reason). The process's own disposition is
/// left alone; the signal, generated for this thread only, stays pending
/// on it and is never delivered.
fn block_sigpipe() {
    // SAFETY: `set` is a local `sigset_t` that `sigemptyset` initialises
    // before `sigaddset` and `pthread_sigmask` read it; `pthread_sigmask`
    // changes only this thread's mask, and a NULL old-set pointer is
    // allowed.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_threads_block_sigpipe() {
        // A C program keeps SIGPIPE's default action (death); an engine's
        // write to a peer that reset the connection must get EPIPE instead.
        let ctx = Context::new();
        let handle = ctx.open_socket().unwrap_or_else(|e| panic!("{e}"));
        let blocked = handle
            .block_on(handle.spawn(async { sigpipe_blocked_here() }))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(blocked, "SIGPIPE is not blocked on the runtime's threads");
        ctx.socket_closed(None);
        ctx.terminate();
    }

    /// Whether the calling thread's signal mask holds SIGPIPE.
    fn sigpipe_blocked_here() -> bool {
        // SAFETY: `set` is a plain sigset_t, initialised by sigemptyset
        // before pthread_sigmask fills it; a NULL new mask only reads.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut set);
            libc::sigismember(&set, libc::SIGPIPE) == 1
        }
    }

    #[test]
    fn sockets_are_counted_up_to_the_limit() {
        let ctx = Context::new();
        ctx.set_options(|o| o.max_sockets = 1);
        assert!(ctx.open_socket().is_ok());
        assert_eq!(ctx.open_socket().err(), Some(Errno(libc::EMFILE)));
        ctx.socket_closed(None);
        assert!(ctx.open_socket().is_ok());
        ctx.socket_closed(None);
        ctx.terminate();
        assert_eq!(ctx.open_socket().err(), Some(Errno::TERM));
    }

    #[test]
    fn term_waits_for_the_last_socket() {
        let ctx = Context::new();
        ctx.open_socket().unwrap_or_else(|e| panic!("{e}"));
        let closer = {
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                ctx.socket_closed(None);
            })
        };
        let started = std::time::Instant::now();
        ctx.terminate();
        assert!(started.elapsed() >= Duration::from_millis(40));
        let _ = closer.join();
    }
}
