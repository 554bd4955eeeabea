//! Proxies: move every message from one socket to another, both ways where
//! the types allow, with an optional capture socket that sees a copy.
//!
//! [`proxy`] runs until a socket closes. [`Proxy::spawn`] runs the same loop
//! in a task steered through a [`ProxyHandle`]: pause, resume, terminate,
//! and statistics per side (libzmq's `zmq_proxy_steerable`, with a Rust
//! handle in place of a control socket).
//!
//! ```no_run
//! # async fn demo() -> zmtp_transport::Result<()> {
//! use zmtp_transport::{Socket, SocketType, proxy};
//! let frontend = Socket::new(SocketType::Xsub);
//! frontend.bind("tcp://*:5559").await?;
//! let backend = Socket::new(SocketType::Xpub);
//! backend.bind("tcp://*:5560").await?;
//! proxy::proxy(&frontend, &backend, None).await
//! # }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use zmtp::{Message, SocketType};

use crate::error::{Error, Result};
use crate::socket::Socket;

/// Forwards messages between `frontend` and `backend` until one of them
/// closes; every forwarded message is also offered to `capture`.
pub async fn proxy(frontend: &Socket, backend: &Socket, capture: Option<&Socket>) -> Result<()> {
    let control = Arc::new(Control::default());
    run(frontend, backend, capture, &control).await
}

/// Message and byte counts for one side of a proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SideStats {
    /// Messages received on this side.
    pub messages_in: u64,
    /// Bytes received on this side.
    pub bytes_in: u64,
    /// Messages sent out of this side.
    pub messages_out: u64,
    /// Bytes sent out of this side.
    pub bytes_out: u64,
}

/// Statistics of a steerable proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// The frontend socket's side.
    pub frontend: SideStats,
    /// The backend socket's side.
    pub backend: SideStats,
}

#[derive(Debug, Default)]
struct Counters {
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> SideStats {
        SideStats {
            messages_in: self.messages_in.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            messages_out: self.messages_out.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Default)]
struct Control {
    paused: AtomicBool,
    terminated: AtomicBool,
    changed: Notify,
    frontend: Counters,
    backend: Counters,
}

/// A proxy to run in the background.
#[derive(Debug)]
pub struct Proxy {
    frontend: Socket,
    backend: Socket,
    capture: Option<Socket>,
}

/// Steers a running [`Proxy`].
#[derive(Debug, Clone)]
pub struct ProxyHandle {
    control: Arc<Control>,
}

impl Proxy {
    /// A proxy between two sockets, with an optional capture socket.
    pub fn new(frontend: Socket, backend: Socket, capture: Option<Socket>) -> Self {
        Proxy {
            frontend,
            backend,
            capture,
        }
    }

    /// Starts forwarding in a task; returns the steering handle and the
    /// task, which ends with `Ok` on terminate or the error that stopped it.
    pub fn spawn(self) -> (ProxyHandle, JoinHandle<Result<()>>) {
        let control = Arc::new(Control::default());
        let handle = ProxyHandle {
            control: control.clone(),
        };
        let task = tokio::spawn(async move {
            run(
                &self.frontend,
                &self.backend,
                self.capture.as_ref(),
                &control,
            )
            .await
        });
        (handle, task)
    }
}

impl ProxyHandle {
    /// Stops forwarding; messages wait in the sockets' queues.
    pub fn pause(&self) {
        self.control.paused.store(true, Ordering::Release);
        self.control.changed.notify_waiters();
    }

    /// Forwards again after a pause.
    pub fn resume(&self) {
        self.control.paused.store(false, Ordering::Release);
        self.control.changed.notify_waiters();
    }

    /// Ends the proxy task.
    pub fn terminate(&self) {
        self.control.terminated.store(true, Ordering::Release);
        self.control.changed.notify_waiters();
    }

    /// Counts per side so far.
    pub fn statistics(&self) -> ProxyStats {
        ProxyStats {
            frontend: self.control.frontend.snapshot(),
            backend: self.control.backend.snapshot(),
        }
    }
}

/// Whether the proxy should read from a socket of this type.
fn readable(socket_type: SocketType) -> bool {
    !matches!(socket_type, SocketType::Push | SocketType::Pub)
}

async fn run(
    frontend: &Socket,
    backend: &Socket,
    capture: Option<&Socket>,
    control: &Control,
) -> Result<()> {
    let read_front = readable(frontend.socket_type());
    let read_back = readable(backend.socket_type());
    loop {
        let changed = control.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if control.terminated.load(Ordering::Acquire) {
            return Ok(());
        }
        if control.paused.load(Ordering::Acquire) {
            changed.await;
            continue;
        }
        tokio::select! {
            received = frontend.recv(), if read_front => {
                forward(received?, backend, capture, &control.frontend, &control.backend).await?;
            }
            received = backend.recv(), if read_back => {
                forward(received?, frontend, capture, &control.backend, &control.frontend).await?;
            }
            _ = &mut changed => {}
        }
    }
}

async fn forward(
    message: Message,
    to: &Socket,
    capture: Option<&Socket>,
    from_counters: &Counters,
    to_counters: &Counters,
) -> Result<()> {
    let size = message.size() as u64;
    from_counters.messages_in.fetch_add(1, Ordering::Relaxed);
    from_counters.bytes_in.fetch_add(size, Ordering::Relaxed);
    if let Some(capture) = capture {
        // A slow capture socket must not stall the proxy; its own
        // high-water mark decides what it keeps.
        match capture.try_send(message.clone()) {
            Ok(()) => {}
            Err(e) if matches!(e.error, Error::WouldBlock) => {}
            Err(e) => return Err(e.error),
        }
    }
    to.send(message).await?;
    to_counters.messages_out.fetch_add(1, Ordering::Relaxed);
    to_counters.bytes_out.fetch_add(size, Ordering::Relaxed);
    Ok(())
}
