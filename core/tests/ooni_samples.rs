//! Conformance against real OONI measurements (`shared/data/ooni-samples`, beside the
//! repository): every sample must parse into Kuzet's types and serialise back with every value
//! Kuzet models unchanged, so Kuzet both reads other engines' measurements and writes the shape
//! OONI's pipeline expects.
//!
//! "Unchanged" allows exactly the differences that carry no information: `0` vs `0.0`, and
//! `null` or a missing key vs an empty value (`""`, `false`, `0`, `[]`, `{}`). probe-cli writes
//! `null` for empty lists and omits zero `t0`/`transaction_id`; legacy engines omit fields that
//! Kuzet writes as empty, and Measurement Kit wrote `"failure": false` for "no failure".

use kuzet_e2e::ooni::BASE_KEYS;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use kuzet_core::report::measurement::DATA_FORMAT_VERSION;
use kuzet_core::report::observations::HttpBody;
use kuzet_core::report::scrub::{scrub_measurement, scrub_text};
use kuzet_core::report::{
    format_ooni_time, DnsQuery, HttpTransaction, Measurement, NetworkEvent, ProbeNetwork, Software,
    TcpConnect, TlsHandshake,
};
use kuzet_core::Failure;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// The sample directories that hold measurements.
const SAMPLE_DIRS: [&str; 3] = ["web_connectivity", "im", "urlgetter"];

/// What `Measurement` writes for a base key that an older measurement does not have.
fn base_default(key: &str) -> Option<Value> {
    Some(Value::from(match key {
        "probe_network_name" | "resolver_network_name" | "report_id" => "",
        "resolver_asn" => "AS0",
        "resolver_ip" => "127.0.0.2",
        _ => return None,
    }))
}

/// The keys the sub-format types model at each place (path of object keys from the
/// `test_keys` entry; list elements keep their list's path). `None` for maps, whose keys are
/// data (all modelled), and for places we do not know.
fn modeled(path: &str) -> Option<&'static [&'static str]> {
    Some(match path {
        "queries" => &[
            "answers",
            "engine",
            "failure",
            "hostname",
            "query_type",
            "raw_response",
            "resolver_address",
            "resolver_hostname",
            "resolver_port",
            "t0",
            "t",
            "tags",
            "transaction_id",
        ],
        "queries.answers" => &[
            "answer_type",
            "ipv4",
            "ipv6",
            "hostname",
            "asn",
            "as_org_name",
            "ttl",
        ],
        "tcp_connect" => &["ip", "port", "status", "t0", "t", "tags", "transaction_id"],
        "tcp_connect.status" => &["success", "failure", "blocked"],
        "tls_handshakes" => &[
            "network",
            "address",
            "cipher_suite",
            "failure",
            "negotiated_protocol",
            "no_tls_verify",
            "peer_certificates",
            "server_name",
            "tls_version",
            "t0",
            "t",
            "tags",
            "transaction_id",
        ],
        "tls_handshakes.peer_certificates" | "requests.request.body" | "requests.response.body" => {
            &["format", "data"]
        }
        "requests" => &[
            "network",
            "address",
            "alpn",
            "failure",
            "request",
            "response",
            "t0",
            "t",
            "tags",
            "transaction_id",
        ],
        "requests.request" => &[
            "body",
            "body_is_truncated",
            "headers_list",
            "headers",
            "method",
            "tor",
            "x_transport",
            "url",
        ],
        "requests.request.tor" => &["exit_ip", "exit_name", "is_tor"],
        "requests.response" => &[
            "body",
            "body_is_truncated",
            "code",
            "headers_list",
            "headers",
        ],
        "network_events" => &[
            "address",
            "failure",
            "num_bytes",
            "operation",
            "proto",
            "t0",
            "t",
            "tags",
            "transaction_id",
        ],
        _ => return None,
    })
}

/// One measurement from the samples.
struct Sample {
    /// `dir/file` or `dir/file:line`.
    name: String,
    /// The measurement as OONI wrote it.
    raw: Value,
}

/// Where the samples are: `shared/` lives beside the repository checkout.
fn samples_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/ooni-samples");
    assert!(
        dir.is_dir(),
        "OONI sample measurements not found at {}.\nThe conformance tests need the shared data \
         directory beside the repository checkout (<checkout>/../shared/data/ooni-samples); \
         they fail rather than skip so that CI never passes without them.",
        dir.display()
    );
    dir
}

/// Every measurement in the sample directories (`.json`: one per file, `.jsonl`: one a line).
fn load_samples() -> Vec<Sample> {
    let root = samples_dir();
    let mut samples = Vec::new();
    for dir in SAMPLE_DIRS {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("cannot list {}/{dir}: {e}", root.display()))
            .map(|entry| entry.unwrap().path())
            .filter(|path| {
                matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("json" | "jsonl")
                )
            })
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no samples in {}/{dir}", root.display());
        for path in files {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let file = format!("{dir}/{}", path.file_name().unwrap().to_string_lossy());
            if path.extension().is_some_and(|e| e == "jsonl") {
                for (index, line) in text.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let raw = serde_json::from_str(line)
                        .unwrap_or_else(|e| panic!("{file}:{}: {e}", index + 1));
                    samples.push(Sample {
                        name: format!("{file}:{}", index + 1),
                        raw,
                    });
                }
            } else {
                let raw = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
                samples.push(Sample { name: file, raw });
            }
        }
    }
    samples
}

/// Parses a sample into a `Measurement`.
fn parse_measurement(sample: &Sample) -> Measurement {
    serde_json::from_value(sample.raw.clone())
        .unwrap_or_else(|e| panic!("{}: cannot read as Measurement: {e}", sample.name))
}

/// Serialises to text and back, as a collector would see it.
fn reserialise<T: Serialize>(value: &T) -> Value {
    let text = serde_json::to_string(value).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `null`, or a value that says nothing: `""`, `false`, `0`, `[]`, `{}`.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(flag) => !flag,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
    }
}

/// Numbers equal as floats (`0` vs `0.0`), to the last bit or so.
fn same_number(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs()),
        _ => a == b,
    }
}

/// Differences between what OONI wrote and what we write back, and the keys we do not model.
#[derive(Default)]
struct Report {
    errors: Vec<String>,
    unmodeled: BTreeSet<String>,
}

/// Compares `original` (what OONI wrote) with `ours` (what we wrote after reading it): every key
/// in our output must equal the original's value, and every original key we model must be in
/// our output, up to the equivalences in the module docs. `path` names the place for
/// [`modeled`]; `at` names it for messages.
fn compare(
    path: &str,
    at: &str,
    original: Option<&Value>,
    ours: Option<&Value>,
    report: &mut Report,
) {
    let original_empty = original.is_none_or(is_empty);
    let ours_empty = ours.is_none_or(is_empty);
    let null_or_absent = |v: Option<&Value>| v.is_none_or(Value::is_null);
    if (null_or_absent(original) && ours_empty) || (original_empty && null_or_absent(ours)) {
        return;
    }
    let (Some(original), Some(ours)) = (original, ours) else {
        report.errors.push(format!(
            "{at}: original {} but ours {}",
            original.map_or("absent".to_string(), |v| v.to_string()),
            ours.map_or("absent".to_string(), |v| v.to_string())
        ));
        return;
    };
    match (original, ours) {
        (Value::Number(a), Value::Number(b)) if same_number(a, b) => {}
        (Value::Object(a), Value::Object(b)) => {
            let allowed = modeled(path);
            let mut keys: BTreeSet<&String> = b.keys().collect();
            for key in a.keys() {
                if allowed.is_none_or(|list| list.contains(&key.as_str())) {
                    keys.insert(key);
                } else {
                    report.unmodeled.insert(format!("{path}.{key}"));
                }
            }
            for key in keys {
                if let Some(list) = allowed {
                    if !list.contains(&key.as_str()) {
                        report
                            .errors
                            .push(format!("{at}.{key}: we write a key the test does not list"));
                    }
                }
                compare(
                    &format!("{path}.{key}"),
                    &format!("{at}.{key}"),
                    a.get(key),
                    b.get(key),
                    report,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                compare(path, &format!("{at}[{index}]"), Some(x), Some(y), report);
            }
        }
        (a, b) if a == b => {}
        (a, b) => report
            .errors
            .push(format!("{at}: original {a} but ours {b}")),
    }
}

/// Exact comparison, but for `0` vs `0.0` (for `test_keys`, kept as JSON).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => same_number(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, x)| y.get(key).is_some_and(|y| same_json(x, y)))
        }
        (x, y) => x == y,
    }
}

#[test]
fn every_sample_is_found() {
    let samples = load_samples();
    let names: Vec<&str> = samples.iter().map(|s| s.name.as_str()).collect();
    for dir in SAMPLE_DIRS {
        assert!(
            names.iter().any(|n| n.starts_with(dir)),
            "no sample from {dir}: {names:?}"
        );
    }
    assert!(
        names.contains(&"urlgetter/urlgetter-0.2.0-miniooni-DE-two-measurements.jsonl:2"),
        "the .jsonl file must give one measurement a line: {names:?}"
    );
    assert!(samples.len() >= 20, "only {} samples", samples.len());
}

#[test]
fn base_keys_survive_a_round_trip() {
    let mut errors = Vec::new();
    let mut unmodeled = BTreeSet::new();
    for sample in load_samples() {
        let measurement = parse_measurement(&sample);
        let ours = reserialise(&measurement);
        let (Some(original), Some(ours)) = (sample.raw.as_object(), ours.as_object()) else {
            panic!("{}: not an object", sample.name);
        };
        for key in ours.keys() {
            if !BASE_KEYS.contains(&key.as_str()) {
                errors.push(format!(
                    "{}: we write unmodeled base key {key}",
                    sample.name
                ));
            }
        }
        for key in original.keys().filter(|k| !BASE_KEYS.contains(&k.as_str())) {
            unmodeled.insert(key.clone());
            if ours.contains_key(key) {
                errors.push(format!("{}: unmodeled {key} written back", sample.name));
            }
        }
        for key in BASE_KEYS {
            let at = format!("{}: {key}", sample.name);
            match (original.get(key), ours.get(key)) {
                (Some(a), Some(b)) if key == "test_keys" => {
                    if !same_json(a, b) {
                        errors.push(format!("{at}: test_keys changed"));
                    }
                }
                (None, None) => {}
                // Absent from older measurements: we write OONI's default.
                (None, Some(b)) if base_default(key).as_ref() == Some(b) => {}
                // Empty maps and a null `test_helpers` are omitted, as probe-cli's omitempty.
                (Some(a), None) if is_empty(a) => {}
                (Some(a), Some(b)) if same_json(a, b) => {}
                (a, b) => errors.push(format!("{at}: original {a:?} but ours {b:?}")),
            }
        }
        // Reading what we wrote gives the same measurement.
        let again: Measurement = serde_json::from_value(ours.clone().into()).unwrap();
        assert_eq!(again, measurement, "{}: unstable round trip", sample.name);
    }
    println!("base keys we do not model: {unmodeled:?}");
    assert!(
        errors.is_empty(),
        "{} differences:\n{}",
        errors.len(),
        errors.join("\n")
    );
    // Only deprecated and backend-set keys may be left out.
    let expected: BTreeSet<String> = ["input_hashes", "measurement_uid", "options", "probe_city"]
        .into_iter()
        .map(String::from)
        .collect();
    assert!(
        unmodeled.is_subset(&expected),
        "unexpected unmodeled base keys: {unmodeled:?}"
    );
}

/// Reads every entry of `test_keys[key]` (when present) as `T`, writes it back and compares;
/// returns how many entries were checked.
fn check_sub_format<T>(key: &str, samples: &[Sample], report: &mut Report) -> usize
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let mut checked = 0;
    for sample in samples {
        let Some(entries) = sample.raw["test_keys"].get(key) else {
            continue;
        };
        // The list as a whole (probe-cli writes `null` for an empty one).
        let list: Vec<T> = match serde_json::from_value::<Option<Vec<T>>>(entries.clone()) {
            Ok(list) => list.unwrap_or_default(),
            Err(e) => {
                report
                    .errors
                    .push(format!("{}: {key}: cannot read: {e}", sample.name));
                continue;
            }
        };
        let originals = entries.as_array().map(Vec::as_slice).unwrap_or_default();
        assert_eq!(list.len(), originals.len());
        for (index, (entry, original)) in list.iter().zip(originals).enumerate() {
            let ours = reserialise(entry);
            let at = format!("{}: {key}[{index}]", sample.name);
            compare(key, &at, Some(original), Some(&ours), report);
            let again: T = serde_json::from_value(ours).unwrap();
            assert_eq!(&again, entry, "{at}: unstable round trip");
            checked += 1;
        }
    }
    checked
}

#[test]
fn sub_formats_keep_every_modeled_value() {
    let samples = load_samples();
    let mut report = Report::default();
    let counts = [
        (
            "queries",
            check_sub_format::<DnsQuery>("queries", &samples, &mut report),
        ),
        (
            "tcp_connect",
            check_sub_format::<TcpConnect>("tcp_connect", &samples, &mut report),
        ),
        (
            "tls_handshakes",
            check_sub_format::<TlsHandshake>("tls_handshakes", &samples, &mut report),
        ),
        (
            "requests",
            check_sub_format::<HttpTransaction>("requests", &samples, &mut report),
        ),
        (
            "network_events",
            check_sub_format::<NetworkEvent>("network_events", &samples, &mut report),
        ),
    ];
    println!("entries checked: {counts:?}");
    println!("sub-format keys we do not model: {:?}", report.unmodeled);
    assert!(
        report.errors.is_empty(),
        "{} differences:\n{}",
        report.errors.len(),
        report.errors.join("\n")
    );
    for (key, count) in counts {
        assert!(count >= 10, "only {count} {key} entries were checked");
    }
}

#[test]
fn legacy_shapes_are_read_without_losing_values() {
    let samples = load_samples();
    let find = |name: &str| {
        samples
            .iter()
            .find(|s| s.name.contains(name))
            .unwrap_or_else(|| panic!("sample {name} missing"))
    };

    // Legacy Python ooniprobe: no headers_list, `null` and base64-object bodies, no engine.
    let legacy = find("wc-0.3.0-field-RU");
    let requests: Vec<HttpTransaction> =
        serde_json::from_value(legacy.raw["test_keys"]["requests"].clone()).unwrap();
    let redirect = requests.iter().find(|r| r.response.code == 302).unwrap();
    assert_eq!(
        redirect.response.header("location"),
        Some("http://89.223.47.135/index.html")
    );
    assert_eq!(redirect.response.body, HttpBody::default());
    assert_eq!(redirect.request.body, HttpBody::default());
    let blockpage = requests.iter().find(|r| r.response.code == 200).unwrap();
    assert!(matches!(blockpage.response.body, HttpBody::Binary(_)));
    assert!(String::from_utf8_lossy(&blockpage.response.body.to_bytes()).contains("<html"));
    let queries: Vec<DnsQuery> =
        serde_json::from_value(legacy.raw["test_keys"]["queries"].clone()).unwrap();
    assert_eq!(queries[0].engine, "");
    assert_eq!(queries[0].answers[0].ipv4.as_deref(), Some("5.61.49.61"));
    let connects: Vec<TcpConnect> =
        serde_json::from_value(legacy.raw["test_keys"]["tcp_connect"].clone()).unwrap();
    assert_eq!(connects[0].status.blocked, Some(false));

    // Measurement Kit: `"failure": false` in tcp_connect means no failure.
    let mk = find("facebook_messenger-0.0.2");
    let connects: Vec<TcpConnect> =
        serde_json::from_value(mk.raw["test_keys"]["tcp_connect"].clone()).unwrap();
    assert!(!connects.is_empty());
    for connect in &connects {
        assert_eq!(connect.status.failure, None);
    }
    let written = serde_json::to_value(&connects[0]).unwrap();
    assert_eq!(written["status"]["failure"], Value::Null);
}

/// Every failure string in the samples' sub-formats and failure keys.
fn failure_strings(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "failure" || key.ends_with("_failure") {
                    if let Some(text) = value.as_str() {
                        out.insert(text.to_string());
                    }
                }
                failure_strings(value, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| failure_strings(item, out)),
        _ => {}
    }
}

#[test]
fn failure_strings_map_to_variants_and_round_trip() {
    let mut seen = BTreeSet::new();
    for sample in load_samples() {
        failure_strings(&sample.raw["test_keys"], &mut seen);
    }
    let expected: BTreeMap<&str, Failure> = [
        ("generic_timeout_error", Failure::GenericTimeout),
        ("connection_reset", Failure::ConnectionReset),
        ("dns_nxdomain_error", Failure::DnsNxdomain),
        ("dns_no_answer", Failure::DnsNoAnswer),
        ("ssl_unknown_authority", Failure::SslUnknownAuthority),
        (
            "unknown_failure: unknown targetURL scheme",
            Failure::Unknown("unknown targetURL scheme".to_string()),
        ),
        (
            "connection_already_closed",
            Failure::Other("connection_already_closed".to_string()),
        ),
        (
            "http_unexpected_status_code",
            Failure::Other("http_unexpected_status_code".to_string()),
        ),
    ]
    .into_iter()
    .collect();
    for text in &seen {
        let failure = Failure::parse(text);
        assert_eq!(
            failure.as_str(),
            text.as_str(),
            "{text} is not written back verbatim"
        );
        let json = serde_json::to_value(&failure).unwrap();
        assert_eq!(json, Value::from(text.as_str()));
        assert_eq!(serde_json::from_value::<Failure>(json).unwrap(), failure);
        match expected.get(text.as_str()) {
            Some(variant) => assert_eq!(&failure, variant, "{text}"),
            None => panic!("failure string {text:?} in the samples has no expected variant here"),
        }
    }
    for text in expected.keys() {
        assert!(seen.contains(*text), "{text} no longer in the samples");
    }
    // A string outside the vocabulary without the unknown_failure prefix is kept verbatim.
    for text in [
        "eof",
        "unknown_failure:x",
        "connection_refused_error",
        "ssl_error: bad",
    ] {
        assert_eq!(Failure::parse(text).as_str(), text);
    }
}

#[test]
fn scrubbing_samples_removes_only_the_probe_address() {
    for sample in load_samples() {
        let measurement = parse_measurement(&sample);
        // An address that is nowhere in the sample: nothing but probe_ip may change.
        let absent: IpAddr = "198.51.100.77".parse().unwrap();
        let scrubbed = scrub_measurement(&measurement, Some(absent)).unwrap();
        assert_eq!(
            scrubbed, measurement,
            "{}: scrubbing an absent address changed it",
            sample.name
        );

        // Pretend the first public address the probe connected to is the probe's own.
        let ips: Vec<String> = sample.raw["test_keys"]["tcp_connect"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|c| c["ip"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let Some(target) = ips.first() else {
            continue;
        };
        let address: IpAddr = target.parse().unwrap();
        let scrubbed = scrub_measurement(&measurement, Some(address)).unwrap();
        let text = serde_json::to_string(&scrubbed).unwrap();
        assert_eq!(
            scrub_text(&text, address),
            text,
            "{}: {target} survived",
            sample.name
        );
        assert!(!text.contains(&format!("\"{target}\"")), "{}", sample.name);
        assert!(text.contains("[scrubbed]"), "{}", sample.name);
        for other in ips.iter().filter(|ip| *ip != target) {
            assert!(
                text.contains(other.as_str()),
                "{}: {other} was scrubbed too",
                sample.name
            );
        }
        assert_eq!(scrubbed.probe_ip, "127.0.0.1");
    }
}

/// `YYYY-MM-DD hh:mm:ss`.
fn is_ooni_time(text: &str) -> bool {
    text.len() == 19
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b' ',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        })
}

#[test]
fn ooni_time_format() {
    use time::macros::datetime;
    let cases = [
        (datetime!(2024-02-12 20:33:47 UTC), "2024-02-12 20:33:47"),
        (datetime!(2001-01-02 03:04:05 UTC), "2001-01-02 03:04:05"),
        (datetime!(2024-02-12 20:33:47 +02:00), "2024-02-12 18:33:47"),
        (datetime!(2024-01-01 01:00:00 +02:00), "2023-12-31 23:00:00"),
        (
            datetime!(2023-12-31 23:59:59.999_999 UTC),
            "2023-12-31 23:59:59",
        ),
        (datetime!(2024-02-29 12:00:00 -05:30), "2024-02-29 17:30:00"),
    ];
    for (at, expected) in cases {
        let text = format_ooni_time(at);
        assert_eq!(text, expected);
        assert!(is_ooni_time(&text));
    }
    assert!(!is_ooni_time("2024-02-12T20:33:47"));
    // Every sample's times have this format too.
    for sample in load_samples() {
        for key in ["measurement_start_time", "test_start_time"] {
            let text = sample.raw[key].as_str().unwrap();
            assert!(is_ooni_time(text), "{}: {key} {text}", sample.name);
        }
    }
}

#[test]
fn new_measurement_has_the_df000_keys() {
    use time::macros::datetime;
    let software = Software::default();
    let network = ProbeNetwork {
        probe_asn: "AS30722".to_string(),
        probe_cc: "IT".to_string(),
        probe_network_name: "Vodafone Italia S.p.A.".to_string(),
        resolver_asn: "AS15169".to_string(),
        resolver_network_name: "Google LLC".to_string(),
    };
    let started = datetime!(2024-02-12 20:33:47.25 UTC);
    let measured = datetime!(2024-02-12 22:34:48 +02:00);
    for input in [None, Some("https://www.example.com/".to_string())] {
        let m = Measurement::new(
            "web_connectivity",
            "0.5.28",
            input.clone(),
            &software,
            &network,
            started,
            measured,
        );
        let value = reserialise(&m);
        let object = value.as_object().unwrap();
        for key in [
            "data_format_version",
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
            "test_keys",
            "test_name",
            "test_runtime",
            "test_start_time",
            "test_version",
        ] {
            assert!(object.contains_key(key), "{key} missing: {value}");
        }
        for key in object.keys() {
            assert!(BASE_KEYS.contains(&key.as_str()), "unexpected key {key}");
        }
        assert_eq!(value["data_format_version"], DATA_FORMAT_VERSION);
        assert_eq!(value["data_format_version"], "0.2.0");
        match &input {
            None => assert_eq!(value["input"], Value::Null),
            Some(url) => assert_eq!(value["input"], url.as_str()),
        }
        assert_eq!(value["test_start_time"], "2024-02-12 20:33:47");
        assert_eq!(value["measurement_start_time"], "2024-02-12 20:34:48");
        for key in ["test_start_time", "measurement_start_time"] {
            assert!(is_ooni_time(value[key].as_str().unwrap()));
        }
        assert_eq!(value["probe_ip"], "127.0.0.1");
        assert_eq!(value["probe_asn"], "AS30722");
        assert_eq!(value["probe_cc"], "IT");
        assert_eq!(value["resolver_asn"], "AS15169");
        assert_eq!(value["resolver_ip"], "127.0.0.2");
        assert_eq!(value["report_id"], "");
        assert_eq!(value["test_name"], "web_connectivity");
        assert_eq!(value["test_version"], "0.5.28");
        assert!(value["test_runtime"].is_number());
        assert_eq!(value["test_keys"], serde_json::json!({}));
        let name = value["software_name"].as_str().unwrap();
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.+-".contains(c)),
            "software_name {name:?}"
        );
        assert!(!value["software_version"].as_str().unwrap().is_empty());
        let id = value["id"].as_str().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4", "UUID v4: {id}");
        assert_eq!(value["annotations"]["engine_name"], "kuzet");
        assert!(value.get("extensions").is_none());
        let again: Measurement = serde_json::from_value(value).unwrap();
        assert_eq!(again, m);
    }
}
