//! `zmtp send`: send messages from the command line or stdin.
//!
//! ```text
//! $ zmtp send -t PUSH --connect tcp://127.0.0.1:5555 'hello|world' bye
//! $ printf 'one\ntwo|frames\n' | zmtp send -t PUSH --connect ipc:///tmp/pull.sock
//! $ zmtp send -t REQ --connect tcp://127.0.0.1:5557 ping      # prints the reply
//! ```
//!
//! - Each MESSAGE argument is one message, its frames split on `|`
//!   (`--frame-separator`); with no MESSAGE, each stdin line is one message.
//!   `-n COUNT` sends every message COUNT times.
//! - Before sending, it waits until `--peers N` peers have completed their
//!   handshake: by default 1 for PUB, XPUB, XSUB and ROUTER, which would
//!   otherwise drop messages sent before anyone is there, and 0 for the
//!   rest, which queue them. PUB, XPUB and XSUB then wait `--settle` (200
//!   ms by default) more, because a subscriber's subscriptions arrive just
//!   after its handshake and the publisher drops what matches none yet.
//! - A ROUTER sends to the peer named by each message's first frame, and
//!   fails (rather than dropping silently) when no such peer is connected.
//! - REQ waits for each reply and prints it (`--format`), like `recv`.
//! - It exits 0 once every message has been handed to the kernel: the
//!   socket is closed and lingers (forever by default, `--linger MS` to
//!   bound it) until its queues are written. An error exits non-zero.
//! - A `--connect` endpoint is retried in the background until something
//!   listens there (as libzmq does), so with nobody there `send` waits;
//!   Ctrl-C stops it (exit 130). A peer that refuses our socket type ends
//!   it at once with the reason.

use std::time::Duration;

use clap::Args;
use tokio::io::AsyncBufReadExt;
use zmtp_transport::{Message, Socket, SocketType};

use crate::common::{self, SocketArgs};
use crate::error::CliError;
use crate::format::{self, DEFAULT_SEPARATOR, Format, Printer};

/// `zmtp send`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    zmtp send -t PUSH --connect tcp://127.0.0.1:5555 'hello|world' bye\n  \
    printf 'one\\ntwo\\n' | zmtp send -t PUSH --connect ipc:///tmp/pull.sock\n  \
    zmtp send -t PUB --bind tcp://*:5556 -n 10 'weather.paris|12 C'\n  \
    zmtp send -t REQ --connect tcp://127.0.0.1:5557 ping    # prints the reply\n  \
    zmtp send -t DEALER --routing-id alice --connect tcp://127.0.0.1:5558 hi")]
pub struct SendArgs {
    #[command(flatten)]
    socket: SocketArgs,
    /// Send every message this many times.
    #[arg(short = 'n', long, value_name = "COUNT", default_value_t = 1)]
    count: u64,
    /// Wait for this many connected peers before sending (default: 1 for
    /// PUB, XPUB, XSUB and ROUTER, else 0).
    #[arg(long, value_name = "N")]
    peers: Option<usize>,
    /// After the peers are there, wait this long (milliseconds) for their
    /// subscriptions (default: 200 for PUB, XPUB and XSUB, else 0).
    #[arg(long, value_name = "MS", value_parser = common::parse_millis)]
    settle: Option<Duration>,
    /// Give up delivering after this long (milliseconds) once everything is
    /// queued (default: wait until delivered, as libzmq's linger -1).
    #[arg(long, value_name = "MS", value_parser = common::parse_millis)]
    linger: Option<Duration>,
    /// REQ: how to print the replies.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// What splits a MESSAGE (or a stdin line) into frames, and joins the
    /// frames of printed replies.
    #[arg(long, value_name = "SEP", default_value = DEFAULT_SEPARATOR)]
    frame_separator: String,
    /// Messages to send, frames split on the separator. None: read stdin,
    /// one message per line.
    #[arg(value_name = "MESSAGE")]
    messages: Vec<String>,
}

/// Runs `zmtp send`.
pub async fn run(args: SendArgs) -> Result<(), CliError> {
    let socket_type = args.socket.socket_type;
    if matches!(socket_type, SocketType::Sub | SocketType::Pull) {
        return Err(CliError::new(format!(
            "{socket_type} sockets cannot send; use `zmtp recv -t {socket_type}`"
        )));
    }
    let mut options = args.socket.options()?;
    if args.linger.is_some() {
        options.linger = args.linger;
    }
    // A message for a routing id nobody has is an error, not a silent drop.
    options.router_mandatory = socket_type == SocketType::Router;
    let common::Opened { socket, mut watch } = args.socket.open(options).await?;
    let publisher = matches!(
        socket_type,
        SocketType::Pub | SocketType::Xpub | SocketType::Xsub
    );
    let peers = args
        .peers
        .unwrap_or(usize::from(common::drops_without_peers(socket_type)));
    let settle = args.settle.unwrap_or(if publisher {
        Duration::from_millis(200)
    } else {
        Duration::ZERO
    });
    let sender = Sender {
        socket: &socket,
        printer: Printer::new(args.format, &args.frame_separator),
        separator: args.frame_separator.as_bytes(),
        count: args.count,
        request: socket_type == SocketType::Req,
    };
    let work = async {
        common::wait_for_peers(&socket, peers).await;
        if peers > 0 {
            tokio::time::sleep(settle).await;
        }
        if args.messages.is_empty() {
            sender.send_stdin_lines().await
        } else {
            for _ in 0..args.count {
                for text in &args.messages {
                    sender.send_one(text.as_bytes(), 1).await?;
                }
            }
            Ok(())
        }
    };
    tokio::select! {
        result = work => result?,
        e = watch.fatal() => return Err(e),
        () = common::ctrl_c() => return Err(CliError::interrupted()),
    }
    tokio::select! {
        () = socket.close() => Ok(()),
        e = watch.fatal() => Err(e),
        () = common::ctrl_c() => Err(CliError::interrupted()),
    }
}

struct Sender<'a> {
    socket: &'a Socket,
    printer: Printer,
    separator: &'a [u8],
    count: u64,
    request: bool,
}

impl Sender<'_> {
    /// Sends `text` as one message, `times` times.
    async fn send_one(&self, text: &[u8], times: u64) -> Result<(), CliError> {
        let message: Message = format::split_frames(text, self.separator);
        for _ in 0..times {
            self.socket.send(message.clone()).await?;
            if self.request {
                let reply = self.socket.recv().await?;
                self.printer.print(&reply)?;
            }
        }
        Ok(())
    }

    /// One message per stdin line (`\n` or `\r\n` stripped), each sent
    /// `count` times, until end of input.
    async fn send_stdin_lines(&self) -> Result<(), CliError> {
        let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = stdin
                .read_until(b'\n', &mut line)
                .await
                .map_err(|e| CliError::new(format!("reading stdin: {e}")))?;
            if n == 0 {
                return Ok(());
            }
            if line.last() == Some(&b'\n') {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
            }
            self.send_one(&line, self.count).await?;
        }
    }
}
