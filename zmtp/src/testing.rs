//! Two [`Connection`]s joined in memory, for tests, fuzz targets and
//! benches (the `testing` feature; always on for this crate's unit tests).
//!
//! A [`Pair`] moves bytes between a client and a server with no sockets and
//! a clock the test drives: all at once ([`Pair::shuttle`]), a few bytes at
//! a time ([`Pair::pump`]), or by hand, with the bytes in flight open to
//! inspection and tampering ([`Pair::in_flight`], [`Pair::deliver`]). The
//! free functions read what a connection wrote and reported.
//!
//! These are test helpers: they panic when a test's expectation fails.
//!
//! ```
//! use zmtp::testing::{End, Pair};
//! use zmtp::{Config, Message, SocketType};
//!
//! let mut pair = Pair::null(Config::new(SocketType::Push), Config::new(SocketType::Pull));
//! pair.shuttle();
//! pair.handshakes();
//! pair.client.send(&Message::from("hi")).unwrap();
//! pair.pump(End::Client, 3); // a partial frame...
//! assert!(pair.server.poll_event().is_none());
//! pair.shuttle(); // ...then the rest
//! assert!(matches!(pair.server.poll_event(), Some(zmtp::Event::Message(_))));
//! ```

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

use crate::Config;
use crate::connection::Connection;
use crate::event::{Event, PeerInfo};
use crate::frame::{Frame, FrameDecoder};
use crate::mechanism::{AuthRequest, Null};

/// One end of a [`Pair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// [`Pair::client`].
    Client,
    /// [`Pair::server`].
    Server,
}

impl End {
    /// The other end.
    pub fn peer(self) -> End {
        match self {
            End::Client => End::Server,
            End::Server => End::Client,
        }
    }
}

/// A client and a server connection, each with the bytes it has written
/// but the other has not read yet, and the bytes it has read but not
/// consumed (a partial frame).
pub struct Pair {
    /// The connecting side.
    pub client: Connection,
    /// The accepting side.
    pub server: Connection,
    /// The time handed to both connections.
    pub now: Instant,
    client_out: BytesMut,
    server_out: BytesMut,
    client_in: BytesMut,
    server_in: BytesMut,
}

impl Pair {
    /// Joins two connections (made with `now` close to [`Instant::now`]).
    pub fn new(client: Connection, server: Connection) -> Self {
        Pair {
            client,
            server,
            now: Instant::now(),
            client_out: BytesMut::new(),
            server_out: BytesMut::new(),
            client_in: BytesMut::new(),
            server_in: BytesMut::new(),
        }
    }

    /// Two connections with these configurations and the NULL mechanism.
    pub fn null(client: Config, server: Config) -> Self {
        let now = Instant::now();
        let client = Connection::new(client, Box::new(Null::new()), now);
        let server = Connection::new(server, Box::new(Null::new()), now);
        Pair {
            now,
            ..Pair::new(client, server)
        }
    }

    /// The connection at `end`.
    pub fn conn(&mut self, end: End) -> &mut Connection {
        match end {
            End::Client => &mut self.client,
            End::Server => &mut self.server,
        }
    }

    /// Moves bytes both ways until neither side has anything to say: each
    /// round takes both sides' output first, then delivers it.
    pub fn shuttle(&mut self) {
        loop {
            self.in_flight(End::Client);
            self.in_flight(End::Server);
            if self.client_out.is_empty() && self.server_out.is_empty() {
                return;
            }
            self.pump(End::Client, usize::MAX);
            self.pump(End::Server, usize::MAX);
        }
    }

    /// Moves up to `max` bytes of what `from` wrote to its peer, which
    /// reads them; returns how many moved.
    pub fn pump(&mut self, from: End, max: usize) -> usize {
        let now = self.now;
        let out = self.in_flight(from);
        let n = max.min(out.len());
        if n == 0 {
            return 0;
        }
        let bytes = out.split_to(n);
        let (conn, input) = self.reader(from.peer());
        input.extend_from_slice(&bytes);
        conn.handle_input(input, now);
        n
    }

    /// What `from` has written and its peer not read yet, with everything
    /// `from` has queued since taken in; the test may change it.
    pub fn in_flight(&mut self, from: End) -> &mut BytesMut {
        let (conn, out) = match from {
            End::Client => (&mut self.client, &mut self.client_out),
            End::Server => (&mut self.server, &mut self.server_out),
        };
        out.extend_from_slice(&transmitted(conn));
        out
    }

    /// Hands `bytes` to `to` as if its peer had sent them.
    pub fn deliver(&mut self, to: End, bytes: &[u8]) {
        let now = self.now;
        let (conn, input) = self.reader(to);
        input.extend_from_slice(bytes);
        conn.handle_input(input, now);
    }

    /// Bytes `end` has read but not consumed (the start of a frame).
    pub fn unread(&self, end: End) -> &[u8] {
        match end {
            End::Client => &self.client_in,
            End::Server => &self.server_in,
        }
    }

    fn reader(&mut self, end: End) -> (&mut Connection, &mut BytesMut) {
        match end {
            End::Client => (&mut self.client, &mut self.client_in),
            End::Server => (&mut self.server, &mut self.server_in),
        }
    }

    /// Everything the server wrote and the client has not read, taken.
    pub fn server_wire(&mut self) -> BytesMut {
        self.in_flight(End::Server).split()
    }

    /// Everything the client wrote and the server has not read, taken.
    pub fn client_wire(&mut self) -> BytesMut {
        self.in_flight(End::Client).split()
    }

    /// [`Pair::deliver`] to the client.
    pub fn deliver_to_client(&mut self, wire: BytesMut) {
        self.deliver(End::Client, &wire);
    }

    /// [`Pair::deliver`] to the server.
    pub fn deliver_to_server(&mut self, wire: BytesMut) {
        self.deliver(End::Server, &wire);
    }

    /// Moves the clock on by `by` and lets both sides' timers fire.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
    }

    /// The server's next event, if it is an authentication request.
    /// Panics on any other event.
    pub fn server_auth_request(&mut self) -> Option<AuthRequest> {
        match self.server.poll_event() {
            Some(Event::AuthenticationRequested(request)) => Some(*request),
            other => {
                assert!(other.is_none(), "unexpected {other:?}");
                None
            }
        }
    }

    /// Both sides' `HandshakeSucceeded`, client first. Panics if either
    /// side's next event is another.
    pub fn handshakes(&mut self) -> (PeerInfo, PeerInfo) {
        let info = |c: &mut Connection| match c.poll_event() {
            Some(Event::HandshakeSucceeded(info)) => *info,
            other => panic!("expected the handshake, got {other:?}"),
        };
        (info(&mut self.client), info(&mut self.server))
    }
}

/// Everything `conn` has queued to write, taken off its queue.
pub fn transmitted(conn: &mut Connection) -> BytesMut {
    let out = conn.transmit();
    let mut bytes = BytesMut::with_capacity(out.remaining());
    while out.has_remaining() {
        let chunk = out.chunk();
        let n = chunk.len();
        bytes.extend_from_slice(chunk);
        out.advance(n);
    }
    bytes
}

/// Every event `conn` has to report, in order.
pub fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

/// Splits a byte stream (no greeting) into whole frames. Panics on a
/// trailing partial frame.
pub fn frames(wire: &[u8]) -> Vec<Frame> {
    let mut buf = BytesMut::from(wire);
    let mut frames = Vec::new();
    while let Ok(crate::Decoded::Complete { value, .. }) = FrameDecoder::default().decode(&mut buf)
    {
        frames.push(value);
    }
    assert!(buf.is_empty(), "trailing partial frame");
    frames
}

/// The bodies of [`frames`].
pub fn frame_bodies(wire: &[u8]) -> Vec<Bytes> {
    frames(wire).into_iter().map(|f| f.body).collect()
}
