//! A ZeroMQ message: one or more frames, each an immutable [`Bytes`].
//!
//! Frames received from the network are slices of the read buffer; frames
//! given to send are written out without an intermediate copy when large.
//! Up to two frames live inline, so the common single-frame and
//! envelope-plus-body messages cost no allocation of their own.

use bytes::Bytes;
use smallvec::SmallVec;

use crate::config::FRAME_COST;

/// A multipart message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    frames: SmallVec<[Bytes; 2]>,
}

impl Message {
    /// A message with no frames yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a frame.
    pub fn push(&mut self, frame: impl Into<Bytes>) {
        self.frames.push(frame.into());
    }

    /// Inserts a frame in front (an envelope or routing id).
    pub fn push_front(&mut self, frame: impl Into<Bytes>) {
        self.frames.insert(0, frame.into());
    }

    /// Removes and returns the first frame.
    pub fn pop_front(&mut self) -> Option<Bytes> {
        if self.frames.is_empty() {
            None
        } else {
            Some(self.frames.remove(0))
        }
    }

    /// The frames in order.
    pub fn frames(&self) -> &[Bytes] {
        &self.frames
    }

    /// The first frame, if any.
    pub fn first(&self) -> Option<&Bytes> {
        self.frames.first()
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether the message has no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Total body bytes over all frames.
    pub fn size(&self) -> usize {
        self.frames.iter().map(Bytes::len).sum()
    }

    /// What the message costs against a size limit: its bytes, plus
    /// [`FRAME_COST`] for each frame after the first (the first one's
    /// handle lives in the message itself). A message of many tiny frames
    /// costs what it takes in memory, not only what its bodies hold.
    ///
    /// ```
    /// use zmtp::{Message, config::FRAME_COST};
    /// let m: Message = [&b"abc"[..], b"", b""].into_iter().map(|f| f.to_vec()).collect();
    /// assert_eq!(m.cost(), 3 + 2 * FRAME_COST);
    /// ```
    pub fn cost(&self) -> usize {
        self.size() + FRAME_COST * self.frames.len().saturating_sub(1)
    }

    /// The frames, by value.
    pub fn into_frames(self) -> impl Iterator<Item = Bytes> {
        self.frames.into_iter()
    }
}

impl From<Bytes> for Message {
    fn from(frame: Bytes) -> Self {
        let mut m = Message::new();
        m.push(frame);
        m
    }
}

impl From<Vec<u8>> for Message {
    fn from(frame: Vec<u8>) -> Self {
        Message::from(Bytes::from(frame))
    }
}

impl From<String> for Message {
    fn from(frame: String) -> Self {
        Message::from(Bytes::from(frame))
    }
}

impl From<&'static str> for Message {
    fn from(frame: &'static str) -> Self {
        Message::from(Bytes::from_static(frame.as_bytes()))
    }
}

impl From<&'static [u8]> for Message {
    fn from(frame: &'static [u8]) -> Self {
        Message::from(Bytes::from_static(frame))
    }
}

impl<B: Into<Bytes>> FromIterator<B> for Message {
    fn from_iter<I: IntoIterator<Item = B>>(iter: I) -> Self {
        Message {
            frames: iter.into_iter().map(Into::into).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_operations() {
        let mut m: Message = ["a", "b"].into_iter().collect();
        m.push_front(Bytes::new());
        assert_eq!(m.len(), 3);
        assert_eq!(m.size(), 2);
        assert_eq!(m.pop_front(), Some(Bytes::new()));
        assert_eq!(m.first().map(|f| &f[..]), Some(&b"a"[..]));
        assert_eq!(Message::new().pop_front(), None);
    }
}
