"""Well-behaved libzmq peers (through pyzmq) and misbehaving raw-TCP peers
for the fault, overload, heartbeat and reconnect tests in tests/tests/faults.rs.

Run by the Rust tests as a child process. Usage:

    fault_peer.py MODE [ARGS...]

A binding mode prints the port it bound first, on a line of its own. A raw
mode that connects prints its own local port first ("port N"), so the test
can tell its connection apart in monitor events. Every mode gives up after
WATCHDOG_S seconds at the latest, so a test that goes wrong cannot hang.

Well-behaved (pyzmq) modes:
    good KIND PORT PREFIX IVL_MS    connect KIND (push|dealer) and send "PREFIX i"
                                    for i = 0, 1, ... every IVL_MS ms, forever
    pull-bind PORT COUNT            bind PULL on PORT (0: any), print COUNT bodies
    router-echo-bind PORT COUNT     bind ROUTER on PORT (0: any), print and echo
                                    COUNT message bodies
    hb-dealer-bind IVL TIMEOUT      bind DEALER with ZMQ_HEARTBEAT_IVL/TIMEOUT (ms),
                                    echo one message, then print
                                    "accepted A disconnected D" from its monitor
    watch-dealer-bind               bind DEALER (no heartbeats of its own), print
                                    "disconnected" when its monitor sees the link drop
    stalled-pull-bind RCVHWM RCVBUF bind PULL with tiny buffers and read nothing
                                    until stdin says "drain N"; then receive N
                                    messages, check their sequence numbers (first
                                    8 bytes, big-endian, from 0) and print
                                    "got N extra M"
    stalled-sub-connect PORT RCVHWM RCVBUF
                                    connect SUB (all topics) with tiny buffers;
                                    print "subscribed" on the first message, then
                                    read nothing until stdin says "drain N"; then
                                    receive N messages starting "data", skipping
                                    "probe" ones, and print "got N extra M"

Misbehaving raw-TCP modes (not libzmq):
    raw-garbage PORT                send an HTTP request; print "closed" when the
                                    server hangs up
    raw-truncated PORT              read the server's greeting, send 11 bytes of
                                    ours, then close; print "sent"
    raw-mechanism PORT MECH         send a whole greeting naming MECH; print "closed"
    raw-huge-frame PORT TYPE SIZE   NULL handshake as TYPE, then the header of a
                                    data frame declaring SIZE bytes (no body);
                                    print "closed"
    raw-slow PORT DELAY_MS          send our greeting one byte every DELAY_MS ms;
                                    print "closed after N bytes" (or "open after
                                    64 bytes" if the server never hangs up)
    raw-flood PORT COUNT WAIT_MS    open COUNT connections that send nothing; after
                                    WAIT_MS print "closed C greeted G" (how many the
                                    server hung up on, how many it sent a whole
                                    greeting on), then close them all and print "done"
    raw-server-bind BEHAVIOUR WAIT_MS
                                    bind and accept every connection for WAIT_MS,
                                    keeping them open; BEHAVIOUR "mute" sends
                                    nothing, "plain" sends a PLAIN greeting; then
                                    print "connections N"
    raw-silent-bind TYPE TTL_DS     bind, accept one connection, complete the NULL
                                    handshake as TYPE, send one PING with TTL_DS
                                    (deciseconds) if it is not 0, then read and never
                                    answer; print "closed pings N" when the peer
                                    hangs up (N: PINGs it sent us)
"""

import signal
import socket as rawsocket
import struct
import sys
import time

import zmq
import zmq.utils.monitor

WATCHDOG_S = 40
TIMEOUT_MS = 15000


# --- raw ZMTP bytes -------------------------------------------------------


def greeting(mechanism=b"NULL"):
    """A ZMTP 3.1 greeting, all 64 bytes."""
    return (
        b"\xff" + b"\x00" * 7 + b"\x01\x7f\x03\x01" + mechanism.ljust(20, b"\x00") + b"\x00" * 32
    )


def command(body):
    if len(body) > 255:
        return b"\x06" + struct.pack(">Q", len(body)) + body
    return bytes([0x04, len(body)]) + body


def ready(socket_type):
    kind = socket_type.encode()
    return command(b"\x05READY\x0bSocket-Type" + struct.pack(">I", len(kind)) + kind)


def ping(ttl_ds):
    return command(b"\x04PING" + struct.pack(">H", ttl_ds))


class FrameReader:
    """Splits the bytes a ZMTP peer sends us into its greeting and frames."""

    def __init__(self):
        self.buf = b""
        self.greeted = False

    def feed(self, data):
        """Adds bytes; returns the complete frames as (flags, body) pairs."""
        self.buf += data
        frames = []
        if not self.greeted:
            if len(self.buf) < 64:
                return frames
            self.buf = self.buf[64:]
            self.greeted = True
        while len(self.buf) >= 2:
            flags = self.buf[0]
            if flags & 0x02:
                if len(self.buf) < 9:
                    break
                size, start = struct.unpack(">Q", self.buf[1:9])[0], 9
            else:
                size, start = self.buf[1], 2
            if len(self.buf) < start + size:
                break
            frames.append((flags, self.buf[start : start + size]))
            self.buf = self.buf[start + size :]
        return frames


def raw_connect(port):
    conn = rawsocket.create_connection(("127.0.0.1", int(port)))
    conn.setsockopt(rawsocket.IPPROTO_TCP, rawsocket.TCP_NODELAY, 1)
    print("port %d" % conn.getsockname()[1], flush=True)
    return conn


def wait_closed(conn, timeout_s=10.0):
    """Reads and discards until the server hangs up; True if it did."""
    conn.settimeout(timeout_s)
    try:
        while conn.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except rawsocket.timeout:
        return False
    return True


def report_closed(conn):
    print("closed" if wait_closed(conn) else "still open", flush=True)


def raw_garbage(port):
    conn = raw_connect(port)
    conn.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/8.0\r\n\r\n")
    report_closed(conn)


def raw_truncated(port):
    conn = raw_connect(port)
    # Take the server's greeting first, so the close is a plain FIN rather
    # than a reset for unread data.
    received = b""
    while len(received) < 64:
        data = conn.recv(64 - len(received))
        if not data:
            raise SystemExit("the server hung up before its greeting")
        received += data
    conn.sendall(greeting()[:11])
    conn.close()
    print("sent", flush=True)


def raw_mechanism(port, mechanism):
    conn = raw_connect(port)
    conn.sendall(greeting(mechanism.encode()))
    report_closed(conn)


def raw_huge_frame(port, socket_type, size):
    conn = raw_connect(port)
    conn.sendall(greeting() + ready(socket_type))
    # Let the handshake finish before the bad frame, so the test sees the
    # link come up and then drop.
    time.sleep(0.2)
    conn.sendall(b"\x02" + struct.pack(">Q", int(size)))
    report_closed(conn)


def raw_slow(port, delay_ms):
    conn = raw_connect(port)
    conn.settimeout(int(delay_ms) / 1000)
    sent = 0
    for byte in greeting():
        try:
            conn.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += 1
        try:
            # Our greeting arrives at once; an empty read means a hang-up.
            while True:
                if not conn.recv(4096):
                    print("closed after %d bytes" % sent, flush=True)
                    return
        except rawsocket.timeout:
            pass
        except ConnectionResetError:
            break
    else:
        if not wait_closed(conn, 3.0):
            print("open after %d bytes" % sent, flush=True)
            return
    print("closed after %d bytes" % sent, flush=True)


def raw_flood(port, count, wait_ms):
    conns = [rawsocket.create_connection(("127.0.0.1", int(port))) for _ in range(int(count))]
    received = [0] * len(conns)
    closed = [False] * len(conns)
    for c in conns:
        c.setblocking(False)
    deadline = time.monotonic() + int(wait_ms) / 1000
    while time.monotonic() < deadline:
        for i, c in enumerate(conns):
            if closed[i]:
                continue
            try:
                data = c.recv(4096)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                data = b""
            if data:
                received[i] += len(data)
            else:
                closed[i] = True
        time.sleep(0.01)
    greeted = sum(1 for n in received if n >= 64)
    print("closed %d greeted %d" % (sum(closed), greeted), flush=True)
    for c in conns:
        c.close()
    print("done", flush=True)


def raw_server_bind(behaviour, wait_ms):
    server = rawsocket.create_server(("127.0.0.1", 0))
    print(server.getsockname()[1], flush=True)
    server.settimeout(0.05)
    conns = []
    deadline = time.monotonic() + int(wait_ms) / 1000
    while time.monotonic() < deadline:
        try:
            conn, _ = server.accept()
        except rawsocket.timeout:
            continue
        conns.append(conn)
        if behaviour == "plain":
            conn.sendall(greeting(b"PLAIN"))
        elif behaviour != "mute":
            raise SystemExit("unknown behaviour %r" % behaviour)
    print("connections %d" % len(conns), flush=True)


def raw_silent_bind(socket_type, ttl_ds):
    server = rawsocket.create_server(("127.0.0.1", 0))
    print(server.getsockname()[1], flush=True)
    conn, _ = server.accept()
    conn.sendall(greeting() + ready(socket_type))
    if int(ttl_ds) > 0:
        conn.sendall(ping(int(ttl_ds)))
    reader = FrameReader()
    pings = 0
    conn.settimeout(TIMEOUT_MS / 1000)
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            for flags, body in reader.feed(data):
                if flags & 0x04 and body.startswith(b"\x04PING"):
                    pings += 1
    except ConnectionResetError:
        pass
    print("closed pings %d" % pings, flush=True)


# --- pyzmq peers ----------------------------------------------------------


def zsocket(ctx, kind):
    s = ctx.socket(kind)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
    s.setsockopt(zmq.SNDTIMEO, TIMEOUT_MS)
    return s


def bind(s, port):
    if int(port) == 0:
        port = s.bind_to_random_port("tcp://127.0.0.1")
    else:
        s.bind("tcp://127.0.0.1:%s" % port)
    print(port, flush=True)


def monitor_counts(monitor, wait_s):
    """Counts the events that arrive on `monitor` within `wait_s`."""
    counts = {}
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not monitor.poll(50):
            continue
        event = zmq.utils.monitor.recv_monitor_message(monitor)["event"]
        counts[event] = counts.get(event, 0) + 1
    return counts


def good(ctx, kind, port, prefix, ivl_ms):
    s = zsocket(ctx, {"push": zmq.PUSH, "dealer": zmq.DEALER}[kind])
    s.connect("tcp://127.0.0.1:%s" % port)
    i = 0
    while True:
        s.send(b"%s %d" % (prefix.encode(), i))
        i += 1
        time.sleep(int(ivl_ms) / 1000)


def pull_bind(ctx, port, count):
    s = zsocket(ctx, zmq.PULL)
    bind(s, port)
    for _ in range(int(count)):
        print(s.recv().decode(), flush=True)


def router_echo_bind(ctx, port, count):
    s = zsocket(ctx, zmq.ROUTER)
    bind(s, port)
    for _ in range(int(count)):
        frames = s.recv_multipart()
        print(frames[-1].decode(), flush=True)
        s.send_multipart(frames)


def hb_dealer_bind(ctx, ivl, timeout):
    s = zsocket(ctx, zmq.DEALER)
    s.setsockopt(zmq.HEARTBEAT_IVL, int(ivl))
    s.setsockopt(zmq.HEARTBEAT_TIMEOUT, int(timeout))
    monitor = s.get_monitor_socket()
    bind(s, 0)
    s.send(s.recv())
    counts = monitor_counts(monitor, 0.3)
    print(
        "accepted %d disconnected %d"
        % (counts.get(zmq.EVENT_ACCEPTED, 0), counts.get(zmq.EVENT_DISCONNECTED, 0)),
        flush=True,
    )


def watch_dealer_bind(ctx):
    s = zsocket(ctx, zmq.DEALER)
    monitor = s.get_monitor_socket()
    bind(s, 0)
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        if monitor.poll(100):
            event = zmq.utils.monitor.recv_monitor_message(monitor)["event"]
            if event == zmq.EVENT_DISCONNECTED:
                print("disconnected", flush=True)
                return
    print("still connected", flush=True)


def drain(s, want, accept):
    """Receives until `want` accepted messages arrived, then counts extras."""
    got = 0
    while got < want:
        message = s.recv()
        if accept(message, got):
            got += 1
    s.setsockopt(zmq.RCVTIMEO, 300)
    extra = 0
    try:
        while True:
            if accept(s.recv(), got + extra):
                extra += 1
    except zmq.Again:
        pass
    print("got %d extra %d" % (got, extra), flush=True)


def wait_for_drain_order():
    line = sys.stdin.readline().split()
    if len(line) != 2 or line[0] != "drain":
        raise SystemExit("expected 'drain N' on stdin, got %r" % line)
    return int(line[1])


def stalled_pull_bind(ctx, rcvhwm, rcvbuf):
    s = zsocket(ctx, zmq.PULL)
    s.setsockopt(zmq.RCVHWM, int(rcvhwm))
    s.setsockopt(zmq.RCVBUF, int(rcvbuf))
    bind(s, 0)
    want = wait_for_drain_order()

    def in_sequence(message, index):
        seq = struct.unpack(">Q", message[:8])[0]
        if seq != index:
            raise SystemExit("message %d arrived as number %d" % (seq, index))
        return True

    drain(s, want, in_sequence)


def stalled_sub_connect(ctx, port, rcvhwm, rcvbuf):
    s = zsocket(ctx, zmq.SUB)
    s.setsockopt(zmq.RCVHWM, int(rcvhwm))
    s.setsockopt(zmq.RCVBUF, int(rcvbuf))
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect("tcp://127.0.0.1:%s" % port)
    s.recv()
    print("subscribed", flush=True)
    want = wait_for_drain_order()
    drain(s, want, lambda message, _index: message.startswith(b"data"))


def main(argv):
    signal.alarm(WATCHDOG_S)
    mode, args = argv[1], argv[2:]
    raw = {
        "raw-garbage": raw_garbage,
        "raw-truncated": raw_truncated,
        "raw-mechanism": raw_mechanism,
        "raw-huge-frame": raw_huge_frame,
        "raw-slow": raw_slow,
        "raw-flood": raw_flood,
        "raw-silent-bind": raw_silent_bind,
        "raw-server-bind": raw_server_bind,
    }
    zmq_modes = {
        "good": good,
        "pull-bind": pull_bind,
        "router-echo-bind": router_echo_bind,
        "hb-dealer-bind": hb_dealer_bind,
        "watch-dealer-bind": watch_dealer_bind,
        "stalled-pull-bind": stalled_pull_bind,
        "stalled-sub-connect": stalled_sub_connect,
    }
    if mode in raw:
        return raw[mode](*args)
    if mode not in zmq_modes:
        raise SystemExit("unknown mode %r" % mode)
    ctx = zmq.Context()
    try:
        zmq_modes[mode](ctx, *args)
    finally:
        ctx.destroy(linger=0)


if __name__ == "__main__":
    main(sys.argv)
