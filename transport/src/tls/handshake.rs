//! The TLS handshakes of a `tls://` link, run before the ZMTP engine
//! takes the stream: the server side on accepted connections, the client
//! side on connected ones, both within the handshake deadline. A failed
//! handshake ends the link with the TLS error; the refused TCP stream is
//! drained briefly so that rustls's alert reaches the peer.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsStream};
use zmtp::CloseReason;

use super::settings::TlsClient;
use crate::core::Core;
use crate::link_end::LinkEnd;
use crate::stream::Stream;

/// How long a refused TLS connection is kept open to read what the peer
/// still sends, so the alert reaches it rather than a TCP reset.
const REFUSAL_DRAIN: Duration = Duration::from_secs(1);

/// Runs the server handshake on an accepted connection, by `deadline`.
pub(crate) async fn accept(
    core: &Arc<Core>,
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    deadline: Option<Instant>,
) -> Result<Stream, LinkEnd> {
    secured(core, deadline, acceptor.accept(tcp).into_fallible()).await
}

/// Runs the client handshake on a connected stream, by `deadline`.
pub(crate) async fn connect(
    core: &Arc<Core>,
    client: &TlsClient,
    tcp: TcpStream,
    deadline: Option<Instant>,
) -> Result<Stream, LinkEnd> {
    secured(core, deadline, client.connect(tcp).into_fallible()).await
}

/// Either side's handshake, by `deadline`: the secured stream, or the
/// TLS error (the refused stream drained).
async fn secured<S>(
    core: &Arc<Core>,
    deadline: Option<Instant>,
    handshake: impl Future<Output = Result<S, (io::Error, TcpStream)>>,
) -> Result<Stream, LinkEnd>
where
    TlsStream<TcpStream>: From<S>,
{
    match within(deadline, handshake).await? {
        Ok(tls) => Ok(Stream::Tls(Box::new(tls.into()))),
        Err((error, tcp)) => Err(refused(core, error, tcp)),
    }
}

async fn within<T>(
    deadline: Option<Instant>,
    handshake: impl Future<Output = T>,
) -> Result<T, LinkEnd> {
    match deadline {
        Some(at) => tokio::time::timeout_at(at.into(), handshake)
            .await
            .map_err(|_| LinkEnd::Protocol(CloseReason::HandshakeTimeout)),
        None => Ok(handshake.await),
    }
}

/// A failed handshake: rustls has written its alert; closing the TCP
/// stream while the peer's bytes sit unread would reset it and could
/// destroy the alert before the peer reads it. So our side is shut and
/// the rest read away, briefly, on a task of its own.
fn refused(core: &Arc<Core>, error: io::Error, mut tcp: TcpStream) -> LinkEnd {
    let owner = core.clone();
    core.track(tokio::spawn(async move {
        let drain = async {
            let _ = tcp.shutdown().await;
            let mut sink = [0u8; 4096];
            while let Ok(1..) = tcp.read(&mut sink).await {}
        };
        tokio::select! {
            _ = tokio::time::timeout(REFUSAL_DRAIN, drain) => {}
            () = owner.closing.cancelled() => {}
        }
    }));
    LinkEnd::from_io(&error)
}
