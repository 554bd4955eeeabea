//! A file descriptor that becomes readable when the manager has events, for
//! callers that run their own `select`/`poll` loop (a Zeek IOSource).
//!
//! One end of a Unix socket pair is the caller's; the manager writes a
//! single byte to the other when the first event arrives and drains it once
//! the caller has taken every event, so the descriptor is readable exactly
//! while events wait.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

#[derive(Debug)]
pub(crate) struct Wakeup {
    reader: UnixStream,
    writer: UnixStream,
}

impl Wakeup {
    pub(crate) fn new() -> io::Result<Self> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        Ok(Wakeup { reader, writer })
    }

    /// The descriptor to watch for readability.
    pub(crate) fn fd(&self) -> RawFd {
        self.reader.as_raw_fd()
    }

    /// Makes the descriptor readable (idempotent while it is).
    pub(crate) fn raise(&self) {
        // WouldBlock means plenty of bytes are waiting already.
        let _ = (&self.writer).write(&[1]);
    }

    /// Makes the descriptor unreadable again.
    pub(crate) fn clear(&self) {
        let mut sink = [0u8; 64];
        while let Ok(n) = (&self.reader).read(&mut sink) {
            if n == 0 {
                break;
            }
        }
    }
}
