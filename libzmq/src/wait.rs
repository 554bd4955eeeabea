//! How a blocking C call waits: the operation's future is polled on the
//! calling thread (parked between wake-ups, no task spawned), raced
//! against the context's shutdown and the call's deadline.
//!
//! The first poll happens before anything else, so a call that can
//! proceed at once never touches a timer, and a DONTWAIT call
//! ([`Deadline::Now`]) is exactly one attempt. Wake-ups come from the
//! transport's own notifications (its queues' wakers, `send_ready`), from
//! the context's shutdown signal, and from the runtime's timer: there is
//! no polling loop. The caller's thread need not belong to the runtime;
//! the runtime is entered only so timers and sockets register with it.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::errno::Errno;

/// When a blocking call gives up with EAGAIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// One attempt only (DONTWAIT, or a timeout of 0).
    Now,
    /// Wait until then.
    At(Instant),
    /// Wait as long as it takes (a timeout of -1).
    Never,
}

impl Deadline {
    /// The deadline for libzmq's millisecond timeouts (RCVTIMEO, SNDTIMEO):
    /// negative is infinite, 0 is one attempt.
    pub fn from_timeout_ms(ms: i32) -> Self {
        match u64::try_from(ms) {
            Err(_) => Deadline::Never,
            Ok(0) => Deadline::Now,
            Ok(ms) => Deadline::At(Instant::now() + Duration::from_millis(ms)),
        }
    }
}

/// Wakes the parked calling thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    /// This thread's waker, made once: blocking calls are frequent, and a
    /// waker per call would be an allocation per call.
    static WAKER: Waker = Waker::from(Arc::new(Unpark(std::thread::current())));
}

/// One poll of `op` with the calling thread's waker, the one [`wait`]
/// parks on, outside the runtime: the fast path of a blocking call, which
/// registers nothing a later `wait` would not.
pub fn poll_once<F: Future>(op: F) -> Poll<F::Output> {
    let waker = WAKER.with(Waker::clone);
    let mut cx = Context::from_waker(&waker);
    pin!(op).poll(&mut cx)
}

/// Runs `op` on the calling thread until it finishes, the context shuts
/// down (ETERM) or the deadline passes (EAGAIN).
pub fn wait<F: Future>(
    runtime: &Handle,
    shutdown: &watch::Sender<bool>,
    deadline: Deadline,
    op: F,
) -> Result<F::Output, Errno> {
    let _entered = runtime.enter();
    let waker = WAKER.with(Waker::clone);
    let mut cx = Context::from_waker(&waker);
    let mut op = pin!(op);
    if let Poll::Ready(out) = op.as_mut().poll(&mut cx) {
        return Ok(out);
    }
    if *shutdown.borrow() {
        return Err(Errno::TERM);
    }
    let mut timer = match deadline {
        Deadline::Now => return Err(Errno::AGAIN),
        Deadline::At(at) => Some(Box::pin(tokio::time::sleep_until(at.into()))),
        Deadline::Never => None,
    };
    let mut shutdown_rx = shutdown.subscribe();
    let mut terminated = pin!(async move {
        // An error means the context is gone: terminated as well.
        let _ = shutdown_rx.wait_for(|down| *down).await;
    });
    // `op` was polled just above and is polled again only after a wake-up:
    // a pending poll of a receive costs as much as the receive itself.
    loop {
        if terminated.as_mut().poll(&mut cx).is_ready() {
            return Err(Errno::TERM);
        }
        if let Some(timer) = timer.as_mut()
            && timer.as_mut().poll(&mut cx).is_ready()
        {
            return Err(Errno::AGAIN);
        }
        // Spurious unparks only cost one more round of polls.
        std::thread::park();
        if let Poll::Ready(out) = op.as_mut().poll(&mut cx) {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    }

    #[test]
    fn ready_operations_need_no_deadline() {
        let rt = runtime();
        let (tx, _rx) = watch::channel(false);
        assert_eq!(wait(rt.handle(), &tx, Deadline::Now, async { 5 }), Ok(5));
    }

    #[test]
    fn one_poll_outside_the_runtime_then_a_wait_that_is_woken() {
        assert_eq!(poll_once(async { 7 }), Poll::Ready(7));
        assert!(poll_once(std::future::pending::<()>()).is_pending());
        // A miss registers this thread's waker, which a later wait parks on.
        let rt = runtime();
        let (tx, _rx) = watch::channel(false);
        let (send, recv) = tokio::sync::oneshot::channel::<u8>();
        let mut recv = Box::pin(recv);
        assert!(poll_once(recv.as_mut()).is_pending());
        let sender = std::thread::spawn(move || send.send(3));
        let got = wait(rt.handle(), &tx, Deadline::Never, recv.as_mut());
        assert_eq!(got, Ok(Ok(3)));
        assert_eq!(sender.join().ok(), Some(Ok(())));
    }

    #[test]
    fn deadlines_end_waits_with_eagain() {
        let rt = runtime();
        let (tx, _rx) = watch::channel(false);
        let started = Instant::now();
        let never = std::future::pending::<()>();
        assert_eq!(
            wait(rt.handle(), &tx, Deadline::Now, never),
            Err(Errno::AGAIN)
        );
        let never = std::future::pending::<()>();
        let r = wait(rt.handle(), &tx, Deadline::from_timeout_ms(50), never);
        assert_eq!(r, Err(Errno::AGAIN));
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn shutdown_wakes_a_waiter_in_another_thread() {
        let rt = runtime();
        let (tx, _rx) = watch::channel(false);
        let tx = Arc::new(tx);
        let handle = rt.handle().clone();
        let waiter = {
            let tx = tx.clone();
            std::thread::spawn(move || {
                wait(&handle, &tx, Deadline::Never, std::future::pending::<()>())
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        tx.send_replace(true);
        let result = waiter.join().unwrap_or(Ok(()));
        assert_eq!(result, Err(Errno::TERM));
    }
}
