//! `zmtp proxy`: forward messages between a frontend and a backend socket,
//! with an optional capture socket that sees a copy of everything.
//!
//! ```text
//! $ zmtp proxy --frontend XSUB@tcp://*:5559 --backend XPUB@tcp://*:5560
//! $ zmtp proxy --frontend ROUTER@tcp://*:5559 --backend DEALER@ipc:///tmp/workers.sock \
//!              --capture PUB@tcp://127.0.0.1:5561
//! ```
//!
//! Each side is `TYPE@EP` to bind the endpoint or `TYPE>EP` to connect to
//! it (czmq's convention; quote the `>` from the shell). The proxy runs
//! until Ctrl-C, then prints each side's message and byte counts on stderr
//! and exits 0; it exits 1 if a socket fails.

use std::str::FromStr;

use clap::Args;
use zmtp_transport::proxy::{Proxy, SideStats};
use zmtp_transport::{Endpoint, Socket, SocketType};

use crate::common::{self, bind_announced};
use crate::error::CliError;

/// `zmtp proxy`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    zmtp proxy --frontend XSUB@tcp://*:5559 --backend XPUB@tcp://*:5560\n  \
    zmtp proxy --frontend ROUTER@tcp://*:5559 --backend 'DEALER>tcp://127.0.0.1:5570' --capture PUB@tcp://*:5561")]
pub struct ProxyArgs {
    /// The frontend socket: TYPE@EP (bind) or TYPE>EP (connect).
    #[arg(long, value_name = "TYPE@EP", value_parser = parse_side)]
    frontend: Side,
    /// The backend socket: TYPE@EP (bind) or TYPE>EP (connect).
    #[arg(long, value_name = "TYPE@EP", value_parser = parse_side)]
    backend: Side,
    /// A socket that gets a copy of every forwarded message (PUB, PUSH,
    /// ...): TYPE@EP or TYPE>EP.
    #[arg(long, value_name = "TYPE@EP", value_parser = parse_side)]
    capture: Option<Side>,
}

/// One socket of the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    socket_type: SocketType,
    bind: bool,
    endpoint: String,
}

/// Parses `TYPE@EP` or `TYPE>EP`.
fn parse_side(text: &str) -> Result<Side, String> {
    let at = text.find(['@', '>']).ok_or_else(|| {
        format!("{text:?}: expected TYPE@ENDPOINT (bind) or TYPE>ENDPOINT (connect)")
    })?;
    let socket_type = common::parse_socket_type(&text[..at])?;
    let endpoint = &text[at + 1..];
    Endpoint::from_str(endpoint).map_err(|e| e.to_string())?;
    Ok(Side {
        socket_type,
        bind: text.as_bytes()[at] == b'@',
        endpoint: endpoint.to_owned(),
    })
}

impl Side {
    async fn open(&self) -> Result<Socket, CliError> {
        let socket = Socket::new(self.socket_type);
        if self.bind {
            bind_announced(&socket, &self.endpoint).await?;
        } else {
            socket.connect(&self.endpoint).await?;
        }
        if matches!(self.socket_type, SocketType::Sub) {
            socket.subscribe("")?;
        }
        Ok(socket)
    }
}

/// Runs `zmtp proxy`.
pub async fn run(args: ProxyArgs) -> Result<(), CliError> {
    let frontend = args.frontend.open().await?;
    let backend = args.backend.open().await?;
    let capture = match &args.capture {
        Some(side) => Some(side.open().await?),
        None => None,
    };
    let (handle, task) = Proxy::new(frontend, backend, capture).spawn();
    tokio::select! {
        ended = task => match ended {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(CliError::new(format!("proxy stopped: {e}"))),
            Err(e) => Err(CliError::new(format!("proxy task failed: {e}"))),
        },
        () = common::ctrl_c() => {
            handle.terminate();
            let stats = handle.statistics();
            eprintln!("frontend: {}", describe(&stats.frontend));
            eprintln!("backend: {}", describe(&stats.backend));
            Ok(())
        }
    }
}

fn describe(side: &SideStats) -> String {
    format!(
        "{} messages ({} bytes) in, {} messages ({} bytes) out",
        side.messages_in, side.bytes_in, side.messages_out, side.bytes_out
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_parse_bind_and_connect() {
        assert_eq!(
            parse_side("xsub@tcp://*:5559"),
            Ok(Side {
                socket_type: SocketType::Xsub,
                bind: true,
                endpoint: "tcp://*:5559".into()
            })
        );
        let side = parse_side("DEALER>ipc://@name").expect("parses");
        assert!(!side.bind);
        assert_eq!(side.endpoint, "ipc://@name");
        assert!(parse_side("tcp://*:5559").is_err());
        assert!(parse_side("PUSH@nowhere").is_err());
        assert!(parse_side("BOGUS@tcp://*:1").is_err());
    }
}
