//! One C socket: its options, the transport socket it drives, and the
//! frames of the message being assembled or taken apart.
//!
//! The transport socket is made lazily, with the options as they stand,
//! by the first call that needs it: bind, connect, send, receive or
//! (un)subscribe; the socket-wide rules (type behaviours such as
//! ROUTER_MANDATORY, XPUB flags, IMMEDIATE) are read then. Later option
//! changes reach the made socket through `Socket::set_options`: the
//! high-water marks at once, the per-endpoint options (reconnect,
//! heartbeats, MAXMSGSIZE, ROUTING_ID, security) from the next bind or
//! connect, as in libzmq. LINGER is honoured at close.
//!
//! Readiness (`ZMQ_EVENTS`, `ZMQ_FD`, what `zmq_poll` reads) is computed
//! here on demand with the helpers of `readiness.rs`.
//!
//! The transport moves whole messages, so SNDMORE frames wait here until
//! the last one, and a received message is handed out frame by frame.
//! Everything sits behind one mutex: libzmq sockets are not thread-safe,
//! but a C caller breaking that rule gets serialised calls, not a race.
//!
//! Sends and receives go through the transport socket's one-task ends
//! ([`Sender`], [`Receiver`]), which the socket's one mutex makes this
//! socket's own: a receive takes a batch of messages off the transport's
//! queue in one lock, with their senders' metadata, and hands them out
//! one by one; a PUSH, DEALER or PAIR send takes only the pipe's lock.
//! The batch goes back to the transport's queue when a proxy takes the
//! socket over ([`ZSocket::transport_socket`]).

use std::collections::VecDeque;
use std::ffi::{c_int, c_short};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use bytes::Bytes;
use tokio::runtime::Handle;
use zmtp::{Message, SocketType};
use zmtp_transport::{
    Endpoint, EndpointError, Error, Host, Receiver, Sender, Socket, TrySendError,
};

use crate::context::Context;
use crate::errno::Errno;
use crate::message::{MsgMetadata, MsgState};
use crate::monitor::MonitorSink;
use crate::readiness::{self, WritableWait, ZMQ_POLLIN, ZMQ_POLLOUT};
use crate::signaler::Signaler;
use crate::sockopt::{Effect, SocketOptions, Value, num};
use crate::wait::{Deadline, wait};

/// `zmq_send`/`zmq_recv` flag: do not block.
pub const ZMQ_DONTWAIT: c_int = 1;
/// `zmq_send` flag: more frames of this message follow.
pub const ZMQ_SNDMORE: c_int = 2;

/// libzmq's socket type numbers, in order (`ZMQ_PAIR` = 0 ... `ZMQ_XSUB`
/// = 10).
const TYPES: [SocketType; 11] = [
    SocketType::Pair,
    SocketType::Pub,
    SocketType::Sub,
    SocketType::Req,
    SocketType::Rep,
    SocketType::Dealer,
    SocketType::Router,
    SocketType::Pull,
    SocketType::Push,
    SocketType::Xpub,
    SocketType::Xsub,
];

/// How long a non-blocking receive waits at most for inproc messages
/// that are on their way (normally microseconds; the bound only matters
/// if every one of them is filtered out, a SUB's unsubscribed topics).
const INPROC_SETTLE: std::time::Duration = std::time::Duration::from_millis(200);

/// `ZMQ_STREAM`, which the transport does not have.
const ZMQ_STREAM: c_int = 11;

/// The socket type for libzmq's number: EINVAL if unknown, ENOTSUP for
/// `ZMQ_STREAM` and the draft types.
pub fn socket_type(number: c_int) -> Result<SocketType, Errno> {
    match usize::try_from(number).ok().and_then(|i| TYPES.get(i)) {
        Some(t) => Ok(*t),
        None if (ZMQ_STREAM..=20).contains(&number) => Err(Errno::NOTSUP),
        None => Err(Errno::INVAL),
    }
}

fn type_number(t: SocketType) -> c_int {
    TYPES
        .iter()
        .position(|x| *x == t)
        .and_then(|i| c_int::try_from(i).ok())
        .unwrap_or(-1)
}

/// A C socket.
pub struct ZSocket {
    ctx: Arc<Context>,
    /// Readable when readiness may have changed (libzmq's mailbox fd):
    /// `ZMQ_FD`, and what `zmq_poll` waits on.
    signaler: Arc<Signaler>,
    /// Raises `signaler`: the waker of every readiness check.
    waker: Waker,
    runtime: Handle,
    socket_type: SocketType,
    inner: Mutex<Inner>,
}

/// The socket's mutable state.
struct Inner {
    options: SocketOptions,
    /// Made at the first call that needs it.
    transport: Option<Socket>,
    /// The transport socket's receiving end, made with it (and again after
    /// a proxy had the socket).
    receiver: Option<Receiver>,
    /// The transport socket's sending end, made with it.
    sender: Option<Sender>,
    /// Subscriptions set before the transport socket existed.
    pending_subscriptions: Vec<Effect>,
    /// Frames sent with SNDMORE, waiting for the last one.
    outgoing: Message,
    /// The rest of the message being received.
    incoming: VecDeque<Bytes>,
    /// Who sent `incoming`.
    incoming_from: Option<Arc<MsgMetadata>>,
    /// The last frame received had more after it.
    rcvmore: bool,
    /// `ZMQ_LAST_ENDPOINT`.
    last_endpoint: String,
    /// `zmq_socket_monitor`'s PAIR and forwarder, if monitored.
    monitor: Option<MonitorSink>,
    /// The wait for POLLOUT, kept while the socket is not writable.
    writable: Option<WritableWait>,
}

impl ZSocket {
    /// A socket of `socket_type` in `ctx` (which counts it).
    pub fn new(ctx: Arc<Context>, socket_type: SocketType) -> Result<Self, Errno> {
        let mut options = SocketOptions::new(socket_type, ctx.options().ipv6);
        if !ctx.options().blocky {
            // libzmq: a non-blocky context's new sockets start with LINGER 0.
            options.set(crate::sockopt::num::LINGER, &0i32.to_ne_bytes())?;
        }
        let runtime = ctx.open_socket()?;
        let signaler = match Signaler::new() {
            Ok(s) => Arc::new(s),
            Err(e) => {
                ctx.socket_closed(None);
                return Err(e);
            }
        };
        Ok(ZSocket {
            ctx,
            waker: signaler.waker(),
            signaler,
            runtime,
            socket_type,
            inner: Mutex::new(Inner {
                options,
                transport: None,
                receiver: None,
                sender: None,
                pending_subscriptions: Vec::new(),
                outgoing: Message::new(),
                incoming: VecDeque::new(),
                incoming_from: None,
                rcvmore: false,
                last_endpoint: String::new(),
                monitor: None,
                writable: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `op` to completion, the deadline, or the context's shutdown.
    fn wait<F: std::future::Future>(&self, deadline: Deadline, op: F) -> Result<F::Output, Errno> {
        wait(&self.runtime, self.ctx.shutdown_signal(), deadline, op)
    }

    /// The transport socket, made now if this is the first call needing it.
    fn transport<'a>(&self, inner: &'a mut Inner) -> Result<&'a Socket, Errno> {
        self.ctx.check_live()?;
        if inner.transport.is_none() {
            let options = self.transport_options(inner)?;
            let socket = {
                let _entered = self.runtime.enter();
                Socket::with_options(self.socket_type, options)
            };
            for effect in inner.pending_subscriptions.drain(..) {
                apply_subscription(&socket, effect)?;
            }
            if let Some(monitor) = inner.monitor.as_mut() {
                monitor.start(&self.runtime, &socket);
            }
            inner.sender = Some(socket.sender());
            inner.transport = Some(socket);
            // Peers may come now: whoever watches `ZMQ_FD` looks again.
            self.signaler.raise();
        }
        inner.transport.as_ref().ok_or(Errno::FAULT)
    }

    /// The transport options the C options stand for now: EINVAL if the
    /// security options name no complete mechanism (a CURVE role without
    /// its keys).
    fn transport_options(&self, inner: &Inner) -> Result<zmtp_transport::Options, Errno> {
        let mut options = inner.options.transport.clone();
        options.security = inner.options.security.security()?;
        options.inproc_domain = self.ctx.inproc_domain().clone();
        let zap = self.ctx.inproc().scoped(crate::zap::ZAP_ENDPOINT);
        options.async_authenticator = Some(crate::zap::ZapClient::shared(
            zap.into_owned(),
            options.inproc_domain.clone(),
        ));
        Ok(options)
    }

    /// The transport socket, made now if need be, with the options as
    /// they are now for the bind or connect about to happen (libzmq reads
    /// a socket's options at each bind and connect).
    fn transport_for_endpoint(&self, inner: &mut Inner) -> Result<Socket, Errno> {
        let fresh = inner.transport.is_none();
        let socket = self.transport(inner)?.clone();
        if !fresh {
            socket.set_options(self.transport_options(inner)?);
        }
        Ok(socket)
    }

    /// The transport socket (made now if need be), for proxies: the
    /// messages taken off its queue and not handed out yet go back to it,
    /// so the proxy reads them first.
    pub fn transport_socket(&self) -> Result<Socket, Errno> {
        let mut inner = self.lock();
        inner.receiver = None;
        Ok(self.transport(&mut inner)?.clone())
    }

    /// The socket's context.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// The runtime the socket runs on.
    pub fn runtime(&self) -> &Handle {
        &self.runtime
    }

    /// `zmq_bind`: binds and records `ZMQ_LAST_ENDPOINT`.
    pub fn bind(&self, endpoint: &str) -> Result<(), Errno> {
        let mut inner = self.lock();
        let socket = self.transport_for_endpoint(&mut inner)?;
        let scoped = self.ctx.inproc().scoped(endpoint);
        let bound = self
            .wait(Deadline::Never, socket.bind(&scoped))?
            .map_err(errno_of)?;
        inner.last_endpoint = if scoped == endpoint {
            last_endpoint(&bound.to_string())
        } else {
            endpoint.to_owned()
        };
        Ok(())
    }

    /// `zmq_connect`.
    pub fn connect(&self, endpoint: &str) -> Result<(), Errno> {
        if tcp_host_is_not_a_name(endpoint) {
            return Err(Errno::INVAL);
        }
        let mut inner = self.lock();
        let socket = self.transport_for_endpoint(&mut inner)?;
        let scoped = self.ctx.inproc().scoped(endpoint);
        self.wait(Deadline::Never, socket.connect(&scoped))?
            .map_err(errno_of)?;
        inner.last_endpoint = endpoint.to_owned();
        Ok(())
    }

    /// `zmq_unbind` and `zmq_disconnect`, which are one function in
    /// libzmq: whichever bound or connected endpoint `endpoint` names
    /// stops (a wildcard bind by its `ZMQ_LAST_ENDPOINT`, or as written
    /// with `*` for the host). ENOENT if there is none.
    pub fn term_endpoint(&self, endpoint: &str) -> Result<(), Errno> {
        self.ctx.check_live()?;
        let inner = self.lock();
        let Some(socket) = inner.transport.clone() else {
            // Nothing bound or connected yet; a malformed endpoint still
            // gets its own errno.
            let parsed = endpoint.parse::<zmtp_transport::Endpoint>();
            return Err(parsed.map_or_else(|e| errno_of(e.into()), |_| Errno(libc::ENOENT)));
        };
        // inproc names as the context scopes them (`inproc_scope.rs`).
        let endpoint = &*self.ctx.inproc().scoped(endpoint);
        match self.wait(Deadline::Never, socket.unbind(endpoint))? {
            Err(Error::EndpointNotFound(_)) => socket.disconnect(endpoint).map_err(errno_of),
            other => other.map_err(errno_of),
        }
    }

    /// Sends one frame; the message goes when a frame without `more` ends
    /// it. Blocks up to `ZMQ_SNDTIMEO` unless `dontwait`. The frame is
    /// taken from `frame` when the socket takes it (it is left empty);
    /// when the send fails it is left there, as far as it can be (an
    /// error that ends the socket, ETERM, loses it).
    ///
    /// Whether the message may go is decided at its *first* frame, as
    /// libzmq does (the transport's `check_first_frame`): waiting for room
    /// there, or EAGAIN (PUSH, DEALER, PAIR, REQ without room; a mandatory
    /// ROUTER's full peer; a NODROP XPUB's full subscriber), EHOSTUNREACH
    /// (a mandatory ROUTER's unknown peer) or EFSM (REQ, REP out of turn).
    /// The frames then wait here and the message goes whole at the last.
    pub fn send(&self, frame: &mut Bytes, flags: c_int) -> Result<(), Errno> {
        let mut guard = self.lock();
        self.transport(&mut guard)?;
        let inner = &mut *guard;
        let socket = inner.transport.as_ref().ok_or(Errno::FAULT)?;
        let deadline = if flags & ZMQ_DONTWAIT != 0 {
            Deadline::Now
        } else {
            Deadline::from_timeout_ms(inner.options.sndtimeo)
        };
        // A single-frame message of a type whose first-frame check is just
        // "room in some pipe" goes straight to the send below, which makes
        // the same decision in one step.
        let whole = flags & ZMQ_SNDMORE == 0
            && matches!(
                self.socket_type,
                SocketType::Push | SocketType::Dealer | SocketType::Pair | SocketType::Pub
            );
        if inner.outgoing.is_empty() && !whole {
            self.admit_first_frame(socket, &mut inner.writable, frame, deadline)?;
        }
        if flags & ZMQ_SNDMORE != 0 {
            inner.outgoing.push(std::mem::take(frame));
            return Ok(());
        }
        let message = if inner.outgoing.is_empty() {
            Message::from(std::mem::take(frame))
        } else {
            let mut message = std::mem::take(&mut inner.outgoing);
            message.push(std::mem::take(frame));
            message
        };
        if self.socket_type == SocketType::Router && message.frames().len() == 1 {
            // A routing id with nothing after it: libzmq drops it silently.
            return Ok(());
        }
        let sender = inner.sender.get_or_insert_with(|| socket.sender());
        // The common case, room now, needs neither the runtime nor a park.
        let message = match sender.try_send(message) {
            Ok(()) => return Ok(()),
            Err(TrySendError {
                error: Error::WouldBlock,
                message,
            }) => message,
            Err(refused) => return Err(errno_of(refused.error)),
        };
        let sent = if deadline == Deadline::Now {
            Err(Errno::AGAIN)
        } else {
            // A copy waits (frames are shared, not copied), so the caller
            // keeps the message if the wait ends without sending it.
            self.wait(deadline, sender.send(message.clone()))
                .and_then(|sent| sent.map_err(errno_of))
        };
        if sent.is_err() {
            hand_back(&mut inner.outgoing, frame, message);
            if sent == Err(Errno::AGAIN) {
                // `ZMQ_FD` turns readable when room comes.
                readiness::poll_writable(socket, &self.waker, &mut inner.writable);
            }
        }
        sent
    }

    /// At a message's first frame: taken now, or EAGAIN (armed for
    /// `ZMQ_FD`) at once with DONTWAIT, or after waiting up to the
    /// deadline for room; or the refusal the message would meet.
    fn admit_first_frame(
        &self,
        socket: &Socket,
        writable: &mut Option<WritableWait>,
        first: &Bytes,
        deadline: Deadline,
    ) -> Result<(), Errno> {
        match socket.check_first_frame(first) {
            Err(Error::WouldBlock) => {}
            answer => return answer.map_err(errno_of),
        }
        if deadline == Deadline::Now {
            readiness::poll_writable(socket, &self.waker, writable);
            return Err(Errno::AGAIN);
        }
        self.wait(deadline, socket.first_frame_ready(first.clone()))?
            .map_err(errno_of)
    }

    /// Receives the next frame, with whether more follow. Blocks up to
    /// `ZMQ_RCVTIMEO` unless `dontwait`.
    pub fn recv(&self, flags: c_int) -> Result<MsgState, Errno> {
        let mut state = MsgState::new(Bytes::new());
        self.recv_into(&mut state, flags)?;
        Ok(state)
    }

    /// [`ZSocket::recv`] into a message the caller has (`zmq_msg_recv`),
    /// left as it was on failure.
    pub fn recv_into(&self, state: &mut MsgState, flags: c_int) -> Result<(), Errno> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let frame = match inner.incoming.pop_front() {
            Some(frame) => frame,
            None => {
                let mut message = self.next_message(inner, flags)?;
                let first = message.pop_front().ok_or(Errno::AGAIN)?;
                if !message.is_empty() {
                    inner.incoming.extend(message.into_frames());
                }
                first
            }
        };
        let more = !inner.incoming.is_empty();
        inner.rcvmore = more;
        state.set_received(frame, more, inner.incoming_from.as_ref());
        Ok(())
    }

    /// The next message for [`ZSocket::recv`] (whose frames are all
    /// handed out), its sender noted in `incoming_from`.
    fn next_message(&self, inner: &mut Inner, flags: c_int) -> Result<Message, Errno> {
        self.transport(inner)?;
        let (socket, receiver) = ends(&inner.transport, &mut inner.receiver)?;
        // The common case, a message already here: one attempt that takes
        // it without entering the runtime, parking or registering a waker
        // (`ZMQ_FD`'s would cost the sender a raise per message).
        match receiver.try_recv() {
            Ok(message) => {
                note_sender(&mut inner.incoming_from, receiver);
                return Ok(message);
            }
            Err(Error::WouldBlock) => {}
            Err(e) => return Err(errno_of(e)),
        }
        let deadline = if flags & ZMQ_DONTWAIT != 0 {
            Deadline::Now
        } else {
            Deadline::from_timeout_ms(inner.options.rcvtimeo)
        };
        let received = if deadline == Deadline::Now {
            // Armed for `ZMQ_FD`: one attempt with its waker.
            match readiness::try_receive(receiver, &self.waker) {
                Poll::Ready(received) => received,
                // libzmq's inproc reader sees what its peer wrote at once;
                // ours waits for what is on its way here.
                Poll::Pending if socket.inproc_in_flight() => {
                    let settle = Deadline::At(std::time::Instant::now() + INPROC_SETTLE);
                    match self.wait(settle, receiver.recv()) {
                        Ok(received) => received,
                        Err(Errno::AGAIN) => {
                            // Filtered on the way: armed for `ZMQ_FD` again.
                            match readiness::try_receive(receiver, &self.waker) {
                                Poll::Ready(received) => received,
                                Poll::Pending => return Err(Errno::AGAIN),
                            }
                        }
                        Err(e) => return Err(e),
                    }
                }
                Poll::Pending => return Err(Errno::AGAIN),
            }
        } else {
            self.wait(deadline, receiver.recv())?
        };
        let message = received.map_err(errno_of)?;
        note_sender(&mut inner.incoming_from, receiver);
        Ok(message)
    }

    /// `zmq_setsockopt`.
    pub fn set_option(&self, option: c_int, value: &[u8]) -> Result<(), Errno> {
        self.ctx.check_live()?;
        let mut inner = self.lock();
        let effect = inner.options.set(option, value)?;
        match effect {
            Effect::Stored => {
                // A made transport socket takes the change: high-water
                // marks at once, the rest from the next bind or connect
                // (which reports incomplete security options).
                if let Some(socket) = &inner.transport
                    && let Ok(options) = self.transport_options(&inner)
                {
                    socket.set_options(options);
                }
                return Ok(());
            }
            Effect::Live(mode) => {
                if let Some(socket) = &inner.transport {
                    socket.set_mode(mode);
                    // A sender waiting for room may go now (NODROP off).
                    self.signaler.raise();
                }
                return Ok(());
            }
            Effect::Subscribe(_) | Effect::Unsubscribe(_) => {}
        }
        match self.socket_type {
            SocketType::Sub | SocketType::Xsub => {}
            // A manual XPUB's (un)subscription applies to the peer whose
            // message was received last; before any peer, to none.
            SocketType::Xpub if inner.options.transport.xpub_manual => {
                return match &inner.transport {
                    Some(socket) => apply_subscription(socket, effect),
                    None => Ok(()),
                };
            }
            _ => return Err(Errno::INVAL),
        }
        match &inner.transport {
            Some(socket) => apply_subscription(socket, effect),
            None => {
                inner.pending_subscriptions.push(effect);
                Ok(())
            }
        }
    }

    /// `zmq_getsockopt`.
    pub fn get_option(&self, option: c_int) -> Result<Value, Errno> {
        self.ctx.check_live()?;
        let inner = self.lock();
        match option {
            num::TYPE => Ok(Value::Int(type_number(self.socket_type))),
            num::RCVMORE => Ok(Value::Int(c_int::from(inner.rcvmore))),
            num::LAST_ENDPOINT => Ok(Value::Str(inner.last_endpoint.clone())),
            num::FD => Ok(Value::Int(self.fd())),
            num::EVENTS => {
                drop(inner);
                Ok(Value::Int(c_int::from(self.events()?)))
            }
            _ => inner.options.get(option),
        }
    }

    /// `ZMQ_EVENTS`: POLLIN and POLLOUT as of now. Lowers `ZMQ_FD` first
    /// and leaves the signaler's waker registered for what is not ready,
    /// so the descriptor turns readable when that may change.
    pub fn events(&self) -> Result<c_short, Errno> {
        self.ctx.check_live()?;
        let mut inner = self.lock();
        self.signaler.clear();
        // Errors (a type that cannot receive, not its turn, closed) are
        // simply not POLLIN, as in libzmq.
        let pollin = !inner.incoming.is_empty() || self.prefetch(&mut inner).unwrap_or(false);
        let inner = &mut *inner;
        let pollout = !readiness::turn_blocks_send(self.socket_type, pollin)
            && match &inner.transport {
                Some(socket) => readiness::poll_writable(socket, &self.waker, &mut inner.writable),
                None => {
                    readiness::writable_without_peers(self.socket_type, &inner.options.transport)
                }
            };
        let mut events = 0;
        if pollin {
            events |= ZMQ_POLLIN;
        }
        if pollout {
            events |= ZMQ_POLLOUT;
        }
        Ok(events)
    }

    /// The readiness descriptor (`ZMQ_FD`).
    pub fn fd(&self) -> RawFd {
        self.signaler.as_raw_fd()
    }

    /// One receive attempt into `incoming` (empty before): true if a
    /// message is now there; false with the signaler's waker registered.
    /// Before the transport socket exists there is nothing to receive.
    fn prefetch(&self, inner: &mut Inner) -> Result<bool, Errno> {
        if inner.transport.is_none() {
            return Ok(false);
        }
        let (_, receiver) = ends(&inner.transport, &mut inner.receiver)?;
        match readiness::try_receive(receiver, &self.waker) {
            Poll::Ready(received) => {
                let message = received.map_err(errno_of)?;
                note_sender(&mut inner.incoming_from, receiver);
                inner.incoming.extend(message.into_frames());
                Ok(true)
            }
            Poll::Pending => Ok(false),
        }
    }

    /// `zmq_socket_monitor`: events go to a PAIR bound at `addr` (an
    /// `inproc://` name); `None` stops monitoring. A new monitor replaces
    /// the previous one, which reports `MONITOR_STOPPED`.
    pub fn monitor(&self, addr: Option<&str>, events: c_int) -> Result<(), Errno> {
        self.ctx.check_live()?;
        let mut inner = self.lock();
        if let Some(previous) = inner.monitor.take() {
            previous.stop(&self.runtime);
        }
        let Some(addr) = addr else { return Ok(()) };
        let mut sink = MonitorSink::bind(
            &self.runtime,
            &self.ctx,
            &self.ctx.inproc().scoped(addr),
            events,
        )?;
        if let Some(socket) = &inner.transport {
            sink.start(&self.runtime, socket);
        }
        inner.monitor = Some(sink);
        Ok(())
    }

    /// `zmq_close`: the socket is gone for the caller; what it still has
    /// to deliver goes on for up to `ZMQ_LINGER`, which `zmq_ctx_term`
    /// waits for.
    pub fn close(self) {
        let mut inner = self.inner.into_inner().unwrap_or_else(|p| p.into_inner());
        // A forwarder ends by itself when the socket's events end.
        if let Some(monitor) = inner.monitor.take()
            && inner.transport.is_none()
        {
            monitor.stop(&self.runtime);
        }
        let linger = if self.ctx.options().blocky {
            inner.options.linger()
        } else {
            Some(std::time::Duration::ZERO)
        };
        let lingering = inner.transport.map(|socket| {
            self.runtime.spawn(async move {
                let closing = socket.close();
                match linger {
                    Some(limit) => {
                        let _ = tokio::time::timeout(limit, closing).await;
                    }
                    None => closing.await,
                }
            })
        });
        self.ctx.socket_closed(lingering);
    }
}

/// The transport socket and its receiving end (made now if need be).
fn ends<'a>(
    transport: &'a Option<Socket>,
    receiver: &'a mut Option<Receiver>,
) -> Result<(&'a Socket, &'a mut Receiver), Errno> {
    let socket = transport.as_ref().ok_or(Errno::FAULT)?;
    let receiver = receiver.get_or_insert_with(|| socket.receiver().with_metadata());
    Ok((socket, receiver))
}

/// Notes who sent the message `receiver` handed out last, keeping the
/// previous message's metadata wrapper when the sender is the same, so its
/// C strings are made once per peer, not per message.
fn note_sender(noted: &mut Option<Arc<MsgMetadata>>, receiver: &Receiver) {
    match (noted.as_ref(), receiver.last_peer_ref()) {
        (Some(wrapper), Some(peer)) if wrapper.is_of(peer) => {}
        (_, Some(peer)) => *noted = Some(Arc::new(MsgMetadata::new(peer.clone()))),
        (_, None) => *noted = None,
    }
}

/// After a failed send: the message's last frame back in `frame`, the
/// ones before it back in `outgoing`, as they were before the call.
fn hand_back(outgoing: &mut Message, frame: &mut Bytes, message: Message) {
    let mut frames: Vec<Bytes> = message.into_frames().collect();
    *frame = frames.pop().unwrap_or_default();
    *outgoing = frames.into_iter().collect();
}

fn apply_subscription(socket: &Socket, effect: Effect) -> Result<(), Errno> {
    match effect {
        Effect::Subscribe(topic) => socket.subscribe(topic),
        Effect::Unsubscribe(topic) => socket.unsubscribe(topic),
        Effect::Stored | Effect::Live(_) => Ok(()),
    }
    .map_err(errno_of)
}

/// libzmq prints a wildcard bind's address as `0.0.0.0`.
fn last_endpoint(bound: &str) -> String {
    match bound.strip_prefix("tcp://*:") {
        Some(port) => format!("tcp://0.0.0.0:{port}"),
        None => bound.to_owned(),
    }
}

/// The errno libzmq reports for a transport error.
pub fn errno_of(error: Error) -> Errno {
    match error {
        Error::WouldBlock => Errno::AGAIN,
        Error::Closed => Errno::TERM,
        Error::State(_) => Errno::FSM,
        Error::Unsupported { .. } => Errno::NOTSUP,
        Error::Endpoint(EndpointError::UnknownTransport { .. }) => Errno(libc::EPROTONOSUPPORT),
        Error::Endpoint(EndpointError::IpcPathTooLong { .. }) => Errno(libc::ENAMETOOLONG),
        Error::EndpointNotFound(_) => Errno(libc::ENOENT),
        Error::Endpoint(_) => Errno::INVAL,
        Error::InprocNotBound(_) => Errno(libc::ECONNREFUSED),
        Error::AddressInUse(_) => Errno(libc::EADDRINUSE),
        Error::HostUnreachable(_) => Errno(libc::EHOSTUNREACH),
        Error::IncompatibleSocketType { .. } => Errno(crate::errno::ENOCOMPATPROTO),
        Error::Io { source, .. } => Errno(source.raw_os_error().unwrap_or(libc::EIO)),
        Error::InvalidMessage(_) | Error::Options(_) | Error::Refused(_) => Errno::INVAL,
        _ => Errno::INVAL,
    }
}

/// Whether `endpoint` is `tcp://` with a host that cannot be a host name
/// (characters other than letters, digits, `-`, `.`, `_`). libzmq resolves
/// at `zmq_connect` and fails there (EINVAL); the transport resolves when
/// it dials, so such a name is refused here first.
fn tcp_host_is_not_a_name(endpoint: &str) -> bool {
    match endpoint.parse::<Endpoint>() {
        Ok(Endpoint::Tcp {
            host: Host::Name(name),
            ..
        }) => !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_numbers_round_trip() {
        for n in 0..=10 {
            assert_eq!(socket_type(n).map(type_number), Ok(n));
        }
        assert_eq!(socket_type(11), Err(Errno::NOTSUP));
        assert_eq!(socket_type(99), Err(Errno::INVAL));
    }

    #[test]
    fn wildcard_endpoints_print_as_any_address() {
        assert_eq!(last_endpoint("tcp://*:5555"), "tcp://0.0.0.0:5555");
        assert_eq!(last_endpoint("inproc://a"), "inproc://a");
    }
}
