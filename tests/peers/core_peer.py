"""A libzmq peer (through pyzmq) for the wire tests of the zmtp core.

Run by the Rust tests in tests/tests/ as a child process. Usage:

    core_peer.py MODE [ARGS...]

Every binding mode prints the port it bound first, on a line of its own.
Every received message is printed as one line: frames in hex joined by "|".
Modes:
    pull-bind COUNT                 bind PULL, print COUNT messages
    push-connect PORT COUNT         connect PUSH, send the standard messages
    router-echo-bind COUNT          bind ROUTER, print each sender's routing id
                                    line "id <hex>", echo each message back
    sub-connect PORT TOPIC COUNT    connect SUB subscribed to TOPIC, print COUNT
    dealer-heartbeat-bind IVL TMO   bind DEALER with ZMQ_HEARTBEAT_IVL/TIMEOUT (ms),
                                    print one message, reply "ack", wait for close
    silent-bind                     not libzmq: a raw TCP peer that sends a NULL
                                    greeting and READY (DEALER), then reads and
                                    never answers anything
"""

import socket as rawsocket
import sys

import zmq

TIMEOUT_MS = 20000


def standard_message(i):
    """The i-th message of the shared test sequence; kept in step with
    `standard_message` in tests/src/lib.rs."""
    sizes = [0, 1, 255, 256, 70000]
    frames = [bytes([i % 256]) * sizes[i % len(sizes)]]
    if i % 3 == 0:
        frames.append(b"part-%d" % i)
    return frames


def show(frames):
    print("|".join(f.hex() for f in frames), flush=True)


def socket(ctx, kind):
    s = ctx.socket(kind)
    s.setsockopt(zmq.LINGER, 2000)
    s.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
    s.setsockopt(zmq.SNDTIMEO, TIMEOUT_MS)
    return s


def bind(s):
    port = s.bind_to_random_port("tcp://127.0.0.1")
    print(port, flush=True)
    return port


def silent_bind():
    server = rawsocket.create_server(("127.0.0.1", 0))
    print(server.getsockname()[1], flush=True)
    conn, _ = server.accept()
    greeting = b"\xff" + b"\x00" * 7 + b"\x01\x7f\x03\x01" + b"NULL".ljust(20, b"\x00") + b"\x00" * 32
    ready = b"\x05READY\x0bSocket-Type" + (6).to_bytes(4, "big") + b"DEALER"
    conn.sendall(greeting + bytes([0x04, len(ready)]) + ready)
    conn.settimeout(TIMEOUT_MS / 1000)
    while conn.recv(4096):
        pass


def main(argv):
    mode, args = argv[1], argv[2:]
    if mode == "silent-bind":
        return silent_bind()
    ctx = zmq.Context()
    if mode == "pull-bind":
        s = socket(ctx, zmq.PULL)
        bind(s)
        for _ in range(int(args[0])):
            show(s.recv_multipart())
    elif mode == "push-connect":
        s = socket(ctx, zmq.PUSH)
        s.connect("tcp://127.0.0.1:%s" % args[0])
        for i in range(int(args[1])):
            s.send_multipart(standard_message(i))
    elif mode == "router-echo-bind":
        s = socket(ctx, zmq.ROUTER)
        bind(s)
        for _ in range(int(args[0])):
            frames = s.recv_multipart()
            print("id " + frames[0].hex(), flush=True)
            s.send_multipart(frames)
    elif mode == "sub-connect":
        s = socket(ctx, zmq.SUB)
        s.setsockopt(zmq.SUBSCRIBE, args[1].encode())
        s.connect("tcp://127.0.0.1:%s" % args[0])
        for _ in range(int(args[2])):
            show(s.recv_multipart())
    elif mode == "dealer-heartbeat-bind":
        s = socket(ctx, zmq.DEALER)
        s.setsockopt(zmq.HEARTBEAT_IVL, int(args[0]))
        s.setsockopt(zmq.HEARTBEAT_TIMEOUT, int(args[1]))
        bind(s)
        show(s.recv_multipart())
        s.send(b"ack")
    else:
        raise SystemExit("unknown mode %r" % mode)
    s.close()
    ctx.term()


if __name__ == "__main__":
    main(sys.argv)
