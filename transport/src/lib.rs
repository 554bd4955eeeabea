//! ZeroMQ sockets and transports on tokio.
//!
//! This crate will own sockets, tasks and queues and drive one
//! [`zmtp::Connection`] per peer link over tcp, ipc, inproc and tls. It is
//! filled by the sockets-and-transports work; today it only re-exports the
//! protocol core it builds on.

pub use zmtp;
