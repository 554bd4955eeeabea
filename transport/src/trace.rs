//! Monitor events as `tracing` events, for programs that log with a
//! `tracing` subscriber rather than read a [`Monitor`](crate::Monitor).
//!
//! Every [`MonitorEvent`] a socket emits is also recorded here, at the one
//! place events are emitted, with its typed reason displayed: links up and
//! down, failed handshakes, refused connections, reconnect back-off,
//! endpoints closing. Nothing here runs per message. With no subscriber
//! installed (or none interested), each call is a check of a cached
//! callsite interest and nothing else.
//!
//! Levels: `debug` for the normal life of links (listening, accepted,
//! connected, up, down, reconnect scheduled), `info` for failed handshakes
//! and endpoints closing, `warn` for refused credentials, refused
//! connections (too many handshakes from one source, accept failures) and
//! handshakes a listener cut short (the oldest evicted for a newcomer, no
//! greeting in time).

use crate::link_end::LinkEnd;
use crate::monitor_event::MonitorEvent;

/// Records `event` as a `tracing` event (target `zmtp_transport::trace`).
pub(crate) fn record(event: &MonitorEvent) {
    match event {
        MonitorEvent::Listening { endpoint } => {
            tracing::debug!(%endpoint, "listening");
        }
        MonitorEvent::Accepted { endpoint, peer } => {
            tracing::debug!(%endpoint, peer, "connection accepted");
        }
        MonitorEvent::Connected { endpoint, peer } => {
            tracing::debug!(%endpoint, peer, "connected");
        }
        MonitorEvent::HandshakeSucceeded {
            endpoint,
            peer,
            peer_socket_type,
        } => {
            let peer_type = peer_socket_type.map_or("unknown", |t| t.as_str());
            tracing::debug!(%endpoint, peer, peer_type, "link up");
        }
        MonitorEvent::Disconnected {
            endpoint,
            peer,
            reason,
        } => {
            if matches!(reason, LinkEnd::Refused(r) if r.is_over_budget()) {
                tracing::warn!(%endpoint, peer, %reason, "peer over its budget, link closed");
            } else {
                tracing::debug!(%endpoint, peer, %reason, "link down");
            }
        }
        MonitorEvent::HandshakeFailed {
            endpoint,
            peer,
            reason,
        } => {
            let protocol_error = reason.is_protocol_error();
            if is_admission(reason) {
                tracing::warn!(%endpoint, peer, %reason, "handshake cut by the listener");
            } else if reason.is_authentication_failure() {
                tracing::warn!(%endpoint, peer, %reason, protocol_error, "credentials refused");
            } else {
                tracing::info!(%endpoint, peer, %reason, protocol_error, "handshake failed");
            }
        }
        MonitorEvent::Refused {
            endpoint,
            peer,
            reason,
        } => {
            tracing::warn!(%endpoint, peer, %reason, "connection refused");
        }
        MonitorEvent::ReconnectScheduled {
            endpoint,
            delay,
            reason,
        } => {
            let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
            tracing::debug!(%endpoint, delay_ms, %reason, "reconnect scheduled");
        }
        MonitorEvent::Closed { endpoint, reason } => {
            tracing::info!(%endpoint, %reason, "endpoint closed");
        }
    }
}

/// Whether a listener's admission rules ended the link (evicted for a
/// newcomer, no greeting in time).
fn is_admission(reason: &LinkEnd) -> bool {
    matches!(reason, LinkEnd::Refused(refusal) if refusal.is_admission())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    use super::*;
    use crate::refusal::Refusal;

    /// What a recorded event said: its level and its fields as text.
    type Seen = (Level, Vec<(String, String)>);

    /// A subscriber that keeps every event, so the tests need no
    /// subscriber crate.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Seen>>>);

    struct Fields<'a>(&'a mut Vec<(String, String)>);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push((field.name().to_owned(), format!("{value:?}")));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.push((field.name().to_owned(), value.to_owned()));
        }
    }

    impl Subscriber for Recorder {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut fields = Vec::new();
            event.record(&mut Fields(&mut fields));
            let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
            seen.push((*event.metadata().level(), fields));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    fn recorded(event: &MonitorEvent) -> Seen {
        let recorder = Recorder::default();
        tracing::subscriber::with_default(recorder.clone(), || record(event));
        let mut seen = recorder.0.lock().unwrap_or_else(|p| p.into_inner());
        assert_eq!(seen.len(), 1, "one event per monitor event");
        seen.remove(0)
    }

    fn field<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
        seen.1
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_link_going_down_says_why() {
        let endpoint: crate::Endpoint = "tcp://127.0.0.1:5555".parse().unwrap();
        let seen = recorded(&MonitorEvent::Disconnected {
            endpoint,
            peer: "127.0.0.1:4000".into(),
            reason: LinkEnd::PeerClosed,
        });
        assert_eq!(seen.0, Level::DEBUG);
        assert_eq!(field(&seen, "message"), Some("link down"));
        assert_eq!(field(&seen, "reason"), Some("peer closed the connection"));
        assert_eq!(field(&seen, "peer"), Some("127.0.0.1:4000"));
        assert_eq!(field(&seen, "endpoint"), Some("tcp://127.0.0.1:5555"));
    }

    #[test]
    fn a_peer_over_its_subscription_budget_is_a_warning() {
        let endpoint: crate::Endpoint = "tcp://127.0.0.1:5555".parse().unwrap();
        let seen = recorded(&MonitorEvent::Disconnected {
            endpoint,
            peer: "127.0.0.1:4000".into(),
            reason: LinkEnd::Refused(Refusal::TooManySubscriptions { max: 3 }),
        });
        assert_eq!(seen.0, Level::WARN);
        assert_eq!(
            field(&seen, "reason"),
            Some("refused: the peer subscribed to more than 3 topics")
        );
    }

    #[test]
    fn refusals_are_warnings() {
        let endpoint: crate::Endpoint = "tcp://127.0.0.1:5555".parse().unwrap();
        let seen = recorded(&MonitorEvent::Refused {
            endpoint,
            peer: "127.0.0.1:4000".into(),
            reason: LinkEnd::Refused(Refusal::HandshakeCap { max: 4 }),
        });
        assert_eq!(seen.0, Level::WARN);
        assert_eq!(
            field(&seen, "reason"),
            Some("refused: 4 connections are in their handshake already")
        );
    }

    #[test]
    fn handshakes_cut_by_the_listener_are_warnings() {
        let endpoint: crate::Endpoint = "tcp://127.0.0.1:5555".parse().unwrap();
        let seen = recorded(&MonitorEvent::HandshakeFailed {
            endpoint,
            peer: "127.0.0.1:4000".into(),
            reason: LinkEnd::Refused(Refusal::Evicted { max: 16 }),
        });
        assert_eq!(seen.0, Level::WARN);
        assert_eq!(
            field(&seen, "message"),
            Some("handshake cut by the listener")
        );
    }
}
