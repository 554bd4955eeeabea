//! The cluster's message types, with the codes the old RemoteSerializer
//! protocol gave them (Bro 2.6 `RemoteSerializer.h`).
//!
//! Codes travel unchanged so tools and captures from the old protocol read
//! the same. Parent-to-child control codes (CONNECT_TO, LISTEN, ...) had no
//! meaning between peers; they are kept so a code is never reused, but the
//! bridge refuses to carry them, like the unused gap 0x1a to 0x1f and the
//! internal sentinel 0x00.

use std::fmt;

use thiserror::Error;

/// A cluster message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    /// Protocol version, cache size, data format, uptime.
    Version = 0x01,
    /// One serialization: event, ID, state access, connection, timer, packet.
    Serial = 0x02,
    /// Close this peer / the peer went away.
    Close = 0x03,
    /// Close every peer (local control).
    CloseAll = 0x04,
    /// An error string.
    Error = 0x05,
    /// Connect to a peer (local control).
    ConnectTo = 0x06,
    /// A connection was established (local control).
    Connected = 0x07,
    /// Names of the events the sender wants.
    RequestEvents = 0x08,
    /// Start listening (local control).
    Listen = 0x09,
    /// Stop listening (local control).
    ListenStop = 0x0a,
    /// Per-peer statistics (local control).
    Stats = 0x0b,
    /// A BPF capture filter.
    CaptureFilter = 0x0c,
    /// Ask for a state sync.
    RequestSync = 0x0d,
    /// End of the handshake or sync phase.
    PhaseDone = 0x0e,
    /// Script-level ping.
    Ping = 0x0f,
    /// Script-level pong.
    Pong = 0x10,
    /// Capability flags.
    Caps = 0x11,
    /// Turn on compression.
    Compress = 0x12,
    /// A log line (local control).
    Log = 0x13,
    /// A sync point for pseudo-realtime replay.
    SyncPoint = 0x14,
    /// Graceful drain and shutdown.
    Terminate = 0x15,
    /// Debug dump (local control).
    DebugDump = 0x16,
    /// Remote print buffer.
    RemotePrint = 0x17,
    /// Create a log writer.
    LogCreateWriter = 0x18,
    /// A batch of log records.
    LogWrite = 0x19,
    /// Ask for every log writer.
    RequestLogs = 0x20,
}

/// A code that is not a message type the bridge carries between peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MessageTypeError {
    /// Not a message type at all (0x00, the gap 0x1a-0x1f, above 0x20).
    #[error("unknown cluster message type {0:#04x}")]
    Unknown(u8),
    /// A parent-to-child control code with no meaning between peers.
    #[error("cluster message type {0} is local control, not carried between peers")]
    LocalOnly(MessageType),
}

impl MessageType {
    /// Every type, in code order.
    pub const ALL: [MessageType; 26] = [
        MessageType::Version,
        MessageType::Serial,
        MessageType::Close,
        MessageType::CloseAll,
        MessageType::Error,
        MessageType::ConnectTo,
        MessageType::Connected,
        MessageType::RequestEvents,
        MessageType::Listen,
        MessageType::ListenStop,
        MessageType::Stats,
        MessageType::CaptureFilter,
        MessageType::RequestSync,
        MessageType::PhaseDone,
        MessageType::Ping,
        MessageType::Pong,
        MessageType::Caps,
        MessageType::Compress,
        MessageType::Log,
        MessageType::SyncPoint,
        MessageType::Terminate,
        MessageType::DebugDump,
        MessageType::RemotePrint,
        MessageType::LogCreateWriter,
        MessageType::LogWrite,
        MessageType::RequestLogs,
    ];

    /// The wire code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The type with this code, whatever its direction.
    pub fn from_code(code: u8) -> Result<Self, MessageTypeError> {
        Self::ALL
            .into_iter()
            .find(|t| t.code() == code)
            .ok_or(MessageTypeError::Unknown(code))
    }

    /// The type with this code, if peers exchange it.
    pub fn peer_from_code(code: u8) -> Result<Self, MessageTypeError> {
        let t = Self::from_code(code)?;
        if t.is_peer_message() {
            Ok(t)
        } else {
            Err(MessageTypeError::LocalOnly(t))
        }
    }

    /// Whether this type crosses between peers (rather than being a
    /// control message between a node's own processes).
    pub const fn is_peer_message(self) -> bool {
        !matches!(
            self,
            MessageType::CloseAll
                | MessageType::Error
                | MessageType::ConnectTo
                | MessageType::Connected
                | MessageType::Listen
                | MessageType::ListenStop
                | MessageType::Stats
                | MessageType::Log
                | MessageType::DebugDump
        )
    }

    /// The historical name, `MSG_` prefix dropped.
    pub const fn name(self) -> &'static str {
        match self {
            MessageType::Version => "VERSION",
            MessageType::Serial => "SERIAL",
            MessageType::Close => "CLOSE",
            MessageType::CloseAll => "CLOSE_ALL",
            MessageType::Error => "ERROR",
            MessageType::ConnectTo => "CONNECT_TO",
            MessageType::Connected => "CONNECTED",
            MessageType::RequestEvents => "REQUEST_EVENTS",
            MessageType::Listen => "LISTEN",
            MessageType::ListenStop => "LISTEN_STOP",
            MessageType::Stats => "STATS",
            MessageType::CaptureFilter => "CAPTURE_FILTER",
            MessageType::RequestSync => "REQUEST_SYNC",
            MessageType::PhaseDone => "PHASE_DONE",
            MessageType::Ping => "PING",
            MessageType::Pong => "PONG",
            MessageType::Caps => "CAPS",
            MessageType::Compress => "COMPRESS",
            MessageType::Log => "LOG",
            MessageType::SyncPoint => "SYNC_POINT",
            MessageType::Terminate => "TERMINATE",
            MessageType::DebugDump => "DEBUG_DUMP",
            MessageType::RemotePrint => "REMOTE_PRINT",
            MessageType::LogCreateWriter => "LOG_CREATE_WRITER",
            MessageType::LogWrite => "LOG_WRITE",
            MessageType::RequestLogs => "REQUEST_LOGS",
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:#04x})", self.name(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn historical_codes() {
        assert_eq!(MessageType::Version.code(), 0x01);
        assert_eq!(MessageType::Serial.code(), 0x02);
        assert_eq!(MessageType::LogWrite.code(), 0x19);
        assert_eq!(MessageType::RequestLogs.code(), 0x20);
        for t in MessageType::ALL {
            assert_eq!(MessageType::from_code(t.code()), Ok(t));
        }
    }

    #[test]
    fn unknown_and_local_codes_are_refused() {
        for code in [0x00, 0x1a, 0x1f, 0x21, 0xff] {
            assert_eq!(
                MessageType::from_code(code),
                Err(MessageTypeError::Unknown(code))
            );
        }
        assert_eq!(
            MessageType::peer_from_code(0x06),
            Err(MessageTypeError::LocalOnly(MessageType::ConnectTo))
        );
        assert_eq!(MessageType::peer_from_code(0x02), Ok(MessageType::Serial));
    }
}
