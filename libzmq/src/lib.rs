//! A drop-in `libzmq.so.5`: libzmq 4.3's C ABI (`include/zmq.h`) on the
//! zmtp-rs stack.
//!
//! C programs, pyzmq and cppzmq link against this library as they would
//! against libzmq; Rust tests call the same `extern "C"` functions through
//! the rlib. `docs/libzmq.md` describes the design (threads, blocking,
//! readiness, shutdown) and which functions are done.
//!
//! Layout, one concept per file:
//! - the C edge: `boundary` (panics caught, errors to `errno`), `errno`,
//!   `handle` (tagged opaque pointers);
//! - the objects: `context` (runtime, shutdown), `socket` (a C socket over
//!   a transport socket), `sockopt` (option numbers; `sockopt_kept` for
//!   those answered with libzmq's defaults only), `message` (the state
//!   inside `zmq_msg_t`), `free_thread` (`zmq_msg_init_data` callbacks),
//!   `monitor` (`zmq_socket_monitor`'s events), `wait` (how a blocking
//!   call waits), `signaler` (the per-socket readiness descriptor,
//!   `ZMQ_FD`), `readiness` (POLLIN/POLLOUT and their wake-ups);
//! - the exported functions by group: `ctx_api`, `socket_api`, `msg_api`,
//!   `proxy_api`, `poll` (`zmq_poll`), `iov_api` (`zmq_sendiov`, `zmq_recviov`), `version`, `z85_api`,
//!   `atomic_counter`, `stopwatch`, `thread`, `timers`.

#![allow(unsafe_code)]

pub mod atomic_counter;
pub mod boundary;
pub mod context;
pub mod ctx_api;
pub mod errno;
pub mod free_thread;
pub mod handle;
pub mod inproc_scope;
pub mod iov_api;
pub mod message;
pub mod monitor;
pub mod msg_api;
pub mod poll;
pub mod proxy_api;
pub mod readiness;
pub mod signaler;
pub mod socket;
pub mod socket_api;
pub mod sockopt;
pub mod sockopt_kept;
pub mod stopwatch;
pub mod thread;
pub mod timers;
pub mod version;
pub mod wait;
pub mod z85_api;
pub mod zap;

pub use message::zmq_msg_t;
pub use poll::zmq_pollitem_t;
