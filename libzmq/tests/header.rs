//! `include/zmq.h` says what the library does: every number the Rust side
//! uses is `#define`d to the same value in the header, and every function
//! the header declares is exported by the library (the rlib's symbols are
//! the cdylib's; the C test links them).

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::ffi::c_int;

use zmq::context as ctx;
use zmq::errno;
use zmq::sockopt::num;

fn defines() -> HashMap<String, String> {
    let header = include_str!("../include/zmq.h");
    header
        .lines()
        .filter_map(|l| l.strip_prefix("#define "))
        .filter_map(|l| {
            let mut parts = l.splitn(2, ' ');
            Some((parts.next()?.to_owned(), parts.next()?.trim().to_owned()))
        })
        .collect()
}

#[test]
fn numbers_match_the_header() {
    let d = defines();
    let expect = |name: &str, value: c_int| {
        assert_eq!(
            d.get(name).map(String::as_str),
            Some(value.to_string().as_str()),
            "{name}"
        );
    };
    for (name, value) in [
        ("ZMQ_ROUTING_ID", num::ROUTING_ID),
        ("ZMQ_SUBSCRIBE", num::SUBSCRIBE),
        ("ZMQ_UNSUBSCRIBE", num::UNSUBSCRIBE),
        ("ZMQ_SNDBUF", num::SNDBUF),
        ("ZMQ_RCVBUF", num::RCVBUF),
        ("ZMQ_RCVMORE", num::RCVMORE),
        ("ZMQ_FD", num::FD),
        ("ZMQ_EVENTS", num::EVENTS),
        ("ZMQ_TYPE", num::TYPE),
        ("ZMQ_LINGER", num::LINGER),
        ("ZMQ_RECONNECT_IVL", num::RECONNECT_IVL),
        ("ZMQ_BACKLOG", num::BACKLOG),
        ("ZMQ_RECONNECT_IVL_MAX", num::RECONNECT_IVL_MAX),
        ("ZMQ_MAXMSGSIZE", num::MAXMSGSIZE),
        ("ZMQ_SNDHWM", num::SNDHWM),
        ("ZMQ_RCVHWM", num::RCVHWM),
        ("ZMQ_RCVTIMEO", num::RCVTIMEO),
        ("ZMQ_SNDTIMEO", num::SNDTIMEO),
        ("ZMQ_IPV4ONLY", num::IPV4ONLY),
        ("ZMQ_LAST_ENDPOINT", num::LAST_ENDPOINT),
        ("ZMQ_ROUTER_MANDATORY", num::ROUTER_MANDATORY),
        ("ZMQ_IMMEDIATE", num::IMMEDIATE),
        ("ZMQ_XPUB_VERBOSE", num::XPUB_VERBOSE),
        ("ZMQ_IPV6", num::IPV6),
        ("ZMQ_MECHANISM", num::MECHANISM),
        ("ZMQ_PLAIN_SERVER", num::PLAIN_SERVER),
        ("ZMQ_PLAIN_USERNAME", num::PLAIN_USERNAME),
        ("ZMQ_PLAIN_PASSWORD", num::PLAIN_PASSWORD),
        ("ZMQ_CURVE_SERVER", num::CURVE_SERVER),
        ("ZMQ_CURVE_PUBLICKEY", num::CURVE_PUBLICKEY),
        ("ZMQ_CURVE_SECRETKEY", num::CURVE_SECRETKEY),
        ("ZMQ_CURVE_SERVERKEY", num::CURVE_SERVERKEY),
        ("ZMQ_REQ_RELAXED", num::REQ_RELAXED),
        ("ZMQ_ZAP_DOMAIN", num::ZAP_DOMAIN),
        ("ZMQ_ROUTER_HANDOVER", num::ROUTER_HANDOVER),
        ("ZMQ_HANDSHAKE_IVL", num::HANDSHAKE_IVL),
        ("ZMQ_XPUB_NODROP", num::XPUB_NODROP),
        ("ZMQ_HEARTBEAT_IVL", num::HEARTBEAT_IVL),
        ("ZMQ_HEARTBEAT_TTL", num::HEARTBEAT_TTL),
        ("ZMQ_HEARTBEAT_TIMEOUT", num::HEARTBEAT_TIMEOUT),
        ("ZMQ_XPUB_VERBOSER", num::XPUB_VERBOSER),
        ("ZMQ_IO_THREADS", ctx::ZMQ_IO_THREADS),
        ("ZMQ_MAX_SOCKETS", ctx::ZMQ_MAX_SOCKETS),
        ("ZMQ_SOCKET_LIMIT", ctx::ZMQ_SOCKET_LIMIT),
        ("ZMQ_THREAD_PRIORITY", ctx::ZMQ_THREAD_PRIORITY),
        ("ZMQ_THREAD_SCHED_POLICY", ctx::ZMQ_THREAD_SCHED_POLICY),
        ("ZMQ_MAX_MSGSZ", ctx::ZMQ_MAX_MSGSZ),
        ("ZMQ_MSG_T_SIZE", ctx::ZMQ_MSG_T_SIZE),
        ("ZMQ_THREAD_NAME_PREFIX", ctx::ZMQ_THREAD_NAME_PREFIX),
        ("ZMQ_BLOCKY", ctx::ZMQ_BLOCKY),
        ("ZMQ_MORE", zmq::message::ZMQ_MORE),
        ("ZMQ_SRCFD", zmq::message::ZMQ_SRCFD),
        ("ZMQ_SHARED", zmq::message::ZMQ_SHARED),
        ("ZMQ_DONTWAIT", zmq::socket::ZMQ_DONTWAIT),
        ("ZMQ_SNDMORE", zmq::socket::ZMQ_SNDMORE),
        ("ZMQ_HAUSNUMERO", errno::ZMQ_HAUSNUMERO),
    ] {
        expect(name, value);
    }
    for (name, offset) in [
        ("EFSM", 51),
        ("ENOCOMPATPROTO", 52),
        ("ETERM", 53),
        ("EMTHREAD", 54),
    ] {
        assert_eq!(d[name], format!("(ZMQ_HAUSNUMERO + {offset})"), "{name}");
    }
    assert_eq!(errno::ETERM, errno::ZMQ_HAUSNUMERO + 53);
    let (major, minor, patch) = zmq::version::VERSION;
    expect("ZMQ_VERSION_MAJOR", major);
    expect("ZMQ_VERSION_MINOR", minor);
    expect("ZMQ_VERSION_PATCH", patch);
}

#[test]
fn every_declared_function_is_exported() {
    let header = include_str!("../include/zmq.h");
    let sources = [
        include_str!("../src/errno.rs"),
        include_str!("../src/version.rs"),
        include_str!("../src/ctx_api.rs"),
        include_str!("../src/msg_api.rs"),
        include_str!("../src/socket_api.rs"),
        include_str!("../src/z85_api.rs"),
        include_str!("../src/atomic_counter.rs"),
        include_str!("../src/stopwatch.rs"),
        include_str!("../src/thread.rs"),
        include_str!("../src/timers.rs"),
        include_str!("../src/proxy_api.rs"),
        include_str!("../src/poll.rs"),
        include_str!("../src/iov_api.rs"),
    ]
    .concat();
    let declared: Vec<&str> = header
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("zmq_") && !w.ends_with("_t") && !w.ends_with("_fn"))
        .collect();
    let mut missing: Vec<&str> = declared
        .iter()
        .copied()
        .filter(|name| !sources.contains(&format!("fn {name}(")))
        .collect();
    missing.dedup();
    assert!(missing.is_empty(), "declared, not exported: {missing:?}");
    let mut unique = declared.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 70, "libzmq 4.3's stable ABI has 70 functions");
}
