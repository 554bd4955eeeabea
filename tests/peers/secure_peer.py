"""A libzmq socket (through pyzmq) with PLAIN or CURVE security, for the
security wire tests.

Run by tests/tests/pyzmq_security.rs as a child process, one per test case;
the command line says what socket to open, how to secure it and what to do:

    secure_peer.py TYPE bind|connect ENDPOINT [--OPTION...] [ACTION...]

TYPE is a libzmq socket type name (push, pull, req, rep, dealer, router, pub,
sub, xsub). With "bind", ENDPOINT is "tcp://127.0.0.1" (a random port is picked)
and the bound endpoint is printed first, on a line of its own; with
"connect", ENDPOINT is the full endpoint.

Options (keys are Z85 text, 40 characters):

    --plain-server=USER:PASS    ZMQ_PLAIN_SERVER, with a ThreadAuthenticator
                                that knows one user (configure_plain)
    --plain-client=USER:PASS    ZMQ_PLAIN_USERNAME / ZMQ_PLAIN_PASSWORD
    --curve-server=SECRET       ZMQ_CURVE_SERVER with this secret key (the
                                public key is derived from it); no ZAP
                                handler unless --curve-allow is given, so
                                libzmq accepts any client key
    --curve-allow=KEY[,KEY...]  a ThreadAuthenticator accepting only these
                                client public keys (configure_curve_callback)
    --curve-client=SECRET       a CURVE client with this secret key, or
                                "random" for a fresh key pair
    --server-key=KEY            ZMQ_CURVE_SERVERKEY
    --routing-id=HEX            ZMQ_ROUTING_ID
    --early-sub=HEX             XSUB: send b"\\x01" + topic before binding or
                                connecting; with no pipe yet libzmq only
                                caches it, and replays it as a SUBSCRIBE
                                command once a peer's handshake is done
                                (sent later, it would go out as data)

Messages on the command line and in the output are frames in hex joined by
"|"; in the output, a frame longer than 4096 bytes is shown as
"big:LENGTH:CRC32". Actions, run in order:

    recv:N          receive N messages, print each
    recv-user:N     receive N messages, print each as "USER-ID FRAMES" (the
                    ZAP user id libzmq attached, "(none)" without one)
    echo:N          receive N messages, print each, send each back (a
                    ROUTER's reply goes to the sender, a REP's gets the
                    request's envelope)
    send:FRAMES     send one message (a ROUTER retries while the peer named
                    by the first frame is unknown)
    send-big:N      send ["big", N bytes of `pattern`]
    sub:HEX         SUB: ZMQ_SUBSCRIBE
    warmup:HEX      receive until a message whose first frame is HEX, print
                    "warm"; later receives skip such messages
    publish-until-told:FRAMES
                    send FRAMES every 5 ms until a line arrives on stdin
    handshake       wait for the monitor's HANDSHAKE_SUCCEEDED (fails on a
                    handshake failure)
    refused         wait for the monitor's first handshake failure, print
                    "EVENT VALUE" (HANDSHAKE_FAILED_AUTH 400, ...); fails on
                    HANDSHAKE_SUCCEEDED
    count:EVENT:MS  watch the monitor for MS ms more, then print "EVENT N":
                    how many EVENTs (ACCEPTED, CONNECTED, ...) it has seen
                    since the start
    silence:MS      receive nothing for MS ms, print "silence" (fails on a
                    message)
    wait            wait for a line on stdin

Every wait is bounded, so the peer never hangs: it fails with a message on
stderr instead.
"""

import sys
import time

import zmq
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import recv_monitor_message

from peer_common import TIMEOUT_MS, Peer, bind_or_connect, fail, open_socket, parse_argv, pattern, show

FAILURES = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
    zmq.EVENT_HANDSHAKE_FAILED_AUTH,
)


class AllowList:
    """A credentials provider for configure_curve_callback."""

    def __init__(self, keys):
        self.keys = set(keys)

    def callback(self, domain, key):
        return key in self.keys


class Monitor:
    """The socket's monitor, with a tally of every event seen."""

    def __init__(self, sock):
        self.sock = sock.get_monitor_socket()
        self.sock.setsockopt(zmq.LINGER, 0)
        self.seen = {}

    def next(self, deadline):
        """The next event, or None at the deadline."""
        remaining = max(0, int((deadline - time.monotonic()) * 1000))
        if not self.sock.poll(remaining):
            return None
        event = recv_monitor_message(self.sock)
        kind = zmq.Event(event["event"])
        self.seen[kind] = self.seen.get(kind, 0) + 1
        return kind, event["value"]

    def wait_for(self, wanted, unwanted, what):
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while True:
            event = self.next(deadline)
            if event is None:
                fail("no %s in time (seen: %r)" % (what, self.seen))
            if event[0] in unwanted:
                fail("monitor event %s while waiting for %s" % (event[0].name, what))
            if event[0] in wanted:
                return event

    def watch(self, ms):
        deadline = time.monotonic() + ms / 1000
        while self.next(deadline) is not None:
            pass


class SecurePeer(Peer):
    def __init__(self, sock, kind, monitor):
        super().__init__(sock, kind)
        self.monitor = monitor

    def run(self, action):
        name, _, arg = action.partition(":")
        if self.run_shared(name, arg):
            return
        if name == "recv-user":
            for _ in range(int(arg)):
                frames = self.recv()
                try:
                    user = frames[-1].get("User-Id")
                except zmq.ZMQError:
                    user = "(none)"
                print("%s %s" % (user, show(frames)), flush=True)
        elif name == "send-big":
            self.send([b"big", pattern(int(arg))])
        elif name == "sub":
            self.sock.setsockopt(zmq.SUBSCRIBE, bytes.fromhex(arg))
        elif name == "handshake":
            self.monitor.wait_for(
                (zmq.EVENT_HANDSHAKE_SUCCEEDED,), FAILURES, "HANDSHAKE_SUCCEEDED event"
            )
        elif name == "refused":
            kind, value = self.monitor.wait_for(
                FAILURES, (zmq.EVENT_HANDSHAKE_SUCCEEDED,), "handshake failure event"
            )
            print("%s %d" % (kind.name, value), flush=True)
            # What is queued for a refused peer can never go out.
            self.sock.setsockopt(zmq.LINGER, 0)
        elif name == "count":
            event, _, ms = arg.partition(":")
            self.monitor.watch(int(ms))
            kind = zmq.Event[event]
            print("%s %d" % (event, self.monitor.seen.get(kind, 0)), flush=True)
        elif name == "silence":
            if self.sock.poll(int(arg), zmq.POLLIN):
                fail("received %s" % show(self.sock.recv_multipart()))
            print("silence", flush=True)
        else:
            fail("unknown action %r" % action)


def configure(ctx, s, options):
    """Applies the options; returns the authenticator started, if any."""
    auth = None

    def authenticator():
        nonlocal auth
        if auth is None:
            auth = ThreadAuthenticator(ctx)
            auth.start()
        return auth

    for option in options:
        name, _, value = option[2:].partition("=")
        if name == "plain-server":
            user, _, password = value.partition(":")
            authenticator().configure_plain(domain="*", passwords={user: password})
            s.plain_server = True
        elif name == "plain-client":
            user, _, password = value.partition(":")
            s.plain_username = user.encode()
            s.plain_password = password.encode()
        elif name == "curve-server":
            secret = value.encode()
            s.curve_secretkey = secret
            s.curve_publickey = zmq.curve_public(secret)
            s.curve_server = True
        elif name == "curve-allow":
            keys = [k.encode() for k in value.split(",")]
            authenticator().configure_curve_callback(domain="*", credentials_provider=AllowList(keys))
        elif name == "curve-client":
            if value == "random":
                public, secret = zmq.curve_keypair()
            else:
                secret = value.encode()
                public = zmq.curve_public(secret)
            s.curve_secretkey = secret
            s.curve_publickey = public
        elif name == "server-key":
            s.curve_serverkey = value.encode()
        elif name == "routing-id":
            s.setsockopt(zmq.ROUTING_ID, bytes.fromhex(value))
        elif name == "early-sub":
            s.send(b"\x01" + bytes.fromhex(value))
        else:
            fail("unknown option %r" % option)
    return auth


def main(argv):
    kind, mode, endpoint, options, actions = parse_argv(argv, __doc__)
    ctx = zmq.Context()
    s = open_socket(ctx, kind)
    auth = configure(ctx, s, options)

    watched = ("handshake", "refused", "count")
    monitor = None
    if any(a.partition(":")[0] in watched for a in actions):
        monitor = Monitor(s)

    bind_or_connect(s, mode, endpoint)
    SecurePeer(s, kind, monitor).run_all(actions, "%s %s %s" % (argv[1], mode, endpoint))
    if monitor is not None:
        s.disable_monitor()
        monitor.sock.close()
    s.close()
    if auth is not None:
        auth.stop()
    ctx.term()


if __name__ == "__main__":
    main(sys.argv)
