//! The result shape shared by every streaming decoder in this crate.
//!
//! Network input arrives in arbitrary pieces. A decoder given too few bytes
//! says how many more it needs at least; that is a normal outcome, not an
//! error. Errors are reserved for bytes that can never become valid.

/// The outcome of decoding a value from the front of a byte slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<T> {
    /// A whole value was decoded from the first `consumed` bytes.
    Complete {
        /// The decoded value.
        value: T,
        /// How many input bytes it occupied.
        consumed: usize,
    },
    /// The input is a valid prefix; at least `needed` more bytes must arrive.
    Incomplete {
        /// A lower bound on the missing bytes (at least 1).
        needed: usize,
    },
}

impl<T> Decoded<T> {
    /// Converts a nom streaming result into a [`Decoded`], given the length of
    /// the original input, leaving any nom error to `on_error`.
    pub(crate) fn from_nom<E>(
        input_len: usize,
        result: nom::IResult<&[u8], T>,
        on_error: impl FnOnce() -> E,
    ) -> Result<Self, E> {
        match result {
            Ok((rest, value)) => Ok(Decoded::Complete {
                value,
                consumed: input_len - rest.len(),
            }),
            Err(nom::Err::Incomplete(needed)) => Ok(Decoded::Incomplete {
                needed: match needed {
                    nom::Needed::Size(n) => n.get(),
                    nom::Needed::Unknown => 1,
                },
            }),
            Err(nom::Err::Error(_) | nom::Err::Failure(_)) => Err(on_error()),
        }
    }

    /// The decoded value, if complete.
    pub fn complete(self) -> Option<T> {
        match self {
            Decoded::Complete { value, .. } => Some(value),
            Decoded::Incomplete { .. } => None,
        }
    }
}
