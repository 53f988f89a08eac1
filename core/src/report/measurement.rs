//! The OONI measurement envelope (df-000, `data_format_version` 0.2.0).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// `data_format_version` of every measurement Kuzet emits.
pub const DATA_FORMAT_VERSION: &str = "0.2.0";

/// What is known about the probe's network when a measurement is made. Unknown values are
/// OONI's placeholders (`AS0`, `ZZ`), which collectors refuse, so such measurements are held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeNetwork {
    /// `AS1234`, or `AS0` when unknown.
    pub probe_asn: String,
    /// ISO 3166 alpha-2 country, or `ZZ` when unknown.
    pub probe_cc: String,
    /// The AS organisation name, or empty.
    pub probe_network_name: String,
    /// The resolver's AS (`AS0` when unknown).
    pub resolver_asn: String,
    /// The resolver's organisation name, or empty.
    pub resolver_network_name: String,
}

impl Default for ProbeNetwork {
    fn default() -> Self {
        ProbeNetwork {
            probe_asn: "AS0".to_string(),
            probe_cc: "ZZ".to_string(),
            probe_network_name: String::new(),
            resolver_asn: "AS0".to_string(),
            resolver_network_name: String::new(),
        }
    }
}

/// Who produced a measurement: `software_name` must match `^[0-9A-Za-z_.+-]+$`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Software {
    /// `kuzet-cli`, or the embedding app's name.
    pub name: String,
    /// The app's version.
    pub version: String,
}

impl Default for Software {
    fn default() -> Self {
        Software {
            name: "kuzet-cli".to_string(),
            version: crate::VERSION.to_string(),
        }
    }
}

/// One OONI measurement. `test_keys` is kept as JSON so that any experiment's keys (and keys of
/// measurements made by other engines) survive a round trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Metadata such as `platform`, `engine_name`, `network_type`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, serde_json::Value>,
    /// Always [`DATA_FORMAT_VERSION`] for measurements Kuzet makes.
    pub data_format_version: String,
    /// Which sub-formats the test keys use, e.g. `{"dnst": 0}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, i64>,
    /// A client-side random id (UUID v4): stable across upload retries so duplicates can be
    /// recognised. Never derived from the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The input measured (a URL), or `null` for input-less tests.
    pub input: Option<String>,
    /// When this measurement started (`YYYY-MM-DD hh:mm:ss`, UTC).
    pub measurement_start_time: String,
    /// `AS1234`, or `AS0`.
    pub probe_asn: String,
    /// Country code, or `ZZ`.
    pub probe_cc: String,
    /// Always `127.0.0.1` once scrubbed.
    pub probe_ip: String,
    /// The AS organisation name.
    #[serde(default)]
    pub probe_network_name: String,
    /// The collector's report id; empty until submitted.
    #[serde(default)]
    pub report_id: String,
    /// The resolver's AS (`AS0` when unknown, and when reading measurements that predate it).
    #[serde(default = "unknown_asn")]
    pub resolver_asn: String,
    /// The resolver's IP; OONI's placeholder `127.0.0.2` when unknown (and when reading
    /// measurements that predate the field).
    #[serde(default = "unknown_resolver_ip")]
    pub resolver_ip: String,
    /// The resolver's organisation name.
    #[serde(default)]
    pub resolver_network_name: String,
    /// The app that made the measurement.
    pub software_name: String,
    /// The app's version.
    pub software_version: String,
    /// Test helpers used, e.g. `{"backend": {"address": ..., "type": "https"}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_helpers: Option<serde_json::Value>,
    /// The experiment's keys.
    pub test_keys: serde_json::Value,
    /// snake_case experiment name, e.g. `urlgetter`.
    pub test_name: String,
    /// Seconds spent measuring this input.
    pub test_runtime: f64,
    /// When the run (report) this measurement belongs to started.
    pub test_start_time: String,
    /// The experiment's version.
    pub test_version: String,
}

/// The IP address OONI puts in `probe_ip` of every submitted measurement.
pub const SCRUBBED_PROBE_IP: &str = "127.0.0.1";

/// OONI's placeholder for an unknown resolver IP.
pub const UNKNOWN_RESOLVER_IP: &str = "127.0.0.2";

/// OONI's placeholder for an unknown AS.
pub const UNKNOWN_ASN: &str = "AS0";

/// Serde default of `resolver_asn`.
fn unknown_asn() -> String {
    UNKNOWN_ASN.to_string()
}

/// Serde default of `resolver_ip`.
fn unknown_resolver_ip() -> String {
    UNKNOWN_RESOLVER_IP.to_string()
}

impl Measurement {
    /// A new measurement with the base keys filled in and empty test keys.
    pub fn new(
        test_name: &str,
        test_version: &str,
        input: Option<String>,
        software: &Software,
        network: &ProbeNetwork,
        test_start_time: OffsetDateTime,
        measurement_start_time: OffsetDateTime,
    ) -> Self {
        let mut annotations = BTreeMap::new();
        annotations.insert("engine_name".to_string(), "kuzet".into());
        annotations.insert("engine_version".to_string(), crate::VERSION.into());
        annotations.insert("platform".to_string(), std::env::consts::OS.into());
        annotations.insert("architecture".to_string(), std::env::consts::ARCH.into());
        Measurement {
            annotations,
            data_format_version: DATA_FORMAT_VERSION.to_string(),
            extensions: BTreeMap::new(),
            id: Some(crate::random::uuid_v4().to_string()),
            input,
            measurement_start_time: format_ooni_time(measurement_start_time),
            probe_asn: network.probe_asn.clone(),
            probe_cc: network.probe_cc.clone(),
            probe_ip: SCRUBBED_PROBE_IP.to_string(),
            probe_network_name: network.probe_network_name.clone(),
            report_id: String::new(),
            resolver_asn: network.resolver_asn.clone(),
            resolver_ip: UNKNOWN_RESOLVER_IP.to_string(),
            resolver_network_name: network.resolver_network_name.clone(),
            software_name: software.name.clone(),
            software_version: software.version.clone(),
            test_helpers: None,
            test_keys: serde_json::Value::Object(Default::default()),
            test_name: test_name.to_string(),
            test_runtime: 0.0,
            test_start_time: format_ooni_time(test_start_time),
            test_version: test_version.to_string(),
        }
    }
}

/// Formats a time as OONI does: UTC, `YYYY-MM-DD hh:mm:ss`, no `T`, no zone.
pub fn format_ooni_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}
