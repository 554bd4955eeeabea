//! The CURVE client handshake: HELLO, then INITIATE, then READY completes.
//!
//! ```text
//! Start ──start──▶ AwaitWelcome ──WELCOME opens──▶ AwaitReady ──READY opens──▶ done
//!                  (c', S·c' box)   sends INITIATE   (S'·c' box)   cipher out
//! ```
//!
//! HELLO (200 bytes): `05 HELLO`, version `01 00`, 72 zero bytes, C',
//! nonce 1, Box[64 zeros](C'->S). WELCOME must be exactly 168 bytes and open
//! with S and c' (which proves the server holds s). INITIATE: `08 INITIATE`,
//! the cookie, nonce 2, Box[C ‖ vouch nonce ‖ vouch ‖ metadata](C'->S'),
//! where the vouch is Box[C' ‖ S](C->S'). READY: nonce, Box[metadata](S'->C').

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use crypto_box::SalsaBox;
use zeroize::Zeroizing;

use super::keys::{CurveKeyPair, CurvePublicKey};
use super::message::CurveCipher;
use super::nonce::{self, NonceCounter};
use super::random::{self, OsRandom, RandomSource};
use super::salsa::SessionBox;
use super::shared::handshake_box;
use super::{
    BOX_OVERHEAD, BoxKind, COOKIE_LEN, CURVE, CurveError, HELLO_LEN, KEY_LEN, READY_MIN_LEN,
    WELCOME_LEN, open_box, seal_into,
};
use crate::command::RawCommand;
use crate::frame::FrameHeader;
use crate::greeting::MechanismName;
use crate::mechanism::{Handshake, Mechanism, MechanismError, Progress, moves};
use crate::metadata::Metadata;

/// The client side of CURVE: it knows its own long-term pair and the
/// server's public key.
pub struct CurveClient {
    keys: CurveKeyPair,
    server: CurvePublicKey,
    random: Box<dyn RandomSource>,
    state: State,
}

enum State {
    Start,
    AwaitWelcome(AwaitWelcome),
    AwaitReady(AwaitReady),
    Done,
}

/// HELLO is out.
struct AwaitWelcome {
    /// Our transient pair (c', C').
    transient: CurveKeyPair,
    /// c' with S: HELLO's signature and WELCOME.
    long_term_box: SalsaBox,
    nonces: NonceCounter,
    local: Metadata,
}

/// INITIATE is out.
struct AwaitReady {
    /// c' with S': INITIATE, READY and every MESSAGE.
    session: SessionBox,
    nonces: NonceCounter,
}

impl CurveClient {
    /// A client with long-term pair `keys` talking to the server whose
    /// public key is `server`, drawing randomness from the OS.
    pub fn new(keys: CurveKeyPair, server: CurvePublicKey) -> Self {
        Self::with_random(keys, server, Box::new(OsRandom))
    }

    /// The same with a chosen random source (for reproducible tests). It
    /// is asked for c' (32 bytes) at start, then the vouch nonce suffix
    /// (16 bytes) when WELCOME arrives.
    pub fn with_random(
        keys: CurveKeyPair,
        server: CurvePublicKey,
        random: Box<dyn RandomSource>,
    ) -> Self {
        CurveClient {
            keys,
            server,
            random,
            state: State::Start,
        }
    }

    /// Our long-term public key, C.
    pub fn public_key(&self) -> &CurvePublicKey {
        self.keys.public()
    }

    /// The server's long-term public key we expect, S.
    pub fn server_key(&self) -> &CurvePublicKey {
        &self.server
    }

    fn hello(&mut self, local: &Metadata, out: &mut BytesMut) -> Result<AwaitWelcome, CurveError> {
        let transient = CurveKeyPair::generate_with(self.random.as_mut())?;
        let long_term_box = handshake_box(&self.server, transient.secret(), BoxKind::Hello)?;
        let mut nonces = NonceCounter::new();
        let counter = nonces.next()?;
        out.reserve(2 + HELLO_LEN);
        FrameHeader::encode(false, true, HELLO_LEN, out);
        out.put_slice(b"\x05HELLO\x01\x00");
        out.put_bytes(0, 72);
        out.put_slice(transient.public().as_bytes());
        out.put_u64(counter);
        seal_into(
            &long_term_box,
            &nonce::short(nonce::HELLO, counter),
            &[0; 64],
            out,
            BoxKind::Hello,
        )?;
        Ok(AwaitWelcome {
            transient,
            long_term_box,
            nonces,
            local: local.clone(),
        })
    }

    fn initiate(
        &mut self,
        mut step: AwaitWelcome,
        welcome: &[u8],
        out: &mut BytesMut,
    ) -> Result<AwaitReady, MechanismError> {
        if welcome.len() != WELCOME_LEN - 8 {
            return Err(CurveError::CommandSize {
                command: "WELCOME",
                len: welcome.len() + 8,
                expected: "exactly 168 bytes",
            }
            .into());
        }
        let (suffix, sealed) = welcome
            .split_first_chunk::<16>()
            .ok_or(CurveError::BoxOpen(BoxKind::Welcome))?;
        let inside = open_box(
            &step.long_term_box,
            &nonce::long(nonce::WELCOME, suffix),
            sealed,
            BoxKind::Welcome,
        )?;
        let (server_transient, cookie) = inside
            .split_first_chunk::<KEY_LEN>()
            .ok_or(CurveError::BoxOpen(BoxKind::Welcome))?;
        let server_transient = CurvePublicKey::from_bytes(*server_transient);
        let session = SessionBox::agree(
            &server_transient,
            step.transient.secret(),
            BoxKind::Initiate,
        )?;

        // The vouch: C' and S, boxed from our long-term key to S'.
        let vouch_suffix = random::array::<16>(self.random.as_mut()).map_err(CurveError::from)?;
        let vouch_box = handshake_box(&server_transient, self.keys.secret(), BoxKind::Vouch)?;
        let mut vouch = BytesMut::with_capacity(64 + BOX_OVERHEAD);
        let mut vouched = Zeroizing::new([0u8; 64]);
        vouched[..32].copy_from_slice(step.transient.public().as_bytes());
        vouched[32..].copy_from_slice(self.server.as_bytes());
        seal_into(
            &vouch_box,
            &nonce::long(nonce::VOUCH, &vouch_suffix),
            &vouched[..],
            &mut vouch,
            BoxKind::Vouch,
        )?;

        let mut plaintext = BytesMut::with_capacity(128 + step.local.encoded_len());
        plaintext.put_slice(self.keys.public().as_bytes());
        plaintext.put_slice(&vouch_suffix[..]);
        plaintext.put_slice(&vouch);
        moves::encode_own_metadata(CURVE, &step.local, &mut plaintext)?;

        let counter = step.nonces.next()?;
        let len = 9 + COOKIE_LEN + 8 + BOX_OVERHEAD + plaintext.len();
        out.reserve(9 + len);
        FrameHeader::encode(false, true, len, out);
        out.put_slice(b"\x08INITIATE");
        out.put_slice(cookie);
        out.put_u64(counter);
        seal_into(
            &session,
            &nonce::short(nonce::INITIATE, counter),
            &plaintext,
            out,
            BoxKind::Initiate,
        )?;
        Ok(AwaitReady {
            session,
            nonces: step.nonces,
        })
    }

    fn ready(step: AwaitReady, ready: &[u8]) -> Result<Progress, MechanismError> {
        let too_short = || CurveError::CommandSize {
            command: "READY",
            len: ready.len() + 6,
            expected: "at least 30 bytes",
        };
        if ready.len() + 6 < READY_MIN_LEN {
            return Err(too_short().into());
        }
        let (counter, sealed) = ready.split_first_chunk::<8>().ok_or_else(too_short)?;
        let counter = u64::from_be_bytes(*counter);
        let metadata = open_box(
            &step.session,
            &nonce::short(nonce::READY, counter),
            sealed,
            BoxKind::Ready,
        )?;
        let peer_metadata = moves::peer_metadata(CURVE, &Bytes::copy_from_slice(&metadata))?;
        Ok(Progress::Complete(Handshake {
            peer_metadata,
            user_id: None,
            auth_metadata: Metadata::new(),
            cipher: Some(Box::new(CurveCipher::client(
                &step.session,
                step.nonces,
                counter,
            ))),
        }))
    }
}

impl fmt::Debug for CurveClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Start => "Start",
            State::AwaitWelcome(_) => "AwaitWelcome",
            State::AwaitReady(_) => "AwaitReady",
            State::Done => "Done",
        };
        f.debug_struct("CurveClient")
            .field("public_key", self.keys.public())
            .field("server_key", &self.server)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl Mechanism for CurveClient {
    fn name(&self) -> MechanismName {
        CURVE
    }

    fn start(&mut self, local: &Metadata, out: &mut BytesMut) -> Result<Progress, MechanismError> {
        self.state = State::Done;
        let step = self.hello(local, out)?;
        self.state = State::AwaitWelcome(step);
        Ok(Progress::Continue)
    }

    fn on_command(
        &mut self,
        command: RawCommand,
        out: &mut BytesMut,
    ) -> Result<Progress, MechanismError> {
        match moves::take_state(&mut self.state, State::Done, CURVE, &command)? {
            State::AwaitWelcome(step) if command.is(b"WELCOME") => {
                let next = self.initiate(step, &command.data, out)?;
                self.state = State::AwaitReady(next);
                Ok(Progress::Continue)
            }
            State::AwaitReady(step) if command.is(b"READY") => Self::ready(step, &command.data),
            _ => Err(moves::unexpected(CURVE, &command)),
        }
    }
}
