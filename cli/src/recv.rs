//! `zmtp recv`: receive messages and print one line per message.
//!
//! ```text
//! $ zmtp recv -t PULL --bind tcp://127.0.0.1:5555 -n 2 &
//! $ zmtp send -t PUSH --connect tcp://127.0.0.1:5555 'hello|world' bye
//! hello|world
//! bye
//! ```
//!
//! - Frames are joined by `|` (`--frame-separator`); `--format hex|json`
//!   for binary data (see [`crate::format`]).
//! - A ROUTER prints the sender's routing id as the first frame.
//! - SUB and XSUB subscribe to every `--subscribe PREFIX`, or to everything
//!   when none is given.
//! - REP answers each request with the request itself (an echo server), so
//!   `zmtp send -t REQ` gets its replies.
//! - With `-n COUNT` it exits 0 after COUNT messages; without, it runs until
//!   Ctrl-C (exit 130).

use clap::Args;
use zmtp_transport::SocketType;

use crate::common::{self, SocketArgs};
use crate::error::CliError;
use crate::format::{DEFAULT_SEPARATOR, Format, Printer};

/// `zmtp recv`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    zmtp recv -t PULL --bind tcp://127.0.0.1:5555 -n 2\n  \
    zmtp recv -t SUB --connect tcp://127.0.0.1:5556 --subscribe weather. --format json\n  \
    zmtp recv -t ROUTER --bind ipc:///tmp/router.sock --format hex\n  \
    zmtp recv -t REP --bind tcp://*:5557            # echoes every request back")]
pub struct RecvArgs {
    #[command(flatten)]
    socket: SocketArgs,
    /// Exit 0 after this many messages (default: run until Ctrl-C).
    #[arg(short = 'n', long, value_name = "COUNT")]
    count: Option<u64>,
    #[command(flatten)]
    subscribe: common::SubscribeArgs,
    /// How to print each message.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// What joins frames in text and hex output.
    #[arg(long, value_name = "SEP", default_value = DEFAULT_SEPARATOR)]
    frame_separator: String,
}

/// Runs `zmtp recv`.
pub async fn run(args: RecvArgs) -> Result<(), CliError> {
    let socket_type = args.socket.socket_type;
    check_type(socket_type)?;
    let subscriber = args.subscribe.check(socket_type)?;
    let options = args.socket.options()?;
    let common::Opened { socket, mut watch } = args.socket.open(options).await?;
    if subscriber {
        args.subscribe.apply(&socket)?;
    }
    let printer = Printer::new(args.format, &args.frame_separator);
    let echo = socket_type == SocketType::Rep;
    let receive = async {
        let mut received = 0u64;
        while args.count.is_none_or(|n| received < n) {
            let message = socket.recv().await?;
            printer.print(&message)?;
            received += 1;
            if echo {
                socket.send(message).await?;
            }
        }
        Ok::<(), CliError>(())
    };
    tokio::select! {
        result = receive => result?,
        e = watch.fatal() => return Err(e),
        () = common::ctrl_c() => return Err(CliError::interrupted()),
    }
    if echo {
        // The last reply must reach the requester before we go.
        tokio::select! {
            () = socket.close() => {}
            e = watch.fatal() => return Err(e),
            () = common::ctrl_c() => return Err(CliError::interrupted()),
        }
    }
    Ok(())
}

/// Refuses the types that cannot start by receiving, with what to use.
fn check_type(socket_type: SocketType) -> Result<(), CliError> {
    match socket_type {
        SocketType::Pub | SocketType::Push => Err(CliError::new(format!(
            "{socket_type} sockets cannot receive; use `zmtp send -t {socket_type}`"
        ))),
        SocketType::Req => Err(CliError::new(
            "a REQ socket must send first; `zmtp send -t REQ` sends and prints the replies",
        )),
        _ => Ok(()),
    }
}
