//! One peer link as a state machine, with no I/O of its own.
//!
//! ```text
//!   Greeting ──64 bytes, same mechanism──▶ Handshake ──mechanism done,──▶ Active
//!       │                                     │        types compatible     │
//!       └──────── any fault or timeout ───────┴────────────────────────────┴──▶ Closed
//! ```
//!
//! The driver (the transport's connection task) owns the socket and the read
//! buffer, and loops:
//! - read into the buffer, then [`Connection::handle_input`], which splits
//!   off every complete frame (bodies are slices of the buffer, not copies),
//!   or [`Connection::handle_input_until`], which stops once as many events
//!   wait as the driver has room for and leaves the rest as bytes;
//! - take events with [`Connection::poll_event`];
//! - write what [`Connection::transmit`] holds, as one vectored write;
//! - sleep until [`Connection::poll_timeout`], then [`Connection::handle_timeout`].
//!
//! A server mechanism (PLAIN, CURVE) may stop the handshake to ask about the
//! peer: the driver then sees [`Event::AuthenticationRequested`], asks its
//! authenticator (ZAP or a callback, as slowly as it likes; the handshake
//! timeout keeps running) and answers with [`Connection::authenticate`].
//!
//! Our greeting is queued whole at creation, so it leaves in one piece before
//! we read anything; the mechanism starts once the peer's greeting is in.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

use crate::command::{Command, RawCommand};
use crate::config::{Config, FRAME_COST};
use crate::decode::Decoded;
use crate::event::{CloseReason, Event, PeerInfo};
use crate::frame::{Frame, FrameDecoder};
use crate::greeting::{Greeting, Version};
use crate::heartbeat::{Due, Expired, Heartbeat};
use crate::mechanism::{AuthReply, Cipher, Handshake, Mechanism, MechanismError, Progress};
use crate::message::Message;
use crate::metadata::Metadata;
use crate::out_queue::OutQueue;
use crate::socket_type::SocketType;

/// Largest frame accepted before the handshake completes. Handshake
/// commands are a few hundred bytes; an unauthenticated peer gets no more
/// memory than this, whatever the configured maximum.
pub const HANDSHAKE_FRAME_MAX: u64 = 64 * 1024;

/// Unsent output above which a PING is not answered (see `on_command`):
/// PONGs add at most this much to a link whose peer does not read.
pub const PONG_BACKLOG: usize = 64 * 1024;

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for the peer's 64-byte greeting.
    Greeting,
    /// Running the security handshake.
    Handshake,
    /// Exchanging messages.
    Active,
    /// Finished; see the [`Event::Closed`] reason.
    Closed,
}

/// Why a message or command could not be queued for sending.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SendError {
    /// The handshake has not completed yet.
    #[error("the handshake has not completed")]
    NotReady,
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
    /// A ZMTP message has at least one frame.
    #[error("a message needs at least one frame")]
    EmptyMessage,
    /// The traffic cipher refused to seal a frame.
    #[error(transparent)]
    Cipher(#[from] MechanismError),
}

/// Where [`Connection::handle_input_until`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Every complete frame was consumed (or the connection closed): what
    /// is left is the start of a frame; read more.
    Drained,
    /// It stopped with `max_events` events waiting: complete frames may
    /// remain. Take the events, then call again before reading more.
    Paused,
}

/// Why [`Connection::authenticate`] refused a reply.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthenticateError {
    /// No [`Event::AuthenticationRequested`] is waiting for an answer.
    #[error("no authentication request is pending")]
    NotRequested,
    /// The connection closed meanwhile (a handshake timeout, say).
    #[error("the connection is closed")]
    Closed,
}

/// One ZMTP connection: bytes and time in; bytes, events and deadlines out.
#[derive(Debug)]
pub struct Connection {
    socket_type: SocketType,
    local_metadata: Metadata,
    max_message_size: Option<u64>,
    max_frames: Option<usize>,
    mechanism: Box<dyn Mechanism>,
    state: State,
    decoder: FrameDecoder,
    handshake_decoder: FrameDecoder,
    peer_version: Version,
    cipher: Option<Box<dyn Cipher>>,
    auth_pending: bool,
    out: OutQueue,
    events: VecDeque<Event>,
    partial: Message,
    /// What `partial` costs so far, as [`Message::cost`] counts it.
    partial_size: u64,
    handshake_deadline: Option<Instant>,
    heartbeat: Heartbeat,
    read_hint: usize,
    /// Bytes of command bodies received since the handshake.
    command_bytes: u64,
}

impl Connection {
    /// A connection that has just been established at the transport level.
    /// Our greeting is queued at once.
    ///
    /// ```
    /// use std::time::Instant;
    /// use bytes::Buf;
    /// use zmtp::{Config, Connection, SocketType, mechanism::Null};
    /// let mut conn = Connection::new(Config::new(SocketType::Dealer), Box::new(Null::new()), Instant::now());
    /// assert_eq!(conn.transmit().remaining(), 64);
    /// ```
    pub fn new(config: Config, mechanism: Box<dyn Mechanism>, now: Instant) -> Self {
        let mut out = OutQueue::new();
        Greeting::new(mechanism.name(), mechanism.is_server()).encode(out.tail());
        Connection {
            socket_type: config.socket_type,
            local_metadata: config.local_metadata(),
            max_message_size: config.max_message_size,
            max_frames: config.max_frames_per_message,
            mechanism,
            state: State::Greeting,
            decoder: FrameDecoder::new(config.max_frame_size),
            handshake_decoder: FrameDecoder::new(Some(HANDSHAKE_FRAME_MAX)).wiping(),
            peer_version: Version::V3_1,
            cipher: None,
            auth_pending: false,
            out,
            events: VecDeque::new(),
            partial: Message::new(),
            partial_size: 0,
            handshake_deadline: config.handshake_timeout.map(|t| now + t),
            heartbeat: Heartbeat::new(config.heartbeat),
            read_hint: crate::greeting::GREETING_LEN,
            command_bytes: 0,
        }
    }

    /// Where the connection is in its life.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether messages may be sent.
    pub fn is_active(&self) -> bool {
        self.state == State::Active
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether the handshake waits for [`Connection::authenticate`].
    pub fn is_awaiting_authentication(&self) -> bool {
        self.auth_pending && self.state == State::Handshake
    }

    /// Answers the pending [`Event::AuthenticationRequested`] and resumes
    /// the handshake. A refusal makes the mechanism close the connection
    /// (after queueing an ERROR for 400 and 500); see
    /// [`AuthStatus`](crate::AuthStatus).
    pub fn authenticate(
        &mut self,
        reply: AuthReply,
        now: Instant,
    ) -> Result<(), AuthenticateError> {
        if self.state == State::Closed {
            return Err(AuthenticateError::Closed);
        }
        if !self.is_awaiting_authentication() {
            return Err(AuthenticateError::NotRequested);
        }
        self.auth_pending = false;
        let progress = self.mechanism.on_auth_reply(reply, self.out.tail());
        self.on_progress(progress, now);
        Ok(())
    }

    /// Our socket type.
    pub fn socket_type(&self) -> SocketType {
        self.socket_type
    }

    /// The peer's ZMTP version, once its greeting is in.
    pub fn peer_version(&self) -> Option<Version> {
        (self.state != State::Greeting).then_some(self.peer_version)
    }

    /// Received frames shorter than `below` bytes are from now on copied
    /// out of the read buffer (`Some`), or every frame is left a slice of it
    /// (`None`, the default; see [`FrameDecoder::copying`]). A driver turns
    /// copying on while the messages it has delivered keep too many of its
    /// read buffers alive.
    pub fn set_copy_frames(&mut self, below: Option<usize>) {
        self.decoder = self.decoder.copying(below);
    }

    /// A lower bound on the bytes the next frame still needs: a driver can
    /// reserve this much before reading so a large frame lands in one
    /// allocation. Limits were checked before this grows.
    pub fn read_hint(&self) -> usize {
        self.read_hint
    }

    /// Bytes of command bodies (PINGs, PONGs, subscriptions, unknown
    /// commands) received since the handshake. A driver that sizes its read
    /// buffer by the traffic can leave out what carried no message: a peer
    /// padding messages with commands makes each hold a buffer of its own.
    pub fn command_bytes(&self) -> u64 {
        self.command_bytes
    }

    /// Bytes waiting to be written. Write them with `chunks_vectored` and
    /// `advance` (or tokio's `write_buf`), in order, before closing.
    pub fn transmit(&mut self) -> &mut OutQueue {
        &mut self.out
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Connection::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Greeting | State::Handshake => self.handshake_deadline,
            State::Active => self.heartbeat.deadline(),
            State::Closed => None,
        }
    }

    /// Consumes every complete greeting or frame at the front of `buf`,
    /// leaving an incomplete tail in place for the next read.
    pub fn handle_input(&mut self, buf: &mut BytesMut, now: Instant) {
        self.handle_input_until(buf, now, usize::MAX);
    }

    /// As [`Connection::handle_input`], but stops before the next frame
    /// once `max_events` events wait to be taken, leaving the rest of
    /// `buf` as it is. A driver whose consumer is slow decodes only as many
    /// messages as it has room for and keeps the rest as bytes (two per
    /// empty message, rather than a message's handle each).
    ///
    /// Frames that make no event (PINGs, PONGs, handshake commands that
    /// only answer) are consumed as they come; each frame makes at most one
    /// event, so no more than `max_events` wait on return.
    ///
    pub fn handle_input_until(
        &mut self,
        buf: &mut BytesMut,
        now: Instant,
        max_events: usize,
    ) -> Input {
        self.decode_input(buf, now, max_events, None::<&mut fn(Message)>)
    }

    /// As [`Connection::handle_input_until`], but each message decoded
    /// while no other event waits goes straight to `deliver` instead of
    /// the event queue: a driver saves a move of the message in and out
    /// of the queue per message. Messages behind any other event (a
    /// completed handshake, a subscription, a close) are queued as usual,
    /// so every event keeps its order; `max_events` counts the messages
    /// delivered as well as the events waiting.
    ///
    /// ```
    /// use std::time::Instant;
    /// use zmtp::testing::{End, Pair};
    /// use zmtp::{Config, Input, Message, SocketType};
    /// let mut pair = Pair::null(Config::new(SocketType::Push), Config::new(SocketType::Pull));
    /// pair.shuttle();
    /// pair.handshakes();
    /// for body in ["a", "b", "c"] {
    ///     pair.client.send(&Message::from(body)).unwrap();
    /// }
    /// let mut wire = pair.client_wire();
    /// let mut got = Vec::new();
    /// let input = pair.server.handle_input_with(&mut wire, Instant::now(), 2, |m| got.push(m));
    /// assert_eq!((input, got.len()), (Input::Paused, 2));
    /// assert!(pair.server.poll_event().is_none());
    /// ```
    pub fn handle_input_with(
        &mut self,
        buf: &mut BytesMut,
        now: Instant,
        max_events: usize,
        mut deliver: impl FnMut(Message),
    ) -> Input {
        self.decode_input(buf, now, max_events, Some(&mut deliver))
    }

    /// The decode loop behind [`Connection::handle_input_until`] (no
    /// `deliver`: every event is queued) and
    /// [`Connection::handle_input_with`].
    fn decode_input<F: FnMut(Message)>(
        &mut self,
        buf: &mut BytesMut,
        now: Instant,
        max_events: usize,
        mut deliver: Option<&mut F>,
    ) -> Input {
        let mut delivered = 0;
        loop {
            if self.events.len() + delivered >= max_events {
                return Input::Paused;
            }
            match self.state {
                State::Closed => return Input::Drained,
                State::Greeting => match self.settle(Greeting::decode(buf)) {
                    Ok((greeting, consumed)) => {
                        buf.advance(consumed);
                        self.on_greeting(greeting, now);
                    }
                    Err(stop) => return stop,
                },
                State::Handshake | State::Active => {
                    let decoded = self.frame_decoder().decode(buf);
                    match self.settle(decoded) {
                        Ok((frame, _)) => {
                            self.heartbeat.on_traffic();
                            if !self.is_plain_data(&frame) {
                                self.on_frame(frame, now);
                                continue;
                            }
                            match (self.take_data(frame), deliver.as_mut()) {
                                (None, _) => {}
                                (Some(message), Some(deliver)) if self.events.is_empty() => {
                                    deliver(message);
                                    delivered += 1;
                                }
                                (Some(message), _) => {
                                    self.events.push_back(Event::Message(message));
                                }
                            }
                        }
                        Err(stop) => return stop,
                    }
                }
            }
        }
    }

    /// A decoder's answer: the value and the bytes it took, or where
    /// decoding stops (the connection closed on an error, or the next
    /// value is incomplete and `read_hint` says how much it still needs).
    fn settle<T, E: Into<CloseReason>>(
        &mut self,
        decoded: Result<Decoded<T>, E>,
    ) -> Result<(T, usize), Input> {
        match decoded {
            Err(e) => {
                self.close(e.into());
                Err(Input::Drained)
            }
            Ok(Decoded::Incomplete { needed }) => {
                self.read_hint = needed;
                Err(Input::Drained)
            }
            Ok(Decoded::Complete { value, consumed }) => Ok((value, consumed)),
        }
    }

    fn frame_decoder(&self) -> FrameDecoder {
        if self.state == State::Active {
            self.decoder
        } else {
            self.handshake_decoder
        }
    }

    /// Fires the handshake timeout and heartbeat timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Closed => {}
            State::Greeting | State::Handshake => {
                if self.handshake_deadline.is_some_and(|t| t <= now) {
                    self.close(CloseReason::HandshakeTimeout);
                }
            }
            State::Active => match self.heartbeat.on_timeout(now) {
                Err(Expired::Timeout) => self.close(CloseReason::HeartbeatTimeout),
                Err(Expired::Ttl) => self.close(CloseReason::HeartbeatTtlExpired),
                Ok(Due::Ping(ttl)) => {
                    let ping = Command::Ping {
                        ttl,
                        context: Bytes::new(),
                    };
                    if let Err(e) = self.write_command(&ping) {
                        self.close_on_send_error(e);
                    }
                }
                Ok(Due::Idle) => {}
            },
        }
    }

    /// Queues a message for sending, all frames at once.
    pub fn send(&mut self, message: &Message) -> Result<(), SendError> {
        self.check_active()?;
        let frames = message.frames();
        if let ([only], None) = (frames, &self.cipher) {
            // The common case: one plain frame.
            self.out.put_frame(false, false, only);
            return Ok(());
        }
        if frames.is_empty() {
            return Err(SendError::EmptyMessage);
        }
        let last = frames.len() - 1;
        for (i, frame) in frames.iter().enumerate() {
            self.write_frame(i < last, false, frame)?;
        }
        Ok(())
    }

    /// Queues a subscription to `topic`: a SUBSCRIBE command to a 3.1 peer,
    /// a `0x01`-prefixed message to a 3.0 peer.
    pub fn send_subscribe(&mut self, topic: &[u8]) -> Result<(), SendError> {
        self.send_subscription(true, topic)
    }

    /// Queues a cancellation of one subscription to `topic`.
    pub fn send_cancel(&mut self, topic: &[u8]) -> Result<(), SendError> {
        self.send_subscription(false, topic)
    }

    fn send_subscription(&mut self, subscribe: bool, topic: &[u8]) -> Result<(), SendError> {
        self.check_active()?;
        let topic = Bytes::copy_from_slice(topic);
        if self.peer_version.has_commands_3_1() {
            let command = if subscribe {
                Command::Subscribe(topic)
            } else {
                Command::Cancel(topic)
            };
            return self.write_command(&command);
        }
        let mut body = BytesMut::with_capacity(1 + topic.len());
        body.put_u8(u8::from(subscribe));
        body.put_slice(&topic);
        self.write_frame(false, false, &body.freeze())
    }

    fn check_active(&self) -> Result<(), SendError> {
        match self.state {
            State::Active => Ok(()),
            State::Closed => Err(SendError::Closed),
            State::Greeting | State::Handshake => Err(SendError::NotReady),
        }
    }

    fn write_frame(&mut self, more: bool, command: bool, body: &Bytes) -> Result<(), SendError> {
        match &mut self.cipher {
            Some(cipher) => cipher.seal(more, command, body, self.out.tail())?,
            None => self.out.put_frame(more, command, body),
        }
        Ok(())
    }

    fn write_command(&mut self, command: &Command) -> Result<(), SendError> {
        let mut body = BytesMut::with_capacity(command.body_len());
        // Our own commands (PING, PONG, SUBSCRIBE, CANCEL) always fit.
        if command.encode_body(&mut body).is_ok() {
            self.write_frame(false, true, &body.freeze())?;
        }
        Ok(())
    }

    fn close_on_send_error(&mut self, error: SendError) {
        if let SendError::Cipher(e) = error {
            self.close(e.into());
        }
    }

    fn close(&mut self, reason: CloseReason) {
        if self.state != State::Closed {
            self.state = State::Closed;
            self.partial = Message::new();
            self.events.push_back(Event::Closed(reason));
        }
    }

    fn on_greeting(&mut self, greeting: Greeting, now: Instant) {
        let ours = self.mechanism.name();
        if greeting.mechanism != ours {
            return self.close(CloseReason::MechanismMismatch {
                ours,
                theirs: greeting.mechanism,
            });
        }
        self.peer_version = greeting.version;
        self.state = State::Handshake;
        let progress = self.mechanism.start(&self.local_metadata, self.out.tail());
        self.on_progress(progress, now);
    }

    fn on_progress(&mut self, progress: Result<Progress, MechanismError>, now: Instant) {
        match progress {
            Err(e) => self.close(e.into()),
            Ok(Progress::Continue) => {}
            Ok(Progress::Authenticate(request)) => {
                self.auth_pending = true;
                self.events
                    .push_back(Event::AuthenticationRequested(Box::new(request)));
            }
            Ok(Progress::Complete(handshake)) => self.complete_handshake(handshake, now),
        }
    }

    fn complete_handshake(&mut self, handshake: Handshake, now: Instant) {
        let peer_type = match handshake.peer_metadata.socket_type() {
            Ok(t) => t,
            Err(e) => return self.close(e.into()),
        };
        if let Some(theirs) = peer_type.filter(|&t| !self.socket_type.is_compatible(t)) {
            if handshake.cipher.is_none() {
                // The spec asks for an ERROR; a libzmq peer then stops retrying.
                let error = Command::Error {
                    reason: Bytes::from_static(b"Invalid socket type"),
                };
                let _ = error.encode(self.out.tail());
            }
            return self.close(CloseReason::IncompatibleSocketType {
                ours: self.socket_type,
                theirs,
            });
        }
        self.cipher = handshake.cipher;
        self.state = State::Active;
        self.handshake_deadline = None;
        // Whatever the peer's minor version, as libzmq does: a 3.0 peer
        // ignores the PING command, but its silence still times it out.
        self.heartbeat.start(now);
        let info = PeerInfo {
            version: self.peer_version,
            socket_type: peer_type,
            identity: handshake
                .peer_metadata
                .identity()
                .filter(|id| !id.is_empty())
                .cloned(),
            metadata: handshake.peer_metadata,
            user_id: handshake.user_id,
            auth_metadata: handshake.auth_metadata,
        };
        self.events
            .push_back(Event::HandshakeSucceeded(Box::new(info)));
    }

    fn on_frame(&mut self, frame: Frame, now: Instant) {
        if self.state == State::Handshake {
            return self.on_handshake_frame(frame, now);
        }
        let frame = match &mut self.cipher {
            Some(cipher) => match cipher.open(frame) {
                Ok(inner) => inner,
                Err(e) => return self.close(e.into()),
            },
            None => frame,
        };
        if frame.command {
            self.command_bytes += frame.body.len() as u64;
            self.on_command(&frame.body, now);
        } else {
            self.on_data(frame);
        }
    }

    /// Whether `frame` is message data the connection takes as it is:
    /// the handshake is over, no cipher opens it and no publisher rule
    /// looks into it (the common case, decoded without the general path).
    #[inline]
    fn is_plain_data(&self, frame: &Frame) -> bool {
        self.state == State::Active
            && self.cipher.is_none()
            && !frame.command
            && !self.socket_type.is_publisher()
    }

    fn on_handshake_frame(&mut self, frame: Frame, now: Instant) {
        if !frame.command {
            return self.close(CloseReason::DataBeforeHandshake);
        }
        let command = match RawCommand::decode(&frame.body) {
            Ok(c) => c,
            Err(source) => {
                let error = self.mechanism.on_undecodable(&frame.body, source);
                return self.close(error.into());
            }
        };
        let progress = self.mechanism.on_command(command, self.out.tail());
        // The handshake decoder gave this frame its own allocation; once the
        // mechanism kept nothing of it, zero it (it may have held a
        // password: see `Secret`).
        if let Ok(mut body) = frame.body.try_into_mut() {
            body.fill(0);
        }
        self.on_progress(progress, now);
    }

    fn on_command(&mut self, body: &Bytes, now: Instant) {
        let command = match Command::decode(body) {
            Ok(c) => c,
            Err(e) => return self.close(e.into()),
        };
        match command {
            Command::Ping { ttl, context } => {
                self.heartbeat.on_ping(ttl, now);
                // A peer that sends PINGs but never reads would grow our
                // output without bound, a PONG at a time. With this much
                // unsent, the peer will see traffic (which is all a PONG
                // proves) when it reads, or it is not reading at all.
                if self.out.remaining() > PONG_BACKLOG {
                    return;
                }
                if let Err(e) = self.write_command(&Command::pong_for(&context)) {
                    self.close_on_send_error(e);
                }
            }
            Command::Subscribe(topic) if self.socket_type.is_publisher() => {
                self.events.push_back(Event::Subscribe(topic));
            }
            Command::Cancel(topic) if self.socket_type.is_publisher() => {
                self.events.push_back(Event::Cancel(topic));
            }
            Command::Error { reason } => {
                self.close(CloseReason::PeerError(
                    String::from_utf8_lossy(&reason).into_owned(),
                ));
            }
            // PONG has done its work by arriving (any frame resets the
            // timers); unknown commands are ignored, as the spec says.
            _ => {}
        }
    }

    fn on_data(&mut self, frame: Frame) {
        if let Some(message) = self.take_data(frame) {
            let event = self.classify(message);
            self.events.push_back(event);
        }
    }

    /// A data frame into the message being assembled: the message once
    /// this frame completes it. A frame past a limit closes the connection
    /// (the `Closed` event is queued) and gives nothing.
    #[inline]
    fn take_data(&mut self, frame: Frame) -> Option<Message> {
        if !frame.more && self.partial.is_empty() {
            // A single-frame message, the common case: straight out.
            let size = frame.body.len() as u64;
            if let Some(max) = self.max_message_size.filter(|&max| size > max) {
                self.close(CloseReason::MessageTooLarge { size, max });
                return None;
            }
            return Some(Message::from(frame.body));
        }
        self.take_frame_of_many(frame)
    }

    /// [`Self::take_data`] for a frame of a multipart message.
    fn take_frame_of_many(&mut self, frame: Frame) -> Option<Message> {
        // A frame after the first costs its handle as well as its bytes:
        // a message of many empty frames is not free (see `FRAME_COST`).
        let overhead = if self.partial.is_empty() {
            0
        } else {
            FRAME_COST
        };
        self.partial_size += (frame.body.len() + overhead) as u64;
        if let Some(max) = self.max_message_size.filter(|&max| self.partial_size > max) {
            let size = self.partial_size;
            self.close(CloseReason::MessageTooLarge { size, max });
            return None;
        }
        if let Some(max) = self.max_frames.filter(|&max| self.partial.len() >= max) {
            self.close(CloseReason::TooManyFrames { max });
            return None;
        }
        self.partial.push(frame.body);
        if frame.more {
            return None;
        }
        self.partial_size = 0;
        Some(std::mem::take(&mut self.partial))
    }

    /// Publishers read `0x01topic` / `0x00topic` messages as subscriptions
    /// (the ZMTP 3.0 form, which libzmq accepts from any version).
    #[inline]
    fn classify(&self, message: Message) -> Event {
        if self.socket_type.is_publisher()
            && let Some(first) = message.first()
        {
            match first.first() {
                Some(1) => return Event::Subscribe(first.slice(1..)),
                Some(0) => return Event::Cancel(first.slice(1..)),
                _ => {}
            }
        }
        Event::Message(message)
    }
}
