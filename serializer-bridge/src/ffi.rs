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
use crate::manager::PeerManager;
use crate::message_type::MessageType;
use crate::peer::WriteRefused;

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

/// Event kind: a link is up in a new epoch.
pub const ZB_EVENT_PEER_UP: c_int = 1;
/// Event kind: a link went down; chunks come back with the event.
pub const ZB_EVENT_PEER_DOWN: c_int = 2;
/// Event kind: the peer passed its soft cap.
pub const ZB_EVENT_FILLING_UP: c_int = 3;
/// Event kind: the peer fell back below half its soft cap.
pub const ZB_EVENT_DRAINED: c_int = 4;
/// Event kind: a chunk arrived.
pub const ZB_EVENT_CHUNK: c_int = 5;
/// Event kind: a link was refused during the bridge hello.
pub const ZB_EVENT_REFUSED: c_int = 6;

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
    /// The epoch (PEER_UP, PEER_DOWN, CHUNK).
    pub epoch: u64,
    /// The chunk (CHUNK only; else NULL).
    pub chunk: *const ZbChunk,
    /// The node name (PEER_UP, REFUSED) or reason (PEER_DOWN), NUL-terminated.
    pub text: *const c_char,
    /// Chunks handed back by PEER_DOWN (read with [`zb_event_returned`]).
    pub returned: usize,
    /// How many of the returned chunks were never sent (the rest were sent
    /// but not acknowledged).
    pub unsent: usize,
}

/// A [`ZbEvent`] with everything it points into; public part first, as
/// for [`ChunkBox`].
#[repr(C)]
struct EventBox {
    event: ZbEvent,
    text: std::ffi::CString,
    chunk: Option<Box<ChunkBox>>,
    returned: Vec<ChunkBox>,
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

/// Stops a manager and frees it.
///
/// # Safety
/// `manager` comes from [`zb_manager_start`] and is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_manager_destroy(manager: *mut ZbManager) {
    if !manager.is_null() {
        // SAFETY: a pointer from Box::into_raw in zb_manager_start, freed once.
        let manager = unsafe { Box::from_raw(manager) };
        guard((), || manager.manager.shutdown());
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
    // SAFETY: the caller passes a live manager (contract above).
    unsafe { borrow(manager) }.map_or(-1, PeerManager::fd)
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
}

/// Queues a chunk (copied from `data`) for `peer`, serialized in `epoch`,
/// of cluster message type `kind` (0x02 for SERIAL).
///
/// # Safety
/// `manager` comes from [`zb_manager_start`]; `data` is readable for `len`
/// bytes (or `len` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_write(
    manager: *const ZbManager,
    peer: u32,
    epoch: u64,
    kind: u8,
    data: *const u8,
    len: usize,
) -> c_int {
    guard(ZB_ECLOSED, || {
        // SAFETY: live manager (contract above).
        let Some(m) = (unsafe { borrow(manager) }) else {
            return ZB_EINVAL;
        };
        let Ok(kind) = MessageType::peer_from_code(kind) else {
            return ZB_ETYPE;
        };
        let bytes = if len == 0 {
            Bytes::new()
        } else if data.is_null() {
            return ZB_EINVAL;
        } else {
            // SAFETY: `data` is readable for `len` bytes (contract above);
            // the bytes are copied before returning.
            Bytes::copy_from_slice(unsafe { std::slice::from_raw_parts(data, len) })
        };
        match m.write(PeerId(peer), Chunk::new(CacheEpoch(epoch), kind, bytes)) {
            Ok(()) => ZB_OK,
            Err((refused, _)) => match refused {
                WriteRefused::PeerDown => ZB_EDOWN,
                WriteRefused::StaleEpoch { .. } => ZB_ESTALE,
                WriteRefused::Full { .. } => ZB_EFULL,
                WriteRefused::UnknownPeer => ZB_ENOPEER,
                WriteRefused::Closed => ZB_ECLOSED,
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

fn event_for_c(event: Event) -> EventBox {
    let peer = event.peer().map_or(u32::MAX, |p| p.0);
    let text = |s: String| std::ffi::CString::new(s.replace('\0', " ")).unwrap_or_default();
    let (kind, epoch, text, chunk, returned, unsent) = match event {
        Event::PeerUp { node, epoch, .. } => {
            (ZB_EVENT_PEER_UP, epoch.0, text(node), None, Vec::new(), 0)
        }
        Event::PeerDown {
            epoch,
            reason,
            unsent,
            unconfirmed,
            ..
        } => {
            let count = unsent.len();
            let returned = unsent
                .into_iter()
                .chain(unconfirmed)
                .map(chunk_for_c)
                .collect();
            (
                ZB_EVENT_PEER_DOWN,
                epoch.0,
                text(reason),
                None,
                returned,
                count,
            )
        }
        Event::FillingUp { .. } => (
            ZB_EVENT_FILLING_UP,
            0,
            text(String::new()),
            None,
            Vec::new(),
            0,
        ),
        Event::Drained { .. } => (
            ZB_EVENT_DRAINED,
            0,
            text(String::new()),
            None,
            Vec::new(),
            0,
        ),
        Event::Chunk { chunk, .. } => {
            let epoch = chunk.epoch.0;
            (
                ZB_EVENT_CHUNK,
                epoch,
                text(String::new()),
                Some(Box::new(chunk_for_c(chunk))),
                Vec::new(),
                0,
            )
        }
        Event::Refused { node, reason } => (
            ZB_EVENT_REFUSED,
            0,
            text(format!("{node}: {reason}")),
            None,
            Vec::new(),
            0,
        ),
    };
    let event = ZbEvent {
        kind,
        peer,
        epoch,
        chunk: chunk
            .as_deref()
            .map_or(ptr::null(), |c| &c.chunk as *const ZbChunk),
        text: text.as_ptr(),
        returned: returned.len(),
        unsent,
    };
    // Moving the CString, the Box and the Vec does not move their heap
    // data, so the pointers taken above stay valid.
    EventBox {
        event,
        text,
        chunk,
        returned,
    }
}

/// The `index`-th chunk a PEER_DOWN event handed back (the first `unsent`
/// were never sent), or NULL.
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
    };
    // SAFETY: `out` is non-NULL and writable (contract above).
    unsafe { *out = stats };
    ZB_OK
}

/// 1 if `peer` is past its soft cap, 0 if not, or an error.
///
/// # Safety
/// `manager` comes from [`zb_manager_start`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_is_filling_up(manager: *const ZbManager, peer: u32) -> c_int {
    // SAFETY: live manager (contract above).
    unsafe { borrow(manager) }.map_or(ZB_EINVAL, |m| c_int::from(m.is_filling_up(PeerId(peer))))
}

/// 1 if nothing is pending either way for `peer`, 0 if not, or an error.
///
/// # Safety
/// `manager` comes from [`zb_manager_start`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zb_is_idle(manager: *const ZbManager, peer: u32) -> c_int {
    // SAFETY: live manager (contract above).
    unsafe { borrow(manager) }.map_or(ZB_EINVAL, |m| c_int::from(m.is_idle(PeerId(peer))))
}
