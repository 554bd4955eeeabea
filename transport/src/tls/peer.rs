//! What a TLS peer's certificate says about it: the [`TlsPeer`] an
//! authenticator is shown and received messages carry.
//!
//! The certificate has been verified by rustls (chain, validity, key usage)
//! before anything here reads it; this file only pulls out the names people
//! write rules about: the subject (as an RFC 4514 string and its common
//! name) and the subject alternative names. It is a small DER walker over
//! the fixed shape of an X.509 certificate rather than a general ASN.1
//! parser: what it does not understand it leaves out, and it never panics.

use std::fmt::Write as _;
use std::net::IpAddr;

use bytes::Bytes;

/// The identity a TLS peer proved with its certificate.
///
/// On a server that requires client certificates (see
/// [`TlsConfig::require_client_certs`](crate::TlsConfig::require_client_certs)),
/// this is the client's verified certificate; on a client it is the
/// server's. Handed to the [`Authenticator`](crate::Authenticator) in
/// [`ZapRequest::tls_peer`](crate::ZapRequest::tls_peer) and carried by
/// received messages in [`PeerMetadata::tls_peer`](crate::PeerMetadata::tls_peer).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsPeer {
    /// The peer's end-entity certificate, DER.
    pub certificate: Bytes,
    /// The subject as an RFC 4514 string, most specific name first
    /// (`CN=node1,O=Example`); empty if the certificate has none.
    pub subject: String,
    /// The subject's first common name (`CN`), if any.
    pub common_name: Option<String>,
    /// Subject alternative names of type DNS.
    pub dns_names: Vec<String>,
    /// Subject alternative names of type IP address.
    pub ip_addresses: Vec<IpAddr>,
    /// Subject alternative names of type e-mail (rfc822Name).
    pub emails: Vec<String>,
    /// Subject alternative names of type URI (SPIFFE ids and the like).
    pub uris: Vec<String>,
}

impl TlsPeer {
    /// Reads the names of a DER certificate. A certificate this cannot
    /// read yields empty names (and the DER, unchanged).
    ///
    /// ```
    /// let peer = zmtp_transport::TlsPeer::from_der(b"not a certificate".to_vec());
    /// assert!(peer.subject.is_empty() && peer.dns_names.is_empty());
    /// ```
    pub fn from_der(certificate: impl Into<Bytes>) -> TlsPeer {
        let certificate = certificate.into();
        let mut peer = TlsPeer {
            certificate: certificate.clone(),
            subject: String::new(),
            common_name: None,
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            emails: Vec::new(),
            uris: Vec::new(),
        };
        let _ = peer.read(&certificate);
        peer
    }

    /// Every name the peer goes by: the common name, then the DNS, e-mail
    /// and URI alternative names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.common_name
            .iter()
            .chain(&self.dns_names)
            .chain(&self.emails)
            .chain(&self.uris)
            .map(String::as_str)
    }

    /// Fills in what the certificate holds; `None` where it stops making
    /// sense (what was read until then stays).
    fn read(&mut self, der: &[u8]) -> Option<()> {
        let (certificate, _) = expect(der, SEQUENCE)?;
        let (tbs, _) = expect(certificate, SEQUENCE)?;
        let mut rest = tbs;
        if let Some((tag, _, after)) = element(rest)
            && tag == VERSION
        {
            rest = after;
        }
        rest = skip(rest, INTEGER)?; // serial number
        rest = skip(rest, SEQUENCE)?; // signature algorithm
        rest = skip(rest, SEQUENCE)?; // issuer
        rest = skip(rest, SEQUENCE)?; // validity
        let (subject, after) = expect(rest, SEQUENCE)?;
        self.read_subject(subject);
        rest = skip(after, SEQUENCE)?; // subject public key info
        while let Some((tag, contents, after)) = element(rest) {
            if tag == EXTENSIONS {
                let (extensions, _) = expect(contents, SEQUENCE)?;
                self.read_extensions(extensions);
            }
            rest = after;
        }
        Some(())
    }

    fn read_subject(&mut self, mut rdns: &[u8]) {
        let mut parts = Vec::new();
        while let Some((SET, rdn, after)) = element(rdns) {
            let mut attributes = Vec::new();
            let mut rest = rdn;
            while let Some((SEQUENCE, attribute, after)) = element(rest) {
                if let Some(text) = self.read_attribute(attribute) {
                    attributes.push(text);
                }
                rest = after;
            }
            parts.push(attributes.join("+"));
            rdns = after;
        }
        // RFC 4514 writes the last RDN first.
        parts.reverse();
        self.subject = parts.join(",");
    }

    /// One `type=value` of the subject.
    fn read_attribute(&mut self, attribute: &[u8]) -> Option<String> {
        let (oid, value) = expect(attribute, OID)?;
        let (tag, contents, after) = element(value)?;
        let short = SHORT_NAMES
            .iter()
            .find(|(known, _)| *known == oid)
            .map(|(_, name)| *name);
        let text = decode_string(tag, contents);
        if short == Some("CN") && self.common_name.is_none() {
            self.common_name.clone_from(&text);
        }
        Some(match (short, text) {
            (Some(name), Some(text)) => format!("{name}={}", escape(&text)),
            // RFC 4514: other types in dotted form, value as #hex of its DER.
            _ => {
                let der = value.get(..value.len() - after.len())?;
                format!("{}=#{}", dotted(oid)?, hex(der))
            }
        })
    }

    fn read_extensions(&mut self, mut extensions: &[u8]) {
        while let Some((SEQUENCE, extension, after)) = element(extensions) {
            if let Some((oid, rest)) = expect(extension, OID)
                && oid == SUBJECT_ALT_NAME
            {
                // An optional `critical` BOOLEAN comes before the value.
                let rest = skip(rest, BOOLEAN).unwrap_or(rest);
                if let Some((value, _)) = expect(rest, OCTET_STRING)
                    && let Some((names, _)) = expect(value, SEQUENCE)
                {
                    self.read_alt_names(names);
                }
            }
            extensions = after;
        }
    }

    fn read_alt_names(&mut self, mut names: &[u8]) {
        while let Some((tag, contents, after)) = element(names) {
            let text = || String::from_utf8(contents.to_vec()).ok();
            match tag {
                SAN_EMAIL => self.emails.extend(text()),
                SAN_DNS => self.dns_names.extend(text()),
                SAN_URI => self.uris.extend(text()),
                SAN_IP => {
                    if let Ok(v4) = <[u8; 4]>::try_from(contents) {
                        self.ip_addresses.push(IpAddr::from(v4));
                    } else if let Ok(v6) = <[u8; 16]>::try_from(contents) {
                        self.ip_addresses.push(IpAddr::from(v6));
                    }
                }
                _ => {}
            }
            names = after;
        }
    }
}

const BOOLEAN: u8 = 0x01;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
/// `[0] EXPLICIT Version`.
const VERSION: u8 = 0xa0;
/// `[3] EXPLICIT Extensions`.
const EXTENSIONS: u8 = 0xa3;
const SAN_EMAIL: u8 = 0x81;
const SAN_DNS: u8 = 0x82;
const SAN_URI: u8 = 0x86;
const SAN_IP: u8 = 0x87;
/// 2.5.29.17, subjectAltName.
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// The attribute types RFC 4514 names (table 3.1), by encoded OID.
const SHORT_NAMES: &[(&[u8], &str)] = &[
    (&[0x55, 0x04, 0x03], "CN"),
    (&[0x55, 0x04, 0x07], "L"),
    (&[0x55, 0x04, 0x08], "ST"),
    (&[0x55, 0x04, 0x0a], "O"),
    (&[0x55, 0x04, 0x0b], "OU"),
    (&[0x55, 0x04, 0x06], "C"),
    (&[0x55, 0x04, 0x09], "STREET"),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
        "DC",
    ),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01],
        "UID",
    ),
];

/// One DER element: its tag, its contents and what follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let octets = usize::from(first & 0x7f);
        if octets == 0 || octets > 4 {
            return None;
        }
        let (len, rest) = rest.split_at_checked(octets)?;
        let len = len.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b));
        (len, rest)
    };
    let (contents, rest) = rest.split_at_checked(len)?;
    Some((tag, contents, rest))
}

/// The contents of an element that must have `tag`, and what follows.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match element(input)? {
        (found, contents, rest) if found == tag => Some((contents, rest)),
        _ => None,
    }
}

/// What follows an element that must have `tag`.
fn skip(input: &[u8], tag: u8) -> Option<&[u8]> {
    expect(input, tag).map(|(_, rest)| rest)
}

/// The text of an ASN.1 string type; `None` for anything else.
fn decode_string(tag: u8, contents: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, NumericString, PrintableString, IA5String,
        // VisibleString.
        0x0c | 0x12 | 0x13 | 0x16 | 0x1a => String::from_utf8(contents.to_vec()).ok(),
        // TeletexString: in practice Latin-1.
        0x14 => Some(contents.iter().map(|&b| char::from(b)).collect()),
        // BMPString: UTF-16BE.
        0x1e => {
            let units: Vec<u16> = contents
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        // UniversalString: UTF-32BE.
        0x1c => contents
            .chunks_exact(4)
            .map(|q| char::from_u32(u32::from_be_bytes([q[0], q[1], q[2], q[3]])))
            .collect(),
        _ => None,
    }
}

/// An attribute value escaped as RFC 4514 asks.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
    out
}

/// An encoded OID in dotted decimal.
fn dotted(oid: &[u8]) -> Option<String> {
    let mut arcs = Vec::new();
    let mut arc: u64 = 0;
    for &b in oid {
        arc = arc.checked_mul(128)? | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(arc);
            arc = 0;
        }
    }
    let (&first, rest) = arcs.split_first()?;
    let (a, b) = match first {
        0..40 => (0, first),
        40..80 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut text = format!("{a}.{b}");
    for arc in rest {
        let _ = write!(text, ".{arc}");
    }
    Some(text)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_subject_and_alternative_names_of_an_rcgen_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["node1.example".into()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Example, Inc.");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "node1");
        params.subject_alt_names.extend([
            rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()),
            rcgen::SanType::IpAddress("::1".parse().unwrap()),
            rcgen::SanType::Rfc822Name("ops@example.org".try_into().unwrap()),
            rcgen::SanType::URI("spiffe://example.org/node1".try_into().unwrap()),
        ]);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let peer = TlsPeer::from_der(cert.der().to_vec());
        assert_eq!(peer.subject, "CN=node1,O=Example\\, Inc.");
        assert_eq!(peer.common_name.as_deref(), Some("node1"));
        assert_eq!(peer.dns_names, ["node1.example"]);
        assert_eq!(
            peer.ip_addresses,
            [
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert_eq!(peer.emails, ["ops@example.org"]);
        assert_eq!(peer.uris, ["spiffe://example.org/node1"]);
        assert_eq!(
            peer.names().collect::<Vec<_>>(),
            [
                "node1",
                "node1.example",
                "ops@example.org",
                "spiffe://example.org/node1"
            ]
        );
    }

    #[test]
    fn unknown_attribute_types_are_written_as_dotted_oid_and_hex() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(
            rcgen::DnType::CustomDnType(vec![2, 5, 4, 5]),
            rcgen::DnValue::PrintableString("A1".try_into().unwrap()),
        );
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let peer = TlsPeer::from_der(cert.der().to_vec());
        assert_eq!(peer.subject, "2.5.4.5=#13024131");
        assert_eq!(peer.common_name, None);
        assert!(peer.dns_names.is_empty());
    }

    #[test]
    fn truncated_and_garbage_input_yield_no_names() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a.example".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let der = cert.der().to_vec();
        for len in 0..der.len() {
            let _ = TlsPeer::from_der(der[..len].to_vec());
        }
        for garbage in [
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
            &[0x30, 0x80],
            &[],
        ] {
            let peer = TlsPeer::from_der(garbage.to_vec());
            assert!(peer.subject.is_empty() && peer.names().next().is_none());
        }
    }

    #[test]
    fn escapes_as_rfc_4514_asks() {
        assert_eq!(escape("#a b "), "\\#a b\\ ");
        assert_eq!(escape("a+b;c<d>\"e\\"), "a\\+b\\;c\\<d\\>\\\"e\\\\");
        assert_eq!(dotted(&[0x2a, 0x86, 0x48]).as_deref(), Some("1.2.840"));
    }
}
