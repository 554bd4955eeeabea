//! A socket's receiving end for one task: [`Receiver`].
//!
//! [`Socket::recv`] takes `&self`, so every message locks the socket's
//! inbound queue. A `Receiver` is owned by one task (`&mut self`, as a
//! libzmq socket belongs to one thread) and takes what is queued, up to
//! [`BATCH`] messages, in one step, then hands the messages out one by one
//! without locking. Messages it holds when dropped go back to the front of
//! the queue, in order, for the socket's other readers.
//!
//! A receiver made [`Receiver::with_metadata`] also looks up the peers of
//! a batch as it takes it (once per distinct pipe, under the queue's lock
//! as `Socket::recv_with_metadata` does), so every message it hands out
//! has its sender's metadata at hand without a lookup of its own.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use zmtp::Message;

use crate::core::{Core, Inbound};
use crate::error::{Error, Result};
use crate::peers::{PeerDirectory, PeerMetadata, PipeId};
use crate::rules;
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
/// A task that needs it for every message makes its receiver
/// [`Receiver::with_metadata`].
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
    /// With metadata: the peers of the last batch taken, by pipe.
    batch_peers: Option<Vec<(PipeId, Option<Arc<PeerMetadata>>)>>,
}

/// The most messages a receiver takes off the socket's queue at once: what
/// it may hold beyond the queue's own bound (`rcvhwm`).
pub(crate) const BATCH: usize = 256;

impl Socket {
    /// A receiving end for one task: the same messages as [`Socket::recv`],
    /// taken off the socket's queue in batches (see [`Receiver`]).
    pub fn receiver(&self) -> Receiver {
        Receiver {
            core: self.core().clone(),
            held: VecDeque::new(),
            reported_held: 0,
            last_pipe: None,
            batch_peers: None,
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
        rules::check_recv(&self.core)?;
        match self.next(None) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(Error::WouldBlock),
        }
    }

    /// This receiver, looking up the peers of each batch as it takes it:
    /// [`Receiver::last_peer_ref`] then answers for every message, and
    /// [`Receiver::last_peer`] without a lookup.
    pub fn with_metadata(mut self) -> Self {
        self.batch_peers = Some(Vec::new());
        self
    }

    /// The metadata of the peer that sent the last message this receiver
    /// handed out (as [`Socket::recv_with_metadata`] gives it), if that
    /// message came from a peer and its link is live or recently ended
    /// (with [`Receiver::with_metadata`]: if it was when the message was
    /// taken off the socket's queue).
    pub fn last_peer(&self) -> Option<Arc<PeerMetadata>> {
        match &self.batch_peers {
            Some(_) => self.last_peer_ref().cloned(),
            None => self.core.peers.lookup(self.last_pipe?),
        }
    }

    /// With [`Receiver::with_metadata`], the metadata of the peer that sent
    /// the last message handed out, as [`Receiver::last_peer`] answers it,
    /// borrowed; always `None` without.
    pub fn last_peer_ref(&self) -> Option<&Arc<PeerMetadata>> {
        let pipe = self.last_pipe?;
        let peers = self.batch_peers.as_ref()?;
        peers.iter().find(|(p, _)| *p == pipe)?.1.as_ref()
    }

    /// The next message the socket's rules accept: a held one, or one of a
    /// batch taken from the socket's queue into `held` (`Ready(None)` once
    /// the queue is closed and empty). With `cx`, an empty queue wakes its
    /// task when messages arrive.
    fn next(&mut self, mut cx: Option<&mut Context<'_>>) -> Poll<Result<Message>> {
        let Receiver {
            core,
            held,
            reported_held,
            last_pipe,
            batch_peers,
        } = self;
        let next = rules::next_accepted(core, || {
            loop {
                if let Some(inbound) = held.pop_front() {
                    *last_pipe = inbound.from_peer.then_some(inbound.pipe);
                    return Poll::Ready(Some((inbound, ())));
                }
                let peers = &core.peers;
                let took =
                    core.inbound
                        .poll_take_inspecting(cx.as_deref_mut(), held, BATCH, |batch| {
                            if let Some(known) = batch_peers.as_mut() {
                                look_up_peers(peers, batch, known);
                            }
                        });
                if !std::task::ready!(took) {
                    return Poll::Ready(None);
                }
                count_held(core, held.len(), reported_held);
            }
        });
        // (A match, not `ok_or`: that builds and drops an `Error` per message.)
        next.map(|m| match m {
            Some((message, ())) => Ok(message),
            None => Err(Error::Closed),
        })
    }
}

/// Replaces `known` with the peers of the messages in `batch`, each pipe
/// looked up once.
fn look_up_peers(
    peers: &PeerDirectory,
    batch: &VecDeque<Inbound>,
    known: &mut Vec<(PipeId, Option<Arc<PeerMetadata>>)>,
) {
    known.clear();
    for inbound in batch.iter().filter(|i| i.from_peer) {
        let pipe = inbound.pipe;
        if !known.iter().any(|(p, _)| *p == pipe) {
            known.push((pipe, peers.lookup(pipe)));
        }
    }
}

/// Counts a fresh batch of `now` messages as held in place of the last
/// one, which has been handed out (see [`Socket::stats`]).
fn count_held(core: &Core, now: usize, reported_held: &mut u64) {
    let held = &core.stats.held_by_handles;
    let now = now as u64;
    let before = std::mem::replace(reported_held, now);
    if now >= before {
        held.fetch_add(now - before, Ordering::Relaxed);
    } else {
        held.fetch_sub(before - now, Ordering::Relaxed);
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
            rules::check_recv(&receiver.core)?;
            this.checked = true;
        }
        // The queue closes with the socket, after what it holds.
        receiver.next(Some(cx))
    }
}
