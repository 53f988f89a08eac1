//! The analysis: a pure function from what the probe observed (and what the test helper saw)
//! to OONI's classic keys and Kuzet's precise [`Verdict`]. No network here, so every rule is
//! unit-tested and the same code re-analyses OONI's sample measurements.
//!
//! # Classic keys (`test_version` 0.4.3 semantics)
//!
//! `dns_consistency`, `body_proportion`, `body_length_match`, `status_code_match`,
//! `headers_match` and `title_match` follow OONI's spec ts-017 (see `docs/ooni-interop.md`)
//! and OONI's v0.4 engine, with these choices, all documented where they are computed:
//! - DNS is also consistent when a probe address is proven valid for the name (a verified TLS
//!   handshake with the URL's host as SNI, at the probe or at the helper, `ip_info` flag 8):
//!   v0.5's rule, which spares CDNs without an AS database (Kuzet's helper has none);
//! - both resolvers finding no address (`dns_no_answer` at the probe, an empty answer at the
//!   helper) is consistent;
//! - `status_code_match` is `false` only when the helper's code is 2xx (ts-017, v0.5);
//! - `title_match` is `true` when the titles share a word of 5 or more characters (ts-017).
//!
//! `blocking` and `accessible` are derived from the precise verdict, so the two never
//! disagree (except that they judge the fetch only: a known interception chain met solely
//! while validating an http URL's addresses on 443 leaves them as OONI would set them); the
//! mapping keeps v0.4's rules (TCP failures with inconsistent DNS are `"dns"`,
//! a one-hop HTTP failure with inconsistent DNS is `"dns"`, TLS problems are `"http-failure"`)
//! and the spec's table for expected failures (`false`/`false` when the site is down for the
//! helper too; v0.4 said `accessible: true` for NXDOMAIN everywhere, which the spec's table
//! and v0.5 no longer do).
//!
//! # The precise verdict
//!
//! Decided in this order; the first rule that applies wins:
//! 1. a final **https** response succeeded → `ok` (the chain verified against the bundled
//!    roots, so the server is genuine), even without the helper;
//! 2. a certificate failure on the fetch's path (any hop; not the 443 handshakes that only
//!    validate an http URL's addresses) whose presented chain matches Kazakhstan's known
//!    interception roots → `tls_mitm` with `known_kz_root`, even without the helper (the
//!    chain is the evidence);
//! 3. no usable control → `undetermined`, except that a DoH answer (an encrypted path the
//!    local resolver cannot rewrite) still proves NXDOMAIN or bogon answers from the probe's
//!    resolver to be `dns_tampered`;
//! 4. DNS against the helper's: the probe's lookup failed while the helper resolved →
//!    `dns_tampered` (`nxdomain`, `timeout`, `error`); both failed → `site_down`; the answers
//!    are inconsistent and hold a bogon the helper did not return → `dns_tampered{bogon}`;
//!    inconsistent, and the probe got a forged certificate (a leaf naming the host, from an
//!    unknown authority) while the helper verified the name → `tls_mitm`; inconsistent, and
//!    the probe's addresses do not serve the page the helper fetched (connects, handshakes or
//!    the fetch fail, a certificate for another name is presented, or the cleartext page
//!    differs) → `dns_tampered{hijack}`;
//! 5. every connect to the URL's port failed → `tcp_blocked` if the helper connected to one of
//!    those endpoints (or, not having tried them, fetched the page), else `site_down`;
//! 6. (https) every handshake failed → a forged certificate is `tls_mitm`, anything else
//!    (reset, timeout, EOF, a certificate for another name) `tls_blocked`, when the helper's
//!    handshake to the same endpoint succeeded (or, not having tried it, the helper verified
//!    the name); `site_down` when the helper failed there too;
//! 7. the fetch failed later (a redirect's DNS, connect or TLS, or the HTTP exchange) →
//!    `site_down` if the helper's fetch failed too, else the matching blocked verdict
//!    (`http_failure` for the HTTP exchange itself);
//! 8. a cleartext page came back → `ok` if it matches the helper's by OONI's http-diff rule
//!    (status codes match AND (body lengths OR uncommon headers OR titles match)),
//!    `http_blockpage` if not, `undetermined` if the helper has no page to compare.

use std::collections::BTreeSet;

use crate::ordered::btree_set;
use std::net::{IpAddr, SocketAddr};

use url::Url;

use super::kz_roots::{inspect_chain, ChainInspection};
use super::verdict::{Blocking, DnsConsistency, DnsTamper, TcpBlock, TlsBlock, Verdict};
use super::x509::certificate_names;
use crate::failure::Failure;
use crate::probe::fetch::Operation;
use crate::report::observations::{HttpTransaction, TcpConnect, TlsHandshake};
use crate::th::{html_title, BogonPolicy, ThResponse, IP_FLAG_VALID_FOR_DOMAIN};

/// One resolver's answer, as the analysis needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DnsOutcome {
    /// The addresses found.
    pub addresses: Vec<IpAddr>,
    /// Why none was found, or `None`.
    pub failure: Option<Failure>,
}

/// Everything the analysis looks at. The observation lists are the measurement's classic
/// ones (the system resolver's addresses and the fetch), with `depth=N` tags; entries without
/// a depth tag count as depth 0.
#[derive(Debug, Clone)]
pub struct Observations {
    /// The URL measured.
    pub url: Url,
    /// The classic (system) resolver's lookup of the URL's host; `None` when the host is an IP.
    pub system_dns: Option<DnsOutcome>,
    /// A DoH lookup of the same name, used as evidence when the helper is unavailable.
    pub doh_dns: Option<DnsOutcome>,
    /// TCP connects.
    pub tcp_connect: Vec<TcpConnect>,
    /// TLS handshakes.
    pub tls_handshakes: Vec<TlsHandshake>,
    /// HTTP round trips, newest first.
    pub requests: Vec<HttpTransaction>,
    /// The failure of the HTTP experiment (the fetch, or the step that kept it from starting).
    pub http_experiment_failure: Option<Failure>,
    /// The step that failed: `resolve`, `connect`, `tls_handshake` or `http_round_trip`.
    pub http_failed_operation: Option<Operation>,
    /// The helper's answer.
    pub control: Option<ThResponse>,
    /// Why the helper could not be used, or `None`.
    pub control_failure: Option<Failure>,
}

impl Observations {
    /// Reads the observations back from a web_connectivity measurement's `test_keys` (Kuzet's
    /// or another engine's, v0.3 to v0.5), to analyse it again.
    ///
    /// When any entry carries the `classic` tag (v0.5, and Kuzet), only `classic` entries are
    /// kept: the system resolver's lookup and the flows from its addresses. Otherwise every
    /// entry is (v0.3 and v0.4 have only those). Entries that do not parse are skipped; the
    /// step that failed comes from `x_failed_operation` when present, else it is inferred from
    /// which observation carries `http_experiment_failure`.
    pub fn from_test_keys(url: &Url, keys: &serde_json::Value) -> Self {
        use serde_json::Value;
        let list = |key: &str| -> Vec<Value> {
            keys.get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let has_classic = |entry: &Value| {
            entry
                .get("tags")
                .and_then(Value::as_array)
                .is_some_and(|tags| tags.iter().any(|tag| tag == "classic"))
        };
        let lists = [
            list("queries"),
            list("tcp_connect"),
            list("tls_handshakes"),
            list("requests"),
        ];
        let classic_only = lists.iter().flatten().any(has_classic);
        let keep = |entries: Vec<Value>| -> Vec<Value> {
            entries
                .into_iter()
                .filter(|entry| !classic_only || has_classic(entry))
                .collect()
        };
        fn parse<T: serde::de::DeserializeOwned>(entries: Vec<Value>) -> Vec<T> {
            entries
                .into_iter()
                .filter_map(|entry| serde_json::from_value(entry).ok())
                .collect()
        }
        let [queries, tcp_connect, tls_handshakes, requests] = lists;
        let queries: Vec<crate::report::observations::DnsQuery> = parse(keep(queries));
        let tcp_connect: Vec<TcpConnect> = parse(keep(tcp_connect));
        let tls_handshakes: Vec<TlsHandshake> = parse(keep(tls_handshakes));
        let requests: Vec<HttpTransaction> = parse(keep(requests));
        let failure_at = |key: &str| -> Option<Failure> {
            keys.get(key).and_then(Value::as_str).map(Failure::parse)
        };

        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let lookup = |queries: &[crate::report::observations::DnsQuery]| -> Option<DnsOutcome> {
            let relevant: Vec<_> = queries
                .iter()
                .filter(|q| depth(&q.tags) == 0 && q.hostname.trim_end_matches('.') == host)
                .collect();
            if relevant.is_empty() {
                return None;
            }
            let mut addresses = Vec::new();
            for query in &relevant {
                for ip in query.answers.iter().filter_map(|answer| answer.ip()) {
                    if !addresses.contains(&ip) {
                        addresses.push(ip);
                    }
                }
            }
            let failure = addresses.is_empty().then(|| {
                relevant
                    .iter()
                    .find_map(|q| q.failure.clone())
                    .unwrap_or(Failure::DnsNoAnswer)
            });
            Some(DnsOutcome { addresses, failure })
        };
        let system_queries: Vec<_> = queries
            .iter()
            .filter(|q| classic_only || matches!(q.engine.as_str(), "" | "system" | "getaddrinfo"))
            .cloned()
            .collect();
        let system_dns = if host.parse::<IpAddr>().is_ok() {
            None
        } else {
            lookup(&system_queries).or_else(|| {
                failure_at("dns_experiment_failure").map(|failure| DnsOutcome {
                    addresses: Vec::new(),
                    failure: Some(failure),
                })
            })
        };
        let doh_queries: Vec<crate::report::observations::DnsQuery> = keys
            .get("x_doh")
            .and_then(|doh| doh.get("queries"))
            .and_then(Value::as_array)
            .map(|entries| parse(entries.clone()))
            .unwrap_or_default();
        let doh_dns = lookup(&doh_queries);

        let http_experiment_failure = failure_at("http_experiment_failure");
        let http_failed_operation = match keys.get("x_failed_operation").and_then(Value::as_str) {
            Some("resolve") => Some(Operation::Resolve),
            Some("connect") => Some(Operation::Connect),
            Some("tls_handshake") => Some(Operation::TlsHandshake),
            Some("http_round_trip") => Some(Operation::HttpRoundTrip),
            _ => http_experiment_failure.as_ref().and_then(|failure| {
                let last_tls = tls_handshakes
                    .iter()
                    .filter(|h| h.failure.is_some())
                    .max_by(|a, b| a.t.total_cmp(&b.t));
                let last_tcp = tcp_connect
                    .iter()
                    .filter(|c| c.status.failure.is_some())
                    .max_by(|a, b| a.t.total_cmp(&b.t));
                if requests.first().is_some_and(|r| r.failure.is_some()) {
                    Some(Operation::HttpRoundTrip)
                } else if last_tls.is_some_and(|h| h.failure.as_ref() == Some(failure)) {
                    Some(Operation::TlsHandshake)
                } else if last_tcp.is_some_and(|c| c.status.failure.as_ref() == Some(failure)) {
                    Some(Operation::Connect)
                } else if system_dns
                    .as_ref()
                    .is_some_and(|dns| dns.failure.as_ref() == Some(failure))
                {
                    Some(Operation::Resolve)
                } else {
                    None
                }
            }),
        };
        let control = keys
            .get("control")
            .filter(|value| !value.is_null())
            .and_then(|value| serde_json::from_value::<ThResponse>(value.clone()).ok());
        Observations {
            url: url.clone(),
            system_dns,
            doh_dns,
            tcp_connect,
            tls_handshakes,
            requests,
            http_experiment_failure,
            http_failed_operation,
            control,
            control_failure: failure_at("control_failure"),
        }
    }
}

/// OONI's classic web_connectivity keys.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassicKeys {
    /// `dns_consistency`; `None` without a control.
    pub dns_consistency: Option<DnsConsistency>,
    /// `body_proportion` (0 when not computed).
    pub body_proportion: f64,
    /// `body_length_match`.
    pub body_length_match: Option<bool>,
    /// `status_code_match`.
    pub status_code_match: Option<bool>,
    /// `headers_match`.
    pub headers_match: Option<bool>,
    /// `title_match`.
    pub title_match: Option<bool>,
    /// `blocking`: `None` is `null`.
    pub blocking: Option<Blocking>,
    /// `accessible`.
    pub accessible: Option<bool>,
}

/// The outcome of the analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// OONI's keys.
    pub classic: ClassicKeys,
    /// Kuzet's verdict.
    pub verdict: Verdict,
}

/// The body-length ratio above which two bodies match (OONI's 0.7).
pub const BODY_PROPORTION_FACTOR: f64 = 0.7;

/// The shortest title word compared, in characters (OONI's 5).
pub const MIN_TITLE_WORD_CHARS: usize = 5;

/// Header names too common to tell two servers apart (OONI's list).
pub const COMMON_HEADERS: [&str; 25] = [
    "date",
    "content-type",
    "server",
    "cache-control",
    "vary",
    "set-cookie",
    "location",
    "expires",
    "x-powered-by",
    "content-encoding",
    "last-modified",
    "accept-ranges",
    "pragma",
    "x-frame-options",
    "etag",
    "x-content-type-options",
    "age",
    "via",
    "p3p",
    "x-xss-protection",
    "content-language",
    "cf-ray",
    "strict-transport-security",
    "link",
    "x-varnish",
];

/// Analyses one measurement. `bogons` decides which addresses count as bogons.
pub fn analyze(observations: &Observations, bogons: &BogonPolicy) -> Analysis {
    let facts = Facts::new(observations, bogons);
    let diff = HttpDiff::compute(observations, facts.control);
    let dns_consistency = facts.control.map(|control| facts.dns_consistency(control));
    let verdict = facts.verdict(&diff, dns_consistency, false);
    let classic_verdict = facts.verdict(&diff, dns_consistency, true);
    let (blocking, accessible) = classic_blocking(
        &classic_verdict,
        dns_consistency,
        observations.requests.len(),
    );
    Analysis {
        classic: ClassicKeys {
            dns_consistency,
            body_proportion: diff.body_proportion,
            body_length_match: diff.body_length_match,
            status_code_match: diff.status_code_match,
            headers_match: diff.headers_match,
            title_match: diff.title_match,
            blocking,
            accessible,
        },
        verdict,
    }
}

/// OONI's `blocking` and `accessible` for a verdict.
fn classic_blocking(
    verdict: &Verdict,
    dns: Option<DnsConsistency>,
    requests: usize,
) -> (Option<Blocking>, Option<bool>) {
    let inconsistent = dns == Some(DnsConsistency::Inconsistent);
    let blocked = |method| (Some(method), Some(false));
    match verdict {
        Verdict::Ok => (Some(Blocking::NotBlocked), Some(true)),
        Verdict::SiteDown => (Some(Blocking::NotBlocked), Some(false)),
        Verdict::DnsTampered { .. } => blocked(Blocking::Dns),
        Verdict::TcpBlocked { .. } if inconsistent => blocked(Blocking::Dns),
        Verdict::TcpBlocked { .. } => blocked(Blocking::TcpIp),
        // v0.4: an HTTP-level failure on a one-hop chain with a lying resolver is "dns".
        Verdict::TlsBlocked { .. } | Verdict::TlsMitm { .. } | Verdict::HttpFailure { .. }
            if inconsistent && requests <= 1 =>
        {
            blocked(Blocking::Dns)
        }
        Verdict::TlsBlocked { .. } | Verdict::TlsMitm { .. } | Verdict::HttpFailure { .. } => {
            blocked(Blocking::HttpFailure)
        }
        Verdict::HttpBlockpage if inconsistent => blocked(Blocking::Dns),
        Verdict::HttpBlockpage => blocked(Blocking::HttpDiff),
        Verdict::Undetermined { .. } => (None, None),
    }
}

/// The `depth=N` of an observation's tags (0 when absent).
fn depth(tags: &[String]) -> usize {
    tags.iter()
        .find_map(|tag| tag.strip_prefix("depth="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// True for the failures of certificate verification.
fn is_certificate_failure(failure: &Failure) -> bool {
    matches!(
        failure,
        Failure::SslUnknownAuthority | Failure::SslInvalidCertificate | Failure::SslInvalidHostname
    )
}

/// What happened at one endpoint of the URL's port at depth 0, all attempts together.
#[derive(Debug, Clone)]
struct Endpoint {
    addr: SocketAddr,
    /// `Ok` when any connect succeeded, else the first failure.
    tcp: Result<(), Failure>,
    /// `None` when no handshake was attempted; `Ok` when any succeeded, else the first failure
    /// (a certificate failure preferred) and its handshake.
    tls: Option<Result<(), (Failure, TlsHandshake)>>,
}

/// A failed handshake that presented a certificate that did not verify.
#[derive(Debug, Clone)]
struct Interception {
    chain: ChainInspection,
    sni: String,
}

/// Facts derived once from the observations.
struct Facts<'a> {
    observations: &'a Observations,
    bogons: &'a BogonPolicy,
    host: String,
    https: bool,
    host_is_ip: bool,
    /// The helper's answer when it is usable.
    control: Option<&'a ThResponse>,
    /// Endpoints of the URL's port at depth 0, in first-seen order.
    endpoints: Vec<Endpoint>,
    /// The first handshake on the URL's port at depth 0 that presented a chain that did not
    /// verify.
    interception: Option<Interception>,
    /// The first handshake (any hop, any port) that presented a known Kazakh interception
    /// chain.
    known_interception: Option<Interception>,
    /// The same, among the fetch's handshakes only (not the 443 handshakes that validate an
    /// http URL's addresses).
    known_on_fetch_path: Option<Interception>,
}

impl<'a> Facts<'a> {
    fn new(observations: &'a Observations, bogons: &'a BogonPolicy) -> Self {
        let url = &observations.url;
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let host_is_ip = host.parse::<IpAddr>().is_ok();
        let port = url.port_or_known_default().unwrap_or(80);
        let control = match (&observations.control, &observations.control_failure) {
            (Some(control), None) => Some(control),
            _ => None,
        };
        let mut endpoints: Vec<Endpoint> = Vec::new();
        for connect in &observations.tcp_connect {
            if depth(&connect.tags) != 0 || connect.port != port {
                continue;
            }
            let Ok(ip) = connect.ip.parse::<IpAddr>() else {
                continue;
            };
            let addr = SocketAddr::new(ip, port);
            let outcome = match (&connect.status.failure, connect.status.success) {
                (None, true) => Ok(()),
                (Some(failure), _) => Err(failure.clone()),
                (None, false) => Err(Failure::Unknown("connect failed".to_string())),
            };
            match endpoints.iter_mut().find(|e| e.addr == addr) {
                Some(endpoint) => {
                    if outcome.is_ok() {
                        endpoint.tcp = Ok(());
                    }
                }
                None => endpoints.push(Endpoint {
                    addr,
                    tcp: outcome,
                    tls: None,
                }),
            }
        }
        let mut interception = None;
        let mut known_interception = None;
        let mut known_on_fetch_path = None;
        for handshake in &observations.tls_handshakes {
            let Ok(addr) = handshake.address.parse::<SocketAddr>() else {
                continue;
            };
            let first_hop = depth(&handshake.tags) == 0;
            if let Some(failure) = &handshake.failure {
                if is_certificate_failure(failure) && !handshake.peer_certificates.is_empty() {
                    let found = Interception {
                        chain: inspect_handshake(handshake),
                        sni: handshake.server_name.clone(),
                    };
                    // A known Kazakh chain is evidence on any handshake, even the 443 one
                    // that only validates an http URL's addresses: that name's HTTPS is
                    // intercepted.
                    if known_interception.is_none() && found.chain.known_kz_root {
                        known_interception = Some(found.clone());
                    }
                    let fetch_path = !first_hop || addr.port() == port;
                    if known_on_fetch_path.is_none() && found.chain.known_kz_root && fetch_path {
                        known_on_fetch_path = Some(found.clone());
                    }
                    // Other chains only on the URL's port: a site without https (or a shared
                    // host's default certificate) on 443 says nothing about an http URL.
                    if interception.is_none()
                        && first_hop
                        && addr.port() == port
                        && is_forgery(handshake)
                    {
                        interception = Some(found);
                    }
                }
            }
            if !first_hop {
                continue;
            }
            let Some(endpoint) = endpoints.iter_mut().find(|e| e.addr == addr) else {
                continue;
            };
            let outcome = match &handshake.failure {
                None => Ok(()),
                Some(failure) => Err((failure.clone(), handshake.clone())),
            };
            endpoint.tls = Some(match (endpoint.tls.take(), outcome) {
                (Some(Ok(())), _) | (_, Ok(())) => Ok(()),
                (None, Err(new)) => Err(new),
                (Some(Err(old)), Err(new)) => {
                    if !is_certificate_failure(&old.0) && is_certificate_failure(&new.0) {
                        Err(new)
                    } else {
                        Err(old)
                    }
                }
            });
        }
        Facts {
            observations,
            bogons,
            host,
            https: url.scheme() == "https",
            host_is_ip,
            control,
            endpoints,
            interception,
            known_interception,
            known_on_fetch_path,
        }
    }

    /// The addresses the probe's classic resolver returned (the IP itself for IP URLs).
    fn probe_addresses(&self) -> Vec<IpAddr> {
        match (&self.observations.system_dns, self.host.parse::<IpAddr>()) {
            (_, Ok(ip)) => vec![ip],
            (Some(dns), _) => dns.addresses.clone(),
            (None, _) => Vec::new(),
        }
    }

    /// True when a verified handshake with the URL's host as SNI reached `ip` at the probe,
    /// or the helper says the address is valid for the domain.
    fn valid_for_domain(&self, ip: IpAddr, control: &ThResponse) -> bool {
        let verified_here = self.observations.tls_handshakes.iter().any(|handshake| {
            handshake.failure.is_none()
                && !handshake.no_tls_verify
                && handshake.server_name.eq_ignore_ascii_case(&self.host)
                && handshake
                    .address
                    .parse::<SocketAddr>()
                    .is_ok_and(|addr| addr.ip() == ip)
        });
        let verified_there = control
            .ip_info
            .get(&ip.to_string())
            .is_some_and(|info| info.flags & IP_FLAG_VALID_FOR_DOMAIN != 0);
        verified_here || verified_there
    }

    /// `dns_consistency` against the helper's lookup (see the module docs).
    fn dns_consistency(&self, control: &ThResponse) -> DnsConsistency {
        use DnsConsistency::{Consistent, Inconsistent};
        if self.host_is_ip {
            return Consistent;
        }
        let Some(probe) = &self.observations.system_dns else {
            return Consistent;
        };
        let th_addrs = control.dns.ips();
        match (&probe.failure, &control.dns.failure) {
            (Some(failure), Some(_)) => {
                let both_nxdomain = control.dns.is_name_error()
                    && matches!(
                        failure,
                        Failure::DnsNxdomain | Failure::AndroidDnsCacheNoData
                    );
                return if both_nxdomain {
                    Consistent
                } else {
                    Inconsistent
                };
            }
            // The helper writes an empty answer as no failure and no address.
            (Some(Failure::DnsNoAnswer), None) if th_addrs.is_empty() => return Consistent,
            (Some(_), None) => return Inconsistent,
            _ => {}
        }
        if probe.addresses.iter().any(|ip| th_addrs.contains(ip)) {
            return Consistent;
        }
        // Same AS (the helper's ip_info knows ASNs when it has a database; 0 is unknown).
        let asn = |ip: &IpAddr| {
            control
                .ip_info
                .get(&ip.to_string())
                .map(|info| info.asn)
                .unwrap_or(0)
        };
        let th_asns: BTreeSet<i64> = btree_set(th_addrs.iter().map(asn).filter(|a| *a != 0));
        if probe
            .addresses
            .iter()
            .map(asn)
            .any(|a| th_asns.contains(&a))
        {
            return Consistent;
        }
        // v0.5: an address proven valid for the name is consistent whatever its AS.
        if probe
            .addresses
            .iter()
            .any(|ip| !self.bogons.is_bogon(*ip) && self.valid_for_domain(*ip, control))
        {
            return Consistent;
        }
        Inconsistent
    }

    /// True when the probe got a bogon that the reference resolver did not return, while the
    /// reference returned a public address.
    fn bogon_only_at_probe(&self, reference: &[IpAddr]) -> bool {
        let reference_public = reference.iter().any(|ip| !self.bogons.is_bogon(*ip));
        reference_public
            && self
                .probe_addresses()
                .iter()
                .any(|ip| self.bogons.is_bogon(*ip) && !reference.contains(ip))
    }

    /// The final response, when it succeeded.
    fn final_success(&self) -> Option<&HttpTransaction> {
        let observations = self.observations;
        let first = observations.requests.first()?;
        (first.failure.is_none()
            && first.response.code > 0
            && observations.http_experiment_failure.is_none())
        .then_some(first)
    }

    /// The verdict. `classic` ignores evidence outside the fetch's path (a known Kazakh chain
    /// met only while validating an http URL's addresses on 443), as OONI's classic keys
    /// judge only the fetch.
    fn verdict(&self, diff: &HttpDiff, dns: Option<DnsConsistency>, classic: bool) -> Verdict {
        // 1. A verified https page is the site.
        if let Some(success) = self.final_success() {
            if success.request.url.starts_with("https://") {
                return Verdict::Ok;
            }
        }
        // 2. A known interception chain speaks for itself.
        let known = match classic {
            false => &self.known_interception,
            true => &self.known_on_fetch_path,
        };
        if let Some(interception) = known {
            return mitm(interception);
        }
        // 3. Without a control.
        let Some(control) = self.control else {
            return self.without_control();
        };
        // 4. DNS.
        if let Some(verdict) = self.dns_verdict(control, diff, dns) {
            return verdict;
        }
        // 5. TCP to the URL's port.
        if !self.endpoints.is_empty() && self.endpoints.iter().all(|e| e.tcp.is_err()) {
            let failure = self
                .endpoints
                .iter()
                .find_map(|e| e.tcp.as_ref().err())
                .cloned()
                .unwrap_or(Failure::GenericTimeout);
            let keys: Vec<String> = self.endpoints.iter().map(|e| e.addr.to_string()).collect();
            let tried: Vec<_> = keys
                .iter()
                .filter_map(|key| control.tcp_connect.get(key))
                .collect();
            let reached = tried.iter().any(|result| result.status);
            return if reached || (tried.is_empty() && control.http_request.succeeded()) {
                Verdict::TcpBlocked {
                    how: TcpBlock::from_failure(&failure),
                }
            } else {
                Verdict::SiteDown
            };
        }
        // 6. TLS on the URL's port (https).
        if self.https {
            let attempted: Vec<&Endpoint> = self
                .endpoints
                .iter()
                .filter(|e| e.tcp.is_ok() && e.tls.is_some())
                .collect();
            let all_failed =
                !attempted.is_empty() && attempted.iter().all(|e| matches!(e.tls, Some(Err(_))));
            if all_failed {
                if let Some(verdict) = self.tls_verdict(control, &attempted) {
                    return verdict;
                }
            }
        }
        // 7. The fetch failed at a later step.
        let observations = self.observations;
        if let Some(failure) = &observations.http_experiment_failure {
            if !control.http_request.succeeded() {
                return Verdict::SiteDown;
            }
            return match observations.http_failed_operation {
                Some(Operation::Resolve) => dns_failure_verdict(failure),
                Some(Operation::Connect) => Verdict::TcpBlocked {
                    how: TcpBlock::from_failure(failure),
                },
                Some(Operation::TlsHandshake) => self.later_tls_verdict(failure),
                Some(Operation::HttpRoundTrip) | None => Verdict::HttpFailure {
                    failure: failure.clone(),
                },
            };
        }
        // 8. A cleartext page.
        if self.final_success().is_some() {
            if !control.http_request.succeeded() {
                return Verdict::Undetermined {
                    why: "the control could not fetch the page".to_string(),
                };
            }
            return if diff.page_matches() {
                Verdict::Ok
            } else {
                Verdict::HttpBlockpage
            };
        }
        Verdict::Undetermined {
            why: "no HTTP observation to compare".to_string(),
        }
    }

    /// Rule 3: no control. Only a DoH answer can still prove DNS tampering.
    fn without_control(&self) -> Verdict {
        let why = match &self.observations.control_failure {
            Some(failure) => format!("control unavailable: {failure}"),
            None => "control unavailable".to_string(),
        };
        if let (Some(system), Some(doh)) =
            (&self.observations.system_dns, &self.observations.doh_dns)
        {
            if doh.failure.is_none() && !doh.addresses.is_empty() {
                match &system.failure {
                    Some(
                        Failure::DnsNxdomain
                        | Failure::AndroidDnsCacheNoData
                        | Failure::DnsNoAnswer,
                    ) => {
                        return Verdict::DnsTampered {
                            how: DnsTamper::Nxdomain,
                        }
                    }
                    None if self.bogon_only_at_probe(&doh.addresses) => {
                        return Verdict::DnsTampered {
                            how: DnsTamper::Bogon,
                        }
                    }
                    _ => {}
                }
            }
        }
        Verdict::Undetermined { why }
    }

    /// Rule 4: DNS against the helper's lookup; `None` when DNS explains nothing.
    fn dns_verdict(
        &self,
        control: &ThResponse,
        diff: &HttpDiff,
        dns: Option<DnsConsistency>,
    ) -> Option<Verdict> {
        let system = self.observations.system_dns.as_ref()?;
        let th_addrs = control.dns.ips();
        if let Some(failure) = &system.failure {
            return Some(if th_addrs.is_empty() {
                Verdict::SiteDown
            } else {
                dns_failure_verdict(failure)
            });
        }
        if dns != Some(DnsConsistency::Inconsistent) || th_addrs.is_empty() {
            return None;
        }
        if self.bogon_only_at_probe(&th_addrs) {
            return Some(Verdict::DnsTampered {
                how: DnsTamper::Bogon,
            });
        }
        if let Some(interception) = &self.interception {
            if self.control_verified_name(control) || control.http_request.succeeded() {
                return Some(mitm(interception));
            }
        }
        if !control.http_request.succeeded() {
            return None;
        }
        let page_matches = self.final_success().is_some() && diff.page_matches();
        if page_matches {
            // Other addresses, same page: a CDN the helper could not vouch for.
            return None;
        }
        Some(Verdict::DnsTampered {
            how: DnsTamper::Hijack,
        })
    }

    /// Rule 6: every handshake on the URL's port failed.
    fn tls_verdict(&self, control: &ThResponse, attempted: &[&Endpoint]) -> Option<Verdict> {
        let failures: Vec<&(Failure, TlsHandshake)> = attempted
            .iter()
            .filter_map(|e| e.tls.as_ref().and_then(|tls| tls.as_ref().err()))
            .collect();
        let (failure, handshake) = failures
            .iter()
            .find(|(failure, _)| is_certificate_failure(failure))
            .or(failures.first())
            .map(|pair| (&pair.0, &pair.1))?;
        let same_endpoints: Vec<bool> = attempted
            .iter()
            .filter_map(|e| control.tls_handshake.get(&e.addr.to_string()))
            .map(|result| result.status)
            .collect();
        let fine_elsewhere = if same_endpoints.is_empty() {
            self.control_verified_name(control) || control.http_request.succeeded()
        } else {
            same_endpoints.iter().any(|ok| *ok)
        };
        if is_forgery(handshake) {
            // A certificate for the name from an unknown authority, where the helper's
            // handshake to the same endpoint verified (or, not having tried it, the name).
            return Some(if fine_elsewhere {
                mitm(&Interception {
                    chain: inspect_handshake(handshake),
                    sni: handshake.server_name.clone(),
                })
            } else {
                Verdict::SiteDown
            });
        }
        Some(if fine_elsewhere {
            Verdict::TlsBlocked {
                how: TlsBlock::from_failure(failure),
                sni: handshake.server_name.clone(),
            }
        } else {
            Verdict::SiteDown
        })
    }

    /// Rule 7 for a handshake failure after the first hop: the last failed handshake.
    fn later_tls_verdict(&self, failure: &Failure) -> Verdict {
        let handshake = self
            .observations
            .tls_handshakes
            .iter()
            .filter(|h| h.failure.is_some())
            .max_by(|a, b| a.t.total_cmp(&b.t));
        match handshake {
            Some(handshake) if is_forgery(handshake) => mitm(&Interception {
                chain: inspect_handshake(handshake),
                sni: handshake.server_name.clone(),
            }),
            Some(handshake) => Verdict::TlsBlocked {
                how: TlsBlock::from_failure(failure),
                sni: handshake.server_name.clone(),
            },
            None => Verdict::HttpFailure {
                failure: failure.clone(),
            },
        }
    }

    /// True when a handshake at the helper with the URL's host as SNI succeeded.
    fn control_verified_name(&self, control: &ThResponse) -> bool {
        control
            .tls_handshake
            .values()
            .any(|result| result.status && result.server_name.eq_ignore_ascii_case(&self.host))
    }
}

/// True when a failed handshake looks like interception: the presented leaf names the SNI
/// (an interceptor forges the site's names), and the chain failed because of who issued it
/// (`ssl_unknown_authority`) or its validity (`ssl_invalid_certificate`). A certificate for
/// another name (`ssl_invalid_hostname`, or a leaf that does not name the SNI) is some other
/// server answering: a diversion, not a forgery.
fn is_forgery(handshake: &TlsHandshake) -> bool {
    let authority = matches!(
        handshake.failure,
        Some(Failure::SslUnknownAuthority | Failure::SslInvalidCertificate)
    );
    authority
        && handshake
            .peer_certificates
            .first()
            .and_then(|leaf| leaf.to_bytes())
            .and_then(|der| certificate_names(&der))
            .is_some_and(|names| names.names_host(&handshake.server_name))
}

fn inspect_handshake(handshake: &TlsHandshake) -> ChainInspection {
    let chain: Vec<Vec<u8>> = handshake
        .peer_certificates
        .iter()
        .filter_map(|certificate| certificate.to_bytes())
        .collect();
    inspect_chain(&chain)
}

fn mitm(interception: &Interception) -> Verdict {
    Verdict::TlsMitm {
        issuer: interception.chain.issuer.clone(),
        known_kz_root: interception.chain.known_kz_root,
        sni: interception.sni.clone(),
    }
}

/// The verdict for a lookup that failed while the name resolves elsewhere.
fn dns_failure_verdict(failure: &Failure) -> Verdict {
    let how = match failure {
        Failure::DnsNxdomain | Failure::AndroidDnsCacheNoData | Failure::DnsNoAnswer => {
            DnsTamper::Nxdomain
        }
        Failure::GenericTimeout => DnsTamper::Timeout,
        _ => DnsTamper::Error,
    };
    Verdict::DnsTampered { how }
}

/// OONI's comparison of the final response with the helper's.
#[derive(Debug, Clone, PartialEq, Default)]
struct HttpDiff {
    body_proportion: f64,
    body_length_match: Option<bool>,
    status_code_match: Option<bool>,
    headers_match: Option<bool>,
    title_match: Option<bool>,
}

impl HttpDiff {
    fn compute(observations: &Observations, control: Option<&ThResponse>) -> Self {
        let mut diff = HttpDiff::default();
        let (Some(control), Some(last)) = (control, observations.requests.first()) else {
            return diff;
        };
        let expected = &control.http_request;
        let response = &last.response;

        // body_length_match / body_proportion: both bodies known and non-empty, ours whole.
        let ours = response.body.len() as i64;
        if expected.body_length > 0 && !response.body_is_truncated && ours > 0 {
            let (small, large) = if ours >= expected.body_length {
                (expected.body_length, ours)
            } else {
                (ours, expected.body_length)
            };
            diff.body_proportion = small as f64 / large as f64;
            diff.body_length_match = Some(diff.body_proportion > BODY_PROPORTION_FACTOR);
        }

        // status_code_match: equal codes match; a different code is a mismatch only when the
        // helper's is 2xx (a helper error page proves nothing).
        if expected.status_code > 0 && response.code > 0 {
            diff.status_code_match = if expected.status_code == response.code {
                Some(true)
            } else if expected.status_code / 100 == 2 {
                Some(false)
            } else {
                None
            };
        }

        // headers_match: the same header names, or a shared uncommon one.
        if expected.status_code > 0 && response.code > 0 {
            let names = |keys: &mut dyn Iterator<Item = &String>| -> BTreeSet<String> {
                btree_set(keys.map(|key| key.to_ascii_lowercase()))
            };
            let ours = names(
                &mut response
                    .headers
                    .keys()
                    .chain(response.headers_list.iter().map(|(name, _)| name)),
            );
            let theirs = names(&mut expected.headers.keys());
            let uncommon = |set: &BTreeSet<String>| -> BTreeSet<String> {
                btree_set(
                    set.iter()
                        .filter(|name| !COMMON_HEADERS.contains(&name.as_str()))
                        .cloned(),
                )
            };
            diff.headers_match =
                Some(ours == theirs || !uncommon(&ours).is_disjoint(&uncommon(&theirs)));
        }

        // title_match: the titles share a long word; null when either has none.
        if expected.status_code > 0 && response.code > 0 && !response.body_is_truncated {
            let ours = title_words(&html_title(&response.body.to_bytes()));
            let theirs = title_words(&expected.title);
            if !ours.is_empty() && !theirs.is_empty() {
                diff.title_match = Some(!ours.is_disjoint(&theirs));
            }
        }
        diff
    }

    /// OONI's http-diff rule: status codes match and (bodies, headers or titles match).
    fn page_matches(&self) -> bool {
        self.status_code_match == Some(true)
            && (self.body_length_match == Some(true)
                || self.headers_match == Some(true)
                || self.title_match == Some(true))
    }
}

/// The lowercase words of at least [`MIN_TITLE_WORD_CHARS`] characters.
fn title_words(title: &str) -> BTreeSet<String> {
    btree_set(
        title
            .split_whitespace()
            .filter(|word| word.chars().count() >= MIN_TITLE_WORD_CHARS)
            .map(str::to_lowercase),
    )
}

#[cfg(test)]
mod tests;
