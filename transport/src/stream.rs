//! The byte streams ZMTP runs over: TCP, Unix-domain sockets and TLS over
//! TCP, behind one type so the engine is compiled once.
//!
//! TLS buffers what is written (rustls seals records into its own buffer),
//! so a writer must `poll_flush` once it has nothing more to write, or the
//! last bytes may wait; for TCP and Unix sockets flushing is free.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsStream;

use crate::tls::peer::TlsPeer;

/// A connected stream.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// After the TLS handshake, either side. Boxed: a rustls connection
    /// is large and the other variants are small.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// Describes the remote end for monitor events.
    pub(crate) fn peer(&self) -> String {
        match self {
            Stream::Tcp(s) => s
                .peer_addr()
                .map_or_else(|_| "tcp".into(), |a| a.to_string()),
            Stream::Tls(s) => s
                .get_ref()
                .0
                .peer_addr()
                .map_or_else(|_| "tls".into(), |a| a.to_string()),
            Stream::Unix(s) => match s.peer_cred() {
                // libzmq's Peer-Address form for ipc: ":uid:gid:pid".
                Ok(c) => format!(":{}:{}:{}", c.uid(), c.gid(), c.pid().unwrap_or(0)),
                Err(_) => "ipc".into(),
            },
        }
    }

    /// The identity in the peer's TLS certificate, if it presented one.
    pub(crate) fn tls_peer(&self) -> Option<Arc<TlsPeer>> {
        let Stream::Tls(s) = self else {
            return None;
        };
        let certificate = s.get_ref().1.peer_certificates()?.first()?;
        Some(Arc::new(TlsPeer::from_der(certificate.to_vec())))
    }

    /// Ends a TLS stream with `close_notify` if the socket takes it now;
    /// never waits. Other streams are left to close when dropped.
    pub(crate) fn try_close_notify(&mut self, cx: &mut Context<'_>) {
        if let Stream::Tls(s) = self {
            let _ = Pin::new(s.as_mut()).poll_shutdown(cx);
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
