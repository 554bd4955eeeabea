//! What the socket commands share: `-t TYPE (--bind EP | --connect EP)...`,
//! opening the socket, announcing ephemeral ports, noticing a peer that
//! refuses us for good, and Ctrl-C.
//!
//! A bound endpoint whose port was `*` or `0` is announced on stderr as
//! `listening on tcp://127.0.0.1:PORT`, so scripts (and our tests) can bind
//! an ephemeral port and read it back; nothing else is printed there unless
//! something goes wrong.

use std::str::FromStr;
use std::time::Duration;

use clap::{ArgGroup, Args};
use zmtp_transport::{Endpoint, Monitor, MonitorEvent, Options, Port, Socket, SocketType};

use crate::error::CliError;
use crate::security::SecurityArgs;

/// A socket type and where it binds and connects.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("endpoints").required(true).multiple(true).args(["bind", "connect"])))]
pub struct SocketArgs {
    /// Socket type: REQ REP DEALER ROUTER PUB SUB XPUB XSUB PUSH PULL PAIR (any case).
    #[arg(short = 't', long = "type", value_name = "TYPE", value_parser = parse_socket_type)]
    pub socket_type: SocketType,
    /// Bind an endpoint: tcp://HOST:PORT (PORT * or 0: ephemeral, printed on
    /// stderr), ipc://PATH, ipc://@NAME, inproc://NAME. Repeatable.
    #[arg(long, value_name = "EP")]
    pub bind: Vec<String>,
    /// Connect to an endpoint (retried in the background until it answers).
    /// Repeatable.
    #[arg(long, value_name = "EP")]
    pub connect: Vec<String>,
    /// The routing id we announce (REQ, DEALER, ROUTER peers see it).
    #[arg(long, value_name = "ID")]
    pub routing_id: Option<String>,
    /// Send high-water mark in messages (default 1000, 0 = unlimited).
    #[arg(long, value_name = "N")]
    pub sndhwm: Option<usize>,
    /// Receive high-water mark in messages (default 1000, 0 = unlimited).
    #[arg(long, value_name = "N")]
    pub rcvhwm: Option<usize>,
    /// Longest frame a peer may send, in bytes; a peer that sends a longer
    /// one loses its link. `unlimited` is libzmq's default.
    #[arg(long, value_name = "BYTES", default_value = DEFAULT_MAXMSGSIZE, value_parser = parse_maxmsgsize)]
    pub maxmsgsize: MessageCap,
    #[command(flatten)]
    pub security: SecurityArgs,
}

/// The CLI's `--maxmsgsize` unless given: 64 MiB, so that a peer cannot
/// make `zmtp recv` buffer an endless frame.
pub const DEFAULT_MAXMSGSIZE: &str = "67108864";

/// A cap on one frame's length in bytes, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageCap(pub Option<u64>);

/// Parses `--maxmsgsize`: a number of bytes or `unlimited`.
pub fn parse_maxmsgsize(text: &str) -> Result<MessageCap, String> {
    if text.eq_ignore_ascii_case("unlimited") {
        return Ok(MessageCap(None));
    }
    text.parse::<u64>()
        .map(|n| MessageCap(Some(n)))
        .map_err(|_| format!("{text:?} is neither a number of bytes nor `unlimited`"))
}

/// Parses a socket type name in any case.
pub fn parse_socket_type(name: &str) -> Result<SocketType, String> {
    SocketType::from_str(name).map_err(|_| {
        format!(
            "unknown socket type {name:?} (REQ REP DEALER ROUTER PUB SUB XPUB XSUB PUSH PULL PAIR)"
        )
    })
}

/// A bound-and-connected socket and what watches it.
pub struct Opened {
    /// The socket.
    pub socket: Socket,
    /// Watches its monitor for links that failed for good.
    pub watch: LinkWatch,
}

impl SocketArgs {
    /// The options these flags ask for, `tweak`ed by the command.
    pub fn options(&self) -> Result<Options, CliError> {
        let mut options = Options::new(self.socket_type);
        if let Some(id) = &self.routing_id {
            if id.is_empty() || id.len() > 255 {
                return Err(CliError::new("--routing-id must be 1 to 255 bytes"));
            }
            options.routing_id = id.clone().into();
        }
        if let Some(n) = self.sndhwm {
            options.sndhwm = n;
        }
        if let Some(n) = self.rcvhwm {
            options.rcvhwm = n;
        }
        options.maxmsgsize = self.maxmsgsize.0;
        self.security.apply(&mut options)?;
        Ok(options)
    }

    /// Creates the socket, binds and connects. Endpoints are checked before
    /// anything is opened, so a typo fails at once with its own message.
    pub async fn open(&self, options: Options) -> Result<Opened, CliError> {
        let mut connected = Vec::new();
        for endpoint in self.bind.iter().chain(&self.connect) {
            let parsed = Endpoint::from_str(endpoint)?;
            if self.connect.contains(endpoint) {
                connected.push(parsed);
            }
        }
        let socket = Socket::with_options(self.socket_type, options);
        // Subscribe before binding, or the first events are missed.
        let monitor = socket.monitor();
        for endpoint in &self.bind {
            bind_announced(&socket, endpoint).await?;
        }
        for endpoint in &self.connect {
            socket.connect(endpoint).await?;
        }
        Ok(Opened {
            socket,
            watch: LinkWatch { monitor, connected },
        })
    }
}

/// Binds and, for an ephemeral port, prints the port we got on stderr.
pub async fn bind_announced(socket: &Socket, endpoint: &str) -> Result<Endpoint, CliError> {
    let bound = socket.bind(endpoint).await?;
    if is_ephemeral(endpoint) {
        eprintln!("listening on {bound}");
    }
    Ok(bound)
}

fn is_ephemeral(endpoint: &str) -> bool {
    matches!(
        Endpoint::from_str(endpoint),
        Ok(Endpoint::Tcp {
            port: Port::Ephemeral,
            ..
        } | Endpoint::Tls {
            port: Port::Ephemeral,
            ..
        })
    )
}

/// Watches a socket's monitor for a connection that will never work: the
/// peer refused our handshake (incompatible socket type, a protocol error).
/// A connecting socket does not retry after that (as libzmq), so waiting
/// on would hang forever; the command stops with the reason instead.
pub struct LinkWatch {
    monitor: Monitor,
    connected: Vec<Endpoint>,
}

impl LinkWatch {
    /// The monitor itself, subscribed since before the first bind.
    pub fn into_monitor(self) -> Monitor {
        self.monitor
    }

    /// Resolves with the error when a connected endpoint fails for good;
    /// never resolves otherwise.
    pub async fn fatal(&mut self) -> CliError {
        loop {
            match self.monitor.next().await {
                Some(MonitorEvent::HandshakeFailed {
                    endpoint,
                    peer,
                    reason,
                    ..
                }) if self.connected.contains(&endpoint) && reason.is_protocol_error() => {
                    return CliError::new(format!(
                        "{endpoint}: handshake with {peer} failed: {reason}"
                    ));
                }
                Some(_) => {}
                None => std::future::pending::<()>().await,
            }
        }
    }
}

/// Resolves on Ctrl-C (never, if the handler cannot be installed).
pub async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Waits until `peers` peers have completed their handshake.
pub async fn wait_for_peers(socket: &Socket, peers: usize) {
    while socket.stats().peers < peers {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The types whose `send` drops (rather than waits) when no peer can take
/// the message: they wait for a peer before sending.
pub fn drops_without_peers(socket_type: SocketType) -> bool {
    matches!(
        socket_type,
        SocketType::Pub | SocketType::Xpub | SocketType::Xsub | SocketType::Router
    )
}

/// `--subscribe PREFIX...` of the receiving commands.
#[derive(Debug, Clone, Args)]
pub struct SubscribeArgs {
    /// SUB/XSUB: subscribe to messages starting with PREFIX (repeatable;
    /// default: everything).
    #[arg(long, value_name = "PREFIX")]
    pub subscribe: Vec<String>,
}

impl SubscribeArgs {
    /// Checks the prefixes against the socket type (they are for SUB and
    /// XSUB only) and says whether the socket subscribes.
    pub fn check(&self, socket_type: SocketType) -> Result<bool, CliError> {
        let subscriber = matches!(socket_type, SocketType::Sub | SocketType::Xsub);
        if !self.subscribe.is_empty() && !subscriber {
            return Err(CliError::new(format!(
                "--subscribe is for SUB and XSUB sockets, not {socket_type}"
            )));
        }
        Ok(subscriber)
    }

    /// Subscribes a SUB or XSUB socket to the prefixes, or to everything
    /// when none is given.
    pub fn apply(&self, socket: &Socket) -> Result<(), CliError> {
        if self.subscribe.is_empty() {
            socket.subscribe("")?;
        }
        for prefix in &self.subscribe {
            socket.subscribe(prefix)?;
        }
        Ok(())
    }
}

/// Parses a duration in milliseconds for clap.
pub fn parse_millis(text: &str) -> Result<Duration, String> {
    text.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| format!("{text:?} is not a whole number of milliseconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ephemeral_ports_are_recognised() {
        assert!(is_ephemeral("tcp://127.0.0.1:*"));
        assert!(is_ephemeral("tcp://*:0"));
        assert!(!is_ephemeral("tcp://127.0.0.1:5555"));
        assert!(!is_ephemeral("ipc://@x"));
        assert!(!is_ephemeral("nonsense"));
    }

    #[test]
    fn maxmsgsize_is_bytes_or_unlimited() {
        assert_eq!(
            parse_maxmsgsize(DEFAULT_MAXMSGSIZE),
            Ok(MessageCap(Some(64 << 20)))
        );
        assert_eq!(parse_maxmsgsize("Unlimited"), Ok(MessageCap(None)));
        assert!(parse_maxmsgsize("64M").is_err());
    }

    #[test]
    fn socket_types_parse_in_any_case() {
        assert_eq!(parse_socket_type("dealer"), Ok(SocketType::Dealer));
        assert_eq!(parse_socket_type("XPub"), Ok(SocketType::Xpub));
        assert!(parse_socket_type("socket").is_err());
    }
}
