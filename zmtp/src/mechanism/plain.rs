//! The PLAIN mechanism (RFC 24): a username and password in clear text.
//!
//! ```text
//!   client                               server
//!   HELLO  username password   ───▶      asks the application (AuthRequest)
//!                              ◀───      WELCOME            (status 200)
//!   INITIATE metadata          ───▶
//!                              ◀───      READY metadata     (handshake done)
//! ```
//!
//! On status 400 or 500 the server sends ERROR with the status as reason and
//! closes; on 300 it closes without a word. The client is done when READY
//! arrives. Wire facts (docs/protocol-notes.md, "PLAIN"): WELCOME is exactly
//! `07 WELCOME` (8 bytes), HELLO must be exactly as long as its two fields say, and the
//! libzmq PLAIN server spells its ERROR wrong (`5e 52 52 4f 52 03 34 30 30`),
//! so a client reads any undecodable command during the handshake as a
//! refusal.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use nom::Parser;
use nom::multi::length_data;
use nom::number::complete::be_u8;
use zeroize::Zeroizing;

use super::auth::{AuthReply, AuthRequest, Credentials};
use super::{Handshake, Mechanism, MechanismError, Progress, moves};
use crate::command::{CommandError, RawCommand};
use crate::frame::FrameHeader;
use crate::greeting::MechanismName;
use crate::metadata::Metadata;
use crate::secret::Secret;

const PLAIN: MechanismName = MechanismName::PLAIN;

/// The body of every WELCOME: the name alone.
const WELCOME: &[u8] = b"\x07WELCOME";

/// The body prefix of libzmq's misspelt ERROR: `"\x05ERROR"` in C, where
/// the hex escape swallows the `E`.
const LIBZMQ_BROKEN_ERROR: &[u8] = b"\x5eRROR";

/// The client side: sends HELLO with credentials, then INITIATE.
pub struct PlainClient {
    username: Bytes,
    password: Zeroizing<Vec<u8>>,
    state: ClientState,
}

#[derive(Debug)]
enum ClientState {
    /// Before the greetings agree.
    Start,
    /// HELLO is out; INITIATE will carry this metadata.
    AwaitWelcome { local: Metadata },
    /// INITIATE is out.
    AwaitReady,
    /// READY arrived, or the handshake failed.
    Done,
}

impl PlainClient {
    /// A client presenting these credentials, each at most 255 bytes.
    ///
    /// ```
    /// let client = zmtp::PlainClient::new("admin", "secret").unwrap();
    /// assert!(zmtp::PlainClient::new(vec![b'x'; 256], "").is_err());
    /// # drop(client);
    /// ```
    pub fn new(
        username: impl Into<Bytes>,
        password: impl AsRef<[u8]>,
    ) -> Result<Self, CommandError> {
        let username = username.into();
        let password = Zeroizing::new(password.as_ref().to_vec());
        for (field, len) in [("username", username.len()), ("password", password.len())] {
            if len > 255 {
                return Err(CommandError::TooLong {
                    name: "HELLO",
                    field,
                    len,
                    max: 255,
                });
            }
        }
        Ok(PlainClient {
            username,
            password,
            state: ClientState::Start,
        })
    }

    /// The username this client presents.
    pub fn username(&self) -> &Bytes {
        &self.username
    }
}

impl fmt::Debug for PlainClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainClient")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("state", &self.state)
            .finish()
    }
}

impl Mechanism for PlainClient {
    fn name(&self) -> MechanismName {
        PLAIN
    }

    fn start(&mut self, local: &Metadata, out: &mut BytesMut) -> Result<Progress, MechanismError> {
        let local = moves::own_metadata(PLAIN, local)?;
        // Both fields were checked against 255 in `new`.
        let len = 6 + 1 + self.username.len() + 1 + self.password.len();
        FrameHeader::encode(false, true, len, out);
        out.put_slice(b"\x05HELLO");
        out.put_u8(self.username.len() as u8);
        out.put_slice(&self.username);
        out.put_u8(self.password.len() as u8);
        out.put_slice(&self.password);
        self.state = ClientState::AwaitWelcome { local };
        Ok(Progress::Continue)
    }

    fn on_command(
        &mut self,
        command: RawCommand,
        out: &mut BytesMut,
    ) -> Result<Progress, MechanismError> {
        match moves::take_state(&mut self.state, ClientState::Done, PLAIN, &command)? {
            ClientState::AwaitWelcome { local } if command.is(b"WELCOME") => {
                if !command.data.is_empty() {
                    return Err(malformed("WELCOME", "WELCOME carries no data"));
                }
                write_metadata_command(b"INITIATE", &local, out)?;
                self.state = ClientState::AwaitReady;
                Ok(Progress::Continue)
            }
            ClientState::AwaitReady if command.is(b"READY") => {
                let peer_metadata = moves::peer_metadata(PLAIN, &command.data)?;
                Ok(Progress::Complete(Handshake {
                    peer_metadata,
                    user_id: None,
                    auth_metadata: Metadata::new(),
                    cipher: None,
                }))
            }
            _ => Err(moves::unexpected(PLAIN, &command)),
        }
    }

    fn on_undecodable(&mut self, body: &Bytes, source: CommandError) -> MechanismError {
        self.state = ClientState::Done;
        if let Some(reason) = libzmq_broken_error(body) {
            return MechanismError::PeerError {
                mechanism: PLAIN,
                reason,
            };
        }
        MechanismError::AuthenticationFailed {
            mechanism: PLAIN,
            detail: format!("undecodable reply to HELLO: {source}"),
        }
    }
}

/// The server side: reads HELLO, asks the application, answers.
#[derive(Debug)]
pub struct PlainServer {
    state: ServerState,
}

enum ServerState {
    /// Before the greetings agree.
    Start,
    /// Waiting for HELLO; READY will carry this metadata.
    AwaitHello { local: Metadata },
    /// HELLO read; the application is deciding.
    Authenticating { local: Metadata },
    /// WELCOME is out; waiting for INITIATE.
    AwaitInitiate { local: Metadata, reply: AuthReply },
    /// READY is out, or the handshake failed.
    Done,
}

impl fmt::Debug for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerState::Start => "Start",
            ServerState::AwaitHello { .. } => "AwaitHello",
            ServerState::Authenticating { .. } => "Authenticating",
            ServerState::AwaitInitiate { .. } => "AwaitInitiate",
            ServerState::Done => "Done",
        })
    }
}

impl PlainServer {
    /// A fresh PLAIN server handshake. It asks the application about every
    /// client through [`Progress::Authenticate`].
    pub fn new() -> Self {
        PlainServer {
            state: ServerState::Start,
        }
    }
}

impl Default for PlainServer {
    fn default() -> Self {
        Self::new()
    }
}

impl Mechanism for PlainServer {
    fn name(&self) -> MechanismName {
        PLAIN
    }

    fn is_server(&self) -> bool {
        true
    }

    fn start(&mut self, local: &Metadata, _out: &mut BytesMut) -> Result<Progress, MechanismError> {
        self.state = ServerState::AwaitHello {
            local: moves::own_metadata(PLAIN, local)?,
        };
        Ok(Progress::Continue)
    }

    fn on_command(
        &mut self,
        command: RawCommand,
        out: &mut BytesMut,
    ) -> Result<Progress, MechanismError> {
        match moves::take_state(&mut self.state, ServerState::Done, PLAIN, &command)? {
            ServerState::AwaitHello { local } if command.is(b"HELLO") => {
                let (username, password) = parse_hello(&command.data)?;
                self.state = ServerState::Authenticating { local };
                Ok(Progress::Authenticate(AuthRequest {
                    mechanism: PLAIN,
                    credentials: Credentials::Plain { username, password },
                }))
            }
            ServerState::AwaitInitiate { local, reply } if command.is(b"INITIATE") => {
                let peer_metadata = moves::peer_metadata(PLAIN, &command.data)?;
                write_metadata_command(b"READY", &local, out)?;
                Ok(Progress::Complete(Handshake {
                    peer_metadata,
                    user_id: (!reply.user_id.is_empty()).then_some(reply.user_id),
                    auth_metadata: reply.metadata,
                    cipher: None,
                }))
            }
            _ => Err(moves::unexpected(PLAIN, &command)),
        }
    }

    fn on_auth_reply(
        &mut self,
        reply: AuthReply,
        out: &mut BytesMut,
    ) -> Result<Progress, MechanismError> {
        let ServerState::Authenticating { local } =
            std::mem::replace(&mut self.state, ServerState::Done)
        else {
            return Err(MechanismError::UnexpectedAuthReply { mechanism: PLAIN });
        };
        moves::decide(PLAIN, &reply, out)?;
        out.put_slice(&[0x04, WELCOME.len() as u8]);
        out.put_slice(WELCOME);
        self.state = ServerState::AwaitInitiate { local, reply };
        Ok(Progress::Continue)
    }
}

/// Splits HELLO's data into username and password, refusing stray bytes.
/// Both are copies: nothing keeps the frame alive, so the connection can
/// wipe it.
fn parse_hello(data: &Bytes) -> Result<(Bytes, Secret), MechanismError> {
    let parsed: nom::IResult<&[u8], (&[u8], &[u8])> =
        (length_data(be_u8), length_data(be_u8)).parse(&data[..]);
    match parsed {
        Ok(([], (username, password))) => {
            Ok((Bytes::copy_from_slice(username), Secret::new(password)))
        }
        Ok(_) => Err(malformed("HELLO", "bytes after the password")),
        Err(_) => Err(malformed("HELLO", "truncated username or password")),
    }
}

/// Appends a command frame whose data is a property list (INITIATE, READY).
fn write_metadata_command(
    name: &'static [u8],
    metadata: &Metadata,
    out: &mut BytesMut,
) -> Result<(), MechanismError> {
    metadata
        .validate()
        .map_err(|e| moves::local_metadata(PLAIN, e))?;
    FrameHeader::encode(false, true, 1 + name.len() + metadata.encoded_len(), out);
    out.put_u8(name.len() as u8);
    out.put_slice(name);
    metadata
        .encode(out)
        .map_err(|e| moves::local_metadata(PLAIN, e))
}

/// The reason of libzmq's misspelt ERROR, if `body` is one.
fn libzmq_broken_error(body: &Bytes) -> Option<String> {
    let rest = body.strip_prefix(LIBZMQ_BROKEN_ERROR)?;
    let (&len, reason) = rest.split_first()?;
    (reason.len() == usize::from(len)).then(|| String::from_utf8_lossy(reason).into_owned())
}

fn malformed(name: &'static str, reason: &'static str) -> MechanismError {
    moves::malformed(PLAIN, CommandError::Malformed { name, reason })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn hello_fields_are_copies_so_the_frame_can_be_wiped() {
        let data = Bytes::from_static(b"\x05admin\x06secret");
        let (username, password) = parse_hello(&data).unwrap();
        assert_eq!(
            (&username[..], password.expose()),
            (&b"admin"[..], &b"secret"[..])
        );
        // Neither keeps the frame alive: the username owns its bytes.
        assert!(username.try_into_mut().is_ok());
    }
    use crate::event::{CloseReason, Event};
    use crate::mechanism::AuthStatus;
    use crate::testing::{Pair, frame_bodies};
    use crate::{Config, Connection, Message, SocketType};
    use proptest::prelude::*;

    fn raw(wire: &[u8]) -> RawCommand {
        RawCommand::decode(&Bytes::copy_from_slice(wire)).unwrap()
    }

    fn req_metadata() -> Metadata {
        Metadata::for_socket(SocketType::Req, &Bytes::new())
    }

    #[test]
    fn client_bytes_match_libzmq_capture() {
        // A libzmq REQ client with user=admin pass=secret, captured
        // (docs/protocol-notes.md, "PLAIN").
        let mut client = PlainClient::new("admin", "secret").unwrap();
        let mut out = BytesMut::new();
        client.start(&req_metadata(), &mut out).unwrap();
        assert_eq!(&out[..], b"\x04\x13\x05HELLO\x05admin\x06secret", "HELLO");
        out.clear();
        let progress = client.on_command(raw(WELCOME), &mut out).unwrap();
        assert!(matches!(progress, Progress::Continue));
        assert_eq!(
            &out[..],
            &b"\x04\x29\x08INITIATE\x0bSocket-Type\x00\x00\x00\x03REQ\x08Identity\x00\x00\x00\x00"
                [..]
        );
        out.clear();
        let Progress::Complete(h) = client
            .on_command(
                raw(b"\x05READY\x0bSocket-Type\x00\x00\x00\x03REP"),
                &mut out,
            )
            .unwrap()
        else {
            panic!("not complete")
        };
        assert_eq!(h.peer_metadata.socket_type(), Ok(Some(SocketType::Rep)));
        assert!(h.cipher.is_none() && out.is_empty());
    }

    #[test]
    fn client_reads_libzmq_broken_error_as_refusal() {
        let mut client = PlainClient::new("admin", "wrong").unwrap();
        let mut out = BytesMut::new();
        client.start(&req_metadata(), &mut out).unwrap();
        // The libzmq server's ERROR 400, frame `04 09 5e 52 52 4f 52 03 34 30 30`.
        let body = Bytes::from_static(b"\x5eRROR\x03400");
        let source = RawCommand::decode(&body).unwrap_err();
        let err = client.on_undecodable(&body, source.clone());
        assert_eq!(
            err,
            MechanismError::PeerError {
                mechanism: PLAIN,
                reason: "400".into()
            }
        );
        assert!(err.is_authentication_failure());
        // Anything else undecodable is a failure too.
        let other = Bytes::from_static(b"\x30abc");
        let err = client.on_undecodable(&other, source);
        assert!(matches!(err, MechanismError::AuthenticationFailed { .. }));
        assert!(err.is_authentication_failure());
    }

    #[test]
    fn client_refuses_odd_replies() {
        let mut out = BytesMut::new();
        let mut client = PlainClient::new("", "").unwrap();
        client.start(&Metadata::new(), &mut out).unwrap();
        assert_eq!(&out[..], b"\x04\x08\x05HELLO\x00\x00");
        assert!(matches!(
            client.on_command(raw(b"\x07WELCOMEx"), &mut out),
            Err(MechanismError::Malformed { .. })
        ));

        let mut client = PlainClient::new("", "").unwrap();
        client.start(&Metadata::new(), &mut out).unwrap();
        assert!(matches!(
            client.on_command(raw(b"\x05READY"), &mut out),
            Err(MechanismError::UnexpectedCommand { .. })
        ));

        let mut client = PlainClient::new("", "").unwrap();
        client.start(&Metadata::new(), &mut out).unwrap();
        assert_eq!(
            client
                .on_command(raw(b"\x05ERROR\x03400"), &mut out)
                .unwrap_err(),
            MechanismError::PeerError {
                mechanism: PLAIN,
                reason: "400".into()
            }
        );

        let mut client = PlainClient::new("", "").unwrap();
        client.start(&Metadata::new(), &mut out).unwrap();
        assert!(matches!(
            client.on_command(raw(b"\x05ERROR\x09400"), &mut out),
            Err(MechanismError::AuthenticationFailed { .. })
        ));
    }

    #[test]
    fn server_asks_then_welcomes_then_readies() {
        let mut server = PlainServer::new();
        let mut out = BytesMut::new();
        let rep = Metadata::for_socket(SocketType::Rep, &Bytes::new());
        server.start(&rep, &mut out).unwrap();
        assert!(out.is_empty());
        let Progress::Authenticate(request) = server
            .on_command(raw(b"\x05HELLO\x05admin\x06secret"), &mut out)
            .unwrap()
        else {
            panic!("no request")
        };
        assert_eq!(request.mechanism, PLAIN);
        assert_eq!(request.zap_credentials(), [&b"admin"[..], &b"secret"[..]]);
        assert!(out.is_empty(), "nothing before the decision");
        server
            .on_auth_reply(AuthReply::accept_as("admin-user"), &mut out)
            .unwrap();
        assert_eq!(&out[..], b"\x04\x08\x07WELCOME");
        out.clear();
        let Progress::Complete(h) = server
            .on_command(
                raw(b"\x08INITIATE\x0bSocket-Type\x00\x00\x00\x03REQ\x08Identity\x00\x00\x00\x00"),
                &mut out,
            )
            .unwrap()
        else {
            panic!("not complete")
        };
        assert_eq!(
            &out[..],
            b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03REP"
        );
        assert_eq!(h.user_id.as_deref(), Some(&b"admin-user"[..]));
        assert_eq!(h.peer_metadata.socket_type(), Ok(Some(SocketType::Req)));
    }

    #[test]
    fn server_refusals() {
        for (status, wire) in [
            (AuthStatus::TemporaryFailure, &b""[..]),
            (
                AuthStatus::AuthenticationFailure,
                b"\x04\x0a\x05ERROR\x03400",
            ),
            (AuthStatus::InternalError, b"\x04\x0a\x05ERROR\x03500"),
        ] {
            let mut server = PlainServer::new();
            let mut out = BytesMut::new();
            server.start(&Metadata::new(), &mut out).unwrap();
            server
                .on_command(raw(b"\x05HELLO\x00\x00"), &mut out)
                .unwrap();
            let err = server
                .on_auth_reply(AuthReply::with_status(status), &mut out)
                .unwrap_err();
            assert_eq!(
                err,
                MechanismError::Rejected {
                    mechanism: PLAIN,
                    status
                }
            );
            assert_eq!(&out[..], wire, "{status}");
        }
    }

    #[test]
    fn server_refuses_bad_hello_and_strangers() {
        for hello in [
            &b"\x05HELLO"[..],
            b"\x05HELLO\x05adm",
            b"\x05HELLO\x00\x00\x00",
            b"\x05HELLO\x01a\x02b",
        ] {
            let mut server = PlainServer::new();
            let mut out = BytesMut::new();
            server.start(&Metadata::new(), &mut out).unwrap();
            assert!(
                matches!(
                    server.on_command(raw(hello), &mut out),
                    Err(MechanismError::Malformed { .. })
                ),
                "{hello:?}"
            );
        }
        let mut server = PlainServer::new();
        let mut out = BytesMut::new();
        server.start(&Metadata::new(), &mut out).unwrap();
        assert!(matches!(
            server.on_command(raw(b"\x08INITIATE"), &mut out),
            Err(MechanismError::UnexpectedCommand { .. })
        ));
        // No reply was asked for.
        assert!(matches!(
            PlainServer::new().on_auth_reply(AuthReply::accept(), &mut out),
            Err(MechanismError::UnexpectedAuthReply { .. })
        ));
    }

    fn plain_pair(client_type: SocketType, server_type: SocketType) -> Pair {
        let now = Instant::now();
        Pair::new(
            Connection::new(
                Config::new(client_type),
                Box::new(PlainClient::new("admin", "secret").unwrap()),
                now,
            ),
            Connection::new(Config::new(server_type), Box::new(PlainServer::new()), now),
        )
    }

    #[test]
    fn connections_handshake_and_talk() {
        let mut pair = plain_pair(SocketType::Sub, SocketType::Pub);
        pair.shuttle();
        let request = pair.server_auth_request().expect("request");
        assert_eq!(
            request.credentials,
            Credentials::Plain {
                username: Bytes::from_static(b"admin"),
                password: Secret::new("secret")
            }
        );
        assert!(pair.server.state() == crate::State::Handshake);
        let mut reply = AuthReply::accept_as("alice");
        reply.metadata.push("X-Role", "reader");
        pair.server.authenticate(reply, Instant::now()).unwrap();
        pair.shuttle();
        let (client_info, server_info) = pair.handshakes();
        assert_eq!(client_info.socket_type, Some(SocketType::Pub));
        assert_eq!(server_info.user_id.as_deref(), Some(&b"alice"[..]));
        assert_eq!(
            server_info.auth_metadata.get("X-Role").map(|v| &v[..]),
            Some(&b"reader"[..])
        );

        // The 3.1 command path and multipart data, in clear.
        pair.client.send_subscribe(b"topic").unwrap();
        pair.shuttle();
        assert!(
            matches!(pair.server.poll_event(), Some(Event::Subscribe(t)) if &t[..] == b"topic")
        );
        let message: Message = [&b"a"[..], b"bc"].into_iter().collect();
        pair.server.send(&message).unwrap();
        let wire = pair.server_wire();
        assert_eq!(frame_bodies(&wire), [&b"a"[..], b"bc"]);
        pair.deliver_to_client(wire);
        assert!(matches!(pair.client.poll_event(), Some(Event::Message(m)) if m == message));
    }

    #[test]
    fn connection_refusal_sends_error_and_client_stops() {
        let mut pair = plain_pair(SocketType::Req, SocketType::Rep);
        pair.shuttle();
        assert!(pair.server_auth_request().is_some());
        // A second reply, or one before any request, is refused.
        pair.server
            .authenticate(AuthReply::deny(), Instant::now())
            .unwrap();
        assert!(
            pair.server
                .authenticate(AuthReply::deny(), Instant::now())
                .is_err()
        );
        pair.shuttle();
        let Some(Event::Closed(server_reason)) = pair.server.poll_event() else {
            panic!("server still open")
        };
        assert!(matches!(
            server_reason,
            CloseReason::Mechanism(MechanismError::Rejected {
                status: AuthStatus::AuthenticationFailure,
                ..
            })
        ));
        let Some(Event::Closed(CloseReason::Mechanism(e))) = pair.client.poll_event() else {
            panic!("client still open")
        };
        assert!(e.is_authentication_failure(), "{e}");
    }

    #[test]
    fn connection_client_against_libzmq_broken_error() {
        let now = Instant::now();
        let mut client = Connection::new(
            Config::new(SocketType::Req),
            Box::new(PlainClient::new("a", "b").unwrap()),
            now,
        );
        let mut wire = BytesMut::new();
        crate::Greeting::new(MechanismName::PLAIN, true).encode(&mut wire);
        wire.extend_from_slice(b"\x04\x09\x5eRROR\x03400");
        client.handle_input(&mut wire, now);
        let Some(Event::Closed(CloseReason::Mechanism(e))) = client.poll_event() else {
            panic!("client still open")
        };
        assert!(e.is_authentication_failure(), "{e}");
    }

    proptest! {
        #[test]
        fn arbitrary_commands_never_panic(
            bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..6),
            accept in any::<bool>(),
        ) {
            let mut client = PlainClient::new("u", "p").unwrap();
            let mut server = PlainServer::new();
            let mut out = BytesMut::new();
            client.start(&req_metadata(), &mut out).unwrap();
            server.start(&req_metadata(), &mut out).unwrap();
            for body in bodies {
                let body = Bytes::from(body);
                for side in [&mut client as &mut dyn Mechanism, &mut server] {
                    let progress = match RawCommand::decode(&body) {
                        Ok(c) => side.on_command(c, &mut out),
                        Err(e) => Err(side.on_undecodable(&body, e)),
                    };
                    if let Ok(Progress::Authenticate(_)) = progress {
                        let reply = if accept { AuthReply::accept() } else { AuthReply::deny() };
                        let _ = side.on_auth_reply(reply, &mut out);
                    }
                }
            }
        }

        #[test]
        fn hello_round_trip(user in proptest::collection::vec(any::<u8>(), 0..=255),
                            pass in proptest::collection::vec(any::<u8>(), 0..=255)) {
            let mut client = PlainClient::new(user.clone(), &pass).unwrap();
            let mut out = BytesMut::new();
            client.start(&Metadata::new(), &mut out).unwrap();
            let body = frame_bodies(&out)[0].clone();
            let mut server = PlainServer::new();
            server.start(&Metadata::new(), &mut BytesMut::new()).unwrap();
            let Ok(Progress::Authenticate(request)) =
                server.on_command(RawCommand::decode(&body).unwrap(), &mut out)
            else {
                return Err(TestCaseError::fail("no request"));
            };
            prop_assert_eq!(request.zap_credentials(), [Bytes::from(user), Bytes::from(pass)]);
        }
    }
}
