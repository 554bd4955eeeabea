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

import sys

import zmq
from zmq.utils.monitor import recv_monitor_message

from peer_common import (
    TIMEOUT_MS,
    Peer,
    bind_or_connect,
    fail,
    open_socket,
    parse_argv,
    pattern,
)

BIG_FRAME = 3 * 1024 * 1024


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


class SocketPeer(Peer):
    def __init__(self, sock, kind, monitor):
        super().__init__(sock, kind)
        self.monitor = monitor

    def subscribe(self, topic, on):
        if self.kind == zmq.SUB:
            self.sock.setsockopt(zmq.SUBSCRIBE if on else zmq.UNSUBSCRIBE, topic)
        elif self.kind == zmq.XSUB:
            self.sock.send((b"\x01" if on else b"\x00") + topic)
        else:
            fail("only SUB and XSUB subscribe")

    def run(self, action):
        name, _, arg = action.partition(":")
        if self.run_shared(name, arg):
            return
        if name == "shapes":
            for frames in shapes():
                self.send(frames)
        elif name in ("sub", "unsub"):
            self.subscribe(bytes.fromhex(arg), name == "sub")
        elif name == "handshake":
            event = recv_monitor_message(self.monitor)
            if event["event"] != zmq.EVENT_HANDSHAKE_SUCCEEDED:
                fail("monitor event %r" % event)
        else:
            fail("unknown action %r" % action)


def main(argv):
    kind, mode, endpoint, options, actions = parse_argv(argv, __doc__)
    ctx = zmq.Context()
    s = open_socket(ctx, kind)
    for option in options:
        name, _, value = option[2:].partition("=")
        if name == "routing-id":
            s.setsockopt(zmq.ROUTING_ID, bytes.fromhex(value))
        else:
            fail("unknown option %r" % option)

    monitor = None
    if "handshake" in actions:
        monitor = s.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        monitor.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
        monitor.setsockopt(zmq.LINGER, 0)

    bind_or_connect(s, mode, endpoint)
    SocketPeer(s, kind, monitor).run_all(actions, "%s %s %s" % (argv[1], mode, endpoint))
    if monitor is not None:
        s.disable_monitor()
        monitor.close()
    s.close()
    ctx.term()


if __name__ == "__main__":
    main(sys.argv)
