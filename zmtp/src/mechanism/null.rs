//! The NULL mechanism: no authentication, no encryption.
//!
//! Both sides send READY with their metadata right after the greetings, and
//! neither waits for the other's first (libzmq behaves the same way). The
//! handshake is complete when the peer's READY arrives. An ERROR from the
//! peer, or any other command, ends it.

use bytes::BytesMut;

use super::{Handshake, Mechanism, MechanismError, Progress, moves};
use crate::command::{Command, RawCommand};
use crate::greeting::MechanismName;
use crate::metadata::Metadata;

pub(super) const NULL: MechanismName = MechanismName::NULL;

/// The NULL mechanism, one instance per connection. NULL has no roles; both
/// sides behave alike and announce as-server 0.
#[derive(Debug, Default)]
pub struct Null {
    ready_sent: bool,
}

impl Null {
    /// A fresh NULL handshake.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Mechanism for Null {
    fn name(&self) -> MechanismName {
        NULL
    }

    fn start(&mut self, local: &Metadata, out: &mut BytesMut) -> Result<Progress, MechanismError> {
        send_ready(local.clone(), out)?;
        self.ready_sent = true;
        Ok(Progress::Continue)
    }

    fn on_command(
        &mut self,
        command: RawCommand,
        _out: &mut BytesMut,
    ) -> Result<Progress, MechanismError> {
        if command.is(b"ERROR") {
            return Err(moves::refusal(NULL, &command));
        }
        if !(self.ready_sent && command.is(b"READY")) {
            return Err(moves::unexpected(NULL, &command));
        }
        Ok(Progress::Complete(Handshake {
            peer_metadata: moves::peer_metadata(NULL, &command.data)?,
            user_id: None,
            auth_metadata: Metadata::new(),
            cipher: None,
        }))
    }
}

/// Appends READY with our metadata: all NULL ever says.
pub(super) fn send_ready(local: Metadata, out: &mut BytesMut) -> Result<(), MechanismError> {
    Command::Ready(local)
        .encode(out)
        .map_err(|source| MechanismError::LocalMetadata {
            mechanism: NULL,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SocketType;
    use bytes::Bytes;

    fn raw(wire: &'static [u8]) -> RawCommand {
        RawCommand::decode(&Bytes::from_static(wire)).unwrap()
    }

    #[test]
    fn sends_ready_then_completes_on_peer_ready() {
        let mut null = Null::new();
        let mut out = BytesMut::new();
        let local = Metadata::for_socket(SocketType::Sub, &Bytes::new());
        assert!(matches!(
            null.start(&local, &mut out).unwrap(),
            Progress::Continue
        ));
        assert_eq!(
            &out[..],
            b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03SUB"
        );
        let Progress::Complete(h) = null
            .on_command(
                raw(b"\x05READY\x0bSocket-Type\x00\x00\x00\x03PUB"),
                &mut out,
            )
            .unwrap()
        else {
            panic!("not complete")
        };
        assert_eq!(h.peer_metadata.socket_type(), Ok(Some(SocketType::Pub)));
        assert!(h.cipher.is_none());
    }

    #[test]
    fn error_and_strangers_end_the_handshake() {
        let mut out = BytesMut::new();
        let mut null = Null::new();
        null.start(&Metadata::new(), &mut out).unwrap();
        assert_eq!(
            null.on_command(raw(b"\x05ERROR\x03400"), &mut out)
                .unwrap_err(),
            MechanismError::PeerError {
                mechanism: MechanismName::NULL,
                reason: "400".into()
            }
        );
        assert!(matches!(
            null.on_command(raw(b"\x05HELLO"), &mut out),
            Err(MechanismError::UnexpectedCommand { .. })
        ));
        assert!(matches!(
            null.on_command(raw(b"\x05READY\x01"), &mut out),
            Err(MechanismError::Malformed { .. })
        ));
    }
}
