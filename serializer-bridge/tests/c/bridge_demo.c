/* The serializer bridge from C, end to end: a "hub" listens, a "node"
 * connects, both wait in their own poll(2) loop on the managers'
 * descriptors, the node sends COUNT chunks and the hub checks that every
 * one arrives, in order, in the agreed epoch. Exit status 0 means all good.
 * Built and run by tests/c_abi.rs. */

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serializer_bridge.h"

#define COUNT 20000

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
    CHECK(zb_write(node, to_hub, node_epoch, 0x1c, NULL, 0) == ZB_ETYPE, "unknown type refused");
    CHECK(zb_write(node, to_hub, node_epoch + 7, 0x02, NULL, 0) == ZB_ESTALE, "stale epoch refused");

    uint32_t sent = 0, received = 0, full = 0;
    while (received < COUNT) {
        while (sent < COUNT) {
            char chunk[64];
            int len = snprintf(chunk, sizeof chunk, "chunk %u", sent);
            int rc = zb_write(node, to_hub, node_epoch, 0x02, (const uint8_t *)chunk, (size_t)len);
            if (rc == ZB_EFULL) { full++; break; }
            CHECK(rc == ZB_OK, "write %u: %d", sent, rc);
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
            zb_event_free(e);
        }
    }

    zb_stats stats;
    CHECK(zb_peer_stats(node, to_hub, &stats) == ZB_OK, "stats");
    CHECK(stats.chunks_out == COUNT, "chunks_out %llu", (unsigned long long)stats.chunks_out);
    printf("OK %u chunks in order, epoch %llu, %u writes met the hard cap\n", received,
           (unsigned long long)hub_epoch, full);
    zb_manager_destroy(node);
    zb_manager_destroy(hub);
    return 0;
}
