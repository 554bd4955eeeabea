#!/usr/bin/env python3
"""The hostile-peer suite's server on libzmq (pyzmq), for benches/hostile.sh.

The same program and line protocol as tests/src/bin/hostile_server.rs:

    hostile_server.py TYPE [rcvhwm=N] [sndhwm=N] [maxmsgsize=N] [busy=1]

- stdout: `port N` once bound on 127.0.0.1; then `got FRAME` for each
  received frame starting with `legit`, and `sub TOPIC` / `unsub TOPIC` for
  each XPUB notice whose topic starts with `legit`.
- stdin: with busy=1 nothing is read from the socket until the line `read`.
- PUB and XPUB publish `legit.tick` every 20 ms.
"""

import sys
import time

import zmq

TICK = 0.02


def shown(frame, xpub):
    """The line printed for a received frame, if it is a legitimate peer's."""
    if xpub:
        if frame[:1] in (b"\x00", b"\x01") and frame[1:].startswith(b"legit"):
            kind = "sub" if frame[:1] == b"\x01" else "unsub"
            return f"{kind} {frame[1:].decode(errors='replace')}"
        return None
    if frame.startswith(b"legit"):
        return f"got {frame.decode(errors='replace')}"
    return None


def drain(sock, xpub):
    """Receives everything waiting, printing the legitimate peers' frames."""
    while True:
        try:
            frames = sock.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return
        for frame in frames:
            line = shown(frame, xpub)
            if line is not None:
                print(line, flush=True)


def main():
    kind = sys.argv[1].upper()
    opts = dict(arg.split("=", 1) for arg in sys.argv[2:])
    if "tls_cert" in opts:
        sys.exit("hostile_server.py: libzmq has no tls://")
    ctx = zmq.Context()
    sock = ctx.socket(getattr(zmq, kind))
    sock.linger = 0
    if "rcvhwm" in opts:
        sock.rcvhwm = int(opts["rcvhwm"])
    if "sndhwm" in opts:
        sock.sndhwm = int(opts["sndhwm"])
    if "maxmsgsize" in opts:
        sock.maxmsgsize = int(opts["maxmsgsize"])
    busy = opts.get("busy") == "1"
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    print(f"port {port}", flush=True)

    publishes = kind in ("PUB", "XPUB")
    receives = kind != "PUB"
    xpub = kind == "XPUB"
    stdin = sys.stdin.fileno()
    poller = zmq.Poller()
    if busy:
        poller.register(stdin, zmq.POLLIN)
    elif receives:
        poller.register(sock, zmq.POLLIN)
    next_tick = time.monotonic()
    while True:
        now = time.monotonic()
        if publishes and now >= next_tick:
            try:
                sock.send(b"legit.tick", zmq.NOBLOCK)
            except zmq.Again:
                pass
            next_tick = now + TICK
        if poller.sockets:
            ready = dict(poller.poll(int(TICK * 1000)))
        else:
            # zmq_poll with nothing to watch does not wait.
            time.sleep(TICK)
            ready = {}
        if busy and stdin in ready:
            line = sys.stdin.readline()
            if line.strip() == "read" or line == "":
                busy = False
                poller.unregister(stdin)
                if receives:
                    poller.register(sock, zmq.POLLIN)
        if not busy and receives and sock in ready:
            drain(sock, xpub)


if __name__ == "__main__":
    main()
