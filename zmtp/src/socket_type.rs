//! The ZeroMQ socket types and which of them may talk to which.
//!
//! A peer announces its type in the `Socket-Type` metadata property during the
//! handshake; the connection refuses a peer whose type cannot pair with ours
//! (ZMTP 3.1, "The Socket Type"; the table is the same in libzmq).

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// One of the eleven classic ZeroMQ socket types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketType {
    /// Client side of request-reply: strict send/receive alternation.
    Req,
    /// Server side of request-reply.
    Rep,
    /// Asynchronous request-reply client: round-robin out, fair-queue in.
    Dealer,
    /// Asynchronous request-reply server: routes by peer identity.
    Router,
    /// Publisher: fans messages out to matching subscribers.
    Pub,
    /// Publisher that also exposes subscriptions to the application.
    Xpub,
    /// Subscriber: receives messages matching its subscriptions.
    Sub,
    /// Subscriber that sends its subscriptions as messages.
    Xsub,
    /// Pipeline source: round-robin out.
    Push,
    /// Pipeline sink: fair-queue in.
    Pull,
    /// Exclusive pair: exactly one peer.
    Pair,
}

/// The name in a `Socket-Type` property is not one of the classic types.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown socket type {0:?}")]
pub struct UnknownSocketType(pub String);

impl SocketType {
    /// Every socket type, in a stable order.
    pub const ALL: [SocketType; 11] = [
        SocketType::Req,
        SocketType::Rep,
        SocketType::Dealer,
        SocketType::Router,
        SocketType::Pub,
        SocketType::Xpub,
        SocketType::Sub,
        SocketType::Xsub,
        SocketType::Push,
        SocketType::Pull,
        SocketType::Pair,
    ];

    /// The name sent on the wire, upper case as ZMTP requires.
    pub const fn as_str(self) -> &'static str {
        match self {
            SocketType::Req => "REQ",
            SocketType::Rep => "REP",
            SocketType::Dealer => "DEALER",
            SocketType::Router => "ROUTER",
            SocketType::Pub => "PUB",
            SocketType::Xpub => "XPUB",
            SocketType::Sub => "SUB",
            SocketType::Xsub => "XSUB",
            SocketType::Push => "PUSH",
            SocketType::Pull => "PULL",
            SocketType::Pair => "PAIR",
        }
    }

    /// Parses a wire name. The match is exact, as libzmq's is: `dealer` is
    /// not `DEALER`.
    pub fn from_wire(name: &[u8]) -> Result<Self, UnknownSocketType> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().as_bytes() == name)
            .ok_or_else(|| UnknownSocketType(String::from_utf8_lossy(name).into_owned()))
    }

    /// Whether a socket of this type may exchange messages with a `peer`.
    ///
    /// ```
    /// use zmtp::SocketType::*;
    /// assert!(Req.is_compatible(Router));
    /// assert!(!Push.is_compatible(Push));
    /// ```
    pub const fn is_compatible(self, peer: SocketType) -> bool {
        use SocketType::*;
        matches!(
            (self, peer),
            (Req, Rep | Router)
                | (Rep, Req | Dealer)
                | (Dealer, Rep | Dealer | Router)
                | (Router, Req | Dealer | Router)
                | (Pub | Xpub, Sub | Xsub)
                | (Sub | Xsub, Pub | Xpub)
                | (Push, Pull)
                | (Pull, Push)
                | (Pair, Pair)
        )
    }

    /// Whether this type sends an `Identity` property in its handshake
    /// (libzmq sends one from REQ, DEALER and ROUTER).
    pub const fn sends_identity(self) -> bool {
        matches!(
            self,
            SocketType::Req | SocketType::Dealer | SocketType::Router
        )
    }

    /// Whether this type receives subscriptions (PUB and XPUB).
    pub const fn is_publisher(self) -> bool {
        matches!(self, SocketType::Pub | SocketType::Xpub)
    }
}

impl fmt::Display for SocketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SocketType {
    type Err = UnknownSocketType;

    /// Parses a name case-insensitively (`dealer`, `DEALER`); meant for
    /// configuration and command lines, not for the wire.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownSocketType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::SocketType::{self, *};

    /// The table of docs/protocol-notes.md ("Which types may talk"),
    /// written out independently of the code.
    const PAIRS: &[(SocketType, &[SocketType])] = &[
        (Req, &[Rep, Router]),
        (Rep, &[Req, Dealer]),
        (Dealer, &[Rep, Dealer, Router]),
        (Router, &[Req, Dealer, Router]),
        (Pub, &[Sub, Xsub]),
        (Xpub, &[Sub, Xsub]),
        (Sub, &[Pub, Xpub]),
        (Xsub, &[Pub, Xpub]),
        (Push, &[Pull]),
        (Pull, &[Push]),
        (Pair, &[Pair]),
    ];

    #[test]
    fn compatibility_matrix() {
        for &(local, allowed) in PAIRS {
            for peer in SocketType::ALL {
                assert_eq!(
                    local.is_compatible(peer),
                    allowed.contains(&peer),
                    "{local} with {peer}"
                );
            }
        }
    }

    #[test]
    fn matrix_is_symmetric() {
        for a in SocketType::ALL {
            for b in SocketType::ALL {
                assert_eq!(a.is_compatible(b), b.is_compatible(a), "{a} / {b}");
            }
        }
    }

    #[test]
    fn wire_names_are_exact() {
        for t in SocketType::ALL {
            assert_eq!(SocketType::from_wire(t.as_str().as_bytes()), Ok(t));
        }
        assert!(SocketType::from_wire(b"dealer").is_err());
        assert!(SocketType::from_wire(b"STREAM").is_err());
        assert_eq!("dealer".parse::<SocketType>(), Ok(Dealer));
    }
}
