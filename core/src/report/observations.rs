//! OONI's measurement sub-formats (df-001 httpt, df-002 dnst, df-005 tcpconnect,
//! df-006 tlshandshake, df-008 netevents): what each primitive records.
//!
//! Field names and shapes follow the spec, so the types read real OONI measurements; fields
//! a given engine leaves out are optional here and omitted again when absent.

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
    /// `getaddrinfo`, `udp`, `doh` or `dot`.
    pub engine: String,
    /// Why the lookup failed, or `null`.
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
    /// Deprecated in the spec; kept for reading old measurements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver_hostname: Option<String>,
    /// Deprecated in the spec; kept for reading old measurements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver_port: Option<String>,
    /// Start, seconds since the measurement's zero time.
    #[serde(default)]
    pub t0: f64,
    /// End, seconds since the measurement's zero time.
    #[serde(default)]
    pub t: f64,
    /// Free-form tags (`depth=0`, ...).
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    /// Groups the observations of one flow.
    #[serde(default)]
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
    /// Start, seconds since zero time.
    #[serde(default)]
    pub t0: f64,
    /// End, seconds since zero time.
    #[serde(default)]
    pub t: f64,
    /// Free-form tags.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    /// Groups the observations of one flow.
    #[serde(default)]
    pub transaction_id: i64,
}

/// The outcome of a TCP connect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TcpConnectStatus {
    /// Whether the connection was established.
    pub success: bool,
    /// Why it was not, or `null`.
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
    /// Start, seconds since zero time.
    #[serde(default)]
    pub t0: f64,
    /// End, seconds since zero time.
    #[serde(default)]
    pub t: f64,
    /// Free-form tags.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    /// Groups the observations of one flow.
    #[serde(default)]
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

/// An HTTP body: text when it is valid UTF-8, otherwise base64 (df-001).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    pub failure: Option<Failure>,
    /// What was sent.
    pub request: HttpRequest,
    /// What came back (code 0 and empty on failure).
    pub response: HttpResponse,
    /// Start, seconds since zero time.
    #[serde(default)]
    pub t0: f64,
    /// End, seconds since zero time.
    #[serde(default)]
    pub t: f64,
    /// Free-form tags (`depth=N` for redirect hops).
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    /// Groups the observations of one flow.
    #[serde(default)]
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
    #[serde(default, deserialize_with = "null_as_default")]
    pub headers_list: Vec<(String, String)>,
    /// Headers as a map (last value wins), as OONI also emits.
    #[serde(default)]
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
    #[serde(default, deserialize_with = "null_as_default")]
    pub headers_list: Vec<(String, String)>,
    /// Headers as a map (last value wins).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl HttpResponse {
    /// The first value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_list
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// One network event (`network_events` entry, df-008), e.g. `bytes_received_cumulative`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NetworkEvent {
    /// `ip:port` of the peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The failure of the operation, or `null`.
    #[serde(default)]
    pub failure: Option<Failure>,
    /// Bytes involved (cumulative for `bytes_received_cumulative`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_bytes: Option<u64>,
    /// `connect`, `read`, `write`, `bytes_received_cumulative`, ...
    pub operation: String,
    /// `tcp` or `udp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
    /// Start, seconds since zero time.
    #[serde(default)]
    pub t0: f64,
    /// End, seconds since zero time.
    #[serde(default)]
    pub t: f64,
    /// Free-form tags.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    /// Groups the observations of one flow.
    #[serde(default)]
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
