//! Facts of OONI's data format that several tests check measurements against.

/// The base (df-000) envelope keys of an OONI measurement, the ones Kuzet's `Measurement`
/// writes: as in OONI's spec and in every sample in `../shared/data/ooni-samples`.
pub const BASE_KEYS: [&str; 22] = [
    "annotations",
    "data_format_version",
    "extensions",
    "id",
    "input",
    "measurement_start_time",
    "probe_asn",
    "probe_cc",
    "probe_ip",
    "probe_network_name",
    "report_id",
    "resolver_asn",
    "resolver_ip",
    "resolver_network_name",
    "software_name",
    "software_version",
    "test_helpers",
    "test_keys",
    "test_name",
    "test_runtime",
    "test_start_time",
    "test_version",
];
