//! The CURVE server handshake: WELCOME, then a decision, then READY.
//!
//! ```text
//! Start ─start─▶ AwaitHello ─HELLO ok─▶ AwaitInitiate ─INITIATE ok─▶ Authenticating ─200─▶ done
//!                              WELCOME    (s', cookie key)   asks about C        READY, cipher out
//! ```
//!
//! HELLO must be exactly 200 bytes, version 1.0, and its signature box must
//! open (C' with s) to 64 zero bytes. WELCOME carries S' and the cookie,
//! boxed to C'. INITIATE (at least 257 bytes) must echo this connection's
//! cookie, its box must open (C' with s'), and the vouch inside must open
//! with the client's long-term key C and name C' and S. Then the application
//! decides about C ([`Progress::Authenticate`]); on 200 READY goes out with
//! nonce 1 and the handshake is done, on 300 we close, on 400/500 we send
//! ERROR first. The cookie key is dropped, and wiped, once INITIATE is read.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::cookie::CookieKey;
use super::keys::{CurveKeyPair, CurvePublicKey};
use super::message::CurveCipher;
use super::nonce::{self, NonceCounter};
use super::random::{self, OsRandom, RandomSource};
use super::salsa::SessionBox;
use super::shared::handshake_box;
use super::{
    BOX_OVERHEAD, BoxKind, COOKIE_LEN, CURVE, CurveError, HELLO_LEN, INITIATE_MIN_LEN, KEY_LEN,
    WELCOME_LEN, ct_eq, open_box, seal_into,
};
use crate::command::RawCommand;
use crate::frame::FrameHeader;
use crate::greeting::MechanismName;
use crate::mechanism::{
    AuthReply, AuthRequest, Credentials, Handshake, Mechanism, MechanismError, Progress, moves,
};
use crate::metadata::Metadata;

/// The server side of CURVE: it holds its long-term key pair.
pub struct CurveServer {
    keys: CurveKeyPair,
    random: Box<dyn RandomSource>,
    state: State,
}

enum State {
    Start,
    AwaitHello { local: Metadata },
    AwaitInitiate(AwaitInitiate),
    Authenticating(Authenticating),
    Done,
}

/// WELCOME is out.
struct AwaitInitiate {
    local: Metadata,
    /// The client's transient key C'.
    client_transient: CurvePublicKey,
    /// Our transient pair (s', S').
    transient: CurveKeyPair,
    cookie_key: CookieKey,
}

/// INITIATE checked out; the application decides about the client.
struct Authenticating {
    local: Metadata,
    /// s' with C': READY and every MESSAGE.
    session: SessionBox,
    /// INITIATE's nonce, the last the client used.
    peer_nonce: u64,
    peer_metadata: Metadata,
}

impl CurveServer {
    /// A server with long-term pair `keys`, drawing randomness from the OS.
    pub fn new(keys: CurveKeyPair) -> Self {
        Self::with_random(keys, Box::new(OsRandom))
    }

    /// The same with a chosen random source (for reproducible tests). When
    /// HELLO arrives it is asked, in order, for s' (32 bytes), the cookie
    /// key (32), the cookie nonce suffix (16) and the WELCOME nonce suffix
    /// (16).
    pub fn with_random(keys: CurveKeyPair, random: Box<dyn RandomSource>) -> Self {
        CurveServer {
            keys,
            random,
            state: State::Start,
        }
    }

    /// Our long-term public key, S.
    pub fn public_key(&self) -> &CurvePublicKey {
        self.keys.public()
    }

    fn welcome(
        &mut self,
        local: Metadata,
        hello: &[u8],
        out: &mut BytesMut,
    ) -> Result<AwaitInitiate, CurveError> {
        let wrong_size = || CurveError::CommandSize {
            command: "HELLO",
            len: hello.len() + 6,
            expected: "exactly 200 bytes",
        };
        if hello.len() + 6 != HELLO_LEN {
            return Err(wrong_size());
        }
        let (&[major, minor], rest) = hello.split_first_chunk::<2>().ok_or_else(wrong_size)?;
        if (major, minor) != (1, 0) {
            return Err(CurveError::Version { major, minor });
        }
        // 72 bytes of padding, which libzmq does not check either.
        let rest = rest.get(72..).ok_or_else(wrong_size)?;
        let (client_transient, rest) =
            rest.split_first_chunk::<KEY_LEN>().ok_or_else(wrong_size)?;
        let (counter, signature) = rest.split_first_chunk::<8>().ok_or_else(wrong_size)?;
        let client_transient = CurvePublicKey::from_bytes(*client_transient);
        let long_term_box = handshake_box(&client_transient, self.keys.secret(), BoxKind::Hello)?;
        let zeros = open_box(
            &long_term_box,
            &nonce::short(nonce::HELLO, u64::from_be_bytes(*counter)),
            signature,
            BoxKind::Hello,
        )?;
        if !ct_eq(&zeros, &[0; 64]) {
            return Err(CurveError::HelloSignature);
        }

        let transient = CurveKeyPair::generate_with(self.random.as_mut())?;
        let cookie_key = CookieKey::new(&*random::array::<KEY_LEN>(self.random.as_mut())?);
        let cookie_suffix = random::array::<16>(self.random.as_mut())?;
        let welcome_suffix = random::array::<16>(self.random.as_mut())?;

        // S' and the sealed cookie: nothing secret (the cookie's s' is
        // encrypted in place, in capacity reserved up front).
        let mut plaintext = BytesMut::with_capacity(KEY_LEN + COOKIE_LEN);
        plaintext.put_slice(transient.public().as_bytes());
        cookie_key.seal(
            &cookie_suffix,
            &client_transient,
            transient.secret(),
            &mut plaintext,
        )?;
        out.reserve(2 + WELCOME_LEN);
        FrameHeader::encode(false, true, WELCOME_LEN, out);
        out.put_slice(b"\x07WELCOME");
        out.put_slice(&welcome_suffix[..]);
        seal_into(
            &long_term_box,
            &nonce::long(nonce::WELCOME, &welcome_suffix),
            &plaintext,
            out,
            BoxKind::Welcome,
        )?;
        Ok(AwaitInitiate {
            local,
            client_transient,
            transient,
            cookie_key,
        })
    }

    fn check_initiate(
        &self,
        step: AwaitInitiate,
        initiate: &[u8],
    ) -> Result<(Authenticating, CurvePublicKey), MechanismError> {
        let too_short = || CurveError::CommandSize {
            command: "INITIATE",
            len: initiate.len() + 9,
            expected: "at least 257 bytes",
        };
        if initiate.len() + 9 < INITIATE_MIN_LEN {
            return Err(too_short().into());
        }
        let (cookie, rest) = initiate
            .split_first_chunk::<COOKIE_LEN>()
            .ok_or_else(too_short)?;
        let (counter, sealed) = rest.split_first_chunk::<8>().ok_or_else(too_short)?;
        step.cookie_key
            .verify(cookie, &step.client_transient, step.transient.secret())?;
        drop(step.cookie_key);

        let session = SessionBox::agree(
            &step.client_transient,
            step.transient.secret(),
            BoxKind::Initiate,
        )?;
        let peer_nonce = u64::from_be_bytes(*counter);
        let inside = open_box(
            &session,
            &nonce::short(nonce::INITIATE, peer_nonce),
            sealed,
            BoxKind::Initiate,
        )?;
        // C(32) ‖ vouch nonce suffix(16) ‖ vouch box(80) ‖ metadata.
        let vouch_open = || CurveError::BoxOpen(BoxKind::Vouch);
        let (client_key, rest) = inside
            .split_first_chunk::<KEY_LEN>()
            .ok_or_else(vouch_open)?;
        let (vouch_suffix, rest) = rest.split_first_chunk::<16>().ok_or_else(vouch_open)?;
        let (vouch, metadata) = rest
            .split_first_chunk::<{ 64 + BOX_OVERHEAD }>()
            .ok_or_else(vouch_open)?;
        let client_key = CurvePublicKey::from_bytes(*client_key);
        let vouch_box = handshake_box(&client_key, step.transient.secret(), BoxKind::Vouch)?;
        let vouched = open_box(
            &vouch_box,
            &nonce::long(nonce::VOUCH, vouch_suffix),
            vouch,
            BoxKind::Vouch,
        )?;
        let (transient_named, server_named) = vouched.split_at(KEY_LEN.min(vouched.len()));
        if !(ct_eq(transient_named, step.client_transient.as_bytes())
            & ct_eq(server_named, self.keys.public().as_bytes()))
        {
            return Err(CurveError::VouchMismatch.into());
        }
        let peer_metadata = moves::peer_metadata(CURVE, &Bytes::copy_from_slice(metadata))?;
        Ok((
            Authenticating {
                local: step.local,
                session,
                peer_nonce,
                peer_metadata,
            },
            client_key,
        ))
    }

    fn ready(
        step: Authenticating,
        reply: AuthReply,
        out: &mut BytesMut,
    ) -> Result<Progress, MechanismError> {
        moves::decide(CURVE, &reply, out)?;
        let mut metadata = BytesMut::with_capacity(step.local.encoded_len());
        moves::encode_own_metadata(CURVE, &step.local, &mut metadata)?;
        let mut nonces = NonceCounter::new();
        let counter = nonces.next()?;
        let len = 6 + 8 + BOX_OVERHEAD + metadata.len();
        out.reserve(9 + len);
        FrameHeader::encode(false, true, len, out);
        out.put_slice(b"\x05READY");
        out.put_u64(counter);
        seal_into(
            &step.session,
            &nonce::short(nonce::READY, counter),
            &metadata,
            out,
            BoxKind::Ready,
        )?;
        Ok(Progress::Complete(Handshake {
            peer_metadata: step.peer_metadata,
            user_id: (!reply.user_id.is_empty()).then_some(reply.user_id),
            auth_metadata: reply.metadata,
            cipher: Some(Box::new(CurveCipher::server(
                &step.session,
                nonces,
                step.peer_nonce,
            ))),
        }))
    }
}

impl fmt::Debug for CurveServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Start => "Start",
            State::AwaitHello { .. } => "AwaitHello",
            State::AwaitInitiate(_) => "AwaitInitiate",
            State::Authenticating(_) => "Authenticating",
            State::Done => "Done",
        };
        f.debug_struct("CurveServer")
            .field("public_key", self.keys.public())
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl Mechanism for CurveServer {
    fn name(&self) -> MechanismName {
        CURVE
    }

    fn is_server(&self) -> bool {
        true
    }

    fn start(&mut self, local: &Metadata, _out: &mut BytesMut) -> Result<Progress, MechanismError> {
        self.state = State::AwaitHello {
            local: moves::own_metadata(CURVE, local)?,
        };
        Ok(Progress::Continue)
    }

    fn on_command(
        &mut self,
        command: RawCommand,
        out: &mut BytesMut,
    ) -> Result<Progress, MechanismError> {
        match moves::take_state(&mut self.state, State::Done, CURVE, &command)? {
            State::AwaitHello { local } if command.is(b"HELLO") => {
                let next = self.welcome(local, &command.data, out)?;
                self.state = State::AwaitInitiate(next);
                Ok(Progress::Continue)
            }
            State::AwaitInitiate(step) if command.is(b"INITIATE") => {
                let (next, client_key) = self.check_initiate(step, &command.data)?;
                self.state = State::Authenticating(next);
                Ok(Progress::Authenticate(AuthRequest {
                    mechanism: CURVE,
                    credentials: Credentials::Curve {
                        public_key: client_key,
                    },
                }))
            }
            _ => Err(moves::unexpected(CURVE, &command)),
        }
    }

    fn on_auth_reply(
        &mut self,
        reply: AuthReply,
        out: &mut BytesMut,
    ) -> Result<Progress, MechanismError> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Authenticating(step) => Self::ready(step, reply, out),
            _ => Err(MechanismError::UnexpectedAuthReply { mechanism: CURVE }),
        }
    }
}
