//! `inproc://` names belong to a context, as in libzmq: two contexts may
//! each bind `inproc://zeromq.zap.01` (Zeek's manager does: one ZAP
//! handler in the forwarder's context, one in the node's), and a connect
//! reaches only a bind of its own context.
//!
//! The transport keeps one process-wide registry of inproc names, so each
//! context prefixes the names its sockets (and its ZAP client and socket
//! monitors) use with its own scope. Callers never see the prefix:
//! `ZMQ_LAST_ENDPOINT` reads back the name they gave.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

const INPROC: &str = "inproc://";

/// One context's inproc namespace.
#[derive(Debug)]
pub struct InprocScope {
    /// `inproc://` followed by a marker no caller's name starts with in
    /// practice (a control character) and the context's number.
    prefix: String,
}

impl InprocScope {
    /// A namespace no other context of the process has.
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        InprocScope {
            prefix: format!("{INPROC}\u{1}ctx{n}/"),
        }
    }

    /// `endpoint` inside this namespace if it is an `inproc://` name;
    /// other endpoints unchanged.
    pub fn scoped<'a>(&self, endpoint: &'a str) -> Cow<'a, str> {
        match endpoint.strip_prefix(INPROC) {
            Some(name) if !name.is_empty() => Cow::Owned(format!("{}{name}", self.prefix)),
            _ => Cow::Borrowed(endpoint),
        }
    }
}

impl Default for InprocScope {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_get_separate_names() {
        let (a, b) = (InprocScope::new(), InprocScope::new());
        assert_ne!(a.scoped("inproc://x"), b.scoped("inproc://x"));
        assert_eq!(a.scoped("inproc://x"), a.scoped("inproc://x"));
        assert!(a.scoped("inproc://x").starts_with("inproc://"));
        assert_eq!(a.scoped("tcp://127.0.0.1:1"), "tcp://127.0.0.1:1");
        // An empty name stays malformed, for the transport to refuse.
        assert_eq!(a.scoped("inproc://"), "inproc://");
    }
}
