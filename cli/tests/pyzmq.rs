//! The built `zmtp` binary against real libzmq peers (pyzmq child processes
//! running `tests/peers/socket_peer.py` and `tests/peers/secure_peer.py`):
//! PUSH/PULL both ways, DEALER to ROUTER, PUB to SUB with a prefix, CURVE
//! and PLAIN both ways, ipc, a 1 MiB message in hex, and a `recv` that
//! survives garbage on its port.
//!
//! Without pyzmq every test is skipped, unless `ZMTP_REQUIRE_PYZMQ=1`, which
//! turns a missing pyzmq into a failure (see `zmtp_tests::Peer::spawn`).

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use zmtp_tests::{Peer, pattern};

mod common;

use common::{Zmtp, ipc_path, ok, zmtp};

/// The standard CURVE test keys (docs/protocol-notes.md, "CURVE test keys"), Z85.
const CLIENT_PUBLIC: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
const SERVER_PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

/// Frames in hex joined by `|`, as the peer scripts take and print them.
fn hex_frames(text: &str) -> String {
    text.split('|')
        .map(|f| f.bytes().map(|b| format!("{b:02x}")).collect::<String>())
        .collect::<Vec<_>>()
        .join("|")
}

/// `zmtp recv` on an ephemeral tcp port: the process and its endpoint.
fn recv_bound(extra: &[&str]) -> (Zmtp, String) {
    let mut args = vec!["recv", "--bind", "tcp://127.0.0.1:*"];
    args.extend_from_slice(extra);
    let z = zmtp(&args);
    let ep = z.listening();
    (z, ep)
}

#[test]
fn pyzmq_push_to_zmtp_recv_pull() {
    let (z, ep) = recv_bound(&["-t", "PULL", "-n", "2"]);
    let send1 = format!("send:{}", hex_frames("hello|world"));
    let send2 = format!("send:{}", hex_frames("bye"));
    let Some(peer) = Peer::spawn("socket_peer.py", &["push", "connect", &ep, &send1, &send2])
    else {
        return;
    };
    let f = z.finish();
    ok(&f);
    assert_eq!(f.stdout, "hello|world\nbye\n");
    peer.finish();
}

#[test]
fn zmtp_send_push_to_pyzmq_pull() {
    let Some(mut peer) = Peer::spawn(
        "socket_peer.py",
        &["pull", "bind", "tcp://127.0.0.1", "recv:2"],
    ) else {
        return;
    };
    let ep = peer.line();
    let f = zmtp(&["send", "-t", "PUSH", "--connect", &ep, "hello|world", "bye"]).finish();
    ok(&f);
    assert_eq!(peer.line(), hex_frames("hello|world"));
    assert_eq!(peer.line(), hex_frames("bye"));
    peer.finish();
}

#[test]
fn zmtp_send_dealer_with_routing_id_to_pyzmq_router() {
    let Some(mut peer) = Peer::spawn(
        "socket_peer.py",
        &["router", "bind", "tcp://127.0.0.1", "recv:1"],
    ) else {
        return;
    };
    let ep = peer.line();
    let f = zmtp(&[
        "send",
        "-t",
        "DEALER",
        "--routing-id",
        "alice",
        "--connect",
        &ep,
        "hi|there",
    ])
    .finish();
    ok(&f);
    assert_eq!(peer.line(), hex_frames("alice|hi|there"));
    peer.finish();
}

#[test]
fn pyzmq_pub_to_zmtp_recv_sub_filters_by_prefix() {
    let warm = "weather.warmup";
    let publish = format!("publish-until-told:{}", hex_frames(warm));
    let news = format!("send:{}", hex_frames("news.today|nothing"));
    let paris = format!("send:{}", hex_frames("weather.paris|12 C"));
    let news2 = format!("send:{}", hex_frames("sports|0-0"));
    let end = format!("send:{}", hex_frames("weather.end"));
    let Some(mut peer) = Peer::spawn_interactive(
        "socket_peer.py",
        &[
            "pub",
            "bind",
            "tcp://127.0.0.1",
            &publish,
            &news,
            &paris,
            &news2,
            &end,
        ],
    ) else {
        return;
    };
    let ep = peer.line();
    let z = zmtp(&[
        "recv",
        "-t",
        "SUB",
        "--connect",
        &ep,
        "--subscribe",
        "weather.",
    ]);
    // The subscription has reached libzmq once a warm-up message arrives.
    z.wait_for_line(warm);
    peer.tell("go");
    let out = z.wait_for_line("weather.end");
    let rest: Vec<&str> = out.lines().filter(|l| *l != warm).collect();
    assert_eq!(rest, ["weather.paris|12 C", "weather.end"], "{out:?}");
    peer.finish();
    // Nothing more shows up afterwards either.
    std::thread::sleep(Duration::from_millis(100));
    assert!(!z.stdout_now().contains("news"), "{:?}", z.stdout_now());
    assert!(!z.stdout_now().contains("sports"), "{:?}", z.stdout_now());
}

#[test]
fn zmtp_recv_curve_server_with_pyzmq_curve_client() {
    let (z, ep) = recv_bound(&[
        "-t",
        "PULL",
        "-n",
        "1",
        "--curve-server",
        "--curve-secret",
        SERVER_SECRET,
    ]);
    let client = format!("--curve-client={CLIENT_SECRET}");
    let server_key = format!("--server-key={SERVER_PUBLIC}");
    let send = format!("send:{}", hex_frames("secret|message"));
    let Some(peer) = Peer::spawn(
        "secure_peer.py",
        &["push", "connect", &ep, &client, &server_key, &send],
    ) else {
        return;
    };
    let f = z.finish();
    ok(&f);
    assert_eq!(f.stdout, "secret|message\n");
    peer.finish();
}

#[test]
fn zmtp_send_curve_client_to_pyzmq_curve_server() {
    let server = format!("--curve-server={SERVER_SECRET}");
    let Some(mut peer) = Peer::spawn(
        "secure_peer.py",
        &["pull", "bind", "tcp://127.0.0.1", &server, "recv:1"],
    ) else {
        return;
    };
    let ep = peer.line();
    let f = zmtp(&[
        "send",
        "-t",
        "PUSH",
        "--connect",
        &ep,
        "--curve-secret",
        CLIENT_SECRET,
        "--curve-public",
        CLIENT_PUBLIC,
        "--curve-serverkey",
        SERVER_PUBLIC,
        "curved|hello",
    ])
    .finish();
    ok(&f);
    assert_eq!(peer.line(), hex_frames("curved|hello"));
    peer.finish();
}

#[test]
fn zmtp_recv_plain_server_with_pyzmq_plain_client() {
    let (z, ep) = recv_bound(&[
        "-t",
        "PULL",
        "-n",
        "1",
        "--plain-server",
        "--plain-user",
        "admin",
        "--plain-password",
        "s3cret",
    ]);
    let send = format!("send:{}", hex_frames("plain|text"));
    let Some(peer) = Peer::spawn(
        "secure_peer.py",
        &["push", "connect", &ep, "--plain-client=admin:s3cret", &send],
    ) else {
        return;
    };
    let f = z.finish();
    ok(&f);
    assert_eq!(f.stdout, "plain|text\n");
    peer.finish();
}

#[test]
fn zmtp_send_plain_client_to_pyzmq_plain_server() {
    let Some(mut peer) = Peer::spawn(
        "secure_peer.py",
        &[
            "pull",
            "bind",
            "tcp://127.0.0.1",
            "--plain-server=admin:s3cret",
            "recv-user:1",
        ],
    ) else {
        return;
    };
    let ep = peer.line();
    let f = zmtp(&[
        "send",
        "-t",
        "PUSH",
        "--connect",
        &ep,
        "--plain-user",
        "admin",
        "--plain-password",
        "s3cret",
        "plain|hello",
    ])
    .finish();
    ok(&f);
    assert_eq!(
        peer.line(),
        format!("admin {}", hex_frames("plain|hello")),
        "libzmq's ZAP handler saw our user name"
    );
    peer.finish();
}

#[test]
fn pyzmq_push_to_zmtp_recv_over_ipc() {
    let ep = ipc_path("pull");
    let z = zmtp(&["recv", "-t", "PULL", "--bind", &ep, "-n", "1"]);
    // libzmq retries the connect until zmtp has bound.
    let send = format!("send:{}", hex_frames("over|ipc"));
    let Some(peer) = Peer::spawn("socket_peer.py", &["push", "connect", &ep, &send]) else {
        return;
    };
    let f = z.finish();
    ok(&f);
    assert_eq!(f.stdout, "over|ipc\n");
    peer.finish();
}

#[test]
fn zmtp_recv_hex_prints_a_1_mib_message_from_pyzmq() {
    const SIZE: usize = 1024 * 1024;
    let (z, ep) = recv_bound(&["-t", "PULL", "-n", "1", "--format", "hex"]);
    let send = format!("send-big:{SIZE}");
    let Some(peer) = Peer::spawn("secure_peer.py", &["push", "connect", &ep, &send]) else {
        return;
    };
    let f = z.finish();
    ok(&f);
    let body: String = pattern(SIZE).iter().map(|b| format!("{b:02x}")).collect();
    let expected = format!("{}|{body}\n", hex_frames("big"));
    assert_eq!(f.stdout.len(), expected.len());
    assert!(f.stdout == expected, "the hex differs from the pattern");
    peer.finish();
}

#[test]
fn zmtp_recv_survives_garbage_then_prints_a_pyzmq_message() {
    let z = zmtp(&[
        "recv",
        "-t",
        "PULL",
        "--bind",
        "tcp://127.0.0.1:*",
        "-n",
        "1",
    ]);
    let port = z.port();
    let ep = format!("tcp://127.0.0.1:{port}");
    {
        let mut garbage = TcpStream::connect(("127.0.0.1", port)).unwrap();
        garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        // Read whatever zmtp answers (its greeting) until it hangs up or
        // goes quiet; either way it must keep serving other peers.
        garbage
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut sink = Vec::new();
        let _ = garbage.read_to_end(&mut sink);
    }
    let send = format!("send:{}", hex_frames("still|alive"));
    let Some(peer) = Peer::spawn("socket_peer.py", &["push", "connect", &ep, &send]) else {
        return;
    };
    let f = z.finish();
    ok(&f);
    assert_eq!(f.stdout, "still|alive\n");
    peer.finish();
}
