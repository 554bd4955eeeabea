//! Endpoint strings: `tcp://host:port`, `ipc://path`, `ipc://@name`,
//! `inproc://name` and `tls://host:port`.
//!
//! The syntax follows libzmq's: `*` as the host binds every IPv4
//! interface, `*` or `0` as the port binds an ephemeral port (bind only; the
//! bound endpoint is readable back), IPv6 literals go in brackets, and an
//! `ipc://` name starting with `@` is in Linux's abstract namespace.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use thiserror::Error;

/// The longest `ipc://` path a Unix socket address holds.
const IPC_PATH_MAX: usize = 107;

/// A network host in an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// `*`: every interface (bind only).
    Any,
    /// A literal address.
    Ip(IpAddr),
    /// A name resolved when connecting.
    Name(String),
}

/// A port in an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Port {
    /// `*` or `0`: the system picks one (bind only).
    Ephemeral,
    /// A fixed port.
    Number(u16),
}

/// Where a Unix-domain socket lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IpcAddr {
    /// A filesystem path.
    Path(PathBuf),
    /// A name in Linux's abstract namespace (`ipc://@name`).
    Abstract(String),
}

/// A parsed endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// ZMTP over TCP.
    Tcp {
        /// Host to bind or connect.
        host: Host,
        /// Port.
        port: Port,
        /// Connect only: the local address to connect from, written
        /// before the destination as libzmq has it:
        /// `tcp://127.0.0.1:5564;127.0.0.1:5555` (port 0 or `*`: any).
        source: Option<SocketAddr>,
    },
    /// ZMTP over a Unix-domain stream socket.
    Ipc(IpcAddr),
    /// In-process, between sockets of this process; no ZMTP encoding.
    Inproc(String),
    /// ZMTP inside TLS over TCP (not a libzmq transport).
    Tls {
        /// Host to bind or connect (also the name checked against the
        /// server certificate).
        host: Host,
        /// Port.
        port: Port,
    },
}

/// Why an endpoint string was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EndpointError {
    /// No `scheme://`.
    #[error("endpoint {0:?}: expected transport://address")]
    NoScheme(String),
    /// A transport we do not know.
    #[error("endpoint {endpoint:?}: unknown transport {scheme:?} (tcp, ipc, inproc, tls)")]
    UnknownTransport {
        /// The whole endpoint.
        endpoint: String,
        /// The scheme.
        scheme: String,
    },
    /// The address part is malformed.
    #[error("endpoint {endpoint:?}: {reason}")]
    Malformed {
        /// The whole endpoint.
        endpoint: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// An `ipc://` path (or `@name`) longer than a Unix socket address
    /// holds (libzmq's ENAMETOOLONG).
    #[error("endpoint {endpoint:?}: ipc path longer than {max} bytes")]
    IpcPathTooLong {
        /// The whole endpoint.
        endpoint: String,
        /// The longest path that fits.
        max: usize,
    },
    /// `*` host or ephemeral port on a connect.
    #[error("endpoint {0:?}: a wildcard host or port can only be bound, not connected to")]
    WildcardConnect(String),
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| EndpointError::NoScheme(s.to_owned()))?;
        let malformed = |reason| EndpointError::Malformed {
            endpoint: s.to_owned(),
            reason,
        };
        match scheme {
            "tcp" => {
                let (source, rest) = match rest.split_once(';') {
                    Some((source, rest)) => (Some(parse_source(source).map_err(malformed)?), rest),
                    None => (None, rest),
                };
                let (host, port) = parse_host_port(rest).map_err(malformed)?;
                Ok(Endpoint::Tcp { host, port, source })
            }
            "tls" => {
                let (host, port) = parse_host_port(rest).map_err(malformed)?;
                Ok(Endpoint::Tls { host, port })
            }
            "ipc" if ipc_len(rest) > IPC_PATH_MAX => Err(EndpointError::IpcPathTooLong {
                endpoint: s.to_owned(),
                max: IPC_PATH_MAX,
            }),
            "ipc" => parse_ipc(rest).map(Endpoint::Ipc).map_err(malformed),
            "inproc" if rest.is_empty() => Err(malformed("empty inproc name")),
            "inproc" => Ok(Endpoint::Inproc(rest.to_owned())),
            _ => Err(EndpointError::UnknownTransport {
                endpoint: s.to_owned(),
                scheme: scheme.to_owned(),
            }),
        }
    }
}

fn parse_host_port(rest: &str) -> Result<(Host, Port), &'static str> {
    let (host, port) = rest.rsplit_once(':').ok_or("expected host:port")?;
    let port = match port {
        "*" | "0" => Port::Ephemeral,
        p => Port::Number(
            p.parse()
                .map_err(|_| "port is not a number from 0 to 65535")?,
        ),
    };
    let host = if host == "*" {
        Host::Any
    } else if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Host::Ip(
            v6.parse()
                .map_err(|_| "malformed IPv6 address in brackets")?,
        )
    } else if host.is_empty() {
        return Err("empty host");
    } else if let Ok(ip) = host.parse::<Ipv4Addr>() {
        Host::Ip(IpAddr::V4(ip))
    } else if host.contains(':') {
        return Err("IPv6 addresses go in brackets: tcp://[::1]:port");
    } else {
        Host::Name(host.to_owned())
    };
    Ok((host, port))
}

/// The bytes an `ipc://` address takes in `sun_path` (without its NUL):
/// the path, or `@` and the abstract name (its leading NUL byte).
fn ipc_len(rest: &str) -> usize {
    rest.len()
}

/// A connect's source address: an IP literal with an optional port.
fn parse_source(text: &str) -> Result<SocketAddr, &'static str> {
    const WHY: &str = "the source address (before ';') is not an IP address with an optional port";
    let (host, port) = match parse_host_port(text) {
        Ok((host, port)) => (host, port.number()),
        Err(_) => (parse_host_port(&format!("{text}:0")).map_err(|_| WHY)?.0, 0),
    };
    match host {
        Host::Ip(ip) => Ok(SocketAddr::new(ip, port)),
        Host::Any => Ok(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port)),
        Host::Name(_) => Err(WHY),
    }
}

fn parse_ipc(rest: &str) -> Result<IpcAddr, &'static str> {
    if let Some(name) = rest.strip_prefix('@') {
        if name.is_empty() {
            return Err("empty abstract socket name");
        }
        return Ok(IpcAddr::Abstract(name.to_owned()));
    }
    if rest.is_empty() {
        return Err("empty ipc path");
    }
    Ok(IpcAddr::Path(PathBuf::from(rest)))
}

impl Endpoint {
    /// Checks that this endpoint can be connected to (no wildcards).
    pub fn check_connectable(&self) -> Result<(), EndpointError> {
        match self {
            Endpoint::Tcp { host, port, .. } | Endpoint::Tls { host, port }
                if *host == Host::Any || *port == Port::Ephemeral =>
            {
                Err(EndpointError::WildcardConnect(self.to_string()))
            }
            _ => Ok(()),
        }
    }

    /// The same endpoint with the port a bind actually got.
    pub(crate) fn with_bound_addr(&self, addr: SocketAddr) -> Endpoint {
        let host = Host::Ip(addr.ip());
        let port = Port::Number(addr.port());
        match self {
            Endpoint::Tls { .. } => Endpoint::Tls { host, port },
            _ => Endpoint::Tcp {
                host,
                port,
                source: None,
            },
        }
    }

    /// The transport's name: `tcp`, `ipc`, `inproc` or `tls`.
    pub fn transport(&self) -> &'static str {
        match self {
            Endpoint::Tcp { .. } => "tcp",
            Endpoint::Ipc(_) => "ipc",
            Endpoint::Inproc(_) => "inproc",
            Endpoint::Tls { .. } => "tls",
        }
    }
}

impl Host {
    /// The text to resolve or bind (`0.0.0.0` for `*`).
    pub(crate) fn bind_text(&self) -> String {
        match self {
            Host::Any => "0.0.0.0".into(),
            Host::Ip(ip) => ip.to_string(),
            Host::Name(n) => n.clone(),
        }
    }
}

impl Port {
    /// The number to bind (0 for ephemeral).
    pub(crate) fn number(self) -> u16 {
        match self {
            Port::Ephemeral => 0,
            Port::Number(n) => n,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Any => f.write_str("*"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(n) => f.write_str(n),
        }
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Port::Ephemeral => f.write_str("*"),
            Port::Number(n) => write!(f, "{n}"),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp {
                host,
                port,
                source: None,
            } => write!(f, "tcp://{host}:{port}"),
            Endpoint::Tcp {
                host,
                port,
                source: Some(from),
            } => write!(f, "tcp://{from};{host}:{port}"),
            Endpoint::Tls { host, port } => write!(f, "tls://{host}:{port}"),
            Endpoint::Ipc(IpcAddr::Path(p)) => write!(f, "ipc://{}", p.display()),
            Endpoint::Ipc(IpcAddr::Abstract(name)) => write!(f, "ipc://@{name}"),
            Endpoint::Inproc(name) => write!(f, "inproc://{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: &str) -> Endpoint {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_round_trip() {
        for s in [
            "tcp://127.0.0.1:5555",
            "tcp://*:5555",
            "tcp://*:*",
            "tcp://[::1]:80",
            "tcp://example.org:9000",
            "ipc:///tmp/feed.sock",
            "ipc://@zeek-cluster",
            "inproc://workers",
            "tls://node1.example:4000",
            "tcp://127.0.0.1:5564;127.0.0.1:5555",
            "tcp://[::1]:5564;[::1]:5555",
        ] {
            assert_eq!(ep(s).to_string(), s);
        }
        assert_eq!(ep("tcp://127.0.0.1:0").to_string(), "tcp://127.0.0.1:*");
        assert_eq!(
            ep("tcp://10.0.0.1;example.org:80").to_string(),
            "tcp://10.0.0.1:0;example.org:80"
        );
        assert!("tcp://eth0;127.0.0.1:80".parse::<Endpoint>().is_err());
    }

    #[test]
    fn refuses_malformed_endpoints() {
        for s in [
            "127.0.0.1:5555",
            "udp://127.0.0.1:5555",
            "tcp://127.0.0.1",
            "tcp://127.0.0.1:!",
            "tcp://127.0.0.1:65536",
            "tcp://:5555",
            "tcp://::1:5555",
            "tcp://[::1:5555",
            "ipc://",
            "ipc://@",
            "inproc://",
        ] {
            assert!(s.parse::<Endpoint>().is_err(), "{s} should be refused");
        }
        let long = format!("ipc:///{}", "x".repeat(200));
        assert!(matches!(
            long.parse::<Endpoint>(),
            Err(EndpointError::IpcPathTooLong { max: 107, .. })
        ));
        // `sun_path` holds 108 bytes with the NUL: 107 fit, 108 do not.
        for (n, fits) in [(107, true), (108, false)] {
            let path = format!("ipc:///{}", "x".repeat(n - 1));
            assert_eq!(path.parse::<Endpoint>().is_ok(), fits, "{n}");
            let name = format!("ipc://@{}", "x".repeat(n - 1));
            assert_eq!(name.parse::<Endpoint>().is_ok(), fits, "@{n}");
        }
    }

    #[test]
    fn wildcards_cannot_be_connected() {
        assert!(ep("tcp://*:5555").check_connectable().is_err());
        assert!(ep("tcp://127.0.0.1:*").check_connectable().is_err());
        assert!(ep("tcp://127.0.0.1:5555").check_connectable().is_ok());
        assert!(ep("ipc://@x").check_connectable().is_ok());
    }

    #[test]
    fn error_messages_name_the_endpoint() {
        let e = "tcp://localhost".parse::<Endpoint>().unwrap_err();
        assert!(e.to_string().contains("tcp://localhost"), "{e}");
        let e = "zmq://x".parse::<Endpoint>().unwrap_err();
        assert!(e.to_string().contains("unknown transport"), "{e}");
    }
}
