//! Chunks: the opaque serialized blobs the bridge carries.

use bytes::Bytes;

use crate::epoch::CacheEpoch;
use crate::message_type::MessageType;

/// One serialized piece of state, bound to the cache epoch it was
/// serialized in. The bridge never looks inside `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The epoch whose cache the serializer used.
    pub epoch: CacheEpoch,
    /// The cluster message type (usually [`MessageType::Serial`]).
    pub kind: MessageType,
    /// The serialized bytes, of any size.
    pub data: Bytes,
}

impl Chunk {
    /// A SERIAL chunk (an event, ID, state access, ...).
    pub fn serial(epoch: CacheEpoch, data: impl Into<Bytes>) -> Self {
        Chunk {
            epoch,
            kind: MessageType::Serial,
            data: data.into(),
        }
    }

    /// A chunk of another cluster message type.
    pub fn new(epoch: CacheEpoch, kind: MessageType, data: impl Into<Bytes>) -> Self {
        Chunk {
            epoch,
            kind,
            data: data.into(),
        }
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether it carries no bytes.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}
