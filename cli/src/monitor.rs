//! `zmtp monitor`: bind or connect a socket and print its monitor events,
//! one line each.
//!
//! ```text
//! $ zmtp monitor -t PULL --bind tcp://127.0.0.1:5555
//! listening endpoint=tcp://127.0.0.1:5555
//! accepted endpoint=tcp://127.0.0.1:5555 peer=127.0.0.1:40312
//! handshake-succeeded endpoint=tcp://127.0.0.1:5555 peer=127.0.0.1:40312 peer-type=PUSH
//! disconnected endpoint=tcp://127.0.0.1:5555 peer=127.0.0.1:40312 reason="connection closed by peer"
//! ```
//!
//! Each line is the event's name then `key=value` fields; values with
//! spaces or quotes are quoted as Rust strings. Messages the socket
//! receives are taken and dropped (so peers are not held up), or printed
//! as `message <frames>` with `--messages`; a REP echoes requests back, a
//! SUB subscribes to everything. `-n COUNT` exits 0 after COUNT events.

use clap::Args;
use zmtp_transport::{LinkEnd, MonitorEvent, Socket, SocketType};

use crate::common::{self, SocketArgs};
use crate::error::CliError;
use crate::format::{DEFAULT_SEPARATOR, Format, Printer};

/// `zmtp monitor`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    zmtp monitor -t PULL --bind tcp://127.0.0.1:5555\n  \
    zmtp monitor -t DEALER --connect tcp://127.0.0.1:5556 -n 3\n  \
    zmtp monitor -t SUB --connect tcp://127.0.0.1:5557 --messages")]
pub struct MonitorArgs {
    #[command(flatten)]
    socket: SocketArgs,
    /// Exit 0 after this many events (default: run until Ctrl-C).
    #[arg(short = 'n', long, value_name = "COUNT")]
    count: Option<u64>,
    #[command(flatten)]
    subscribe: common::SubscribeArgs,
    /// Print received messages too, as `message <frames>`.
    #[arg(long)]
    messages: bool,
    /// How to print messages (with --messages).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// What joins frames of printed messages.
    #[arg(long, value_name = "SEP", default_value = DEFAULT_SEPARATOR)]
    frame_separator: String,
}

/// Runs `zmtp monitor`.
pub async fn run(args: MonitorArgs) -> Result<(), CliError> {
    let socket_type = args.socket.socket_type;
    let subscriber = args.subscribe.check(socket_type)?;
    let options = args.socket.options()?;
    // The monitor subscribed before binding, so `listening` comes first.
    let common::Opened { socket, watch } = args.socket.open(options).await?;
    let mut monitor = watch.into_monitor();
    if subscriber {
        args.subscribe.apply(&socket)?;
    }
    let printer = Printer::new(args.format, &args.frame_separator);
    let mut seen = 0u64;
    let drain = drain_messages(&socket, args.messages.then_some(&printer));
    tokio::pin!(drain);
    while args.count.is_none_or(|n| seen < n) {
        tokio::select! {
            event = monitor.next() => {
                let Some(event) = event else { break };
                print_line(&describe(&event))?;
                seen += 1;
            }
            result = &mut drain => result?,
            () = common::ctrl_c() => return Err(CliError::interrupted()),
        }
    }
    Ok(())
}

fn print_line(line: &str) -> Result<(), CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").map_err(CliError::output)?;
    out.flush().map_err(CliError::output)
}

/// Takes every message the socket receives (forever), printing it if asked.
async fn drain_messages(socket: &Socket, printer: Option<&Printer>) -> Result<(), CliError> {
    let socket_type = socket.socket_type();
    if matches!(
        socket_type,
        SocketType::Pub | SocketType::Push | SocketType::Req
    ) {
        return std::future::pending().await;
    }
    loop {
        let message = socket.recv().await?;
        if let Some(printer) = printer {
            let mut line = b"message ".to_vec();
            line.extend_from_slice(&printer.render(&message));
            line.push(b'\n');
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(&line).map_err(CliError::output)?;
            out.flush().map_err(CliError::output)?;
        }
        if socket_type == SocketType::Rep {
            socket.send(message).await?;
        }
    }
}

/// One event as `name key=value ...`.
fn describe(event: &MonitorEvent) -> String {
    let q = |s: &str| {
        if s.is_empty() || s.contains([' ', '"', '\\', '=']) || !s.is_ascii() {
            format!("{s:?}")
        } else {
            s.to_owned()
        }
    };
    let r = |reason: &LinkEnd| q(&reason.to_string());
    match event {
        MonitorEvent::Listening { endpoint } => format!("listening endpoint={endpoint}"),
        MonitorEvent::Accepted { endpoint, peer } => {
            format!("accepted endpoint={endpoint} peer={}", q(peer))
        }
        MonitorEvent::Refused {
            endpoint,
            peer,
            reason,
        } => format!(
            "refused endpoint={endpoint} peer={} reason={}",
            q(peer),
            r(reason)
        ),
        MonitorEvent::Connected { endpoint, peer } => {
            format!("connected endpoint={endpoint} peer={}", q(peer))
        }
        MonitorEvent::ReconnectScheduled {
            endpoint,
            delay,
            reason,
        } => format!(
            "reconnect-scheduled endpoint={endpoint} delay-ms={} reason={}",
            delay.as_millis(),
            r(reason)
        ),
        MonitorEvent::HandshakeSucceeded {
            endpoint,
            peer,
            peer_socket_type,
        } => {
            let peer_type = peer_socket_type.map_or("unknown", |t| t.as_str());
            format!(
                "handshake-succeeded endpoint={endpoint} peer={} peer-type={peer_type}",
                q(peer)
            )
        }
        MonitorEvent::HandshakeFailed {
            endpoint,
            peer,
            reason,
        } => format!(
            "handshake-failed endpoint={endpoint} peer={} reason={} protocol-error={} \
             auth-failure={}",
            q(peer),
            r(reason),
            reason.is_protocol_error(),
            reason.is_authentication_failure()
        ),
        MonitorEvent::Disconnected {
            endpoint,
            peer,
            reason,
        } => format!(
            "disconnected endpoint={endpoint} peer={} reason={}",
            q(peer),
            r(reason)
        ),
        MonitorEvent::Closed { endpoint, reason } => {
            format!("closed endpoint={endpoint} reason={}", r(reason))
        }
        other => format!("other event={}", q(&format!("{other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use zmtp_transport::Endpoint;

    #[test]
    fn events_print_as_name_and_fields() {
        let endpoint = Endpoint::from_str("tcp://127.0.0.1:5555").expect("endpoint");
        let line = describe(&MonitorEvent::Disconnected {
            endpoint: endpoint.clone(),
            peer: "127.0.0.1:4000".into(),
            reason: LinkEnd::PeerClosed,
        });
        assert_eq!(
            line,
            "disconnected endpoint=tcp://127.0.0.1:5555 peer=127.0.0.1:4000 \
             reason=\"peer closed the connection\""
        );
        let line = describe(&MonitorEvent::HandshakeSucceeded {
            endpoint,
            peer: "127.0.0.1:4000".into(),
            peer_socket_type: Some(SocketType::Push),
        });
        assert!(line.ends_with("peer-type=PUSH"), "{line}");
    }
}
