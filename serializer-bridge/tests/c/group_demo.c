/* Groups from C: a "hub" makes a group of two nodes, "a" and "b", writes
 * COUNT chunks once each to the group, and both nodes receive every one,
 * in order, as GROUP_CHUNK events of the same group epoch; the hub counts
 * GROUP_DELIVERED up to COUNT. Then the hub writes EXTRA more the nodes
 * never read and stops: each comes back once in GROUP_HANDED_BACK events
 * naming both members. Exit status 0 means all good. Built and run by
 * tests/c_abi.rs. */

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serializer_bridge.h"

#define COUNT 2000
#define EXTRA 50

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

static void wait_on(zb_manager **ms, int n) {
    struct pollfd fds[3];
    for (int i = 0; i < n; i++) {
        fds[i].fd = zb_manager_fd(ms[i]);
        fds[i].events = POLLIN;
    }
    poll(fds, (nfds_t)n, 100);
}

int main(void) {
    zb_config *hub_config = zb_config_new("hub");
    CHECK(zb_config_listen(hub_config, "tcp://127.0.0.1:*") == ZB_OK, "listen");
    zb_manager *hub = start(hub_config);
    char endpoint[128];
    CHECK(zb_manager_endpoint(hub, endpoint, sizeof endpoint) > 0, "endpoint");
    const char *names[2] = {"a", "b"};
    zb_manager *nodes[2];
    for (int i = 0; i < 2; i++) {
        zb_config *c = zb_config_new(names[i]);
        CHECK(zb_config_peer(c, "hub", endpoint) == ZB_OK, "peer");
        nodes[i] = start(c);
    }
    zb_manager *all[3] = {hub, nodes[0], nodes[1]};

    uint32_t group = 99;
    CHECK(zb_join_group(hub, "state", names, 2, &group) == ZB_OK, "join");
    uint32_t again = 98;
    CHECK(zb_join_group(hub, "state", NULL, 0, &again) == ZB_OK && again == group, "same group");
    CHECK(zb_write_group(hub, group + 1, 1, 0x02, NULL, 0, NULL) == ZB_ENOGROUP, "unknown group");

    /* Wait for the group epoch with both members. */
    uint64_t epoch = 0;
    size_t members = 0;
    while (members < 2) {
        wait_on(all, 3);
        zb_event *e;
        while ((e = zb_poll_event(hub)) != NULL) {
            if (e->kind == ZB_EVENT_GROUP_EPOCH) {
                CHECK(e->group == group, "epoch of group %u", e->group);
                members = e->members;
                epoch = e->epoch;
                for (size_t i = 0; i < e->members; i++) {
                    int why = -1;
                    CHECK(zb_event_member(e, i, &why) != UINT32_MAX && why == 0, "member %zu", i);
                }
            }
            zb_event_free(e);
        }
        for (int i = 0; i < 2; i++)
            while ((e = zb_poll_event(nodes[i])) != NULL) zb_event_free(e);
    }
    uint64_t now = 0;
    size_t count = 0;
    CHECK(zb_group_epoch(hub, group, &now, &count) == ZB_OK && now == epoch && count == 2, "group epoch");
    CHECK(zb_write_group(hub, group, epoch + 1, 0x02, NULL, 0, NULL) == ZB_ESTALE, "stale epoch");

    uint32_t received[2] = {0, 0};
    uint64_t seq = 0, delivered = 0;
    for (uint32_t n = 0; n < COUNT; n++) {
        char chunk[64];
        int len = snprintf(chunk, sizeof chunk, "state %u", n);
        CHECK(zb_write_group(hub, group, epoch, 0x02, (const uint8_t *)chunk, (size_t)len, &seq) == ZB_OK,
              "write %u", n);
        CHECK(seq == (uint64_t)n + 1, "write %u got sequence %llu", n, (unsigned long long)seq);
    }
    while (received[0] < COUNT || received[1] < COUNT || delivered < COUNT) {
        wait_on(all, 3);
        zb_event *e;
        for (int i = 0; i < 2; i++) {
            while ((e = zb_poll_event(nodes[i])) != NULL) {
                if (e->kind == ZB_EVENT_GROUP_CHUNK) {
                    char expected[64];
                    int len = snprintf(expected, sizeof expected, "state %u", received[i]);
                    CHECK(e->group == group && e->epoch == epoch && e->seq == (uint64_t)received[i] + 1,
                          "%s: group chunk %u out of place", names[i], received[i]);
                    CHECK(e->chunk->len == (size_t)len && memcmp(e->chunk->data, expected, (size_t)len) == 0,
                          "%s: group chunk %u is not its own", names[i], received[i]);
                    received[i]++;
                }
                CHECK(e->kind != ZB_EVENT_PEER_DOWN, "link dropped: %s", e->text);
                zb_event_free(e);
            }
        }
        while ((e = zb_poll_event(hub)) != NULL) {
            CHECK(e->kind != ZB_EVENT_GROUP_HANDED_BACK, "handed back from %llu", (unsigned long long)e->seq);
            CHECK(e->kind != ZB_EVENT_GROUP_EPOCH, "the group changed epoch");
            if (e->kind == ZB_EVENT_GROUP_DELIVERED) {
                CHECK(e->group == group && e->epoch == epoch && e->seq == delivered + 1, "delivered out of order");
                delivered = e->seq_end;
            }
            zb_event_free(e);
        }
    }

    /* Nobody reads any more; the hub writes EXTRA more and stops. */
    for (uint32_t n = 0; n < EXTRA; n++)
        CHECK(zb_write_group(hub, group, epoch, 0x02, (const uint8_t *)"x", 1, &seq) == ZB_OK, "extra %u", n);
    CHECK(zb_manager_stop(hub) == ZB_OK, "stop");
    static unsigned char back[EXTRA];
    uint32_t came_back = 0;
    zb_event *e;
    while ((e = zb_poll_event(hub)) != NULL) {
        if (e->kind == ZB_EVENT_GROUP_HANDED_BACK) {
            CHECK(e->members == 2, "%zu members named", e->members);
            for (size_t i = 0; i < e->members; i++) {
                int why = 0;
                CHECK(zb_event_member(e, i, &why) != UINT32_MAX, "member %zu", i);
                CHECK(why == ZB_BACK_UNSENT || why == ZB_BACK_SHUTDOWN, "missed for %d", why);
            }
            CHECK(zb_event_member(e, e->members, NULL) == UINT32_MAX, "past the members");
            for (size_t i = 0; i < e->returned; i++) {
                uint64_t s = e->seq + i;
                CHECK(s > COUNT && s <= COUNT + EXTRA, "sequence %llu handed back", (unsigned long long)s);
                CHECK(!back[s - COUNT - 1], "sequence %llu twice", (unsigned long long)s);
                back[s - COUNT - 1] = 1;
                came_back++;
            }
        }
        CHECK(e->kind != ZB_EVENT_GROUP_DELIVERED || e->seq_end <= COUNT, "an extra chunk was delivered");
        zb_event_free(e);
    }
    CHECK(came_back == EXTRA, "%u of %d came back", came_back, EXTRA);
    printf("OK %u group chunks to 2 members in order, %llu delivered, %d handed back on stop\n", received[0],
           (unsigned long long)delivered, EXTRA);
    for (int i = 0; i < 2; i++) zb_manager_destroy(nodes[i]);
    zb_manager_destroy(hub);
    return 0;
}
