//! A listener's gate: the [`Admission`] rules of one listener under a lock,
//! and the [`Ticket`] each admitted link holds until its handshake
//! completes or it ends. The gate carries out what the rules decide: a
//! link cut (evicted for a newcomer, or silent past its greeting deadline)
//! is told through its ticket, and its engine (or its TLS handshake) ends
//! with the [`Refusal`] that says why.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::sync::oneshot;

use crate::admission::{Admission, Cut, Limits, LinkId, Source, Turned};
use crate::options::Options;
use crate::refusal::Refusal;

/// The pending links of one listener.
#[derive(Debug)]
pub(crate) struct Gate {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    admission: Admission,
    /// How to tell each pending link that it is cut.
    cutters: HashMap<LinkId, oneshot::Sender<Refusal>>,
    /// Reused for the cuts of each call.
    cuts: Vec<Cut>,
}

impl Gate {
    /// A gate with the socket's caps and greeting deadline.
    pub(crate) fn new(options: &Options) -> Arc<Self> {
        let limits = Limits {
            max_pending: options.max_handshakes,
            max_per_source: options.max_handshakes_per_source,
            greeting_ivl: options.greeting_ivl,
        };
        Arc::new(Gate {
            inner: Mutex::new(Inner {
                admission: Admission::new(limits),
                cutters: HashMap::new(),
                cuts: Vec::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A newcomer from `source`: its ticket, or why it is refused. Links
    /// cut to make room, or overdue, are told so.
    pub(crate) fn admit(self: &Arc<Self>, source: Source) -> Result<Ticket, Refusal> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let admitted = inner
            .admission
            .admit(source, Instant::now(), &mut inner.cuts);
        inner.carry_out_cuts();
        let id = admitted.map_err(|turned| match turned {
            Turned::TooManyFromSource { max } => Refusal::TooManyFromSource { max },
            Turned::HandshakeCap { max } => Refusal::HandshakeCap { max },
        })?;
        let (tx, rx) = oneshot::channel();
        inner.cutters.insert(id, tx);
        Ok(Ticket {
            gate: self.clone(),
            id,
            cut: Some(rx),
            greeted: false,
        })
    }

    /// When the next greeting falls due, if any is owed.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.lock().admission.next_deadline()
    }

    /// Cuts every link still in its handshake, for `why` (the listener
    /// stopped).
    pub(crate) fn cut_all(&self, why: &Refusal) {
        let mut inner = self.lock();
        for (_, cutter) in inner.cutters.drain() {
            // A link that ended meanwhile no longer listens.
            let _ = cutter.send(why.clone());
        }
    }

    /// Cuts the links whose greeting is overdue.
    pub(crate) fn expire(&self) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        inner.admission.expire(Instant::now(), &mut inner.cuts);
        inner.carry_out_cuts();
    }
}

impl Inner {
    fn carry_out_cuts(&mut self) {
        let limits = self.admission.limits();
        for cut in self.cuts.drain(..) {
            let why = match cut {
                Cut::Evicted(_) => Refusal::Evicted {
                    max: limits.max_pending,
                },
                // A cut for a timeout means there is an interval.
                Cut::GreetingTimeout(_) => Refusal::GreetingTimeout {
                    ivl: limits.greeting_ivl.unwrap_or_default(),
                },
            };
            if let Some(cutter) = self.cutters.remove(&cut.id()) {
                // The link may have ended meanwhile; then nobody listens.
                let _ = cutter.send(why);
            }
        }
    }
}

/// An admitted link's place at the gate: it is pending while the ticket
/// lives. Dropping it (the handshake completed, or the link ended) frees
/// the place.
#[derive(Debug)]
pub(crate) struct Ticket {
    gate: Arc<Gate>,
    id: LinkId,
    /// Resolves if the gate cuts the link; `None` once it can no longer.
    cut: Option<oneshot::Receiver<Refusal>>,
    greeted: bool,
}

impl Ticket {
    /// The peer's greeting is in: the greeting deadline no longer applies.
    /// Cheap to call again.
    pub(crate) fn greeted(&mut self) {
        if !self.greeted {
            self.greeted = true;
            self.gate.lock().admission.greeted(self.id);
        }
    }

    /// Ready with the reason once the gate has cut the link.
    pub(crate) fn poll_cut(&mut self, cx: &mut Context<'_>) -> Poll<Refusal> {
        let Some(rx) = self.cut.as_mut() else {
            return Poll::Pending;
        };
        match std::pin::Pin::new(rx).poll(cx) {
            Poll::Ready(Ok(why)) => Poll::Ready(why),
            // The gate no longer holds the link (it cannot be cut).
            Poll::Ready(Err(_)) => {
                self.cut = None;
                Poll::Pending
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Resolves with the reason once the gate has cut the link.
    pub(crate) async fn cut(&mut self) -> Refusal {
        std::future::poll_fn(|cx| self.poll_cut(cx)).await
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut inner = self.gate.lock();
        inner.admission.leave(self.id);
        inner.cutters.remove(&self.id);
    }
}
