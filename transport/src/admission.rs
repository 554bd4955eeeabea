//! Fair admission of a listener's incoming links while they are in their
//! handshake: which newcomer is let in, which pending link makes room for
//! it, and which link has been silent too long. Sans-IO: no sockets, no
//! clock; the listener passes the time in and closes what it is told to.
//!
//! A link is *pending* from its accept until its handshake completes or it
//! ends. The rules, in the order [`Admission::admit`] applies them:
//! 1. a pending link that has not sent its whole ZMTP greeting (on
//!    `tls://`: finished the TLS handshake and then the greeting) within
//!    the greeting interval is cut ([`Cut::GreetingTimeout`]); libzmq has
//!    no such deadline, only `ZMQ_HANDSHAKE_IVL` for the whole handshake;
//! 2. a newcomer whose source already has `max_per_source` pending links
//!    is refused ([`Turned::TooManyFromSource`]);
//! 3. a newcomer that finds `max_pending` links pending is let in, and the
//!    oldest pending link is cut to make room ([`Cut::Evicted`]): holding
//!    every place then takes a stream of new connections, not a set of
//!    idle ones. With `max_pending` zero every newcomer is refused
//!    ([`Turned::HandshakeCap`]).
//!
//! A link that completes its handshake or ends leaves at once
//! ([`Admission::leave`]); it is never cut afterwards.
//!
//! Costs: at most `max_pending` entries of about 64 bytes, and per-source
//! counts for at most that many sources; every operation is logarithmic in
//! `max_pending`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Where a link comes from, as far as the per-source cap is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// An IPv4 address (IPv4-mapped IPv6 addresses count as IPv4).
    V4([u8; 4]),
    /// The /64 prefix of an IPv6 address: one host usually holds a whole
    /// /64, so its addresses count as one source.
    V6Prefix([u8; 8]),
    /// Every `ipc://` peer: one shared key (the peers are local processes).
    Local,
    /// Peers whose address could not be read (they had gone already): one
    /// shared key.
    Unknown,
}

impl Source {
    /// The source of a peer at `ip`.
    pub fn from_ip(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Source::V4(v4.octets()),
            IpAddr::V6(v6) => {
                let octets = v6.octets();
                let mut prefix = [0u8; 8];
                prefix.copy_from_slice(&octets[..8]);
                Source::V6Prefix(prefix)
            }
        }
    }
}

/// One pending link, numbered in order of arrival (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(u64);

/// The caps and the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most links pending at once (`Options::max_handshakes`).
    pub max_pending: usize,
    /// Most links pending at once from one [`Source`]
    /// (`Options::max_handshakes_per_source`).
    pub max_per_source: usize,
    /// Time from accept to the end of the peer's greeting
    /// (`Options::greeting_ivl`); `None`: no deadline.
    pub greeting_ivl: Option<Duration>,
}

/// Why a newcomer was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turned {
    /// Its source has `max` links pending already.
    TooManyFromSource {
        /// The per-source cap.
        max: usize,
    },
    /// No link may be pending at all (`max_pending` is zero).
    HandshakeCap {
        /// The global cap.
        max: usize,
    },
}

/// A pending link the listener must close, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// The oldest pending link, cut to admit a newcomer at the global cap.
    Evicted(LinkId),
    /// A link that did not send its greeting within the greeting interval.
    GreetingTimeout(LinkId),
}

impl Cut {
    /// The link to close.
    pub fn id(self) -> LinkId {
        match self {
            Cut::Evicted(id) | Cut::GreetingTimeout(id) => id,
        }
    }
}

/// What is known of one pending link.
#[derive(Debug, Clone, Copy)]
struct Pending {
    source: Source,
    started: Instant,
    greeted: bool,
}

/// The pending links of one listener and the rules that admit them.
#[derive(Debug)]
pub struct Admission {
    limits: Limits,
    /// By id, so by arrival: the first is the oldest.
    pending: BTreeMap<LinkId, Pending>,
    /// The pending links still owing their greeting, oldest first.
    ungreeted: BTreeSet<LinkId>,
    per_source: HashMap<Source, usize>,
    next_id: u64,
    /// The latest time seen: time passed in never goes backwards here, so
    /// arrival order is also the order of `started`.
    now: Option<Instant>,
}

impl Admission {
    /// No link pending yet.
    pub fn new(limits: Limits) -> Self {
        Admission {
            limits,
            pending: BTreeMap::new(),
            ungreeted: BTreeSet::new(),
            per_source: HashMap::new(),
            next_id: 0,
            now: None,
        }
    }

    /// The caps and the deadline.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// A newcomer from `source` at `now`: its id if admitted, why not
    /// otherwise. The links to close (overdue greetings, an evicted
    /// oldest) are appended to `cuts` either way; they have left already.
    pub fn admit(
        &mut self,
        source: Source,
        now: Instant,
        cuts: &mut Vec<Cut>,
    ) -> Result<LinkId, Turned> {
        let now = self.advance(now);
        self.expire(now, cuts);
        if self.pending_from(source) >= self.limits.max_per_source {
            return Err(Turned::TooManyFromSource {
                max: self.limits.max_per_source,
            });
        }
        if self.limits.max_pending == 0 {
            return Err(Turned::HandshakeCap { max: 0 });
        }
        while self.pending.len() >= self.limits.max_pending {
            let Some(oldest) = self.pending.keys().next().copied() else {
                break;
            };
            self.remove(oldest);
            cuts.push(Cut::Evicted(oldest));
        }
        let id = LinkId(self.next_id);
        self.next_id += 1;
        self.pending.insert(
            id,
            Pending {
                source,
                started: now,
                greeted: false,
            },
        );
        self.ungreeted.insert(id);
        *self.per_source.entry(source).or_insert(0) += 1;
        Ok(id)
    }

    /// `id` has sent its whole greeting: the greeting deadline no longer
    /// applies to it. Unknown ids (cut or left already) are ignored.
    pub fn greeted(&mut self, id: LinkId) {
        if let Some(link) = self.pending.get_mut(&id) {
            link.greeted = true;
            self.ungreeted.remove(&id);
        }
    }

    /// `id` completed its handshake or ended: its place is free. Whether
    /// it was still pending.
    pub fn leave(&mut self, id: LinkId) -> bool {
        self.remove(id)
    }

    /// Cuts every link whose greeting is overdue at `now`, appending them
    /// to `cuts`.
    pub fn expire(&mut self, now: Instant, cuts: &mut Vec<Cut>) {
        let now = self.advance(now);
        while let Some(at) = self.next_deadline() {
            if at > now {
                break;
            }
            let Some(id) = self.ungreeted.first().copied() else {
                break;
            };
            self.remove(id);
            cuts.push(Cut::GreetingTimeout(id));
        }
    }

    /// When the next greeting falls due, if any is owed.
    pub fn next_deadline(&self) -> Option<Instant> {
        let ivl = self.limits.greeting_ivl?;
        let id = self.ungreeted.first()?;
        let link = self.pending.get(id)?;
        // An interval too long to add is no deadline at all.
        link.started.checked_add(ivl)
    }

    /// How many links from `source` are pending.
    pub fn pending_from(&self, source: Source) -> usize {
        self.per_source.get(&source).copied().unwrap_or(0)
    }

    fn advance(&mut self, now: Instant) -> Instant {
        let now = self.now.map_or(now, |seen| seen.max(now));
        self.now = Some(now);
        now
    }

    fn remove(&mut self, id: LinkId) -> bool {
        let Some(link) = self.pending.remove(&id) else {
            return false;
        };
        self.ungreeted.remove(&id);
        if let Some(count) = self.per_source.get_mut(&link.source) {
            *count -= 1;
            if *count == 0 {
                self.per_source.remove(&link.source);
            }
        }
        true
    }
}

/// Inspection, for the tests and the fuzz target.
#[cfg_attr(not(feature = "fuzzing"), allow(dead_code))]
impl Admission {
    /// How many links are pending.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no link is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Whether `id` is pending.
    pub fn contains(&self, id: LinkId) -> bool {
        self.pending.contains_key(&id)
    }

    /// The oldest pending link.
    pub fn oldest(&self) -> Option<LinkId> {
        self.pending.keys().next().copied()
    }

    /// The pending links, oldest first: id, source, when it was admitted
    /// and whether its greeting is in.
    pub fn iter(&self) -> impl Iterator<Item = (LinkId, Source, Instant, bool)> + '_ {
        self.pending
            .iter()
            .map(|(id, p)| (*id, p.source, p.started, p.greeted))
    }
}

#[cfg(test)]
mod tests;
