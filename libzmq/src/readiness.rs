//! A socket's readiness as libzmq reports it (`ZMQ_EVENTS`, `zmq_poll`)
//! and the wake-ups behind its descriptor (`ZMQ_FD`).
//!
//! POLLIN is exact: one receive is attempted and a message that is there
//! moves into the C socket's own frames (a prefetch the next `zmq_recv`
//! takes), so SUB's filter and REQ/REP's turns apply as they would to a
//! receive. POLLOUT asks the transport ([`Socket::writable`]). Both
//! register the socket's signaler as their waker when the answer is no,
//! so the descriptor turns readable when the answer may have changed:
//! libzmq's edge semantics (the caller reads `ZMQ_EVENTS` again and
//! drains with DONTWAIT). The descriptor is a hint; the socket's state
//! is the truth, re-read on every call.

use std::ffi::c_short;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use zmtp::{Message, SocketType};
use zmtp_transport::{Error, Options, Receiver, Socket};

/// `ZMQ_POLLIN`.
pub const ZMQ_POLLIN: c_short = 1;
/// `ZMQ_POLLOUT`.
pub const ZMQ_POLLOUT: c_short = 2;
/// `ZMQ_POLLERR`.
pub const ZMQ_POLLERR: c_short = 4;
/// `ZMQ_POLLPRI`.
pub const ZMQ_POLLPRI: c_short = 8;

/// A pending [`Socket::writable`], kept between checks so its waker stays
/// registered.
pub type WritableWait = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One receive attempt: a message if one is there, else `Pending` with
/// `waker` registered on the socket's inbound queue (the attempt is
/// cancel-safe, so dropping it loses nothing).
pub fn try_receive(receiver: &mut Receiver, waker: &Waker) -> Poll<Result<Message, Error>> {
    let mut cx = Context::from_waker(waker);
    let mut receiving = std::pin::pin!(receiver.recv());
    receiving.as_mut().poll(&mut cx)
}

/// Whether a send would be taken now; if not, `wait` keeps `waker`
/// registered for when that may change.
pub fn poll_writable(socket: &Socket, waker: &Waker, wait: &mut Option<WritableWait>) -> bool {
    // Never writable: no wait, so peers coming and going raise nothing.
    if matches!(socket.socket_type(), SocketType::Sub | SocketType::Pull) {
        return false;
    }
    // A kept wait looks again only when signalled, and some changes are
    // not signalled (a REQ whose reply was just read): ask first.
    if socket.is_writable() {
        *wait = None;
        return true;
    }
    let mut cx = Context::from_waker(waker);
    let pending = wait.get_or_insert_with(|| Box::pin(socket.writable()));
    if pending.as_mut().poll(&mut cx).is_ready() {
        *wait = None;
        return true;
    }
    false
}

/// POLLOUT of a socket whose transport socket is not made yet (no peers):
/// the types that never wait for room.
pub fn writable_without_peers(socket_type: SocketType, options: &Options) -> bool {
    match socket_type {
        SocketType::Pub | SocketType::Xsub => true,
        SocketType::Router => !options.router_mandatory,
        SocketType::Xpub => true,
        _ => false,
    }
}

/// REQ and REP alternate: while a received message is still being read,
/// libzmq reports no POLLOUT even if the transport's turn has moved on.
pub fn turn_blocks_send(socket_type: SocketType, reading: bool) -> bool {
    reading && matches!(socket_type, SocketType::Req | SocketType::Rep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signaler::Signaler;
    use std::sync::Arc;

    #[test]
    fn a_pending_receive_raises_the_signaler_when_a_message_comes() {
        let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
        let _entered = rt.enter();
        let signaler = Arc::new(Signaler::new().unwrap_or_else(|e| panic!("{e}")));
        let waker = signaler.waker();
        let pull = Socket::new(SocketType::Pull);
        let push = Socket::new(SocketType::Push);
        rt.block_on(async {
            pull.bind("inproc://readiness-pull").await?;
            push.connect("inproc://readiness-pull").await
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let mut receiver = pull.receiver();
        assert!(try_receive(&mut receiver, &waker).is_pending());
        assert!(!signaler.clear());
        rt.block_on(push.send("x"))
            .unwrap_or_else(|e| panic!("{e}"));
        // The inproc mover delivers on the runtime's thread: wait for the
        // descriptor (a generous liveness deadline).
        let mut pfd = libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(&*signaler),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd that outlives the call.
        assert_eq!(
            unsafe { libc::poll(&mut pfd, 1, 10_000) },
            1,
            "never raised"
        );
        assert!(matches!(
            try_receive(&mut receiver, &waker),
            Poll::Ready(Ok(_))
        ));
    }

    #[test]
    fn send_only_and_fan_out_types_without_peers() {
        let o = Options::new(SocketType::Pub);
        assert!(writable_without_peers(SocketType::Pub, &o));
        assert!(!writable_without_peers(SocketType::Push, &o));
        assert!(turn_blocks_send(SocketType::Req, true));
        assert!(!turn_blocks_send(SocketType::Dealer, true));
    }
}
