//! The 64-byte greeting that opens every ZMTP 3.x connection.
//!
//! Layout: signature (`FF`, 8 bytes of padding, `7F`), version major and
//! minor, a 20-byte NUL-padded mechanism name, the as-server flag and 31
//! bytes of filler. Both sides send theirs at once; we always send all 64
//! bytes in one piece, which libzmq handles, so we never deadlock against a
//! peer that waits for our first 11 bytes before sending its own.
//!
//! What we check on receive, and what we do not:
//! - byte 0 must be `FF` and bit 0 of byte 9 must be set (libzmq tests no more);
//! - the padding (bytes 1 to 8) is never validated: libzmq puts
//!   `routing_id_len + 1` there;
//! - the major version must be at least 3; minor 0 means ZMTP 3.0;
//! - the as-server byte is read but never trusted: roles come from local
//!   configuration, and libzmq always sends 0.
//!
//! Checks run on partial input too, so garbage is refused after its first
//! byte rather than after 64.

use std::fmt;

use bytes::{BufMut, BytesMut};
use nom::Parser;
use nom::bytes::streaming::take;
use nom::number::streaming::be_u8;
use thiserror::Error;

use crate::decode::Decoded;

/// Length of a ZMTP 3.x greeting.
pub const GREETING_LEN: usize = 64;

/// A ZMTP protocol version, as announced in the greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major revision; 3 for every version we speak.
    pub major: u8,
    /// Minor revision; 0 for ZMTP 3.0, 1 for ZMTP 3.1.
    pub minor: u8,
}

impl Version {
    /// ZMTP 3.0 (RFC 23): no PING/PONG, subscriptions as data messages.
    pub const V3_0: Version = Version { major: 3, minor: 0 };
    /// ZMTP 3.1 (RFC 37): the version we send.
    pub const V3_1: Version = Version { major: 3, minor: 1 };

    /// Whether the peer speaks 3.1 or later (heartbeat and subscription
    /// commands). Any major above 3 is treated as 3.1, as libzmq does.
    pub fn has_commands_3_1(self) -> bool {
        self.major > 3 || (self.major == 3 && self.minor >= 1)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A security mechanism name: exactly 20 bytes, NUL padded on the right.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MechanismName([u8; 20]);

impl MechanismName {
    /// The NULL mechanism (no security).
    pub const NULL: MechanismName = MechanismName::from_ascii(b"NULL");
    /// The PLAIN mechanism (clear-text user name and password).
    pub const PLAIN: MechanismName = MechanismName::from_ascii(b"PLAIN");
    /// The CURVE mechanism (CurveZMQ encryption and authentication).
    pub const CURVE: MechanismName = MechanismName::from_ascii(b"CURVE");

    /// Builds a name from up to 20 ASCII bytes; longer input is truncated.
    pub const fn from_ascii(name: &[u8]) -> Self {
        let mut raw = [0u8; 20];
        let mut i = 0;
        while i < name.len() && i < 20 {
            raw[i] = name[i];
            i += 1;
        }
        MechanismName(raw)
    }

    /// The 20 bytes as sent on the wire.
    pub const fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The name without its NUL padding.
    pub fn trimmed(&self) -> &[u8] {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(20);
        &self.0[..end]
    }
}

impl fmt::Debug for MechanismName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MechanismName({self})")
    }
}

impl fmt::Display for MechanismName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.trimmed()))
    }
}

/// A decoded greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Greeting {
    /// The version the sender speaks.
    pub version: Version,
    /// The sender's security mechanism.
    pub mechanism: MechanismName,
    /// The sender's as-server flag. Informative only: libzmq always sends 0.
    pub as_server: bool,
}

/// Why a greeting was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GreetingError {
    /// Byte 0 is not `FF`, or bit 0 of byte 9 is clear: not ZMTP 3.x.
    #[error(
        "greeting: bad signature (byte 0 = {first:#04x}, byte 9 = {ninth:#04x}); not a ZMTP 3 peer"
    )]
    BadSignature {
        /// Byte 0 as received.
        first: u8,
        /// Byte 9 as received, or 0 if it has not arrived.
        ninth: u8,
    },
    /// The peer speaks ZMTP 1.0 or 2.0, which we do not serve.
    #[error("greeting: peer speaks ZMTP major version {major}; at least 3 is required")]
    UnsupportedVersion {
        /// The peer's major version byte.
        major: u8,
    },
}

impl Greeting {
    /// Our greeting for the given mechanism and role, ZMTP 3.1.
    pub fn new(mechanism: MechanismName, as_server: bool) -> Self {
        Greeting {
            version: Version::V3_1,
            mechanism,
            as_server,
        }
    }

    /// Appends the 64 wire bytes to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(GREETING_LEN);
        out.put_u8(0xFF);
        out.put_bytes(0, 8);
        out.put_u8(0x7F);
        out.put_u8(self.version.major);
        out.put_u8(self.version.minor);
        out.put_slice(self.mechanism.as_bytes());
        out.put_u8(u8::from(self.as_server));
        out.put_bytes(0, 31);
    }

    /// Decodes a greeting from the front of `input`.
    ///
    /// Validation runs on whatever prefix has arrived, so a wrong signature
    /// or an old version is refused as soon as its byte is seen.
    ///
    /// ```
    /// use zmtp::{Decoded, Greeting, MechanismName};
    /// let mut wire = bytes::BytesMut::new();
    /// Greeting::new(MechanismName::NULL, false).encode(&mut wire);
    /// assert_eq!(Greeting::decode(&wire[..10]).unwrap(), Decoded::Incomplete { needed: 54 });
    /// let full = Greeting::decode(&wire).unwrap().complete().unwrap();
    /// assert_eq!(full.mechanism, MechanismName::NULL);
    /// ```
    pub fn decode(input: &[u8]) -> Result<Decoded<Greeting>, GreetingError> {
        check_prefix(input)?;
        if input.len() < GREETING_LEN {
            return Ok(Decoded::Incomplete {
                needed: GREETING_LEN - input.len(),
            });
        }
        Decoded::from_nom(input.len(), parse(input), || {
            // `check_prefix` has validated every byte the parser tests.
            unreachable_greeting_error(input)
        })
    }
}

/// The fail-fast checks on as much of the greeting as has arrived.
fn check_prefix(input: &[u8]) -> Result<(), GreetingError> {
    let first = input.first().copied();
    let ninth = input.get(9).copied();
    if first.is_some_and(|b| b != 0xFF) || ninth.is_some_and(|b| b & 1 == 0) {
        return Err(GreetingError::BadSignature {
            first: first.unwrap_or(0),
            ninth: ninth.unwrap_or(0),
        });
    }
    match input.get(10) {
        Some(&major) if major < 3 => Err(GreetingError::UnsupportedVersion { major }),
        _ => Ok(()),
    }
}

/// The parser never fails on input that passed [`check_prefix`]; should that
/// ever change, report the signature rather than panic.
fn unreachable_greeting_error(input: &[u8]) -> GreetingError {
    GreetingError::BadSignature {
        first: input.first().copied().unwrap_or(0),
        ninth: input.get(9).copied().unwrap_or(0),
    }
}

fn parse(input: &[u8]) -> nom::IResult<&[u8], Greeting> {
    let (rest, (_signature, _padding, _signature_end, major, minor, mechanism, as_server, _filler)) =
        (
            be_u8,
            take(8usize),
            be_u8,
            be_u8,
            be_u8,
            take(20usize),
            be_u8,
            take(31usize),
        )
            .parse(input)?;
    let mut name = [0u8; 20];
    name.copy_from_slice(mechanism);
    Ok((
        rest,
        Greeting {
            version: Version { major, minor },
            mechanism: MechanismName(name),
            as_server: as_server != 0,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A libzmq 4.3.5 DEALER with no routing id, NULL security [wire].
    fn libzmq_dealer_greeting() -> Vec<u8> {
        let mut v = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x7f, 0x03, 0x01];
        v.extend_from_slice(b"NULL");
        v.extend_from_slice(&[0; 16]);
        v.push(0); // as-server
        v.extend_from_slice(&[0; 31]);
        v
    }

    #[test]
    fn decodes_captured_libzmq_greeting() {
        let wire = libzmq_dealer_greeting();
        let Decoded::Complete { value, consumed } = Greeting::decode(&wire).unwrap() else {
            panic!("incomplete")
        };
        assert_eq!(consumed, 64);
        assert_eq!(value.version, Version::V3_1);
        assert_eq!(value.mechanism, MechanismName::NULL);
        assert!(!value.as_server);
    }

    #[test]
    fn encodes_same_bytes_as_libzmq_apart_from_padding() {
        let mut ours = BytesMut::new();
        Greeting::new(MechanismName::NULL, false).encode(&mut ours);
        let mut theirs = libzmq_dealer_greeting();
        theirs[8] = 0; // libzmq writes routing_id_len + 1 into the padding
        assert_eq!(&ours[..], &theirs[..]);
    }

    #[test]
    fn padding_is_never_validated() {
        // A DEALER with a 3-byte id sends 00..04 in the padding [wire].
        let mut wire = libzmq_dealer_greeting();
        wire[1..9].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 4]);
        assert!(Greeting::decode(&wire).unwrap().complete().is_some());
    }

    #[test]
    fn as_server_byte_is_reported() {
        let mut ours = BytesMut::new();
        Greeting::new(MechanismName::CURVE, true).encode(&mut ours);
        assert_eq!(ours[32], 1);
        let g = Greeting::decode(&ours).unwrap().complete().unwrap();
        assert!(g.as_server);
        assert_eq!(g.mechanism.to_string(), "CURVE");
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let wire = libzmq_dealer_greeting();
        for len in 0..64 {
            assert_eq!(
                Greeting::decode(&wire[..len]).unwrap(),
                Decoded::Incomplete { needed: 64 - len },
                "prefix of {len} bytes"
            );
        }
    }

    #[test]
    fn garbage_fails_on_first_byte() {
        assert_eq!(
            Greeting::decode(b"G"),
            Err(GreetingError::BadSignature {
                first: b'G',
                ninth: 0
            })
        );
        assert!(Greeting::decode(b"GET / HTTP/1.1\r\n").is_err());
    }

    #[test]
    fn signature_end_needs_only_bit_zero() {
        let mut wire = libzmq_dealer_greeting();
        wire[9] = 0x01;
        assert!(Greeting::decode(&wire).is_ok());
        wire[9] = 0x7e;
        assert!(matches!(
            Greeting::decode(&wire[..10]),
            Err(GreetingError::BadSignature { .. })
        ));
    }

    #[test]
    fn legacy_versions_are_refused() {
        let mut wire = libzmq_dealer_greeting();
        for major in [0u8, 1, 2] {
            wire[10] = major;
            assert_eq!(
                Greeting::decode(&wire[..11]),
                Err(GreetingError::UnsupportedVersion { major })
            );
        }
        wire[10] = 4;
        let g = Greeting::decode(&wire).unwrap().complete().unwrap();
        assert!(g.version.has_commands_3_1());
        wire[10] = 3;
        wire[11] = 0;
        let g = Greeting::decode(&wire).unwrap().complete().unwrap();
        assert_eq!(g.version, Version::V3_0);
        assert!(!g.version.has_commands_3_1());
    }

    fn mechanism() -> impl Strategy<Value = MechanismName> {
        proptest::array::uniform20(any::<u8>()).prop_map(MechanismName)
    }

    proptest! {
        #[test]
        fn round_trip(major in 3u8.., minor: u8, mech in mechanism(), as_server: bool) {
            let g = Greeting { version: Version { major, minor }, mechanism: mech, as_server };
            let mut wire = BytesMut::new();
            g.encode(&mut wire);
            prop_assert_eq!(wire.len(), GREETING_LEN);
            prop_assert_eq!(
                Greeting::decode(&wire).unwrap(),
                Decoded::Complete { value: g, consumed: 64 }
            );
        }

        #[test]
        fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = Greeting::decode(&input);
        }
    }
}
