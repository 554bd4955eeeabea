//! A socket's sending end for one task: [`Sender`].
//!
//! [`Socket::send`] takes `&self`, so every message locks the socket's
//! routing state to pick a pipe, then the pipe to queue in it. A `Sender`
//! is owned by one task (`&mut self`, as a libzmq socket belongs to one
//! thread) and keeps its own copy of the pipes round-robin may use, checked
//! against a version number the socket bumps whenever they change: a message
//! then costs only the pipe's lock. PUSH, DEALER and PAIR use the copy; the
//! other types go through the socket's rules as `Socket::send` does.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use zmtp::{Message, SocketType};

use crate::core::{Core, Outbound};
use crate::error::{Error, Result};
use crate::queue::Queue;
use crate::rules::{self, Attempt};
use crate::socket::{Socket, TrySendError, wait_for_room};

/// Sends reported to the socket's statistics in batches of this many.
const REPORT_EVERY: u64 = 1024;

/// A socket's sending end for one task; see [`Socket::sender`]. It does not
/// keep the socket open: once every [`Socket`] handle is gone (or
/// [`Socket::close`] was called), sends fail with [`Error::Closed`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> zmtp_transport::Result<()> {
/// use zmtp_transport::{Socket, SocketType};
/// let pull = Socket::new(SocketType::Pull);
/// let endpoint = pull.bind("tcp://127.0.0.1:*").await?;
/// let push = Socket::new(SocketType::Push);
/// push.connect(&endpoint.to_string()).await?;
/// let mut sender = push.sender();
/// for i in 0..3u8 {
///     sender.send(vec![i]).await?;
/// }
/// assert_eq!(pull.recv().await?.frames()[0][..], [0u8][..]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Sender {
    core: Arc<Core>,
    /// The socket's pipes version the copy below was taken at.
    version: u64,
    /// Queues of the pipes round-robin may use, in the socket's order.
    pipes: Vec<Arc<Queue<Outbound>>>,
    /// The socket closed when the copy was taken.
    closed: bool,
    /// Round-robin cursor into `pipes`.
    next: usize,
    /// Messages sent and not yet counted in the socket's statistics.
    unreported: u64,
}

impl Socket {
    /// A sending end for one task: the same messages to the same peers as
    /// [`Socket::send`], with less work per message for PUSH, DEALER and
    /// PAIR (see [`Sender`]). Several may exist at once, and alongside
    /// `Socket::send`; each keeps its own round-robin turn.
    pub fn sender(&self) -> Sender {
        Sender {
            core: self.core().clone(),
            version: u64::MAX,
            pipes: Vec::new(),
            closed: false,
            next: 0,
            unreported: 0,
        }
    }
}

impl Sender {
    /// ROUTER: ends the link of the peer with `routing_id`, as
    /// [`Socket::disconnect_peer`]; whether such a peer was connected.
    pub fn disconnect_peer(&self, routing_id: &[u8]) -> bool {
        self.core.disconnect_peer(routing_id)
    }

    /// Sends a message, waiting at the high-water mark where the socket
    /// type waits, as [`Socket::send`]. Cancel-safe: if the future is
    /// dropped, the message was either queued whole or not at all.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<()> {
        let message = match self.attempt(message.into())? {
            Attempt::Done => return Ok(()),
            Attempt::Wait(message) => message,
        };
        Box::pin(self.wait_to_send(message)).await
    }

    /// Sends without waiting; at the high-water mark the message comes back
    /// in the error, as [`Socket::try_send`].
    pub fn try_send(&mut self, message: impl Into<Message>) -> Result<(), TrySendError> {
        TrySendError::from_attempt(self.attempt(message.into()))
    }

    async fn wait_to_send(&mut self, message: Message) -> Result<()> {
        let core = self.core.clone();
        wait_for_room(&core, message, |m| self.attempt(m)).await
    }

    /// One try: queued, or handed back to wait for room.
    fn attempt(&mut self, message: Message) -> Result<Attempt> {
        if !matches!(
            self.core.socket_type,
            SocketType::Push | SocketType::Dealer | SocketType::Pair
        ) {
            return rules::try_send(&self.core, message);
        }
        if message.is_empty() {
            return Err(Error::InvalidMessage("a message needs at least one frame"));
        }
        self.refresh();
        if self.closed {
            return Err(Error::Closed);
        }
        let mut slot = Some(message);
        if !self.round_robin(&mut slot) {
            // A pipe may have closed since the copy: look again once.
            self.version = u64::MAX;
            self.refresh();
            if self.closed {
                return Err(Error::Closed);
            }
            if !self.round_robin(&mut slot) {
                return Ok(Attempt::Wait(slot.unwrap_or_default()));
            }
        }
        self.unreported += 1;
        if self.unreported >= REPORT_EVERY {
            self.report();
        }
        Ok(Attempt::Done)
    }

    /// Offers the message in `slot` to each pipe in turn from the cursor
    /// (the socket's own round-robin rule); true once one took it.
    fn round_robin(&mut self, slot: &mut Option<Message>) -> bool {
        rules::round_robin(&self.pipes, &mut self.next, |queue| {
            queue.try_push_with(|| Outbound::Message(slot.take().unwrap_or_default()))
        })
        .is_some()
    }

    /// Takes a new copy of the socket's usable pipes if they changed.
    #[inline]
    fn refresh(&mut self) {
        if self.core.pipes_version.load(Ordering::Acquire) == self.version {
            return;
        }
        let state = self.core.state();
        // Read under the lock every change is made under: the copy and
        // the version match.
        self.version = self.core.pipes_version.load(Ordering::Acquire);
        self.closed = state.closed;
        self.pipes.clear();
        self.pipes.extend(
            state
                .pipes
                .iter()
                .filter(|p| p.usable)
                .map(|p| p.tx.queue().clone()),
        );
    }

    /// Adds the messages sent so far to the socket's statistics.
    fn report(&mut self) {
        let n = std::mem::take(&mut self.unreported);
        if n > 0 {
            self.core
                .stats
                .sent_by_handles
                .fetch_add(n, Ordering::Relaxed);
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.report();
    }
}
