//! The built `zmtp` binary, driven as a user would: pairs of processes over
//! tcp and ipc, every output format, keygen, the benchmarks, the cluster
//! demo and the error paths.
//!
//! Servers bind `tcp://127.0.0.1:*` and announce the port on stderr
//! (`listening on ...`), which the tests read back; nothing here depends on
//! a fixed port. Every child is killed if a test fails or times out.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

mod common;

use common::{Finished, WAIT, ipc_path, ok, run, zmtp, zmtp_logging, zmtp_with_stdin};

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn keygen_prints_a_public_and_a_secret_key_in_z85() {
    let f = run(&["keygen"]);
    ok(&f);
    let out = lines(&f.stdout);
    assert_eq!(out.len(), 2, "{out:?}");
    let z85 = |line: &str, prefix: &str| {
        let key = line
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{line:?}"));
        assert_eq!(key.len(), 40, "{key:?}");
        assert!(key.bytes().all(|b| b.is_ascii_graphic()), "{key:?}");
        key.to_owned()
    };
    let public = z85(out[0], "public: ");
    let secret = z85(out[1], "secret: ");
    assert_ne!(public, secret);
    assert_ne!(run(&["keygen"]).stdout, f.stdout, "fresh keys every time");
    // The keys decode as 32 bytes each. (`--`: a Z85 key may start with
    // `-`, which would read as a flag; one in 85 keys does.)
    let decoded = run(&["z85-decode", "--", &public]);
    ok(&decoded);
    assert_eq!(decoded.stdout.trim().len(), 64);
}

#[test]
fn send_to_recv_over_tcp_in_text_with_multipart_messages() {
    let recv = zmtp(&[
        "recv",
        "-t",
        "PULL",
        "--bind",
        "tcp://127.0.0.1:*",
        "-n",
        "3",
    ]);
    let ep = recv.listening();
    let send = run(&[
        "send",
        "-t",
        "push",
        "--connect",
        &ep,
        "hello|world",
        "bye",
        "a||c",
    ]);
    ok(&send);
    let f = recv.finish();
    ok(&f);
    assert_eq!(lines(&f.stdout), ["hello|world", "bye", "a||c"]);
    assert!(
        f.stderr.iter().all(|l| l.starts_with("listening on")),
        "{:?}",
        f.stderr
    );
}

#[test]
fn stdin_lines_over_ipc_print_as_hex() {
    let ep = ipc_path("hex");
    let recv = zmtp(&[
        "recv", "-t", "PULL", "--bind", &ep, "-n", "3", "--format", "hex",
    ]);
    // recv binds before it prints anything; give it a moment, then send
    // (a connecting PUSH retries until the path exists anyway).
    let send = zmtp_with_stdin(
        &["send", "-t", "PUSH", "--connect", &ep],
        Some(b"one\r\ntwo|2\n\xff\x00\n"),
    )
    .finish();
    ok(&send);
    let f = recv.finish();
    ok(&f);
    assert_eq!(lines(&f.stdout), ["6f6e65", "74776f|32", "ff00"]);
}

#[test]
fn router_prints_the_routing_id_first_and_json_marks_binary_frames() {
    let recv = zmtp(&[
        "recv",
        "-t",
        "ROUTER",
        "--bind",
        "tcp://127.0.0.1:*",
        "-n",
        "2",
        "--format",
        "json",
    ]);
    let ep = recv.listening();
    let send = zmtp_with_stdin(
        &[
            "send",
            "-t",
            "DEALER",
            "--routing-id",
            "alice",
            "--connect",
            &ep,
        ],
        Some(&["quote \"é\"|\x01\n".as_bytes(), b"bin|\xff\xfe\n"].concat()),
    )
    .finish();
    ok(&send);
    let f = recv.finish();
    ok(&f);
    assert_eq!(
        lines(&f.stdout),
        [
            r#"["alice","quote \"é\"","\u0001"]"#,
            r#"["alice","bin",{"hex":"fffe"}]"#
        ]
    );
}

#[test]
fn req_gets_the_rep_echo_and_prints_it() {
    let ep = ipc_path("rep");
    let recv = zmtp(&["recv", "-t", "REP", "--bind", &ep, "-n", "2"]);
    let send = run(&[
        "send",
        "-t",
        "REQ",
        "--connect",
        &ep,
        "ping|1",
        "pong",
        "--format",
        "json",
    ]);
    ok(&send);
    assert_eq!(lines(&send.stdout), [r#"["ping","1"]"#, r#"["pong"]"#]);
    let f = recv.finish();
    ok(&f);
    assert_eq!(lines(&f.stdout), ["ping|1", "pong"]);
}

#[test]
fn pub_waits_for_the_subscriber_and_sub_filters_by_prefix() {
    let recv = zmtp(&[
        "recv",
        "-t",
        "SUB",
        "--bind",
        "tcp://127.0.0.1:*",
        "--subscribe",
        "weather",
        "-n",
        "2",
        "--frame-separator",
        " / ",
    ]);
    let ep = recv.listening();
    let send = run(&[
        "send",
        "-t",
        "PUB",
        "--connect",
        &ep,
        // Generous for a loaded CI machine; the default is 200 ms.
        "--settle",
        "1000",
        "weather|sunny",
        "sports|tennis",
        "weather|rain",
    ]);
    ok(&send);
    let f = recv.finish();
    ok(&f);
    assert_eq!(lines(&f.stdout), ["weather / sunny", "weather / rain"]);
}

#[test]
fn count_repeats_every_message() {
    let recv = zmtp(&[
        "recv",
        "-t",
        "PAIR",
        "--bind",
        "tcp://127.0.0.1:*",
        "-n",
        "4",
    ]);
    let ep = recv.listening();
    ok(&run(&[
        "send",
        "-t",
        "PAIR",
        "--connect",
        &ep,
        "-n",
        "2",
        "x",
        "y",
    ]));
    let f = recv.finish();
    ok(&f);
    assert_eq!(lines(&f.stdout), ["x", "y", "x", "y"]);
}

#[test]
fn proxy_forwards_between_its_sides() {
    let proxy = zmtp(&[
        "proxy",
        "--frontend",
        "PULL@tcp://127.0.0.1:*",
        "--backend",
        "PUSH@tcp://127.0.0.1:*",
    ]);
    let front = proxy.listening();
    let back = proxy.listening();
    let recv = zmtp(&["recv", "-t", "PULL", "--connect", &back, "-n", "2"]);
    ok(&run(&[
        "send",
        "-t",
        "PUSH",
        "--connect",
        &front,
        "one|1",
        "two",
    ]));
    let f = recv.finish();
    ok(&f);
    assert_eq!(lines(&f.stdout), ["one|1", "two"]);
    drop(proxy);
}

#[test]
fn monitor_prints_the_life_of_a_link() {
    let monitor = zmtp(&[
        "monitor",
        "-t",
        "PULL",
        "--bind",
        "tcp://127.0.0.1:*",
        "--messages",
    ]);
    let ep = monitor.listening();
    ok(&run(&["send", "-t", "PUSH", "--connect", &ep, "hi"]));
    // Events and messages come from two streams: wait for both.
    let deadline = Instant::now() + WAIT;
    let out = loop {
        let out = monitor.stdout_now();
        if out.contains("message hi\n") && out.contains("disconnected ") {
            break out;
        }
        assert!(Instant::now() < deadline, "monitor printed only {out:?}");
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(monitor);
    let out = lines(&out);
    assert!(
        out[0].starts_with(&format!("listening endpoint={ep}")),
        "{out:?}"
    );
    for want in ["accepted ", "handshake-succeeded ", "disconnected "] {
        assert!(
            out.iter().any(|l| l.starts_with(want)),
            "no {want:?} in {out:?}"
        );
    }
    assert!(out.iter().any(|l| l.contains("peer-type=PUSH")), "{out:?}");

    // -n COUNT: exit 0 after that many events.
    let f = run(&[
        "monitor",
        "-t",
        "PULL",
        "--bind",
        "tcp://127.0.0.1:*",
        "-n",
        "1",
    ]);
    ok(&f);
    assert_eq!(lines(&f.stdout).len(), 1, "{:?}", f.stdout);
    assert!(f.stdout.starts_with("listening endpoint=tcp://127.0.0.1:"));
}

/// `--maxmsgsize`: a peer that sends a longer frame loses its link (the
/// monitor says why) and nothing of it is printed; shorter ones pass.
#[test]
fn maxmsgsize_closes_the_link_of_a_peer_that_sends_a_longer_frame() {
    let monitor = zmtp(&[
        "monitor",
        "-t",
        "PULL",
        "--bind",
        "tcp://127.0.0.1:*",
        "--messages",
        "--maxmsgsize",
        "8",
    ]);
    let ep = monitor.listening();
    ok(&run(&[
        "send",
        "-t",
        "PUSH",
        "--connect",
        &ep,
        "0123456789abcdef",
    ]));
    ok(&run(&["send", "-t", "PUSH", "--connect", &ep, "small"]));
    let deadline = Instant::now() + WAIT;
    let out = loop {
        let out = monitor.stdout_now();
        if out.contains("message small\n") && out.contains("exceeds the maximum of 8 bytes") {
            break out;
        }
        assert!(Instant::now() < deadline, "monitor printed only {out:?}");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(!out.contains("0123456789abcdef"), "{out:?}");
}

/// With `RUST_LOG`, the transport's link events reach stderr; stdout
/// still holds nothing but the messages.
#[test]
fn rust_log_shows_links_coming_up_on_stderr() {
    let recv = zmtp_logging(
        &[
            "recv",
            "-t",
            "PULL",
            "--bind",
            "tcp://127.0.0.1:*",
            "-n",
            "1",
        ],
        "zmtp_transport=debug",
    );
    let ep = recv.listening();
    ok(&run(&["send", "-t", "push", "--connect", &ep, "hello"]));
    let f = recv.finish();
    ok(&f);
    assert_eq!(lines(&f.stdout), ["hello"]);
    let link_up = f
        .stderr
        .iter()
        .find(|l| l.contains("link up"))
        .unwrap_or_else(|| panic!("no `link up` on stderr: {:?}", f.stderr));
    assert!(
        link_up.contains("DEBUG") && link_up.contains("PUSH"),
        "{link_up}"
    );
    assert!(
        !link_up.contains('\x1b'),
        "no colours into a pipe: {link_up:?}"
    );
}

fn number_after(line: &str, prefix: &str) -> f64 {
    let rest = line
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{line:?} does not start with {prefix:?}"));
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn bench_throughput_over_tcp_prints_libzmq_lines() {
    let local = zmtp(&["bench", "local-thr", "tcp://127.0.0.1:*", "100", "5000"]);
    let ep = local.listening();
    let remote = run(&["bench", "remote-thr", &ep, "100", "5000"]);
    ok(&remote);
    assert_eq!(remote.stdout, "");
    let f = local.finish();
    ok(&f);
    let out = lines(&f.stdout);
    assert_eq!(out.len(), 4, "{out:?}");
    assert_eq!(out[0], "message size: 100 [B]");
    assert_eq!(out[1], "message count: 5000");
    assert!(
        out[2].ends_with(" [msg/s]") && number_after(out[2], "mean throughput: ") > 0.0,
        "{out:?}"
    );
    assert!(
        out[3].ends_with(" [Mb/s]") && number_after(out[3], "mean throughput: ") > 0.0,
        "{out:?}"
    );
}

#[test]
fn bench_latency_over_ipc_prints_libzmq_lines() {
    let ep = ipc_path("lat");
    let local = zmtp(&["bench", "local-lat", &ep, "32", "300"]);
    let remote = run(&["bench", "remote-lat", &ep, "32", "300"]);
    ok(&remote);
    let out = lines(&remote.stdout);
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(out[0], "message size: 32 [B]");
    assert_eq!(out[1], "roundtrip count: 300");
    assert!(
        out[2].ends_with(" [us]") && number_after(out[2], "average latency: ") > 0.0,
        "{out:?}"
    );
    ok(&local.finish());
}

#[test]
fn bench_inproc_runs_both_sides_in_one_process() {
    // More messages than the high-water mark, so the sender waits for room.
    let thr = run(&["bench", "inproc-thr", "64", "5000"]);
    ok(&thr);
    assert_eq!(lines(&thr.stdout)[1], "message count: 5000");
    let lat = run(&["bench", "inproc-lat", "64", "200"]);
    ok(&lat);
    assert!(
        lines(&lat.stdout)[2].starts_with("average latency: "),
        "{:?}",
        lat.stdout
    );
    let same = run(&["bench", "local-thr", "inproc://zmtp-cli-test", "8", "100"]);
    ok(&same);
    assert_eq!(lines(&same.stdout)[1], "message count: 100");
    let refused = run(&["bench", "remote-thr", "inproc://zmtp-cli-test", "8", "100"]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(refused.stderr.len(), 1, "{:?}", refused.stderr);
}

#[test]
fn cluster_demo_short_run_verifies_every_chunk() {
    let f = run(&[
        "cluster-demo",
        "--workers",
        "2",
        "--seconds",
        "5",
        "--rate",
        "400",
        "--broadcast-rate",
        "100",
        "--kill-at",
        "2",
        "--hang",
        "0.3",
        "--down-for",
        "1",
        "--logger-period",
        "2",
        "--logger-stall",
        "1",
        "--soft-cap",
        "200",
        "--hard-cap",
        "1000",
        "--report-every",
        "1",
    ]);
    ok(&f);
    let out = &f.stdout;
    for want in [
        "KILL worker-2",
        "RESTART worker-2",
        "manager: worker-2 up, epoch 2",
        "FillingUp",
        "Drained",
        "worker-2 (run 2) -> manager",
        "handed back: peer restarted; to re-serialize in the next epoch",
        "manager -> worker-2 (run 2)",
        "PASS: every chunk got exactly one outcome and arrived as it says",
    ] {
        assert!(out.contains(want), "no {want:?} in:\n{out}");
    }
    assert!(!out.contains("FAIL"), "{out}");
}

#[test]
fn cluster_demo_with_groups_encodes_each_broadcast_once() {
    let f = run(&[
        "cluster-demo",
        "--groups",
        "--workers",
        "3",
        "--seconds",
        "5",
        "--rate",
        "300",
        "--broadcast-rate",
        "100",
        "--kill-at",
        "2",
        "--hang",
        "0.3",
        "--down-for",
        "1",
        "--report-every",
        "1",
    ]);
    ok(&f);
    let out = &f.stdout;
    for want in [
        "manager: group state now in epoch 1",
        "left: worker-3 (its link went down)",
        "encodings saved",
        "worker-1: took ",
        "PASS: every chunk got exactly one outcome and arrived as it says",
    ] {
        assert!(out.contains(want), "no {want:?} in:\n{out}");
    }
    assert!(!out.contains("FAIL"), "{out}");
    // The restarted worker rejoins the group in a later epoch.
    let rejoined = out.lines().any(|l| {
        l.contains("manager: group state now in")
            && l.contains("3 member(s)")
            && !l.contains("epoch 1 ")
    });
    assert!(rejoined, "worker-3 never rejoined:\n{out}");
}

#[test]
fn cluster_demo_in_processes_with_a_partition_settles_every_chunk() {
    let f = run(&[
        "cluster-demo",
        "--processes",
        "--partition",
        "--workers",
        "2",
        "--seconds",
        "6",
        "--rate",
        "300",
        "--broadcast-rate",
        "80",
        "--kill-at",
        "1.5",
        "--hang",
        "0.3",
        "--down-for",
        "1",
        "--partition-at",
        "3",
        "--partition-for",
        "1.5",
        "--logger-period",
        "2",
        "--logger-stall",
        "1",
        "--soft-cap",
        "200",
        "--hard-cap",
        "1000",
        "--report-every",
        "1",
    ]);
    ok(&f);
    let out = &f.stdout;
    for want in [
        "each node its own OS process",
        "KILL worker-2: SIGKILL to its process (pid ",
        "is gone: signal: 9 (SIGKILL)",
        "RESTART worker-2 under the same name: a new process (pid ",
        "manager: worker-2 up, epoch 2 (restarted: a new process)",
        "handed back: peer restarted; to re-serialize in the next epoch",
        "PARTITION worker-1 -> manager: the relay cuts the link",
        "worker-1: manager down (epoch 1: ",
        "manager: worker-1 down (epoch 1: ",
        "partition ends",
        "manager -> worker-2 (run 2)",
        "PASS: every chunk got exactly one outcome and arrived as it says",
    ] {
        assert!(out.contains(want), "no {want:?} in:\n{out}");
    }
    // The settlement, both ways: `N in doubt settled: D delivered, H handed
    // back (not delivered)` with N = D + H, and never `peer restarted`.
    for way in ["worker-1 -> manager", "manager -> worker-1"] {
        let prefix = format!("partition healed: {way}: ");
        let line = out
            .lines()
            .find_map(|l| l.split_once(&prefix).map(|(_, rest)| rest))
            .unwrap_or_else(|| panic!("no {prefix:?} in:\n{out}"));
        let numbers: Vec<u64> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter(|t| !t.is_empty())
            .map(|t| t.parse().unwrap())
            .collect();
        assert!(
            line.contains(" in doubt settled: ")
                && line.contains(" delivered, ")
                && line.contains(" handed back (not delivered)")
                && !line.contains("restarted")
                && !line.contains("STILL"),
            "{line}"
        );
        assert_eq!(numbers[0], numbers[1] + numbers[2], "{line}");
    }
    // worker-1 stopped reading before the cut, so the manager had chunks
    // to it in doubt, and its record said it had not taken them.
    assert!(
        out.lines()
            .any(|l| l.contains("manager: worker-1 down (epoch 1: ")
                && l.contains("chunks sent wait for their outcome")),
        "{out}"
    );
    assert!(!out.contains("FAIL"), "{out}");
}

/// One line on stderr starting `zmtp: `, and the given exit code.
fn fails_with_one_line(f: &Finished, code: i32, containing: &str) {
    assert_eq!(
        f.status.code(),
        Some(code),
        "stdout {:?} stderr {:?}",
        f.stdout,
        f.stderr
    );
    assert_eq!(f.stderr.len(), 1, "{:?}", f.stderr);
    assert!(f.stderr[0].starts_with("zmtp: "), "{:?}", f.stderr);
    assert!(
        f.stderr[0].contains(containing),
        "{:?} lacks {containing:?}",
        f.stderr
    );
    assert!(!f.stderr[0].contains("panicked"), "{:?}", f.stderr);
}

#[test]
fn errors_are_one_line_and_a_non_zero_exit() {
    fails_with_one_line(
        &run(&["recv", "-t", "PULL", "--bind", "nonsense"]),
        1,
        "nonsense",
    );
    fails_with_one_line(
        &run(&["send", "-t", "PUSH", "--connect", "udp://1.2.3.4:5", "x"]),
        1,
        "udp",
    );
    fails_with_one_line(
        &run(&["recv", "-t", "PULL", "--bind", "tcp://127.0.0.1:99999"]),
        1,
        "99999",
    );
    fails_with_one_line(
        &run(&["recv", "-t", "PUB", "--bind", "tcp://127.0.0.1:*"]),
        1,
        "cannot receive",
    );
    fails_with_one_line(
        &run(&["recv", "-t", "FOO", "--bind", "tcp://127.0.0.1:*"]),
        2,
        "unknown socket type",
    );
    fails_with_one_line(&run(&["recv", "-t", "PULL"]), 2, "--bind");
    fails_with_one_line(
        &run(&["bench", "local-thr", "tcp://127.0.0.1:1", "x", "1"]),
        2,
        "invalid value",
    );
    fails_with_one_line(
        &run(&[
            "recv",
            "-t",
            "PULL",
            "--bind",
            "tcp://127.0.0.1:*",
            "--curve-secret",
            "not-a-key",
        ]),
        1,
        "--curve-secret",
    );
    fails_with_one_line(&run(&["z85-decode", "abc"]), 1, "z85");

    // Address in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", taken.local_addr().unwrap());
    fails_with_one_line(&run(&["recv", "-t", "PULL", "--bind", &ep]), 1, "in use");

    // A peer that refuses our socket type: no endless retry, one line.
    let pull = zmtp(&[
        "recv",
        "-t",
        "PULL",
        "--bind",
        "tcp://127.0.0.1:*",
        "-n",
        "1",
    ]);
    let ep = pull.listening();
    fails_with_one_line(
        &run(&["send", "-t", "PUB", "--connect", &ep, "x"]),
        1,
        "incompatible",
    );
    assert_eq!(pull.stdout_now(), "");
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    for sub in [
        &["recv"][..],
        &["send"],
        &["proxy"],
        &["keygen"],
        &["monitor"],
        &["cluster-demo"],
        &["bench", "local-thr"],
        &["bench", "remote-thr"],
        &["bench", "local-lat"],
        &["bench", "remote-lat"],
        &["bench", "inproc-thr"],
        &["bench", "inproc-lat"],
    ] {
        let mut args = sub.to_vec();
        args.push("--help");
        let f = run(&args);
        ok(&f);
        assert!(f.stdout.contains("Usage: zmtp"), "{sub:?}: {}", f.stdout);
        assert!(
            f.stdout.contains("Example"),
            "{sub:?} has no example: {}",
            f.stdout
        );
    }
    let f = run(&["bench", "--help"]);
    ok(&f);
    assert!(f.stdout.contains("local-thr"));
}

fn key_of(keygen: &Finished, which: &str) -> String {
    lines(&keygen.stdout)
        .iter()
        .find_map(|l| l.strip_prefix(which))
        .unwrap()
        .to_owned()
}

#[test]
fn curve_and_plain_between_two_zmtp_processes() {
    let server = run(&["keygen"]);
    let client = run(&["keygen"]);
    let (server_public, server_secret) = (key_of(&server, "public: "), key_of(&server, "secret: "));
    let client_secret = key_of(&client, "secret: ");
    // `--flag=KEY`: a Z85 key may start with `-` (one in 85 does), which
    // would read as a flag of its own.
    let server_secret = format!("--curve-secret={server_secret}");
    let client_secret = format!("--curve-secret={client_secret}");
    let server_public = format!("--curve-serverkey={server_public}");
    let recv = zmtp(&[
        "recv",
        "-t",
        "PULL",
        "--bind",
        "tcp://127.0.0.1:*",
        "-n",
        "1",
        "--curve-server",
        &server_secret,
    ]);
    let ep = recv.listening();
    ok(&run(&[
        "send",
        "-t",
        "PUSH",
        "--connect",
        &ep,
        &server_public,
        &client_secret,
        "sealed",
    ]));
    let f = recv.finish();
    ok(&f);
    assert_eq!(lines(&f.stdout), ["sealed"]);

    let recv = zmtp(&[
        "recv",
        "-t",
        "PULL",
        "--bind",
        "tcp://127.0.0.1:*",
        "-n",
        "1",
        "--plain-server",
        "--plain-user",
        "admin",
        "--plain-password",
        "secret",
    ]);
    let ep = recv.listening();
    ok(&run(&[
        "send",
        "-t",
        "PUSH",
        "--connect",
        &ep,
        "--plain-user",
        "admin",
        "--plain-password",
        "secret",
        "in clear",
    ]));
    let f = recv.finish();
    ok(&f);
    assert_eq!(lines(&f.stdout), ["in clear"]);

    let bad = run(&[
        "send",
        "-t",
        "PUSH",
        "--connect",
        &ep,
        "--curve-serverkey",
        "short",
    ]);
    fails_with_one_line(&bad, 1, "bad --curve-serverkey");
}

/// PEM files for a CA and one certificate for 127.0.0.1, in `dir`.
fn write_tls_files(dir: &std::path::Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
}

#[test]
fn tls_between_two_zmtp_processes() {
    let dir = std::env::temp_dir().join(format!("zmtp-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    write_tls_files(&dir);
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let recv = zmtp(&[
        "recv",
        "-t",
        "PULL",
        "--bind",
        "tls://127.0.0.1:*",
        "-n",
        "1",
        "--tls-cert",
        &path("server.pem"),
        "--tls-key",
        &path("server.key"),
    ]);
    let ep = recv.listening();
    ok(&run(&[
        "send",
        "-t",
        "PUSH",
        "--connect",
        &ep,
        "--tls-ca",
        &path("ca.pem"),
        "over tls",
    ]));
    let f = recv.finish();
    ok(&f);
    assert_eq!(lines(&f.stdout), ["over tls"]);
    let _ = std::fs::remove_dir_all(&dir);
}
