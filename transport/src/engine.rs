//! The engine: the task that drives one [`zmtp::Connection`] over a stream.
//!
//! It is a single hand-written poll loop rather than a `select!` so that
//! reading, writing, the pipe and the timers share one `&mut` stream and no
//! work is lost to cancellation. Each wake-up it:
//! 1. decodes received frames, no more messages at a time than the
//!    socket's inbound queue has room for (at most [`DECODE_BATCH`]), and
//!    hands them to that queue; while it is full, the undecoded rest stays
//!    in the read buffer as bytes, and nothing more is read, so TCP pushes
//!    back on the peer; an XPUB's subscription notice goes to the socket's
//!    ordered notice queue instead (`notices.rs`), with what the link
//!    decoded before it, and the link goes no further until they are in;
//! 2. once the read buffer holds no complete frame, reads whatever the
//!    stream has into it, unless the output the peer itself caused (PONGs,
//!    handshake replies) is above [`READ_STOP`]: a peer that does not read
//!    is not read either;
//! 3. pulls queued outbound messages in batches, while the output buffer is
//!    below its high mark;
//! 4. writes the output with vectored writes: many small messages per
//!    system call, large bodies by reference; and flushes once the output
//!    is empty (TLS keeps sealed records in a buffer of its own);
//! 5. fires the connection's timers (handshake timeout, heartbeats) and the
//!    linger deadline.
//!
//! What one link holds is bounded (`docs/limits.md`, "One link"): its read
//! buffer, at most one decode batch of messages, and its output (the pull
//! stops at [`WRITE_HIGH`], the peer's own at [`READ_STOP`]). The read
//! buffer starts small and grows with the traffic ([`READ_BUFFER_MAX`]);
//! retired buffers are shared with the socket's other links
//! (`read_buffers.rs`); a frame needing more than [`MAX_RESERVE`] is read
//! into an allocation of its own as its bytes arrive.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::AsyncWrite;
use tokio::time::Sleep;
use tokio_util::sync::WaitForCancellationFutureOwned;
use zmtp::{Connection, Event, Input, Message, PeerInfo};

use zmtp::mechanism::NullServer;

use crate::async_auth::AuthFuture;
use crate::core::{Core, Inbound, Outbound, PipeEntry};
use crate::endpoint::Endpoint;
use crate::gate::Ticket;
use crate::link_end::{IoFailure, LinkEnd};
use crate::monitor_event::MonitorEvent;
use crate::options::Options;
use crate::peers::{PeerMetadata, PipeId};
use crate::queue::{PipeRx, PipeTx};
use crate::read_buffers::{ReadBuffer, Retired};
use crate::rules;
use crate::security::{self, Security, ZapRequest};
use crate::stream::Stream;
use crate::tls::peer::TlsPeer;

/// Most bytes reserved ahead of a frame's arrival: a frame still needing
/// more is read into an allocation of its own that grows as its bytes
/// arrive ([`Engine::read_large`]), never by the size it declares.
const MAX_RESERVE: usize = 4 * 1024 * 1024;
/// Stop pulling messages from the pipe once this much output is waiting.
const WRITE_HIGH: usize = 256 * 1024;
/// Stop reading while more than this much unsent output is the peer's own
/// doing (PONGs, handshake replies, ERROR): half of zmtp's
/// [`PONG_BACKLOG`](zmtp::PONG_BACKLOG), so a peer that sends PINGs and
/// never reads is stopped before its PINGs go unanswered. Messages the
/// application sent do not count: they are bounded by the pipe and
/// [`WRITE_HIGH`], and two links each stopping the other's reads while
/// sending large messages both ways would wait for each other forever.
pub(crate) const READ_STOP: usize = zmtp::PONG_BACKLOG / 2;
/// Most messages decoded ahead of the inbound queue: a link decodes no
/// more than the room the queue had when it last looked (after a read or
/// a push), and at least one (so a handshake goes on whatever the queue
/// holds).
pub(crate) const DECODE_BATCH: usize = 256;
/// Messages pulled from the pipe per batch, at most (a default pipe of 1000
/// small messages goes in one swap).
const BATCH: usize = 1024;
/// Retired read buffers that delivered messages may keep alive before the
/// link copies what it decodes instead of slicing it: a received message is
/// a slice of the buffer it arrived in, so a peer that spaces tiny messages
/// with PINGs could otherwise make every queued message hold a whole
/// buffer. With copying on, frames under `COPY_BELOW` pin nothing, so
/// small messages pin at most `PINNED_BUFFERS + 2` buffers a link; a longer
/// frame pins at most 8 times its own length.
const PINNED_BUFFERS: usize = 12;
/// While copying, frames shorter than this are copied; longer ones stay
/// slices, each pinning a buffer at most `READ_BUFFER_MAX / COPY_BELOW` (8)
/// times its length (or, past 192 KiB, a buffer sized for the frame).
/// Copying a long frame would cost a pass over its bytes for little memory.
const COPY_BELOW: usize = READ_BUFFER_MAX / 8;
/// The read buffer a link starts with, for its handshake (a greeting and
/// a few commands of a few hundred bytes; a longer frame gets a buffer
/// sized for it): a silent or idle link holds little.
const HANDSHAKE_BUFFER: usize = 256;
/// The smallest read buffer after the handshake (libzmq reads 8 KiB at a
/// time).
const READ_BUFFER_MIN: usize = 8 * 1024;
/// The read buffer a link grows to while its reads keep filling it: every
/// read that fills the room it was given doubles the next buffer, up to
/// this (medium messages share buffers, and a read moves up to a quarter
/// of it).
const READ_BUFFER_MAX: usize = 256 * 1024;
/// Slices per vectored write.
const IOV: usize = 64;

/// Where the link's pipe stands when the engine starts.
pub(crate) enum PipeSlot {
    /// A connecting link: the pipe is attached to the socket already.
    Attached,
    /// An accepted link: the pipe joins the socket when the handshake ends.
    Pending(PipeTx<Outbound>),
}

/// How a link ended, and whether its handshake had completed.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) end: LinkEnd,
    pub(crate) handshake_done: bool,
}

/// Identity of one link, for the socket's bookkeeping and monitor events.
pub(crate) struct LinkInfo {
    pub(crate) core: Arc<Core>,
    /// The options of the bind or connect that made the link (see
    /// `live_options`).
    pub(crate) options: Arc<Options>,
    pub(crate) pipe: PipeId,
    pub(crate) endpoint: Endpoint,
    pub(crate) peer: String,
}

/// Runs one link until it ends. `started` is when the link began (before
/// any TLS handshake): the handshake timeout counts from it.
pub(crate) async fn run(
    stream: Stream,
    link: &LinkInfo,
    out_rx: &mut PipeRx<Outbound>,
    slot: PipeSlot,
    guard: Option<Ticket>,
    started: Instant,
) -> Outcome {
    let core = &link.core;
    let options = &link.options;
    let config = options.connection_config(core.socket_type);
    let accepted = matches!(slot, PipeSlot::Pending(_));
    // A NULL server with an authenticator asks it, as libzmq's NULL
    // mechanism asks a ZAP handler; NULL itself has no roles.
    let mechanism = match &options.security {
        Security::Null
            if accepted
                && (options.authenticator.is_some() || options.async_authenticator.is_some()) =>
        {
            Box::new(NullServer::new())
        }
        security => security.mechanism(),
    };
    let tls_peer = stream.tls_peer();
    let mut engine = Engine {
        link,
        stream,
        conn: Connection::new(config, mechanism, started),
        read_buf: ReadBuffer::new(0),
        target: HANDSHAKE_BUFFER,
        read_mark: (0, 0),
        read_total: 0,
        large_left: 0,
        retired: Retired::default(),
        copying: false,
        unflushed: false,
        tls_peer,
        timer: Box::pin(tokio::time::sleep_until(tokio::time::Instant::now())),
        timer_at: None,
        closing: Box::pin(core.closing.clone().cancelled_owned()),
        closing_seen: false,
        pending: VecDeque::new(),
        notice_ticket: None,
        held: 0,
        buffered: false,
        room: 0,
        pulled: 0,
        batch: VecDeque::new(),
        slot: Some(slot),
        guard,
        routing_id: None,
        replay_seq: 0,
        handshake_done: false,
        draining: false,
        linger_at: None,
        end: None,
        auth_wait: None,
    };
    let outcome = std::future::poll_fn(|cx| engine.poll(cx, out_rx)).await;
    engine.report_held(0);
    let Engine {
        mut stream,
        pending,
        routing_id,
        notice_ticket,
        ..
    } = engine;
    // The connection closes now: the peer sees the link end when it ends,
    // not when the application gets round to reading.
    std::future::poll_fn(|cx| {
        stream.try_close_notify(cx);
        Poll::Ready(())
    })
    .await;
    drop(stream);
    // What the peer sent before the link ended still reaches the
    // application, followed by the XPUB's notices and the link notice if
    // asked for, none dropped: they join the socket's notice queue behind
    // any notice of this link's still there.
    let last = (outcome.handshake_done && core.options.link_notify)
        .then(|| rules::admit(core, routing_id.as_ref(), link_notice(false)))
        .flatten()
        .map(|message| Inbound {
            pipe: link.pipe,
            message,
            from_peer: true,
        });
    // The peer's subscriptions go now (an accepted link's pipe with them).
    let appended = core.pipe_down(link.pipe, accepted, pending, last);
    // A task of its own waits for them to reach the inbound queue, so
    // neither the bookkeeping, the monitor event, a reconnect nor `close`
    // waits for the application to make room.
    if let Some(ticket) = appended.max(notice_ticket)
        && !core.is_closing()
    {
        let owner = core.clone();
        let pipe = link.pipe;
        core.track(tokio::spawn(async move {
            owner.flush_notices(ticket).await;
            owner.retire_peer(pipe);
        }));
        return outcome;
    }
    core.retire_peer(link.pipe);
    outcome
}

/// The message `link_notify` delivers when a link comes up or goes down:
/// an empty frame, then `01` (up) or `00` (down); ROUTER puts the peer's
/// routing id in front.
pub(crate) fn link_notice(up: bool) -> Message {
    [
        Bytes::new(),
        Bytes::from_static(if up { b"\x01" } else { b"\x00" }),
    ]
    .into_iter()
    .collect()
}

struct Engine<'a> {
    link: &'a LinkInfo,
    stream: Stream,
    conn: Connection,
    /// Where received bytes go; size 0 when it is a large frame's own
    /// allocation, or none at all.
    read_buf: ReadBuffer,
    /// The size of the next read buffer (see [`READ_BUFFER_MAX`]).
    target: usize,
    /// Bytes read, and the connection's command bytes, when `target` was
    /// last considered (see [`Engine::grow`]).
    read_mark: (u64, u64),
    /// Bytes read on this link.
    read_total: u64,
    /// Bytes the large frame being read into its own allocation still
    /// needs; 0 when the read buffer is an ordinary one.
    large_left: usize,
    /// Retired read buffers received messages still hold (see
    /// [`Engine::make_room`]).
    retired: Retired,
    /// Frames are being copied out of the read buffer (`PINNED_BUFFERS`).
    copying: bool,
    /// Written since the last flush (TLS may hold it back).
    unflushed: bool,
    /// The peer's TLS certificate identity, on a TLS link that has one.
    tls_peer: Option<Arc<TlsPeer>>,
    timer: Pin<Box<Sleep>>,
    timer_at: Option<Instant>,
    closing: Pin<Box<WaitForCancellationFutureOwned>>,
    closing_seen: bool,
    /// Received, not yet in the socket's inbound queue.
    pending: VecDeque<Inbound>,
    /// The ticket of this link's last item in the socket's notice queue
    /// while it is there: until then the link neither reads nor delivers.
    notice_ticket: Option<u64>,
    /// `pending.len()` as last added to the socket's `held_by_links`.
    held: u64,
    /// `read_buf` may hold complete frames not decoded yet.
    buffered: bool,
    /// Room in the inbound queue after the last read or push: the next
    /// decode batch.
    room: usize,
    /// How much of the unsent output came from the pipe (or the socket's
    /// subscription replay), at least: the rest is the peer's doing.
    pulled: usize,
    batch: VecDeque<Outbound>,
    slot: Option<PipeSlot>,
    /// An accepted link's place among its listener's pending handshakes,
    /// until the handshake completes.
    guard: Option<Ticket>,
    routing_id: Option<Bytes>,
    replay_seq: u64,
    handshake_done: bool,
    draining: bool,
    linger_at: Option<Instant>,
    end: Option<LinkEnd>,
    /// An asynchronous authenticator's answer still to come.
    auth_wait: Option<AuthFuture>,
}

impl Engine<'_> {
    fn poll(&mut self, cx: &mut Context<'_>, out_rx: &mut PipeRx<Outbound>) -> Poll<Outcome> {
        loop {
            let mut progress = self.deliver(cx);
            progress |= self.read(cx);
            self.report_held(self.pending.len());
            progress |= self.pull(cx, out_rx);
            progress |= self.poll_auth(cx);
            progress |= self.write(cx);
            progress |= self.timers(cx);
            // Only a link still in its handshake watches; checking the
            // pipe for the argument would lock it on every round.
            if !self.closing_seen && !self.handshake_done {
                self.watch_closing(cx, !out_rx.is_empty());
            }
            self.watch_admission(cx);
            if self.draining
                && !self.conn.transmit().has_remaining()
                && !self.unflushed
                && self.end.is_none()
            {
                self.end = Some(LinkEnd::SocketClosed);
            }
            if let Some(end) = self.end.take() {
                return Poll::Ready(Outcome {
                    end,
                    handshake_done: self.handshake_done,
                });
            }
            if !progress {
                return Poll::Pending;
            }
        }
    }

    /// Brings the socket's count of messages held by links up to date with
    /// `now` held here: one atomic operation per batch, none per message.
    fn report_held(&mut self, now: usize) {
        let now = now as u64;
        let counter = &self.link.core.stats.held_by_links;
        if now > self.held {
            counter.fetch_add(now - self.held, Ordering::Relaxed);
        } else if now < self.held {
            counter.fetch_sub(self.held - now, Ordering::Relaxed);
        }
        self.held = now;
    }

    fn finish(&mut self, end: LinkEnd) {
        self.end.get_or_insert(end);
    }

    /// Step 1: received messages into the socket's inbound queue, as many
    /// as fit, in one go; decoded from the read buffer as room appears.
    fn deliver(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        loop {
            if let Some(ticket) = self.notice_ticket {
                if !self.wait_for_notices(cx, ticket, &mut progress) {
                    return progress;
                }
                continue;
            }
            if self.pending.is_empty() {
                if !self.buffered || self.draining || self.end.is_some() {
                    return progress;
                }
                self.decode();
                progress = true;
                continue;
            }
            let inbound = &self.link.core.inbound;
            let before = self.pending.len();
            self.room = inbound.push_batch(&mut self.pending);
            progress |= self.pending.len() < before;
            if self.pending.is_empty() {
                continue;
            }
            match inbound.poll_room(cx) {
                Poll::Ready(false) => {
                    self.finish(LinkEnd::SocketClosed);
                    return true;
                }
                // Room appeared since the push: go round again.
                Poll::Ready(true) => {}
                Poll::Pending => return progress,
            }
        }
    }

    /// Delivers the socket's notice queue up to this link's `ticket`, as
    /// room appears. True to go round again (delivered, or room appeared),
    /// false to wait (woken when room appears) or stop (socket closed).
    fn wait_for_notices(&mut self, cx: &mut Context<'_>, ticket: u64, progress: &mut bool) -> bool {
        let core = &self.link.core;
        if core.deliver_notices() >= ticket {
            self.notice_ticket = None;
            *progress = true;
            return true;
        }
        match core.inbound.poll_room(cx) {
            Poll::Ready(true) => true,
            Poll::Ready(false) => {
                self.finish(LinkEnd::SocketClosed);
                *progress = true;
                false
            }
            Poll::Pending => false,
        }
    }

    /// Decodes one batch from the read buffer: no more messages than the
    /// inbound queue had room for when last looked at.
    fn decode(&mut self) {
        let batch = self.room.clamp(1, DECODE_BATCH);
        // Messages go straight into `pending` (as `on_message` would put
        // them), not through the connection's event queue; every other
        // event, and the messages behind it, are taken below.
        let link = self.link;
        let routing_id = &self.routing_id;
        let pending = &mut self.pending;
        let input =
            self.conn
                .handle_input_with(&mut self.read_buf.buf, Instant::now(), batch, |message| {
                    if let Some(message) = admit(link, routing_id.as_ref(), message) {
                        pending.push_back(Inbound {
                            pipe: link.pipe,
                            message,
                            from_peer: true,
                        });
                    }
                });
        self.buffered = input == Input::Paused;
        if let Some(ticket) = self.guard.as_mut()
            && self.conn.peer_version().is_some()
        {
            ticket.greeted();
        }
        self.process_events();
    }

    /// Unsent output that the peer caused rather than the application.
    fn peer_output(&mut self) -> usize {
        self.conn.transmit().remaining().saturating_sub(self.pulled)
    }

    /// Step 2: read, once everything read before is decoded and delivered,
    /// and unless the peer is not reading what it made us send.
    fn read(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.pending.is_empty()
            || self.notice_ticket.is_some()
            || self.buffered
            || self.draining
            || self.end.is_some()
            || self.peer_output() > READ_STOP
        {
            return false;
        }
        let hint = self.conn.read_hint();
        let want = if self.large_left > 0 || hint > MAX_RESERVE {
            self.read_large(hint)
        } else {
            // No further than the frame in progress needs, or a quarter
            // of the buffer: a read that ran on into the next large frame
            // would leave its start to be moved into a buffer of its own
            // (measured: 17% of the receiver's time at 1 MiB).
            let want = hint.max(self.target / 4);
            self.make_room(want);
            want
        };
        let mut room = (&mut self.read_buf.buf).limit(want);
        match tokio_util::io::poll_read_buf(Pin::new(&mut self.stream), cx, &mut room) {
            Poll::Ready(Ok(0)) => {
                self.finish(LinkEnd::PeerClosed);
                true
            }
            Poll::Ready(Ok(n)) => {
                self.read_total += n as u64;
                if self.large_left > 0 {
                    self.large_left = self.large_left.saturating_sub(n);
                } else if n >= want {
                    self.grow(n);
                }
                // Decoded by the next `deliver`, a batch at a time, the
                // first as large as the queue's room now (other links may
                // have filled it since this one last pushed).
                self.buffered = true;
                self.room = self.link.core.inbound.room();
                true
            }
            Poll::Ready(Err(e)) => {
                self.finish(LinkEnd::from_io(&e));
                true
            }
            Poll::Pending => {
                self.release_idle_buffer();
                false
            }
        }
    }

    /// A read of `n` bytes filled the room it had: the stream had more. The
    /// next buffer doubles, unless most of what was decoded since the last
    /// look was commands (PINGs and the like), which carry no message: a
    /// peer that pads each tiny message with them would otherwise make each
    /// queued message hold a large buffer of its own.
    fn grow(&mut self, n: usize) {
        let (read, commands) = self.read_mark;
        // Everything read before these `n` bytes is decoded.
        let now = (self.read_total - n as u64, self.conn.command_bytes());
        if (now.1 - commands) * 2 <= now.0 - read {
            self.target = (self.target * 2).min(READ_BUFFER_MAX);
        }
        self.read_mark = now;
    }

    /// A link with nothing to read holds no more than a small buffer: a
    /// grown one no message holds goes to the socket's pool, and the next
    /// read takes one again. (One that messages hold stays: the link reads
    /// on into the rest of it.)
    fn release_idle_buffer(&mut self) {
        let buf = &mut self.read_buf;
        if buf.size > READ_BUFFER_MIN && buf.buf.is_empty() && buf.reclaim() {
            let idle = std::mem::replace(buf, ReadBuffer::new(0));
            self.link.core.read_buffers.give(idle);
        }
    }

    /// Room for a frame that still needs `hint` bytes, more than
    /// [`MAX_RESERVE`]: the frame gets an allocation of its own, which
    /// grows as its bytes arrive (at most `MAX_RESERVE` ahead of them) and
    /// becomes the frame's body without a copy. It is a plain vector no
    /// message shares until the frame is complete, so it grows by
    /// `realloc` (no copy for the allocator's large blocks, which it
    /// remaps) rather than by a new buffer beside the old. Returns how much
    /// to read: no further than the frame.
    fn read_large(&mut self, hint: usize) -> usize {
        if self.large_left == 0 {
            // The frame's start, already read, moves into its allocation.
            let have = &self.read_buf.buf;
            let mut own = BytesMut::with_capacity(have.len() + MAX_RESERVE);
            own.extend_from_slice(have);
            let old = std::mem::replace(&mut self.read_buf, ReadBuffer::from_frame(own));
            self.retired.retire(old, &self.link.core.read_buffers);
            self.large_left = hint;
        }
        let want = self.large_left;
        self.read_buf.buf.reserve(want.min(MAX_RESERVE));
        want
    }

    /// Room for `want` more bytes in the read buffer, reusing allocations.
    ///
    /// Received messages are slices of the read buffer, so it cannot simply
    /// be reused while the application holds them: it is retired, and
    /// taken back once their messages are gone (`read_buffers.rs`).
    fn make_room(&mut self, want: usize) {
        let buf = &mut self.read_buf;
        // A large frame's allocation (size 0) is the frame's own: once the
        // frame is out, the link reads into an ordinary buffer again.
        let fits = buf.size > 0
            && (buf.buf.capacity() - buf.buf.len() >= want || buf.buf.try_reclaim(want));
        if !fits {
            self.replace_read_buf(want);
        }
        // Copy while delivered messages pin too many buffers; look again
        // once they may have been read.
        if !fits || self.copying {
            let pool = &self.link.core.read_buffers;
            let (_, pinned) = self.retired.sweep(None, pool);
            self.copying = pinned >= PINNED_BUFFERS;
            self.conn
                .set_copy_frames(self.copying.then_some(COPY_BELOW));
        }
    }

    /// A read buffer with room for `want` more bytes after what the current
    /// one holds unread: one of this link's retired buffers no message
    /// holds any more, a spare from the socket's pool, or a new one of the
    /// link's current size. The current buffer is retired.
    fn replace_read_buf(&mut self, want: usize) {
        let pool = &self.link.core.read_buffers;
        // At least the link's current size: a smaller buffer left from
        // before the link's reads grew would split more frames across
        // buffers, and each split is a copy of the frame's start.
        let need = (self.read_buf.buf.len() + want).max(self.target);
        let (reused, _) = self.retired.sweep(Some(need), pool);
        let mut next = reused
            .or_else(|| pool.take(need))
            .unwrap_or_else(|| ReadBuffer::new(need.next_power_of_two()));
        // The start of the next frame, already read.
        next.buf.extend_from_slice(&self.read_buf.buf);
        let old = std::mem::replace(&mut self.read_buf, next);
        self.retired.retire(old, pool);
    }

    /// Step 3: queued messages into the connection's output.
    fn pull(&mut self, cx: &mut Context<'_>, out_rx: &mut PipeRx<Outbound>) -> bool {
        if !self.handshake_done || self.draining || self.end.is_some() {
            return false;
        }
        let mut progress = false;
        while self.conn.transmit().remaining() < WRITE_HIGH {
            // No more than fits under WRITE_HIGH: every message taken off
            // the pipe lets the sender queue one more, so a batch of large
            // messages would hold well beyond the high-water mark.
            let budget = WRITE_HIGH - self.conn.transmit().remaining();
            let polled = out_rx.poll_take(cx, &mut self.batch, BATCH, budget, |item| match item {
                Outbound::Message(m) => m.cost(),
                Outbound::Subscribe { topic, .. } | Outbound::Cancel { topic, .. } => topic.len(),
            });
            match polled {
                Poll::Ready(0) => {
                    self.start_draining();
                    return true;
                }
                Poll::Ready(_) => {
                    let unsent = self.conn.transmit().remaining();
                    let mut batch = std::mem::take(&mut self.batch);
                    while let Some(item) = batch.pop_front() {
                        self.encode(item);
                    }
                    self.batch = batch;
                    self.note_pulled(unsent);
                    let core = &self.link.core;
                    if core.send_waiters.load(Ordering::Acquire) > 0 {
                        core.send_ready.notify_waiters();
                    }
                    progress = true;
                }
                Poll::Pending => break,
            }
        }
        progress
    }

    /// Counts the output added since `unsent` was read as the
    /// application's (see [`Engine::pulled`]).
    fn note_pulled(&mut self, unsent: usize) {
        let added = self.conn.transmit().remaining().saturating_sub(unsent);
        self.pulled += added;
    }

    fn encode(&mut self, item: Outbound) {
        // Errors here mean the connection is closing; its Closed event
        // carries the reason.
        let _ = match item {
            Outbound::Message(m) => self.conn.send(&m),
            Outbound::Subscribe { topic, seq } if seq > self.replay_seq => {
                self.conn.send_subscribe(&topic)
            }
            Outbound::Cancel { topic, seq } if seq > self.replay_seq => {
                self.conn.send_cancel(&topic)
            }
            // Already covered by the replay sent after the handshake.
            Outbound::Subscribe { .. } | Outbound::Cancel { .. } => Ok(()),
        };
    }

    /// The pipe is closed: the socket is closing (linger) or dropped us.
    fn start_draining(&mut self) {
        if !self.link.core.is_closing() {
            let why = self.link.core.take_drop_reason(self.link.pipe);
            return self.finish(LinkEnd::Refused(why));
        }
        self.draining = true;
        match self.link.core.linger() {
            Some(linger) if linger.is_zero() => self.finish(LinkEnd::SocketClosed),
            Some(linger) => self.linger_at = Some(Instant::now() + linger),
            None => {}
        }
    }

    /// Step 4: vectored writes until the stream pushes back.
    fn write(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while self.conn.transmit().has_remaining() {
            let out = self.conn.transmit();
            let mut slices = [IoSlice::new(&[]); IOV];
            let n = out.chunks_vectored(&mut slices);
            let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, &slices[..n]);
            match polled {
                Poll::Ready(Ok(0)) => {
                    self.finish(LinkEnd::Io(IoFailure::from(io::ErrorKind::WriteZero)));
                    return true;
                }
                Poll::Ready(Ok(written)) => {
                    self.conn.transmit().advance(written);
                    // Output leaves in order, whoever queued it: what is
                    // left cannot be more of the application's than all
                    // of it (so the peer's share is never overstated).
                    self.pulled = self.pulled.min(self.conn.transmit().remaining());
                    self.unflushed = true;
                    progress = true;
                }
                Poll::Ready(Err(e)) => {
                    self.finish(LinkEnd::from_io(&e));
                    return true;
                }
                Poll::Pending => break,
            }
        }
        // Flushing waits for the stream, like a write, and registers the
        // wake-up when it cannot finish now.
        if self.unflushed && !self.conn.transmit().has_remaining() {
            match Pin::new(&mut self.stream).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(e)) => {
                    self.finish(LinkEnd::from_io(&e));
                    return true;
                }
                Poll::Pending => {}
            }
        }
        progress
    }

    /// Step 5: protocol timers and the linger deadline.
    fn timers(&mut self, cx: &mut Context<'_>) -> bool {
        let next = match (self.conn.poll_timeout(), self.linger_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let Some(at) = next else {
            self.timer_at = None;
            return false;
        };
        if self.timer_at != Some(at) {
            self.timer
                .as_mut()
                .reset(tokio::time::Instant::from_std(at));
            self.timer_at = Some(at);
        }
        if self.timer.as_mut().poll(cx).is_pending() {
            return false;
        }
        self.timer_at = None;
        let now = Instant::now();
        if self.linger_at.is_some_and(|t| t <= now) {
            self.finish(LinkEnd::SocketClosed);
        }
        self.conn.handle_timeout(now);
        self.process_events();
        true
    }

    /// A link still in its handshake does not read its pipe, so the pipe
    /// closing cannot tell it the socket closed; the closing signal does.
    /// It ends at once unless messages wait for it and linger allows
    /// finishing the handshake to deliver them.
    fn watch_closing(&mut self, cx: &mut Context<'_>, queued: bool) {
        if self.closing_seen || self.handshake_done {
            return;
        }
        if self.closing.as_mut().poll(cx).is_pending() {
            return;
        }
        self.closing_seen = true;
        match self.link.core.linger() {
            Some(linger) if queued && !linger.is_zero() => {
                self.linger_at = Some(Instant::now() + linger)
            }
            None if queued => {}
            _ => self.finish(LinkEnd::SocketClosed),
        }
    }

    /// An accepted link in its handshake ends if its listener cuts it
    /// (evicted for a newcomer, or no greeting in time).
    fn watch_admission(&mut self, cx: &mut Context<'_>) {
        if let Some(ticket) = self.guard.as_mut()
            && let Poll::Ready(why) = ticket.poll_cut(cx)
        {
            self.guard = None;
            self.finish(LinkEnd::Refused(why));
        }
    }

    fn process_events(&mut self) {
        // Once the link is ending, later events (messages from a refused
        // peer, say) must not reach the socket.
        while self.end.is_none() {
            let Some(event) = self.conn.poll_event() else {
                break;
            };
            match event {
                Event::HandshakeSucceeded(info) => self.on_handshake(&info),
                Event::Message(message) => self.on_message(message),
                Event::Subscribe(topic) => self.on_subscription(true, topic),
                Event::Cancel(topic) => self.on_subscription(false, topic),
                Event::Closed(reason) => self.finish(LinkEnd::Protocol(reason)),
                Event::AuthenticationRequested(request) => self.on_auth_request(&request),
            }
        }
    }

    /// A server mechanism asks about the peer's credentials.
    fn on_auth_request(&mut self, request: &zmtp::AuthRequest) {
        let options = &self.link.options;
        let zap = ZapRequest {
            domain: options.zap_domain.clone(),
            address: self.link.peer.clone(),
            identity: options.routing_id.clone(),
            mechanism: request.mechanism,
            credentials: request.credentials.clone(),
            tls_peer: self.tls_peer.clone(),
        };
        if let Some(authenticator) = &options.async_authenticator {
            // Polled by `poll_auth` in the engine's loop.
            self.auth_wait = Some(authenticator.authenticate(zap));
            return;
        }
        let reply = match &options.authenticator {
            Some(authenticator) => authenticator.authenticate(&zap),
            None => security::default_reply(request.mechanism),
        };
        // The reply queues WELCOME, READY or ERROR; the next write sends it
        // and the events it causes are taken by the caller's loop.
        let _ = self.conn.authenticate(reply, Instant::now());
    }

    /// Step 3b: an asynchronous authenticator's answer, once it comes.
    fn poll_auth(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(wait) = self.auth_wait.as_mut() else {
            return false;
        };
        let Poll::Ready(answer) = wait.as_mut().poll(cx) else {
            return false;
        };
        self.auth_wait = None;
        match answer {
            Ok(reply) => {
                let _ = self.conn.authenticate(reply, Instant::now());
                self.process_events();
            }
            Err(fault) => self.finish(LinkEnd::Zap(fault)),
        }
        true
    }

    fn on_handshake(&mut self, info: &PeerInfo) {
        let link = self.link;
        let entry = match self.slot.take() {
            Some(PipeSlot::Pending(tx)) => Some(PipeEntry::new(link.pipe, tx, true)),
            _ => None,
        };
        match link.core.pipe_ready(link.pipe, entry, info) {
            Ok(ready) => {
                let unsent = self.conn.transmit().remaining();
                for topic in &ready.replay {
                    let _ = self.conn.send_subscribe(topic);
                }
                self.note_pulled(unsent);
                self.replay_seq = ready.replay_seq;
                self.routing_id = ready.routing_id;
                let mut properties = info.metadata.clone();
                for p in info.auth_metadata.iter() {
                    properties.push(p.name.clone(), p.value.clone());
                }
                let peer = PeerMetadata {
                    address: link.peer.clone(),
                    user_id: info.user_id.clone(),
                    properties,
                    tls_peer: self.tls_peer.clone(),
                };
                link.core.peers.register(link.pipe, Arc::new(peer));
                self.handshake_done = true;
                // Messages may come now: reads grow from READ_BUFFER_MIN.
                self.target = self.target.max(READ_BUFFER_MIN);
                if link.core.options.link_notify
                    && let Some(notice) =
                        rules::admit(&link.core, self.routing_id.as_ref(), link_notice(true))
                {
                    self.queue(notice);
                }
                self.guard = None;
                link.core.monitor.emit(MonitorEvent::HandshakeSucceeded {
                    endpoint: link.endpoint.clone(),
                    peer: link.peer.clone(),
                    peer_socket_type: info.socket_type,
                });
            }
            Err(why) => self.finish(LinkEnd::Refused(why)),
        }
    }

    /// Queues a message for the socket, tagged with this link.
    #[inline]
    fn queue(&mut self, message: Message) {
        self.pending.push_back(Inbound {
            pipe: self.link.pipe,
            message,
            from_peer: true,
        });
    }

    #[inline]
    fn on_message(&mut self, message: Message) {
        if let Some(message) = admit(self.link, self.routing_id.as_ref(), message) {
            self.queue(message);
        }
    }

    fn on_subscription(&mut self, subscribe: bool, topic: Bytes) {
        // A notice joins the socket's notice queue, with what this link
        // decoded before it: the link reads no further until the
        // application has room for it.
        let core = &self.link.core;
        match core.on_subscription(self.link.pipe, subscribe, topic, &mut self.pending) {
            Ok(Some(ticket)) => self.notice_ticket = Some(ticket),
            Ok(None) => {}
            Err(over_budget) => self.finish(LinkEnd::Refused(over_budget)),
        }
    }
}

/// A received message as the socket takes it, or `None` if its rules drop
/// it.
#[inline]
fn admit(link: &LinkInfo, routing_id: Option<&Bytes>, message: Message) -> Option<Message> {
    // Most socket types take messages as they come; only ROUTER, PUB and
    // PUSH need `admit`'s rules (see `ReceiveRule`), and the call costs a
    // move of the message in and out.
    if link.core.receive_rule.admits_as_is() {
        return Some(message);
    }
    rules::admit(&link.core, routing_id, message)
}

/// Reports how a link ended to the socket's monitors.
pub(crate) fn report(link: &LinkInfo, outcome: &Outcome) {
    let endpoint = link.endpoint.clone();
    let peer = link.peer.clone();
    let reason = outcome.end.clone();
    let event = if outcome.handshake_done {
        MonitorEvent::Disconnected {
            endpoint,
            peer,
            reason,
        }
    } else {
        MonitorEvent::HandshakeFailed {
            endpoint,
            peer,
            reason,
        }
    };
    link.core.monitor.emit(event);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/limits.md` ("One link") counts a decoded message's handle as
    /// at most 96 bytes beside its bytes and its frames after the second.
    #[test]
    fn a_decoded_message_handle_is_at_most_96_bytes() {
        assert!(std::mem::size_of::<Inbound>() <= 96);
    }
}
