//! Secrets a peer sends in the handshake (PLAIN's password): owned bytes
//! that are wiped when dropped, compared in constant time and never printed.
//!
//! The handshake decoder copies every handshake frame out of the read
//! buffer and zeroes the bytes it took ([`FrameDecoder::wiping`]); the PLAIN
//! server copies the password into a [`Secret`] and the connection zeroes
//! its copy of the frame once the mechanism is done with it. What remains is
//! the application's: the [`Secret`] in the [`AuthRequest`], wiped when the
//! request is dropped.
//!
//! [`FrameDecoder::wiping`]: crate::FrameDecoder::wiping
//! [`AuthRequest`]: crate::AuthRequest

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Bytes that must not outlive their use: zeroed on drop, compared in
/// constant time (for equal lengths), shown as `<redacted>`.
///
/// ```
/// use zmtp::Secret;
/// let password = Secret::new(b"hunter2");
/// assert_eq!(password.expose(), b"hunter2");
/// assert_eq!(password, Secret::new("hunter2"));
/// assert_eq!(format!("{password:?}"), "Secret(<redacted>)");
/// ```
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// A secret holding a copy of `bytes`.
    pub fn new(bytes: impl AsRef<[u8]>) -> Self {
        Secret(Zeroizing::new(bytes.as_ref().to_vec()))
    }

    /// The secret's bytes, for the one place that needs them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0))
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
