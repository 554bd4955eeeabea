//! The server the hostile-peer suite attacks (`tests/tests/hostile.rs`,
//! `benches/hostile.sh`): one of our sockets bound to an ephemeral TCP
//! port, in a process of its own so its memory can be read from
//! `/proc/PID/status` apart from the attacker's.
//!
//! ```text
//! hostile_server TYPE [rcvhwm=N] [sndhwm=N] [maxmsgsize=N] [busy=1]
//!                      [tls_cert=PEM tls_key=PEM]
//! ```
//!
//! With `tls_cert` and `tls_key` it binds `tls://` instead of `tcp://`.
//!
//! `benches/hostile_server.py` is the same program on libzmq; both speak
//! this protocol:
//! - stdout: `port N` once bound; then, for each received frame that
//!   starts with `legit`, `got FRAME`; for each XPUB notice whose topic
//!   starts with `legit`, `sub TOPIC` or `unsub TOPIC`. Attack traffic is
//!   never printed.
//! - stdin: with `busy=1` the application reads nothing (a busy
//!   application) until the line `read`.
//! - PUB and XPUB publish `legit.tick` every 20 ms, for a legitimate
//!   subscriber to the prefix `legit.` to receive.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use zmtp_transport::{Message, Options, Socket, SocketType, TlsConfig, TlsIdentity};

/// What the command line asked for.
struct Args {
    socket_type: SocketType,
    options: Options,
    busy: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let name = args
        .next()
        .ok_or("usage: hostile_server TYPE [key=value]...")?;
    let socket_type = SocketType::from_str(&name).map_err(|_| format!("bad type {name}"))?;
    let mut options = Options::new(socket_type);
    let mut busy = false;
    let mut tls_files = (None, None);
    for arg in args {
        let (key, value) = arg.split_once('=').ok_or(format!("bad option {arg}"))?;
        match key {
            "tls_cert" => tls_files.0 = Some(value.to_owned()),
            "tls_key" => tls_files.1 = Some(value.to_owned()),
            _ => {}
        }
        if key.starts_with("tls_") {
            continue;
        }
        let n: u64 = value.parse().map_err(|_| format!("bad number in {arg}"))?;
        let size = usize::try_from(n).map_err(|_| format!("too large: {arg}"))?;
        match key {
            "rcvhwm" => options.rcvhwm = size,
            "sndhwm" => options.sndhwm = size,
            "maxmsgsize" => options.maxmsgsize = Some(n),
            "busy" => busy = n != 0,
            _ => return Err(format!("unknown option {key}")),
        }
    }
    if let (Some(cert), Some(key)) = tls_files {
        let identity = TlsIdentity::from_pem_files(&cert, &key).map_err(|e| e.to_string())?;
        options.tls = Some(TlsConfig::server(identity));
    }
    Ok(Args {
        socket_type,
        options,
        busy,
    })
}

/// One line on stdout, flushed (the test waits for it).
fn say(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The line printed for a received frame, if it is a legitimate peer's.
fn shown(frame: &[u8], socket_type: SocketType) -> Option<String> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if socket_type == SocketType::Xpub {
        return match frame.split_first() {
            Some((1, topic)) if topic.starts_with(b"legit") => Some(format!("sub {}", text(topic))),
            Some((0, topic)) if topic.starts_with(b"legit") => {
                Some(format!("unsub {}", text(topic)))
            }
            _ => None,
        };
    }
    frame
        .starts_with(b"legit")
        .then(|| format!("got {}", text(frame)))
}

/// Blocks until stdin says `read` (or closes).
async fn wait_for_read() {
    let _ = tokio::task::spawn_blocking(|| {
        for line in io::stdin().lock().lines() {
            match line {
                Ok(line) if line.trim() == "read" => return,
                Ok(_) => {}
                Err(_) => return,
            }
        }
    })
    .await;
}

/// Publishes `legit.tick` every 20 ms, forever.
async fn publish(socket: Socket) {
    loop {
        let mut tick = Message::new();
        tick.push(&b"legit.tick"[..]);
        let _ = socket.try_send(tick);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Receives forever, printing the legitimate peers' frames.
async fn receive(socket: Socket, busy: bool) {
    if busy {
        wait_for_read().await;
    }
    let socket_type = socket.socket_type();
    while let Ok(message) = socket.recv().await {
        for frame in message.frames() {
            if let Some(line) = shown(frame, socket_type) {
                say(&line);
            }
        }
    }
}

async fn serve(args: Args) -> Result<(), String> {
    let socket = Socket::with_options(args.socket_type, args.options);
    let scheme = if socket.options().tls.is_some() {
        "tls"
    } else {
        "tcp"
    };
    let bound = socket
        .bind(&format!("{scheme}://127.0.0.1:0"))
        .await
        .map_err(|e| e.to_string())?;
    let port = bound
        .to_string()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    say(&format!("port {port}"));
    let publishes = matches!(args.socket_type, SocketType::Pub | SocketType::Xpub);
    if publishes {
        tokio::spawn(publish(socket.clone()));
    }
    if args.socket_type == SocketType::Pub {
        std::future::pending::<()>().await;
    }
    receive(socket, args.busy).await;
    Ok(())
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|args| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?
            .block_on(serve(args))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hostile_server: {e}");
            ExitCode::FAILURE
        }
    }
}
