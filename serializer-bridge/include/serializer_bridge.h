/* The serializer bridge's C ABI: carry serialized chunks between cluster peers.
 * Generated from serializer-bridge/src/ffi.rs by cbindgen (see tests/header.rs); do not edit. */

#ifndef SERIALIZER_BRIDGE_H
#define SERIALIZER_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

/*
 Success.
 */
#define ZB_OK 0

/*
 A pointer or string argument is NULL or not UTF-8.
 */
#define ZB_EINVAL -1

/*
 No such peer.
 */
#define ZB_ENOPEER -2

/*
 The peer is down; wait for its PEER_UP.
 */
#define ZB_EDOWN -3

/*
 The chunk's epoch is not the peer's current one.
 */
#define ZB_ESTALE -4

/*
 The peer's queue is at its hard cap.
 */
#define ZB_EFULL -5

/*
 The message type is unknown or not carried between peers.
 */
#define ZB_ETYPE -6

/*
 The manager is closed, or a panic was caught.
 */
#define ZB_ECLOSED -7

/*
 The chunk alone is longer than the peer queue's hard byte cap.
 */
#define ZB_ETOOLARGE -8

/*
 Event kind: a link is up in a new epoch.
 */
#define ZB_EVENT_PEER_UP 1

/*
 Event kind: a link went down (`reason` is a `ZB_DOWN_*`); outcomes of
 its chunks follow as DELIVERED and HANDED_BACK events.
 */
#define ZB_EVENT_PEER_DOWN 2

/*
 Event kind: the peer passed its soft cap.
 */
#define ZB_EVENT_FILLING_UP 3

/*
 Event kind: the peer fell back below half its soft cap.
 */
#define ZB_EVENT_DRAINED 4

/*
 Event kind: a chunk arrived.
 */
#define ZB_EVENT_CHUNK 5

/*
 Event kind: a link that belongs to no peer broke the protocol and was
 closed (`seq` counts repeats).
 */
#define ZB_EVENT_REFUSED 6

/*
 Event kind: chunks `1..=seq` of `epoch` reached the peer's application.
 */
#define ZB_EVENT_DELIVERED 7

/*
 Event kind: `returned` chunks from sequence `seq` of `epoch` were not
 delivered and will not be (`reason` is a `ZB_BACK_*`); read them with
 [`zb_event_returned`].
 */
#define ZB_EVENT_HANDED_BACK 8

/*
 Event kind: chunks `seq..=seq_end` of `epoch`, handed back as EXPIRED,
 reached the peer after all.
 */
#define ZB_EVENT_DELIVERED_AFTER_HAND_BACK 9

/*
 Event kind: a group chunk arrived: `group`, group epoch `epoch`, group
 sequence `seq`, the chunk in `chunk`. A new epoch for (peer, group)
 means: reset that group's cache.
 */
#define ZB_EVENT_GROUP_CHUNK 10

/*
 Event kind: our `group` moved to group epoch `epoch`; its members are
 read with [`zb_event_member`] (`members` of them), and the `seq` that
 left, after them, with their `ZB_LEFT_*` reasons.
 */
#define ZB_EVENT_GROUP_EPOCH 11

/*
 Event kind: group chunks `seq..=seq_end` of `group`'s epoch `epoch`
 reached every member they were written to.
 */
#define ZB_EVENT_GROUP_DELIVERED 12

/*
 Event kind: `returned` group chunks from `seq` of `group`'s epoch
 `epoch` did not reach the `members` members read with
 [`zb_event_member`] (with a `ZB_BACK_*` or `ZB_LEFT_*` reason each).
 */
#define ZB_EVENT_GROUP_HANDED_BACK 13

/*
 A member's reason: it lagged past the group's cap.
 */
#define ZB_LEFT_LAGGING 20

/*
 A member's reason: its link went down.
 */
#define ZB_LEFT_LINK_DOWN 21

/*
 A member's reason: its link refused the chunk (full, down).
 */
#define ZB_LEFT_REFUSED 22

/*
 The group has no member in its epoch.
 */
#define ZB_ENOMEMBERS -9

/*
 No such group.
 */
#define ZB_ENOGROUP -10

/*
 PEER_DOWN reason: the transport closed the link.
 */
#define ZB_DOWN_CLOSED 1

/*
 PEER_DOWN reason: a new handshake replaced the link.
 */
#define ZB_DOWN_REPLACED 2

/*
 PEER_DOWN reason: the peer broke the protocol.
 */
#define ZB_DOWN_PROTOCOL 3

/*
 PEER_DOWN reason: the peer refused the link.
 */
#define ZB_DOWN_REFUSED 4

/*
 PEER_DOWN reason: the manager is shutting down.
 */
#define ZB_DOWN_SHUTDOWN 5

/*
 HANDED_BACK reason: never sent.
 */
#define ZB_BACK_UNSENT 1

/*
 HANDED_BACK reason: the peer's record says it did not deliver them.
 */
#define ZB_BACK_NOT_DELIVERED 2

/*
 HANDED_BACK reason: the peer restarted.
 */
#define ZB_BACK_PEER_RESTARTED 3

/*
 HANDED_BACK reason: the peer did not come back within the in-doubt
 timeout.
 */
#define ZB_BACK_EXPIRED 4

/*
 HANDED_BACK reason: the manager shut down.
 */
#define ZB_BACK_SHUTDOWN 5

/*
 Most distinct groups a peer may send on one link epoch.
 */
#define MAX_GROUPS_PER_LINK 64

/*
 The longest node name, in bytes (a ZMTP routing id's limit).
 */
#define MAX_NODE_NAME 255

/*
 The longest REFUSE text we send or accept, in bytes.
 */
#define MAX_REFUSE_TEXT 1024

/*
 A cache epoch number. Epochs of a peer only ever increase.
 */
typedef struct CacheEpoch CacheEpoch;

/*
 Builder for a manager's configuration.
 */
typedef struct zb_config zb_config;

/*
 A running peer manager.
 */
typedef struct zb_manager zb_manager;

/*
 A chunk handed to C: read its fields, free it with [`zb_chunk_free`].
 */
typedef struct zb_chunk {
  /*
   The epoch it belongs to.
   */
  uint64_t epoch;
  /*
   Its cluster message type code.
   */
  uint8_t kind;
  /*
   Its bytes (valid until freed).
   */
  const uint8_t *data;
  /*
   Their count.
   */
  size_t len;
} zb_chunk;

/*
 An event handed to C: read its fields, free it with [`zb_event_free`].
 */
typedef struct zb_event {
  /*
   One of the `ZB_EVENT_*` kinds.
   */
  int kind;
  /*
   The peer (unused for REFUSED).
   */
  uint32_t peer;
  /*
   The epoch (PEER_UP, PEER_DOWN, CHUNK); the group epoch (GROUP_*).
   */
  uint64_t epoch;
  /*
   The chunk (CHUNK and GROUP_CHUNK; else NULL).
   */
  const struct zb_chunk *chunk;
  /*
   The node name (PEER_UP, REFUSED) or the reason in words (PEER_DOWN,
   HANDED_BACK), NUL-terminated.
   */
  const char *text;
  /*
   Chunks handed back (HANDED_BACK, GROUP_HANDED_BACK; read with
   [`zb_event_returned`]).
   */
  size_t returned;
  /*
   DELIVERED: the highest sequence delivered; HANDED_BACK and
   DELIVERED_AFTER_HAND_BACK: the first sequence; REFUSED: repeats;
   GROUP_CHUNK: its group sequence; GROUP_DELIVERED and
   GROUP_HANDED_BACK: the first group sequence; GROUP_EPOCH: how many
   members left.
   */
  uint64_t seq;
  /*
   DELIVERED_AFTER_HAND_BACK and GROUP_DELIVERED: the last sequence.
   */
  uint64_t seq_end;
  /*
   PEER_DOWN: a `ZB_DOWN_*`; HANDED_BACK: a `ZB_BACK_*`; else 0.
   */
  int reason;
  /*
   The group (GROUP_* events; else 0).
   */
  uint32_t group;
  /*
   Peers to read with [`zb_event_member`] (GROUP_EPOCH: its members;
   GROUP_HANDED_BACK: those that missed the chunks).
   */
  size_t members;
} zb_event;

/*
 Per-peer counters for C.
 */
typedef struct zb_stats {
  /*
   Payload bytes received.
   */
  uint64_t bytes_in;
  /*
   Payload bytes sent.
   */
  uint64_t bytes_out;
  /*
   Chunks received.
   */
  uint64_t chunks_in;
  /*
   Chunks sent.
   */
  uint64_t chunks_out;
  /*
   Chunks queued or unacknowledged.
   */
  uint64_t pending;
  /*
   Messages handed to the socket layer.
   */
  uint64_t write_calls;
  /*
   Chunks the application took.
   */
  uint64_t read_calls;
  /*
   Epochs started.
   */
  uint64_t epochs;
  /*
   Bytes queued or unacknowledged.
   */
  uint64_t pending_bytes;
  /*
   Writes refused at the hard cap.
   */
  uint64_t refused_writes;
  /*
   Chunks sent in an ended epoch, waiting for their outcome.
   */
  uint64_t in_doubt;
  /*
   Received chunks dropped unread because their epoch ended.
   */
  uint64_t dropped_unread;
  /*
   Messages of a dead link or an earlier handshake, ignored.
   */
  uint64_t stale;
  /*
   Links lost for breaking the protocol.
   */
  uint64_t protocol_errors;
} zb_stats;





#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/*
 Creates a configuration for the node called `node`; NULL on a bad name.

 # Safety
 `node` is a NUL-terminated string.
 */
struct zb_config *zb_config_new(const char *node);

/*
 Adds an endpoint to accept peers on.

 # Safety
 `config` comes from [`zb_config_new`]; `endpoint` is NUL-terminated.
 */
int zb_config_listen(struct zb_config *config, const char *endpoint);

/*
 Adds a peer to connect to.

 # Safety
 `config` comes from [`zb_config_new`]; the strings are NUL-terminated.
 */
int zb_config_peer(struct zb_config *config, const char *name, const char *endpoint);

/*
 Sets the per-peer queue caps (chunks and bytes, soft and hard).

 # Safety
 `config` comes from [`zb_config_new`].
 */
int zb_config_caps(struct zb_config *config,
                   size_t soft_chunks,
                   size_t hard_chunks,
                   size_t soft_bytes,
                   size_t hard_bytes);

/*
 Frees a configuration that was not started.

 # Safety
 `config` comes from [`zb_config_new`] and is not used afterwards.
 */
void zb_config_free(struct zb_config *config);

/*
 Starts a manager; the configuration is consumed either way. On failure
 returns NULL and writes a NUL-terminated reason into `error` (if not
 NULL, at most `error_len` bytes).

 # Safety
 `config` comes from [`zb_config_new`]; `error` is NULL or writable for
 `error_len` bytes.
 */
struct zb_manager *zb_manager_start(struct zb_config *config, char *error, size_t error_len);

/*
 Stops a manager's links and hands back every chunk still owed: the
 HANDED_BACK events (reason `ZB_BACK_SHUTDOWN`) can then be taken with
 [`zb_poll_event`] before [`zb_manager_destroy`]. Writes are refused from
 now on.

 # Safety
 `manager` comes from [`zb_manager_start`].
 */
int zb_manager_stop(const struct zb_manager *manager);

/*
 Stops a manager and frees it. Events not taken are dropped: call
 [`zb_manager_stop`] and take them first to see the final hand-backs.

 # Safety
 `manager` comes from [`zb_manager_start`] and is not used afterwards.
 */
void zb_manager_destroy(struct zb_manager *manager);

/*
 A descriptor that is readable while events wait; -1 on a NULL manager.

 # Safety
 `manager` comes from [`zb_manager_start`].
 */
int zb_manager_fd(const struct zb_manager *manager);

/*
 The first bound endpoint (ephemeral ports resolved), NUL-terminated,
 into `out` (at most `out_len` bytes). Returns its length, or an error.

 # Safety
 `manager` comes from [`zb_manager_start`]; `out` is writable for
 `out_len` bytes.
 */
int zb_manager_endpoint(const struct zb_manager *manager, char *out, size_t out_len);

/*
 Looks a peer up by node name.

 # Safety
 `manager` comes from [`zb_manager_start`]; `name` is NUL-terminated;
 `peer` is writable.
 */
int zb_peer_id(const struct zb_manager *manager, const char *name, uint32_t *peer);

/*
 Queues a chunk (copied from `data`) for `peer`, serialized in `epoch`,
 of cluster message type `kind` (0x02 for SERIAL). On success `*seq`
 (if not NULL) is its sequence in the epoch, which its DELIVERED or
 HANDED_BACK event will name.

 # Safety
 `manager` comes from [`zb_manager_start`]; `data` is readable for `len`
 bytes (or `len` is 0); `seq` is NULL or writable.
 */
int zb_write(const struct zb_manager *manager,
             uint32_t peer,
             uint64_t epoch,
             uint8_t kind,
             const uint8_t *data,
             size_t len,
             uint64_t *seq);

/*
 Creates the group `name` of the `count` peers named in `members` (node
 names, known now or later), or adds them to it if it exists; `*group`
 gets its id. A GROUP_EPOCH event follows when a member's link is up.

 # Safety
 `manager` comes from [`zb_manager_start`]; `name` and each of the
 `count` entries of `members` are NUL-terminated strings; `group` is
 writable.
 */
int zb_join_group(const struct zb_manager *manager,
                  const char *name,
                  const char *const *members,
                  size_t count,
                  uint32_t *group);

/*
 The group's current epoch (0 before its first) in `*epoch` and its
 member count in `*members` (either may be NULL).

 # Safety
 `manager` comes from [`zb_manager_start`]; `epoch` and `members` are
 NULL or writable.
 */
int zb_group_epoch(const struct zb_manager *manager,
                   uint32_t group,
                   uint64_t *epoch,
                   size_t *members);

/*
 Writes one chunk, encoded once for `group`'s current `epoch`, to every
 member (the bytes are copied once and then shared by all the links).
 On success `*seq` (if not NULL) is its sequence in the group epoch,
 which its GROUP_DELIVERED or GROUP_HANDED_BACK event will name.

 # Safety
 As for [`zb_write`].
 */
int zb_write_group(const struct zb_manager *manager,
                   uint32_t group,
                   uint64_t epoch,
                   uint8_t kind,
                   const uint8_t *data,
                   size_t len,
                   uint64_t *seq);

/*
 Takes the next event, or NULL if none waits. Free it with
 [`zb_event_free`].

 # Safety
 `manager` comes from [`zb_manager_start`].
 */
struct zb_event *zb_poll_event(const struct zb_manager *manager);

/*
 The `index`-th peer a GROUP_EPOCH or GROUP_HANDED_BACK event lists, or
 `UINT32_MAX`. `*reason`, if not NULL, gets its reason: 0 for a member
 of a new epoch, a `ZB_LEFT_*` for one that left (GROUP_EPOCH lists
 them after its `members`, `seq` of them), a `ZB_BACK_*` or `ZB_LEFT_*`
 for one that missed handed-back chunks.

 # Safety
 `event` comes from [`zb_poll_event`] and is not yet freed; `reason` is
 NULL or writable.
 */
uint32_t zb_event_member(const struct zb_event *event, size_t index, int *reason);

/*
 The `index`-th chunk a HANDED_BACK event returned (sequence
 `seq + index`), or NULL.

 # Safety
 `event` comes from [`zb_poll_event`] and is not yet freed.
 */
const struct zb_chunk *zb_event_returned(const struct zb_event *event, size_t index);

/*
 Frees an event and everything it points to.

 # Safety
 `event` comes from [`zb_poll_event`] and is not used afterwards.
 */
void zb_event_free(struct zb_event *event);

/*
 Reads the next chunk from `peer` (ChunkedIO's `Read`), or NULL. Free it
 with [`zb_chunk_free`].

 # Safety
 `manager` comes from [`zb_manager_start`].
 */
struct zb_chunk *zb_read(const struct zb_manager *manager, uint32_t peer);

/*
 Frees a chunk from [`zb_read`].

 # Safety
 `chunk` comes from [`zb_read`] and is not used afterwards.
 */
void zb_chunk_free(struct zb_chunk *chunk);

/*
 Copies `peer`'s counters into `out`.

 # Safety
 `manager` comes from [`zb_manager_start`]; `out` is writable.
 */
int zb_peer_stats(const struct zb_manager *manager, uint32_t peer, struct zb_stats *out);

/*
 1 if `peer` is past its soft cap, 0 if not, or an error.

 # Safety
 `manager` comes from [`zb_manager_start`].
 */
int zb_is_filling_up(const struct zb_manager *manager, uint32_t peer);

/*
 1 if nothing is pending either way for `peer`, 0 if not, or an error.

 # Safety
 `manager` comes from [`zb_manager_start`].
 */
int zb_is_idle(const struct zb_manager *manager, uint32_t peer);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* SERIALIZER_BRIDGE_H */
