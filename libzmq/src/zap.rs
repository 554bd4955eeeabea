//! ZAP (RFC 27) as libzmq 4.3 does it: a server socket's handshakes ask the
//! handler bound at `inproc://zeromq.zap.01` (a REP or ROUTER of this
//! process, C or Python), over a DEALER of ours made per request.
//!
//! Which handshakes ask (libzmq 4.3.5, `zap_enforce_domain` off):
//! - NULL: only when `ZMQ_ZAP_DOMAIN` is set and a handler is bound;
//!   otherwise accepted.
//! - PLAIN: always; with no handler bound, refused (libzmq ends the
//!   handshake; here the transport's 400 refusal).
//! - CURVE: whenever a handler is bound; otherwise accepted (encryption
//!   without authentication).
//!
//! The reply decides: its user id becomes the peer's `User-Id` and its
//! metadata the peer's properties (both read with `zmq_msg_gets`). A reply
//! that breaks RFC 27 ends the link with a [`ZapReplyError`] (libzmq's
//! `ZMQ_PROTOCOL_ERROR_ZAP_*` on the monitor). A handler that never answers
//! leaves the handshake to the handshake interval.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use zmtp_transport::zmtp::{MechanismName, Metadata};
use zmtp_transport::{
    AsyncAuthenticator, AuthFuture, AuthReply, AuthStatus, Credentials, Message, Options, Socket,
    SocketType, ZapReplyError, ZapRequest,
};

/// Where libzmq's ZAP handlers bind.
pub const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";

/// The request id we send (one request per connection of ours).
const REQUEST_ID: &[u8] = b"1";

/// The authenticator the drop-in installs on every socket.
#[derive(Debug)]
pub struct ZapClient {
    /// [`ZAP_ENDPOINT`] in the socket's context (`inproc_scope.rs`).
    endpoint: String,
}

impl ZapClient {
    /// Shared, ready for `Options::async_authenticator`; asks the handler
    /// at `endpoint` (the context's own `inproc://zeromq.zap.01`).
    pub fn shared(endpoint: String) -> Arc<dyn AsyncAuthenticator> {
        Arc::new(ZapClient { endpoint })
    }
}

impl AsyncAuthenticator for ZapClient {
    fn authenticate(&self, request: ZapRequest) -> AuthFuture {
        if request.mechanism == MechanismName::NULL && request.domain.is_empty() {
            return Box::pin(std::future::ready(Ok(AuthReply::accept())));
        }
        Box::pin(ask_handler(self.endpoint.clone(), request))
    }
}

/// The decision when no handler is bound.
fn without_handler(mechanism: MechanismName) -> AuthReply {
    if mechanism == MechanismName::PLAIN {
        AuthReply::deny()
    } else {
        AuthReply::accept()
    }
}

async fn ask_handler(endpoint: String, request: ZapRequest) -> Result<AuthReply, ZapReplyError> {
    let options = Options {
        linger: Some(std::time::Duration::ZERO),
        ..Options::new(SocketType::Dealer)
    };
    let socket = Socket::with_options(SocketType::Dealer, options);
    if socket.connect(&endpoint).await.is_err() {
        return Ok(without_handler(request.mechanism));
    }
    let sent = socket.send(request_message(&request)).await;
    let reply = match sent {
        Ok(()) => socket.recv().await.map_err(|_| ZapReplyError::Unspecified),
        Err(_) => Err(ZapReplyError::Unspecified),
    };
    socket.close().await;
    parse_reply(&reply?)
}

/// The peer's address as libzmq puts it in the request: the IP alone.
fn peer_ip(address: &str) -> String {
    match address.parse::<SocketAddr>() {
        Ok(addr) => addr.ip().to_string(),
        Err(_) => address.to_owned(),
    }
}

/// `["", "1.0", id, domain, address, identity, mechanism, credentials...]`.
pub fn request_message(request: &ZapRequest) -> Message {
    let mut message = Message::new();
    message.push(Bytes::new());
    message.push(Bytes::from_static(b"1.0"));
    message.push(Bytes::from_static(REQUEST_ID));
    message.push(Bytes::from(request.domain.clone()));
    message.push(Bytes::from(peer_ip(&request.address)));
    message.push(request.identity.clone());
    message.push(Bytes::copy_from_slice(request.mechanism.trimmed()));
    match &request.credentials {
        Credentials::None => {}
        Credentials::Plain { username, password } => {
            message.push(username.clone());
            message.push(Bytes::copy_from_slice(password.expose()));
        }
        Credentials::Curve { public_key } => {
            message.push(Bytes::copy_from_slice(public_key.as_bytes()));
        }
    }
    message
}

/// Checks a reply `["", "1.0", id, status, text, user id, metadata]` in
/// libzmq's order and turns it into the decision.
pub fn parse_reply(reply: &Message) -> Result<AuthReply, ZapReplyError> {
    let [delimiter, version, id, status, _text, user_id, metadata] = reply.frames() else {
        return Err(ZapReplyError::MalformedReply);
    };
    if !delimiter.is_empty() {
        return Err(ZapReplyError::Unspecified);
    }
    if &version[..] != b"1.0" {
        return Err(ZapReplyError::BadVersion);
    }
    if &id[..] != REQUEST_ID {
        return Err(ZapReplyError::BadRequestId);
    }
    let status = AuthStatus::from_zap(status).ok_or(ZapReplyError::InvalidStatusCode)?;
    let metadata = Metadata::decode(metadata).map_err(|_| ZapReplyError::InvalidMetadata)?;
    Ok(AuthReply {
        status,
        user_id: user_id.clone(),
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(frames: &[&[u8]]) -> Message {
        let mut m = Message::new();
        for f in frames {
            m.push(Bytes::copy_from_slice(f));
        }
        m
    }

    #[test]
    fn a_good_reply_gives_status_user_and_metadata() {
        let meta = b"\x05Hello\x00\x00\x00\x05World";
        let r = parse_reply(&reply(&[
            b"",
            b"1.0",
            b"1",
            b"200",
            b"OK",
            b"anonymous",
            meta,
        ]))
        .expect("valid");
        assert_eq!(r.status, AuthStatus::Success);
        assert_eq!(&r.user_id[..], b"anonymous");
        assert_eq!(r.metadata.get("Hello").map(|v| &v[..]), Some(&b"World"[..]));
    }

    #[test]
    fn bad_replies_get_libzmqs_reasons() {
        let cases: [(&[&[u8]], ZapReplyError); 6] = [
            (
                &[b"", b"1.0", b"1", b"200", b"", b""],
                ZapReplyError::MalformedReply,
            ),
            (
                &[b"x", b"1.0", b"1", b"200", b"", b"", b""],
                ZapReplyError::Unspecified,
            ),
            (
                &[b"", b"2.0", b"1", b"200", b"", b"", b""],
                ZapReplyError::BadVersion,
            ),
            (
                &[b"", b"1.0", b"7", b"200", b"", b"", b""],
                ZapReplyError::BadRequestId,
            ),
            (
                &[b"", b"1.0", b"1", b"201", b"", b"", b""],
                ZapReplyError::InvalidStatusCode,
            ),
            (
                &[b"", b"1.0", b"1", b"200", b"", b"", b"\x05Hel"],
                ZapReplyError::InvalidMetadata,
            ),
        ];
        for (frames, want) in cases {
            assert_eq!(parse_reply(&reply(frames)).err(), Some(want), "{frames:?}");
        }
    }

    proptest::proptest! {
        /// Whatever a handler sends, the answer is a decision or a reason,
        /// never a panic; a well-formed reply decides as it says.
        #[test]
        fn any_reply_is_a_decision_or_a_reason(
            frames in proptest::collection::vec(proptest::collection::vec(0u8..=255, 0..12), 0..10),
            code in proptest::sample::select(vec![200u16, 300, 400, 500]),
            user in proptest::collection::vec(0u8..=255, 0..16),
            value in proptest::collection::vec(0u8..=255, 0..16),
        ) {
            let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
            let _ = parse_reply(&reply(&refs));
            let mut meta = Metadata::new();
            meta.push(Bytes::from_static(b"Key"), Bytes::from(value.clone()));
            let mut encoded = bytes::BytesMut::new();
            meta.encode(&mut encoded).unwrap();
            let status = AuthStatus::from_code(code).unwrap();
            let good = reply(&[b"", b"1.0", REQUEST_ID, status.as_str().as_bytes(), b"", &user, &encoded]);
            let decided = parse_reply(&good).unwrap();
            proptest::prop_assert_eq!(decided.status, status);
            proptest::prop_assert_eq!(&decided.user_id[..], &user[..]);
            proptest::prop_assert_eq!(decided.metadata.get("Key").map(|v| v.to_vec()), Some(value));
        }
    }

    #[test]
    fn the_address_is_the_ip_alone() {
        assert_eq!(peer_ip("127.0.0.1:4000"), "127.0.0.1");
        assert_eq!(peer_ip("[::1]:4000"), "::1");
        assert_eq!(peer_ip(":1:2:3"), ":1:2:3");
    }
}
