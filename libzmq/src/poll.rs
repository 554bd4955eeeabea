//! `zmq_poll`: waits until some of a set of sockets and plain file
//! descriptors are ready, or a timeout passes.
//!
//! Each round reads every socket's readiness (`ZSocket::events`, which
//! lowers the socket's signaler and registers it as the waker of whatever
//! is not ready), then waits in one `libc::poll` over the sockets'
//! signalers, the plain descriptors and each involved context's shutdown
//! descriptor: with timeout 0 if a socket is ready already, else with
//! what remains of the caller's timeout. A wake-up starts another round:
//! the descriptors are hints, the sockets' state is the truth. No polling
//! loop, no task or thread per call. A context shut down while waiting
//! ends the call with ETERM; a signal, with EINTR.

use std::ffi::{c_int, c_long, c_short, c_void};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::boundary::call;
use crate::context::Context;
use crate::errno::{Errno, get_errno};
use crate::handle::{self, tags};
use crate::readiness::{ZMQ_POLLERR, ZMQ_POLLIN, ZMQ_POLLOUT, ZMQ_POLLPRI};
use crate::socket::ZSocket;

/// libzmq's `zmq_pollitem_t`.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct zmq_pollitem_t {
    /// A socket, or NULL to poll `fd`.
    pub socket: *mut c_void,
    /// A file descriptor, when `socket` is NULL.
    pub fd: c_int,
    /// ZMQ_POLLIN, ZMQ_POLLOUT, ZMQ_POLLERR, ZMQ_POLLPRI wanted.
    pub events: c_short,
    /// Those that happened.
    pub revents: c_short,
}

/// `zmq_poll`: the number of items with events, after at most `timeout`
/// milliseconds (-1: no limit, 0: just look).
///
/// # Safety
/// `items` is NULL (with `nitems` 0) or points to `nitems` writable items
/// whose `socket` fields are NULL or live sockets, none closed meanwhile.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_poll(
    items: *mut zmq_pollitem_t,
    nitems: c_int,
    timeout: c_long,
) -> c_int {
    call(|| {
        let n = usize::try_from(nitems).map_err(|_| Errno::INVAL)?;
        if n == 0 {
            return sleep(timeout);
        }
        if items.is_null() {
            return Err(Errno::FAULT);
        }
        // SAFETY: not NULL, and `nitems` writable items by the caller's
        // contract, not otherwise touched during the call.
        let items = unsafe { std::slice::from_raw_parts_mut(items, n) };
        // SAFETY: the sockets are live for the call (caller's contract).
        let sockets = unsafe { resolve(items) }?;
        poll_items(items, &sockets, timeout)
    })
}

/// The socket of each item (`None` for a plain descriptor).
///
/// # Safety
/// Each non-NULL `socket` field is a pointer from `zmq_socket`, live for `'a`.
unsafe fn resolve<'a>(items: &[zmq_pollitem_t]) -> Result<Vec<Option<&'a ZSocket>>, Errno> {
    items
        .iter()
        .map(|item| match item.socket.is_null() {
            true => Ok(None),
            // SAFETY: forwarded contract; the tag is checked (ENOTSOCK).
            false => {
                unsafe { handle::borrow::<ZSocket>(item.socket, tags::SOCKET, Errno::NOTSOCK) }
                    .map(Some)
            }
        })
        .collect()
}

/// No items: libzmq just waits out the timeout.
fn sleep(timeout: c_long) -> Result<c_int, Errno> {
    let ms = c_int::try_from(timeout).unwrap_or(c_int::MAX);
    // SAFETY: no descriptors (NULL with a count of 0 is allowed).
    if unsafe { libc::poll(std::ptr::null_mut(), 0, ms) } < 0 {
        return Err(Errno(get_errno()));
    }
    Ok(0)
}

/// The rounds described in the module doc.
fn poll_items(
    items: &mut [zmq_pollitem_t],
    sockets: &[Option<&ZSocket>],
    timeout: c_long,
) -> Result<c_int, Errno> {
    let deadline = u64::try_from(timeout)
        .ok()
        .map(|ms| Instant::now() + Duration::from_millis(ms));
    let mut fds = descriptors(items, sockets)?;
    loop {
        let mut socket_ready = false;
        for (item, socket) in items.iter_mut().zip(sockets) {
            if let Some(socket) = socket {
                item.revents = socket.events()? & item.events & (ZMQ_POLLIN | ZMQ_POLLOUT);
                socket_ready |= item.revents != 0;
            }
        }
        let wait_ms = if socket_ready {
            0
        } else {
            remaining_ms(deadline)
        };
        wait_fds(&mut fds, wait_ms)?;
        for ((item, socket), fd) in items.iter_mut().zip(sockets).zip(&fds) {
            if socket.is_none() {
                item.revents = fd_revents(fd.revents) & (item.events | ZMQ_POLLERR);
            }
        }
        let count = items.iter().filter(|i| i.revents != 0).count();
        if count > 0 || wait_ms == 0 {
            return Ok(c_int::try_from(count).unwrap_or(c_int::MAX));
        }
    }
}

/// One `pollfd` per item (a socket's signaler, or the plain descriptor),
/// then one per distinct context (its shutdown descriptor).
fn descriptors(
    items: &[zmq_pollitem_t],
    sockets: &[Option<&ZSocket>],
) -> Result<Vec<libc::pollfd>, Errno> {
    let mut contexts: Vec<&Arc<Context>> = Vec::new();
    let mut fds: Vec<libc::pollfd> = Vec::with_capacity(items.len() + 1);
    for (item, socket) in items.iter().zip(sockets) {
        let (fd, events) = match socket {
            Some(socket) => {
                if !contexts.iter().any(|c| Arc::ptr_eq(c, socket.context())) {
                    contexts.push(socket.context());
                }
                (socket.fd(), libc::POLLIN)
            }
            None => (item.fd, fd_events(item.events)),
        };
        fds.push(libc::pollfd {
            fd,
            events,
            revents: 0,
        });
    }
    for ctx in contexts {
        fds.push(libc::pollfd {
            fd: ctx.shutdown_fd()?,
            events: libc::POLLIN,
            revents: 0,
        });
    }
    Ok(fds)
}

/// Milliseconds until `deadline` for `libc::poll` (-1: none), rounded up
/// so a wait never ends just short of it.
fn remaining_ms(deadline: Option<Instant>) -> c_int {
    let Some(deadline) = deadline else { return -1 };
    let left = deadline.saturating_duration_since(Instant::now());
    let ms = left.as_micros().div_ceil(1000);
    c_int::try_from(ms).unwrap_or(c_int::MAX)
}

/// One `libc::poll`; EINTR (or any failure) is the caller's error.
fn wait_fds(fds: &mut [libc::pollfd], wait_ms: c_int) -> Result<(), Errno> {
    for fd in fds.iter_mut() {
        fd.revents = 0;
    }
    let n = libc::nfds_t::try_from(fds.len()).map_err(|_| Errno::INVAL)?;
    // SAFETY: `fds` is a live, writable array of `n` pollfds for the call.
    if unsafe { libc::poll(fds.as_mut_ptr(), n, wait_ms) } < 0 {
        return Err(Errno(get_errno()));
    }
    Ok(())
}

/// libzmq's POLLIN/POLLOUT/POLLPRI wanted on a plain descriptor.
fn fd_events(events: c_short) -> c_short {
    let mut wanted = 0;
    if events & ZMQ_POLLIN != 0 {
        wanted |= libc::POLLIN;
    }
    if events & ZMQ_POLLOUT != 0 {
        wanted |= libc::POLLOUT;
    }
    if events & ZMQ_POLLPRI != 0 {
        wanted |= libc::POLLPRI;
    }
    wanted
}

/// What `libc::poll` saw on a plain descriptor, in libzmq's bits: any
/// condition beyond in/out/pri (error, hang-up, invalid) is POLLERR.
fn fd_revents(revents: c_short) -> c_short {
    let mut seen = 0;
    if revents & libc::POLLIN != 0 {
        seen |= ZMQ_POLLIN;
    }
    if revents & libc::POLLOUT != 0 {
        seen |= ZMQ_POLLOUT;
    }
    if revents & libc::POLLPRI != 0 {
        seen |= ZMQ_POLLPRI;
    }
    if revents & !(libc::POLLIN | libc::POLLOUT | libc::POLLPRI) != 0 {
        seen |= ZMQ_POLLERR;
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_bits_translate_both_ways() {
        assert_eq!(
            fd_events(ZMQ_POLLIN | ZMQ_POLLOUT),
            libc::POLLIN | libc::POLLOUT
        );
        assert_eq!(
            fd_revents(libc::POLLIN | libc::POLLHUP),
            ZMQ_POLLIN | ZMQ_POLLERR
        );
        assert_eq!(fd_revents(libc::POLLNVAL), ZMQ_POLLERR);
    }

    #[test]
    fn remaining_time_rounds_up_and_never_is_minus_one() {
        assert_eq!(remaining_ms(None), -1);
        assert_eq!(remaining_ms(Some(Instant::now())), 0);
        let soon = Instant::now() + Duration::from_micros(1500);
        assert!((1..=2).contains(&remaining_ms(Some(soon))));
    }
}
