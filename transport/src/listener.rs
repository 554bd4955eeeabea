//! Bound endpoints: accept connections and run an engine for each (after
//! the TLS handshake, on `tls://`).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio_rustls::TlsAcceptor;

use crate::admission::Source;
use crate::core::Core;
use crate::endpoint::{Endpoint, EndpointError, IpcAddr};
use crate::endpoints::{Kind, Stop};
use crate::engine::{self, LinkInfo, Outcome, PipeSlot};
use crate::error::{Error, Result};
use crate::gate::{Gate, Ticket};
use crate::inproc;
use crate::ipc_file::IpcFile;
use crate::link_end::{IoFailure, LinkEnd};
use crate::monitor_event::MonitorEvent;
use crate::options::Options;
use crate::refusal::Refusal;
use crate::stream::Stream;
use crate::tls::handshake;
use crate::tls::settings::TlsError;

/// A listening socket of any kind.
enum Listener {
    Tcp(TcpListener),
    /// An ipc listener, with the file it made at a path (none abstract).
    Unix(UnixListener, Option<IpcFile>),
    /// TCP whose connections start with a TLS server handshake.
    Tls(TcpListener, TlsAcceptor),
}

impl Listener {
    /// The next connection; TLS ones still as TCP, their handshake to do.
    async fn accept(&self) -> io::Result<Stream> {
        match self {
            Listener::Tcp(l) | Listener::Tls(l, _) => Ok(Stream::Tcp(l.accept().await?.0)),
            Listener::Unix(l, _) => Ok(Stream::Unix(l.accept().await?.0)),
        }
    }

    fn tls(&self) -> Option<&TlsAcceptor> {
        match self {
            Listener::Tls(_, acceptor) => Some(acceptor),
            _ => None,
        }
    }
}

/// Binds `endpoint` and starts accepting; returns the bound endpoint
/// (ephemeral ports resolved).
pub(crate) async fn bind(core: &Arc<Core>, endpoint: &Endpoint) -> Result<Endpoint> {
    let stop = Stop::new();
    let bound = listen(core, endpoint, &stop).await?;
    core.endpoints.add(Kind::Bound, bound.clone(), stop);
    Ok(bound)
}

/// Binds `endpoint` and starts its accept loop, which `stop` ends.
async fn listen(core: &Arc<Core>, endpoint: &Endpoint, stop: &Arc<Stop>) -> Result<Endpoint> {
    // The options as of this bind serve every link it accepts.
    let options = core.live.snapshot();
    let (listener, bound) = match endpoint {
        Endpoint::Tcp {
            source: Some(_), ..
        } => {
            return Err(EndpointError::Malformed {
                endpoint: endpoint.to_string(),
                reason: "a source address (before ';') is for connects",
            }
            .into());
        }
        Endpoint::Tcp { host, port, .. } => {
            let (listener, bound) = bind_tcp(endpoint, host, *port).await?;
            (Listener::Tcp(listener), bound)
        }
        Endpoint::Tls { host, port } => {
            // Settings first: a bad certificate is reported before any port
            // is taken.
            let tls = options.tls.as_ref().ok_or(TlsError::NotConfigured)?;
            let acceptor = tls.acceptor()?;
            let (listener, bound) = bind_tcp(endpoint, host, *port).await?;
            (Listener::Tls(listener, acceptor), bound)
        }
        Endpoint::Ipc(IpcAddr::Path(path)) if path.as_os_str() == "*" => {
            // libzmq's ipc://*: a fresh file in a new temporary directory.
            let (dir, path) = IpcFile::fresh_path().map_err(|e| bind_error(endpoint, e))?;
            let addr = IpcAddr::Path(path);
            let bound = Endpoint::Ipc(addr.clone());
            let (listener, file) = match bind_ipc(&bound, &addr) {
                Ok(bound) => bound,
                Err(e) => {
                    let _ = std::fs::remove_dir(&dir);
                    return Err(e);
                }
            };
            (
                Listener::Unix(listener, file.map(|f| f.in_own_dir(dir))),
                bound,
            )
        }
        Endpoint::Ipc(addr) => {
            let (listener, file) = bind_ipc(endpoint, addr)?;
            (Listener::Unix(listener, file), endpoint.clone())
        }
        Endpoint::Inproc(name) => {
            inproc::bind(core, name)?;
            // Nothing to let go of but the name, which `unbind` removes.
            stop.finish();
            return Ok(endpoint.clone());
        }
    };
    core.monitor.emit(MonitorEvent::Listening {
        endpoint: bound.clone(),
    });
    let task = tokio::spawn(accept_loop(
        core.clone(),
        options,
        listener,
        bound.clone(),
        stop.clone(),
    ));
    core.track(task);
    Ok(bound)
}

async fn bind_tcp(
    endpoint: &Endpoint,
    host: &crate::Host,
    port: crate::Port,
) -> Result<(TcpListener, Endpoint)> {
    let addr = format!("{}:{}", host.bind_text(), port.number());
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| bind_error(endpoint, e))?;
    let local = listener.local_addr().map_err(|e| bind_error(endpoint, e))?;
    Ok((listener, endpoint.with_bound_addr(local)))
}

fn bind_error(endpoint: &Endpoint, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::AddrInUse {
        Error::AddressInUse(endpoint.to_string())
    } else {
        Error::io(format!("bind {endpoint}"), e)
    }
}

/// Binds an ipc listener; for a path, also the file it made there.
fn bind_ipc(endpoint: &Endpoint, addr: &IpcAddr) -> Result<(UnixListener, Option<IpcFile>)> {
    let std_listener = match addr {
        IpcAddr::Path(path) => {
            // libzmq unlinks a stale socket file before binding.
            let _ = std::fs::remove_file(path);
            std::os::unix::net::UnixListener::bind(path)
        }
        IpcAddr::Abstract(name) => {
            abstract_addr(name).and_then(|a| std::os::unix::net::UnixListener::bind_addr(&a))
        }
    }
    .map_err(|e| bind_error(endpoint, e))?;
    std_listener
        .set_nonblocking(true)
        .map_err(|e| bind_error(endpoint, e))?;
    let file = match addr {
        IpcAddr::Path(path) => Some(IpcFile::bound_at(path)),
        IpcAddr::Abstract(_) => None,
    };
    let listener = UnixListener::from_std(std_listener).map_err(|e| bind_error(endpoint, e))?;
    Ok((listener, file))
}

/// A Linux abstract-namespace address.
pub(crate) fn abstract_addr(name: &str) -> io::Result<std::os::unix::net::SocketAddr> {
    #[cfg(target_os = "linux")]
    {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = name;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "abstract ipc names need Linux",
        ))
    }
}

/// Applies the endpoint's TCP options: no Nagle delay, keepalive if asked.
pub(crate) fn configure_tcp(options: &Options, stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    if let Some(idle) = options.tcp_keepalive {
        let keepalive = socket2::TcpKeepalive::new().with_time(idle);
        let _ = socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive);
    }
}

async fn accept_loop(
    core: Arc<Core>,
    options: Arc<Options>,
    listener: Listener,
    endpoint: Endpoint,
    stop: Arc<Stop>,
) {
    let gate = Gate::new(&options);
    let reason = loop {
        let greeting_due = gate.next_deadline();
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = sleep_until(greeting_due) => {
                gate.expire();
                continue;
            }
            _ = core.closing.cancelled() => break LinkEnd::SocketClosed,
            () = stop.stopped() => break LinkEnd::Refused(Refusal::DisconnectedByApplication),
        };
        let stream = match accepted {
            Ok(stream) => stream,
            Err(e) => {
                // Out of descriptors and the like: keep serving, but don't spin.
                core.monitor.emit(MonitorEvent::Refused {
                    endpoint: endpoint.clone(),
                    peer: String::new(),
                    reason: LinkEnd::AcceptFailed(IoFailure::from(&e)),
                });
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if let Stream::Tcp(tcp) = &stream {
            configure_tcp(&options, tcp);
        }
        let peer = stream.peer();
        let ticket = match gate.admit(source_of(&stream)) {
            Ok(ticket) => ticket,
            Err(refusal) => {
                core.monitor.emit(MonitorEvent::Refused {
                    endpoint: endpoint.clone(),
                    peer,
                    reason: LinkEnd::Refused(refusal),
                });
                continue;
            }
        };
        core.monitor.emit(MonitorEvent::Accepted {
            endpoint: endpoint.clone(),
            peer: peer.clone(),
        });
        // Numbered in accept order, which round-robin keeps (`pipe_ready`).
        let pipe = core.new_pipe_id();
        if !stop.join(pipe) {
            // Unbound while this one was being accepted.
            continue;
        }
        let link = LinkInfo {
            core: core.clone(),
            options: options.clone(),
            pipe,
            endpoint: endpoint.clone(),
            peer,
        };
        let tls = listener.tls().cloned();
        let task = tokio::spawn(serve(link, stream, tls, ticket, stop.clone()));
        core.track(task);
    };
    // Unbound: the links still in their handshake end too (the others
    // were ended by `Stop::stop`).
    gate.cut_all(&Refusal::DisconnectedByApplication);
    // The port or socket is free once unbind returns; the socket file goes
    // too, unless another bind has taken its path.
    let file = match listener {
        Listener::Unix(socket, file) => {
            drop(socket);
            file
        }
        other => {
            drop(other);
            None
        }
    };
    if let Some(file) = file {
        file.remove();
    }
    stop.finish();
    core.monitor.emit(MonitorEvent::Closed { endpoint, reason });
}

/// Sleeps until `at`; forever without it.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Who a new connection counts against in the per-source cap.
fn source_of(stream: &Stream) -> Source {
    match stream {
        Stream::Tcp(tcp) => tcp
            .peer_addr()
            .map_or(Source::Unknown, |a| Source::from_ip(a.ip())),
        Stream::Unix(_) => Source::Local,
        // Never at accept: TLS starts after admission.
        Stream::Tls(_) => Source::Unknown,
    }
}

async fn serve(
    link: LinkInfo,
    stream: Stream,
    tls: Option<TlsAcceptor>,
    ticket: Ticket,
    stop: Arc<Stop>,
) {
    run_link(&link, stream, tls, ticket).await;
    stop.leave(link.pipe);
    // A stop between the link's end and `leave` may have marked it.
    link.core.forget_link(link.pipe);
}

/// One accepted link, from its TLS handshake (on `tls://`) to its end.
async fn run_link(link: &LinkInfo, stream: Stream, tls: Option<TlsAcceptor>, mut ticket: Ticket) {
    let started = Instant::now();
    let pipe = link.pipe;
    let core = &link.core;
    let stream = match (tls, stream) {
        (Some(acceptor), Stream::Tcp(tcp)) => {
            let deadline = link.options.handshake_ivl.map(|t| started + t);
            // Boxed: a TLS handshake's state is several KiB, and inline it
            // would size every link's task, TLS or not (`docs/limits.md`).
            let accept = Box::pin(handshake::accept(core, &acceptor, tcp, deadline));
            let secured = tokio::select! {
                secured = accept => secured,
                why = ticket.cut() => Err(LinkEnd::Refused(why)),
                () = core.closing.cancelled() => Err(LinkEnd::SocketClosed),
            };
            match secured {
                Ok(stream) => stream,
                Err(end) => {
                    let outcome = Outcome {
                        end,
                        handshake_done: false,
                    };
                    return engine::report(link, &outcome);
                }
            }
        }
        (_, stream) => stream,
    };
    let (tx, mut rx) = core.new_pipe();
    let slot = PipeSlot::Pending(tx);
    let outcome = engine::run(stream, link, &mut rx, slot, Some(ticket), started).await;
    // `engine::run` took the link down and queued its notices already;
    // this only makes sure the pipe is gone.
    let _nothing_left = link.core.pipe_down(pipe, true, Default::default(), None);
    engine::report(link, &outcome);
}
