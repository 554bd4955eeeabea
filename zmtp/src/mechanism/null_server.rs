//! NULL with an authenticator: the accepting side of a NULL handshake that
//! asks the application about its peer, as libzmq's NULL mechanism asks a
//! ZAP handler when one is installed.
//!
//! NULL carries no credentials, but the driver still knows who the peer is
//! from the transport (its address and, over TLS, its certificate). So this
//! server waits for the peer's READY, asks ([`Progress::Authenticate`] with
//! [`Credentials::None`]), and then answers READY, or ERROR with the status
//! (400, 500) or nothing (300), as RFC 27 and libzmq do. The peer runs
//! plain [`Null`](super::Null) and needs nothing special; without an
//! authenticator, both sides run [`Null`](super::Null).

use bytes::BytesMut;

use super::auth::{AuthReply, AuthRequest, Credentials};
use super::null::{NULL, send_ready};
use super::{Handshake, Mechanism, MechanismError, Progress, moves};
use crate::command::RawCommand;
use crate::greeting::MechanismName;
use crate::metadata::Metadata;

/// Where the handshake stands.
#[derive(Debug)]
enum State {
    /// Waiting for the peer's READY; holds our metadata to answer with.
    AwaitReady { local: Metadata },
    /// The authenticator is deciding.
    Authenticating { local: Metadata, peer: Metadata },
    /// Over, one way or the other.
    Done,
}

/// The accepting side of a NULL handshake that asks the application about
/// the peer before answering its READY.
///
/// ```
/// use zmtp::mechanism::{Mechanism, NullServer};
/// let server = NullServer::new();
/// // NULL has no roles on the wire: the greeting says as-server 0.
/// assert!(!server.is_server());
/// ```
#[derive(Debug)]
pub struct NullServer {
    state: State,
}

impl NullServer {
    /// A fresh handshake; it starts when the connection calls `start`.
    pub fn new() -> Self {
        NullServer { state: State::Done }
    }
}

impl Default for NullServer {
    fn default() -> Self {
        Self::new()
    }
}

impl Mechanism for NullServer {
    fn name(&self) -> MechanismName {
        NULL
    }

    fn start(&mut self, local: &Metadata, _out: &mut BytesMut) -> Result<Progress, MechanismError> {
        self.state = State::AwaitReady {
            local: local.clone(),
        };
        Ok(Progress::Continue)
    }

    fn on_command(
        &mut self,
        command: RawCommand,
        _out: &mut BytesMut,
    ) -> Result<Progress, MechanismError> {
        match moves::take_state(&mut self.state, State::Done, NULL, &command)? {
            State::AwaitReady { local } if command.is(b"READY") => {
                let peer = moves::peer_metadata(NULL, &command.data)?;
                self.state = State::Authenticating { local, peer };
                Ok(Progress::Authenticate(AuthRequest {
                    mechanism: NULL,
                    credentials: Credentials::None,
                }))
            }
            _ => Err(moves::unexpected(NULL, &command)),
        }
    }

    fn on_auth_reply(
        &mut self,
        reply: AuthReply,
        out: &mut BytesMut,
    ) -> Result<Progress, MechanismError> {
        let State::Authenticating { local, peer } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(MechanismError::UnexpectedAuthReply { mechanism: NULL });
        };
        moves::decide(NULL, &reply, out)?;
        send_ready(local, out)?;
        Ok(Progress::Complete(Handshake {
            peer_metadata: peer,
            user_id: (!reply.user_id.is_empty()).then_some(reply.user_id),
            auth_metadata: reply.metadata,
            cipher: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::mechanism::AuthStatus;
    use crate::socket_type::SocketType;

    fn raw(wire: &'static [u8]) -> RawCommand {
        RawCommand::decode(&Bytes::from_static(wire)).unwrap()
    }

    fn asked(server: &mut NullServer, out: &mut BytesMut) {
        let local = Metadata::for_socket(SocketType::Pull, &Bytes::new());
        assert!(matches!(server.start(&local, out), Ok(Progress::Continue)));
        assert!(out.is_empty(), "READY waits for the authenticator");
        let progress = server.on_command(raw(b"\x05READY\x0bSocket-Type\x00\x00\x00\x04PUSH"), out);
        let Ok(Progress::Authenticate(request)) = progress else {
            panic!("no authentication asked: {progress:?}")
        };
        assert_eq!(request.mechanism, MechanismName::NULL);
        assert_eq!(request.credentials, Credentials::None);
    }

    #[test]
    fn answers_ready_once_accepted() {
        let mut server = NullServer::new();
        let mut out = BytesMut::new();
        asked(&mut server, &mut out);
        let Ok(Progress::Complete(h)) =
            server.on_auth_reply(AuthReply::accept_as("node1"), &mut out)
        else {
            panic!("not complete")
        };
        assert_eq!(
            &out[..],
            b"\x04\x1a\x05READY\x0bSocket-Type\x00\x00\x00\x04PULL"
        );
        assert_eq!(h.user_id.as_deref(), Some(&b"node1"[..]));
        assert_eq!(h.peer_metadata.socket_type(), Ok(Some(SocketType::Push)));
    }

    #[test]
    fn refusals_send_error_or_nothing() {
        for (status, wire) in [
            (
                AuthStatus::AuthenticationFailure,
                &b"\x04\x0a\x05ERROR\x03400"[..],
            ),
            (AuthStatus::InternalError, b"\x04\x0a\x05ERROR\x03500"),
            (AuthStatus::TemporaryFailure, b""),
        ] {
            let mut server = NullServer::new();
            let mut out = BytesMut::new();
            asked(&mut server, &mut out);
            let e = server
                .on_auth_reply(AuthReply::with_status(status), &mut out)
                .unwrap_err();
            assert!(e.is_authentication_failure(), "{e}");
            assert_eq!(&out[..], wire);
        }
    }

    #[test]
    fn anything_but_ready_ends_it() {
        let mut server = NullServer::new();
        let mut out = BytesMut::new();
        server.start(&Metadata::new(), &mut out).unwrap();
        assert!(matches!(
            server.on_command(raw(b"\x05HELLO"), &mut out),
            Err(MechanismError::UnexpectedCommand { .. })
        ));
        let mut server = NullServer::new();
        server.start(&Metadata::new(), &mut out).unwrap();
        assert!(matches!(
            server.on_command(raw(b"\x05ERROR\x03400"), &mut out),
            Err(MechanismError::PeerError { .. })
        ));
        assert!(matches!(
            NullServer::new().on_auth_reply(AuthReply::accept(), &mut out),
            Err(MechanismError::UnexpectedAuthReply { .. })
        ));
    }
}
