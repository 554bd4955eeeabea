//! The moves every mechanism's handshake makes alike.
//!
//! NULL, PLAIN and CURVE differ in what they exchange, not in how a step
//! begins and ends: a step takes the handshake's state (leaving it finished,
//! so a step that fails leaves nothing to resume), a peer's ERROR ends the
//! handshake at any step, a command with no place at this step is refused,
//! our own metadata is checked before it is announced, and a server answers
//! its authenticator's refusal the same way whichever mechanism asked. Each
//! mechanism file keeps only what is its own.

use bytes::{Bytes, BytesMut};

use super::MechanismError;
use super::auth::AuthReply;
use crate::command::{Command, CommandError, RawCommand};
use crate::greeting::MechanismName;
use crate::metadata::{Metadata, MetadataError};

/// Takes a handshake's state to handle one command, leaving `done` behind.
/// A peer's ERROR ends the handshake whatever the state.
pub(super) fn take_state<S>(
    state: &mut S,
    done: S,
    mechanism: MechanismName,
    command: &RawCommand,
) -> Result<S, MechanismError> {
    let state = std::mem::replace(state, done);
    if command.is(b"ERROR") {
        return Err(refusal(mechanism, command));
    }
    Ok(state)
}

/// What a peer's ERROR says. An ERROR is a refusal whatever its shape, so
/// an unreadable one is still an authentication failure.
pub(super) fn refusal(mechanism: MechanismName, command: &RawCommand) -> MechanismError {
    match Command::from_raw(command.clone()) {
        Ok(Command::Error { reason }) => MechanismError::PeerError {
            mechanism,
            reason: String::from_utf8_lossy(&reason).into_owned(),
        },
        _ => MechanismError::AuthenticationFailed {
            mechanism,
            detail: "malformed ERROR".into(),
        },
    }
}

/// A command that has no place at this step.
pub(super) fn unexpected(mechanism: MechanismName, command: &RawCommand) -> MechanismError {
    MechanismError::UnexpectedCommand {
        mechanism,
        name: command.name_lossy(),
    }
}

/// A command that could not be read.
pub(super) fn malformed(mechanism: MechanismName, source: CommandError) -> MechanismError {
    MechanismError::Malformed { mechanism, source }
}

/// Received metadata (READY, INITIATE) that could not be read.
pub(super) fn peer_metadata(
    mechanism: MechanismName,
    data: &Bytes,
) -> Result<Metadata, MechanismError> {
    Metadata::decode(data).map_err(|e| malformed(mechanism, CommandError::Metadata(e)))
}

/// Our own metadata that cannot be announced.
pub(super) fn local_metadata(mechanism: MechanismName, e: MetadataError) -> MechanismError {
    MechanismError::LocalMetadata {
        mechanism,
        source: CommandError::Metadata(e),
    }
}

/// Our own metadata, checked now so that a bad property fails the start of
/// the handshake rather than a later step.
pub(super) fn own_metadata(
    mechanism: MechanismName,
    local: &Metadata,
) -> Result<Metadata, MechanismError> {
    local.validate().map_err(|e| local_metadata(mechanism, e))?;
    Ok(local.clone())
}

/// Appends our own metadata as a property list (the inside of READY or
/// INITIATE, boxed or not).
pub(super) fn encode_own_metadata(
    mechanism: MechanismName,
    local: &Metadata,
    out: &mut BytesMut,
) -> Result<(), MechanismError> {
    local.validate().map_err(|e| local_metadata(mechanism, e))?;
    local.encode(out).map_err(|e| local_metadata(mechanism, e))
}

/// A server's answer to its authenticator's decision: nothing on success;
/// otherwise the ERROR the status calls for goes into `out` and the
/// handshake ends as rejected.
pub(super) fn decide(
    mechanism: MechanismName,
    reply: &AuthReply,
    out: &mut BytesMut,
) -> Result<(), MechanismError> {
    reply
        .refuse_unless_success(out)
        .map_err(|status| MechanismError::Rejected { mechanism, status })
}
