//! Metadata: the property list carried by READY (and PLAIN/CURVE INITIATE).
//!
//! ```text
//! property = name-len(1) name(name-len) value-len(4, BE) value(value-len)
//! ```
//!
//! Properties are concatenated with nothing around them. Parsing is strict:
//! a truncated property, or a single stray trailing byte, is an error (libzmq
//! closes the connection on both). Names are looked up case-insensitively,
//! as the spec says, but we always send the canonical spellings
//! `Socket-Type` and `Identity`, because libzmq matches them exactly. We never
//! send `Routing-Id`: on the wire that is an ordinary property libzmq ignores.

use bytes::{BufMut, Bytes, BytesMut};
use nom::Parser;
use nom::bytes::streaming::take;
use nom::multi::length_data;
use nom::number::streaming::{be_u8, be_u32};
use thiserror::Error;

use crate::socket_type::{SocketType, UnknownSocketType};

/// The property naming the sender's socket type.
pub const SOCKET_TYPE: &str = "Socket-Type";
/// The property carrying the sender's routing id.
pub const IDENTITY: &str = "Identity";

/// The most properties a received list may hold. Each costs about 64 bytes
/// kept for the link's life besides its bytes, so a handshake frame full of
/// empty properties would otherwise cost twenty times its size; libzmq
/// peers send two, plus what `ZMQ_METADATA` and ZAP add.
pub const MAX_PROPERTIES: usize = 128;

/// The longest `Identity` a peer may send (RFC 23/37: 0 to 255 bytes); it
/// becomes a routing id.
pub const MAX_IDENTITY: usize = 255;

/// One name/value pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The name, 0 to 255 bytes (ASCII by the spec; not enforced on receive).
    pub name: Bytes,
    /// The value, opaque bytes.
    pub value: Bytes,
}

/// An ordered list of properties.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    properties: Vec<Property>,
}

/// Why a property list could not be parsed or built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MetadataError {
    /// The list ends inside a property.
    #[error("metadata: property at offset {offset} is truncated")]
    Truncated {
        /// Offset of the property's first byte within the list.
        offset: usize,
    },
    /// A name longer than 255 bytes cannot be encoded.
    #[error("metadata: property name of {len} bytes exceeds 255")]
    NameTooLong {
        /// The rejected name's length.
        len: usize,
    },
    /// A value longer than 2^31 - 1 bytes cannot be encoded.
    #[error("metadata: property value of {len} bytes exceeds 2^31-1")]
    ValueTooLong {
        /// The rejected value's length.
        len: usize,
    },
    /// The `Socket-Type` value is not a socket type.
    #[error("metadata: {0}")]
    SocketType(#[from] UnknownSocketType),
    /// More properties than [`MAX_PROPERTIES`].
    #[error("metadata: more than {MAX_PROPERTIES} properties")]
    TooManyProperties,
    /// An `Identity` longer than [`MAX_IDENTITY`] bytes.
    #[error("metadata: Identity of {len} bytes exceeds {MAX_IDENTITY}")]
    IdentityTooLong {
        /// Its length.
        len: usize,
    },
}

impl Metadata {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// The list a socket of `socket_type` sends in its handshake: the type,
    /// then `Identity` for types that send one, then `extra` properties.
    pub fn for_socket(socket_type: SocketType, identity: &Bytes) -> Self {
        let mut m = Metadata::new();
        m.push(
            SOCKET_TYPE,
            Bytes::from_static(socket_type.as_str().as_bytes()),
        );
        if socket_type.sends_identity() {
            m.push(IDENTITY, identity.clone());
        }
        m
    }

    /// Appends a property. Lengths are checked by [`Metadata::encode`].
    pub fn push(&mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) {
        self.properties.push(Property {
            name: name.into(),
            value: value.into(),
        });
    }

    /// The first property whose name matches `name`, ignoring ASCII case.
    ///
    /// ```
    /// let mut m = zmtp::Metadata::new();
    /// m.push("Socket-Type", "DEALER");
    /// assert_eq!(m.get("socket-type").map(|v| &v[..]), Some(&b"DEALER"[..]));
    /// ```
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.properties
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|p| &p.value)
    }

    /// The `Socket-Type` property, parsed; `Ok(None)` when absent (libzmq
    /// accepts a READY without one).
    pub fn socket_type(&self) -> Result<Option<SocketType>, UnknownSocketType> {
        self.get(SOCKET_TYPE)
            .map(|v| SocketType::from_wire(v))
            .transpose()
    }

    /// The `Identity` property, if present.
    pub fn identity(&self) -> Option<&Bytes> {
        self.get(IDENTITY)
    }

    /// All properties in order.
    pub fn iter(&self) -> impl Iterator<Item = &Property> {
        self.properties.iter()
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.properties.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.properties.is_empty()
    }

    /// Bytes [`Metadata::encode`] will append.
    pub fn encoded_len(&self) -> usize {
        self.properties
            .iter()
            .map(|p| 1 + p.name.len() + 4 + p.value.len())
            .sum()
    }

    /// Checks that every property can be encoded.
    pub fn validate(&self) -> Result<(), MetadataError> {
        for p in &self.properties {
            if p.name.len() > 255 {
                return Err(MetadataError::NameTooLong { len: p.name.len() });
            }
            if p.value.len() > i32::MAX as usize {
                return Err(MetadataError::ValueTooLong { len: p.value.len() });
            }
        }
        Ok(())
    }

    /// Appends the wire form to `out`.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), MetadataError> {
        self.validate()?;
        out.reserve(self.encoded_len());
        for p in &self.properties {
            out.put_u8(p.name.len() as u8);
            out.put_slice(&p.name);
            out.put_u32(p.value.len() as u32);
            out.put_slice(&p.value);
        }
        Ok(())
    }

    /// Parses a whole property list. Names and values are slices of `body`.
    ///
    /// ```
    /// use bytes::Bytes;
    /// let wire = Bytes::from_static(b"\x0bSocket-Type\x00\x00\x00\x03SUB");
    /// let m = zmtp::Metadata::decode(&wire).unwrap();
    /// assert_eq!(m.socket_type(), Ok(Some(zmtp::SocketType::Sub)));
    /// assert!(zmtp::Metadata::decode(&wire.slice(..wire.len() - 1)).is_err());
    /// ```
    pub fn decode(body: &Bytes) -> Result<Self, MetadataError> {
        let mut properties = Vec::new();
        let mut rest: &[u8] = body;
        while !rest.is_empty() {
            let offset = body.len() - rest.len();
            let (after, (name, value)) =
                parse_property(rest).map_err(|_| MetadataError::Truncated { offset })?;
            if properties.len() == MAX_PROPERTIES {
                return Err(MetadataError::TooManyProperties);
            }
            if value.len() > MAX_IDENTITY && name.eq_ignore_ascii_case(IDENTITY.as_bytes()) {
                return Err(MetadataError::IdentityTooLong { len: value.len() });
            }
            properties.push(Property {
                name: body.slice_ref(name),
                value: body.slice_ref(value),
            });
            rest = after;
        }
        Ok(Metadata { properties })
    }
}

fn parse_property(input: &[u8]) -> nom::IResult<&[u8], (&[u8], &[u8])> {
    (
        length_data(be_u8),
        be_u32.flat_map(|len| take(len as usize)),
    )
        .parse(input)
}

impl FromIterator<(Bytes, Bytes)> for Metadata {
    fn from_iter<I: IntoIterator<Item = (Bytes, Bytes)>>(iter: I) -> Self {
        Metadata {
            properties: iter
                .into_iter()
                .map(|(name, value)| Property { name, value })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encoded(name: &[u8], value: &[u8]) -> Vec<u8> {
        let mut p = vec![name.len() as u8];
        p.extend_from_slice(name);
        p.extend_from_slice(&(value.len() as u32).to_be_bytes());
        p.extend_from_slice(value);
        p
    }

    #[test]
    fn the_number_of_properties_is_capped() {
        let at_cap: Vec<u8> = (0..MAX_PROPERTIES)
            .flat_map(|_| encoded(b"X", b""))
            .collect();
        assert_eq!(
            Metadata::decode(&at_cap.clone().into())
                .unwrap()
                .iter()
                .count(),
            MAX_PROPERTIES
        );
        let mut over = at_cap;
        over.extend(encoded(b"X", b""));
        assert_eq!(
            Metadata::decode(&over.into()),
            Err(MetadataError::TooManyProperties)
        );
    }

    #[test]
    fn identities_are_at_most_255_bytes() {
        let ok = encoded(b"Identity", &[7; 255]);
        assert!(Metadata::decode(&ok.into()).is_ok());
        for name in [&b"Identity"[..], b"identity"] {
            let long = encoded(name, &[7; 256]);
            assert_eq!(
                Metadata::decode(&long.into()),
                Err(MetadataError::IdentityTooLong { len: 256 })
            );
        }
        // Other properties may be longer.
        assert!(Metadata::decode(&encoded(b"X-Big", &[1; 60_000]).into()).is_ok());
    }

    /// Body of a libzmq DEALER READY after `05 READY` [wire].
    const DEALER: &[u8] = b"\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\x00";

    #[test]
    fn decodes_libzmq_dealer_properties() {
        let m = Metadata::decode(&Bytes::from_static(DEALER)).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m.socket_type(), Ok(Some(SocketType::Dealer)));
        assert_eq!(m.identity().map(|v| v.len()), Some(0));
    }

    #[test]
    fn for_socket_matches_libzmq_bytes() {
        let mut out = BytesMut::new();
        Metadata::for_socket(SocketType::Dealer, &Bytes::new())
            .encode(&mut out)
            .unwrap();
        assert_eq!(&out[..], DEALER);
        out.clear();
        Metadata::for_socket(SocketType::Sub, &Bytes::from_static(b"ignored"))
            .encode(&mut out)
            .unwrap();
        assert_eq!(&out[..], b"\x0bSocket-Type\x00\x00\x00\x03SUB");
    }

    #[test]
    fn lookup_ignores_case_but_value_must_be_exact() {
        let m = Metadata::decode(&Bytes::from_static(
            b"\x0bsocket-type\x00\x00\x00\x06dealer",
        ))
        .unwrap();
        assert!(m.get("SOCKET-TYPE").is_some());
        assert!(m.socket_type().is_err());
    }

    #[test]
    fn strict_about_truncation_and_stray_bytes() {
        let mut bytes = DEALER.to_vec();
        bytes.push(0x00);
        assert_eq!(
            Metadata::decode(&Bytes::from(bytes)),
            Err(MetadataError::Truncated {
                offset: DEALER.len()
            })
        );
        for cut in 1..DEALER.len() {
            if cut == 22 {
                continue; // a whole first property
            }
            assert!(
                Metadata::decode(&Bytes::copy_from_slice(&DEALER[..cut])).is_err(),
                "cut at {cut}"
            );
        }
        assert_eq!(
            Metadata::decode(&Bytes::copy_from_slice(&DEALER[..22]))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn empty_list_and_empty_name() {
        assert!(Metadata::decode(&Bytes::new()).unwrap().is_empty());
        let m = Metadata::decode(&Bytes::from_static(b"\x00\x00\x00\x00\x01x")).unwrap();
        assert_eq!(m.get("").map(|v| &v[..]), Some(&b"x"[..]));
    }

    #[test]
    fn refuses_to_encode_oversized_name() {
        let mut m = Metadata::new();
        m.push(Bytes::from(vec![b'X'; 256]), "v");
        assert_eq!(
            m.encode(&mut BytesMut::new()),
            Err(MetadataError::NameTooLong { len: 256 })
        );
    }

    fn property() -> impl Strategy<Value = (Bytes, Bytes)> {
        (
            proptest::collection::vec(any::<u8>(), 0..=255),
            proptest::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(|(n, v)| (Bytes::from(n), Bytes::from(v)))
    }

    proptest! {
        #[test]
        fn round_trip(props in proptest::collection::vec(property(), 0..6)) {
            let m: Metadata = props.into_iter().collect();
            let mut out = BytesMut::new();
            m.encode(&mut out).unwrap();
            prop_assert_eq!(out.len(), m.encoded_len());
            prop_assert_eq!(Metadata::decode(&out.freeze()).unwrap(), m);
        }

        #[test]
        fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Metadata::decode(&Bytes::from(input));
        }
    }
}
