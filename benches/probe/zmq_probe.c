/*
 * zmq_probe: libzmq's perf tools (local_thr, remote_thr, local_lat,
 * remote_lat, inproc_thr) in one program, with the same arguments and
 * output lines as `zmtp-perf`, so benches/compare.sh can run libzmq and
 * zmtp-rs side by side in one session.
 *
 * This is the only place libzmq enters the workspace: it is built by
 * benches/compare.sh with `cc -O2 ... -lzmq` (Debian: libzmq3-dev), never by
 * cargo.
 *
 *   zmq_probe local_thr  EP SIZE COUNT   bind PULL, time COUNT messages
 *   zmq_probe remote_thr EP SIZE COUNT   connect PUSH, send COUNT messages
 *   zmq_probe local_lat  EP SIZE COUNT   bind REP, echo COUNT messages
 *   zmq_probe remote_lat EP SIZE COUNT   connect REQ, COUNT round trips
 *   zmq_probe inproc_thr SIZE COUNT      both throughput ends, inproc://
 *   zmq_probe local_mem  EP SIZE COUNT   bind PULL, never read
 *   zmq_probe remote_mem EP SIZE COUNT   connect PUSH, queue until blocked,
 *                                        report the memory that took
 *   zmq_probe local_idle EP SIZE COUNT   bind PULL, wait for one message from
 *                                        each of COUNT peers, report how much
 *                                        resident memory they took
 *   zmq_probe remote_idle EP SIZE COUNT  COUNT PUSH sockets, one connection
 *                                        and one SIZE-byte message each, then
 *                                        idle until killed
 *
 * As in libzmq's tools, the throughput clock starts at the first message
 * received and stops at the last, and the latency is half the mean round
 * trip. remote_lat also prints the median and 99th percentile of the round
 * trips, which libzmq's remote_lat does not.
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <unistd.h>
#include <zmq.h>

static void die(const char *what)
{
    fprintf(stderr, "zmq_probe: %s: %s\n", what, zmq_strerror(zmq_errno()));
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return (x > y) - (x < y);
}

/* The q-th quantile (0..1) of sorted values, nearest rank. */
static uint64_t quantile(const uint64_t *sorted, size_t n, double q)
{
    size_t rank = (size_t) (q * (double) n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static void print_throughput(size_t size, unsigned long count, uint64_t elapsed_ns)
{
    double secs = (double) elapsed_ns / 1e9;
    if (secs <= 0)
        secs = 1e-9;
    double msgs = (double) count / secs;
    double mbits = msgs * (double) size * 8.0 / 1e6;
    printf("message size: %zu [B]\n", size);
    printf("message count: %lu\n", count);
    printf("mean throughput: %.0f [msg/s]\n", msgs);
    printf("mean throughput: %.3f [Mb/s]\n", mbits);
    fflush(stdout);
}

/* Receives COUNT messages of SIZE bytes on S, timed from the first. */
static void receive_timed(void *s, size_t size, unsigned long count)
{
    zmq_msg_t msg;
    if (zmq_msg_init(&msg) != 0)
        die("zmq_msg_init");
    if (zmq_msg_recv(&msg, s, 0) < 0)
        die("zmq_msg_recv");
    if (zmq_msg_size(&msg) != size) {
        fprintf(stderr, "zmq_probe: message of bad size\n");
        exit(1);
    }
    uint64_t start = now_ns();
    for (unsigned long i = 1; i < count; i++) {
        if (zmq_msg_recv(&msg, s, 0) < 0)
            die("zmq_msg_recv");
        if (zmq_msg_size(&msg) != size) {
            fprintf(stderr, "zmq_probe: message of bad size\n");
            exit(1);
        }
    }
    uint64_t elapsed = now_ns() - start;
    zmq_msg_close(&msg);
    print_throughput(size, count, elapsed);
}

/* Sends COUNT messages of SIZE bytes on S, one fresh message each (as
 * libzmq's remote_thr does). */
static void send_all(void *s, size_t size, unsigned long count)
{
    for (unsigned long i = 0; i < count; i++) {
        zmq_msg_t msg;
        if (zmq_msg_init_size(&msg, size) != 0)
            die("zmq_msg_init_size");
        if (zmq_msg_send(&msg, s, 0) < 0)
            die("zmq_msg_send");
    }
}

/*
 * With PERF_CURVE=1 in the environment the binding side is a CURVE server
 * and the connecting side its client, with these benchmark-only keys (the
 * same in zmtp_perf.rs; public keys are derived from the secrets).
 */
static const char CURVE_SERVER_SECRET[] = "mM-3H:3RpF^*)oy+}mmI83mR@o6#c({IL)Gro>H2";
static const char CURVE_CLIENT_SECRET[] = ">[oi5t}vO$:W^i=?yUE#jfaTZO1&WbOR1*:HoBQ>";

static void set_text(void *s, int option, const char *value)
{
    if (zmq_setsockopt(s, option, value, strlen(value)) != 0)
        die("zmq_setsockopt");
}

static void use_curve(void *s, int bind)
{
    char public_key[41];
    if (bind) {
        int one = 1;
        if (zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one) != 0)
            die("zmq_setsockopt");
        set_text(s, ZMQ_CURVE_SECRETKEY, CURVE_SERVER_SECRET);
        return;
    }
    if (zmq_curve_public(public_key, CURVE_SERVER_SECRET) != 0)
        die("zmq_curve_public");
    set_text(s, ZMQ_CURVE_SERVERKEY, public_key);
    if (zmq_curve_public(public_key, CURVE_CLIENT_SECRET) != 0)
        die("zmq_curve_public");
    set_text(s, ZMQ_CURVE_PUBLICKEY, public_key);
    set_text(s, ZMQ_CURVE_SECRETKEY, CURVE_CLIENT_SECRET);
}

static void *open_socket(void *ctx, int type, const char *endpoint, int bind)
{
    const char *curve = getenv("PERF_CURVE");
    void *s = zmq_socket(ctx, type);
    if (!s)
        die("zmq_socket");
    if (curve && strcmp(curve, "1") == 0)
        use_curve(s, bind);
    if ((bind ? zmq_bind(s, endpoint) : zmq_connect(s, endpoint)) != 0)
        die(bind ? "zmq_bind" : "zmq_connect");
    return s;
}

static void close_all(void *ctx, void *s)
{
    if (zmq_close(s) != 0)
        die("zmq_close");
    if (zmq_ctx_term(ctx) != 0)
        die("zmq_ctx_term");
}

static int local_thr(const char *ep, size_t size, unsigned long count)
{
    void *ctx = zmq_ctx_new();
    void *s = open_socket(ctx, ZMQ_PULL, ep, 1);
    receive_timed(s, size, count);
    close_all(ctx, s);
    return 0;
}

static int remote_thr(const char *ep, size_t size, unsigned long count)
{
    void *ctx = zmq_ctx_new();
    void *s = open_socket(ctx, ZMQ_PUSH, ep, 0);
    send_all(s, size, count);
    /* Default linger: zmq_ctx_term waits until everything is delivered. */
    close_all(ctx, s);
    return 0;
}

static int local_lat(const char *ep, size_t size, unsigned long count)
{
    void *ctx = zmq_ctx_new();
    void *s = open_socket(ctx, ZMQ_REP, ep, 1);
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    for (unsigned long i = 0; i < count; i++) {
        if (zmq_msg_recv(&msg, s, 0) < 0)
            die("zmq_msg_recv");
        if (zmq_msg_size(&msg) != size) {
            fprintf(stderr, "zmq_probe: message of bad size\n");
            return 1;
        }
        if (zmq_msg_send(&msg, s, 0) < 0)
            die("zmq_msg_send");
    }
    zmq_msg_close(&msg);
    close_all(ctx, s);
    return 0;
}

static int remote_lat(const char *ep, size_t size, unsigned long count)
{
    void *ctx = zmq_ctx_new();
    void *s = open_socket(ctx, ZMQ_REQ, ep, 0);
    uint64_t *rtt = malloc(count * sizeof *rtt);
    if (!rtt) {
        fprintf(stderr, "zmq_probe: out of memory\n");
        return 1;
    }
    zmq_msg_t msg;
    zmq_msg_init_size(&msg, size);
    memset(zmq_msg_data(&msg), 0, size);
    uint64_t start = now_ns();
    for (unsigned long i = 0; i < count; i++) {
        uint64_t t0 = now_ns();
        if (zmq_msg_send(&msg, s, 0) < 0)
            die("zmq_msg_send");
        if (zmq_msg_recv(&msg, s, 0) < 0)
            die("zmq_msg_recv");
        rtt[i] = now_ns() - t0;
        if (zmq_msg_size(&msg) != size) {
            fprintf(stderr, "zmq_probe: message of bad size\n");
            return 1;
        }
    }
    uint64_t elapsed = now_ns() - start;
    zmq_msg_close(&msg);
    qsort(rtt, count, sizeof *rtt, cmp_u64);
    printf("message size: %zu [B]\n", size);
    printf("roundtrip count: %lu\n", count);
    printf("average latency: %.3f [us]\n", (double) elapsed / 1e3 / (double) count / 2.0);
    printf("p50 roundtrip: %.3f [us]\n", (double) quantile(rtt, count, 0.50) / 1e3);
    printf("p99 roundtrip: %.3f [us]\n", (double) quantile(rtt, count, 0.99) / 1e3);
    fflush(stdout);
    free(rtt);
    close_all(ctx, s);
    return 0;
}

struct sender_args {
    void *ctx;
    size_t size;
    unsigned long count;
};

static void *inproc_sender(void *arg)
{
    struct sender_args *a = arg;
    void *s = zmq_socket(a->ctx, ZMQ_PUSH);
    if (!s)
        die("zmq_socket");
    if (zmq_connect(s, "inproc://thr_test") != 0)
        die("zmq_connect");
    send_all(s, a->size, a->count);
    if (zmq_close(s) != 0)
        die("zmq_close");
    return NULL;
}

static int inproc_thr(size_t size, unsigned long count)
{
    void *ctx = zmq_ctx_new();
    void *s = open_socket(ctx, ZMQ_PULL, "inproc://thr_test", 1);
    struct sender_args args = {ctx, size, count};
    pthread_t sender;
    if (pthread_create(&sender, NULL, inproc_sender, &args) != 0) {
        fprintf(stderr, "zmq_probe: pthread_create failed\n");
        return 1;
    }
    receive_timed(s, size, count);
    pthread_join(sender, NULL);
    close_all(ctx, s);
    return 0;
}

/* Resident set size of this process, in bytes (0 if unknown). */
static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

/* A PULL that never reads: the stalled receiver of the memory row. */
static int local_mem(const char *ep)
{
    void *ctx = zmq_ctx_new();
    void *s = open_socket(ctx, ZMQ_PULL, ep, 1);
    (void) s;
    sleep(120); /* compare.sh kills it once the sender has reported */
    return 0;
}

/*
 * A PUSH facing that stalled PULL: queues fresh SIZE-byte messages without
 * blocking until nothing more goes for half a second (COUNT at most), then
 * reports how many it queued and how much its resident memory grew.
 */
static int remote_mem(const char *ep, size_t size, unsigned long count)
{
    void *ctx = zmq_ctx_new();
    void *s = open_socket(ctx, ZMQ_PUSH, ep, 0);
    long before = rss_bytes();
    unsigned long queued = 0;
    int idle = 0;
    while (queued < count && idle < 50) {
        zmq_msg_t msg;
        if (zmq_msg_init_size(&msg, size) != 0)
            die("zmq_msg_init_size");
        memset(zmq_msg_data(&msg), 1, size);
        if (zmq_msg_send(&msg, s, ZMQ_DONTWAIT) >= 0) {
            queued++;
            idle = 0;
            continue;
        }
        zmq_msg_close(&msg);
        if (zmq_errno() != EAGAIN)
            die("zmq_msg_send");
        idle++;
        struct timespec pause = {0, 10000000};
        nanosleep(&pause, NULL);
    }
    printf("message size: %zu [B]\n", size);
    printf("queued: %lu [msg]\n", queued);
    printf("sender memory: %ld [B]\n", rss_bytes() - before);
    fflush(stdout);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    close_all(ctx, s);
    return 0;
}

/*
 * The binding side of the idle-connections row: a PULL that measures its
 * resident memory, receives one message from each of COUNT peers (so all
 * COUNT connections are up and past the handshake), lets them settle for
 * 200 ms and measures again.
 */
static int local_idle(const char *ep, size_t size, unsigned long count)
{
    void *ctx = zmq_ctx_new();
    void *s = open_socket(ctx, ZMQ_PULL, ep, 1);
    long before = rss_bytes();
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    for (unsigned long i = 0; i < count; i++) {
        if (zmq_msg_recv(&msg, s, 0) < 0)
            die("zmq_msg_recv");
        if (zmq_msg_size(&msg) != size)
            die("message of bad size");
    }
    zmq_msg_close(&msg);
    struct timespec settle = {0, 200000000};
    nanosleep(&settle, NULL);
    long grown = rss_bytes() - before;
    printf("connections: %lu\n", count);
    printf("receiver memory: %ld [B]\n", grown);
    printf("memory per connection: %ld [B]\n", grown / (long) count);
    fflush(stdout);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    close_all(ctx, s);
    return 0;
}

/* COUNT idle peers: a PUSH socket each, one message each, then sleep. */
static int remote_idle(const char *ep, size_t size, unsigned long count)
{
    void *ctx = zmq_ctx_new();
    /* A context allows 1023 sockets unless told otherwise. */
    if (zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, (int) count + 16) != 0)
        die("zmq_ctx_set");
    for (unsigned long i = 0; i < count; i++) {
        void *s = open_socket(ctx, ZMQ_PUSH, ep, 0);
        zmq_msg_t msg;
        if (zmq_msg_init_size(&msg, size) != 0)
            die("zmq_msg_init_size");
        memset(zmq_msg_data(&msg), 1, size);
        if (zmq_msg_send(&msg, s, 0) < 0)
            die("zmq_msg_send");
    }
    sleep(120); /* compare.sh kills it once the receiver has reported */
    return 0;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: zmq_probe local_thr|remote_thr|local_lat|remote_lat|local_mem|remote_mem|local_idle|remote_idle EP SIZE COUNT\n"
            "       zmq_probe inproc_thr SIZE COUNT\n");
    return 2;
}

static int parse(const char *text, unsigned long *out)
{
    char *end;
    *out = strtoul(text, &end, 10);
    return *text != '\0' && *end == '\0';
}

int main(int argc, char **argv)
{
    unsigned long size, count;
    if (argc == 4 && strcmp(argv[1], "inproc_thr") == 0) {
        if (!parse(argv[2], &size) || !parse(argv[3], &count) || count == 0)
            return usage();
        return inproc_thr(size, count);
    }
    if (argc != 5 || !parse(argv[3], &size) || !parse(argv[4], &count) || count == 0)
        return usage();
    const char *mode = argv[1], *ep = argv[2];
    if (strcmp(mode, "local_thr") == 0)
        return local_thr(ep, size, count);
    if (strcmp(mode, "remote_thr") == 0)
        return remote_thr(ep, size, count);
    if (strcmp(mode, "local_lat") == 0)
        return local_lat(ep, size, count);
    if (strcmp(mode, "remote_lat") == 0)
        return remote_lat(ep, size, count);
    if (strcmp(mode, "local_mem") == 0)
        return local_mem(ep);
    if (strcmp(mode, "remote_mem") == 0)
        return remote_mem(ep, size, count);
    if (strcmp(mode, "local_idle") == 0)
        return local_idle(ep, size, count);
    if (strcmp(mode, "remote_idle") == 0)
        return remote_idle(ep, size, count);
    return usage();
}
