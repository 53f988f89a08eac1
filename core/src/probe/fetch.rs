//! Fetch a URL the way a browser would, one measured step at a time: for every hop, resolve
//! (unless the caller pinned the first endpoint or the host is an IP), connect, handshake for
//! https, GET; follow redirects by hand (each hop tagged `depth=N`), carrying cookies.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use url::Url;

use crate::clock::MeasurementClock;
use crate::failure::Failure;
use crate::net::connection::http_alpn;
use crate::net::trust::TrustAnchors;
use crate::probe::dns::{dns_lookup, DnsOptions, DnsTransport};
use crate::probe::flow::Flow;
use crate::probe::http::{http_get, HttpGetSpec};
use crate::probe::tcp::tcp_connect;
use crate::probe::throughput::{ByteCounter, CountingStream, ThroughputSampler};
use crate::probe::tls::{tls_handshake, TlsOptions};
use crate::report::observations::{
    DnsQuery, HttpTransaction, NetworkEvent, TcpConnect, TlsHandshake,
};

/// The most addresses tried per hop before giving up on connecting.
pub const MAX_ADDRESSES_PER_HOP: usize = 4;

/// How to fetch.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// The resolver for every hop that needs one.
    pub resolver: DnsTransport,
    /// DNS options (timeout, trust for DoH/DoT).
    pub dns: DnsOptions,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// TLS handshake timeout.
    pub tls_timeout: Duration,
    /// HTTP exchange timeout, body included.
    pub http_timeout: Duration,
    /// The most body bytes kept per response.
    pub body_cap: usize,
    /// The most redirects followed.
    pub max_redirects: usize,
    /// Roots for certificate verification.
    pub trust: TrustAnchors,
    /// Request headers besides `Host` and `Cookie`.
    pub headers: Vec<(String, String)>,
}

/// The step a fetch stopped at, in OONI urlgetter's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// DNS resolution.
    Resolve,
    /// TCP connect.
    Connect,
    /// TLS handshake.
    TlsHandshake,
    /// HTTP request and response.
    HttpRoundTrip,
}

impl Operation {
    /// OONI's `failed_operation` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Resolve => "resolve",
            Operation::Connect => "connect",
            Operation::TlsHandshake => "tls_handshake",
            Operation::HttpRoundTrip => "http_round_trip",
        }
    }
}

/// Everything observed while fetching, in OONI's shapes.
#[derive(Debug, Clone, Default)]
pub struct Observations {
    /// DNS lookups, in time order.
    pub queries: Vec<DnsQuery>,
    /// Extra DNS replies (duplicates, late replies): injection evidence.
    pub dns_late_replies: Vec<DnsQuery>,
    /// TCP connects, in time order.
    pub tcp_connect: Vec<TcpConnect>,
    /// TLS handshakes, in time order.
    pub tls_handshakes: Vec<TlsHandshake>,
    /// HTTP round trips, **newest first** as OONI orders them.
    pub requests: Vec<HttpTransaction>,
    /// `bytes_received_cumulative` samples.
    pub network_events: Vec<NetworkEvent>,
}

/// The outcome of a fetch.
#[derive(Debug, Clone)]
pub struct FetchOutcome {
    /// What was observed.
    pub observations: Observations,
    /// The step that failed, if any.
    pub failed_operation: Option<Operation>,
    /// Its failure.
    pub failure: Option<Failure>,
    /// The last URL requested.
    pub final_url: Url,
    /// The final response's status code, if one arrived.
    pub status_code: Option<u16>,
    /// The final response's body (capped).
    pub body: Vec<u8>,
    /// Redirects followed.
    pub redirects: usize,
    /// Bytes received from the network, every hop and handshake included.
    pub bytes_received: u64,
}

/// Fetches `url`. `first_endpoint`, when given, is used for the first hop instead of resolving
/// (the caller chose the IP); later hops always resolve with the configured resolver.
pub async fn fetch(
    clock: &MeasurementClock,
    config: &FetchConfig,
    url: &Url,
    first_endpoint: Option<SocketAddr>,
) -> FetchOutcome {
    fetch_filtered(clock, config, url, first_endpoint, &|_| true).await
}

/// Like [`fetch`], but never connects to an address `allow` rejects, on any hop (a server that
/// fetches URLs for others uses it to stay away from private networks). A hop whose every
/// address is rejected fails at `resolve` with `dns_bogon_error`.
pub async fn fetch_filtered(
    clock: &MeasurementClock,
    config: &FetchConfig,
    url: &Url,
    first_endpoint: Option<SocketAddr>,
    allow: &(dyn Fn(IpAddr) -> bool + Send + Sync),
) -> FetchOutcome {
    let mut outcome = FetchOutcome {
        observations: Observations::default(),
        failed_operation: None,
        failure: None,
        final_url: url.clone(),
        status_code: None,
        body: Vec::new(),
        redirects: 0,
        bytes_received: 0,
    };
    let mut cookies = CookieJar::default();
    let mut current = url.clone();
    let mut pinned = first_endpoint;
    let mut late_replies = Vec::new();

    for depth in 0..=config.max_redirects {
        outcome.final_url = current.clone();
        let tags = vec![format!("depth={depth}")];
        let hop = fetch_hop(
            clock,
            config,
            &current,
            pinned.take(),
            &tags,
            &cookies,
            &mut outcome,
            allow,
        )
        .await;
        if let Some(pending) = hop.late_replies {
            late_replies.push(pending);
        }
        let Some(response) = hop.response else {
            break;
        };
        cookies.store(&current, &response.set_cookies);
        let Some(location) = response.redirect_location else {
            break;
        };
        match next_url(&current, &location) {
            Ok(next) if depth < config.max_redirects => {
                outcome.redirects += 1;
                current = next;
            }
            Ok(_) => {
                outcome.failed_operation = Some(Operation::HttpRoundTrip);
                outcome.failure = Some(Failure::Unknown(
                    "stopped after too many redirects".to_string(),
                ));
                break;
            }
            Err(failure) => {
                outcome.failed_operation = Some(Operation::HttpRoundTrip);
                outcome.failure = Some(failure);
                break;
            }
        }
    }
    for pending in late_replies {
        outcome
            .observations
            .dns_late_replies
            .extend(pending.collect().await);
    }
    outcome
}

/// What one hop produced, beyond what it wrote into the outcome.
struct Hop {
    response: Option<HopResponse>,
    late_replies: Option<crate::probe::dns::LateReplies>,
}

struct HopResponse {
    redirect_location: Option<String>,
    set_cookies: Vec<String>,
}

#[allow(clippy::too_many_arguments)] // the hop's context, passed by reference
async fn fetch_hop(
    clock: &MeasurementClock,
    config: &FetchConfig,
    url: &Url,
    pinned: Option<SocketAddr>,
    tags: &[String],
    cookies: &CookieJar,
    outcome: &mut FetchOutcome,
    allow: &(dyn Fn(IpAddr) -> bool + Send + Sync),
) -> Hop {
    let mut hop = Hop {
        response: None,
        late_replies: None,
    };
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let is_https = url.scheme() == "https";

    // 1. Resolve, unless pinned or literal.
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    let endpoints: Vec<SocketAddr> = match (pinned, literal) {
        (Some(endpoint), _) => vec![endpoint],
        (None, Some(ip)) => vec![SocketAddr::new(ip, port)],
        (None, None) => {
            let flow = Flow::new(clock, tags.to_vec());
            let lookup = dns_lookup(&flow, &config.resolver, &host, &config.dns).await;
            outcome.observations.queries.extend(lookup.queries);
            hop.late_replies = Some(lookup.late_replies);
            if let Some(failure) = lookup.failure {
                outcome.failed_operation = Some(Operation::Resolve);
                outcome.failure = Some(failure);
                return hop;
            }
            lookup
                .addresses
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect()
        }
    };
    if endpoints.is_empty() {
        outcome.failed_operation = Some(Operation::Resolve);
        outcome.failure = Some(Failure::DnsNoAnswer);
        return hop;
    }
    let endpoints: Vec<SocketAddr> = endpoints
        .into_iter()
        .filter(|endpoint| allow(endpoint.ip()))
        .collect();
    if endpoints.is_empty() {
        outcome.failed_operation = Some(Operation::Resolve);
        outcome.failure = Some(Failure::DnsBogon);
        return hop;
    }

    // 2. Connect to the first endpoint that answers.
    let flow = Flow::new(clock, tags.to_vec());
    let mut connected = None;
    let mut last_failure = None;
    for endpoint in endpoints.into_iter().take(MAX_ADDRESSES_PER_HOP) {
        let (result, observation) = tcp_connect(&flow, endpoint, config.connect_timeout).await;
        outcome.observations.tcp_connect.push(observation);
        match result {
            Ok(stream) => {
                connected = Some((endpoint, stream));
                break;
            }
            Err(failure) => last_failure = Some(failure),
        }
    }
    let Some((endpoint, stream)) = connected else {
        outcome.failed_operation = Some(Operation::Connect);
        outcome.failure = last_failure;
        return hop;
    };
    let counter = ByteCounter::new();
    let sampler = ThroughputSampler::start(&flow, endpoint.to_string(), counter.clone());
    let stream = CountingStream::new(stream, counter.clone());
    let spec = HttpGetSpec {
        url: url.clone(),
        headers: config.headers.clone(),
        cookie: cookies.header_for(url),
        body_cap: config.body_cap,
        timeout: config.http_timeout,
    };

    // 3. Handshake (https) and GET.
    let exchange = if is_https {
        let options = TlsOptions {
            server_name: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            alpn: http_alpn(),
            trust: config.trust.clone(),
            verify: true,
            timeout: config.tls_timeout,
        };
        let (tls, observation) = tls_handshake(&flow, stream, endpoint, &options).await;
        let alpn = observation.negotiated_protocol.clone();
        outcome.observations.tls_handshakes.push(observation);
        match tls {
            Ok(tls) => Some(http_get(&flow, tls, endpoint, &alpn, &spec).await),
            Err(failure) => {
                outcome.failed_operation = Some(Operation::TlsHandshake);
                outcome.failure = Some(failure);
                None
            }
        }
    } else {
        Some(http_get(&flow, stream, endpoint, "", &spec).await)
    };
    outcome
        .observations
        .network_events
        .extend(sampler.stop().await);
    outcome.bytes_received += counter.get();
    let Some(exchange) = exchange else {
        return hop;
    };

    let transaction = exchange.transaction;
    outcome.status_code = exchange.status;
    outcome.body = exchange.body;
    if let Some(failure) = &transaction.failure {
        outcome.failed_operation = Some(Operation::HttpRoundTrip);
        outcome.failure = Some(failure.clone());
    } else {
        outcome.failed_operation = None;
        outcome.failure = None;
    }
    let is_redirect = matches!(exchange.status, Some(301 | 302 | 303 | 307 | 308));
    let response = HopResponse {
        redirect_location: if is_redirect && transaction.failure.is_none() {
            Some(
                transaction
                    .response
                    .header("location")
                    .unwrap_or_default()
                    .to_string(),
            )
        } else {
            None
        },
        set_cookies: transaction
            .response
            .headers_list
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, value)| value.clone())
            .collect(),
    };
    // OONI lists requests newest first.
    outcome.observations.requests.insert(0, transaction);
    if outcome.failure.is_some() {
        return hop;
    }
    hop.response = Some(response);
    hop
}

/// Resolves a `Location` against the current URL; it must be http(s) with a host.
fn next_url(current: &Url, location: &str) -> Result<Url, Failure> {
    let next = current
        .join(location.trim())
        .map_err(|_| Failure::HttpInvalidRedirectLocationHost)?;
    if !matches!(next.scheme(), "http" | "https") || next.host_str().is_none_or(str::is_empty) {
        return Err(Failure::HttpInvalidRedirectLocationHost);
    }
    Ok(next)
}

/// A minimal cookie jar: `name=value` pairs per host (and `Domain=` suffixes), enough to pass
/// the cookie checks that sites put in redirect chains. Paths and expiry are ignored.
#[derive(Debug, Default)]
struct CookieJar {
    /// (domain, host_only) -> name -> value
    cookies: BTreeMap<(String, bool), BTreeMap<String, String>>,
}

/// The most cookies kept, bounding memory against a hostile server.
const MAX_COOKIES: usize = 64;

impl CookieJar {
    fn store(&mut self, url: &Url, set_cookies: &[String]) {
        let Some(host) = url.host_str() else {
            return;
        };
        for header in set_cookies {
            let mut parts = header.split(';');
            let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
                continue;
            };
            let domain = parts
                .filter_map(|attr| attr.split_once('='))
                .find(|(key, _)| key.trim().eq_ignore_ascii_case("domain"))
                .map(|(_, value)| value.trim().trim_start_matches('.').to_ascii_lowercase());
            let key = match domain {
                // A cookie for a domain the host is not in is rejected, as browsers do.
                Some(domain) if !domain_matches(host, &domain) => continue,
                Some(domain) => (domain, false),
                None => (host.to_ascii_lowercase(), true),
            };
            let count: usize = self.cookies.values().map(BTreeMap::len).sum();
            let entry = self.cookies.entry(key).or_default();
            if count < MAX_COOKIES || entry.contains_key(name.trim()) {
                entry.insert(name.trim().to_string(), value.trim().to_string());
            }
        }
    }

    fn header_for(&self, url: &Url) -> Option<String> {
        let host = url.host_str()?.to_ascii_lowercase();
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .filter(|((domain, host_only), _)| {
                if *host_only {
                    *domain == host
                } else {
                    domain_matches(&host, domain)
                }
            })
            .flat_map(|(_, jar)| jar.iter().map(|(name, value)| format!("{name}={value}")))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }
}

fn domain_matches(host: &str, domain: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host == domain || host.ends_with(&format!(".{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_locations_resolve_and_are_checked() {
        let base = Url::parse("http://a.test/x/y").unwrap();
        assert_eq!(next_url(&base, "/z").unwrap().as_str(), "http://a.test/z");
        assert_eq!(
            next_url(&base, "https://b.test/").unwrap().as_str(),
            "https://b.test/"
        );
        assert_eq!(
            next_url(&base, "ftp://b.test/"),
            Err(Failure::HttpInvalidRedirectLocationHost)
        );
        assert_eq!(
            next_url(&base, "http://"),
            Err(Failure::HttpInvalidRedirectLocationHost)
        );
    }

    #[test]
    fn cookie_jar_scopes_by_host_and_domain() {
        let mut jar = CookieJar::default();
        let a = Url::parse("http://www.a.test/").unwrap();
        jar.store(
            &a,
            &[
                "session=1; Path=/; HttpOnly".to_string(),
                "wide=2; Domain=.a.test".to_string(),
                "evil=3; Domain=b.test".to_string(),
            ],
        );
        assert_eq!(jar.header_for(&a).as_deref(), Some("wide=2; session=1"));
        let sub = Url::parse("http://img.a.test/").unwrap();
        assert_eq!(jar.header_for(&sub).as_deref(), Some("wide=2"));
        let b = Url::parse("http://b.test/").unwrap();
        assert_eq!(jar.header_for(&b), None, "a foreign Domain is not honoured");
    }

    #[test]
    fn cookie_jar_is_bounded() {
        let mut jar = CookieJar::default();
        let a = Url::parse("http://a.test/").unwrap();
        let many: Vec<String> = (0..1000).map(|i| format!("c{i}=v")).collect();
        jar.store(&a, &many);
        let count: usize = jar.cookies.values().map(BTreeMap::len).sum();
        assert_eq!(count, MAX_COOKIES);
    }
}
