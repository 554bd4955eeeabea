//! Where CURVE takes its randomness: transient key pairs, the cookie key
//! and the 16-byte suffixes of long nonces.
//!
//! Mechanisms take a `Box<dyn RandomSource>`, [`OsRandom`] by default, so
//! tests can script the bytes and reproduce known handshakes exactly.

use std::fmt;

use rand_core::RngCore;
use thiserror::Error;
use zeroize::Zeroizing;

/// The operating system's random source failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("the random source failed")]
pub struct RandomError;

/// A source of cryptographically secure random bytes.
pub trait RandomSource: Send + fmt::Debug {
    /// Fills `dest` entirely with random bytes.
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError>;
}

/// The operating system's generator (`getrandom`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
        rand_core::OsRng
            .try_fill_bytes(dest)
            .map_err(|_| RandomError)
    }
}

/// `N` random bytes, wiped when dropped.
pub(super) fn array<const N: usize>(
    random: &mut dyn RandomSource,
) -> Result<Zeroizing<[u8; N]>, RandomError> {
    let mut bytes = Zeroizing::new([0u8; N]);
    random.fill(&mut bytes[..])?;
    Ok(bytes)
}

/// A random source that plays back given bytes, then fails.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct Scripted(std::collections::VecDeque<u8>);

#[cfg(test)]
impl Scripted {
    pub(crate) fn new(chunks: &[&[u8]]) -> Self {
        Scripted(chunks.iter().flat_map(|c| c.iter().copied()).collect())
    }
}

#[cfg(test)]
impl RandomSource for Scripted {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
        if self.0.len() < dest.len() {
            return Err(RandomError);
        }
        let n = dest.len();
        for (d, s) in dest.iter_mut().zip(self.0.drain(..n)) {
            *d = s;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_random_fills() {
        let a = array::<32>(&mut OsRandom).unwrap();
        let b = array::<32>(&mut OsRandom).unwrap();
        assert_ne!(*a, *b);
    }

    #[test]
    fn scripted_plays_back_then_fails() {
        let mut s = Scripted::new(&[&[1, 2], &[3]]);
        assert_eq!(*array::<2>(&mut s).unwrap(), [1, 2]);
        assert_eq!(array::<2>(&mut s).map(|_| ()), Err(RandomError));
    }
}
