//! A socket's readiness signal as a file descriptor: the base of
//! `ZMQ_FD` and of `zmq_poll` over sockets and plain descriptors.
//!
//! libzmq hands out one descriptor per socket that becomes readable when
//! the socket's readiness *may* have changed, edge-style: the caller then
//! reads `ZMQ_EVENTS` and must drain the socket before waiting again. An
//! eventfd does this here: [`Signaler::raise`] adds to its counter (the fd
//! turns readable), [`Signaler::clear`] reads it back to zero.
//!
//! Every socket owns one from its creation; as a [`Waker`] (through
//! [`Wake`]) it is registered with the transport's queues and send-ready
//! signal, so any readiness change raises it (see `readiness.rs`).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::task::{Wake, Waker};

use crate::errno::{Errno, get_errno};

/// An eventfd, readable while raised.
#[derive(Debug)]
pub struct Signaler {
    fd: OwnedFd,
}

impl Signaler {
    /// A fresh, lowered signal (non-blocking, closed on exec).
    pub fn new() -> Result<Self, Errno> {
        // SAFETY: eventfd takes no pointers; it returns a new descriptor
        // or -1 with errno set.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(Errno(get_errno()));
        }
        // SAFETY: a descriptor just returned to us, owned by nobody else.
        Ok(Signaler {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Makes the descriptor readable (idempotent until cleared).
    pub fn raise(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own descriptor.
        // Failure can only be EAGAIN at a counter of 2^64-2: raised anyway.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), (&raw const one).cast(), 8) };
    }

    /// Makes the descriptor unreadable again; returns whether it was raised.
    pub fn clear(&self) -> bool {
        let mut count: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64 from our own
        // descriptor (non-blocking: -1/EAGAIN when not raised).
        let n = unsafe { libc::read(self.fd.as_raw_fd(), (&raw mut count).cast(), 8) };
        n == 8 && count > 0
    }
}

/// As a waker, a signaler raises itself: whoever polls with it learns of
/// the change through the descriptor.
impl Wake for Signaler {
    fn wake(self: Arc<Self>) {
        self.raise();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.raise();
    }
}

impl Signaler {
    /// The waker that raises this signaler.
    pub fn waker(self: &Arc<Self>) -> Waker {
        Waker::from(self.clone())
    }
}

impl AsRawFd for Signaler {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(fd: RawFd) -> bool {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        n == 1 && pfd.revents & libc::POLLIN != 0
    }

    #[test]
    fn raised_until_cleared() {
        let s = Signaler::new().unwrap_or_else(|e| panic!("{e}"));
        assert!(!readable(s.as_raw_fd()));
        s.raise();
        s.raise();
        assert!(readable(s.as_raw_fd()));
        assert!(s.clear());
        assert!(!readable(s.as_raw_fd()));
        assert!(!s.clear());
    }

    #[test]
    fn its_waker_raises_it() {
        let s = Arc::new(Signaler::new().unwrap_or_else(|e| panic!("{e}")));
        s.waker().wake_by_ref();
        assert!(readable(s.as_raw_fd()));
    }
}
