//! Readiness through the C ABI, called from Rust through the rlib:
//! `zmq_poll` over sockets and plain descriptors (timeouts, ETERM from a
//! shutdown in another thread, EINTR from a signal), and `ZMQ_FD` with
//! `ZMQ_EVENTS` as pyzmq's event loops use them.

#![allow(unsafe_code, clippy::unwrap_used)]

use std::ffi::{CStr, CString, c_int, c_short, c_void};
use std::ptr;
use std::time::{Duration, Instant};

use zmq::ctx_api::*;
use zmq::errno::{ETERM, zmq_errno};
use zmq::poll::zmq_poll;
use zmq::socket_api::*;
use zmq::zmq_pollitem_t;

const REQ: c_int = 3;
const REP: c_int = 4;
const PULL: c_int = 7;
const PUSH: c_int = 8;
const DONTWAIT: c_int = 1;
const FD: c_int = 14;
const EVENTS: c_int = 15;
const LINGER: c_int = 17;
const LAST_ENDPOINT: c_int = 32;
const POLLIN: c_short = 1;
const POLLOUT: c_short = 2;
const POLLERR: c_short = 4;
/// A liveness deadline, not a speed claim.
const PATIENCE_MS: i64 = 10_000;

/// A pointer wrapper to move C handles into threads in tests.
struct Ptr(*mut c_void);
// SAFETY: the handles are only used as the C contract allows (one thread
// per socket at a time; contexts are thread-safe).
unsafe impl Send for Ptr {}

fn socket(ctx: *mut c_void, kind: c_int) -> *mut c_void {
    // SAFETY: a live context.
    let s = unsafe { zmq_socket(ctx, kind) };
    assert!(!s.is_null(), "zmq_socket: errno {}", zmq_errno());
    s
}

fn get_int(s: *mut c_void, option: c_int) -> c_int {
    let mut value: c_int = -7;
    let mut len = 4usize;
    // SAFETY: a live socket, an int and its size.
    let rc = unsafe { zmq_getsockopt(s, option, (&raw mut value).cast(), &mut len) };
    assert_eq!(rc, 0, "getsockopt {option}: errno {}", zmq_errno());
    value
}

fn events(s: *mut c_void) -> c_short {
    c_short::try_from(get_int(s, EVENTS)).unwrap()
}

/// A bound and a connected socket in a fresh context, over tcp.
fn pair_of(kinds: (c_int, c_int)) -> (*mut c_void, *mut c_void, *mut c_void) {
    let ctx = zmq_ctx_new();
    let a = socket(ctx, kinds.0);
    let b = socket(ctx, kinds.1);
    let e = CString::new("tcp://127.0.0.1:*").unwrap();
    // SAFETY: a live socket, a C string.
    assert_eq!(unsafe { zmq_bind(a, e.as_ptr()) }, 0);
    let mut buf = [0u8; 256];
    let mut len = buf.len();
    // SAFETY: a live socket and a buffer of `len` bytes.
    let rc = unsafe { zmq_getsockopt(a, LAST_ENDPOINT, buf.as_mut_ptr().cast(), &mut len) };
    assert_eq!(rc, 0);
    let bound = CStr::from_bytes_until_nul(&buf).unwrap().to_owned();
    // SAFETY: a live socket, a C string.
    assert_eq!(unsafe { zmq_connect(b, bound.as_ptr()) }, 0);
    (ctx, a, b)
}

fn send(s: *mut c_void, data: &[u8], flags: c_int) -> c_int {
    // SAFETY: a live socket and `data`.
    unsafe { zmq_send(s, data.as_ptr().cast(), data.len(), flags) }
}

fn recv(s: *mut c_void, flags: c_int) -> Result<Vec<u8>, c_int> {
    let mut buf = vec![0u8; 256];
    // SAFETY: a live socket and a buffer of that size.
    let n = unsafe { zmq_recv(s, buf.as_mut_ptr().cast(), buf.len(), flags) };
    if n < 0 {
        return Err(zmq_errno());
    }
    buf.truncate(usize::try_from(n).unwrap());
    Ok(buf)
}

fn item(s: *mut c_void, fd: c_int, events: c_short) -> zmq_pollitem_t {
    zmq_pollitem_t {
        socket: s,
        fd,
        events,
        revents: 0,
    }
}

fn poll(items: &mut [zmq_pollitem_t], timeout_ms: i64) -> c_int {
    let n = c_int::try_from(items.len()).unwrap();
    // SAFETY: `n` writable items over live sockets or descriptors.
    unsafe { zmq_poll(items.as_mut_ptr(), n, timeout_ms as _) }
}

fn close_all(ctx: *mut c_void, sockets: &[*mut c_void]) {
    for &s in sockets {
        let zero: c_int = 0;
        // SAFETY: a live socket and an int.
        unsafe { zmq_setsockopt(s, LINGER, (&raw const zero).cast(), 4) };
        // SAFETY: a live socket, given up.
        assert_eq!(unsafe { zmq_close(s) }, 0);
    }
    // SAFETY: a live context, given up.
    assert_eq!(unsafe { zmq_ctx_term(ctx) }, 0);
}

/// A pipe's (read, write) ends, closed by the caller.
fn pipe() -> (c_int, c_int) {
    let mut fds = [0; 2];
    // SAFETY: a writable array of two ints.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    (fds[0], fds[1])
}

fn close_fd(fd: c_int) {
    // SAFETY: a descriptor this test opened and no longer uses.
    unsafe { libc::close(fd) };
}

fn fd_readable(fd: c_int, timeout_ms: c_int) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the call.
    unsafe { libc::poll(&mut pfd, 1, timeout_ms) == 1 }
}

#[test]
fn pull_becomes_readable_when_push_sends() {
    let (ctx, pull, push) = pair_of((PULL, PUSH));
    let mut items = [item(pull, 0, POLLIN)];
    assert_eq!(poll(&mut items, 0), 0, "nothing sent yet");
    assert_eq!(items[0].revents, 0);
    assert_eq!(send(push, b"hello", 0), 5);
    assert_eq!(poll(&mut items, PATIENCE_MS), 1);
    assert_eq!(items[0].revents, POLLIN);
    // The message was looked at, not lost: the next receive takes it.
    assert_eq!(recv(pull, DONTWAIT), Ok(b"hello".to_vec()));
    assert_eq!(poll(&mut items, 0), 0);
    close_all(ctx, &[pull, push]);
}

#[test]
fn push_is_writable_once_it_has_a_peer() {
    let ctx = zmq_ctx_new();
    let lonely = socket(ctx, PUSH);
    let mut items = [item(lonely, 0, POLLOUT)];
    assert_eq!(poll(&mut items, 0), 0, "no peer, no room");
    let (ctx2, pull, push) = pair_of((PULL, PUSH));
    let mut items = [item(push, 0, POLLIN | POLLOUT), item(pull, 0, POLLOUT)];
    assert_eq!(poll(&mut items, PATIENCE_MS), 1);
    assert_eq!(items[0].revents, POLLOUT);
    assert_eq!(items[1].revents, 0, "PULL never sends");
    close_all(ctx, &[lonely]);
    close_all(ctx2, &[pull, push]);
}

#[test]
fn plain_descriptors_poll_beside_sockets() {
    let (ctx, pull, push) = pair_of((PULL, PUSH));
    let (r, w) = pipe();
    let mut items = [item(pull, 0, POLLIN), item(ptr::null_mut(), r, POLLIN)];
    assert_eq!(poll(&mut items, 0), 0);
    // SAFETY: writes one byte from a live buffer to our pipe.
    assert_eq!(unsafe { libc::write(w, b"x".as_ptr().cast(), 1) }, 1);
    assert_eq!(poll(&mut items, PATIENCE_MS), 1);
    assert_eq!((items[0].revents, items[1].revents), (0, POLLIN));
    // Both ready at once are both reported.
    assert_eq!(send(push, b"m", 0), 1);
    // The message comes through the runtime: wait for it alone first.
    assert_eq!(poll(&mut items[..1], PATIENCE_MS), 1);
    assert_eq!(poll(&mut items, 0), 2);
    assert_eq!((items[0].revents, items[1].revents), (POLLIN, POLLIN));
    // A closed writer is a hang-up: POLLERR even if not asked for.
    close_fd(w);
    let mut items = [item(ptr::null_mut(), r, 0)];
    assert_eq!(poll(&mut items, 0), 1);
    assert_eq!(items[0].revents, POLLERR);
    close_fd(r);
    close_all(ctx, &[pull, push]);
}

#[test]
fn a_short_timeout_returns_zero_after_it() {
    let (ctx, pull, push) = pair_of((PULL, PUSH));
    let mut items = [item(pull, 0, POLLIN)];
    let started = Instant::now();
    assert_eq!(poll(&mut items, 50), 0);
    assert!(started.elapsed() >= Duration::from_millis(50));
    // No items: the timeout is a sleep.
    let started = Instant::now();
    assert_eq!(poll(&mut [], 20), 0);
    assert!(started.elapsed() >= Duration::from_millis(20));
    close_all(ctx, &[pull, push]);
}

#[test]
fn shutdown_ends_a_poll_in_another_thread_with_eterm() {
    let (ctx, pull, push) = pair_of((PULL, PUSH));
    let waiter = {
        let pull = Ptr(pull);
        std::thread::spawn(move || {
            let pull = pull;
            let mut items = [item(pull.0, 0, POLLIN)];
            (poll(&mut items, -1), zmq_errno(), pull)
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    // SAFETY: a live context.
    assert_eq!(unsafe { zmq_ctx_shutdown(ctx) }, 0);
    let (rc, errno, pull) = waiter.join().unwrap();
    assert_eq!((rc, errno), (-1, ETERM));
    close_all(ctx, &[pull.0, push]);
}

extern "C" fn on_signal(_: c_int) {}

#[test]
fn a_signal_interrupts_a_poll_with_eintr() {
    // SAFETY: installs a handler that does nothing, for SIGUSR1 only,
    // without SA_RESTART; the zeroed sigaction is a valid empty one.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as extern "C" fn(c_int) as usize;
        assert_eq!(libc::sigaction(libc::SIGUSR1, &action, ptr::null_mut()), 0);
    }
    let (r, w) = pipe();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        // SAFETY: pthread_self has no preconditions.
        tx.send(unsafe { libc::pthread_self() }).unwrap();
        let mut items = [item(ptr::null_mut(), r, POLLIN)];
        (poll(&mut items, -1), zmq_errno())
    });
    let thread = rx.recv().unwrap();
    let started = Instant::now();
    // The signal may come before the poll starts: send until it returns.
    while !waiter.is_finished() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never interrupted"
        );
        // SAFETY: the thread is alive (not finished) and SIGUSR1 handled.
        unsafe { libc::pthread_kill(thread, libc::SIGUSR1) };
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(waiter.join().unwrap(), (-1, libc::EINTR));
    close_fd(r);
    close_fd(w);
}

#[test]
fn fd_and_events_follow_libzmq_edge_semantics() {
    let (ctx, pull, push) = pair_of((PULL, PUSH));
    let fd = get_int(pull, FD);
    assert_eq!(events(pull), 0);
    assert!(!fd_readable(fd, 0), "EVENTS lowers the descriptor");
    for m in [b"1", b"2", b"3"] {
        assert_eq!(send(push, m, 0), 1);
    }
    // Readable means "look again" (a peer arriving may raise it too):
    // wait until a look shows POLLIN.
    let started = Instant::now();
    while events(pull) & POLLIN == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "never POLLIN");
        assert!(fd_readable(fd, 10_000), "a message raises it");
    }
    let mut got = Vec::new();
    let started = Instant::now();
    while got.len() < 3 {
        assert!(started.elapsed() < Duration::from_secs(10), "lost messages");
        match recv(pull, DONTWAIT) {
            Ok(m) => got.push(m),
            Err(e) => {
                assert_eq!(e, libc::EAGAIN);
                assert!(fd_readable(fd, 10_000), "EAGAIN leaves it armed");
                let _ = events(pull);
            }
        }
    }
    assert_eq!(got, [b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);
    assert_eq!(recv(pull, DONTWAIT), Err(libc::EAGAIN));
    assert_eq!(events(pull), 0);
    // EVENTS and FD are read only.
    let value: c_int = 1;
    for option in [EVENTS, FD] {
        // SAFETY: a live socket and an int.
        let rc = unsafe { zmq_setsockopt(pull, option, (&raw const value).cast(), 4) };
        assert_eq!((rc, zmq_errno()), (-1, libc::EINVAL));
    }
    close_all(ctx, &[pull, push]);
}

#[test]
fn req_and_rep_turns_show_in_their_events() {
    let (ctx, rep, req) = pair_of((REP, REQ));
    let mut items = [item(req, 0, POLLOUT | POLLIN)];
    assert_eq!(poll(&mut items, PATIENCE_MS), 1);
    assert_eq!(items[0].revents, POLLOUT, "REQ may ask");
    assert_eq!(events(rep), 0, "REP has nothing to answer");
    assert_eq!(send(req, b"q", 0), 1);
    assert_eq!(events(req), 0, "REQ waits for the reply");
    let mut items = [item(rep, 0, POLLIN | POLLOUT)];
    assert_eq!(poll(&mut items, PATIENCE_MS), 1);
    assert_eq!(
        items[0].revents, POLLIN,
        "no reply before the request is read"
    );
    assert_eq!(recv(rep, 0), Ok(b"q".to_vec()));
    assert_eq!(events(rep), POLLOUT);
    assert_eq!(send(rep, b"a", 0), 1);
    let mut items = [item(req, 0, POLLIN | POLLOUT)];
    assert_eq!(poll(&mut items, PATIENCE_MS), 1);
    assert_eq!(items[0].revents, POLLIN);
    assert_eq!(recv(req, 0), Ok(b"a".to_vec()));
    assert_eq!(events(req), POLLOUT);
    close_all(ctx, &[rep, req]);
}

#[test]
fn push_refuses_a_first_frame_without_room_as_libzmq() {
    const SNDMORE: c_int = 2;
    const SNDTIMEO: c_int = 28;
    let ctx = zmq_ctx_new();
    let push = socket(ctx, PUSH);
    assert_eq!(send(push, b"a", SNDMORE | DONTWAIT), -1);
    assert_eq!(zmq_errno(), libc::EAGAIN, "refused at the first frame");
    let timeout: c_int = 50;
    // SAFETY: a live socket and an int.
    assert_eq!(
        unsafe { zmq_setsockopt(push, SNDTIMEO, (&raw const timeout).cast(), 4) },
        0
    );
    let started = Instant::now();
    assert_eq!((send(push, b"a", SNDMORE), zmq_errno()), (-1, libc::EAGAIN));
    assert!(started.elapsed() >= Duration::from_millis(50));
    let pull = socket(ctx, PULL);
    let e = CString::new("inproc://first-frame").unwrap();
    // SAFETY: live sockets, a C string.
    unsafe {
        assert_eq!(zmq_bind(pull, e.as_ptr()), 0);
        assert_eq!(zmq_connect(push, e.as_ptr()), 0);
    }
    assert_eq!(send(push, b"a", SNDMORE | DONTWAIT), 1);
    assert_eq!(send(push, b"b", DONTWAIT), 1);
    assert_eq!(recv(pull, 0), Ok(b"a".to_vec()));
    assert_eq!(recv(pull, 0), Ok(b"b".to_vec()));
    close_all(ctx, &[pull, push]);
}
