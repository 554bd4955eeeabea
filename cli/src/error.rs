//! The one error type of the tool: a message for stderr and an exit code.
//!
//! Every failure, whatever its source, ends as `zmtp: <one line>` on stderr
//! and a non-zero exit; an interrupt or a closed stdout ends quietly.

use std::io;
use std::process::ExitCode;

/// Why a command stopped early.
#[derive(Debug)]
pub struct CliError {
    /// `None` stops without a word (Ctrl-C, a reader that went away).
    message: Option<String>,
    code: u8,
}

impl CliError {
    /// A runtime failure: exit 1 with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        CliError {
            message: Some(message.into()),
            code: 1,
        }
    }

    /// Interrupted by Ctrl-C: exit 130, as shells report SIGINT.
    pub fn interrupted() -> Self {
        CliError {
            message: None,
            code: 130,
        }
    }

    /// A write to stdout failed. A closed pipe (`zmtp recv ... | head -1`)
    /// ends quietly and successfully; anything else is an error.
    pub fn output(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            CliError {
                message: None,
                code: 0,
            }
        } else {
            CliError::new(format!("writing to stdout: {e}"))
        }
    }

    /// Prints the line (if any) and gives the exit code.
    pub fn report(self) -> ExitCode {
        if let Some(message) = self.message {
            // One line, whatever the source put in it.
            eprintln!("zmtp: {}", message.replace('\n', " "));
        }
        ExitCode::from(self.code)
    }
}

impl From<zmtp_transport::Error> for CliError {
    fn from(e: zmtp_transport::Error) -> Self {
        CliError::new(e.to_string())
    }
}

impl From<zmtp_transport::EndpointError> for CliError {
    fn from(e: zmtp_transport::EndpointError) -> Self {
        CliError::new(e.to_string())
    }
}
