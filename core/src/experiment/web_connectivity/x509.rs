//! Just enough X.509 to name who issued a presented certificate: a bounds-checked DER walk to
//! the issuer and subject distinguished names of `tbsCertificate` (RFC 5280 §4.1).
//!
//! Why not the `x509-parser` crate: it would bring `nom`, `der-parser`, `asn1-rs` (with its
//! proc-macro derives), `oid-registry` and more into a library shipped on phones, to read two
//! fields. Nothing here verifies anything (rustls already did): a malformed certificate yields
//! `None`, never a panic, and the output is bounded (at most [`MAX_ATTRIBUTES`] attributes of
//! [`MAX_VALUE_CHARS`] characters each).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The most attributes kept from one name.
pub const MAX_ATTRIBUTES: usize = 32;
/// The most characters kept from one attribute value.
pub const MAX_VALUE_CHARS: usize = 256;

/// One attribute of a distinguished name: its short type (`CN`, `O`, `C`, ... or the dotted
/// OID when unknown) and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// `CN`, `O`, `OU`, `C`, `L`, `ST`, `serialNumber`, `emailAddress`, or a dotted OID.
    pub kind: String,
    /// The value as text.
    pub value: String,
}

/// A distinguished name, attributes in the order the certificate lists them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DistinguishedName {
    /// The attributes.
    pub attributes: Vec<Attribute>,
}

impl DistinguishedName {
    /// The values of every attribute of this short type.
    pub fn values<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.attributes
            .iter()
            .filter(move |attribute| attribute.kind == kind)
            .map(|attribute| attribute.value.as_str())
    }
}

impl fmt::Display for DistinguishedName {
    /// `C=KZ, O=ISCA, CN=...`, in certificate order (as OpenSSL's one-line form).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, attribute) in self.attributes.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={}", attribute.kind, attribute.value)?;
        }
        Ok(())
    }
}

/// The issuer, subject and subject alternative names of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateNames {
    /// Who signed it.
    pub issuer: DistinguishedName,
    /// Whom it names.
    pub subject: DistinguishedName,
    /// The `dNSName` entries of its subjectAltName extension (at most [`MAX_ALT_NAMES`]).
    pub dns_names: Vec<String>,
    /// The `iPAddress` entries of its subjectAltName extension.
    pub ip_addresses: Vec<IpAddr>,
}

impl CertificateNames {
    /// True when the certificate names `host` (a DNS name or an IP): a subjectAltName entry
    /// matches it (`*.` wildcards cover one label), or, without any subjectAltName, a common
    /// name does. Only says whom the certificate claims to be; nothing is verified.
    pub fn names_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.ip_addresses.contains(&ip);
        }
        let matches = |pattern: &str| {
            let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
            match pattern.strip_prefix("*.") {
                Some(suffix) => host
                    .split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
                None => pattern == host,
            }
        };
        if self.dns_names.is_empty() && self.ip_addresses.is_empty() {
            return self.subject.values("CN").any(matches);
        }
        self.dns_names.iter().any(|name| matches(name))
    }
}

/// The most subjectAltName entries kept.
pub const MAX_ALT_NAMES: usize = 256;

const TAG_INTEGER: u8 = 0x02;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_VERSION: u8 = 0xa0;

/// Reads the issuer, subject and subject alternative names of a DER certificate; `None` if it
/// is not one.
pub fn certificate_names(der: &[u8]) -> Option<CertificateNames> {
    let (certificate, _) = expect(der, TAG_SEQUENCE)?;
    let (tbs, _) = expect(certificate, TAG_SEQUENCE)?;
    let mut rest = tbs;
    let (tag, _, after) = read_tlv(rest)?;
    if tag == TAG_VERSION {
        rest = after;
    }
    let (_, rest) = expect(rest, TAG_INTEGER)?; // serialNumber
    let (_, rest) = expect(rest, TAG_SEQUENCE)?; // signature algorithm
    let (issuer, rest) = expect(rest, TAG_SEQUENCE)?;
    let (_, rest) = expect(rest, TAG_SEQUENCE)?; // validity
    let (subject, rest) = expect(rest, TAG_SEQUENCE)?;
    let mut names = CertificateNames {
        issuer: parse_name(issuer)?,
        subject: parse_name(subject)?,
        dns_names: Vec::new(),
        ip_addresses: Vec::new(),
    };
    // subjectPublicKeyInfo, then optional unique ids ([1], [2]) and extensions ([3]).
    let Some((_, mut rest)) = expect(rest, TAG_SEQUENCE) else {
        return Some(names);
    };
    while let Some((tag, content, after)) = read_tlv(rest) {
        rest = after;
        if tag == TAG_EXTENSIONS {
            if let Some((extensions, _)) = expect(content, TAG_SEQUENCE) {
                read_alt_names(extensions, &mut names);
            }
        }
    }
    Some(names)
}

const TAG_EXTENSIONS: u8 = 0xa3;
const TAG_BOOLEAN: u8 = 0x01;
const TAG_OCTET_STRING: u8 = 0x04;
/// subjectAltName, 2.5.29.17.
const OID_SUBJECT_ALT_NAME: [u8; 3] = [0x55, 0x1d, 0x11];
/// GeneralName `[2] dNSName` and `[7] iPAddress` (implicit, primitive).
const TAG_DNS_NAME: u8 = 0x82;
const TAG_IP_ADDRESS: u8 = 0x87;

/// Reads the subjectAltName extension, if any, from the content of `Extensions`.
fn read_alt_names(mut extensions: &[u8], names: &mut CertificateNames) {
    while let Some((extension, rest)) = expect(extensions, TAG_SEQUENCE) {
        extensions = rest;
        let Some((oid, mut value)) = expect(extension, TAG_OID) else {
            continue;
        };
        if oid != OID_SUBJECT_ALT_NAME {
            continue;
        }
        if let Some((_, after)) = expect(value, TAG_BOOLEAN) {
            value = after; // critical
        }
        let Some((octets, _)) = expect(value, TAG_OCTET_STRING) else {
            return;
        };
        let Some((mut general_names, _)) = expect(octets, TAG_SEQUENCE) else {
            return;
        };
        while let Some((tag, content, rest)) = read_tlv(general_names) {
            general_names = rest;
            if names.dns_names.len() + names.ip_addresses.len() >= MAX_ALT_NAMES {
                return;
            }
            match (tag, content.len()) {
                (TAG_DNS_NAME, _) => names
                    .dns_names
                    .push(truncate(String::from_utf8_lossy(content).into_owned())),
                (TAG_IP_ADDRESS, 4) => names.ip_addresses.push(IpAddr::V4(Ipv4Addr::new(
                    content[0], content[1], content[2], content[3],
                ))),
                (TAG_IP_ADDRESS, 16) => {
                    let mut octets = [0u8; 16];
                    octets.copy_from_slice(content);
                    names.ip_addresses.push(IpAddr::V6(Ipv6Addr::from(octets)));
                }
                _ => {}
            }
        }
        return;
    }
}

/// `Name ::= SEQUENCE OF SET OF AttributeTypeAndValue` (the content of the outer SEQUENCE).
fn parse_name(mut content: &[u8]) -> Option<DistinguishedName> {
    let mut name = DistinguishedName::default();
    while !content.is_empty() {
        let (set, rest) = expect(content, TAG_SET)?;
        content = rest;
        let mut members = set;
        while !members.is_empty() {
            let (pair, rest) = expect(members, TAG_SEQUENCE)?;
            members = rest;
            let (oid, rest) = expect(pair, TAG_OID)?;
            let (value_tag, value, _) = read_tlv(rest)?;
            if name.attributes.len() < MAX_ATTRIBUTES {
                name.attributes.push(Attribute {
                    kind: attribute_kind(oid),
                    value: truncate(decode_string(value_tag, value)),
                });
            }
        }
    }
    Some(name)
}

/// Reads one TLV with the expected tag: its content and what follows.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, content, rest) = read_tlv(input)?;
    (found == tag).then_some((content, rest))
}

/// Reads one DER TLV (single-byte tags, definite lengths up to 4 length bytes).
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // high tag numbers do not occur in the fields read here
    }
    let (&first, mut rest) = rest.split_first()?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None; // indefinite or absurd lengths are not DER
        }
        let mut length = 0usize;
        for &byte in &rest[..count] {
            length = (length << 8) | usize::from(byte);
        }
        rest = &rest[count..];
        length
    };
    if rest.len() < length {
        return None;
    }
    Some((tag, &rest[..length], &rest[length..]))
}

/// The short name of an attribute type, or its dotted OID.
fn attribute_kind(oid: &[u8]) -> String {
    const X520: [u8; 2] = [0x55, 0x04];
    const EMAIL: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];
    if oid == EMAIL {
        return "emailAddress".to_string();
    }
    if oid.len() == 3 && oid[..2] == X520 {
        let short = match oid[2] {
            3 => Some("CN"),
            5 => Some("serialNumber"),
            6 => Some("C"),
            7 => Some("L"),
            8 => Some("ST"),
            9 => Some("street"),
            10 => Some("O"),
            11 => Some("OU"),
            97 => Some("organizationIdentifier"),
            _ => None,
        };
        if let Some(short) = short {
            return short.to_string();
        }
    }
    dotted_oid(oid)
}

/// `2.5.4.3` from the OID's DER content.
fn dotted_oid(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &byte in oid {
        if value > (u64::MAX >> 7) {
            return "?".to_string();
        }
        value = (value << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// The text of a directory string (UTF8String, PrintableString, IA5String, T61String,
/// VisibleString, BMPString, UniversalString); other types as `#hex`, as RFC 4514 does.
fn decode_string(tag: u8, bytes: &[u8]) -> String {
    match tag {
        0x0c | 0x13 | 0x16 | 0x1a => String::from_utf8_lossy(bytes).into_owned(),
        // T61String: in practice Latin-1.
        0x14 => bytes.iter().map(|&b| char::from(b)).collect(),
        // BMPString: UTF-16 big-endian.
        0x1e => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        // UniversalString: UTF-32 big-endian.
        0x1c => bytes
            .chunks_exact(4)
            .map(|quad| {
                char::from_u32(u32::from_be_bytes([quad[0], quad[1], quad[2], quad[3]]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
        _ => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("#{hex}")
        }
    }
}

fn truncate(text: String) -> String {
    if text.chars().count() <= MAX_VALUE_CHARS {
        text
    } else {
        text.chars().take(MAX_VALUE_CHARS).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName as RcgenDn, DnType, KeyPair};

    fn self_signed(dn: &[(DnType, &str)]) -> Vec<u8> {
        let mut params = CertificateParams::default();
        let mut name = RcgenDn::new();
        for (kind, value) in dn {
            name.push(kind.clone(), *value);
        }
        params.distinguished_name = name;
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn reads_issuer_and_subject() {
        let der = self_signed(&[
            (DnType::CountryName, "KZ"),
            (DnType::OrganizationName, "ISCA"),
            (
                DnType::CommonName,
                "Information Security Certification Authority",
            ),
        ]);
        let names = certificate_names(&der).unwrap();
        assert_eq!(
            names.issuer.to_string(),
            "C=KZ, O=ISCA, CN=Information Security Certification Authority"
        );
        assert_eq!(names.subject, names.issuer);
        assert_eq!(names.issuer.values("C").collect::<Vec<_>>(), vec!["KZ"]);
    }

    #[test]
    fn reads_alternative_names_and_matches_hosts() {
        let mut params = CertificateParams::new(vec![
            "site.test".to_string(),
            "*.cdn.test".to_string(),
            "192.0.2.7".to_string(),
        ])
        .unwrap();
        params.distinguished_name = RcgenDn::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "ignored.test");
        let key = KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        let names = certificate_names(&der).unwrap();
        assert_eq!(names.dns_names, vec!["site.test", "*.cdn.test"]);
        assert_eq!(
            names.ip_addresses,
            vec!["192.0.2.7".parse::<IpAddr>().unwrap()]
        );
        assert!(names.names_host("site.test"));
        assert!(names.names_host("SITE.test."));
        assert!(names.names_host("img.cdn.test"));
        assert!(!names.names_host("a.b.cdn.test"));
        assert!(!names.names_host("cdn.test"));
        assert!(
            !names.names_host("ignored.test"),
            "CN is not used when SANs exist"
        );
        assert!(names.names_host("192.0.2.7"));
        assert!(!names.names_host("192.0.2.8"));

        // Without SANs the common name counts.
        let der = self_signed(&[(DnType::CommonName, "legacy.test")]);
        let names = certificate_names(&der).unwrap();
        assert!(names.dns_names.is_empty());
        assert!(names.names_host("legacy.test"));
        assert!(!names.names_host("other.test"));
    }

    #[test]
    fn non_ascii_values_survive() {
        let der = self_signed(&[(DnType::CommonName, "Қазақстан")]);
        let names = certificate_names(&der).unwrap();
        assert_eq!(names.subject.to_string(), "CN=Қазақстан");
    }

    #[test]
    fn garbage_and_truncation_are_rejected_without_panic() {
        let der = self_signed(&[(DnType::CommonName, "x")]);
        for cut in 0..der.len() {
            let _ = certificate_names(&der[..cut]);
        }
        assert!(certificate_names(&[]).is_none());
        assert!(certificate_names(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
        assert!(certificate_names(b"not a certificate").is_none());
    }

    #[test]
    fn oids_and_string_types() {
        assert_eq!(dotted_oid(&[0x55, 0x04, 0x03]), "2.5.4.3");
        assert_eq!(
            dotted_oid(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]),
            "1.2.840.113549.1.9.1"
        );
        assert_eq!(attribute_kind(&[0x55, 0x04, 0x0a]), "O");
        assert_eq!(attribute_kind(&[0x55, 0x04, 0x2a]), "2.5.4.42");
        assert_eq!(decode_string(0x1e, &[0x04, 0x1a, 0x00, 0x5a]), "КZ");
        assert_eq!(decode_string(0x14, &[0xe9]), "é");
        assert_eq!(decode_string(0x04, &[0x01, 0xab]), "#01ab");
    }
}
