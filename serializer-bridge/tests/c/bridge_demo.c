/* The serializer bridge from C, end to end: a "hub" listens, a "node"
 * connects, both wait in their own poll(2) loop on the managers'
 * descriptors, the node sends COUNT chunks and the hub checks that every
 * one arrives, in order, in the agreed epoch, while the node counts the
 * DELIVERED events up to COUNT. Then the node writes EXTRA chunks the hub
 * never reads and stops: every one comes back in HANDED_BACK events, by
 * its own sequence. Exactly one outcome per chunk. Exit status 0 means all
 * good. Built and run by tests/c_abi.rs. */

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serializer_bridge.h"

#define COUNT 20000
#define EXTRA 300

#define CHECK(cond, ...)                        \
    do {                                        \
        if (!(cond)) {                          \
            fprintf(stderr, "FAIL: " __VA_ARGS__); \
            fprintf(stderr, "\n");              \
            exit(1);                            \
        }                                       \
    } while (0)

static zb_manager *start(zb_config *config) {
    char error[256] = {0};
    zb_manager *m = zb_manager_start(config, error, sizeof error);
    CHECK(m != NULL, "start: %s", error);
    return m;
}

/* Waits until either manager's descriptor is readable (or 100 ms pass). */
static void wait_both(zb_manager *a, zb_manager *b) {
    struct pollfd fds[2] = {
        {.fd = zb_manager_fd(a), .events = POLLIN},
        {.fd = zb_manager_fd(b), .events = POLLIN},
    };
    poll(fds, 2, 100);
}

int main(void) {
    zb_config *hub_config = zb_config_new("hub");
    CHECK(zb_config_listen(hub_config, "tcp://127.0.0.1:*") == ZB_OK, "listen");
    zb_manager *hub = start(hub_config);
    char endpoint[128];
    CHECK(zb_manager_endpoint(hub, endpoint, sizeof endpoint) > 0, "endpoint");

    zb_config *node_config = zb_config_new("node");
    CHECK(zb_config_peer(node_config, "hub", endpoint) == ZB_OK, "peer");
    zb_manager *node = start(node_config);
    uint32_t to_hub;
    CHECK(zb_peer_id(node, "hub", &to_hub) == ZB_OK, "peer id");

    uint64_t node_epoch = 0, hub_epoch = 0;
    while (node_epoch == 0 || hub_epoch == 0) {
        wait_both(hub, node);
        zb_event *e;
        while ((e = zb_poll_event(node)) != NULL) {
            if (e->kind == ZB_EVENT_PEER_UP) node_epoch = e->epoch;
            zb_event_free(e);
        }
        while ((e = zb_poll_event(hub)) != NULL) {
            if (e->kind == ZB_EVENT_PEER_UP) {
                hub_epoch = e->epoch;
                CHECK(strcmp(e->text, "node") == 0, "peer name %s", e->text);
            }
            zb_event_free(e);
        }
    }
    CHECK(node_epoch == hub_epoch, "epochs %llu / %llu", (unsigned long long)node_epoch, (unsigned long long)hub_epoch);
    uint64_t seq = 0;
    CHECK(zb_write(node, to_hub, node_epoch, 0x1c, NULL, 0, &seq) == ZB_ETYPE, "unknown type refused");
    CHECK(zb_write(node, to_hub, node_epoch + 7, 0x02, NULL, 0, NULL) == ZB_ESTALE, "stale epoch refused");
    CHECK(seq == 0, "a refused write gives no sequence");

    /* Chunk n (from 0) carries "chunk n" and is sequence n + 1. */
    uint32_t sent = 0, received = 0, full = 0;
    uint64_t delivered = 0;
    while (received < COUNT || delivered < COUNT) {
        while (sent < COUNT) {
            char chunk[64];
            int len = snprintf(chunk, sizeof chunk, "chunk %u", sent);
            int rc = zb_write(node, to_hub, node_epoch, 0x02, (const uint8_t *)chunk, (size_t)len, &seq);
            if (rc == ZB_EFULL) { full++; break; }
            CHECK(rc == ZB_OK, "write %u: %d", sent, rc);
            CHECK(seq == (uint64_t)sent + 1, "write %u got sequence %llu", sent, (unsigned long long)seq);
            sent++;
        }
        wait_both(hub, node);
        zb_event *e;
        while ((e = zb_poll_event(hub)) != NULL) {
            if (e->kind == ZB_EVENT_CHUNK) {
                char expected[64];
                int len = snprintf(expected, sizeof expected, "chunk %u", received);
                CHECK(e->chunk->len == (size_t)len && memcmp(e->chunk->data, expected, (size_t)len) == 0,
                      "chunk %u out of order", received);
                CHECK(e->chunk->epoch == hub_epoch && e->chunk->kind == 0x02, "chunk %u epoch/kind", received);
                received++;
            }
            CHECK(e->kind != ZB_EVENT_PEER_DOWN, "link dropped: %s", e->text);
            zb_event_free(e);
        }
        while ((e = zb_poll_event(node)) != NULL) {
            CHECK(e->kind != ZB_EVENT_PEER_DOWN, "link dropped: %s", e->text);
            CHECK(e->kind != ZB_EVENT_HANDED_BACK, "%zu chunks handed back: %s", e->returned, e->text);
            if (e->kind == ZB_EVENT_DELIVERED) {
                CHECK(e->peer == to_hub && e->epoch == node_epoch, "DELIVERED of another stream");
                CHECK(e->seq > delivered && e->seq <= sent, "DELIVERED through %llu after %llu, %u sent",
                      (unsigned long long)e->seq, (unsigned long long)delivered, sent);
                delivered = e->seq;
            }
            zb_event_free(e);
        }
    }

    zb_stats stats;
    CHECK(zb_peer_stats(node, to_hub, &stats) == ZB_OK, "stats");
    CHECK(stats.chunks_out == COUNT, "chunks_out %llu", (unsigned long long)stats.chunks_out);
    CHECK(stats.pending == 0 && zb_is_idle(node, to_hub) == 1, "delivered chunks still pending");

    /* The hub stops reading; the node writes EXTRA more and stops. Every
     * one comes back (unsent, or in doubt and handed back on the stop),
     * none delivered, each once, by its sequence. */
    for (uint32_t n = COUNT; n < COUNT + EXTRA; n++) {
        char chunk[64];
        int len = snprintf(chunk, sizeof chunk, "chunk %u", n);
        int rc = zb_write(node, to_hub, node_epoch, 0x02, (const uint8_t *)chunk, (size_t)len, &seq);
        CHECK(rc == ZB_OK && seq == (uint64_t)n + 1, "extra write %u: %d, sequence %llu", n, rc,
              (unsigned long long)seq);
    }
    CHECK(zb_manager_stop(node) == ZB_OK, "stop");
    CHECK(zb_write(node, to_hub, node_epoch, 0x02, NULL, 0, &seq) == ZB_ECLOSED, "write after stop");
    /* Hand-backs name their sequences; they need not come in order (the
     * never-sent tail comes back before the part that was in flight). */
    static unsigned char back[EXTRA];
    uint32_t came_back = 0, back_events = 0, peer_downs = 0;
    zb_event *e;
    while ((e = zb_poll_event(node)) != NULL) {
        switch (e->kind) {
        case ZB_EVENT_PEER_DOWN:
            CHECK(e->reason == ZB_DOWN_SHUTDOWN, "down for %d: %s", e->reason, e->text);
            peer_downs++;
            break;
        case ZB_EVENT_DELIVERED:
            CHECK(e->seq <= COUNT, "an extra chunk was delivered (through %llu)", (unsigned long long)e->seq);
            break;
        case ZB_EVENT_HANDED_BACK:
            CHECK(e->reason == ZB_BACK_UNSENT || e->reason == ZB_BACK_SHUTDOWN, "handed back for %d: %s",
                  e->reason, e->text);
            CHECK(e->epoch == node_epoch, "hand-back of epoch %llu", (unsigned long long)e->epoch);
            for (size_t i = 0; i < e->returned; i++) {
                uint64_t s = e->seq + i;
                CHECK(s > COUNT && s <= COUNT + EXTRA, "sequence %llu handed back", (unsigned long long)s);
                CHECK(!back[s - COUNT - 1], "sequence %llu handed back twice", (unsigned long long)s);
                back[s - COUNT - 1] = 1;
                const zb_chunk *c = zb_event_returned(e, i);
                char expected[64];
                int len = snprintf(expected, sizeof expected, "chunk %llu", (unsigned long long)(s - 1));
                CHECK(c != NULL && c->len == (size_t)len && memcmp(c->data, expected, (size_t)len) == 0,
                      "handed-back chunk %llu is not its own", (unsigned long long)s);
                came_back++;
            }
            CHECK(zb_event_returned(e, e->returned) == NULL, "past the returned chunks");
            back_events++;
            break;
        default:
            break;
        }
        zb_event_free(e);
    }
    CHECK(peer_downs == 1, "%u PEER_DOWN events", peer_downs);
    CHECK(came_back == EXTRA, "%u of %d extra chunks came back", came_back, EXTRA);

    printf("OK %u chunks in order, %llu delivered, epoch %llu, %u writes met the hard cap; "
           "%d more handed back on stop in %u events\n",
           received, (unsigned long long)delivered, (unsigned long long)hub_epoch, full, EXTRA, back_events);
    zb_manager_destroy(node);
    zb_manager_destroy(hub);
    return 0;
}
