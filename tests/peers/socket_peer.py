"""A generic libzmq socket (through pyzmq) for the socket matrix wire tests.

Run by tests/tests/pyzmq_sockets.rs as a child process, one per test case;
the command line says what socket to open and what to do with it:

    socket_peer.py TYPE bind|connect ENDPOINT [--routing-id=HEX] [ACTION...]

TYPE is a libzmq socket type name (push, pull, req, rep, dealer, router,
pub, sub, xpub, xsub, pair). With "bind", ENDPOINT is "tcp://127.0.0.1" (a
random port is picked) or "ipc://PATH"; the bound endpoint is printed first,
on a line of its own. With "connect", ENDPOINT is the full endpoint.

Messages on the command line and in the output are frames in hex joined by
"|" (so "" is one empty frame); in the output, a frame longer than 4096
bytes is shown as "big:LENGTH:CRC32" instead. Actions, run in order:

    recv:N                  receive N messages, print each
    echo:N                  receive N messages, print each, send each back
                            as it came (a ROUTER's reply goes to the sender,
                            a REP's reply gets the request's envelope)
    send:FRAMES             send one message; a ROUTER (which is always
                            ZMQ_ROUTER_MANDATORY here) retries while the
                            peer named by the first frame is not yet known
    shapes                  send the shape messages (see `shapes`)
    sub:HEX, unsub:HEX      SUB: set ZMQ_SUBSCRIBE / ZMQ_UNSUBSCRIBE;
                            XSUB: send b"\\x01" / b"\\x00" + topic as data
    warmup:HEX              receive until a message whose first frame is HEX
                            arrives, print "warm"; from then on every recv
                            skips messages whose first frame is HEX
    publish-until-told:FRAMES
                            send FRAMES every 5 ms until a line arrives on
                            stdin (the slow-joiner dance of a PUB)
    wait                    wait for a line on stdin
    handshake               wait until libzmq reports the ZMTP handshake done
                            (a socket monitor); the socket's pipe to the
                            peer is attached by its next send or recv, so
                            an XSUB's "sub:" then goes out as data rather
                            than in the command replay made on attaching

Every wait is bounded (receive and send time-outs, deadlines on stdin), so
the peer never hangs: it fails with a message on stderr instead.
"""

import os
import select
import sys
import time
import zlib

import zmq
from zmq.utils.monitor import recv_monitor_message

TIMEOUT_MS = 10000
LINGER_MS = 2000
BIG_FRAME = 3 * 1024 * 1024
SHOW_LIMIT = 4096


def pattern(n):
    """n bytes counting 0..250 over and over; kept in step with `pattern` in
    tests/tests/pyzmq_sockets.rs. The prime period catches a frame that is
    shifted by any multiple of 256."""
    return (bytes(range(251)) * (n // 251 + 1))[:n]


def shapes():
    """The shape messages: kept in step with `shapes` in
    tests/tests/pyzmq_sockets.rs."""
    return [
        [b"hello"],
        [b"multi", b"part", b"message"],
        [b""],
        [b"", b"", b"middle", b""],
        [b"\xab" * 255],
        [b"\xcd" * 256],
        [b"\x01" * 255, b"\x02" * 256, b"", b"\x03" * 257],
        [pattern(BIG_FRAME)],
        [b"after", pattern(70000), b"big"],
        [b"last"],
    ]


def describe(frame):
    if len(frame) > SHOW_LIMIT:
        return "big:%d:%08x" % (len(frame), zlib.crc32(frame))
    return frame.hex()


def show(frames):
    print("|".join(describe(f) for f in frames), flush=True)


def parse_frames(text):
    return [bytes.fromhex(f) for f in text.split("|")]


def read_line(deadline):
    """One line from stdin, read unbuffered so select() stays truthful."""
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SystemExit("socket_peer: no line on stdin in time")
        readable, _, _ = select.select([0], [], [], remaining)
        if readable:
            byte = os.read(0, 1)
            if not byte:
                raise SystemExit("socket_peer: stdin closed while waiting for a line")
            line += byte
    return line


class Peer:
    def __init__(self, sock, kind, monitor):
        self.sock = sock
        self.kind = kind
        self.monitor = monitor
        self.skip = None

    def recv(self):
        while True:
            frames = self.sock.recv_multipart()
            if self.skip is None or frames[0] != self.skip:
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

    def subscribe(self, topic, on):
        if self.kind == zmq.SUB:
            self.sock.setsockopt(zmq.SUBSCRIBE if on else zmq.UNSUBSCRIBE, topic)
        elif self.kind == zmq.XSUB:
            self.sock.send((b"\x01" if on else b"\x00") + topic)
        else:
            raise SystemExit("socket_peer: only SUB and XSUB subscribe")

    def run(self, action):
        name, _, arg = action.partition(":")
        if name == "recv":
            for _ in range(int(arg)):
                show(self.recv())
        elif name == "echo":
            for _ in range(int(arg)):
                frames = self.recv()
                show(frames)
                self.send(frames)
        elif name == "send":
            self.send(parse_frames(arg))
        elif name == "shapes":
            for frames in shapes():
                self.send(frames)
        elif name in ("sub", "unsub"):
            self.subscribe(bytes.fromhex(arg), name == "sub")
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
                    raise SystemExit("socket_peer: never told to stop publishing")
        elif name == "wait":
            read_line(time.monotonic() + TIMEOUT_MS / 1000)
        elif name == "handshake":
            event = recv_monitor_message(self.monitor)
            if event["event"] != zmq.EVENT_HANDSHAKE_SUCCEEDED:
                raise SystemExit("socket_peer: monitor event %r" % event)
        else:
            raise SystemExit("socket_peer: unknown action %r" % action)


def main(argv):
    if len(argv) < 4 or argv[2] not in ("bind", "connect"):
        raise SystemExit(__doc__)
    kind = getattr(zmq, argv[1].upper())
    mode, endpoint = argv[2], argv[3]
    options = [a for a in argv[4:] if a.startswith("--")]
    actions = [a for a in argv[4:] if not a.startswith("--")]

    ctx = zmq.Context()
    s = ctx.socket(kind)
    s.setsockopt(zmq.LINGER, LINGER_MS)
    s.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
    s.setsockopt(zmq.SNDTIMEO, TIMEOUT_MS)
    if kind == zmq.ROUTER:
        s.setsockopt(zmq.ROUTER_MANDATORY, 1)
    for option in options:
        name, _, value = option[2:].partition("=")
        if name == "routing-id":
            s.setsockopt(zmq.ROUTING_ID, bytes.fromhex(value))
        else:
            raise SystemExit("socket_peer: unknown option %r" % option)

    monitor = None
    if "handshake" in actions:
        monitor = s.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        monitor.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
        monitor.setsockopt(zmq.LINGER, 0)

    if mode == "bind":
        if endpoint.startswith("tcp://"):
            port = s.bind_to_random_port(endpoint)
            print("%s:%d" % (endpoint, port), flush=True)
        else:
            s.bind(endpoint)
            print(s.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    else:
        s.connect(endpoint)

    peer = Peer(s, kind, monitor)
    for action in actions:
        try:
            peer.run(action)
        except zmq.Again:
            raise SystemExit("socket_peer: %s timed out (%s %s %s)" % (action, argv[1], mode, endpoint))
    if monitor is not None:
        s.disable_monitor()
        monitor.close()
    s.close()
    ctx.term()


if __name__ == "__main__":
    main(sys.argv)
