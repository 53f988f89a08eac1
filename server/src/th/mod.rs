//! The web-connectivity test helper: OONI's oohelperd protocol (`docs/ooni-interop.md`, "The
//! web-connectivity test helper"), measured with kuzet-core's own primitives.
//!
//! `POST /` with a [`ThRequest`] answers a [`ThResponse`]: the helper resolves the URL's host
//! with its own resolver, connects to the union of the probe's addresses and its own (on the
//! ports of [`measured_ports`]), handshakes TLS where the port calls for it with the URL's host
//! as SNI, and fetches the URL itself, redirects followed. `GET /` is a health check answering
//! `{"message":"Hello OONItarian!"}`; any other method on `/` is 400. A request that is not
//! JSON, whose URL is not http(s), or whose endpoints are not `ip:port` is 400.
//!
//! Limits: every outbound step has OONI's timeout (DNS 4 s, connect 15 s, TLS 10 s, the whole
//! fetch 15 s); at most [`TestHelperConfig::max_endpoints`] endpoints are measured per request;
//! bodies are capped at [`TestHelperConfig::body_cap`]; requests are capped at
//! [`TestHelperConfig::max_request_bytes`] (1 MiB rather than oohelperd's 16 MiB: a request
//! is a URL, three headers and a few endpoints, a few hundred bytes); at most
//! [`TestHelperConfig::max_in_flight`] requests run at once, more get 503 (the router does it).
//!
//! **No SSRF.** Unless [`TestHelperConfig::allow_private_targets`] is set (labs), the helper
//! never connects to a bogon ([`is_bogon`]: private, loopback, link-local, ...), whether a probe
//! sent it, the helper's resolver returned it, or a redirect points at it: such endpoints are
//! flagged in `ip_info` and not measured, and a fetch whose every address is a bogon fails
//! with `dns_bogon_error`. Only the probe's `Accept`, `Accept-Language` and `User-Agent`
//! headers are forwarded. Nothing about a request (URL, addresses) is logged.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use kuzet_core::clock::MeasurementClock;
use kuzet_core::net::trust::TrustAnchors;
use kuzet_core::probe::dns::{dns_lookup, DnsOptions, DnsTransport};
use kuzet_core::probe::fetch::{fetch_filtered, FetchConfig, FetchOutcome};
use kuzet_core::probe::flow::Flow;
use kuzet_core::probe::http::{canonical_header_name, default_request_headers};
use kuzet_core::probe::tcp::tcp_connect;
use kuzet_core::probe::tls::{tls_handshake, TlsOptions};
use kuzet_core::th::{
    html_title, is_bogon, measured_ports, ThDns, ThHttpRequest, ThIpInfo, ThRequest, ThResponse,
    ThTcpConnect, ThTlsHandshake, IP_FLAG_BOGON, IP_FLAG_RESOLVED_BY_PROBE, IP_FLAG_RESOLVED_BY_TH,
    IP_FLAG_VALID_FOR_DOMAIN, TH_DNS_NAME_ERROR,
};
use kuzet_core::Failure;
use url::Url;

use crate::endpoint::{error_response, json_response, Endpoint, HandlerFuture, ReadRequest};

/// The DoH resolver the helper uses by default (as oohelperd: its own ISP cannot bias it).
pub const DEFAULT_RESOLVER: &str = "https://dns.google/dns-query";
/// The default largest request body: 1 MiB.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// The default most requests measured at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;
/// The default most endpoints measured per request.
pub const DEFAULT_MAX_ENDPOINTS: usize = 16;
/// The default body cap: 1 MiB (twice the probe's, so a page the probe reads whole is read
/// whole here too).
pub const DEFAULT_BODY_CAP: usize = 1 << 20;
/// The most `tcp_connect` entries accepted in a request; more is not a probe.
pub const MAX_REQUEST_ENDPOINTS: usize = 256;
/// The probe headers forwarded when fetching.
const FORWARDED_HEADERS: [&str; 3] = ["Accept", "Accept-Language", "User-Agent"];
/// The longest forwarded header value.
const MAX_HEADER_VALUE: usize = 1024;

/// The helper's timeouts (oohelperd's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThTimeouts {
    /// The DNS lookup (4 s).
    pub dns: Duration,
    /// One TCP connect (15 s).
    pub connect: Duration,
    /// One TLS handshake (10 s).
    pub tls: Duration,
    /// The whole fetch, redirects included (15 s).
    pub http: Duration,
}

impl Default for ThTimeouts {
    fn default() -> Self {
        ThTimeouts {
            dns: Duration::from_secs(4),
            connect: Duration::from_secs(15),
            tls: Duration::from_secs(10),
            http: Duration::from_secs(15),
        }
    }
}

/// How the helper measures.
#[derive(Debug, Clone)]
pub struct TestHelperConfig {
    /// The helper's own resolver ([`DEFAULT_RESOLVER`] by default; `udp://IP:53` in the lab).
    pub resolver: DnsTransport,
    /// Roots for the sites' certificates and DoH (bundled roots, plus a lab CA if given).
    pub trust: TrustAnchors,
    /// Connect to private and other bogon addresses too. **Off by default**: on, anyone who can
    /// reach the helper can make it connect inside its network. Labs only.
    pub allow_private_targets: bool,
    /// Timeouts.
    pub timeouts: ThTimeouts,
    /// The most endpoints measured per request.
    pub max_endpoints: usize,
    /// The most body bytes read from the site.
    pub body_cap: usize,
    /// The most redirects followed.
    pub max_redirects: usize,
    /// The largest request body accepted.
    pub max_request_bytes: usize,
    /// The most requests measured at once.
    pub max_in_flight: usize,
}

impl Default for TestHelperConfig {
    fn default() -> Self {
        TestHelperConfig {
            resolver: DnsTransport::parse(DEFAULT_RESOLVER)
                .unwrap_or_else(|_| unreachable!("the default resolver parses")),
            trust: TrustAnchors::bundled(),
            allow_private_targets: false,
            timeouts: ThTimeouts::default(),
            max_endpoints: DEFAULT_MAX_ENDPOINTS,
            body_cap: DEFAULT_BODY_CAP,
            max_redirects: 10,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

/// Why a request was refused (400).
#[derive(Debug, thiserror::Error)]
pub enum ThError {
    /// The body is not a test helper request.
    #[error("the request is not a test helper request: {0}")]
    Json(#[from] serde_json::Error),
    /// `http_request` is not an http(s) URL with a host.
    #[error("http_request is not an http or https URL with a host")]
    BadUrl,
    /// A `tcp_connect` entry is not `ip:port`.
    #[error("tcp_connect entry {0} is not ip:port")]
    BadEndpoint(usize),
    /// Too many `tcp_connect` entries.
    #[error("more than {MAX_REQUEST_ENDPOINTS} tcp_connect entries")]
    TooManyEndpoints,
}

/// A request that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRequest {
    /// The URL to measure.
    pub url: Url,
    /// The URL's host (brackets stripped).
    pub host: String,
    /// The probe's addresses, in order, without duplicates.
    pub probe_ips: Vec<IpAddr>,
    /// The headers to fetch with.
    pub headers: Vec<(String, String)>,
}

/// Validates a request body.
pub fn validate(body: &[u8]) -> Result<ValidRequest, ThError> {
    let request: ThRequest = serde_json::from_slice(body)?;
    let url = Url::parse(&kuzet_core::net::idn::url_with_ascii_host(
        &request.http_request,
    ))
    .map_err(|_| ThError::BadUrl)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ThError::BadUrl);
    }
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if host.is_empty() {
        return Err(ThError::BadUrl);
    }
    if request.tcp_connect.len() > MAX_REQUEST_ENDPOINTS {
        return Err(ThError::TooManyEndpoints);
    }
    let mut probe_ips = Vec::new();
    for (index, entry) in request.tcp_connect.iter().enumerate() {
        let endpoint: SocketAddr = entry.parse().map_err(|_| ThError::BadEndpoint(index))?;
        if !probe_ips.contains(&endpoint.ip()) {
            probe_ips.push(endpoint.ip());
        }
    }
    let mut headers = Vec::new();
    for name in FORWARDED_HEADERS {
        let value = request
            .http_request_headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, values)| values.first());
        if let Some(value) = value {
            let printable = value.chars().all(|c| c == '\t' || (' '..='~').contains(&c));
            if printable && value.len() <= MAX_HEADER_VALUE {
                headers.push((name.to_string(), value.clone()));
            }
        }
    }
    if headers.is_empty() {
        headers = default_request_headers();
    }
    Ok(ValidRequest {
        url,
        host,
        probe_ips,
        headers,
    })
}

/// The test helper service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TestHelper {
    config: Arc<TestHelperConfig>,
}

impl TestHelper {
    /// A helper with this configuration.
    pub fn new(config: TestHelperConfig) -> Self {
        TestHelper {
            config: Arc::new(config),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TestHelperConfig {
        &self.config
    }

    /// True when the helper may connect to `ip`.
    fn may_connect(&self, ip: IpAddr) -> bool {
        self.config.allow_private_targets || !is_bogon(ip)
    }

    /// Measures a validated request.
    pub async fn measure(&self, request: &ValidRequest) -> ThResponse {
        let config = &self.config;
        let clock = MeasurementClock::start();
        let dns_options = DnsOptions {
            timeout: config.timeouts.dns,
            trust: config.trust.clone(),
            // The helper reports no duplicate replies: waiting for them would only delay
            // every answer by the window.
            late_reply_window: Duration::ZERO,
            ..DnsOptions::default()
        };

        // 1. DNS with the helper's own resolver.
        let (dns, th_ips) = match request.host.parse::<IpAddr>() {
            Ok(ip) => (
                ThDns {
                    failure: None,
                    addrs: vec![ip.to_string()],
                },
                vec![ip],
            ),
            Err(_) => {
                let flow = Flow::new(&clock, Vec::new());
                let lookup = dns_lookup(&flow, &config.resolver, &request.host, &dns_options).await;
                let addrs = lookup.addresses.clone();
                let dns = ThDns {
                    failure: lookup.failure.as_ref().and_then(th_dns_failure),
                    addrs: addrs.iter().map(IpAddr::to_string).collect(),
                };
                (dns, addrs)
            }
        };

        // 2. The addresses: probe's and helper's, alternating, so neither side can crowd the
        // other out of the endpoint cap.
        let mut ips: Vec<IpAddr> = Vec::new();
        for index in 0..request.probe_ips.len().max(th_ips.len()) {
            for ip in [request.probe_ips.get(index), th_ips.get(index)]
                .into_iter()
                .flatten()
            {
                if !ips.contains(ip) {
                    ips.push(*ip);
                }
            }
        }
        let mut ip_info: BTreeMap<String, ThIpInfo> = BTreeMap::new();
        for ip in &ips {
            let mut flags = 0;
            if request.probe_ips.contains(ip) {
                flags |= IP_FLAG_RESOLVED_BY_PROBE;
            }
            if th_ips.contains(ip) {
                flags |= IP_FLAG_RESOLVED_BY_TH;
            }
            if is_bogon(*ip) {
                flags |= IP_FLAG_BOGON;
            }
            ip_info.insert(ip.to_string(), ThIpInfo { asn: 0, flags });
        }
        let ports = measured_ports(&request.url);
        let endpoints: Vec<(SocketAddr, bool)> = ips
            .iter()
            .filter(|ip| self.may_connect(**ip))
            .flat_map(|ip| {
                ports
                    .iter()
                    .map(move |port| (SocketAddr::new(*ip, port.port), port.tls))
            })
            .take(config.max_endpoints)
            .collect();

        // 3. Endpoints and the fetch, in parallel.
        let (measured, http_request) = tokio::join!(
            self.measure_endpoints(&clock, &request.host, &endpoints),
            self.fetch(&clock, request, &dns_options),
        );
        let mut tcp_connect = BTreeMap::new();
        let mut tls_handshake = BTreeMap::new();
        for (addr, tcp, tls) in measured {
            if tls.as_ref().is_some_and(|tls| tls.status) {
                if let Some(info) = ip_info.get_mut(&addr.ip().to_string()) {
                    info.flags |= IP_FLAG_VALID_FOR_DOMAIN;
                }
            }
            tcp_connect.insert(addr.to_string(), tcp);
            if let Some(tls) = tls {
                tls_handshake.insert(addr.to_string(), tls);
            }
        }
        ThResponse {
            tcp_connect,
            tls_handshake,
            quic_handshake: BTreeMap::new(),
            http_request,
            http3_request: None,
            dns,
            ip_info,
        }
    }

    /// Connects (and handshakes) every endpoint in parallel.
    async fn measure_endpoints(
        &self,
        clock: &MeasurementClock,
        host: &str,
        endpoints: &[(SocketAddr, bool)],
    ) -> Vec<(SocketAddr, ThTcpConnect, Option<ThTlsHandshake>)> {
        let mut tasks = tokio::task::JoinSet::new();
        for (addr, tls) in endpoints.iter().copied() {
            let clock = clock.clone();
            let host = host.to_string();
            let config = self.config.clone();
            tasks.spawn(async move {
                let flow = Flow::new(&clock, Vec::new());
                let (stream, _) = tcp_connect(&flow, addr, config.timeouts.connect).await;
                let stream = match stream {
                    Ok(stream) => stream,
                    Err(failure) => {
                        let tcp = ThTcpConnect {
                            status: false,
                            failure: Some(failure),
                        };
                        return (addr, tcp, None);
                    }
                };
                let tcp = ThTcpConnect {
                    status: true,
                    failure: None,
                };
                if !tls {
                    return (addr, tcp, None);
                }
                let options = TlsOptions {
                    server_name: host.clone(),
                    alpn: vec!["h2".to_string(), "http/1.1".to_string()],
                    trust: config.trust.clone(),
                    verify: true,
                    timeout: config.timeouts.tls,
                };
                let (result, _) = tls_handshake(&flow, stream, addr, &options).await;
                let tls = ThTlsHandshake {
                    server_name: host,
                    status: result.is_ok(),
                    failure: result.err(),
                };
                (addr, tcp, Some(tls))
            });
        }
        let mut results = Vec::with_capacity(endpoints.len());
        while let Some(joined) = tasks.join_next().await {
            // A task only fails if it panicked or the runtime stops: that endpoint is omitted.
            if let Ok(result) = joined {
                results.push(result);
            }
        }
        results
    }

    /// Fetches the URL with the helper's resolver, redirects followed, never to a bogon unless
    /// allowed, within the HTTP timeout.
    async fn fetch(
        &self,
        clock: &MeasurementClock,
        request: &ValidRequest,
        dns_options: &DnsOptions,
    ) -> ThHttpRequest {
        let config = &self.config;
        let fetch_config = FetchConfig {
            resolver: config.resolver.clone(),
            dns: dns_options.clone(),
            connect_timeout: config.timeouts.connect,
            tls_timeout: config.timeouts.tls,
            http_timeout: config.timeouts.http,
            body_cap: config.body_cap,
            max_redirects: config.max_redirects,
            trust: config.trust.clone(),
            headers: request.headers.clone(),
        };
        let allow = |ip: IpAddr| self.may_connect(ip);
        let fetching = fetch_filtered(clock, &fetch_config, &request.url, None, &allow);
        match tokio::time::timeout(config.timeouts.http, fetching).await {
            Ok(outcome) => http_result(outcome),
            Err(_) => ThHttpRequest::failed(Failure::GenericTimeout),
        }
    }
}

/// The `http_request` of a fetch: the final response, or the failure with `-1` lengths.
fn http_result(outcome: FetchOutcome) -> ThHttpRequest {
    let (None, Some(status)) = (&outcome.failure, outcome.status_code) else {
        return ThHttpRequest::failed(
            outcome
                .failure
                .unwrap_or_else(|| Failure::Unknown("no response".to_string())),
        );
    };
    let mut headers = BTreeMap::new();
    if let Some(last) = outcome.observations.requests.first() {
        for (name, value) in &last.response.headers_list {
            headers
                .entry(canonical_header_name(name))
                .or_insert_with(|| value.clone());
        }
    }
    ThHttpRequest {
        body_length: outcome.body.len() as i64,
        discovered_h3_endpoint: String::new(),
        failure: None,
        title: html_title(&outcome.body),
        headers,
        status_code: i64::from(status),
    }
}

/// The failure string the helper writes for a lookup failure, as oohelperd maps them: NXDOMAIN
/// is `dns_name_error`, an empty answer is no failure (and no address), resolver errors are
/// `dns_server_failure`, anything else `unknown_error`.
fn th_dns_failure(failure: &Failure) -> Option<Failure> {
    Some(match failure {
        Failure::DnsNxdomain => Failure::parse(TH_DNS_NAME_ERROR),
        Failure::DnsNoAnswer => return None,
        Failure::DnsNonRecoverable
        | Failure::DnsRefused
        | Failure::DnsServfail
        | Failure::DnsServerMisbehaving
        | Failure::DnsTemporary => Failure::parse("dns_server_failure"),
        _ => Failure::parse("unknown_error"),
    })
}

impl Endpoint for TestHelper {
    fn name(&self) -> &'static str {
        "th"
    }

    fn claims(&self, _method: &Method, path: &str) -> bool {
        path == "/"
    }

    fn max_body_bytes(&self) -> usize {
        self.config.max_request_bytes
    }

    fn max_in_flight(&self) -> usize {
        self.config.max_in_flight
    }

    fn handle(&self, request: ReadRequest) -> HandlerFuture<'_> {
        Box::pin(async move {
            match request.method {
                Method::GET => json_response(
                    StatusCode::OK,
                    &serde_json::json!({"message": "Hello OONItarian!"}),
                ),
                Method::POST => match validate(&request.body) {
                    Ok(valid) => {
                        let response = self.measure(&valid).await;
                        match serde_json::to_value(&response) {
                            Ok(value) => json_response(StatusCode::OK, &value),
                            Err(_) => error_response(
                                StatusCode::INTERNAL_SERVER_ERROR,
                                "cannot encode the response",
                            ),
                        }
                    }
                    Err(error) => error_response(StatusCode::BAD_REQUEST, &error.to_string()),
                },
                _ => error_response(StatusCode::BAD_REQUEST, "use POST (or GET for health)"),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_validated() {
        let ok = br#"{"http_request":"https://a.test/","tcp_connect":["1.2.3.4:443","[2001:db8::1]:443","1.2.3.4:80"],
            "http_request_headers":{"user-agent":["UA"],"Cookie":["secret"],"Host":["evil"]}}"#;
        let valid = validate(ok).unwrap();
        assert_eq!(valid.host, "a.test");
        assert_eq!(valid.probe_ips.len(), 2, "addresses deduplicated");
        assert_eq!(
            valid.headers,
            vec![("User-Agent".to_string(), "UA".to_string())]
        );

        for garbage in [
            &b"not json"[..],
            br#"{"tcp_connect":[]}"#,
            br#"{"http_request":"ftp://a.test/"}"#,
            br#"{"http_request":"no url"}"#,
            br#"{"http_request":"https://a.test/","tcp_connect":["a.test:443"]}"#,
            br#"{"http_request":"https://a.test/","tcp_connect":["1.2.3.4"]}"#,
        ] {
            assert!(
                validate(garbage).is_err(),
                "{}",
                String::from_utf8_lossy(garbage)
            );
        }
        let many: Vec<String> = (0..=MAX_REQUEST_ENDPOINTS)
            .map(|i| format!("10.0.{}.{}:80", i / 250, i % 250))
            .collect();
        let body = serde_json::json!({"http_request": "http://a.test/", "tcp_connect": many});
        assert!(matches!(
            validate(body.to_string().as_bytes()),
            Err(ThError::TooManyEndpoints)
        ));
    }

    #[test]
    fn headers_with_control_characters_are_dropped() {
        let body = serde_json::json!({
            "http_request": "http://a.test/",
            "http_request_headers": {"User-Agent": ["a\r\nX-Injected: 1"], "Accept": ["*/*"]},
        });
        let valid = validate(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            valid.headers,
            vec![("Accept".to_string(), "*/*".to_string())]
        );
    }

    #[test]
    fn dns_failures_use_the_helpers_strings() {
        let text = |f: Failure| th_dns_failure(&f).map(|f| f.as_str().into_owned());
        assert_eq!(
            text(Failure::DnsNxdomain).as_deref(),
            Some("dns_name_error")
        );
        assert_eq!(text(Failure::DnsNoAnswer), None);
        assert_eq!(
            text(Failure::DnsServfail).as_deref(),
            Some("dns_server_failure")
        );
        assert_eq!(
            text(Failure::GenericTimeout).as_deref(),
            Some("unknown_error")
        );
    }
}
