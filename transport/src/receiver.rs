//! A socket's receiving end for one task: [`Receiver`].
//!
//! [`Socket::recv`] takes `&self`, so every message locks the socket's
//! inbound queue. A `Receiver` is owned by one task (`&mut self`, as a
//! libzmq socket belongs to one thread) and takes everything queued in one
//! step, then hands the messages out one by one without locking. Messages
//! it holds when dropped go back to the front of the queue, in order, for
//! the socket's other readers.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use zmtp::Message;

use crate::core::{Core, Inbound};
use crate::error::{Error, Result};
use crate::kind;
use crate::peers::{PeerMetadata, PipeId};
use crate::socket::Socket;

/// A socket's receiving end for one task; see [`Socket::receiver`]. It does
/// not keep the socket open: once every [`Socket`] handle is gone (or
/// [`Socket::close`] was called), it returns what was queued, then
/// [`Error::Closed`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> zmtp_transport::Result<()> {
/// use zmtp_transport::{Socket, SocketType};
/// let pull = Socket::new(SocketType::Pull);
/// let endpoint = pull.bind("tcp://127.0.0.1:*").await?;
/// let push = Socket::new(SocketType::Push);
/// push.connect(&endpoint.to_string()).await?;
/// for i in 0..3u8 {
///     push.send(vec![i]).await?;
/// }
/// let mut receiver = pull.receiver();
/// for i in 0..3u8 {
///     assert_eq!(receiver.recv().await?.frames()[0][..], [i][..]);
/// }
/// # Ok(())
/// # }
/// ```
///
/// [`Socket::stats`] counts a `Receiver`'s messages as received a batch at a
/// time (a batch is what was queued when it last looked), and other readers
/// of the socket do not see messages it holds.
/// Messages come without their peer's metadata; [`Receiver::last_peer`]
/// looks it up for the last one handed out, on demand, so a task that needs
/// it for a few messages (a handshake, say) pays nothing for the others.
#[derive(Debug)]
pub struct Receiver {
    core: Arc<Core>,
    /// Taken off the socket's queue, not handed out yet.
    held: VecDeque<Inbound>,
    /// The size of the last batch taken, which the socket's statistics
    /// count as not received yet (updated once per batch, not per message).
    reported_held: u64,
    /// The pipe of the last message handed out, if it came from a peer.
    last_pipe: Option<PipeId>,
}

impl Socket {
    /// A receiving end for one task: the same messages as [`Socket::recv`],
    /// taken off the socket's queue in batches (see [`Receiver`]).
    pub fn receiver(&self) -> Receiver {
        Receiver {
            core: self.core().clone(),
            held: VecDeque::new(),
            reported_held: 0,
            last_pipe: None,
        }
    }
}

impl Receiver {
    /// Receives the next message. Cancel-safe: a dropped `recv` loses
    /// nothing.
    pub fn recv(&mut self) -> impl Future<Output = Result<Message>> + Send + '_ {
        Recv {
            receiver: self,
            checked: false,
        }
    }

    /// Receives a message if one is waiting.
    pub fn try_recv(&mut self) -> Result<Message> {
        kind::check_recv(&self.core)?;
        loop {
            if let Some(message) = self.next_held() {
                return Ok(message);
            }
            match self.core.inbound.try_take_all(&mut self.held) {
                Some(true) => self.count_held(),
                Some(false) => return Err(Error::Closed),
                None => return Err(Error::WouldBlock),
            }
        }
    }

    /// The metadata of the peer that sent the last message this receiver
    /// handed out (as [`Socket::recv_with_metadata`] gives it), if that
    /// message came from a peer and its link is live or recently ended.
    pub fn last_peer(&self) -> Option<Arc<PeerMetadata>> {
        self.core.peers.lookup(self.last_pipe?)
    }

    /// The next held message the socket's rules accept.
    fn next_held(&mut self) -> Option<Message> {
        while let Some(inbound) = self.held.pop_front() {
            self.last_pipe = inbound.from_peer.then_some(inbound.pipe);
            if kind::accepts_as_is(self.core.socket_type) {
                return Some(inbound.message);
            }
            if let Some(message) = kind::accept(&self.core, inbound.pipe, inbound.message) {
                return Some(message);
            }
        }
        None
    }

    /// Counts a fresh batch as held in place of the last one, which has
    /// been handed out (see [`Socket::stats`]).
    fn count_held(&mut self) {
        let held = &self.core.stats.held_by_handles;
        let now = self.held.len() as u64;
        let before = std::mem::replace(&mut self.reported_held, now);
        if now >= before {
            held.fetch_add(now - before, Ordering::Relaxed);
        } else {
            held.fetch_sub(before - now, Ordering::Relaxed);
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // What is given back counts as never taken.
        self.core.inbound.give_back(&mut self.held);
        self.core
            .stats
            .held_by_handles
            .fetch_sub(self.reported_held, Ordering::Relaxed);
    }
}

/// [`Receiver::recv`]'s future.
struct Recv<'a> {
    receiver: &'a mut Receiver,
    /// The socket type's receive rules were checked (on the first poll).
    checked: bool,
}

impl Future for Recv<'_> {
    type Output = Result<Message>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        let this = self.get_mut();
        let receiver = &mut *this.receiver;
        if !this.checked {
            if !kind::accepts_as_is(receiver.core.socket_type) {
                kind::check_recv(&receiver.core)?;
            }
            this.checked = true;
        }
        loop {
            if let Some(message) = receiver.next_held() {
                return Poll::Ready(Ok(message));
            }
            // The queue closes with the socket, after what it holds.
            if !std::task::ready!(receiver.core.inbound.poll_take_all(cx, &mut receiver.held)) {
                return Poll::Ready(Err(Error::Closed));
            }
            receiver.count_held();
        }
    }
}
