//! MESSAGE: how every frame travels once the CURVE handshake is done.
//!
//! ```text
//! outer frame header 00 / 02 (never MORE, never COMMAND)
//! body = 07 "MESSAGE" ‖ short nonce (8) ‖ Box[flags(1) ‖ frame body](16 + 1 + n)
//! flags: 0x01 MORE, 0x02 COMMAND
//! ```
//!
//! One ZMTP frame, data or command (PING, PONG, SUBSCRIBE, CANCEL), becomes
//! one MESSAGE. libzmq ORs the outer flags into the frame it decrypts, so we
//! send 0x00/0x02 only (docs/protocol-notes.md, "CURVE MESSAGE flags"). On
//! receive the outer flags are ignored: any frame whose body starts with
//! `07 MESSAGE` is opened, and MORE and COMMAND come from the inner byte. Nonces must strictly increase;
//! a replayed or reordered MESSAGE ends the connection.

use std::fmt;

use bytes::{Buf, BufMut, BytesMut};

use super::keys::{CurvePublicKey, CurveSecretKey};
use super::nonce::{self, NonceCounter, NonceWatermark};
use super::salsa::{MessageKey, SessionBox};
use super::{BOX_OVERHEAD, BoxKind, CurveError, MESSAGE_MIN_LEN};
use crate::frame::{Frame, FrameHeader};
use crate::mechanism::{Cipher, MechanismError};

/// The command name every MESSAGE body starts with.
const MESSAGE: &[u8; 8] = b"\x07MESSAGE";

/// The smallest buffer plaintexts are cut from.
const PLAIN_BUFFER: usize = 64 * 1024;

/// Inner flag: more frames of this message follow.
const INNER_MORE: u8 = 0x01;
/// Inner flag: the frame is a command.
const INNER_COMMAND: u8 = 0x02;

/// Seals and opens MESSAGE commands with the connection's session key.
pub struct CurveCipher {
    /// The session key with our MESSAGE nonce prefix.
    send_key: MessageKey,
    /// The session key with the peer's MESSAGE nonce prefix.
    receive_key: MessageKey,
    pub(super) sent: NonceCounter,
    received: NonceWatermark,
    /// Room for the next plaintexts (see `open_message`).
    plain: BytesMut,
}

impl CurveCipher {
    /// The client's cipher once READY is in. `next_nonce` is the client's
    /// next short nonce (3 after a handshake) and `peer_nonce` the last one
    /// the server used (READY's, 1).
    pub(super) fn client(session: &SessionBox, sent: NonceCounter, peer_nonce: u64) -> Self {
        CurveCipher {
            send_key: session.message_key(nonce::MESSAGE_FROM_CLIENT),
            receive_key: session.message_key(nonce::MESSAGE_FROM_SERVER),
            sent,
            received: NonceWatermark::new(peer_nonce),
            plain: BytesMut::new(),
        }
    }

    /// The server's cipher once READY is out.
    pub(super) fn server(session: &SessionBox, sent: NonceCounter, peer_nonce: u64) -> Self {
        CurveCipher {
            send_key: session.message_key(nonce::MESSAGE_FROM_SERVER),
            receive_key: session.message_key(nonce::MESSAGE_FROM_CLIENT),
            sent,
            received: NonceWatermark::new(peer_nonce),
            plain: BytesMut::new(),
        }
    }

    /// A client-side cipher as it stands right after a handshake (next
    /// nonce 3, server's last 1), from the client's transient secret c' and
    /// the server's transient public S'. The handshake builds its own; this
    /// is for tests, benchmarks and custom mechanisms.
    pub fn for_client(
        client_transient: &CurveSecretKey,
        server_transient: &CurvePublicKey,
    ) -> Self {
        let session = SessionBox::new(server_transient, client_transient);
        Self::client(&session, NonceCounter::starting_at(3), 1)
    }

    /// The server-side counterpart of [`CurveCipher::for_client`] (next
    /// nonce 2, client's last 2).
    pub fn for_server(
        server_transient: &CurveSecretKey,
        client_transient: &CurvePublicKey,
    ) -> Self {
        let session = SessionBox::new(client_transient, server_transient);
        Self::server(&session, NonceCounter::starting_at(2), 2)
    }

    fn open_message(&mut self, frame: Frame) -> Result<Frame, CurveError> {
        let body = frame.body;
        let Some(rest) = body.strip_prefix(MESSAGE) else {
            return Err(CurveError::NotMessage);
        };
        let (Some((counter, sealed)), true) =
            (rest.split_first_chunk::<8>(), body.len() >= MESSAGE_MIN_LEN)
        else {
            return Err(CurveError::CommandSize {
                command: "MESSAGE",
                len: body.len(),
                expected: "at least 33 bytes",
            });
        };
        let counter = u64::from_be_bytes(*counter);
        self.received.check(counter)?;
        let (tag, ciphertext) = sealed
            .split_first_chunk::<BOX_OVERHEAD>()
            .ok_or(CurveError::BoxOpen(BoxKind::Message))?;
        // Plaintexts are cut from one buffer of at least PLAIN_BUFFER bytes
        // (a new one once the messages of the last have all been dropped
        // or it is full): one allocation per many small messages.
        if !self.plain.try_reclaim(ciphertext.len()) {
            self.plain = BytesMut::with_capacity(ciphertext.len().max(PLAIN_BUFFER));
        }
        self.receive_key
            .open_append(&counter.to_be_bytes(), ciphertext, tag, &mut self.plain)
            .map_err(|_| CurveError::BoxOpen(BoxKind::Message))?;
        self.received.raise(counter);
        let mut plain = self.plain.split();
        // MESSAGE_MIN_LEN leaves room for the flags byte.
        let flags = plain.first().copied().unwrap_or_default();
        plain.advance(1.min(plain.len()));
        Ok(Frame {
            more: flags & INNER_MORE != 0,
            command: flags & INNER_COMMAND != 0,
            body: plain.freeze(),
        })
    }
}

impl fmt::Debug for CurveCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurveCipher")
            .field("sent", &self.sent)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl Cipher for CurveCipher {
    fn seal(
        &mut self,
        more: bool,
        command: bool,
        body: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), MechanismError> {
        let counter = self.sent.next()?;
        let len = MESSAGE_MIN_LEN + body.len();
        out.reserve(FrameHeader::encoded_len(len) + len);
        // Outer flags 0x00 or 0x02: libzmq would OR MORE or COMMAND in.
        FrameHeader::encode(false, false, len, out);
        out.put_slice(MESSAGE);
        out.put_u64(counter);
        let tag_at = out.len();
        out.put_bytes(0, BOX_OVERHEAD);
        let mut flags = 0;
        if more {
            flags |= INNER_MORE;
        }
        if command {
            flags |= INNER_COMMAND;
        }
        let tag = self
            .send_key
            .seal_append(&counter.to_be_bytes(), &[&[flags], body], out);
        out[tag_at..tag_at + BOX_OVERHEAD].copy_from_slice(&tag);
        Ok(())
    }

    fn open(&mut self, frame: Frame) -> Result<Frame, MechanismError> {
        Ok(self.open_message(frame)?)
    }
}
