//! Kazakhstan's HTTPS interception roots, and how a presented chain is matched against them.
//!
//! Sources (see `docs/detection.md`, "Kazakhstan's HTTPS interception roots"):
//! - **Qaznet Trust Network** (2019 campaign): Chromium's `net/data/ssl/blocklist/README.md`
//!   lists 10 certificates under that name; each file name is the SHA-256 of the DER
//!   certificate (root and intermediates, not told apart there) → [`QAZNET_CERT_SHA256`].
//! - **ISCA** (`C=KZ, O=ISCA, CN=Information Security Certification Authority`, 2020 onwards):
//!   only SHA-1 fingerprints of four roots were published, by OONI (crt.sh IDs 4739909320,
//!   11106964945, 12281942153, 14682080594) → [`ISCA_ROOT_SHA1`].
//!
//! A chain is a known Kazakh interception chain when any certificate in it has one of those
//! fingerprints, or when the issuer or subject DN of any of them carries `C=KZ` together with
//! `Qaznet`, `ISCA`, `Information Security Certification Authority` or `Security Certificate`
//! (the names used by the 2019, 2020 and 2021-2024 campaigns). Interception roots are rarely
//! sent by the interceptor, so the names of the intermediates and of the leaf's issuer matter
//! most; the fingerprints catch a root or intermediate that is presented.

use super::x509::{certificate_names, DistinguishedName};

/// SHA-256 of the DER certificates Chromium blocks as "Qaznet Trust Network".
pub const QAZNET_CERT_SHA256: [&str; 10] = [
    "00309c736dd661da6f1eb24173aa849944c168a43a15bffd192eecfdb6f8dbd2",
    "61c0fc2e38b5b6f9071b42cee54a9013d858b6697c68b460948551b3249576a1",
    "1df696f021ab1c3ace9a376b07ed7256a40214cd3396d7934087614924e2d7ef",
    "0230a604d99220e5612ee7862ab9f7a6e18e4f1ac4c9e27075788cc5220169ab",
    "06fd20629c143b9eab28d2799caefc5d23fde267d16c631e3f5b8b4bab3f68e6",
    "0bd39de4793cdc117138f47708aa4d583acf67adb059a0d91f668d1803bf6489",
    "c95c133b68319ee516b5f41e377f589878af1556567cc2834ef03b1d10830fd3",
    "c530fadc9bfa265e63b755cc6ee04c2d70d60bb916ce2f331dc7359362571b25",
    "89107c8e50e029b7b5f4ff0ccd2956bcc9d0c8ba2bfb6a58374ed63a6b034a30",
    "3472e4f16c570e0dd388aaaa4a64a34a4b939f1ca770996b5be0037c1aded9c1",
];

/// SHA-1 of the ISCA roots seen signing interception intermediates (published by OONI).
pub const ISCA_ROOT_SHA1: [&str; 4] = [
    "fabda72fa1f620c160420a496194b61f82a01b4a",
    "ea5d093c312e1a516937e153c06c2d82127b47d6",
    "1375ebdcf56359aae0423e861ac8fc6231511ce6",
    "bfd7f531eca8e3d65b4738167b160b7a95a8d894",
];

/// What a presented chain says about who issued it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainInspection {
    /// The issuer DN of the topmost certificate presented (the root's name when the chain is
    /// leaf + intermediates); empty when no certificate could be read.
    pub issuer: String,
    /// True when the chain matches Kazakhstan's known interception roots.
    pub known_kz_root: bool,
    /// SHA-256 of each certificate presented, leaf first, lowercase hex.
    pub sha256: Vec<String>,
}

/// Inspects a presented chain (DER certificates, leaf first).
pub fn inspect_chain(chain: &[Vec<u8>]) -> ChainInspection {
    let mut issuer = String::new();
    let mut known = false;
    let mut sha256 = Vec::with_capacity(chain.len());
    for der in chain {
        let digest = sha256_hex(der);
        known |= is_known_kz_digest(der, &digest);
        sha256.push(digest);
        if let Some(names) = certificate_names(der) {
            known |=
                is_kz_interception_name(&names.issuer) || is_kz_interception_name(&names.subject);
            issuer = names.issuer.to_string();
        }
    }
    ChainInspection {
        issuer,
        known_kz_root: known,
        sha256,
    }
}

/// True when the certificate's SHA-256 is a Qaznet one or its SHA-1 an ISCA root's.
pub fn is_known_kz_certificate(der: &[u8]) -> bool {
    is_known_kz_digest(der, &sha256_hex(der))
}

/// [`is_known_kz_certificate`] with the certificate's SHA-256 (lowercase hex) already computed.
fn is_known_kz_digest(der: &[u8], sha256: &str) -> bool {
    if QAZNET_CERT_SHA256.contains(&sha256) {
        return true;
    }
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    ISCA_ROOT_SHA1.contains(&hex(sha1.as_ref()).as_str())
}

/// True when a DN names one of Kazakhstan's interception authorities: `C=KZ` and a CN, O or
/// OU that contains `Qaznet`, `Information Security Certification Authority` or `Security
/// Certificate`, or has the word `ISCA` (all case-insensitive).
pub fn is_kz_interception_name(name: &DistinguishedName) -> bool {
    let kazakh = name
        .values("C")
        .any(|country| country.trim().eq_ignore_ascii_case("KZ"));
    if !kazakh {
        return false;
    }
    name.attributes
        .iter()
        .filter(|attribute| matches!(attribute.kind.as_str(), "CN" | "O" | "OU"))
        .any(|attribute| {
            let value = attribute.value.to_lowercase();
            value.contains("qaznet")
                || value.contains("information security certification authority")
                || value.contains("security certificate")
                || value
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|word| word == "isca")
        })
}

fn sha256_hex(der: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::web_connectivity::x509::Attribute;
    use rcgen::{CertificateParams, DistinguishedName as RcgenDn, DnType, KeyPair};

    fn dn(pairs: &[(&str, &str)]) -> DistinguishedName {
        DistinguishedName {
            attributes: pairs
                .iter()
                .map(|(kind, value)| Attribute {
                    kind: kind.to_string(),
                    value: value.to_string(),
                })
                .collect(),
        }
    }

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
    fn the_campaigns_names_match() {
        for name in [
            dn(&[("C", "KZ"), ("CN", "Qaznet Trust Network")]),
            dn(&[("C", "KZ"), ("CN", "Security Certificate")]),
            dn(&[
                ("C", "KZ"),
                ("O", "ISCA"),
                ("CN", "Information Security Certification Authority"),
            ]),
            dn(&[
                ("CN", "Information Security Certification Authority CA"),
                ("C", "kz"),
            ]),
        ] {
            assert!(is_kz_interception_name(&name), "{name}");
        }
    }

    #[test]
    fn other_names_do_not_match() {
        for name in [
            // The right words without C=KZ.
            dn(&[("CN", "Qaznet Trust Network")]),
            dn(&[("C", "US"), ("O", "ISCA")]),
            // C=KZ alone is an ordinary Kazakh CA or site.
            dn(&[("C", "KZ"), ("O", "Kazakhtelecom JSC"), ("CN", "mail.kz")]),
            // "isca" inside another word is not the ISCA.
            dn(&[("C", "KZ"), ("O", "Discable LLP")]),
            dn(&[("C", "KZ"), ("L", "Security Certificate")]),
        ] {
            assert!(!is_kz_interception_name(&name), "{name}");
        }
    }

    #[test]
    fn a_kz_lookalike_chain_is_recognised_and_named() {
        let root = self_signed(&[
            (DnType::CountryName, "KZ"),
            (DnType::OrganizationName, "ISCA"),
            (
                DnType::CommonName,
                "Information Security Certification Authority",
            ),
        ]);
        let inspection = inspect_chain(std::slice::from_ref(&root));
        assert!(inspection.known_kz_root);
        assert_eq!(
            inspection.issuer,
            "C=KZ, O=ISCA, CN=Information Security Certification Authority"
        );
        assert_eq!(inspection.sha256.len(), 1);
        assert_eq!(inspection.sha256[0].len(), 64);

        let other = self_signed(&[(DnType::CommonName, "Rogue CA")]);
        let inspection = inspect_chain(&[other]);
        assert!(!inspection.known_kz_root);
        assert_eq!(inspection.issuer, "CN=Rogue CA");
        assert!(!is_known_kz_certificate(&root));
    }

    #[test]
    fn shipped_fingerprints_are_well_formed() {
        for hash in QAZNET_CERT_SHA256 {
            assert_eq!(hash.len(), 64);
            assert!(hash
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        }
        for hash in ISCA_ROOT_SHA1 {
            assert_eq!(hash.len(), 40);
            assert!(hash
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        }
        assert_eq!(inspect_chain(&[]).issuer, "");
        assert_eq!(inspect_chain(&[b"junk".to_vec()]).sha256.len(), 1);
    }
}
