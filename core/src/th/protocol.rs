//! The web-connectivity test helper protocol (OONI's oohelperd): one JSON request, one JSON
//! response, with OONI's field names and shapes, so that Kuzet's probe can use OONI's test
//! helpers and OONI's probes can use Kuzet's.
//!
//! Reading is lenient the way OONI's older helpers require: missing maps and lists read as
//! empty, `null` as empty, and a missing `status_code` or `body_length` as `-1` ("no
//! response"). Writing always emits every key, as the current oohelperd does
//! (`quic_handshake: {}`, `http3_request: null`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize};

use crate::failure::Failure;

/// The failure string a test helper writes for NXDOMAIN (the legacy helper's spelling, which
/// probes still compare against), instead of `dns_nxdomain_error`.
pub const TH_DNS_NAME_ERROR: &str = "dns_name_error";

/// `ip_info` flag: the probe resolved this address (it was in the request's `tcp_connect`).
pub const IP_FLAG_RESOLVED_BY_PROBE: i64 = 1;
/// `ip_info` flag: the test helper's own resolver returned this address.
pub const IP_FLAG_RESOLVED_BY_TH: i64 = 2;
/// `ip_info` flag: the address is a bogon.
pub const IP_FLAG_BOGON: i64 = 4;
/// `ip_info` flag: a TLS handshake with the URL's host as SNI succeeded to this address at the
/// test helper, so the address is valid for the domain.
pub const IP_FLAG_VALID_FOR_DOMAIN: i64 = 8;

/// What a probe asks the test helper to measure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThRequest {
    /// The URL to measure.
    pub http_request: String,
    /// The headers the probe uses (Accept, Accept-Language, User-Agent), each with its values.
    #[serde(default, deserialize_with = "null_as_default")]
    pub http_request_headers: BTreeMap<String, Vec<String>>,
    /// The `ip:port` endpoints the probe resolved (IPv6 in brackets); empty when the probe's
    /// DNS lookup failed.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tcp_connect: Vec<String>,
    /// Whether to measure HTTP/3 too (Kuzet's helper never does).
    #[serde(default)]
    pub x_quic_enabled: bool,
}

/// The test helper's answer: its own view of the URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ThResponse {
    /// TCP connect results by `ip:port`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tcp_connect: BTreeMap<String, ThTcpConnect>,
    /// TLS handshake results by `ip:port`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tls_handshake: BTreeMap<String, ThTlsHandshake>,
    /// QUIC handshake results by `ip:port` (always empty from Kuzet's helper).
    #[serde(default, deserialize_with = "null_as_default")]
    pub quic_handshake: BTreeMap<String, ThTlsHandshake>,
    /// The helper's fetch of the URL, redirects followed.
    #[serde(default)]
    pub http_request: ThHttpRequest,
    /// The helper's HTTP/3 fetch, or `null` (always `null` from Kuzet's helper).
    #[serde(default)]
    pub http3_request: Option<ThHttpRequest>,
    /// The helper's DNS lookup of the URL's host.
    #[serde(default)]
    pub dns: ThDns,
    /// What the helper knows of every address involved, by IP.
    #[serde(default, deserialize_with = "null_as_default")]
    pub ip_info: BTreeMap<String, ThIpInfo>,
}

/// The helper's DNS lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ThDns {
    /// `null`, [`TH_DNS_NAME_ERROR`] for NXDOMAIN, or another failure string.
    #[serde(default)]
    pub failure: Option<Failure>,
    /// The addresses found (textual IPs).
    #[serde(default, deserialize_with = "null_as_default")]
    pub addrs: Vec<String>,
}

impl ThDns {
    /// The addresses that parse as IPs.
    pub fn ips(&self) -> Vec<IpAddr> {
        self.addrs
            .iter()
            .filter_map(|text| text.parse().ok())
            .collect()
    }

    /// True when the failure is the helper's NXDOMAIN.
    pub fn is_name_error(&self) -> bool {
        self.failure
            .as_ref()
            .is_some_and(|failure| failure.as_str() == TH_DNS_NAME_ERROR)
    }
}

/// One TCP connect at the helper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ThTcpConnect {
    /// Whether the connection was established.
    pub status: bool,
    /// Why not, or `null`.
    #[serde(default)]
    pub failure: Option<Failure>,
}

/// One TLS (or QUIC) handshake at the helper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ThTlsHandshake {
    /// The SNI used (the URL's host).
    #[serde(default)]
    pub server_name: String,
    /// Whether the handshake, certificate verification included, succeeded.
    pub status: bool,
    /// Why not, or `null`.
    #[serde(default)]
    pub failure: Option<Failure>,
}

/// The helper's fetch of the URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThHttpRequest {
    /// Bytes of the final body, `-1` on failure.
    #[serde(default = "minus_one")]
    pub body_length: i64,
    /// An HTTP/3 endpoint advertised by `Alt-Svc`, or empty.
    #[serde(default)]
    pub discovered_h3_endpoint: String,
    /// Why the fetch failed, or `null`.
    #[serde(default)]
    pub failure: Option<Failure>,
    /// The final page's `<title>`, or empty.
    #[serde(default, deserialize_with = "null_as_default")]
    pub title: String,
    /// The final response's headers (first value of each).
    #[serde(default, deserialize_with = "lenient_headers")]
    pub headers: BTreeMap<String, String>,
    /// The final status code, `-1` on failure.
    #[serde(default = "minus_one")]
    pub status_code: i64,
}

impl Default for ThHttpRequest {
    fn default() -> Self {
        ThHttpRequest {
            body_length: -1,
            discovered_h3_endpoint: String::new(),
            failure: None,
            title: String::new(),
            headers: BTreeMap::new(),
            status_code: -1,
        }
    }
}

impl ThHttpRequest {
    /// A failed fetch: `-1` lengths and codes, no headers, this failure.
    pub fn failed(failure: Failure) -> Self {
        ThHttpRequest {
            failure: Some(failure),
            ..ThHttpRequest::default()
        }
    }

    /// True when the helper got a final response.
    pub fn succeeded(&self) -> bool {
        self.failure.is_none() && self.status_code > 0
    }
}

/// What the helper knows of one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ThIpInfo {
    /// The address's AS number, 0 when unknown (Kuzet's helper has no AS database).
    #[serde(default)]
    pub asn: i64,
    /// Bit set of `IP_FLAG_*`.
    #[serde(default)]
    pub flags: i64,
}

fn minus_one() -> i64 {
    -1
}

/// Reads `null` as the type's default.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Header maps whose values may be strings, lists of strings (first kept) or `null`.
fn lenient_headers<'de, D>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Value {
        One(String),
        Many(Vec<String>),
    }
    let map = Option::<BTreeMap<String, Option<Value>>>::deserialize(deserializer)?;
    Ok(map
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                Some(Value::One(text)) => text,
                Some(Value::Many(values)) => values.into_iter().next().unwrap_or_default(),
                None => String::new(),
            };
            (name, value)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn legacy_control_reads_with_defaults() {
        let response: ThResponse = serde_json::from_value(json!({
            "tcp_connect": {"5.61.49.61:80": {"status": true, "failure": null}},
            "http_request": {
                "body_length": 4864, "status_code": 200, "title": "RUTOR", "failure": null,
                "headers": {"Server": "nginx", "Set-Cookie": ["a=1", "b=2"], "X": null}
            },
            "dns": {"failure": null, "addrs": ["5.61.49.61"]}
        }))
        .unwrap();
        assert!(response.tls_handshake.is_empty());
        assert!(response.ip_info.is_empty());
        assert_eq!(response.http_request.headers["Set-Cookie"], "a=1");
        assert_eq!(response.http_request.headers["X"], "");
        assert!(response.http_request.succeeded());
        assert_eq!(
            response.dns.ips(),
            vec!["5.61.49.61".parse::<IpAddr>().unwrap()]
        );

        let empty: ThResponse = serde_json::from_value(json!({})).unwrap();
        assert_eq!(empty.http_request.status_code, -1);
        assert!(!empty.http_request.succeeded());
    }

    #[test]
    fn name_error_is_kept_verbatim() {
        let dns: ThDns =
            serde_json::from_value(json!({"failure": "dns_name_error", "addrs": null})).unwrap();
        assert!(dns.is_name_error());
        assert!(dns.addrs.is_empty());
        assert_eq!(
            serde_json::to_value(&dns).unwrap(),
            json!({"failure": "dns_name_error", "addrs": []})
        );
    }

    #[test]
    fn every_key_is_written() {
        let value = serde_json::to_value(ThResponse::default()).unwrap();
        for key in [
            "tcp_connect",
            "tls_handshake",
            "quic_handshake",
            "http_request",
            "http3_request",
            "dns",
            "ip_info",
        ] {
            assert!(value.get(key).is_some(), "{key}");
        }
        assert_eq!(value["http3_request"], serde_json::Value::Null);
        assert_eq!(value["quic_handshake"], json!({}));
    }
}
