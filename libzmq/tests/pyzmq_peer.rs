//! Interop with real libzmq: pyzmq (and the libzmq it bundles) in a child
//! process talks to a socket of this library over tcp, REQ to our REP.
//! Skipped, with a note, where `python3 -c 'import zmq'` fails.

#![allow(unsafe_code, clippy::unwrap_used)]

use std::ffi::{CStr, c_int, c_void};
use std::process::{Command, Stdio};

use zmq::ctx_api::{zmq_ctx_new, zmq_ctx_term};
use zmq::errno::zmq_errno;
use zmq::socket_api::{
    zmq_bind, zmq_close, zmq_getsockopt, zmq_recv, zmq_send, zmq_setsockopt, zmq_socket,
};

const REP: c_int = 4;
const LINGER: c_int = 17;
const RCVTIMEO: c_int = 27;
const LAST_ENDPOINT: c_int = 32;

const PEER: &str = r#"
import sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.REQ)
s.linger = 0
s.rcvtimeo = 10000
s.connect(sys.argv[1])
s.send_multipart([b"from", b"pyzmq"])
print(s.recv().decode())
print(zmq.zmq_version())
"#;

fn pyzmq_available() -> bool {
    Command::new("python3")
        .args(["-c", "import zmq"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn pyzmq_req_talks_to_our_rep() {
    if !pyzmq_available() {
        // CI sets ZMTP_REQUIRE_PYZMQ=1: a missing peer is a failure there.
        assert!(
            std::env::var("ZMTP_REQUIRE_PYZMQ").as_deref() != Ok("1"),
            "pyzmq is required (ZMTP_REQUIRE_PYZMQ=1) but `import zmq` fails"
        );
        eprintln!("skipped: python3 with pyzmq is not available");
        return;
    }
    let ctx = zmq_ctx_new();
    // SAFETY: plain calls on live handles with valid buffers throughout.
    unsafe {
        let rep: *mut c_void = zmq_socket(ctx, REP);
        assert_eq!(zmq_bind(rep, c"tcp://127.0.0.1:*".as_ptr()), 0);
        let mut buf = [0u8; 128];
        let mut len = buf.len();
        zmq_getsockopt(rep, LAST_ENDPOINT, buf.as_mut_ptr().cast(), &mut len);
        let endpoint = CStr::from_bytes_until_nul(&buf)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let peer = Command::new("python3")
            .args(["-c", PEER, &endpoint])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let timeout: c_int = 10_000;
        zmq_setsockopt(rep, RCVTIMEO, (&raw const timeout).cast(), 4);
        let mut parts = Vec::new();
        for _ in 0..2 {
            let n = zmq_recv(rep, buf.as_mut_ptr().cast(), buf.len(), 0);
            assert!(n >= 0, "recv: errno {}", zmq_errno());
            parts.push(buf[..n as usize].to_vec());
        }
        assert_eq!(parts, [b"from".to_vec(), b"pyzmq".to_vec()]);
        assert_eq!(zmq_send(rep, b"hello libzmq".as_ptr().cast(), 12, 0), 12);
        let out = peer.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.starts_with("hello libzmq\n"), "{stdout}");
        let zero: c_int = 0;
        zmq_setsockopt(rep, LINGER, (&raw const zero).cast(), 4);
        assert_eq!(zmq_close(rep), 0);
        assert_eq!(zmq_ctx_term(ctx), 0);
    }
}
