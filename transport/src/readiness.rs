//! Send readiness without sending: [`Socket::writable`], the base of
//! libzmq's `ZMQ_POLLOUT` (`zmq_poll`, `ZMQ_EVENTS`) in the drop-in
//! `libzmq` crate.
//!
//! Whether a send would be taken at once follows [`rules::try_send`]'s
//! table (`rules/mod.rs`): PUB, XSUB, a ROUTER without `router_mandatory`
//! and an XPUB without `xpub_nodrop` never wait, so they are always
//! writable; SUB and PULL never send; REQ is writable when no reply is
//! owed (or `req_relaxed`) and a usable pipe has room; REP when a request
//! awaits its reply; PUSH, DEALER and PAIR when a usable pipe has room;
//! ROUTER with `router_mandatory` when some peer's pipe has room; XPUB with
//! `xpub_nodrop` when every ready peer's pipe has room. A closed socket
//! is not writable.
//!
//! Waiting uses the same signal as a send at the high-water mark
//! (`send_ready`, raised when a pipe gains room or a peer arrives), so a
//! socket waiting to be writable costs the links nothing more than a
//! blocked sender does.

use std::future::Future;
use std::sync::Arc;

use zmtp::SocketType;

use bytes::Bytes;

use crate::core::{Core, State};
use crate::error::{Error, Result};
use crate::rules;
use crate::socket::{Socket, WaitGuard};

impl Socket {
    /// Resolves once a send would be taken without waiting (see the module
    /// doc for each type); never, for SUB and PULL. The future owns what
    /// it needs, so it can be kept across polls; dropping it is harmless.
    /// It does not reserve room: a send made later may still have to wait
    /// if another sender filled the pipe first.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> zmtp_transport::Result<()> {
    /// use zmtp_transport::{Socket, SocketType};
    /// let pull = Socket::new(SocketType::Pull);
    /// let endpoint = pull.bind("tcp://127.0.0.1:*").await?;
    /// let push = Socket::new(SocketType::Push);
    /// push.connect(&endpoint.to_string()).await?;
    /// push.writable().await; // the connecting pipe takes messages at once
    /// assert!(push.try_send("now").is_ok());
    /// # Ok(())
    /// # }
    /// ```
    pub fn writable(&self) -> impl Future<Output = ()> + Send + 'static {
        let core = self.core().clone();
        async move { until_writable(core).await }
    }

    /// Whether a send would be taken now, without waiting (see
    /// [`Socket::writable`]).
    pub fn is_writable(&self) -> bool {
        can_send(self.core())
    }

    /// Whether a message whose first frame is `first_frame` would be taken
    /// now, decided as libzmq decides at a message's first frame (for a
    /// caller that gathers a message frame by frame): `Ok`, or
    /// [`Error::WouldBlock`] where the send would wait for room (PUSH,
    /// DEALER, PAIR, REQ without a pipe with room; a mandatory ROUTER's
    /// full peer; a NODROP XPUB's full subscriber of that topic), or the
    /// error the message would meet ([`Error::HostUnreachable`] for a
    /// mandatory ROUTER's unknown peer, [`Error::State`] for a REQ or REP
    /// out of turn). Reserves nothing.
    pub fn check_first_frame(&self, first_frame: &[u8]) -> Result<()> {
        let core = self.core();
        rules::first_frame::admit(&core.state(), core.socket_type, first_frame)
    }

    /// Waits while [`Socket::check_first_frame`] says
    /// [`Error::WouldBlock`], then gives its answer. The future owns what
    /// it needs; dropping it is harmless.
    pub fn first_frame_ready(
        &self,
        first_frame: Bytes,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let core = self.core().clone();
        async move {
            let _waiting = WaitGuard::enter(&core.send_waiters);
            loop {
                let notified = core.send_ready.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let answer = {
                    let state = core.state();
                    rules::first_frame::admit(&state, core.socket_type, &first_frame)
                };
                match answer {
                    Err(Error::WouldBlock) => notified.await,
                    answer => return answer,
                }
            }
        }
    }
}

async fn until_writable(core: Arc<Core>) {
    // Counted while waiting, so links signal room only when someone listens.
    let _waiting = WaitGuard::enter(&core.send_waiters);
    loop {
        // Enabled before the check, so a signal between the two is kept.
        let notified = core.send_ready.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if can_send(&core) {
            return;
        }
        notified.await;
    }
}

/// Whether `rules::try_send` would take a message now.
fn can_send(core: &Core) -> bool {
    let state = core.state();
    if state.closed {
        return false;
    }
    let modes = &state.modes;
    match core.socket_type {
        SocketType::Pub | SocketType::Xsub => true,
        SocketType::Router => !modes.router_mandatory || any_room(&state, |_| true),
        SocketType::Xpub => !modes.xpub_nodrop || every_ready_has_room(&state),
        SocketType::Sub | SocketType::Pull => false,
        SocketType::Rep => state.rep_pending.is_some(),
        SocketType::Req => {
            (modes.req_relaxed || state.req_awaiting.is_none()) && any_room(&state, |p| p.usable)
        }
        SocketType::Push | SocketType::Dealer | SocketType::Pair => any_room(&state, |p| p.usable),
    }
}

fn any_room(state: &State, eligible: impl Fn(&crate::core::PipeEntry) -> bool) -> bool {
    state.pipes.iter().any(|p| eligible(p) && p.tx.has_room())
}

fn every_ready_has_room(state: &State) -> bool {
    state
        .pipes
        .iter()
        .filter(|p| p.ready)
        .all(|p| p.tx.has_room())
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::Options;

    fn ready_now(f: impl Future<Output = ()>) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        pin!(f).poll(&mut cx) == Poll::Ready(())
    }

    #[tokio::test]
    async fn fan_out_types_are_always_writable_and_receivers_never() {
        for t in [SocketType::Pub, SocketType::Xsub, SocketType::Router] {
            assert!(Socket::new(t).is_writable(), "{t:?}");
        }
        for t in [SocketType::Sub, SocketType::Pull, SocketType::Rep] {
            let s = Socket::new(t);
            assert!(!s.is_writable(), "{t:?}");
            assert!(!ready_now(s.writable()), "{t:?}");
        }
    }

    #[tokio::test]
    async fn push_becomes_writable_when_a_peer_arrives() {
        let mut options = Options::new(SocketType::Push);
        options.sndhwm = 1;
        let push = Socket::with_options(SocketType::Push, options);
        assert!(!push.is_writable(), "no pipe yet");
        let waiting = tokio::spawn(push.writable());
        let endpoint = "inproc://readiness-push";
        let pull = Socket::new(SocketType::Pull);
        pull.bind(endpoint).await.unwrap_or_else(|e| panic!("{e}"));
        push.connect(endpoint)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
            .await
            .unwrap_or_else(|_| panic!("never writable"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(push.is_writable());
    }
}
