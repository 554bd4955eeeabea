//! Test helpers shared by the unit tests: two connections wired through
//! memory, and a frame splitter for checking what went on the wire.

use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};

use crate::connection::Connection;
use crate::event::{Event, PeerInfo};
use crate::frame::{Frame, FrameDecoder};
use crate::mechanism::AuthRequest;

/// A client and a server connection with a read buffer each.
pub(crate) struct Pair {
    pub client: Connection,
    pub server: Connection,
    client_in: BytesMut,
    server_in: BytesMut,
    pub now: Instant,
}

impl Pair {
    pub fn new(client: Connection, server: Connection) -> Self {
        Pair {
            client,
            server,
            client_in: BytesMut::new(),
            server_in: BytesMut::new(),
            now: Instant::now(),
        }
    }

    /// Moves bytes both ways until neither side has anything to say.
    pub fn shuttle(&mut self) {
        loop {
            let to_server = take(&mut self.client);
            let to_client = take(&mut self.server);
            if to_server.is_empty() && to_client.is_empty() {
                return;
            }
            self.deliver_to_server(to_server);
            self.deliver_to_client(to_client);
        }
    }

    /// Everything the server has queued, taken off its queue.
    pub fn server_wire(&mut self) -> BytesMut {
        take(&mut self.server)
    }

    /// Everything the client has queued, taken off its queue.
    pub fn client_wire(&mut self) -> BytesMut {
        take(&mut self.client)
    }

    pub fn deliver_to_client(&mut self, wire: BytesMut) {
        self.client_in.extend_from_slice(&wire);
        self.client.handle_input(&mut self.client_in, self.now);
    }

    pub fn deliver_to_server(&mut self, wire: BytesMut) {
        self.server_in.extend_from_slice(&wire);
        self.server.handle_input(&mut self.server_in, self.now);
    }

    /// The server's next event, if it is an authentication request.
    pub fn server_auth_request(&mut self) -> Option<AuthRequest> {
        match self.server.poll_event() {
            Some(Event::AuthenticationRequested(request)) => Some(*request),
            other => {
                assert!(other.is_none(), "unexpected {other:?}");
                None
            }
        }
    }

    /// Both sides' `HandshakeSucceeded`, client first.
    pub fn handshakes(&mut self) -> (PeerInfo, PeerInfo) {
        let info = |c: &mut Connection| match c.poll_event() {
            Some(Event::HandshakeSucceeded(info)) => *info,
            other => panic!("expected the handshake, got {other:?}"),
        };
        (info(&mut self.client), info(&mut self.server))
    }
}

fn take(c: &mut Connection) -> BytesMut {
    let out = c.transmit();
    BytesMut::from(out.copy_to_bytes(out.remaining()).as_ref())
}

/// Splits a byte stream (no greeting) into whole frames.
pub(crate) fn frames(wire: &[u8]) -> Vec<Frame> {
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
pub(crate) fn frame_bodies(wire: &[u8]) -> Vec<Bytes> {
    frames(wire).into_iter().map(|f| f.body).collect()
}
