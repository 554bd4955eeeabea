/* A C program using the drop-in through include/zmq.h and the cdylib only:
 * REQ/REP over tcp, PUSH/PULL multipart over inproc, DONTWAIT, RCVTIMEO,
 * zmq_msg_init_data's free callback, option 9999, Z85, and
 * zmq_ctx_shutdown waking a receive blocked in another thread, and zmq_poll
 * over a socket and a pipe with ZMQ_FD/ZMQ_EVENTS, and a ZAP handler thread
 * deciding a PLAIN handshake (User-Id and metadata read with zmq_msg_gets). */

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "zmq.h"

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            printf ("FAIL line %d: %s (errno %d: %s)\n", __LINE__, #cond,   \
                    zmq_errno (), zmq_strerror (zmq_errno ()));             \
            return 1;                                                       \
        }                                                                   \
    } while (0)

static volatile int freed = 0;

static void free_buffer (void *data, void *hint)
{
    (void) data;
    if (hint == (void *) &freed)
        __atomic_store_n (&freed, 1, __ATOMIC_SEQ_CST);
}

static void *blocked_recv (void *socket)
{
    char buf[8];
    int rc = zmq_recv (socket, buf, sizeof buf, 0);
    static int result;
    result = (rc == -1 && zmq_errno () == ETERM) ? 1 : 0;
    return &result;
}

static int req_rep_tcp (void *ctx)
{
    void *rep = zmq_socket (ctx, ZMQ_REP);
    void *req = zmq_socket (ctx, ZMQ_REQ);
    CHECK (rep && req);
    CHECK (zmq_bind (rep, "tcp://127.0.0.1:*") == 0);
    char endpoint[256];
    size_t len = sizeof endpoint;
    CHECK (zmq_getsockopt (rep, ZMQ_LAST_ENDPOINT, endpoint, &len) == 0);
    CHECK (zmq_connect (req, endpoint) == 0);
    CHECK (zmq_send (req, "ping", 4, 0) == 4);
    char buf[16];
    CHECK (zmq_recv (rep, buf, sizeof buf, 0) == 4 && memcmp (buf, "ping", 4) == 0);
    CHECK (zmq_send (rep, "pong", 4, 0) == 4);
    CHECK (zmq_recv (req, buf, sizeof buf, 0) == 4 && memcmp (buf, "pong", 4) == 0);
    int linger = 0;
    zmq_setsockopt (req, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (rep, ZMQ_LINGER, &linger, sizeof linger);
    CHECK (zmq_close (req) == 0 && zmq_close (rep) == 0);
    return 0;
}

static int multipart_inproc (void *ctx)
{
    void *pull = zmq_socket (ctx, ZMQ_PULL);
    void *push = zmq_socket (ctx, ZMQ_PUSH);
    CHECK (zmq_bind (pull, "inproc://c-demo") == 0);
    CHECK (zmq_connect (push, "inproc://c-demo") == 0);
    char buf[16];
    CHECK (zmq_recv (pull, buf, sizeof buf, ZMQ_DONTWAIT) == -1 && zmq_errno () == EAGAIN);
    int timeout = 50;
    CHECK (zmq_setsockopt (pull, ZMQ_RCVTIMEO, &timeout, sizeof timeout) == 0);
    CHECK (zmq_recv (pull, buf, sizeof buf, 0) == -1 && zmq_errno () == EAGAIN);

    static char lent[] = "lent";
    zmq_msg_t msg;
    CHECK (zmq_msg_init_data (&msg, lent, 4, free_buffer, (void *) &freed) == 0);
    CHECK (zmq_msg_send (&msg, push, ZMQ_SNDMORE) == 4);
    CHECK (zmq_send (push, "end", 3, 0) == 3);

    CHECK (zmq_msg_init (&msg) == 0);
    CHECK (zmq_msg_recv (&msg, pull, 0) == 4);
    CHECK (memcmp (zmq_msg_data (&msg), "lent", 4) == 0 && zmq_msg_more (&msg) == 1);
    int more = 0;
    size_t more_len = sizeof more;
    CHECK (zmq_getsockopt (pull, ZMQ_RCVMORE, &more, &more_len) == 0 && more == 1);
    CHECK (zmq_msg_recv (&msg, pull, 0) == 3 && zmq_msg_more (&msg) == 0);
    CHECK (zmq_msg_close (&msg) == 0);
    for (int i = 0; i < 500 && !__atomic_load_n (&freed, __ATOMIC_SEQ_CST); i++)
        usleep (10000);
    CHECK (freed == 1);

    int value = 1;
    CHECK (zmq_setsockopt (pull, 9999, &value, sizeof value) == -1 && zmq_errno () == EINVAL);
    int linger = 0;
    zmq_setsockopt (push, ZMQ_LINGER, &linger, sizeof linger);
    CHECK (zmq_close (push) == 0 && zmq_close (pull) == 0);
    return 0;
}

static int z85 (void)
{
    const uint8_t data[8] = {0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B};
    char text[11];
    CHECK (zmq_z85_encode (text, data, 8) == text && strcmp (text, "HelloWorld") == 0);
    uint8_t back[8];
    CHECK (zmq_z85_decode (back, "HelloWorld") == back && memcmp (back, data, 8) == 0);
    char public_key[41], secret_key[41], derived[41];
    CHECK (zmq_curve_keypair (public_key, secret_key) == 0);
    CHECK (zmq_curve_public (derived, secret_key) == 0 && strcmp (derived, public_key) == 0);
    return 0;
}

static int poll_socket_and_pipe (void *ctx)
{
    void *pull = zmq_socket (ctx, ZMQ_PULL);
    void *push = zmq_socket (ctx, ZMQ_PUSH);
    CHECK (pull && push);
    CHECK (zmq_bind (pull, "inproc://c-poll") == 0);
    CHECK (zmq_connect (push, "inproc://c-poll") == 0);
    int fds[2];
    CHECK (pipe (fds) == 0);
    zmq_pollitem_t items[] = {{pull, 0, ZMQ_POLLIN, 0}, {NULL, fds[0], ZMQ_POLLIN, 0},
                              {push, 0, ZMQ_POLLOUT, 0}};
    /* The PUSH has its peer: only it is ready. */
    CHECK (zmq_poll (items, 3, 10000) == 1);
    CHECK (items[0].revents == 0 && items[1].revents == 0 && items[2].revents == ZMQ_POLLOUT);
    CHECK (zmq_send (push, "hi", 2, 0) == 2);
    CHECK (write (fds[1], "x", 1) == 1);
    /* The message comes through the runtime: wait for it alone, then see both. */
    CHECK (zmq_poll (items, 1, 10000) == 1);
    CHECK (zmq_poll (items, 2, 0) == 2 && items[0].revents == ZMQ_POLLIN
           && items[1].revents == ZMQ_POLLIN);
    int events = 0;
    size_t len = sizeof events;
    CHECK (zmq_getsockopt (pull, ZMQ_EVENTS, &events, &len) == 0 && events == ZMQ_POLLIN);
    zmq_fd_t fd = -1;
    len = sizeof fd;
    CHECK (zmq_getsockopt (pull, ZMQ_FD, &fd, &len) == 0 && fd >= 0);
    char buf[8];
    CHECK (zmq_recv (pull, buf, sizeof buf, ZMQ_DONTWAIT) == 2);
    CHECK (zmq_recv (pull, buf, sizeof buf, ZMQ_DONTWAIT) == -1 && zmq_errno () == EAGAIN);
    CHECK (zmq_poll (items, 1, 0) == 0);
    close (fds[0]);
    close (fds[1]);
    CHECK (zmq_close (push) == 0 && zmq_close (pull) == 0);
    return 0;
}

/* One ZAP request on the REP bound at inproc://zeromq.zap.01: accepts
 * "admin"/"secret" as user "admin" with Hello=World, refuses the rest. */
static void *zap_handler (void *rep)
{
    static int ok;
    char frames[9][64];
    int sizes[9], n = 0, more = 1;
    while (more && n < 9) {
        sizes[n] = zmq_recv (rep, frames[n], sizeof frames[n], 0);
        size_t len = sizeof more;
        zmq_getsockopt (rep, ZMQ_RCVMORE, &more, &len);
        if (sizes[n++] < 0)
            return &ok;
    }
    /* version, id, domain, address, identity, mechanism, user, password */
    int good = n == 8 && sizes[5] == 5 && memcmp (frames[5], "PLAIN", 5) == 0
               && sizes[7] == 6 && memcmp (frames[7], "secret", 6) == 0;
    const char metadata[] = "\x05Hello\x00\x00\x00\x05World";
    zmq_send (rep, "1.0", 3, ZMQ_SNDMORE);
    zmq_send (rep, frames[1], sizes[1], ZMQ_SNDMORE);
    zmq_send (rep, good ? "200" : "400", 3, ZMQ_SNDMORE);
    zmq_send (rep, "", 0, ZMQ_SNDMORE);
    zmq_send (rep, good ? "admin" : "", good ? 5 : 0, ZMQ_SNDMORE);
    zmq_send (rep, metadata, sizeof metadata - 1, 0);
    ok = good;
    return &ok;
}

static int zap_plain (void *ctx)
{
    void *rep = zmq_socket (ctx, ZMQ_REP);
    CHECK (zmq_bind (rep, "inproc://zeromq.zap.01") == 0);
    pthread_t thread;
    CHECK (pthread_create (&thread, NULL, zap_handler, rep) == 0);
    void *pull = zmq_socket (ctx, ZMQ_PULL);
    void *push = zmq_socket (ctx, ZMQ_PUSH);
    int one = 1, linger = 0, timeout = 5000;
    CHECK (zmq_setsockopt (pull, ZMQ_PLAIN_SERVER, &one, sizeof one) == 0);
    CHECK (zmq_setsockopt (pull, ZMQ_RCVTIMEO, &timeout, sizeof timeout) == 0);
    CHECK (zmq_setsockopt (push, ZMQ_PLAIN_USERNAME, "admin", 5) == 0);
    CHECK (zmq_setsockopt (push, ZMQ_PLAIN_PASSWORD, "secret", 6) == 0);
    CHECK (zmq_bind (pull, "tcp://127.0.0.1:*") == 0);
    char endpoint[256];
    size_t len = sizeof endpoint;
    CHECK (zmq_getsockopt (pull, ZMQ_LAST_ENDPOINT, endpoint, &len) == 0);
    CHECK (zmq_connect (push, endpoint) == 0);
    CHECK (zmq_send (push, "hi", 2, 0) == 2);
    zmq_msg_t msg;
    CHECK (zmq_msg_init (&msg) == 0);
    CHECK (zmq_msg_recv (&msg, pull, 0) == 2);
    const char *user = zmq_msg_gets (&msg, "User-Id");
    const char *hello = zmq_msg_gets (&msg, "Hello");
    CHECK (user && strcmp (user, "admin") == 0);
    CHECK (hello && strcmp (hello, "World") == 0);
    CHECK (zmq_msg_close (&msg) == 0);
    void *result;
    pthread_join (thread, &result);
    CHECK (*(int *) result == 1);
    zmq_setsockopt (push, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (pull, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (rep, ZMQ_LINGER, &linger, sizeof linger);
    CHECK (zmq_close (push) == 0 && zmq_close (pull) == 0 && zmq_close (rep) == 0);
    return 0;
}

static int shutdown_wakes (void)
{
    void *ctx = zmq_ctx_new ();
    void *pull = zmq_socket (ctx, ZMQ_PULL);
    CHECK (zmq_bind (pull, "inproc://c-shutdown") == 0);
    pthread_t thread;
    CHECK (pthread_create (&thread, NULL, blocked_recv, pull) == 0);
    usleep (100000);
    CHECK (zmq_ctx_shutdown (ctx) == 0);
    void *result;
    pthread_join (thread, &result);
    CHECK (*(int *) result == 1);
    CHECK (zmq_close (pull) == 0);
    CHECK (zmq_ctx_term (ctx) == 0);
    return 0;
}

int main (void)
{
    int major, minor, patch;
    zmq_version (&major, &minor, &patch);
    if (major != 4 || minor != 3 || patch != 5 || ZMQ_VERSION != 40305) {
        printf ("FAIL version %d.%d.%d\n", major, minor, patch);
        return 1;
    }
    void *ctx = zmq_ctx_new ();
    if (zmq_ctx_get (ctx, ZMQ_MSG_T_SIZE) != (int) sizeof (zmq_msg_t))
        return printf ("FAIL MSG_T_SIZE\n"), 1;
    if (req_rep_tcp (ctx) || multipart_inproc (ctx) || z85 () || poll_socket_and_pipe (ctx)
        || zap_plain (ctx) || shutdown_wakes ())
        return 1;
    if (zmq_ctx_term (ctx) != 0)
        return printf ("FAIL term\n"), 1;
    printf ("OK libzmq %d.%d.%d ABI\n", major, minor, patch);
    return 0;
}
