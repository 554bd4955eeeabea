//! `zmq_socket_monitor`: a socket's events as libzmq's version 1 monitor
//! messages on an `inproc://` PAIR socket.
//!
//! Each event is two frames: six bytes (the event number as a native
//! `uint16_t`, then a native `uint32_t` value), and the endpoint it
//! concerns. Events come from the transport's [`Monitor`] of the socket;
//! one task per monitored socket turns them into messages. It waits for
//! the PAIR's peer (so events before the peer connects are kept, up to the
//! transport's bounded monitor queue) and ends with `MONITOR_STOPPED` when
//! the socket closes or monitoring is turned off. The PAIR's linger only
//! gives that last event time to reach the peer: its close runs in the
//! forwarding task, which `zmq_ctx_term` does not wait for (libzmq's
//! monitor socket never holds up termination either).

use std::ffi::c_int;
use std::future::Future;
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use zmtp::{Message, SocketType};
use zmtp_transport::{Endpoint, LinkEnd, Monitor, MonitorEvent, Options, Socket};

use crate::errno::Errno;
use crate::socket::errno_of;
use crate::wait::{Deadline, wait};

/// `ZMQ_EVENT_*` numbers (version 1).
#[allow(missing_docs)]
pub mod event {
    pub const CONNECTED: u16 = 0x0001;
    pub const CONNECT_DELAYED: u16 = 0x0002;
    pub const CONNECT_RETRIED: u16 = 0x0004;
    pub const LISTENING: u16 = 0x0008;
    pub const ACCEPTED: u16 = 0x0020;
    pub const ACCEPT_FAILED: u16 = 0x0040;
    pub const CLOSED: u16 = 0x0080;
    pub const DISCONNECTED: u16 = 0x0200;
    pub const MONITOR_STOPPED: u16 = 0x0400;
    pub const HANDSHAKE_FAILED_NO_DETAIL: u16 = 0x0800;
    pub const HANDSHAKE_SUCCEEDED: u16 = 0x1000;
    pub const HANDSHAKE_FAILED_PROTOCOL: u16 = 0x2000;
    pub const HANDSHAKE_FAILED_AUTH: u16 = 0x4000;
}

/// `ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED`: the value of protocol failures
/// (the transport's reasons are typed, not numbered as libzmq's).
const PROTOCOL_ERROR_UNSPECIFIED: u32 = 0x1000_0000;

/// The event number and value libzmq would report for `event`.
pub fn v1_event(e: &MonitorEvent) -> Option<(u16, u32)> {
    Some(match e {
        MonitorEvent::Listening { .. } => (event::LISTENING, 0),
        MonitorEvent::Accepted { .. } => (event::ACCEPTED, 0),
        MonitorEvent::Refused { reason, .. } => (event::ACCEPT_FAILED, os_code(reason)),
        MonitorEvent::Connected { .. } => (event::CONNECTED, 0),
        MonitorEvent::ReconnectScheduled { delay, .. } => (event::CONNECT_RETRIED, millis(*delay)),
        MonitorEvent::HandshakeSucceeded { .. } => (event::HANDSHAKE_SUCCEEDED, 0),
        MonitorEvent::HandshakeFailed { reason, .. } if reason.is_authentication_failure() => {
            let status = reason.refused_status().map_or(400, |s| s.code());
            (event::HANDSHAKE_FAILED_AUTH, u32::from(status))
        }
        MonitorEvent::HandshakeFailed {
            reason: LinkEnd::Zap(fault),
            ..
        } => (event::HANDSHAKE_FAILED_PROTOCOL, fault.libzmq_code()),
        MonitorEvent::HandshakeFailed { reason, .. } if reason.is_protocol_error() => {
            (event::HANDSHAKE_FAILED_PROTOCOL, PROTOCOL_ERROR_UNSPECIFIED)
        }
        MonitorEvent::HandshakeFailed { reason, .. } => {
            (event::HANDSHAKE_FAILED_NO_DETAIL, os_code(reason))
        }
        MonitorEvent::Disconnected { .. } => (event::DISCONNECTED, 0),
        MonitorEvent::Closed { .. } => (event::CLOSED, 0),
        _ => return None,
    })
}

/// The v1 events libzmq sends for `e`: its own; for a tcp connection
/// CONNECT_DELAYED (value EINPROGRESS) before CONNECTED, as libzmq's
/// non-blocking connect reports; for a failed handshake DISCONNECTED
/// after it (libzmq ends every engine with DISCONNECTED; the transport's
/// link ends with the failure).
fn v1_events(e: &MonitorEvent) -> impl Iterator<Item = (u16, u32)> {
    let delayed_first = matches!(
        e,
        MonitorEvent::Connected {
            endpoint: Endpoint::Tcp { .. },
            ..
        }
    );
    let then_disconnected = matches!(e, MonitorEvent::HandshakeFailed { .. });
    let einprogress = u32::try_from(libc::EINPROGRESS).unwrap_or(0);
    delayed_first
        .then_some((event::CONNECT_DELAYED, einprogress))
        .into_iter()
        .chain(v1_event(e))
        .chain(then_disconnected.then_some((event::DISCONNECTED, 0)))
}

/// Events of the socket's own close that libzmq does not send: a link it
/// ends (libzmq's engine is terminated without DISCONNECTED) and a
/// connecter it stops (CLOSED is a listener's). A listener's CLOSED is
/// kept (libzmq sends it as the listener closes).
fn own_close_without_event(e: &MonitorEvent, listeners: &[Endpoint]) -> bool {
    match e {
        MonitorEvent::Disconnected { reason, .. } => matches!(reason, LinkEnd::SocketClosed),
        MonitorEvent::Closed { endpoint, reason } => {
            matches!(reason, LinkEnd::SocketClosed) && !listeners.contains(endpoint)
        }
        _ => false,
    }
}

/// The errno libzmq puts in an event's value for `reason`: the OS error,
/// and EPIPE for a peer that closed its end (libzmq's read of an orderly
/// close sets it, so a handshake cut short that way reports
/// HANDSHAKE_FAILED_NO_DETAIL with EPIPE).
fn os_code(reason: &LinkEnd) -> u32 {
    match reason {
        LinkEnd::Io(failure) => failure
            .os_code
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(0),
        LinkEnd::PeerClosed => u32::try_from(libc::EPIPE).unwrap_or(0),
        _ => 0,
    }
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// The two frames of one event.
pub fn encode(number: u16, value: u32, endpoint: &str) -> Message {
    let mut head = Vec::with_capacity(6);
    head.extend_from_slice(&number.to_ne_bytes());
    head.extend_from_slice(&value.to_ne_bytes());
    let mut message = Message::new();
    message.push(head);
    message.push(endpoint.as_bytes().to_vec());
    message
}

/// A monitoring request: the PAIR socket events go out on, and the task
/// forwarding them once the monitored transport socket exists.
pub struct MonitorSink {
    pair: Socket,
    mask: u32,
    forwarding: Option<(JoinHandle<()>, oneshot::Sender<()>)>,
}

impl MonitorSink {
    /// Binds the PAIR at `addr` (which must be `inproc://`).
    pub fn bind(
        runtime: &Handle,
        ctx: &crate::context::Context,
        addr: &str,
        mask: c_int,
    ) -> Result<Self, Errno> {
        if !addr.starts_with("inproc://") {
            return Err(Errno(libc::EPROTONOSUPPORT));
        }
        let mut options = Options::new(SocketType::Pair);
        options.linger = Some(Duration::from_secs(1));
        options.inproc_domain = ctx.inproc_domain().clone();
        let pair = {
            let _entered = runtime.enter();
            Socket::with_options(SocketType::Pair, options)
        };
        wait(
            runtime,
            ctx.shutdown_signal(),
            Deadline::Never,
            pair.bind(addr),
        )?
        .map_err(errno_of)?;
        Ok(MonitorSink {
            pair,
            mask: u32::from_ne_bytes(mask.to_ne_bytes()),
            forwarding: None,
        })
    }

    /// Starts forwarding `socket`'s events (once).
    pub fn start(&mut self, runtime: &Handle, socket: &Socket) {
        if self.forwarding.is_some() {
            return;
        }
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = runtime.spawn(forward(
            socket.monitor(),
            self.pair.clone(),
            self.mask,
            stop_rx,
        ));
        self.forwarding = Some((task, stop_tx));
    }

    /// Stops monitoring: `MONITOR_STOPPED` is sent and the PAIR closed.
    pub fn stop(self, runtime: &Handle) {
        match self.forwarding {
            Some((_task, stop)) => {
                let _ = stop.send(());
            }
            None => {
                let pair = self.pair;
                let mask = self.mask;
                runtime.spawn(async move { stopped(pair, mask).await });
            }
        }
    }
}

/// Forwards events until told to stop (`MonitorSink::stop`) or until the
/// socket's events end (it closed: its last events, CLOSED and
/// DISCONNECTED, are forwarded first, as libzmq sends them before
/// MONITOR_STOPPED). A sink dropped without `stop` (the socket closing)
/// is not a stop.
async fn forward(mut monitor: Monitor, pair: Socket, mask: u32, stop: oneshot::Receiver<()>) {
    let mut stop = Some(stop);
    // Bound endpoints: their CLOSED is reported, a connecter's is not.
    let mut listeners: Vec<Endpoint> = Vec::new();
    loop {
        // The next event, or None when told to stop. `Monitor::next` is
        // cancel-safe (a channel receive), so a fresh one per poll is fine.
        let next = std::future::poll_fn(|cx| {
            if let Some(rx) = stop.as_mut() {
                match Pin::new(rx).poll(cx) {
                    Poll::Ready(Ok(())) => return Poll::Ready(None),
                    Poll::Ready(Err(_)) => stop = None,
                    Poll::Pending => {}
                }
            }
            pin!(monitor.next()).poll(cx).map(Some)
        });
        let Some(Some(event)) = next.await else {
            break;
        };
        if let MonitorEvent::Listening { endpoint } = &event {
            listeners.push(endpoint.clone());
        }
        if own_close_without_event(&event, &listeners) {
            continue;
        }
        let endpoint = event.endpoint().to_string();
        for (number, value) in v1_events(&event) {
            if u32::from(number) & mask != 0
                && pair.send(encode(number, value, &endpoint)).await.is_err()
            {
                return;
            }
        }
    }
    stopped(pair, mask).await;
}

async fn stopped(pair: Socket, mask: u32) {
    if u32::from(event::MONITOR_STOPPED) & mask != 0 {
        let _ = pair.try_send(encode(event::MONITOR_STOPPED, 0, ""));
    }
    pair.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_six_bytes_then_the_endpoint() {
        let m = encode(event::LISTENING, 7, "tcp://127.0.0.1:5555");
        let frames = m.frames();
        assert_eq!(frames.len(), 2);
        assert_eq!(&frames[0][..2], &0x0008u16.to_ne_bytes());
        assert_eq!(&frames[0][2..], &7u32.to_ne_bytes());
        assert_eq!(&frames[1][..], b"tcp://127.0.0.1:5555");
    }

    /// libzmq's `test_security_zap` expects EPIPE when the client goes
    /// while the server waits for its ZAP handler.
    #[test]
    #[allow(clippy::unwrap_used)]
    fn a_handshake_the_peer_closed_fails_with_epipe() {
        let failed = MonitorEvent::HandshakeFailed {
            endpoint: "tcp://127.0.0.1:5555".parse().unwrap(),
            peer: "127.0.0.1".into(),
            reason: LinkEnd::PeerClosed,
        };
        let epipe = u32::try_from(libc::EPIPE).unwrap();
        assert_eq!(
            v1_event(&failed),
            Some((event::HANDSHAKE_FAILED_NO_DETAIL, epipe))
        );
    }
}
