//! `zmq_proxy`, `zmq_proxy_steerable` and `zmq_device`: the transport's
//! proxy between two sockets, run as a task, while the calling thread
//! blocks until it ends, answering the control socket's commands.
//!
//! The sockets may belong to different contexts (Zeek's forwarder steers a
//! proxy of its own context through a REP socket of another): the call
//! returns -1 with ETERM when any of their contexts shuts down. Control
//! commands follow libzmq 4.3.5: `PAUSE`, `RESUME`, `TERMINATE` (the call
//! then returns 0) are answered with an empty frame, `STATISTICS` with
//! eight `uint64_t` frames: frontend received messages and bytes, sent
//! messages and bytes, then the same for the backend.

use std::ffi::{c_int, c_void};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use zmtp::Message;
use zmtp_transport::Socket;
use zmtp_transport::proxy::{Proxy, ProxyHandle, ProxyStats};

use crate::boundary::call;
use crate::context::Context;
use crate::errno::Errno;
use crate::handle::{self, tags};
use crate::socket::ZSocket;
use crate::wait::{Deadline, wait};

/// The socket behind a handle, or `None` for NULL.
///
/// # Safety
/// `s` is NULL or a live socket pointer.
unsafe fn optional<'a>(s: *mut c_void) -> Result<Option<&'a ZSocket>, Errno> {
    if s.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded contract.
    unsafe { handle::borrow::<ZSocket>(s, tags::SOCKET, Errno::NOTSOCK) }.map(Some)
}

/// What ended one wait of the steering loop.
enum Woken {
    /// A command on the control socket.
    Command(Message),
    /// The proxy ended (a socket closed), or another context shut down.
    Ended,
}

/// Resolves when any of `contexts` shuts down.
fn any_shutdown(contexts: &[Arc<Context>]) -> impl Future<Output = ()> + use<> {
    let mut waits: Vec<Pin<Box<dyn Future<Output = ()> + Send>>> = contexts
        .iter()
        .map(|c| {
            let mut rx = c.shutdown_signal().subscribe();
            Box::pin(async move {
                let _ = rx.wait_for(|down| *down).await;
            }) as Pin<Box<dyn Future<Output = ()> + Send>>
        })
        .collect();
    std::future::poll_fn(move |cx| {
        if waits.iter_mut().any(|w| w.as_mut().poll(cx).is_ready()) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}

/// The eight statistics frames, in libzmq's order.
fn statistics(stats: ProxyStats) -> Message {
    let (f, b) = (stats.frontend, stats.backend);
    let mut reply = Message::new();
    for value in [
        f.messages_in,
        f.bytes_in,
        f.messages_out,
        f.bytes_out,
        b.messages_in,
        b.bytes_in,
        b.messages_out,
        b.bytes_out,
    ] {
        reply.push(value.to_ne_bytes().to_vec());
    }
    reply
}

/// Applies one command; `true` when it was TERMINATE.
fn steer(handle: &ProxyHandle, control: &Socket, command: &Message) -> bool {
    let word = command.first().map(|f| &f[..]).unwrap_or_default();
    let reply = match word {
        b"STATISTICS" => statistics(handle.statistics()),
        other => {
            match other {
                b"PAUSE" => handle.pause(),
                b"RESUME" => handle.resume(),
                b"TERMINATE" => handle.terminate(),
                _ => {}
            }
            let mut empty = Message::new();
            empty.push(Vec::new());
            empty
        }
    };
    // A control peer that cannot take the reply does not stop the proxy.
    let _ = control.try_send(reply);
    word == b"TERMINATE"
}

/// Runs the proxy until TERMINATE (Ok), or a shutdown or closed socket
/// (ETERM).
fn run(
    frontend: &ZSocket,
    backend: &ZSocket,
    capture: Option<&ZSocket>,
    control: Option<&ZSocket>,
) -> Result<(), Errno> {
    let sockets: Vec<&ZSocket> = [Some(frontend), Some(backend), capture, control]
        .into_iter()
        .flatten()
        .collect();
    let contexts: Vec<Arc<Context>> = sockets.iter().map(|s| s.context().clone()).collect();
    let capture = capture.map(ZSocket::transport_socket).transpose()?;
    let control = control.map(ZSocket::transport_socket).transpose()?;
    let proxy = Proxy::new(
        frontend.transport_socket()?,
        backend.transport_socket()?,
        capture,
    );
    let (handle, mut task) = {
        let _entered = frontend.runtime().enter();
        proxy.spawn()
    };
    let runtime = frontend.runtime();
    let shutdown = frontend.context().shutdown_signal();
    loop {
        let ended = any_shutdown(&contexts);
        let mut ended = std::pin::pin!(ended);
        let woken = wait(
            runtime,
            shutdown,
            Deadline::Never,
            std::future::poll_fn(|cx| {
                if ended.as_mut().poll(cx).is_ready() || Pin::new(&mut task).poll(cx).is_ready() {
                    return Poll::Ready(Woken::Ended);
                }
                match &control {
                    Some(c) => std::pin::pin!(c.recv()).poll(cx).map(|r| match r {
                        Ok(command) => Woken::Command(command),
                        Err(_) => Woken::Ended,
                    }),
                    None => Poll::Pending,
                }
            }),
        );
        match (woken, &control) {
            (Ok(Woken::Command(command)), Some(c)) => {
                if steer(&handle, c, &command) {
                    return Ok(());
                }
            }
            (Ok(_), _) | (Err(_), _) => {
                handle.terminate();
                return Err(Errno::TERM);
            }
        }
    }
}

/// `zmq_proxy`: forwards between `frontend` and `backend` (copies to
/// `capture` if not NULL) until a context shuts down: -1 with ETERM.
///
/// # Safety
/// Each pointer is NULL (capture only) or a live socket, used by no other
/// thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_proxy(
    frontend: *mut c_void,
    backend: *mut c_void,
    capture: *mut c_void,
) -> c_int {
    // SAFETY: same contract.
    unsafe { zmq_proxy_steerable(frontend, backend, capture, std::ptr::null_mut()) }
}

/// `zmq_proxy_steerable`: as `zmq_proxy`, steered by commands on
/// `control` (PAUSE, RESUME, TERMINATE, STATISTICS); 0 after TERMINATE.
///
/// # Safety
/// As [`zmq_proxy`]; `control` NULL or a live socket.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_proxy_steerable(
    frontend: *mut c_void,
    backend: *mut c_void,
    capture: *mut c_void,
    control: *mut c_void,
) -> c_int {
    call(|| {
        // SAFETY: caller's contract, for every pointer.
        let (f, b, cap, ctl) = unsafe {
            (
                optional(frontend)?,
                optional(backend)?,
                optional(capture)?,
                optional(control)?,
            )
        };
        let (Some(f), Some(b)) = (f, b) else {
            return Err(Errno::FAULT);
        };
        run(f, b, cap, ctl).map(|()| 0)
    })
}

/// `zmq_device`: the old name of `zmq_proxy` (the type is ignored).
///
/// # Safety
/// As [`zmq_proxy`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zmq_device(
    _type: c_int,
    frontend: *mut c_void,
    backend: *mut c_void,
) -> c_int {
    // SAFETY: same contract.
    unsafe { zmq_proxy(frontend, backend, std::ptr::null_mut()) }
}
