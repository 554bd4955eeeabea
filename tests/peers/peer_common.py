"""What the pyzmq peers of the socket and security matrices share: how a
message is written on the command line and printed (frames in hex joined by
"|", a frame over 4096 bytes printed as "big:LENGTH:CRC32"), bounded reads
from stdin, the socket's set-up and its binding, and the actions both
understand (recv, echo, send, warmup, publish-until-told, wait).

socket_peer.py and secure_peer.py import it; their docstrings list the
command lines and actions. Every wait is bounded, so a peer never hangs: it
fails with a message on stderr instead.
"""

import os
import select
import sys
import time
import zlib

import zmq

TIMEOUT_MS = 10000
LINGER_MS = 2000
SHOW_LIMIT = 4096


def fail(text):
    """Ends the peer with `text` on stderr, named after the script."""
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    raise SystemExit("%s: %s" % (name, text))


def pattern(n):
    """n bytes counting 0..250 over and over; kept in step with `pattern` in
    tests/src/lib.rs. The prime period catches a frame that is shifted by
    any multiple of 256."""
    return (bytes(range(251)) * (n // 251 + 1))[:n]


def describe(frame):
    frame = bytes(frame)
    if len(frame) > SHOW_LIMIT:
        return "big:%d:%08x" % (len(frame), zlib.crc32(frame))
    return frame.hex()


def show(frames):
    """A message as printed; `show_line` in tests/src/lib.rs reads it."""
    return "|".join(describe(f) for f in frames)


def parse_frames(text):
    return [bytes.fromhex(f) for f in text.split("|")]


def read_line(deadline):
    """One line from stdin, read unbuffered so select() stays truthful."""
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            fail("no line on stdin in time")
        readable, _, _ = select.select([0], [], [], remaining)
        if readable:
            byte = os.read(0, 1)
            if not byte:
                fail("stdin closed while waiting for a line")
            line += byte
    return line


def parse_argv(argv, usage):
    """(kind, mode, endpoint, options, actions) of
    `TYPE bind|connect ENDPOINT [--OPTION...] [ACTION...]`."""
    if len(argv) < 4 or argv[2] not in ("bind", "connect"):
        raise SystemExit(usage)
    kind = getattr(zmq, argv[1].upper())
    options = [a for a in argv[4:] if a.startswith("--")]
    actions = [a for a in argv[4:] if not a.startswith("--")]
    return kind, argv[2], argv[3], options, actions


def open_socket(ctx, kind):
    """A socket whose every wait is bounded; a ROUTER is ROUTER_MANDATORY,
    so a send to an unknown peer fails (and `Peer.send` retries it)."""
    s = ctx.socket(kind)
    s.setsockopt(zmq.LINGER, LINGER_MS)
    s.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
    s.setsockopt(zmq.SNDTIMEO, TIMEOUT_MS)
    if kind == zmq.ROUTER:
        s.setsockopt(zmq.ROUTER_MANDATORY, 1)
    return s


def bind_or_connect(s, mode, endpoint):
    """Binds (printing the bound endpoint first: a random port for
    "tcp://HOST") or connects."""
    if mode == "bind":
        if endpoint.startswith("tcp://"):
            port = s.bind_to_random_port(endpoint)
            print("%s:%d" % (endpoint, port), flush=True)
        else:
            s.bind(endpoint)
            print(s.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    else:
        s.connect(endpoint)


class Peer:
    """One socket running actions; subclasses add their own in `run`."""

    def __init__(self, sock, kind):
        self.sock = sock
        self.kind = kind
        self.skip = None

    def recv(self):
        """The next message (as zmq.Frame objects, which keep the ZAP
        properties), skipping warm-up messages once warm."""
        while True:
            frames = self.sock.recv_multipart(copy=False)
            if self.skip is None or frames[0].bytes != self.skip:
                return frames

    def send(self, frames):
        if self.kind != zmq.ROUTER:
            self.sock.send_multipart(frames)
            return
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while True:
            try:
                self.sock.send_multipart(frames)
                return
            except zmq.ZMQError as e:
                if e.errno != zmq.EHOSTUNREACH or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    def run_shared(self, name, arg):
        """Runs one of the shared actions; False if `name` is not one."""
        if name == "recv":
            for _ in range(int(arg)):
                print(show(self.recv()), flush=True)
        elif name == "echo":
            for _ in range(int(arg)):
                frames = [f.bytes for f in self.recv()]
                print(show(frames), flush=True)
                self.send(frames)
        elif name == "send":
            self.send(parse_frames(arg))
        elif name == "warmup":
            warm = bytes.fromhex(arg)
            while self.sock.recv_multipart()[0] != warm:
                pass
            self.skip = warm
            print("warm", flush=True)
        elif name == "publish-until-told":
            frames = parse_frames(arg)
            deadline = time.monotonic() + TIMEOUT_MS / 1000
            while True:
                self.send(frames)
                readable, _, _ = select.select([0], [], [], 0.005)
                if readable:
                    read_line(deadline)
                    break
                if time.monotonic() > deadline:
                    fail("never told to stop publishing")
        elif name == "wait":
            read_line(time.monotonic() + TIMEOUT_MS / 1000)
        else:
            return False
        return True

    def run_all(self, actions, where):
        """Runs `actions` in order; a time-out names the action and `where`."""
        for action in actions:
            try:
                self.run(action)
            except zmq.Again:
                fail("%s timed out (%s)" % (action, where))
