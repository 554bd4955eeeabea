//! The public socket handle.
//!
//! A [`Socket`] is cheap to clone and usable from many tasks at once; the
//! socket closes when the last clone is dropped or [`Socket::close`] is
//! called. Sending and receiving are async; both also exist in
//! non-blocking form, and the socket is a [`futures_sink::Sink`] of
//! messages and a [`futures_core::Stream`] of received ones.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use thiserror::Error;
use zmtp::{Message, SocketType};

use crate::connecter;
use crate::core::{Core, SocketStats};
use crate::endpoint::Endpoint;
use crate::endpoints::Kind;
use crate::error::{Error, Result};
use crate::inproc;
use crate::listener;
use crate::monitor::Monitor;
use crate::options::Options;
use crate::peers::PeerMetadata;
use crate::rules::{self, Attempt};

type SendFuture = Pin<Box<dyn Future<Output = Result<()>> + Send>>;
type RecvFuture = Pin<Box<dyn Future<Output = Result<Message>> + Send>>;

/// A ZeroMQ socket of one of the eleven classic types.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> zmtp_transport::Result<()> {
/// use zmtp_transport::{Socket, SocketType};
/// let pull = Socket::new(SocketType::Pull);
/// let endpoint = pull.bind("tcp://127.0.0.1:*").await?;
/// let push = Socket::new(SocketType::Push);
/// push.connect(&endpoint.to_string()).await?;
/// push.send("hello").await?;
/// assert_eq!(&pull.recv().await?.frames()[0][..], b"hello");
/// # Ok(())
/// # }
/// ```
pub struct Socket {
    core: Arc<Core>,
    handle: Arc<Handle>,
    // The Sink and Stream futures of this handle. Only touched through
    // `&mut self` (`get_mut`, no locking); the Mutex just makes a `&Socket`
    // shareable between threads, which a bare `dyn Future + Send` is not.
    sending: Mutex<Option<SendFuture>>,
    receiving: Mutex<Option<RecvFuture>>,
}

/// Closes the socket when the last [`Socket`] clone goes.
struct Handle(Arc<Core>);

impl Drop for Handle {
    fn drop(&mut self) {
        shut_down(&self.0);
    }
}

fn shut_down(core: &Arc<Core>) {
    inproc::unbind_all(core);
    core.shut_down();
}

/// A message [`Socket::try_send`] could not queue, with the reason.
#[derive(Debug, Error)]
#[error("{error}")]
pub struct TrySendError {
    /// Why it was not queued ([`Error::WouldBlock`] at the high-water mark).
    pub error: Error,
    /// The message, handed back.
    pub message: Message,
}

impl TrySendError {
    /// The outcome of one attempt as `try_send` reports it: a message that
    /// would have to wait comes back with [`Error::WouldBlock`].
    pub(crate) fn from_attempt(attempt: Result<Attempt>) -> Result<(), TrySendError> {
        match attempt {
            Ok(Attempt::Done) => Ok(()),
            Ok(Attempt::Wait(message)) => Err(TrySendError {
                error: Error::WouldBlock,
                message,
            }),
            Err(error) => Err(TrySendError {
                error,
                message: Message::new(),
            }),
        }
    }
}

impl Clone for Socket {
    fn clone(&self) -> Self {
        Socket {
            core: self.core.clone(),
            handle: self.handle.clone(),
            sending: Mutex::new(None),
            receiving: Mutex::new(None),
        }
    }
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("type", &self.core.socket_type)
            .field("last_endpoint", &self.last_endpoint())
            .finish()
    }
}

impl Socket {
    /// A socket with libzmq's default options for its type.
    pub fn new(socket_type: SocketType) -> Self {
        Self::with_options(socket_type, Options::new(socket_type))
    }

    /// A socket with the given options.
    pub fn with_options(socket_type: SocketType, options: Options) -> Self {
        let core = Core::new(socket_type, options);
        Socket {
            handle: Arc::new(Handle(core.clone())),
            core,
            sending: Mutex::new(None),
            receiving: Mutex::new(None),
        }
    }

    /// The socket's type.
    pub fn socket_type(&self) -> SocketType {
        self.core.socket_type
    }

    /// The options the socket was made with, which its own rules follow
    /// (see [`Socket::set_options`] for what changes later).
    pub fn options(&self) -> &Options {
        &self.core.options
    }

    /// Changes the options endpoints bound or connected from now on take,
    /// and the links they make: reconnect intervals, heartbeats,
    /// `maxmsgsize`, the handshake interval, the routing id, security and
    /// authenticators, TLS, TCP keepalive, admission caps. Endpoints
    /// already there keep theirs, as in libzmq. The high-water marks apply
    /// at once, to every pipe and to the inbound queue. The socket's own
    /// rules (linger, `immediate`, `router_mandatory`, the XPUB flags,
    /// `link_notify`, subscription caps, the inproc domain) stay as the
    /// socket was made.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> zmtp_transport::Result<()> {
    /// use std::time::Duration;
    /// use zmtp_transport::{Socket, SocketType};
    /// let push = Socket::new(SocketType::Push);
    /// let mut options = push.current_options();
    /// options.reconnect_ivl = Duration::from_secs(1);
    /// push.set_options(options);
    /// push.connect("tcp://127.0.0.1:5555").await?; // redials every second
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_options(&self, options: Options) {
        self.core.set_options(options);
    }

    /// The options the next bind or connect would take: those the socket
    /// was made with, as [`Socket::set_options`] last changed them.
    pub fn current_options(&self) -> Options {
        Options::clone(&self.core.live.snapshot())
    }

    /// Binds an endpoint and starts accepting peers. Returns the bound
    /// endpoint, with an ephemeral port (`*` or `0`) resolved.
    pub async fn bind(&self, endpoint: &str) -> Result<Endpoint> {
        let endpoint: Endpoint = endpoint.parse()?;
        self.check_open()?;
        let bound = listener::bind(&self.core, &endpoint).await?;
        *self
            .core
            .last_endpoint
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(bound.clone());
        Ok(bound)
    }

    /// Connects to an endpoint. The connection is made in the background
    /// and remade after failures, with the configured backoff; messages
    /// queue for the peer meanwhile (unless `immediate`).
    pub async fn connect(&self, endpoint: &str) -> Result<()> {
        let endpoint: Endpoint = endpoint.parse()?;
        self.check_open()?;
        connecter::connect(&self.core, endpoint.clone())?;
        *self
            .core
            .last_endpoint
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(endpoint);
        Ok(())
    }

    /// Stops a bound endpoint, named as bound or as [`Socket::bind`]
    /// returned it (`tcp://*:5555` and `tcp://0.0.0.0:5555` are the same;
    /// an ephemeral port by its number). Its listener closes (the port or
    /// `ipc://` file is free when this returns) and the links accepted
    /// through it end, as libzmq's `zmq_unbind` does; they end as
    /// [`Refusal::DisconnectedByApplication`](crate::Refusal::DisconnectedByApplication).
    /// An `inproc://` name is only released: its links stay, as in libzmq.
    ///
    /// [`Error::EndpointNotFound`] if the socket has no such bound endpoint.
    pub async fn unbind(&self, endpoint: &str) -> Result<()> {
        let endpoint: Endpoint = endpoint.parse()?;
        let stops = self.core.endpoints.take(Kind::Bound, &endpoint);
        if stops.is_empty() {
            return Err(Error::EndpointNotFound(endpoint.to_string()));
        }
        if let Endpoint::Inproc(name) = &endpoint {
            inproc::unbind(&self.core, name);
        }
        for stop in &stops {
            stop.stop(&self.core);
        }
        for stop in &stops {
            stop.finished().await;
        }
        Ok(())
    }

    /// Stops a connected endpoint: no more reconnecting, and its link (if
    /// up) ends as [`Refusal::DisconnectedByApplication`](crate::Refusal::DisconnectedByApplication),
    /// as libzmq's `zmq_disconnect` does. Every connect to that endpoint
    /// stops, and what its links delivered that the application has not
    /// received is dropped (libzmq ends the pipe at once: a multipart
    /// message in it goes whole). An `inproc://` connect still waiting for its bind is
    /// dropped with what was queued for it.
    ///
    /// [`Error::EndpointNotFound`] if the socket has no such connect.
    pub fn disconnect(&self, endpoint: &str) -> Result<()> {
        let endpoint: Endpoint = endpoint.parse()?;
        let stops = self.core.endpoints.take(Kind::Connected, &endpoint);
        if stops.is_empty() {
            return Err(Error::EndpointNotFound(endpoint.to_string()));
        }
        for stop in &stops {
            if let Endpoint::Inproc(name) = &endpoint {
                inproc::forget_pending(&self.core, name, stop);
            }
            let pipes = stop.stop(&self.core);
            self.core.discard_inbound(&pipes);
        }
        Ok(())
    }

    /// The last endpoint bound or connected.
    pub fn last_endpoint(&self) -> Option<Endpoint> {
        self.core
            .last_endpoint
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn check_open(&self) -> Result<()> {
        if self.core.is_closing() {
            return Err(Error::Closed);
        }
        self.core
            .live
            .snapshot()
            .security
            .validate()
            .map_err(Error::Options)
    }

    /// The shared core, for the socket's other handles.
    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Sends a message, waiting at the high-water mark where the socket
    /// type waits (PUSH, DEALER, REQ, PAIR). Cancel-safe: if the future is
    /// dropped, the message was either queued whole or not at all.
    pub fn send(
        &self,
        message: impl Into<Message>,
    ) -> impl Future<Output = Result<()>> + Send + '_ {
        // A future of its own rather than an `async fn`: one is built per
        // message, and the common case, room in a pipe, needs no state
        // machine around `try_send`.
        Sending {
            core: &self.core,
            message: Some(message.into()),
            waiting: None,
        }
    }

    /// Sends without waiting; at the high-water mark the message comes back
    /// in the error.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), TrySendError> {
        TrySendError::from_attempt(rules::try_send(&self.core, message.into()))
    }

    /// Receives the next message. Cancel-safe: a dropped `recv` loses
    /// nothing.
    pub fn recv(&self) -> impl Future<Output = Result<Message>> + Send + '_ {
        // A future of its own rather than an `async fn`: one is built per
        // message, and this one is two words with no state machine.
        Recv {
            core: &self.core,
            checked: false,
        }
    }

    /// Receives the next message with what the handshake established about
    /// its sender (address, `User-Id`, properties); `None` for inproc and
    /// socket-made notices.
    pub async fn recv_with_metadata(&self) -> Result<(Message, Option<Arc<PeerMetadata>>)> {
        recv_on(&self.core).await
    }

    /// Whether messages from inproc peers are on their way into this
    /// socket (queued by the peer, or being moved): a receive will find
    /// them shortly. libzmq's inproc reader reads the writer's pipe
    /// directly; here a task moves them, and a caller that must not miss
    /// them (a non-blocking receive emulating libzmq) waits while this
    /// holds.
    pub fn inproc_in_flight(&self) -> bool {
        self.core.inproc_in_flight()
    }

    /// Receives a message if one is waiting.
    pub fn try_recv(&self) -> Result<Message> {
        rules::check_recv(&self.core)?;
        let core = &*self.core;
        let next = rules::next_accepted(core, || match core.inbound.try_pop() {
            Some(inbound) => Poll::Ready(Some((inbound, ()))),
            None if core.is_closing() => Poll::Ready(None),
            None => Poll::Pending,
        });
        match next {
            Poll::Ready(Some((message, ()))) => Ok(message),
            Poll::Ready(None) => Err(Error::Closed),
            Poll::Pending => Err(Error::WouldBlock),
        }
    }

    /// SUB and XSUB: subscribes to messages whose first frame starts with
    /// `topic` (the empty topic matches everything). An XPUB with
    /// [`Mode::XpubManual`](crate::Mode::XpubManual) subscribes the peer
    /// whose message it received last (nothing if that peer has left);
    /// other types, and an XPUB without it, refuse.
    pub fn subscribe(&self, topic: impl AsRef<[u8]>) -> Result<()> {
        self.change_subscription(true, topic.as_ref(), "subscribe")
    }

    /// SUB and XSUB: removes one subscription to `topic`. An XPUB with
    /// [`Mode::XpubManual`](crate::Mode::XpubManual) unsubscribes the peer
    /// whose message it received last.
    pub fn unsubscribe(&self, topic: impl AsRef<[u8]>) -> Result<()> {
        self.change_subscription(false, topic.as_ref(), "unsubscribe")
    }

    fn change_subscription(&self, on: bool, topic: &[u8], operation: &'static str) -> Result<()> {
        let core = &self.core;
        let mut state = core.state();
        let topic = bytes::Bytes::copy_from_slice(topic);
        match core.socket_type {
            SocketType::Sub | SocketType::Xsub if on => {
                rules::subscribe(&mut state, &core.stats, topic)
            }
            SocketType::Sub | SocketType::Xsub => {
                rules::unsubscribe(&mut state, &core.stats, &topic)
            }
            SocketType::Xpub if state.modes.xpub_manual => {
                let pipe = core
                    .last_received
                    .load(std::sync::atomic::Ordering::Relaxed);
                rules::subscribe_peer(&mut state, pipe, on, &topic);
            }
            socket_type => {
                return Err(Error::Unsupported {
                    socket_type,
                    operation,
                });
            }
        }
        Ok(())
    }

    /// ROUTER: ends the link of the peer with `routing_id`, leaving every
    /// other peer alone. Returns whether such a peer was connected.
    ///
    /// Messages still queued for that peer are dropped; messages it sent
    /// before the link ended can still be received. The link ends as
    /// [`LinkEnd::Refused`](crate::LinkEnd::Refused) with
    /// [`Refusal::DisconnectedByApplication`](crate::Refusal::DisconnectedByApplication),
    /// reported to monitors as `Disconnected`.
    ///
    /// This ends a link, not an endpoint: a peer that connected to us may
    /// well connect again (its reconnect interval later, libzmq's default
    /// is 100 ms), under the same routing id if it sets one. A peer we
    /// connected to is not redialled: its endpoint stops, as libzmq's
    /// `zmq_disconnect` would stop it. Other socket types have no routing
    /// ids and always answer `false`.
    ///
    /// ```no_run
    /// # async fn demo(router: zmtp_transport::Socket) {
    /// if !router.disconnect_peer(b"worker-7") {
    ///     eprintln!("worker-7 was not connected");
    /// }
    /// # }
    /// ```
    pub fn disconnect_peer(&self, routing_id: &[u8]) -> bool {
        self.core.disconnect_peer(routing_id)
    }

    /// A stream of this socket's monitor events from now on.
    pub fn monitor(&self) -> Monitor {
        self.core.monitor.subscribe()
    }

    /// The socket's counters.
    pub fn stats(&self) -> SocketStats {
        self.core.snapshot()
    }

    /// Closes the socket (for every clone) and waits until its links have
    /// delivered what was queued, as far as `linger` allows.
    pub async fn close(self) {
        shut_down(&self.core);
        for task in self.core.take_tasks() {
            let _ = task.await;
        }
    }
}

/// [`Socket::send`]'s future.
struct Sending<'a> {
    core: &'a Arc<Core>,
    /// The message, until the first poll offers it.
    message: Option<Message>,
    /// At the high-water mark: the wait for room, boxed because it is rare
    /// and large (a `Notified` inside).
    waiting: Option<Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>>,
}

impl Future for Sending<'_> {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        if let Some(waiting) = this.waiting.as_mut() {
            return waiting.as_mut().poll(cx);
        }
        let Some(message) = this.message.take() else {
            // Polled again after it finished: nothing left to send.
            return Poll::Ready(Ok(()));
        };
        match rules::try_send(this.core, message)? {
            Attempt::Done => Poll::Ready(Ok(())),
            Attempt::Wait(message) => {
                let waiting = this
                    .waiting
                    .insert(Box::pin(wait_to_send(this.core, message)));
                waiting.as_mut().poll(cx)
            }
        }
    }
}

async fn send_on(core: &Arc<Core>, message: Message) -> Result<()> {
    // The common case queues at once, without touching the wait list. The
    // waiting part is boxed: every send builds (and moves) this future, and
    // with a `Notified` inside it would be 344 bytes instead of ~100.
    // (Boxed in a statement of its own: a temporary in the `.await`
    // expression would keep its unboxed space in this future.)
    let waiting = match rules::try_send(core, message)? {
        Attempt::Done => return Ok(()),
        Attempt::Wait(m) => Box::pin(wait_to_send(core, m)),
    };
    waiting.await
}

async fn wait_to_send(core: &Arc<Core>, message: Message) -> Result<()> {
    wait_for_room(core, message, |m| rules::try_send(core, m)).await
}

/// Retries `attempt` each time the socket signals room (a pipe drained or
/// a peer arrived), until the message is queued or an error comes.
pub(crate) async fn wait_for_room(
    core: &Core,
    mut message: Message,
    mut attempt: impl FnMut(Message) -> Result<Attempt>,
) -> Result<()> {
    // Counted while waiting, so engines signal only when someone listens.
    let _waiting = WaitGuard::enter(&core.send_waiters);
    loop {
        // Enabled before the attempt, so a signal between the two is kept.
        let notified = core.send_ready.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        match attempt(message)? {
            Attempt::Done => return Ok(()),
            Attempt::Wait(m) => message = m,
        }
        notified.await;
    }
}

/// Counts a sender waiting for room, until dropped (also on cancel).
pub(crate) struct WaitGuard<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> WaitGuard<'a> {
    pub(crate) fn enter(count: &'a std::sync::atomic::AtomicUsize) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        WaitGuard(count)
    }
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// [`Socket::recv`]'s future.
struct Recv<'a> {
    core: &'a Core,
    /// The socket type's receive rules were checked (on the first poll).
    checked: bool,
}

impl Future for Recv<'_> {
    type Output = Result<Message>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        let this = self.get_mut();
        let core = this.core;
        if !this.checked {
            rules::check_recv(core)?;
            this.checked = true;
        }
        // The inbound queue closes with the socket, after what it holds.
        match std::task::ready!(rules::next_accepted(core, || {
            core.inbound.poll_pop(cx).map(|i| i.map(|i| (i, ())))
        })) {
            Some((message, ())) => Poll::Ready(Ok(message)),
            None => Poll::Ready(Err(Error::Closed)),
        }
    }
}

async fn recv_on(core: &Arc<Core>) -> Result<(Message, Option<Arc<PeerMetadata>>)> {
    rules::check_recv(core)?;
    // The inbound queue closes with the socket, after what it holds. The
    // peer is looked up as the message is taken (see `peers`).
    let next = std::future::poll_fn(|cx| {
        rules::next_accepted(core, || {
            core.inbound.poll_pop_map(cx, |inbound| {
                let peer = inbound
                    .from_peer
                    .then(|| core.peers.lookup(inbound.pipe))
                    .flatten();
                (inbound, peer)
            })
        })
    });
    next.await.ok_or(Error::Closed)
}

impl futures_sink::Sink<Message> for Socket {
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let slot = self.sending.get_mut().unwrap_or_else(|p| p.into_inner());
        match slot.as_mut() {
            None => Poll::Ready(Ok(())),
            Some(sending) => {
                let result = std::task::ready!(sending.as_mut().poll(cx));
                *slot = None;
                Poll::Ready(result)
            }
        }
    }

    fn start_send(mut self: Pin<&mut Self>, message: Message) -> Result<()> {
        let core = self.core.clone();
        let slot = self.sending.get_mut().unwrap_or_else(|p| p.into_inner());
        *slot = Some(Box::pin(async move { send_on(&core, message).await }));
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.poll_ready(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.poll_ready(cx)
    }
}

impl futures_core::Stream for Socket {
    type Item = Result<Message>;

    /// Ends (`None`) when the socket is closed.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        let core = self.core.clone();
        let slot = self.receiving.get_mut().unwrap_or_else(|p| p.into_inner());
        let receiving = slot
            .get_or_insert_with(|| Box::pin(async move { recv_on(&core).await.map(|(m, _)| m) }));
        let result = std::task::ready!(receiving.as_mut().poll(cx));
        *slot = None;
        match result {
            Err(Error::Closed) => Poll::Ready(None),
            other => Poll::Ready(Some(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shareable<T: Send + Sync + 'static>() {}

    #[test]
    fn socket_handles_cross_threads() {
        shareable::<Socket>();
        shareable::<crate::Monitor>();
    }
}
