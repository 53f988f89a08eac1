//! The probe's network (ASN, country, network name) from what the platform knows: the app's own
//! values, else the serving mobile network's MCC-MNC, else the engine's configuration.
//!
//! Two small tables, no geolocation service:
//! - [`MCC_COUNTRIES`]: mobile country codes (ITU-T E.212) to ISO 3166 countries, for
//!   Kazakhstan, its neighbours and the countries its users most often roam in. Any other MCC
//!   leaves the country unknown.
//! - [`KZ_OPERATORS`]: Kazakhstan's mobile networks (MCC 401) to the AS that carries their
//!   subscribers' data and its organisation name (`docs/detection.md`, "Operators, ASNs,
//!   MCC-MNC"). Tele2 (401-77) and Altel (401-07) are one operator, Mobile Telecom-Service,
//!   which announces AS48503 and AS29555; the table names AS48503. An app that knows better
//!   (from a check-in with its own server) passes `probe_asn` and wins.
//!
//! The ASN is derived only on mobile data ([`NetworkKind::Cellular`]): on Wi-Fi the SIM's
//! operator says nothing about the network measured. The country is derived on every kind but
//! a VPN (whose exit may be anywhere). MCC-MNC itself is never recorded: OONI reports only the
//! ASN, the country and the network name.

use super::context::{NetworkContext, NetworkKind};
use crate::report::ProbeNetwork;

/// Mobile country codes and their countries.
pub const MCC_COUNTRIES: &[(u16, &str)] = &[
    // Kazakhstan and its neighbours.
    (401, "KZ"),
    (250, "RU"),
    (460, "CN"),
    (461, "CN"),
    (437, "KG"),
    (434, "UZ"),
    (436, "TJ"),
    (438, "TM"),
    (400, "AZ"),
    (282, "GE"),
    (283, "AM"),
    (428, "MN"),
    (412, "AF"),
    (432, "IR"),
    (255, "UA"),
    (257, "BY"),
    (259, "MD"),
    // Where travellers and workers from Kazakhstan often are.
    (286, "TR"),
    (424, "AE"),
    (420, "SA"),
    (427, "QA"),
    (425, "IL"),
    (602, "EG"),
    (404, "IN"),
    (405, "IN"),
    (406, "IN"),
    (410, "PK"),
    (440, "JP"),
    (441, "JP"),
    (450, "KR"),
    (452, "VN"),
    (502, "MY"),
    (510, "ID"),
    (515, "PH"),
    (520, "TH"),
    (525, "SG"),
    (505, "AU"),
    (530, "NZ"),
    (262, "DE"),
    (208, "FR"),
    (222, "IT"),
    (214, "ES"),
    (268, "PT"),
    (204, "NL"),
    (206, "BE"),
    (228, "CH"),
    (232, "AT"),
    (234, "GB"),
    (235, "GB"),
    (272, "IE"),
    (238, "DK"),
    (240, "SE"),
    (242, "NO"),
    (244, "FI"),
    (246, "LT"),
    (247, "LV"),
    (248, "EE"),
    (260, "PL"),
    (230, "CZ"),
    (216, "HU"),
    (226, "RO"),
    (202, "GR"),
    (302, "CA"),
    (310, "US"),
    (311, "US"),
    (312, "US"),
    (313, "US"),
    (314, "US"),
    (315, "US"),
    (316, "US"),
    (334, "MX"),
    (724, "BR"),
    (722, "AR"),
    (655, "ZA"),
    (621, "NG"),
];

/// One of Kazakhstan's mobile networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    /// The MNC under MCC 401.
    pub mnc: u16,
    /// The brand people know.
    pub brand: &'static str,
    /// The AS carrying its subscribers' data, `AS1234`.
    pub asn: &'static str,
    /// The AS organisation's name, as OONI's `probe_network_name`.
    pub network_name: &'static str,
}

/// Kazakhstan's mobile networks (MCC 401).
pub const KZ_OPERATORS: &[Operator] = &[
    Operator {
        mnc: 1,
        brand: "Beeline",
        asn: "AS21299",
        network_name: "Kar-Tel LLC",
    },
    Operator {
        mnc: 2,
        brand: "Kcell",
        asn: "AS29355",
        network_name: "Kcell JSC",
    },
    Operator {
        mnc: 7,
        brand: "Altel",
        asn: "AS48503",
        network_name: "Mobile Telecom-Service LLP",
    },
    Operator {
        mnc: 77,
        brand: "Tele2",
        asn: "AS48503",
        network_name: "Mobile Telecom-Service LLP",
    },
];

/// Kazakhstan's MCC.
const KZ_MCC: u16 = 401;
/// The longest network name taken from the app.
const MAX_NETWORK_NAME: usize = 128;

/// Splits an MCC-MNC (`401-02`, `401 02`, `40102`, `401/02`) into numbers.
pub fn parse_mcc_mnc(text: &str) -> Option<(u16, u16)> {
    let text = text.trim();
    let (mcc, mnc) = match text.find(['-', ' ', '/', '_']) {
        Some(at) => (&text[..at], &text[at + 1..]),
        None if text.len() >= 5 => text.split_at(3),
        None => return None,
    };
    let digits = |part: &str, lengths: std::ops::RangeInclusive<usize>| {
        (lengths.contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<u16>().ok())
            .flatten()
    };
    Some((digits(mcc, 3..=3)?, digits(mnc, 2..=3)?))
}

/// The country of a mobile country code, if the table has it.
pub fn country_of_mcc(mcc: u16) -> Option<&'static str> {
    MCC_COUNTRIES
        .iter()
        .find(|(code, _)| *code == mcc)
        .map(|(_, cc)| *cc)
}

/// The Kazakh mobile network of an MCC-MNC, if the table has it.
pub fn kz_operator(mcc: u16, mnc: u16) -> Option<&'static Operator> {
    if mcc != KZ_MCC {
        return None;
    }
    KZ_OPERATORS.iter().find(|op| op.mnc == mnc)
}

/// An ASN in OONI's spelling (`AS1234`), from `AS1234`, `as1234` or `1234`; `None` for `AS0`
/// (unknown) and anything else.
pub fn normalize_asn(text: &str) -> Option<String> {
    let text = text.trim();
    let digits = text
        .strip_prefix("AS")
        .or_else(|| text.strip_prefix("as"))
        .unwrap_or(text);
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match digits.parse::<u32>() {
        Ok(0) | Err(_) => None,
        Ok(number) => Some(format!("AS{number}")),
    }
}

/// A country code in OONI's spelling (two upper-case letters); `None` for `ZZ` (unknown) and
/// anything else.
pub fn normalize_cc(text: &str) -> Option<String> {
    let text = text.trim();
    if text.len() != 2 || !text.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let cc = text.to_ascii_uppercase();
    (cc != "ZZ").then_some(cc)
}

/// A network name fit for a measurement: trimmed, no control characters, at most 128
/// characters; `None` when empty.
fn clean_name(text: &str) -> Option<String> {
    let name: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NETWORK_NAME)
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The probe's network for a run made in `context`, starting from the configured `base`:
/// the app's values first, then what the MCC-MNC tells (see the module docs), then `base`.
/// Values the app passes that are not an ASN or a country are ignored (logged without them).
pub fn probe_network(base: &ProbeNetwork, context: &NetworkContext) -> ProbeNetwork {
    let mut network = base.clone();
    let mobile = context
        .mcc_mnc
        .as_deref()
        .and_then(parse_mcc_mnc)
        .filter(|_| context.kind != NetworkKind::Vpn);
    let app_asn = context.probe_asn.as_deref().and_then(normalize_asn);
    if context.probe_asn.is_some() && app_asn.is_none() {
        tracing::warn!("the app's probe ASN is not an ASN; ignored");
    }
    let app_cc = context.probe_cc.as_deref().and_then(normalize_cc);
    if context.probe_cc.is_some() && app_cc.is_none() {
        tracing::warn!("the app's probe country is not a country code; ignored");
    }
    let app_name = context.network_name.as_deref().and_then(clean_name);

    if let Some(asn) = app_asn {
        network.probe_asn = asn;
        network.probe_network_name = app_name.unwrap_or_default();
    } else if let Some(operator) = mobile
        .filter(|_| context.kind == NetworkKind::Cellular)
        .and_then(|(mcc, mnc)| kz_operator(mcc, mnc))
    {
        network.probe_asn = operator.asn.to_string();
        network.probe_network_name = operator.network_name.to_string();
    }
    if let Some(cc) = app_cc {
        network.probe_cc = cc;
    } else if let Some(cc) = mobile.and_then(|(mcc, _)| country_of_mcc(mcc)) {
        network.probe_cc = cc.to_string();
    }
    network
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(kind: NetworkKind, mcc_mnc: Option<&str>) -> NetworkContext {
        NetworkContext {
            kind,
            mcc_mnc: mcc_mnc.map(str::to_string),
            ..NetworkContext::default()
        }
    }

    #[test]
    fn mcc_mnc_spellings_parse() {
        for text in ["401-02", "401 02", "40102", "401/02"] {
            assert_eq!(parse_mcc_mnc(text), Some((401, 2)), "{text}");
        }
        assert_eq!(parse_mcc_mnc("401077"), Some((401, 77)));
        for bad in ["", "401", "4010", "40a02", "4010234", "401-0-2-3"] {
            assert_eq!(parse_mcc_mnc(bad), None, "{bad}");
        }
    }

    #[test]
    fn each_kazakh_operator_gives_its_asn_on_mobile_data() {
        for (mcc_mnc, asn, name) in [
            ("401-01", "AS21299", "Kar-Tel LLC"),
            ("401-02", "AS29355", "Kcell JSC"),
            ("401-07", "AS48503", "Mobile Telecom-Service LLP"),
            ("401-77", "AS48503", "Mobile Telecom-Service LLP"),
        ] {
            let network = probe_network(
                &ProbeNetwork::default(),
                &context(NetworkKind::Cellular, Some(mcc_mnc)),
            );
            assert_eq!(network.probe_asn, asn, "{mcc_mnc}");
            assert_eq!(network.probe_cc, "KZ", "{mcc_mnc}");
            assert_eq!(network.probe_network_name, name, "{mcc_mnc}");
            assert_eq!(network.resolver_asn, "AS0");
        }
    }

    #[test]
    fn on_wifi_only_the_country_is_derived() {
        let network = probe_network(
            &ProbeNetwork::default(),
            &context(NetworkKind::Wifi, Some("401-02")),
        );
        assert_eq!(
            (network.probe_asn.as_str(), network.probe_cc.as_str()),
            ("AS0", "KZ")
        );
        assert_eq!(network.probe_network_name, "");
    }

    #[test]
    fn a_vpn_or_an_unknown_network_derives_nothing() {
        let vpn = probe_network(
            &ProbeNetwork::default(),
            &context(NetworkKind::Vpn, Some("401-02")),
        );
        assert_eq!(vpn, ProbeNetwork::default());
        // An operator not in the table: the country only.
        let other = probe_network(
            &ProbeNetwork::default(),
            &context(NetworkKind::Cellular, Some("401-08")),
        );
        assert_eq!(
            (other.probe_asn.as_str(), other.probe_cc.as_str()),
            ("AS0", "KZ")
        );
        // A foreign operator: its country, never a Kazakh ASN.
        let roaming = probe_network(
            &ProbeNetwork::default(),
            &context(NetworkKind::Cellular, Some("250-01")),
        );
        assert_eq!(
            (roaming.probe_asn.as_str(), roaming.probe_cc.as_str()),
            ("AS0", "RU")
        );
        // An MCC the table does not list.
        let unknown = probe_network(
            &ProbeNetwork::default(),
            &context(NetworkKind::Cellular, Some("999-01")),
        );
        assert_eq!(unknown, ProbeNetwork::default());
    }

    #[test]
    fn the_apps_values_win_over_the_table_and_the_configuration() {
        let base = ProbeNetwork {
            probe_asn: "AS64500".to_string(),
            probe_cc: "IT".to_string(),
            probe_network_name: "Configured".to_string(),
            ..ProbeNetwork::default()
        };
        let network = probe_network(
            &base,
            &NetworkContext {
                kind: NetworkKind::Cellular,
                probe_asn: Some("9198".to_string()),
                probe_cc: Some("kz".to_string()),
                network_name: Some("  JSC Kazakhtelecom\n".to_string()),
                mcc_mnc: Some("401-02".to_string()),
                ..NetworkContext::default()
            },
        );
        assert_eq!(network.probe_asn, "AS9198");
        assert_eq!(network.probe_cc, "KZ");
        assert_eq!(network.probe_network_name, "JSC Kazakhtelecom");
        // Nothing from the platform: the configuration stays.
        assert_eq!(probe_network(&base, &NetworkContext::default()), base);
    }

    #[test]
    fn bad_values_from_the_app_are_ignored() {
        let network = probe_network(
            &ProbeNetwork::default(),
            &NetworkContext {
                kind: NetworkKind::Cellular,
                probe_asn: Some("AS0".to_string()),
                probe_cc: Some("Kazakhstan".to_string()),
                mcc_mnc: Some("401-01".to_string()),
                ..NetworkContext::default()
            },
        );
        // Both fall back to the MCC-MNC.
        assert_eq!(network.probe_asn, "AS21299");
        assert_eq!(network.probe_cc, "KZ");
        for bad in ["", "ASX", "AS-1", "AS99999999999", "12a"] {
            assert_eq!(normalize_asn(bad), None, "{bad}");
        }
        assert_eq!(normalize_asn("as29355").as_deref(), Some("AS29355"));
        for bad in ["", "ZZ", "zz", "K", "KAZ", "K1"] {
            assert_eq!(normalize_cc(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_tables_are_consistent() {
        let mut mccs: Vec<u16> = MCC_COUNTRIES.iter().map(|(mcc, _)| *mcc).collect();
        mccs.sort_unstable();
        mccs.dedup();
        assert_eq!(mccs.len(), MCC_COUNTRIES.len(), "an MCC is listed twice");
        for (mcc, cc) in MCC_COUNTRIES {
            assert!((200..800).contains(mcc), "{mcc}");
            assert_eq!(normalize_cc(cc).as_deref(), Some(*cc));
        }
        for operator in KZ_OPERATORS {
            assert_eq!(normalize_asn(operator.asn).as_deref(), Some(operator.asn));
            assert!(!operator.brand.is_empty() && !operator.network_name.is_empty());
        }
    }
}
