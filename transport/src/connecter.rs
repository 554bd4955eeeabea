//! Connected endpoints: connect, run an engine, and reconnect with backoff.
//!
//! The pipe of a connected endpoint lives as long as the endpoint, across
//! reconnections, so messages queued while the peer is away wait for it
//! (unless `immediate` is set, in which case round-robin skips it while it
//! is down). A protocol error (incompatible socket type, ERROR received,
//! failed security) ends the endpoint for good, as in libzmq; any other end
//! (refused, reset, timeout) schedules a reconnect. Over `tls://`, a
//! certificate refused by either side counts as failed security.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::net::{TcpSocket, TcpStream, UnixStream};

use crate::core::{Core, Outbound, PipeEntry};
use crate::endpoint::{Endpoint, IpcAddr};
use crate::endpoints::{Kind, Stop};
use crate::engine::{self, LinkInfo, Outcome, PipeSlot};
use crate::error::Result;
use crate::inproc;
use crate::link_end::{IoFailure, LinkEnd};
use crate::listener::{abstract_addr, configure_tcp};
use crate::monitor_event::MonitorEvent;
use crate::options::Options;
use crate::peers::PipeId;
use crate::queue::PipeRx;
use crate::refusal::Refusal;
use crate::stream::Stream;
use crate::tls::handshake;
use crate::tls::settings::{TlsClient, TlsError};

/// Starts connecting to `endpoint` in the background.
pub(crate) fn connect(core: &Arc<Core>, endpoint: Endpoint) -> Result<()> {
    endpoint.check_connectable()?;
    let stop = Stop::new();
    // The options as of this connect serve every link it makes.
    let options = core.live.snapshot();
    let tls = match &endpoint {
        Endpoint::Inproc(name) => {
            inproc::connect(core, name, &stop)?;
            core.endpoints.add(Kind::Connected, endpoint, stop);
            return Ok(());
        }
        // Settings are checked now, so that bad ones fail the call.
        Endpoint::Tls { host, .. } => {
            let config = options.tls.as_ref().ok_or(TlsError::NotConfigured)?;
            Some(config.connector(host)?)
        }
        Endpoint::Tcp { .. } | Endpoint::Ipc(_) => None,
    };
    let pipe = core.new_pipe_id();
    let (tx, rx) = core.new_pipe();
    core.attach(PipeEntry::new(pipe, tx, !core.options.immediate));
    // A new switch takes any link.
    let _running = stop.join(pipe);
    core.endpoints
        .add(Kind::Connected, endpoint.clone(), stop.clone());
    let task = tokio::spawn(run(core.clone(), options, endpoint, tls, pipe, rx, stop));
    core.track(task);
    Ok(())
}

async fn open(options: &Options, endpoint: &Endpoint) -> io::Result<Stream> {
    match endpoint {
        Endpoint::Tcp {
            host,
            port,
            source: Some(source),
        } => {
            let stream = connect_from(*source, &host.bind_text(), port.number()).await?;
            configure_tcp(options, &stream);
            Ok(Stream::Tcp(stream))
        }
        Endpoint::Tcp { host, port, .. } | Endpoint::Tls { host, port } => {
            let stream = TcpStream::connect((host.bind_text(), port.number())).await?;
            configure_tcp(options, &stream);
            Ok(Stream::Tcp(stream))
        }
        Endpoint::Ipc(IpcAddr::Path(path)) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
        Endpoint::Ipc(IpcAddr::Abstract(name)) => {
            let std_stream = std::os::unix::net::UnixStream::connect_addr(&abstract_addr(name)?)?;
            std_stream.set_nonblocking(true)?;
            Ok(Stream::Unix(UnixStream::from_std(std_stream)?))
        }
        Endpoint::Inproc(_) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "not a stream transport",
        )),
    }
}

/// Connects to `host:port` from the local address `source` (libzmq's
/// `tcp://SOURCE;HOST:PORT`), trying the destination's addresses of the
/// source's family in turn. The source may be shared by several connects
/// (`SO_REUSEADDR`), as libzmq allows.
async fn connect_from(source: SocketAddr, host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::AddrNotAvailable, "no address of that family");
    for target in tokio::net::lookup_host((host, port)).await? {
        if target.is_ipv4() != source.is_ipv4() {
            continue;
        }
        let socket = if source.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(source)?;
        match socket.connect(target).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Runs the TLS client handshake on a `tls://` endpoint's stream (others
/// pass through), within the handshake timeout counted from `started`.
async fn secure(
    core: &Arc<Core>,
    options: &Options,
    tls: Option<&TlsClient>,
    stream: Stream,
    started: Instant,
    rx: &PipeRx<Outbound>,
) -> Result<Stream, LinkEnd> {
    match (tls, stream) {
        (Some(client), Stream::Tcp(tcp)) => {
            let deadline = options.handshake_ivl.map(|t| started + t);
            tokio::select! {
                secured = handshake::connect(core, client, tcp, deadline) => secured,
                _ = stop_signal(core, rx) => Err(LinkEnd::SocketClosed),
            }
        }
        (_, stream) => Ok(stream),
    }
}

/// Resolves when the endpoint should stop trying: the socket closed and
/// nothing waits to be delivered, or the linger time ran out.
async fn stop_signal(core: &Core, rx: &PipeRx<Outbound>) {
    core.closing.cancelled().await;
    if rx.is_empty() {
        return;
    }
    match core.linger() {
        Some(linger) => tokio::time::sleep(linger).await,
        None => std::future::pending().await,
    }
}

async fn run(
    core: Arc<Core>,
    options: Arc<Options>,
    endpoint: Endpoint,
    tls: Option<TlsClient>,
    pipe: PipeId,
    mut rx: PipeRx<Outbound>,
    stop: Arc<Stop>,
) {
    let mut attempt = 0u32;
    let disconnected = || LinkEnd::Refused(Refusal::DisconnectedByApplication);
    let final_reason = loop {
        let opened = tokio::select! {
            opened = open(&options, &endpoint) => opened,
            _ = stop_signal(&core, &rx) => break LinkEnd::SocketClosed,
            () = stop.stopped() => break disconnected(),
        };
        let reason = match opened {
            Ok(stream) => {
                let started = Instant::now();
                let peer = stream.peer();
                core.monitor.emit(MonitorEvent::Connected {
                    endpoint: endpoint.clone(),
                    peer: peer.clone(),
                });
                let link = LinkInfo {
                    core: core.clone(),
                    options: options.clone(),
                    pipe,
                    endpoint: endpoint.clone(),
                    peer,
                };
                let secured = secure(&core, &options, tls.as_ref(), stream, started, &rx).await;
                let outcome = match secured {
                    Ok(stream) => {
                        let slot = PipeSlot::Attached;
                        engine::run(stream, &link, &mut rx, slot, None, started).await
                    }
                    Err(end) => Outcome {
                        end,
                        handshake_done: false,
                    },
                };
                // `engine::run` queued the XPUB's notices already; this
                // covers a link that failed before the engine ran.
                let _nothing_left = core.pipe_down(pipe, false, Default::default(), None);
                engine::report(&link, &outcome);
                if outcome.handshake_done {
                    attempt = 0;
                }
                // The socket closed or dropped the pipe: nothing to
                // reconnect for. After a protocol error, libzmq gives up.
                if pipe_is_gone(&outcome.end) || outcome.end.is_protocol_error() {
                    break outcome.end;
                }
                outcome.end
            }
            Err(e) => LinkEnd::ConnectFailed(IoFailure::from(&e)),
        };
        if options.reconnect_ivl.is_zero() {
            break reason;
        }
        let delay = options.reconnect_delay(attempt);
        attempt = attempt.saturating_add(1);
        core.monitor.emit(MonitorEvent::ReconnectScheduled {
            endpoint: endpoint.clone(),
            delay,
            reason,
        });
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop_signal(&core, &rx) => break LinkEnd::SocketClosed,
            () = stop.stopped() => break disconnected(),
        }
    };
    // The endpoint is over, whoever ended it.
    stop.stop(&core);
    core.detach(pipe);
    core.forget_link(pipe);
    // Whatever was still queued for this endpoint can no longer be sent;
    // count it rather than let it vanish.
    let undelivered = rx.len() as u64;
    core.stats
        .dropped_unroutable
        .fetch_add(undelivered, Ordering::Relaxed);
    core.monitor.emit(MonitorEvent::Closed {
        endpoint,
        reason: final_reason,
    });
}

/// Whether a link ended because its pipe is gone (the socket closed, or
/// dropped the pipe: a ROUTER handover, the application's disconnect), so
/// that no later link could carry it.
fn pipe_is_gone(end: &LinkEnd) -> bool {
    matches!(
        end,
        LinkEnd::SocketClosed
            | LinkEnd::Refused(
                Refusal::PipeGone
                    | Refusal::RoutingIdTakenOver
                    | Refusal::DisconnectedByApplication
            )
    )
}
