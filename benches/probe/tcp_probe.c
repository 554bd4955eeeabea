/*
 * tcp_probe: raw TCP loopback bandwidth, the ceiling for benches/compare.sh's
 * large-message rows. No ZMTP, no libzmq: one process listens on an
 * ephemeral loopback port, a forked child connects and write()s TOTAL bytes
 * in WRITE_SIZE-byte calls, and the parent read()s them into a 1 MiB buffer,
 * timing from the first byte received to the last (as local_thr does).
 * Default socket buffer sizes on both ends, as the perf tools use.
 *
 *   tcp_probe WRITE_SIZE TOTAL      prints "raw tcp: N [B/s]"
 *
 * Built by compare.sh with `cc -O2`; cargo never builds it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* The child: connect and write TOTAL bytes, WRITE_SIZE per call. */
static void writer(const struct sockaddr_in *addr, size_t write_size, unsigned long long total)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *) addr, sizeof *addr) != 0)
        die("tcp_probe: connect");
    char *buf = malloc(write_size);
    if (!buf)
        die("tcp_probe: malloc");
    memset(buf, 1, write_size);
    while (total > 0) {
        size_t want = total < write_size ? (size_t) total : write_size, done = 0;
        /* A short write is finished before the next full-sized one, so
         * every write() call asks for WRITE_SIZE bytes (or the remainder). */
        while (done < want) {
            ssize_t n = write(fd, buf + done, want - done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                die("tcp_probe: write");
            done += (size_t) n;
        }
        total -= want;
    }
    close(fd);
    exit(0);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: tcp_probe WRITE_SIZE TOTAL\n");
        return 2;
    }
    size_t write_size = strtoul(argv[1], NULL, 10);
    unsigned long long total = strtoull(argv[2], NULL, 10);
    if (write_size == 0 || total == 0) {
        fprintf(stderr, "tcp_probe: WRITE_SIZE and TOTAL must be positive\n");
        return 2;
    }
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener < 0 || bind(listener, (struct sockaddr *) &addr, sizeof addr) != 0 ||
        listen(listener, 1) != 0 || getsockname(listener, (struct sockaddr *) &addr, &len) != 0)
        die("tcp_probe: listen");
    pid_t child = fork();
    if (child < 0)
        die("tcp_probe: fork");
    if (child == 0)
        writer(&addr, write_size, total);
    int fd = accept(listener, NULL, NULL);
    if (fd < 0)
        die("tcp_probe: accept");
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    if (!buf)
        die("tcp_probe: malloc");
    unsigned long long got = 0, first = 0;
    double start = 0;
    while (got < total) {
        ssize_t n = read(fd, buf, cap);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("tcp_probe: read");
        if (got == 0) {
            start = now();
            first = (unsigned long long) n;
        }
        got += (unsigned long long) n;
    }
    double secs = now() - start;
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "tcp_probe: the writer failed\n");
        return 1;
    }
    if (secs <= 0)
        secs = 1e-9;
    printf("write size: %zu [B]\n", write_size);
    printf("bytes: %llu [B]\n", total);
    /* The first read started the clock: its bytes are not in the rate. */
    printf("raw tcp: %.0f [B/s]\n", (double) (got - first) / secs);
    return 0;
}
