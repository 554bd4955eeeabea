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
 Event kind: a link is up in a new epoch.
 */
#define ZB_EVENT_PEER_UP 1

/*
 Event kind: a link went down; chunks come back with the event.
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
 Event kind: a link was refused during the bridge hello.
 */
#define ZB_EVENT_REFUSED 6

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
   The epoch (PEER_UP, PEER_DOWN, CHUNK).
   */
  uint64_t epoch;
  /*
   The chunk (CHUNK only; else NULL).
   */
  const struct zb_chunk *chunk;
  /*
   The node name (PEER_UP, REFUSED) or reason (PEER_DOWN), NUL-terminated.
   */
  const char *text;
  /*
   Chunks handed back by PEER_DOWN (read with [`zb_event_returned`]).
   */
  size_t returned;
  /*
   How many of the returned chunks were never sent (the rest were sent
   but not acknowledged).
   */
  size_t unsent;
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
 Stops a manager and frees it.

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
 of cluster message type `kind` (0x02 for SERIAL).

 # Safety
 `manager` comes from [`zb_manager_start`]; `data` is readable for `len`
 bytes (or `len` is 0).
 */
int zb_write(const struct zb_manager *manager,
             uint32_t peer,
             uint64_t epoch,
             uint8_t kind,
             const uint8_t *data,
             size_t len);

/*
 Takes the next event, or NULL if none waits. Free it with
 [`zb_event_free`].

 # Safety
 `manager` comes from [`zb_manager_start`].
 */
struct zb_event *zb_poll_event(const struct zb_manager *manager);

/*
 The `index`-th chunk a PEER_DOWN event handed back (the first `unsent`
 were never sent), or NULL.

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
