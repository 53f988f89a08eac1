//! The analysis: a pure function from what the probe observed (and what the test helper saw)
//! to OONI's classic keys and Kuzet's precise [`Verdict`]. No network here, so every rule is
//! unit-tested and the same code re-analyses OONI's sample measurements.
//!
//! # Classic keys (`test_version` 0.4.3 semantics)
//!
//! `dns_consistency`, `body_proportion`, `body_length_match`, `status_code_match`,
//! `headers_match` and `title_match` follow OONI's spec ts-017 (see `docs/ooni-interop.md`) and
//! OONI's v0.4 engine, with these choices, all documented where they are computed:
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
//!
//! # Layout
//!
//! This module holds the analysis' input ([`Observations`]), its output ([`Analysis`], with
//! OONI's [`ClassicKeys`]), the entry point [`analyze`] and the order of the rules (`verdict`
//! below). Each rule lives with its layer: `dns` (`dns_consistency`, rules 3 and 4), `tcp`
//! (rule 5), `tls` (the interception evidence of rule 2, rule 6, and rule 7's handshakes) and
//! `http` (the http-diff keys, rules 7 and 8). `reread` reads a measurement's test keys back
//! as [`Observations`].

mod dns;
mod http;
mod reread;
mod tcp;
mod tls;

use std::net::IpAddr;

use url::Url;

use super::verdict::{Blocking, DnsConsistency, Verdict};
use crate::failure::Failure;
use crate::probe::fetch::Operation;
use crate::report::observations::{HttpTransaction, TcpConnect, TlsHandshake};
use crate::th::{BogonPolicy, ThResponse};
use http::HttpDiff;
use tcp::{url_port_endpoints, Endpoint};
use tls::{fold_handshakes, mitm, Interception, InterceptionEvidence};

pub use http::{BODY_PROPORTION_FACTOR, COMMON_HEADERS, MIN_TITLE_WORD_CHARS};

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
        Verdict::Undetermined { .. } | Verdict::Unreachable { .. } => (None, None),
    }
}

/// The `depth=N` of an observation's tags (0 when absent).
fn depth(tags: &[String]) -> usize {
    tags.iter()
        .find_map(|tag| tag.strip_prefix("depth="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Facts derived once from the observations.
struct Facts<'a> {
    /// What the probe observed.
    observations: &'a Observations,
    /// Which addresses count as bogons.
    bogons: &'a BogonPolicy,
    /// The URL's host, lowercase, without an IPv6 literal's brackets.
    host: String,
    /// True for an https URL.
    https: bool,
    /// True when the host is an IP address.
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
    /// Derives the facts from `observations`: the endpoints of the URL's port with their
    /// connects (`tcp`) and handshakes, and the interception evidence (`tls`).
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
        let mut endpoints = url_port_endpoints(&observations.tcp_connect, port);
        let InterceptionEvidence {
            interception,
            known_interception,
            known_on_fetch_path,
        } = fold_handshakes(&observations.tls_handshakes, port, &mut endpoints);
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
        if let Some(verdict) = self.connect_verdict(control) {
            return verdict;
        }
        // 6. TLS on the URL's port (https).
        if let Some(verdict) = self.handshake_verdict(control) {
            return verdict;
        }
        // 7. The fetch failed at a later step.
        if let Some(verdict) = self.fetch_failure_verdict(control) {
            return verdict;
        }
        // 8. A cleartext page.
        if let Some(verdict) = self.page_verdict(control, diff) {
            return verdict;
        }
        Verdict::Undetermined {
            why: "no HTTP observation to compare".to_string(),
            failed: true,
        }
    }
}

#[cfg(test)]
mod tests;
