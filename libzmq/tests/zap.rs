//! ZAP (RFC 27) through the C ABI: a REP handler thread bound at
//! `inproc://zeromq.zap.01` decides PLAIN by password and CURVE by key; its
//! user id and metadata come back with `zmq_msg_gets`; refusals and broken
//! replies show on the server's monitor as libzmq reports them; without a
//! handler, libzmq 4.3's defaults.

#![allow(unsafe_code, clippy::unwrap_used)]

use std::ffi::{CStr, CString, c_int, c_void};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use zmq::ctx_api::*;
use zmq::errno::zmq_errno;
use zmq::msg_api::*;
use zmq::socket_api::*;
use zmq::z85_api::{zmq_curve_keypair, zmq_z85_decode};
use zmq::zmq_msg_t;

const PAIR: c_int = 0;
const REP: c_int = 4;
const PULL: c_int = 7;
const PUSH: c_int = 8;
const ROUTING_ID: c_int = 5;
const RCVMORE: c_int = 13;
const LINGER: c_int = 17;
const RCVTIMEO: c_int = 27;
const PLAIN_SERVER: c_int = 44;
const PLAIN_USERNAME: c_int = 45;
const PLAIN_PASSWORD: c_int = 46;
const CURVE_SERVER: c_int = 47;
const CURVE_PUBLICKEY: c_int = 48;
const CURVE_SECRETKEY: c_int = 49;
const CURVE_SERVERKEY: c_int = 50;
const ZAP_DOMAIN: c_int = 55;
const SNDMORE: c_int = 2;
const HANDSHAKE_EVENTS: c_int = 0x7800;
const HANDSHAKE_SUCCEEDED: u16 = 0x1000;
const HANDSHAKE_FAILED_PROTOCOL: u16 = 0x2000;
const HANDSHAKE_FAILED_AUTH: u16 = 0x4000;

/// inproc names are process-wide: one ZAP handler at a time.
static ONE_HANDLER: Mutex<()> = Mutex::new(());

type Frames = Vec<Vec<u8>>;

fn set_bytes(s: *mut c_void, option: c_int, value: &[u8]) {
    // SAFETY: a live socket and a buffer of the given length.
    let rc = unsafe { zmq_setsockopt(s, option, value.as_ptr().cast(), value.len()) };
    assert_eq!(rc, 0, "option {option}: errno {}", zmq_errno());
}

fn set_int(s: *mut c_void, option: c_int, value: c_int) {
    set_bytes(s, option, &value.to_ne_bytes());
}

/// Receives one whole message, or `None` on a timeout.
fn recv_frames(s: *mut c_void) -> Option<Frames> {
    let mut frames = Vec::new();
    loop {
        let mut buf = [0u8; 256];
        // SAFETY: a live socket, a buffer of its size.
        let n = unsafe { zmq_recv(s, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return None;
        }
        frames.push(buf[..n as usize].to_vec());
        let mut more: c_int = 0;
        let mut len = 4usize;
        // SAFETY: a live socket, an int and its length.
        unsafe { zmq_getsockopt(s, RCVMORE, (&raw mut more).cast(), &mut len) };
        if more == 0 {
            return Some(frames);
        }
    }
}

fn send_frames(s: *mut c_void, frames: &[Vec<u8>]) {
    for (i, f) in frames.iter().enumerate() {
        let flags = if i + 1 < frames.len() { SNDMORE } else { 0 };
        // SAFETY: a live socket, a buffer of its length.
        assert!(unsafe { zmq_send(s, f.as_ptr().cast(), f.len(), flags) } >= 0);
    }
}

/// A ZAP handler thread: REP at `inproc://zeromq.zap.01`, answering each
/// request with `decide`; it records the requests it saw.
struct Handler {
    stop: &'static AtomicBool,
    thread: Option<JoinHandle<Vec<Frames>>>,
}

impl Handler {
    fn start(ctx: *mut c_void, decide: fn(&Frames) -> Frames) -> Self {
        let stop: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
        let ctx = ctx as usize;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            // SAFETY: the context outlives the handler (joined before term).
            let rep = unsafe { zmq_socket(ctx as *mut c_void, REP) };
            set_int(rep, RCVTIMEO, 50);
            set_int(rep, LINGER, 0);
            // SAFETY: a live socket, a C string.
            assert_eq!(
                unsafe { zmq_bind(rep, c"inproc://zeromq.zap.01".as_ptr()) },
                0
            );
            ready_tx.send(()).unwrap();
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if let Some(request) = recv_frames(rep) {
                    send_frames(rep, &decide(&request));
                    seen.push(request);
                }
            }
            // SAFETY: our socket, closed once.
            unsafe { zmq_close(rep) };
            seen
        });
        ready_rx.recv().unwrap();
        Handler {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> Vec<Frames> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

/// Request frames: version, id, domain, address, identity, mechanism,
/// credentials. Reply with the request id echoed.
fn reply(request: &Frames, status: &str, user: &str, metadata: &[u8]) -> Frames {
    vec![
        b"1.0".to_vec(),
        request[1].clone(),
        status.as_bytes().to_vec(),
        b"text".to_vec(),
        user.as_bytes().to_vec(),
        metadata.to_vec(),
    ]
}

const HELLO_WORLD: &[u8] = b"\x05Hello\x00\x00\x00\x05World";

fn by_password_or_key(request: &Frames) -> Frames {
    match request[5].as_slice() {
        b"PLAIN" if request[7] == b"secret" => reply(request, "200", "admin", HELLO_WORLD),
        b"CURVE" if request[6] == *ALLOWED.public_raw() => reply(request, "200", "curve", b""),
        b"PLAIN" if request[7] == b"later" => reply(request, "300", "", b""),
        b"PLAIN" if request[7] == b"broken" => reply(request, "500", "", b""),
        _ => reply(request, "400", "", b""),
    }
}

/// The monitor's next (event, value), within 5 s.
fn next_event(watcher: *mut c_void) -> (u16, u32) {
    let frames = recv_frames(watcher).expect("a monitor event");
    let head = &frames[0];
    (
        u16::from_ne_bytes([head[0], head[1]]),
        u32::from_ne_bytes([head[2], head[3], head[4], head[5]]),
    )
}

/// A server PULL on tcp with `setup`, monitored; returns (pull, watcher,
/// endpoint).
fn server(
    ctx: *mut c_void,
    name: &str,
    setup: impl Fn(*mut c_void),
) -> (*mut c_void, *mut c_void, CString) {
    // SAFETY: a live context; valid C strings; buffers of the given sizes.
    unsafe {
        let pull = zmq_socket(ctx, PULL);
        set_bytes(pull, ROUTING_ID, b"IDENT");
        set_int(pull, RCVTIMEO, 5000);
        set_int(pull, LINGER, 0);
        setup(pull);
        let monitor = CString::new(format!("inproc://zap-monitor-{name}")).unwrap();
        assert_eq!(
            zmq_socket_monitor(pull, monitor.as_ptr(), HANDSHAKE_EVENTS),
            0
        );
        let watcher = zmq_socket(ctx, PAIR);
        set_int(watcher, RCVTIMEO, 5000);
        assert_eq!(zmq_connect(watcher, monitor.as_ptr()), 0);
        assert_eq!(zmq_bind(pull, c"tcp://127.0.0.1:*".as_ptr()), 0);
        let mut endpoint = [0u8; 256];
        let mut len = endpoint.len();
        assert_eq!(
            zmq_getsockopt(pull, 32, endpoint.as_mut_ptr().cast(), &mut len),
            0
        );
        let endpoint = CStr::from_bytes_until_nul(&endpoint).unwrap().to_owned();
        (pull, watcher, endpoint)
    }
}

/// A PUSH client with `setup`, connected to `endpoint`, that sends "hi".
fn client(ctx: *mut c_void, endpoint: &CStr, setup: impl Fn(*mut c_void)) -> *mut c_void {
    // SAFETY: a live context; valid C strings.
    unsafe {
        let push = zmq_socket(ctx, PUSH);
        set_int(push, LINGER, 0);
        setup(push);
        assert_eq!(zmq_connect(push, endpoint.as_ptr()), 0);
        assert_eq!(zmq_send(push, c"hi".as_ptr().cast(), 2, 0), 2);
        push
    }
}

/// Receives "hi" on `pull` and reads the properties named.
fn received_properties(pull: *mut c_void, names: &[&CStr]) -> Vec<Option<String>> {
    // SAFETY: zmq_msg_t is plain bytes; init writes it; a live socket.
    unsafe {
        let mut msg: zmq_msg_t = std::mem::zeroed();
        zmq_msg_init(&mut msg);
        assert_eq!(zmq_msg_recv(&mut msg, pull, 0), 2, "errno {}", zmq_errno());
        let values = names
            .iter()
            .map(|name| {
                let v = zmq_msg_gets(&msg, name.as_ptr());
                (!v.is_null()).then(|| CStr::from_ptr(v).to_string_lossy().into_owned())
            })
            .collect();
        zmq_msg_close(&mut msg);
        values
    }
}

struct Keys {
    public: [u8; 41],
    secret: [u8; 41],
}

impl Keys {
    fn new() -> Self {
        let mut k = Keys {
            public: [0; 41],
            secret: [0; 41],
        };
        // SAFETY: two 41-byte buffers.
        assert_eq!(
            unsafe {
                zmq_curve_keypair(k.public.as_mut_ptr().cast(), k.secret.as_mut_ptr().cast())
            },
            0
        );
        k
    }

    fn public_raw(&self) -> Vec<u8> {
        let mut raw = [0u8; 32];
        // SAFETY: a 32-byte destination and a NUL-terminated 40-character key.
        assert!(
            !unsafe { zmq_z85_decode(raw.as_mut_ptr(), self.public.as_ptr().cast()) }.is_null()
        );
        raw.to_vec()
    }
}

static ALLOWED: std::sync::LazyLock<Keys> = std::sync::LazyLock::new(Keys::new);

fn close_all(ctx: *mut c_void, sockets: &[*mut c_void]) {
    // SAFETY: live sockets, each closed once, then the context.
    unsafe {
        for s in sockets {
            zmq_close(*s);
        }
        zmq_ctx_term(ctx);
    }
}

#[test]
fn plain_by_password_with_user_id_and_metadata() {
    let _one = ONE_HANDLER.lock().unwrap_or_else(|p| p.into_inner());
    let ctx = zmq_ctx_new();
    let handler = Handler::start(ctx, by_password_or_key);
    let (pull, watcher, endpoint) = server(ctx, "plain", |s| set_int(s, PLAIN_SERVER, 1));
    let good = client(ctx, &endpoint, |s| {
        set_bytes(s, PLAIN_USERNAME, b"admin");
        set_bytes(s, PLAIN_PASSWORD, b"secret");
    });
    assert_eq!(next_event(watcher), (HANDSHAKE_SUCCEEDED, 0));
    assert_eq!(
        received_properties(pull, &[c"User-Id", c"Hello", c"Socket-Type"]),
        [
            Some("admin".into()),
            Some("World".into()),
            Some("PUSH".into())
        ]
    );
    let bad = client(ctx, &endpoint, |s| {
        set_bytes(s, PLAIN_USERNAME, b"admin");
        set_bytes(s, PLAIN_PASSWORD, b"wrong");
    });
    assert_eq!(next_event(watcher), (HANDSHAKE_FAILED_AUTH, 400));
    let mut others = vec![];
    for (password, status) in [(&b"later"[..], 300), (b"broken", 500)] {
        others.push(client(ctx, &endpoint, |s| {
            set_bytes(s, PLAIN_USERNAME, b"admin");
            set_bytes(s, PLAIN_PASSWORD, password);
        }));
        assert_eq!(next_event(watcher), (HANDSHAKE_FAILED_AUTH, status));
    }
    let seen = handler.stop();
    assert_eq!(seen.len(), 4);
    let first = &seen[0];
    assert_eq!(&first[..3], [b"1.0".to_vec(), b"1".to_vec(), b"".to_vec()]);
    assert_eq!(first[3], b"127.0.0.1");
    assert_eq!(first[4], b"IDENT");
    assert_eq!(
        &first[5..],
        [b"PLAIN".to_vec(), b"admin".to_vec(), b"secret".to_vec()]
    );
    others.extend([good, bad, pull, watcher]);
    close_all(ctx, &others);
}

fn curve_client(
    ctx: *mut c_void,
    endpoint: &CStr,
    server_public: &[u8; 41],
    keys: &Keys,
) -> *mut c_void {
    client(ctx, endpoint, |s| {
        set_bytes(s, CURVE_SERVERKEY, &server_public[..40]);
        set_bytes(s, CURVE_PUBLICKEY, &keys.public[..40]);
        set_bytes(s, CURVE_SECRETKEY, &keys.secret[..40]);
    })
}

#[test]
fn curve_by_key() {
    let _one = ONE_HANDLER.lock().unwrap_or_else(|p| p.into_inner());
    let ctx = zmq_ctx_new();
    let handler = Handler::start(ctx, by_password_or_key);
    let server_keys = Keys::new();
    let (pull, watcher, endpoint) = server(ctx, "curve", |s| {
        set_int(s, CURVE_SERVER, 1);
        set_bytes(s, CURVE_SECRETKEY, &server_keys.secret[..40]);
    });
    let good = curve_client(ctx, &endpoint, &server_keys.public, &ALLOWED);
    assert_eq!(next_event(watcher), (HANDSHAKE_SUCCEEDED, 0));
    assert_eq!(
        received_properties(pull, &[c"User-Id"]),
        [Some("curve".into())]
    );
    let bad = curve_client(ctx, &endpoint, &server_keys.public, &Keys::new());
    assert_eq!(next_event(watcher), (HANDSHAKE_FAILED_AUTH, 400));
    let seen = handler.stop();
    assert_eq!(seen[0][5], b"CURVE");
    assert_eq!(seen[0][6], ALLOWED.public_raw());
    close_all(ctx, &[good, bad, pull, watcher]);
}

#[test]
fn a_reply_with_a_bad_version_is_a_zap_protocol_error() {
    let _one = ONE_HANDLER.lock().unwrap_or_else(|p| p.into_inner());
    let ctx = zmq_ctx_new();
    let handler = Handler::start(ctx, |request| {
        let mut r = reply(request, "200", "", b"");
        r[0] = b"2.0".to_vec();
        r
    });
    let (pull, watcher, endpoint) =
        server(ctx, "badversion", |s| set_bytes(s, ZAP_DOMAIN, b"global"));
    let null = client(ctx, &endpoint, |_| {});
    assert_eq!(
        next_event(watcher),
        (HANDSHAKE_FAILED_PROTOCOL, 0x2000_0003)
    );
    let seen = handler.stop();
    assert_eq!(seen[0][2], b"global");
    assert_eq!(seen[0][5], b"NULL");
    close_all(ctx, &[null, pull, watcher]);
}

#[test]
fn without_a_handler_null_and_curve_pass_and_plain_is_refused() {
    let _one = ONE_HANDLER.lock().unwrap_or_else(|p| p.into_inner());
    let ctx = zmq_ctx_new();
    let (null_pull, null_watcher, null_endpoint) = server(ctx, "nohandler-null", |s| {
        set_bytes(s, ZAP_DOMAIN, b"global")
    });
    let null = client(ctx, &null_endpoint, |_| {});
    assert_eq!(next_event(null_watcher), (HANDSHAKE_SUCCEEDED, 0));
    assert_eq!(received_properties(null_pull, &[c"User-Id"]), [None]);

    let server_keys = Keys::new();
    let (curve_pull, curve_watcher, curve_endpoint) = server(ctx, "nohandler-curve", |s| {
        set_int(s, CURVE_SERVER, 1);
        set_bytes(s, CURVE_SECRETKEY, &server_keys.secret[..40]);
    });
    let curve = curve_client(ctx, &curve_endpoint, &server_keys.public, &Keys::new());
    assert_eq!(next_event(curve_watcher), (HANDSHAKE_SUCCEEDED, 0));

    let (plain_pull, plain_watcher, plain_endpoint) =
        server(ctx, "nohandler-plain", |s| set_int(s, PLAIN_SERVER, 1));
    let plain = client(ctx, &plain_endpoint, |s| {
        set_bytes(s, PLAIN_USERNAME, b"admin");
        set_bytes(s, PLAIN_PASSWORD, b"secret");
    });
    assert_eq!(next_event(plain_watcher).0, HANDSHAKE_FAILED_AUTH);
    close_all(
        ctx,
        &[
            null,
            null_pull,
            null_watcher,
            curve,
            curve_pull,
            curve_watcher,
            plain,
            plain_pull,
            plain_watcher,
        ],
    );
}
