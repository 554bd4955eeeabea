//! A fault-injecting TCP relay: the demo's network partition.
//!
//! The relay listens on a loopback port and forwards every connection to a
//! target, byte for byte, in both directions. [`Relay::cut`] drops every
//! forwarded connection at once (bytes in flight are lost, as on a real
//! partition) and refuses new ones until [`Relay::heal`]. Both ends see a
//! closed link; neither process dies, so the bridge must settle what was in
//! flight from the peers' own delivery records, not from a restart.
//!
//! Bounds: at most [`MAX_CONNECTIONS`] forwarded connections at once (more
//! are closed on arrival), two threads and two 64 KiB buffers each.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

/// The most connections forwarded at once.
pub const MAX_CONNECTIONS: usize = 64;

#[derive(Debug, Default)]
struct Shared {
    cut: AtomicBool,
    stopped: AtomicBool,
    /// Both ends of every forwarded connection, by number, to shut down
    /// on a cut; a connection leaves when its pumps end.
    live: Mutex<Vec<(u64, TcpStream, TcpStream)>>,
    next: AtomicU64,
}

impl Shared {
    fn live(&self) -> MutexGuard<'_, Vec<(u64, TcpStream, TcpStream)>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn forget(&self, id: u64) {
        self.live().retain(|(i, ..)| *i != id);
    }
}

/// A relay from a local port to `target`.
#[derive(Debug)]
pub struct Relay {
    address: SocketAddr,
    shared: Arc<Shared>,
}

impl Relay {
    /// Listens on an ephemeral loopback port and forwards to `target`.
    pub fn start(target: SocketAddr) -> io::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let accepting = shared.clone();
        thread::Builder::new()
            .name("relay".into())
            .spawn(move || accept_loop(&listener, target, &accepting))?;
        Ok(Relay { address, shared })
    }

    /// Where to connect instead of the target.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The `tcp://` endpoint of [`Relay::address`].
    pub fn endpoint(&self) -> String {
        format!("tcp://{}", self.address())
    }

    /// Partitions: every forwarded connection is dropped now, new ones are
    /// refused until [`Relay::heal`]. Returns how many were dropped.
    pub fn cut(&self) -> usize {
        self.shared.cut.store(true, Ordering::SeqCst);
        let dropped: Vec<_> = self.shared.live().drain(..).collect();
        for (_, a, b) in &dropped {
            let _ = a.shutdown(Shutdown::Both);
            let _ = b.shutdown(Shutdown::Both);
        }
        dropped.len()
    }

    /// Ends the partition: new connections are forwarded again.
    pub fn heal(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }

    /// Connections being forwarded right now.
    #[cfg(test)]
    pub fn connections(&self) -> usize {
        self.shared.live().len()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.cut();
        // Wake the accept loop so it sees `stopped`.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_millis(200));
    }
}

fn accept_loop(listener: &TcpListener, target: SocketAddr, shared: &Arc<Shared>) {
    for incoming in listener.incoming() {
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = incoming else {
            continue;
        };
        if shared.cut.load(Ordering::SeqCst) || shared.live().len() >= MAX_CONNECTIONS {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = forward(client, server, shared);
    }
}

/// Starts the two pumps of one connection and remembers its ends.
fn forward(client: TcpStream, server: TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let id = shared.next.fetch_add(1, Ordering::SeqCst);
    shared
        .live()
        .push((id, client.try_clone()?, server.try_clone()?));
    let (c2, s2) = (client.try_clone()?, server.try_clone()?);
    let (up, down) = (shared.clone(), shared.clone());
    let started = thread::Builder::new()
        .name("relay-up".into())
        .spawn(move || {
            pump(client, server);
            up.forget(id);
        })
        .and_then(|_| {
            thread::Builder::new()
                .name("relay-down".into())
                .spawn(move || {
                    pump(s2, c2);
                    down.forget(id);
                })
        });
    if let Err(e) = started {
        // Whatever pump started ends when its ends are shut down.
        if let Some((_, a, b)) = shared.live().iter().find(|(i, ..)| *i == id) {
            let _ = a.shutdown(Shutdown::Both);
            let _ = b.shutdown(Shutdown::Both);
        }
        shared.forget(id);
        return Err(e);
    }
    Ok(())
}

/// Copies `from` to `to` until either ends, then closes both.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buffer = vec![0u8; 64 << 10];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server; returns its address.
    fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || {
                    let mut back = stream.try_clone().unwrap();
                    let _ = io::copy(&mut &stream, &mut back);
                });
            }
        });
        address
    }

    fn round_trip(address: SocketAddr, text: &[u8]) -> io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(address)?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.write_all(text)?;
        let mut got = vec![0u8; text.len()];
        s.read_exact(&mut got)?;
        Ok(got)
    }

    #[test]
    fn forwards_until_cut_refuses_while_cut_and_forwards_after_heal() {
        let relay = Relay::start(echo()).unwrap();
        assert_eq!(round_trip(relay.address(), b"before").unwrap(), b"before");

        let mut open = TcpStream::connect(relay.address()).unwrap();
        open.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        open.write_all(b"x").unwrap();
        let mut one = [0u8; 1];
        open.read_exact(&mut one).unwrap();
        // The "before" connection may not have been noticed closed yet.
        assert!(relay.cut() >= 1);
        // The open connection is gone...
        let mut rest = [0u8; 1];
        assert!(matches!(open.read(&mut rest), Ok(0) | Err(_)));
        // ...and new ones are closed on arrival.
        assert!(round_trip(relay.address(), b"during").is_err());
        assert_eq!(relay.connections(), 0);

        relay.heal();
        assert_eq!(round_trip(relay.address(), b"after").unwrap(), b"after");
    }

    #[test]
    fn connections_that_end_are_forgotten() {
        let relay = Relay::start(echo()).unwrap();
        for _ in 0..MAX_CONNECTIONS + 4 {
            assert_eq!(round_trip(relay.address(), b"x").unwrap(), b"x");
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while relay.connections() > 0 && std::time::Instant::now() < deadline {
                thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(relay.connections(), 0);
        }
    }
}
