//! Z85 (ZeroMQ RFC 32): the printable encoding used for CURVE keys.
//!
//! Every 4 bytes of binary, read as a big-endian `u32`, become 5 characters of
//! an 85-letter alphabet, most significant digit first. Keys are 32 bytes, so a
//! key in Z85 is 40 characters. Input lengths must be multiples of 4 (encode) or
//! 5 (decode); nothing is padded.

use thiserror::Error;

/// The Z85 alphabet, index 0 to 84.
const ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Marks a byte that is not in the alphabet in [`DECODE`].
const INVALID: u8 = 0xFF;

/// Reverse lookup: ASCII byte to digit value, or [`INVALID`].
const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Why Z85 encoding or decoding failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Z85Error {
    /// Binary input to [`encode`] must be a multiple of 4 bytes long.
    #[error("z85: binary input of {len} bytes is not a multiple of 4")]
    BinaryLength {
        /// Length of the rejected input.
        len: usize,
    },
    /// Text input to [`decode`] must be a multiple of 5 characters long.
    #[error("z85: text input of {len} characters is not a multiple of 5")]
    TextLength {
        /// Length of the rejected input.
        len: usize,
    },
    /// A character outside the Z85 alphabet.
    #[error("z85: byte {byte:#04x} at offset {offset} is not in the alphabet")]
    InvalidCharacter {
        /// The offending byte.
        byte: u8,
        /// Its position in the input.
        offset: usize,
    },
    /// A 5-character group whose value exceeds `u32::MAX`.
    #[error("z85: group at offset {offset} encodes a value above 2^32-1")]
    Overflow {
        /// Position of the group's first character.
        offset: usize,
    },
    /// [`decode_key`] needs exactly 40 characters.
    #[error("z85: a key is 40 characters, got {len}")]
    KeyLength {
        /// Length of the rejected input.
        len: usize,
    },
}

/// Encodes `data` (a multiple of 4 bytes) as Z85 text.
///
/// ```
/// assert_eq!(zmtp::z85::encode(&[0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]).unwrap(), "HelloWorld");
/// ```
pub fn encode(data: &[u8]) -> Result<String, Z85Error> {
    if !data.len().is_multiple_of(4) {
        return Err(Z85Error::BinaryLength { len: data.len() });
    }
    let mut out = String::with_capacity(data.len() / 4 * 5);
    for group in data.chunks_exact(4) {
        let mut value = u32::from_be_bytes([group[0], group[1], group[2], group[3]]);
        let mut digits = [0u8; 5];
        for digit in digits.iter_mut().rev() {
            *digit = ALPHABET[(value % 85) as usize];
            value /= 85;
        }
        // Every alphabet byte is ASCII, so each one is a whole char.
        out.extend(digits.iter().map(|&d| char::from(d)));
    }
    Ok(out)
}

/// Decodes Z85 `text` (a multiple of 5 characters) into bytes.
///
/// ```
/// assert_eq!(zmtp::z85::decode("HelloWorld").unwrap(), [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]);
/// assert!(zmtp::z85::decode("Hello").is_ok());
/// assert!(zmtp::z85::decode("Hell").is_err());
/// ```
pub fn decode(text: &str) -> Result<Vec<u8>, Z85Error> {
    let text = text.as_bytes();
    if !text.len().is_multiple_of(5) {
        return Err(Z85Error::TextLength { len: text.len() });
    }
    let mut out = Vec::with_capacity(text.len() / 5 * 4);
    for (index, group) in text.chunks_exact(5).enumerate() {
        let offset = index * 5;
        let mut value: u64 = 0;
        for (i, &byte) in group.iter().enumerate() {
            let digit = DECODE[byte as usize];
            if digit == INVALID {
                return Err(Z85Error::InvalidCharacter {
                    byte,
                    offset: offset + i,
                });
            }
            value = value * 85 + u64::from(digit);
        }
        let value = u32::try_from(value).map_err(|_| Z85Error::Overflow { offset })?;
        out.extend_from_slice(&value.to_be_bytes());
    }
    Ok(out)
}

/// Decodes a 40-character Z85 key into its 32 bytes.
///
/// ```
/// let key = zmtp::z85::decode_key("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7").unwrap();
/// assert_eq!(key[0], 0x54);
/// ```
pub fn decode_key(text: &str) -> Result<[u8; 32], Z85Error> {
    if text.len() != 40 {
        return Err(Z85Error::KeyLength { len: text.len() });
    }
    let bytes = decode(text)?;
    let mut key = [0u8; 32];
    key.copy_from_slice(&bytes);
    Ok(key)
}

/// Encodes a 32-byte key as 40 characters of Z85.
pub fn encode_key(key: &[u8; 32]) -> String {
    // 32 is a multiple of 4, so this cannot fail.
    encode(key).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn rfc32_hello_world() {
        let bytes = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        assert_eq!(encode(&bytes).unwrap(), "HelloWorld");
        assert_eq!(decode("HelloWorld").unwrap(), bytes);
    }

    #[test]
    fn server_secret_key_vector() {
        let key = hex("8E0BDD697628B91D8F245587EE95C5B04D48963F79259877B49CD9063AEAD3B7");
        let text = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
        assert_eq!(encode(&key).unwrap(), text);
        assert_eq!(decode(text).unwrap(), key);
    }

    #[test]
    fn standard_curve_test_keys() {
        let keys = [
            (
                "BB88471D65E2659B30C55A5321CEBB5AAB2B70A398645C26DCA2B2FCB43FC518",
                "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID",
            ),
            (
                "7BB864B489AFA3671FBE69101F94B38972F24816DFB01B51656B3FEC8DFD0888",
                "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs",
            ),
            (
                "54FCBA24E93249969316FB617C872BB0C1D1FF14800427C594CBFACF1BC2D652",
                "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
            ),
        ];
        for (h, z) in keys {
            let raw: [u8; 32] = hex(h).try_into().unwrap();
            assert_eq!(encode_key(&raw), z);
            assert_eq!(decode_key(z).unwrap(), raw);
        }
    }

    #[test]
    fn empty_and_bad_lengths() {
        assert_eq!(encode(&[]).unwrap(), "");
        assert_eq!(decode("").unwrap(), Vec::<u8>::new());
        assert_eq!(encode(&[1, 2, 3]), Err(Z85Error::BinaryLength { len: 3 }));
        assert_eq!(decode("abcd"), Err(Z85Error::TextLength { len: 4 }));
        assert_eq!(
            decode_key("HelloWorld"),
            Err(Z85Error::KeyLength { len: 10 })
        );
    }

    #[test]
    fn rejects_characters_outside_alphabet() {
        assert_eq!(
            decode("Hell~"),
            Err(Z85Error::InvalidCharacter {
                byte: b'~',
                offset: 4
            })
        );
        assert!(matches!(
            decode("ab\"cd"),
            Err(Z85Error::InvalidCharacter { .. })
        ));
    }

    #[test]
    fn rejects_group_above_u32_max() {
        // "%nSc0" is 0xFFFFFFFF; "%nSc1" is one more.
        assert_eq!(decode("%nSc0").unwrap(), [0xFF; 4]);
        assert_eq!(decode("%nSc1"), Err(Z85Error::Overflow { offset: 0 }));
        assert_eq!(decode("#####"), Err(Z85Error::Overflow { offset: 0 }));
    }

    proptest! {
        #[test]
        fn round_trip(words in proptest::collection::vec(any::<[u8; 4]>(), 0..64)) {
            let data: Vec<u8> = words.concat();
            let text = encode(&data).unwrap();
            prop_assert_eq!(text.len(), data.len() / 4 * 5);
            prop_assert_eq!(decode(&text).unwrap(), data);
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,50}") {
            let _ = decode(&text);
        }
    }
}
