//! The C ABI: the peer manager for C and C++ programs (a Zeek IOSource, say).
//!
//! Every function is prefixed `zb_`; the declarations are in
//! `include/serializer_bridge.h`, kept current by a test. Conventions:
//! - objects are opaque pointers created and destroyed by this library;
//! - functions returning `int` return 0 on success or a negative `ZB_E*`
//!   code; none of them ever unwinds into C (panics are caught);
//! - nothing blocks: put [`zb_manager_fd`] in your own `poll`/`select` and
//!   call [`zb_poll_event`] when it is readable;
//! - a chunk the manager refuses is still yours (the caller's buffer is
//!   only read, never kept).
//!
//! # Safety
//!
//! Pointers passed in must be valid for the documented use: strings
//! NUL-terminated, `data` readable for `len` bytes, objects not yet freed.
//! Each `unsafe` block below names the precondition it relies on.

#![allow(unsafe_code)]

use std::ffi::{CStr, c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use bytes::Bytes;

use crate::chunk::Chunk;
use crate::config::{BridgeConfig, PeerConfig};
use crate::epoch::CacheEpoch;
use crate::event::{Event, PeerId};
use crate::group::{GroupId, GroupMiss, GroupWriteRefused, LeaveReason};
use crate::manager::PeerManager;
use crate::message_type::MessageType;
use crate::session::{HandBack, LinkDown, WriteRefused};

/// Success.
pub const ZB_OK: c_int = 0;
/// A pointer or string argument is NULL or not UTF-8.
pub const ZB_EINVAL: c_int = -1;
/// No such peer.
pub const ZB_ENOPEER: c_int = -2;
/// The peer is down; wait for its PEER_UP.
pub const ZB_EDOWN: c_int = -3;
/// The chunk's epoch is not the peer's current one.
pub const ZB_ESTALE: c_int = -4;
/// The peer's queue is at its hard cap.
pub const ZB_EFULL: c_int = -5;
/// The message type is unknown or not carried between peers.
pub const ZB_ETYPE: c_int = -6;
/// The manager is closed, or a panic was caught.
pub const ZB_ECLOSED: c_int = -7;
/// The chunk alone is longer than the peer queue's hard byte cap.
pub const ZB_ETOOLARGE: c_int = -8;

/// Event kind: a link is up in a new epoch.
pub const ZB_EVENT_PEER_UP: c_int = 1;
/// Event kind: a link went down (`reason` is a `ZB_DOWN_*`); outcomes of
/// its chunks follow as DELIVERED and HANDED_BACK events.
pub const ZB_EVENT_PEER_DOWN: c_int = 2;
/// Event kind: the peer passed its soft cap.
pub const ZB_EVENT_FILLING_UP: c_int = 3;
/// Event kind: the peer fell back below half its soft cap.
pub const ZB_EVENT_DRAINED: c_int = 4;
/// Event kind: a chunk arrived.
pub const ZB_EVENT_CHUNK: c_int = 5;
/// Event kind: a link that belongs to no peer broke the protocol and was
/// closed (`seq` counts repeats).
pub const ZB_EVENT_REFUSED: c_int = 6;
/// Event kind: chunks `1..=seq` of `epoch` reached the peer's application.
pub const ZB_EVENT_DELIVERED: c_int = 7;
/// Event kind: `returned` chunks from sequence `seq` of `epoch` were not
/// delivered and will not be (`reason` is a `ZB_BACK_*`); read them with
/// [`zb_event_returned`].
pub const ZB_EVENT_HANDED_BACK: c_int = 8;
/// Event kind: chunks `seq..=seq_end` of `epoch`, handed back as EXPIRED,
/// reached the peer after all.
pub const ZB_EVENT_DELIVERED_AFTER_HAND_BACK: c_int = 9;

/// Event kind: a group chunk arrived: `group`, group epoch `epoch`, group
/// sequence `seq`, the chunk in `chunk`. A new epoch for (peer, group)
/// means: reset that group's cache.
pub const ZB_EVENT_GROUP_CHUNK: c_int = 10;
/// Event kind: our `group` moved to group epoch `epoch`; its members are
/// read with [`zb_event_member`] (`members` of them), and the `seq` that
/// left, after them, with their `ZB_LEFT_*` reasons.
pub const ZB_EVENT_GROUP_EPOCH: c_int = 11;
/// Event kind: group chunks `seq..=seq_end` of `group`'s epoch `epoch`
/// reached every member they were written to.
pub const ZB_EVENT_GROUP_DELIVERED: c_int = 12;
/// Event kind: `returned` group chunks from `seq` of `group`'s epoch
/// `epoch` did not reach the `members` members read with
/// [`zb_event_member`] (with a `ZB_BACK_*` or `ZB_LEFT_*` reason each).
pub const ZB_EVENT_GROUP_HANDED_BACK: c_int = 13;

/// A member's reason: it lagged past the group's cap.
pub const ZB_LEFT_LAGGING: c_int = 20;
/// A member's reason: its link went down.
pub const ZB_LEFT_LINK_DOWN: c_int = 21;
/// A member's reason: its link refused the chunk (full, down).
pub const ZB_LEFT_REFUSED: c_int = 22;

/// The group has no member in its epoch.
pub const ZB_ENOMEMBERS: c_int = -9;
/// No such group.
pub const ZB_ENOGROUP: c_int = -10;

/// PEER_DOWN reason: the transport closed the link.
pub const ZB_DOWN_CLOSED: c_int = 1;
/// PEER_DOWN reason: a new handshake replaced the link.
pub const ZB_DOWN_REPLACED: c_int = 2;
/// PEER_DOWN reason: the peer broke the protocol.
pub const ZB_DOWN_PROTOCOL: c_int = 3;
/// PEER_DOWN reason: the peer refused the link.
pub const ZB_DOWN_REFUSED: c_int = 4;
/// PEER_DOWN reason: the manager is shutting down.
pub const ZB_DOWN_SHUTDOWN: c_int = 5;

/// HANDED_BACK reason: never sent.
pub const ZB_BACK_UNSENT: c_int = 1;
/// HANDED_BACK reason: the peer's record says it did not deliver them.
pub const ZB_BACK_NOT_DELIVERED: c_int = 2;
/// HANDED_BACK reason: the peer restarted.
pub const ZB_BACK_PEER_RESTARTED: c_int = 3;
/// HANDED_BACK reason: the peer did not come back within the in-doubt
/// timeout.
pub const ZB_BACK_EXPIRED: c_int = 4;
/// HANDED_BACK reason: the manager shut down.
pub const ZB_BACK_SHUTDOWN: c_int = 5;

/// Builder for a manager's configuration.
pub struct ZbConfig {
    config: BridgeConfig,
}

/// A running peer manager.
pub struct ZbManager {
    manager: PeerManager,
}

/// A chunk handed to C: read its fields, free it with [`zb_chunk_free`].
#[repr(C)]
pub struct ZbChunk {
    /// The epoch it belongs to.
    pub epoch: u64,
    /// Its cluster message type code.
    pub kind: u8,
    /// Its bytes (valid until freed).
    pub data: *const u8,
    /// Their count.
    pub len: usize,
}

/// A [`ZbChunk`] with the bytes it points into. `repr(C)` with the public
/// part first, so a pointer to one is a pointer to the other.
#[repr(C)]
struct ChunkBox {
    chunk: ZbChunk,
    bytes: Bytes,
}

/// An event handed to C: read its fields, free it with [`zb_event_free`].
#[repr(C)]
pub struct ZbEvent {
    /// One of the `ZB_EVENT_*` kinds.
    pub kind: c_int,
    /// The peer (unused for REFUSED).
    pub peer: u32,
    /// The epoch (PEER_UP, PEER_DOWN, CHUNK); the group epoch (GROUP_*).
    pub epoch: u64,
    /// The chunk (CHUNK and GROUP_CHUNK; else NULL).
    pub chunk: *const ZbChunk,
    /// The node name (PEER_UP, REFUSED) or the reason in words (PEER_DOWN,
    /// HANDED_BACK), NUL-terminated.
    pub text: *const c_char,
    /// Chunks handed back (HANDED_BACK, GROUP_HANDED_BACK; read with
    /// [`zb_event_returned`]).
    pub returned: usize,
    /// DELIVERED: the highest sequence delivered; HANDED_BACK and
    /// DELIVERED_AFTER_HAND_BACK: the first sequence; REFUSED: repeats;
    /// GROUP_CHUNK: its group sequence; GROUP_DELIVERED and
    /// GROUP_HANDED_BACK: the first group sequence; GROUP_EPOCH: how many
    /// members left.
    pub seq: u64,
    /// DELIVERED_AFTER_HAND_BACK and GROUP_DELIVERED: the last sequence.
    pub seq_end: u64,
    /// PEER_DOWN: a `ZB_DOWN_*`; HANDED_BACK: a `ZB_BACK_*`; else 0.
    pub reason: c_int,
    /// The group (GROUP_* events; else 0).
    pub group: u32,
    /// Peers to read with [`zb_event_member`] (GROUP_EPOCH: its members;
    /// GROUP_HANDED_BACK: those that missed the chunks).
    pub members: usize,
}

/// A [`ZbEvent`] with everything it points into; public part first, as
/// for [`ChunkBox`].
#[repr(C)]
struct EventBox {
    event: ZbEvent,
    text: std::ffi::CString,
    chunk: Option<Box<ChunkBox>>,
    returned: Vec<ChunkBox>,
    peers: Vec<(u32, c_int)>,
}

/// Per-peer counters for C.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct ZbStats {
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
    /// Chunks received.
    pub chunks_in: u64,
    /// Chunks sent.
    pub chunks_out: u64,
    /// Chunks queued or unacknowledged.
    pub pending: u64,
    /// Messages handed to the socket layer.
    pub write_calls: u64,
    /// Chunks the application took.
    pub read_calls: u64,
    /// Epochs started.
    pub epochs: u64,
    /// Bytes queued or unacknowledged.
    pub pending_bytes: u64,
    /// Writes refused at the hard cap.
    pub refused_writes: u64,
    /// Chunks sent in an ended epoch, waiting for their outcome.
    pub in_doubt: u64,
    /// Received chunks dropped unread because their epoch ended.
    pub dropped_unread: u64,
    /// Messages of a dead link or an earlier handshake, ignored.
    pub stale: u64,
    /// Links lost for breaking the protocol.
    pub protocol_errors: u64,
}

/// Runs `f`, turning a panic into `fallback` (no unwinding into C).
fn guard<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// Reads a C string argument.
///
/// # Safety
/// `s` is NULL or points to a NUL-terminated string.
unsafe fn text<'a>(s: *const c_char) -> Option<&'a str> {
    if s.is_null() {
        return None;
    }
    // SAFETY: non-NULL and NUL-terminated per this function's contract.
    unsafe { CStr::from_ptr(s) }.to_str().ok()
}

fn chunk_for_c(chunk: Chunk) -> ChunkBox {
    ChunkBox {
        chunk: ZbChunk {
            epoch: chunk.epoch.0,
            kind: chunk.kind.code(),
            data: chunk.data.as_ptr(),
            len: chunk.data.len(),
        },
        bytes: chunk.data,
    }
}

/// Creates a configuration for the node called `node`; NULL on a bad name.
///
/// # Safety
/// `node` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_config_new(node: *const c_char) -> *mut ZbConfig {
    guard(ptr::null_mut(), || {
        // SAFETY: the caller passes a NUL-terminated string (contract above).
        match unsafe { text(node) } {
            Some(node) if !node.is_empty() => Box::into_raw(Box::new(ZbConfig {
                config: BridgeConfig::new(node),
            })),
            _ => ptr::null_mut(),
        }
    })
}

/// Adds an endpoint to accept peers on.
///
/// # Safety
/// `config` comes from [`zb_config_new`]; `endpoint` is NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_config_listen(config: *mut ZbConfig, endpoint: *const c_char) -> c_int {
    guard(ZB_ECLOSED, || {
        // SAFETY: `config` is a live pointer from zb_config_new and the
        // string is NUL-terminated (contract above).
        let (Some(config), Some(endpoint)) =
            (unsafe { config.as_mut() }, unsafe { text(endpoint) })
        else {
            return ZB_EINVAL;
        };
        config.config.listen.push(endpoint.to_owned());
        ZB_OK
    })
}

/// Adds a peer to connect to.
///
/// # Safety
/// `config` comes from [`zb_config_new`]; the strings are NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_config_peer(
    config: *mut ZbConfig,
    name: *const c_char,
    endpoint: *const c_char,
) -> c_int {
    guard(ZB_ECLOSED, || {
        // SAFETY: as in zb_config_listen.
        let (Some(config), Some(name), Some(endpoint)) =
            (unsafe { config.as_mut() }, unsafe { text(name) }, unsafe {
                text(endpoint)
            })
        else {
            return ZB_EINVAL;
        };
        config.config.peers.push(PeerConfig {
            name: name.to_owned(),
            endpoint: endpoint.to_owned(),
        });
        ZB_OK
    })
}

/// Sets the per-peer queue caps (chunks and bytes, soft and hard).
///
/// # Safety
/// `config` comes from [`zb_config_new`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_config_caps(
    config: *mut ZbConfig,
    soft_chunks: usize,
    hard_chunks: usize,
    soft_bytes: usize,
    hard_bytes: usize,
) -> c_int {
    guard(ZB_ECLOSED, || {
        // SAFETY: a live pointer from zb_config_new (contract above).
        let Some(config) = (unsafe { config.as_mut() }) else {
            return ZB_EINVAL;
        };
        config.config.caps = crate::config::Caps {
            soft_chunks,
            hard_chunks,
            soft_bytes,
            hard_bytes,
        };
        ZB_OK
    })
}

/// Frees a configuration that was not started.
///
/// # Safety
/// `config` comes from [`zb_config_new`] and is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_config_free(config: *mut ZbConfig) {
    if !config.is_null() {
        // SAFETY: a pointer from Box::into_raw in zb_config_new, freed once.
        drop(unsafe { Box::from_raw(config) });
    }
}

/// Starts a manager; the configuration is consumed either way. On failure
/// returns NULL and writes a NUL-terminated reason into `error` (if not
/// NULL, at most `error_len` bytes).
///
/// # Safety
/// `config` comes from [`zb_config_new`]; `error` is NULL or writable for
/// `error_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_manager_start(
    config: *mut ZbConfig,
    error: *mut c_char,
    error_len: usize,
) -> *mut ZbManager {
    if config.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: a pointer from Box::into_raw in zb_config_new, taken once.
    let config = unsafe { Box::from_raw(config) }.config;
    let result = guard(Err("panic while starting".to_string()), || {
        PeerManager::start(config).map_err(|e| e.to_string())
    });
    match result {
        Ok(manager) => Box::into_raw(Box::new(ZbManager { manager })),
        Err(reason) => {
            if !error.is_null() && error_len > 0 {
                let n = reason.len().min(error_len - 1);
                // SAFETY: `error` is writable for error_len bytes (contract
                // above) and n + 1 <= error_len.
                unsafe {
                    ptr::copy_nonoverlapping(reason.as_ptr(), error.cast::<u8>(), n);
                    *error.add(n) = 0;
                }
            }
            ptr::null_mut()
        }
    }
}

/// Stops a manager's links and hands back every chunk still owed: the
/// HANDED_BACK events (reason `ZB_BACK_SHUTDOWN`) can then be taken with
/// [`zb_poll_event`] before [`zb_manager_destroy`]. Writes are refused from
/// now on.
///
/// # Safety
/// `manager` comes from [`zb_manager_start`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_manager_stop(manager: *const ZbManager) -> c_int {
    guard(ZB_ECLOSED, || {
        // SAFETY: live manager (contract above).
        let Some(m) = (unsafe { borrow(manager) }) else {
            return ZB_EINVAL;
        };
        m.close();
        ZB_OK
    })
}

/// Stops a manager and frees it. Events not taken are dropped: call
/// [`zb_manager_stop`] and take them first to see the final hand-backs.
///
/// # Safety
/// `manager` comes from [`zb_manager_start`] and is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_manager_destroy(manager: *mut ZbManager) {
    if !manager.is_null() {
        // SAFETY: a pointer from Box::into_raw in zb_manager_start, freed once.
        let manager = unsafe { Box::from_raw(manager) };
        guard((), || drop(manager.manager.shutdown()));
    }
}

/// Borrows the manager behind a C pointer.
///
/// # Safety
/// `manager` is NULL or a live pointer from [`zb_manager_start`].
unsafe fn borrow<'a>(manager: *const ZbManager) -> Option<&'a PeerManager> {
    // SAFETY: per this function's contract.
    unsafe { manager.as_ref() }.map(|m| &m.manager)
}

/// A descriptor that is readable while events wait; -1 on a NULL manager.
///
/// # Safety
/// `manager` comes from [`zb_manager_start`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_manager_fd(manager: *const ZbManager) -> c_int {
    guard(-1, || {
        // SAFETY: the caller passes a live manager (contract above).
        unsafe { borrow(manager) }.map_or(-1, PeerManager::fd)
    })
}

/// The first bound endpoint (ephemeral ports resolved), NUL-terminated,
/// into `out` (at most `out_len` bytes). Returns its length, or an error.
///
/// # Safety
/// `manager` comes from [`zb_manager_start`]; `out` is writable for
/// `out_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_manager_endpoint(
    manager: *const ZbManager,
    out: *mut c_char,
    out_len: usize,
) -> c_int {
    guard(ZB_ECLOSED, || {
        // SAFETY: the caller passes a live manager (contract above).
        let Some(m) = (unsafe { borrow(manager) }) else {
            return ZB_EINVAL;
        };
        let Some(endpoint) = m.bound_endpoints().first().map(ToString::to_string) else {
            return ZB_EINVAL;
        };
        if out.is_null() || endpoint.len() + 1 > out_len {
            return ZB_EINVAL;
        }
        // SAFETY: `out` is writable for out_len > endpoint.len() bytes.
        unsafe {
            ptr::copy_nonoverlapping(endpoint.as_ptr(), out.cast::<u8>(), endpoint.len());
            *out.add(endpoint.len()) = 0;
        }
        endpoint.len() as c_int
    })
}

/// Looks a peer up by node name.
///
/// # Safety
/// `manager` comes from [`zb_manager_start`]; `name` is NUL-terminated;
/// `peer` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_peer_id(
    manager: *const ZbManager,
    name: *const c_char,
    peer: *mut u32,
) -> c_int {
    guard(ZB_ECLOSED, || {
        // SAFETY: live manager, NUL-terminated name (contract above).
        let (Some(m), Some(name)) = (unsafe { borrow(manager) }, unsafe { text(name) }) else {
            return ZB_EINVAL;
        };
        match (m.peer_id(name), peer.is_null()) {
            (Some(id), false) => {
                // SAFETY: `peer` is non-NULL and writable (contract above).
                unsafe { *peer = id.0 };
                ZB_OK
            }
            (None, _) => ZB_ENOPEER,
            (_, true) => ZB_EINVAL,
        }
    })
}

/// The chunk a write names: its kind checked (`ZB_ETYPE`), its bytes
/// copied out of the caller's buffer (`ZB_EINVAL` for NULL with a length).
///
/// # Safety
/// `data` is readable for `len` bytes, or `len` is 0.
unsafe fn chunk_from_c(epoch: u64, kind: u8, data: *const u8, len: usize) -> Result<Chunk, c_int> {
    let kind = MessageType::peer_from_code(kind).map_err(|_| ZB_ETYPE)?;
    let bytes = if len == 0 {
        Bytes::new()
    } else if data.is_null() {
        return Err(ZB_EINVAL);
    } else {
        // SAFETY: `data` is readable for `len` bytes (contract above); the
        // bytes are copied before returning.
        Bytes::copy_from_slice(unsafe { std::slice::from_raw_parts(data, len) })
    };
    Ok(Chunk::new(CacheEpoch(epoch), kind, bytes))
}

/// Stores a write's sequence number where the caller asked, if it did.
///
/// # Safety
/// `seq` is NULL or writable.
unsafe fn put_seq(seq: *mut u64, number: u64) {
    // SAFETY: NULL gives None; otherwise writable (contract above).
    if let Some(out) = unsafe { seq.as_mut() } {
        *out = number;
    }
}

/// Queues a chunk (copied from `data`) for `peer`, serialized in `epoch`,
/// of cluster message type `kind` (0x02 for SERIAL). On success `*seq`
/// (if not NULL) is its sequence in the epoch, which its DELIVERED or
/// HANDED_BACK event will name.
///
/// # Safety
/// `manager` comes from [`zb_manager_start`]; `data` is readable for `len`
/// bytes (or `len` is 0); `seq` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_write(
    manager: *const ZbManager,
    peer: u32,
    epoch: u64,
    kind: u8,
    data: *const u8,
    len: usize,
    seq: *mut u64,
) -> c_int {
    guard(ZB_ECLOSED, || {
        // SAFETY: live manager (contract above).
        let Some(m) = (unsafe { borrow(manager) }) else {
            return ZB_EINVAL;
        };
        // SAFETY: `data` is readable for `len` bytes or `len` is 0 (contract above).
        let chunk = match unsafe { chunk_from_c(epoch, kind, data, len) } {
            Ok(chunk) => chunk,
            Err(code) => return code,
        };
        match m.write(PeerId(peer), chunk) {
            Ok(number) => {
                // SAFETY: `seq` is NULL or writable (contract above).
                unsafe { put_seq(seq, number) };
                ZB_OK
            }
            Err((refused, _)) => match refused {
                WriteRefused::PeerDown => ZB_EDOWN,
                WriteRefused::StaleEpoch { .. } => ZB_ESTALE,
                WriteRefused::Full { .. } => ZB_EFULL,
                WriteRefused::TooLarge { .. } => ZB_ETOOLARGE,
                WriteRefused::UnknownPeer => ZB_ENOPEER,
                // Only a group write to an old peer's link is refused so,
                // and groups never pass a link's refusal out as a code.
                WriteRefused::NoGroups { .. } => ZB_EDOWN,
                WriteRefused::Closed => ZB_ECLOSED,
            },
        }
    })
}

/// Creates the group `name` of the `count` peers named in `members` (node
/// names, known now or later), or adds them to it if it exists; `*group`
/// gets its id. A GROUP_EPOCH event follows when a member's link is up.
///
/// # Safety
/// `manager` comes from [`zb_manager_start`]; `name` and each of the
/// `count` entries of `members` are NUL-terminated strings; `group` is
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_join_group(
    manager: *const ZbManager,
    name: *const c_char,
    members: *const *const c_char,
    count: usize,
    group: *mut u32,
) -> c_int {
    guard(ZB_ECLOSED, || {
        // SAFETY: live manager, NUL-terminated name (contract above).
        let (Some(m), Some(name)) = (unsafe { borrow(manager) }, unsafe { text(name) }) else {
            return ZB_EINVAL;
        };
        if group.is_null() || (count > 0 && members.is_null()) {
            return ZB_EINVAL;
        }
        let list = if count == 0 {
            &[][..]
        } else {
            // SAFETY: `members` is non-NULL (checked) and readable for
            // `count` pointers (contract above).
            unsafe { std::slice::from_raw_parts(members, count) }
        };
        let mut names = Vec::with_capacity(count);
        for member in list {
            // SAFETY: each entry is NUL-terminated (contract above).
            let Some(member) = (unsafe { text(*member) }) else {
                return ZB_EINVAL;
            };
            names.push(member);
        }
        let id = m.join_group(name, &names);
        // SAFETY: `group` is non-NULL (checked) and writable (contract).
        unsafe { group.write(id.0) };
        ZB_OK
    })
}

/// The group's current epoch (0 before its first) in `*epoch` and its
/// member count in `*members` (either may be NULL).
///
/// # Safety
/// `manager` comes from [`zb_manager_start`]; `epoch` and `members` are
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_group_epoch(
    manager: *const ZbManager,
    group: u32,
    epoch: *mut u64,
    members: *mut usize,
) -> c_int {
    guard(ZB_ECLOSED, || {
        // SAFETY: live manager (contract above).
        let Some(m) = (unsafe { borrow(manager) }) else {
            return ZB_EINVAL;
        };
        let Some((now, list)) = m.group_epoch(GroupId(group)) else {
            return ZB_ENOGROUP;
        };
        // SAFETY: each is NULL (as_mut gives None) or writable (contract).
        if let Some(out) = unsafe { epoch.as_mut() } {
            *out = now.0;
        }
        // SAFETY: as above.
        if let Some(out) = unsafe { members.as_mut() } {
            *out = list.len();
        }
        ZB_OK
    })
}

/// Writes one chunk, encoded once for `group`'s current `epoch`, to every
/// member (the bytes are copied once and then shared by all the links).
/// On success `*seq` (if not NULL) is its sequence in the group epoch,
/// which its GROUP_DELIVERED or GROUP_HANDED_BACK event will name.
///
/// # Safety
/// As for [`zb_write`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_write_group(
    manager: *const ZbManager,
    group: u32,
    epoch: u64,
    kind: u8,
    data: *const u8,
    len: usize,
    seq: *mut u64,
) -> c_int {
    guard(ZB_ECLOSED, || {
        // SAFETY: live manager (contract above).
        let Some(m) = (unsafe { borrow(manager) }) else {
            return ZB_EINVAL;
        };
        // SAFETY: `data` is readable for `len` bytes or `len` is 0 (contract above).
        let chunk = match unsafe { chunk_from_c(epoch, kind, data, len) } {
            Ok(chunk) => chunk,
            Err(code) => return code,
        };
        match m.write_group(GroupId(group), chunk) {
            Ok(number) => {
                // SAFETY: `seq` is NULL or writable (contract above).
                unsafe { put_seq(seq, number) };
                ZB_OK
            }
            Err((refused, _)) => match refused {
                GroupWriteRefused::UnknownGroup => ZB_ENOGROUP,
                GroupWriteRefused::StaleEpoch { .. } => ZB_ESTALE,
                GroupWriteRefused::NoMembers => ZB_ENOMEMBERS,
                GroupWriteRefused::TooLarge { .. } => ZB_ETOOLARGE,
                GroupWriteRefused::Closed => ZB_ECLOSED,
            },
        }
    })
}

/// Takes the next event, or NULL if none waits. Free it with
/// [`zb_event_free`].
///
/// # Safety
/// `manager` comes from [`zb_manager_start`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_poll_event(manager: *const ZbManager) -> *mut ZbEvent {
    guard(ptr::null_mut(), || {
        // SAFETY: live manager (contract above).
        let Some(event) = (unsafe { borrow(manager) }).and_then(PeerManager::poll_event) else {
            return ptr::null_mut();
        };
        // The event is the first field of a repr(C) EventBox: the pointers
        // are interchangeable, and zb_event_free casts back.
        Box::into_raw(Box::new(event_for_c(event))).cast::<ZbEvent>()
    })
}

/// An event's fields for C, before the pointers are taken.
struct CEvent {
    kind: c_int,
    epoch: u64,
    text: String,
    chunk: Option<Box<ChunkBox>>,
    returned: Vec<ChunkBox>,
    seq: u64,
    seq_end: u64,
    reason: c_int,
    group: u32,
    /// Peers listed first, then more read past `members` (GROUP_EPOCH's
    /// leavers).
    peers: Vec<(u32, c_int)>,
    members: usize,
}

impl CEvent {
    fn new(kind: c_int, epoch: u64) -> Self {
        CEvent {
            kind,
            epoch,
            text: String::new(),
            chunk: None,
            returned: Vec::new(),
            seq: 0,
            seq_end: 0,
            reason: 0,
            group: 0,
            peers: Vec::new(),
            members: 0,
        }
    }
}

fn left_code(reason: &LeaveReason) -> c_int {
    match reason {
        LeaveReason::Lagging { .. } => ZB_LEFT_LAGGING,
        LeaveReason::LinkDown => ZB_LEFT_LINK_DOWN,
        LeaveReason::Refused(_) => ZB_LEFT_REFUSED,
    }
}

fn miss_code(miss: &GroupMiss) -> c_int {
    match miss {
        GroupMiss::Link(back) => back_code(*back),
        GroupMiss::Left(left) => left_code(left),
    }
}

fn down_code(reason: &LinkDown) -> c_int {
    match reason {
        LinkDown::Closed => ZB_DOWN_CLOSED,
        LinkDown::Replaced => ZB_DOWN_REPLACED,
        LinkDown::Protocol(_) => ZB_DOWN_PROTOCOL,
        LinkDown::Refused { .. } => ZB_DOWN_REFUSED,
        LinkDown::Shutdown => ZB_DOWN_SHUTDOWN,
    }
}

fn back_code(reason: HandBack) -> c_int {
    match reason {
        HandBack::Unsent => ZB_BACK_UNSENT,
        HandBack::NotDelivered => ZB_BACK_NOT_DELIVERED,
        HandBack::PeerRestarted => ZB_BACK_PEER_RESTARTED,
        HandBack::Expired => ZB_BACK_EXPIRED,
        HandBack::Shutdown => ZB_BACK_SHUTDOWN,
    }
}

fn c_event(event: Event) -> CEvent {
    match event {
        Event::PeerUp { node, epoch, .. } => CEvent {
            text: node,
            ..CEvent::new(ZB_EVENT_PEER_UP, epoch.0)
        },
        Event::PeerDown { epoch, reason, .. } => CEvent {
            text: reason.to_string(),
            reason: down_code(&reason),
            ..CEvent::new(ZB_EVENT_PEER_DOWN, epoch.0)
        },
        Event::Delivered { epoch, through, .. } => CEvent {
            seq: through,
            ..CEvent::new(ZB_EVENT_DELIVERED, epoch.0)
        },
        Event::HandedBack {
            epoch,
            reason,
            first_seq,
            chunks,
            ..
        } => CEvent {
            text: reason.to_string(),
            reason: back_code(reason),
            seq: first_seq,
            returned: chunks.into_iter().map(chunk_for_c).collect(),
            ..CEvent::new(ZB_EVENT_HANDED_BACK, epoch.0)
        },
        Event::DeliveredAfterHandBack {
            epoch,
            first_seq,
            through,
            ..
        } => CEvent {
            seq: first_seq,
            seq_end: through,
            ..CEvent::new(ZB_EVENT_DELIVERED_AFTER_HAND_BACK, epoch.0)
        },
        Event::FillingUp { .. } => CEvent::new(ZB_EVENT_FILLING_UP, 0),
        Event::Drained { .. } => CEvent::new(ZB_EVENT_DRAINED, 0),
        Event::Chunk { chunk, .. } => CEvent {
            chunk: Some(Box::new(chunk_for_c(chunk.clone()))),
            ..CEvent::new(ZB_EVENT_CHUNK, chunk.epoch.0)
        },
        Event::GroupChunk {
            group,
            epoch,
            seq,
            chunk,
            ..
        } => CEvent {
            chunk: Some(Box::new(chunk_for_c(chunk))),
            seq,
            group: group.0,
            ..CEvent::new(ZB_EVENT_GROUP_CHUNK, epoch.0)
        },
        Event::GroupEpoch {
            group,
            epoch,
            members,
            left,
        } => {
            let count = members.len();
            let mut peers: Vec<(u32, c_int)> = members.into_iter().map(|p| (p.0, 0)).collect();
            let leavers = left.len() as u64;
            peers.extend(left.iter().map(|(p, why)| (p.0, left_code(why))));
            CEvent {
                group: group.0,
                peers,
                members: count,
                seq: leavers,
                ..CEvent::new(ZB_EVENT_GROUP_EPOCH, epoch.0)
            }
        }
        Event::GroupDelivered {
            group,
            epoch,
            first_seq,
            through,
        } => CEvent {
            group: group.0,
            seq: first_seq,
            seq_end: through,
            ..CEvent::new(ZB_EVENT_GROUP_DELIVERED, epoch.0)
        },
        Event::GroupHandedBack {
            group,
            epoch,
            first_seq,
            chunks,
            missed,
        } => CEvent {
            group: group.0,
            seq: first_seq,
            returned: chunks.into_iter().map(chunk_for_c).collect(),
            members: missed.len(),
            peers: missed
                .iter()
                .map(|(p, why)| (p.0, miss_code(why)))
                .collect(),
            ..CEvent::new(ZB_EVENT_GROUP_HANDED_BACK, epoch.0)
        },
        Event::Refused { node, error, count } => CEvent {
            text: format!("{node}: {error}"),
            seq: count,
            ..CEvent::new(ZB_EVENT_REFUSED, 0)
        },
    }
}

fn event_for_c(event: Event) -> EventBox {
    let peer = event.peer().map_or(u32::MAX, |p| p.0);
    let c = c_event(event);
    let text = std::ffi::CString::new(c.text.replace('\0', " ")).unwrap_or_default();
    let event = ZbEvent {
        kind: c.kind,
        peer,
        epoch: c.epoch,
        chunk: c
            .chunk
            .as_deref()
            .map_or(ptr::null(), |c| &c.chunk as *const ZbChunk),
        text: text.as_ptr(),
        returned: c.returned.len(),
        seq: c.seq,
        seq_end: c.seq_end,
        reason: c.reason,
        group: c.group,
        members: c.members,
    };
    // Moving the CString, the Box and the Vec does not move their heap
    // data, so the pointers taken above stay valid.
    EventBox {
        event,
        text,
        chunk: c.chunk,
        returned: c.returned,
        peers: c.peers,
    }
}

/// The `index`-th peer a GROUP_EPOCH or GROUP_HANDED_BACK event lists, or
/// `UINT32_MAX`. `*reason`, if not NULL, gets its reason: 0 for a member
/// of a new epoch, a `ZB_LEFT_*` for one that left (GROUP_EPOCH lists
/// them after its `members`, `seq` of them), a `ZB_BACK_*` or `ZB_LEFT_*`
/// for one that missed handed-back chunks.
///
/// # Safety
/// `event` comes from [`zb_poll_event`] and is not yet freed; `reason` is
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_event_member(
    event: *const ZbEvent,
    index: usize,
    reason: *mut c_int,
) -> u32 {
    // SAFETY: a live event from zb_poll_event, the first field of a
    // repr(C) EventBox (contract above), so the cast recovers the box.
    let Some(&(peer, why)) =
        unsafe { event.cast::<EventBox>().as_ref() }.and_then(|e| e.peers.get(index))
    else {
        return u32::MAX;
    };
    // SAFETY: `reason` is NULL (as_mut gives None) or writable (contract).
    if let Some(out) = unsafe { reason.as_mut() } {
        *out = why;
    }
    peer
}

/// The `index`-th chunk a HANDED_BACK event returned (sequence
/// `seq + index`), or NULL.
///
/// # Safety
/// `event` comes from [`zb_poll_event`] and is not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_event_returned(event: *const ZbEvent, index: usize) -> *const ZbChunk {
    // SAFETY: a live event from zb_poll_event, which is the first field of
    // a repr(C) EventBox (contract above), so the cast recovers the box.
    unsafe { event.cast::<EventBox>().as_ref() }
        .and_then(|e| e.returned.get(index))
        .map_or(ptr::null(), |c| &c.chunk as *const ZbChunk)
}

/// Frees an event and everything it points to.
///
/// # Safety
/// `event` comes from [`zb_poll_event`] and is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_event_free(event: *mut ZbEvent) {
    if !event.is_null() {
        // SAFETY: zb_poll_event made this pointer with Box::into_raw on an
        // EventBox (cast to its first field); it is freed once.
        drop(unsafe { Box::from_raw(event.cast::<EventBox>()) });
    }
}

/// Reads the next chunk from `peer` (ChunkedIO's `Read`), or NULL. Free it
/// with [`zb_chunk_free`].
///
/// # Safety
/// `manager` comes from [`zb_manager_start`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_read(manager: *const ZbManager, peer: u32) -> *mut ZbChunk {
    guard(ptr::null_mut(), || {
        // SAFETY: live manager (contract above).
        match (unsafe { borrow(manager) }).and_then(|m| m.read(PeerId(peer))) {
            // The chunk is the first field of a repr(C) ChunkBox; free casts back.
            Some(chunk) => Box::into_raw(Box::new(chunk_for_c(chunk))).cast::<ZbChunk>(),
            None => ptr::null_mut(),
        }
    })
}

/// Frees a chunk from [`zb_read`].
///
/// # Safety
/// `chunk` comes from [`zb_read`] and is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_chunk_free(chunk: *mut ZbChunk) {
    if !chunk.is_null() {
        // SAFETY: zb_read made this pointer with Box::into_raw on a ChunkBox
        // (cast to its first field); it is freed once.
        drop(unsafe { Box::from_raw(chunk.cast::<ChunkBox>()) });
    }
}

/// Copies `peer`'s counters into `out`.
///
/// # Safety
/// `manager` comes from [`zb_manager_start`]; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_peer_stats(
    manager: *const ZbManager,
    peer: u32,
    out: *mut ZbStats,
) -> c_int {
    guard(ZB_ECLOSED, || {
        // SAFETY: live manager (contract above).
        let Some(m) = (unsafe { borrow(manager) }) else {
            return ZB_EINVAL;
        };
        let Some(s) = m.stats(PeerId(peer)) else {
            return ZB_ENOPEER;
        };
        if out.is_null() {
            return ZB_EINVAL;
        }
        let stats = ZbStats {
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            chunks_in: s.chunks_in,
            chunks_out: s.chunks_out,
            pending: s.pending,
            write_calls: s.write_calls,
            read_calls: s.read_calls,
            epochs: s.epochs,
            pending_bytes: s.pending_bytes,
            refused_writes: s.refused_writes,
            in_doubt: s.in_doubt,
            dropped_unread: s.dropped_unread,
            stale: s.stale,
            protocol_errors: s.protocol_errors,
        };
        // SAFETY: `out` is non-NULL and writable (contract above).
        unsafe { *out = stats };
        ZB_OK
    })
}

/// 1 if `peer` is past its soft cap, 0 if not, or an error.
///
/// # Safety
/// `manager` comes from [`zb_manager_start`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_is_filling_up(manager: *const ZbManager, peer: u32) -> c_int {
    guard(ZB_ECLOSED, || {
        // SAFETY: live manager (contract above).
        unsafe { borrow(manager) }.map_or(ZB_EINVAL, |m| c_int::from(m.is_filling_up(PeerId(peer))))
    })
}

/// 1 if nothing is pending either way for `peer`, 0 if not, or an error.
///
/// # Safety
/// `manager` comes from [`zb_manager_start`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_is_idle(manager: *const ZbManager, peer: u32) -> c_int {
    guard(ZB_ECLOSED, || {
        // SAFETY: live manager (contract above).
        unsafe { borrow(manager) }.map_or(ZB_EINVAL, |m| c_int::from(m.is_idle(PeerId(peer))))
    })
}
