//! OONI's measurement sub-formats (df-001 httpt, df-002 dnst, df-005 tcpconnect,
//! df-006 tlshandshake, df-008 netevents): what each primitive records.
//!
//! Field names and shapes follow the spec, so the types read real OONI measurements; fields
//! a given engine leaves out are optional here and omitted again when absent.
//!
//! Reading is lenient where older engines (legacy Python ooniprobe, Measurement Kit, early
//! probe-cli) wrote other shapes; writing always uses the current probe-cli shape:
//!
//! - a missing field reads as its default (legacy `queries` have no `engine`, no `t`);
//! - `null` reads as empty for lists, header maps and bodies;
//! - a `failure` of `false` (Measurement Kit's `tcp_connect`) reads as no failure;
//! - a header value may be a string, a `{"format": "base64", "data": ...}` object or a list of
//!   either (the first value is kept, as probe-cli does for the `headers` map); the `headers`
//!   map may also be given as a list of `[name, value]` pairs, and `headers_list` as a map;
//! - `t0` and `transaction_id` are omitted when zero and `tags` of a network event when empty,
//!   as probe-cli's `omitempty` does.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::failure::Failure;

/// One DNS lookup of one record type through one resolver (`queries` entry, df-002).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DnsQuery {
    /// The answers received (empty on failure).
    #[serde(default, deserialize_with = "null_as_default")]
    pub answers: Vec<DnsAnswer>,
    /// `getaddrinfo`, `udp`, `doh` or `dot` (empty when a legacy engine did not say).
    #[serde(default)]
    pub engine: String,
    /// Why the lookup failed, or `null`.
    #[serde(default, deserialize_with = "lenient_failure")]
    pub failure: Option<Failure>,
    /// The name looked up.
    pub hostname: String,
    /// `A`, `AAAA` or `ANY` (getaddrinfo).
    pub query_type: String,
    /// The raw DNS response, base64, when the transport saw one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_response: Option<String>,
    /// The resolver's address (`1.1.1.1:53`, a DoH URL) or empty for the system resolver.
    #[serde(default)]
    pub resolver_address: String,
    /// Deprecated in the spec; probe-cli still writes it, always as `null`.
    #[serde(default)]
    pub resolver_hostname: Option<String>,
    /// Deprecated in the spec; probe-cli still writes it, always as `null`.
    #[serde(default)]
    pub resolver_port: Option<String>,
    /// Start, seconds since the measurement's zero time (omitted when zero).
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub t0: f64,
    /// End, seconds since the measurement's zero time.
    #[serde(default)]
    pub t: f64,
    /// Free-form tags (`depth=0`, ...).
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    /// Groups the observations of one flow (omitted when zero).
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub transaction_id: i64,
}

/// One resource record in a DNS answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DnsAnswer {
    /// `A`, `AAAA` or `CNAME`.
    pub answer_type: String,
    /// The IPv4 address of an `A` answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    /// The IPv6 address of an `AAAA` answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<String>,
    /// The target of a `CNAME` answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The AS number of the address, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<i64>,
    /// The AS organisation name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_org_name: Option<String>,
    /// Time to live in seconds, when the transport exposes it.
    #[serde(default)]
    pub ttl: Option<u32>,
}

impl DnsAnswer {
    /// The address of an `A` or `AAAA` answer.
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        self.ipv4
            .as_deref()
            .or(self.ipv6.as_deref())
            .and_then(|text| text.parse().ok())
    }
}

/// One TCP connect (`tcp_connect` entry, df-005).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TcpConnect {
    /// The IP address connected to.
    pub ip: String,
    /// The port connected to.
    pub port: u16,
    /// The outcome.
    pub status: TcpConnectStatus,
    /// Start, seconds since zero time (omitted when zero).
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub t0: f64,
    /// End, seconds since zero time.
    #[serde(default)]
    pub t: f64,
    /// Free-form tags.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    /// Groups the observations of one flow (omitted when zero).
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub transaction_id: i64,
}

/// The outcome of a TCP connect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TcpConnectStatus {
    /// Whether the connection was established.
    pub success: bool,
    /// Why it was not, or `null` (Measurement Kit wrote `false`).
    #[serde(default, deserialize_with = "lenient_failure")]
    pub failure: Option<Failure>,
    /// Legacy web_connectivity flag; modern engines omit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<bool>,
}

/// One TLS handshake (`tls_handshakes` entry, df-006).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TlsHandshake {
    /// `tcp`.
    #[serde(default)]
    pub network: String,
    /// `ip:port` of the peer.
    #[serde(default)]
    pub address: String,
    /// The negotiated cipher suite (IANA name), empty on failure.
    #[serde(default)]
    pub cipher_suite: String,
    /// Why the handshake failed, or `null`.
    #[serde(default, deserialize_with = "lenient_failure")]
    pub failure: Option<Failure>,
    /// The ALPN protocol the server chose, empty if none.
    #[serde(default)]
    pub negotiated_protocol: String,
    /// True when the certificate was deliberately not verified.
    #[serde(default)]
    pub no_tls_verify: bool,
    /// The chain the server presented, leaf first, as DER.
    #[serde(default, deserialize_with = "null_as_default")]
    pub peer_certificates: Vec<BinaryData>,
    /// The SNI sent (may differ from the URL's host).
    #[serde(default)]
    pub server_name: String,
    /// `TLSv1.2` or `TLSv1.3`, empty on failure.
    #[serde(default)]
    pub tls_version: String,
    /// Start, seconds since zero time (omitted when zero).
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub t0: f64,
    /// End, seconds since zero time.
    #[serde(default)]
    pub t: f64,
    /// Free-form tags.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    /// Groups the observations of one flow (omitted when zero).
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub transaction_id: i64,
}

/// Bytes that OONI stores as `{"format": "base64", "data": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinaryData {
    /// Always `base64`.
    pub format: String,
    /// The bytes, base64-encoded.
    pub data: String,
}

impl BinaryData {
    /// Wraps raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        BinaryData {
            format: "base64".to_string(),
            data: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    /// Decodes the bytes, if the data is valid base64.
    pub fn to_bytes(&self) -> Option<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.data)
            .ok()
    }
}

/// An HTTP body: text when it is valid UTF-8, otherwise base64 (df-001). Reads `null` (legacy
/// engines, and probe-cli for empty binary data) as the empty body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum HttpBody {
    /// A UTF-8 body.
    Text(String),
    /// Any other bytes.
    Binary(BinaryData),
}

impl Default for HttpBody {
    fn default() -> Self {
        HttpBody::Text(String::new())
    }
}

impl<'de> Deserialize<'de> for HttpBody {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<MaybeBinary>::deserialize(deserializer)? {
            None => HttpBody::default(),
            Some(MaybeBinary::Text(text)) => HttpBody::Text(text),
            Some(MaybeBinary::Binary(data)) => HttpBody::Binary(data),
        })
    }
}

impl HttpBody {
    /// Wraps body bytes, as text when they are valid UTF-8.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => HttpBody::Text(text.to_string()),
            Err(_) => HttpBody::Binary(BinaryData::from_bytes(bytes)),
        }
    }

    /// The body's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            HttpBody::Text(text) => text.as_bytes().to_vec(),
            HttpBody::Binary(data) => data.to_bytes().unwrap_or_default(),
        }
    }

    /// The body's length in bytes.
    pub fn len(&self) -> usize {
        match self {
            HttpBody::Text(text) => text.len(),
            HttpBody::Binary(data) => data.to_bytes().map(|b| b.len()).unwrap_or(0),
        }
    }

    /// True when the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One HTTP round trip (`requests` entry, df-001).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HttpTransaction {
    /// `tcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// `ip:port` of the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The ALPN protocol used (`h2`, `http/1.1`), empty for cleartext.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
    /// Why the round trip failed, or `null`.
    #[serde(default, deserialize_with = "lenient_failure")]
    pub failure: Option<Failure>,
    /// What was sent.
    pub request: HttpRequest,
    /// What came back (code 0 and empty on failure).
    pub response: HttpResponse,
    /// Start, seconds since zero time (omitted when zero).
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub t0: f64,
    /// End, seconds since zero time.
    #[serde(default)]
    pub t: f64,
    /// Free-form tags (`depth=N` for redirect hops).
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    /// Groups the observations of one flow (omitted when zero).
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub transaction_id: i64,
}

/// The request half of an [`HttpTransaction`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HttpRequest {
    /// The request body (empty for GET).
    #[serde(default)]
    pub body: HttpBody,
    /// Whether the recorded body was cut at the cap.
    #[serde(default)]
    pub body_is_truncated: bool,
    /// Headers in the order sent.
    #[serde(default, deserialize_with = "lenient_headers_list")]
    pub headers_list: Vec<(String, String)>,
    /// Headers as a map (last value wins), as OONI also emits.
    #[serde(default, deserialize_with = "lenient_headers_map")]
    pub headers: BTreeMap<String, String>,
    /// `GET`.
    pub method: String,
    /// Tor information; always "not Tor" for Kuzet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tor: Option<TorInfo>,
    /// `tcp` (HTTP/1.1 and HTTP/2) or `quic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x_transport: Option<String>,
    /// The URL requested.
    pub url: String,
}

/// The `tor` object OONI puts in every request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TorInfo {
    /// Always `null`.
    pub exit_ip: Option<String>,
    /// Always `null`.
    pub exit_name: Option<String>,
    /// Always `false`.
    pub is_tor: bool,
}

/// The response half of an [`HttpTransaction`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HttpResponse {
    /// The body received, up to the cap.
    #[serde(default)]
    pub body: HttpBody,
    /// Whether the body was cut at the cap.
    #[serde(default)]
    pub body_is_truncated: bool,
    /// The status code, 0 when there was no response.
    #[serde(default)]
    pub code: i64,
    /// Headers in the order received.
    #[serde(default, deserialize_with = "lenient_headers_list")]
    pub headers_list: Vec<(String, String)>,
    /// Headers as a map (last value wins).
    #[serde(default, deserialize_with = "lenient_headers_map")]
    pub headers: BTreeMap<String, String>,
}

impl HttpResponse {
    /// The first value of a header, case-insensitively. Falls back to the `headers` map for
    /// legacy measurements that have no `headers_list`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_list
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .or_else(|| {
                self.headers
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(name))
                    .map(|(_, value)| value.as_str())
            })
    }
}

/// One network event (`network_events` entry, df-008), e.g. `bytes_received_cumulative`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NetworkEvent {
    /// `ip:port` of the peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The failure of the operation, or `null`.
    #[serde(default, deserialize_with = "lenient_failure")]
    pub failure: Option<Failure>,
    /// Bytes involved (cumulative for `bytes_received_cumulative`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_bytes: Option<u64>,
    /// `connect`, `read`, `write`, `bytes_received_cumulative`, ...
    pub operation: String,
    /// `tcp` or `udp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
    /// Start, seconds since zero time (omitted when zero).
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub t0: f64,
    /// End, seconds since zero time.
    #[serde(default)]
    pub t: f64,
    /// Free-form tags (omitted when empty).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tags: Vec<String>,
    /// Groups the observations of one flow (omitted when zero).
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub transaction_id: i64,
}

/// Reads `null` as the type's default (OONI emits `null` for empty lists).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `omitempty` for seconds.
fn is_zero_f64(value: &f64) -> bool {
    *value == 0.0
}

/// `omitempty` for integers.
fn is_zero_i64(value: &i64) -> bool {
    *value == 0
}

/// A failure as older engines wrote it: a string, `null`, or Measurement Kit's `false` for
/// "no failure".
fn lenient_failure<'de, D>(deserializer: D) -> Result<Option<Failure>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Text(String),
        Flag(bool),
    }
    Ok(match Option::<Repr>::deserialize(deserializer)? {
        None | Some(Repr::Flag(false)) => None,
        Some(Repr::Text(text)) => Some(Failure::parse(&text)),
        Some(Repr::Flag(true)) => Some(Failure::Unknown(
            "failure flag set without a failure string".to_string(),
        )),
    })
}

/// df-001's "MaybeBinaryData": a UTF-8 string or `{"format": "base64", "data": ...}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum MaybeBinary {
    Text(String),
    Binary(BinaryData),
}

impl MaybeBinary {
    /// As text: binary data is decoded and any invalid UTF-8 replaced (headers are modelled as
    /// strings); undecodable base64 is kept as its text.
    fn into_string(self) -> String {
        match self {
            MaybeBinary::Text(text) => text,
            MaybeBinary::Binary(data) => match data.to_bytes() {
                Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                None => data.data,
            },
        }
    }
}

/// One header value in a `headers` map: one value, a list of values (the first is kept), or
/// `null`. `Many` is tried first: a derived struct such as [`BinaryData`] also reads a
/// two-element list.
#[derive(Deserialize)]
#[serde(untagged)]
enum HeaderValue {
    Many(Vec<MaybeBinary>),
    One(MaybeBinary),
}

impl HeaderValue {
    fn into_values(self) -> Vec<String> {
        match self {
            HeaderValue::One(value) => vec![value.into_string()],
            HeaderValue::Many(values) => values.into_iter().map(MaybeBinary::into_string).collect(),
        }
    }
}

/// Headers as any engine wrote them: a map or a list of `[name, value]` pairs.
#[derive(Deserialize)]
#[serde(untagged)]
enum Headers {
    List(Vec<(MaybeBinary, MaybeBinary)>),
    Map(BTreeMap<String, Option<HeaderValue>>),
}

/// Reads `headers_list`: `null`, a list of pairs, or (legacy) a map.
fn lenient_headers_list<'de, D>(deserializer: D) -> Result<Vec<(String, String)>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(match Option::<Headers>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(Headers::List(pairs)) => pairs
            .into_iter()
            .map(|(name, value)| (name.into_string(), value.into_string()))
            .collect(),
        Some(Headers::Map(map)) => map
            .into_iter()
            .flat_map(|(name, values)| {
                values
                    .map(HeaderValue::into_values)
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |value| (name.clone(), value))
            })
            .collect(),
    })
}

/// Reads the `headers` map: `null`, a map whose values may be lists (first value kept), or a
/// list of pairs (first value of each name kept).
fn lenient_headers_map<'de, D>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let mut out = BTreeMap::new();
    match Option::<Headers>::deserialize(deserializer)? {
        None => {}
        Some(Headers::Map(map)) => {
            for (name, value) in map {
                let first = value
                    .map(HeaderValue::into_values)
                    .and_then(|values| values.into_iter().next())
                    .unwrap_or_default();
                out.insert(name, first);
            }
        }
        Some(Headers::List(pairs)) => {
            for (name, value) in pairs {
                out.entry(name.into_string())
                    .or_insert_with(|| value.into_string());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn legacy_header_shapes_are_read() {
        let binary = BinaryData::from_bytes(b"caf\xc3\xa9").data;
        let response: HttpResponse = serde_json::from_value(json!({
            "code": 200,
            "body": null,
            "headers": {
                "Set-Cookie": ["a=1", "b=2"],
                "X-Bin": {"format": "base64", "data": binary},
                "X-Null": null,
            },
            "headers_list": {"Set-Cookie": ["a=1", "b=2"], "Server": "nginx"},
        }))
        .unwrap();
        assert_eq!(response.headers["Set-Cookie"], "a=1");
        assert_eq!(response.headers["X-Bin"], "café");
        assert_eq!(response.headers["X-Null"], "");
        assert_eq!(
            response.headers_list,
            vec![
                ("Server".to_string(), "nginx".to_string()),
                ("Set-Cookie".to_string(), "a=1".to_string()),
                ("Set-Cookie".to_string(), "b=2".to_string()),
            ]
        );
        assert_eq!(response.body, HttpBody::default());
        assert_eq!(response.header("server"), Some("nginx"));

        let request: HttpRequest = serde_json::from_value(json!({
            "method": "GET",
            "url": "http://example.com/",
            "headers": [["Accept", "*/*"], ["Accept", "text/html"], ["Host", "example.com"]],
            "headers_list": [["Host", {"format": "base64", "data": binary}]],
        }))
        .unwrap();
        assert_eq!(request.headers["Accept"], "*/*");
        assert_eq!(request.headers["Host"], "example.com");
        assert_eq!(
            request.headers_list,
            vec![("Host".to_string(), "café".to_string())]
        );
    }

    #[test]
    fn headers_only_map_falls_back_for_lookups() {
        let response: HttpResponse = serde_json::from_value(json!({
            "code": 302,
            "headers": {"Location": "http://example.org/"},
        }))
        .unwrap();
        assert!(response.headers_list.is_empty());
        assert_eq!(response.header("location"), Some("http://example.org/"));
    }

    #[test]
    fn failure_flags_and_strings() {
        let status: TcpConnectStatus =
            serde_json::from_value(json!({"success": true, "failure": false})).unwrap();
        assert_eq!(status.failure, None);
        let status: TcpConnectStatus =
            serde_json::from_value(json!({"success": false, "failure": "connection_refused"}))
                .unwrap();
        assert_eq!(status.failure, Some(Failure::ConnectionRefused));
        let status: TcpConnectStatus =
            serde_json::from_value(json!({"success": false, "failure": true})).unwrap();
        assert!(matches!(status.failure, Some(Failure::Unknown(_))));
        let status: TcpConnectStatus = serde_json::from_value(json!({"success": true})).unwrap();
        assert_eq!(status.failure, None);
        assert_eq!(
            serde_json::to_value(&status).unwrap(),
            json!({"success": true, "failure": null})
        );
    }

    #[test]
    fn written_in_probe_cli_shape() {
        let query = DnsQuery {
            engine: "udp".to_string(),
            hostname: "example.com".to_string(),
            query_type: "A".to_string(),
            t: 0.5,
            ..DnsQuery::default()
        };
        let value = serde_json::to_value(&query).unwrap();
        assert!(value.get("t0").is_none());
        assert!(value.get("transaction_id").is_none());
        assert_eq!(value["resolver_hostname"], serde_json::Value::Null);
        assert_eq!(value["resolver_port"], serde_json::Value::Null);
        assert_eq!(value["failure"], serde_json::Value::Null);
        assert_eq!(value["tags"], json!([]));

        let event = NetworkEvent {
            operation: "read".to_string(),
            t0: 0.25,
            t: 0.5,
            transaction_id: 3,
            ..NetworkEvent::default()
        };
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(value["t0"], 0.25);
        assert_eq!(value["transaction_id"], 3);
        assert!(value.get("tags").is_none());
    }
}
