//! `zmq_msg_t`: 64 caller-allocated, pointer-aligned bytes, and the Rust
//! state kept inside them.
//!
//! The state ([`MsgState`]) is stored inline: a tag, flags, the frame as
//! `bytes::Bytes` (so a received frame is handed out uncopied and a sent
//! one enters the transport uncopied) and, for received frames, the
//! sender's metadata. No allocation per message beyond the frame's own.
//! The constant assertions below keep it within libzmq's 64 bytes.

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char};
use std::mem::{align_of, size_of};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use zmtp_transport::PeerMetadata;

use crate::errno::Errno;

/// libzmq's `zmq_msg_t`: opaque to the caller, who allocates it.
#[repr(C, align(8))]
#[allow(non_camel_case_types)]
pub struct zmq_msg_t {
    _opaque: [u8; 64],
}

/// `zmq_msg_get`/`zmq_msg_set` property: more frames follow.
pub const ZMQ_MORE: i32 = 1;
/// Property: the file descriptor the frame came from (always -1 here).
pub const ZMQ_SRCFD: i32 = 2;
/// Property: the frame's content is shared with another message.
pub const ZMQ_SHARED: i32 = 3;

/// Tag of an initialised message.
const LIVE: u32 = 0x4d53_4721;

/// Flag: more frames follow (set by receive).
const FLAG_MORE: u32 = 1;
/// Flag: the content is shared with a copy.
const FLAG_SHARED: u32 = 2;

/// libzmq's `Peer-Address`: a TCP peer's IP without its port (IPv6
/// without brackets); any other address (ipc, inproc) as it is.
fn peer_ip(address: &str) -> String {
    match address.parse::<std::net::SocketAddr>() {
        Ok(socket_address) => socket_address.ip().to_string(),
        Err(_) => address.to_owned(),
    }
}

/// What a received frame's sender told its handshake, with the C strings
/// `zmq_msg_gets` has handed out (which live as long as any message
/// holding this).
#[derive(Debug)]
pub struct MsgMetadata {
    peer: Arc<PeerMetadata>,
    strings: Mutex<HashMap<String, CString>>,
}

impl MsgMetadata {
    /// Wraps a peer's metadata.
    pub fn new(peer: Arc<PeerMetadata>) -> Self {
        MsgMetadata {
            peer,
            strings: Mutex::new(HashMap::new()),
        }
    }

    /// Whether this wraps exactly `peer` (for reuse across messages).
    pub fn is_of(&self, peer: &Arc<PeerMetadata>) -> bool {
        Arc::ptr_eq(&self.peer, peer)
    }

    /// The property `name` as a C string that stays valid while `self`
    /// lives; EINVAL if the peer did not send it.
    pub fn get(&self, name: &str) -> Result<*const c_char, Errno> {
        let mut strings = self.strings.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = strings.get(name) {
            return Ok(s.as_ptr());
        }
        let value = if name.eq_ignore_ascii_case("Peer-Address") {
            Bytes::from(peer_ip(&self.peer.address).into_bytes())
        } else {
            self.peer.get(name).ok_or(Errno::INVAL)?
        };
        // A value with a NUL inside ends there, as C would read it.
        let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
        let c = CString::new(&value[..end]).map_err(|_| Errno::INVAL)?;
        // The CString's heap buffer does not move when the map grows, and
        // entries are never removed: the pointer outlives this call.
        let ptr = c.as_ptr();
        strings.insert(name.to_owned(), c);
        Ok(ptr)
    }
}

/// The state of one message, stored inside a `zmq_msg_t`; `repr(C)` so
/// the tag is the first word whatever the rest holds.
#[derive(Debug)]
#[repr(C)]
pub struct MsgState {
    tag: u32,
    flags: u32,
    /// The frame.
    pub frame: Bytes,
    /// For received frames: who sent it.
    pub metadata: Option<Arc<MsgMetadata>>,
}

const _: () = assert!(size_of::<MsgState>() <= size_of::<zmq_msg_t>());
const _: () = assert!(align_of::<MsgState>() <= align_of::<zmq_msg_t>());
const _: () = assert!(size_of::<zmq_msg_t>() == 64);

impl MsgState {
    /// A live message holding `frame`.
    pub fn new(frame: Bytes) -> Self {
        MsgState {
            tag: LIVE,
            flags: 0,
            frame,
            metadata: None,
        }
    }

    /// Becomes a received frame (releasing what it held), with whether
    /// more follow and its sender; a sender it holds already is kept
    /// rather than released and taken again (a receive loop reusing one
    /// message costs no reference counting for it).
    pub fn set_received(&mut self, frame: Bytes, more: bool, metadata: Option<&Arc<MsgMetadata>>) {
        self.flags = if more { FLAG_MORE } else { 0 };
        self.frame = frame;
        let same = match (&self.metadata, metadata) {
            (Some(held), Some(new)) => Arc::ptr_eq(held, new),
            (None, None) => true,
            _ => false,
        };
        if !same {
            self.metadata = metadata.cloned();
        }
    }

    /// Whether more frames follow.
    pub fn more(&self) -> bool {
        self.flags & FLAG_MORE != 0
    }

    /// Whether the content is shared with a copy.
    pub fn shared(&self) -> bool {
        self.flags & FLAG_SHARED != 0
    }

    /// Marks the content shared (constant data nobody may write).
    pub fn mark_shared(&mut self) {
        self.flags |= FLAG_SHARED;
    }

    /// A second message with the same content, both marked shared.
    pub fn share(&mut self) -> MsgState {
        self.flags |= FLAG_SHARED;
        MsgState {
            tag: LIVE,
            flags: self.flags,
            frame: self.frame.clone(),
            metadata: self.metadata.clone(),
        }
    }
}

/// Writes a fresh state into `msg`, not reading (nor dropping) what was
/// there: `zmq_msg_init*` take uninitialised memory.
///
/// # Safety
/// `msg` is NULL or valid for writes of 64 bytes, aligned as `zmq_msg_t`.
pub unsafe fn init(msg: *mut zmq_msg_t, state: MsgState) -> Result<(), Errno> {
    if msg.is_null() {
        return Err(Errno::FAULT);
    }
    // SAFETY: valid for 64 writable bytes with zmq_msg_t's alignment
    // (contract), which the assertions above show hold a MsgState.
    unsafe { msg.cast::<MsgState>().write(state) };
    Ok(())
}

/// Borrows the live state in `msg`, EFAULT if NULL or not initialised.
///
/// # Safety
/// `msg` is NULL or points to a `zmq_msg_t` the caller initialised with a
/// `zmq_msg_init*` call (or closed since), not used by another thread
/// during `'a`.
pub unsafe fn state<'a>(msg: *mut zmq_msg_t) -> Result<&'a mut MsgState, Errno> {
    if msg.is_null() {
        return Err(Errno::FAULT);
    }
    let state = msg.cast::<MsgState>();
    // SAFETY: initialised memory (contract); reading the leading u32 tag
    // first tells a live state from a closed one, whose tag we cleared.
    let tag = unsafe { state.cast::<u32>().read() };
    if tag != LIVE {
        return Err(Errno::FAULT);
    }
    // SAFETY: the tag says a MsgState was written here by `init` and not
    // dropped since; exclusive for 'a by the contract.
    Ok(unsafe { &mut *state })
}

/// Takes the live state out of `msg`, leaving it closed.
///
/// # Safety
/// As for [`state`].
pub unsafe fn take(msg: *mut zmq_msg_t) -> Result<MsgState, Errno> {
    // SAFETY: same contract; checks the tag.
    unsafe { state(msg)? };
    let state = msg.cast::<MsgState>();
    // SAFETY: a live MsgState (checked); it is moved out and the tag
    // cleared so it cannot be read or dropped twice.
    let taken = unsafe { state.read() };
    // SAFETY: the same memory, valid for writes; only the tag changes.
    unsafe { state.cast::<u32>().write(0) };
    Ok(taken)
}

/// The NUL-terminated property name as UTF-8 (for `zmq_msg_gets`).
///
/// # Safety
/// `name` is NULL or a NUL-terminated string valid during the call.
pub unsafe fn property_name<'a>(name: *const c_char) -> Result<&'a str, Errno> {
    if name.is_null() {
        return Err(Errno::INVAL);
    }
    // SAFETY: not NULL and NUL-terminated (contract).
    unsafe { CStr::from_ptr(name) }
        .to_str()
        .map_err(|_| Errno::INVAL)
}
