//! A guided tour of ZMTP 3.1 on the wire, run entirely in memory.
//!
//! Two `Connection`s (a SUB and a PUB, then a DEALER and a ROUTER) talk to
//! each other through plain byte buffers; every batch of bytes that crosses
//! is printed in hex with what it means. No sockets are involved: this is the
//! sans-IO core that the transport crate drives over tcp and ipc.
//!
//! Run it with `cargo run --release -p zmtp --example wire_tour`.

use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use zmtp::{Config, Connection, Event, HeartbeatConfig, Message, SocketType, mechanism::Null};

fn main() {
    let start = Instant::now();
    println!("== SUB connects to PUB (NULL security, ZMTP 3.1)\n");
    let mut sub = Connection::new(Config::new(SocketType::Sub), Box::new(Null::new()), start);
    let mut publisher = Connection::new(Config::new(SocketType::Pub), Box::new(Null::new()), start);
    handshake(("SUB", &mut sub), ("PUB", &mut publisher), start);

    sub.send_subscribe(b"weather.").expect("active");
    cross(
        "SUB",
        &mut sub,
        "PUB",
        &mut publisher,
        start,
        "SUBSCRIBE command",
    );
    report("PUB", &mut publisher);

    let update: Message = ["weather.paris", "12.5 C"].into_iter().collect();
    publisher.send(&update).expect("active");
    cross(
        "PUB",
        &mut publisher,
        "SUB",
        &mut sub,
        start,
        "two-frame message",
    );
    report("SUB", &mut sub);

    println!("\n== DEALER with heartbeats talks to ROUTER\n");
    let mut dealer_config = Config::new(SocketType::Dealer);
    dealer_config.identity = "dealer-1".into();
    dealer_config.heartbeat = HeartbeatConfig {
        interval: Some(Duration::from_secs(1)),
        ttl: Duration::from_secs(3),
        timeout: None,
    };
    let mut dealer = Connection::new(dealer_config, Box::new(Null::new()), start);
    let mut router = Connection::new(
        Config::new(SocketType::Router),
        Box::new(Null::new()),
        start,
    );
    handshake(("DEALER", &mut dealer), ("ROUTER", &mut router), start);

    let tick = dealer.poll_timeout().expect("heartbeat armed");
    println!("   DEALER's next deadline: {:?} from now", tick - start);
    dealer.handle_timeout(tick);
    cross(
        "DEALER",
        &mut dealer,
        "ROUTER",
        &mut router,
        tick,
        "PING, TTL 30 deciseconds",
    );
    cross("ROUTER", &mut router, "DEALER", &mut dealer, tick, "PONG");

    let big = Message::from(vec![b'x'; 300]);
    dealer.send(&big).expect("active");
    cross(
        "DEALER",
        &mut dealer,
        "ROUTER",
        &mut router,
        tick,
        "300-byte frame: LONG size form",
    );
    report("ROUTER", &mut router);
}

/// Shuttles bytes until both sides report the handshake done.
fn handshake(a: (&str, &mut Connection), b: (&str, &mut Connection), now: Instant) {
    let (a_name, a) = a;
    let (b_name, b) = b;
    cross(a_name, a, b_name, b, now, "greeting (64 bytes, sent whole)");
    cross(
        b_name,
        b,
        a_name,
        a,
        now,
        "greeting, then READY with metadata",
    );
    cross(a_name, a, b_name, b, now, "READY with metadata");
    report(a_name, a);
    report(b_name, b);
}

/// Moves everything `from` has queued into `to`, printing it.
fn cross(
    from_name: &str,
    from: &mut Connection,
    to_name: &str,
    to: &mut Connection,
    now: Instant,
    what: &str,
) {
    let out = from.transmit();
    let bytes = out.copy_to_bytes(out.remaining());
    println!("{from_name} -> {to_name}: {what} ({} bytes)", bytes.len());
    const SHOWN: usize = 4 * 32;
    for line in bytes[..bytes.len().min(SHOWN)].chunks(32) {
        let hex: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
        let text: String = line
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() {
                    char::from(b)
                } else {
                    '.'
                }
            })
            .collect();
        println!("   {:<96} {text}", hex.join(" "));
    }
    if bytes.len() > SHOWN {
        println!("   ... {} more bytes", bytes.len() - SHOWN);
    }
    let mut buf = BytesMut::from(&bytes[..]);
    to.handle_input(&mut buf, now);
}

/// Prints the events a connection has to report.
fn report(name: &str, conn: &mut Connection) {
    while let Some(event) = conn.poll_event() {
        match event {
            Event::AuthenticationRequested(request) => {
                println!("   {name}: the server asks about {request:?}")
            }
            Event::HandshakeSucceeded(peer) => println!(
                "   {name}: handshake done; peer is {} speaking ZMTP {}, identity {:?}",
                peer.socket_type.map_or("?".into(), |t| t.to_string()),
                peer.version,
                peer.identity
                    .map(|id| String::from_utf8_lossy(&id).into_owned()),
            ),
            Event::Message(m) => {
                let frames: Vec<String> = m
                    .frames()
                    .iter()
                    .map(|f| String::from_utf8_lossy(&f[..f.len().min(24)]).into_owned())
                    .collect();
                println!(
                    "   {name}: message of {} frame(s): {}",
                    m.len(),
                    frames.join(" | ")
                );
            }
            Event::Subscribe(topic) => {
                println!(
                    "   {name}: peer subscribed to {:?}",
                    String::from_utf8_lossy(&topic)
                )
            }
            Event::Cancel(topic) => {
                println!(
                    "   {name}: peer cancelled {:?}",
                    String::from_utf8_lossy(&topic)
                )
            }
            Event::Closed(reason) => println!("   {name}: closed: {reason}"),
        }
    }
}
