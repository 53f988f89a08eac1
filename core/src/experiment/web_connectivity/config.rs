//! How `web_connectivity` measures: [`WebConnectivityConfig`] (resolvers, test helper, caps,
//! trust, bogon policy) and its [`Timeouts`], with OONI's defaults.

use std::time::Duration;

use url::Url;

use super::StepTimeouts;
use crate::experiment::policy;
use crate::net::trust::TrustAnchors;
use crate::probe::dns::DnsTransport;
use crate::report::{ProbeNetwork, Software};
use crate::th::BogonPolicy;

/// Timeouts of web_connectivity: the per-step timeouts every fetch uses, plus the test helper
/// call and the whole fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// DNS, TCP connect, TLS handshake and HTTP round trip (4 s, then 10 s each, as OONI).
    pub steps: StepTimeouts,
    /// The test helper call (30 s).
    pub th: Duration,
    /// The whole fetch, every redirect included (60 s); a fetch cut here records
    /// `generic_timeout_error` and no HTTP observation.
    pub fetch: Duration,
}

impl Timeouts {
    /// Given step timeouts, with the test helper and whole-fetch timeouts at their defaults,
    /// stretched so neither is shorter than one HTTP round trip.
    pub fn from_steps(steps: StepTimeouts) -> Self {
        Timeouts {
            th: policy::TH_TIMEOUT.max(steps.http),
            fetch: policy::FETCH_TIMEOUT.max(steps.http),
            steps,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts::from_steps(StepTimeouts::default())
    }
}

/// How `web_connectivity` measures.
#[derive(Debug, Clone)]
pub struct WebConnectivityConfig {
    /// The classic resolver, whose answers decide the verdict: the system resolver by default.
    pub resolver: DnsTransport,
    /// An extra DNS-over-UDP resolver (e.g. `udp://8.8.8.8:53`), recorded in `x_do53`; its
    /// late and duplicate replies go to `x_dns_duplicate_responses`. Off by default.
    pub udp_resolver: Option<DnsTransport>,
    /// An extra DoH resolver, recorded in `x_doh` and used as evidence when the test helper is
    /// unavailable. Off by default.
    pub doh_resolver: Option<DnsTransport>,
    /// The test helper (e.g. `https://th.example/`); without one most verdicts are
    /// `undetermined`.
    pub th_url: Option<Url>,
    /// Per-step timeouts.
    pub timeouts: Timeouts,
    /// The most body bytes kept per response (512 KiB).
    pub body_cap: usize,
    /// The largest test helper answer accepted.
    pub th_body_cap: usize,
    /// The most redirects followed (10).
    pub max_redirects: usize,
    /// The most endpoints (address and port pairs) connected to per URL (8).
    pub max_endpoints: usize,
    /// The roots certificates (of sites, DoH and the test helper) are checked against.
    pub trust: TrustAnchors,
    /// Who makes the measurement.
    pub software: Software,
    /// The probe's network, as far as known.
    pub network: ProbeNetwork,
    /// Which addresses count as bogons: on by default; labs turn it off or list their "public"
    /// networks.
    pub bogons: BogonPolicy,
}

impl Default for WebConnectivityConfig {
    fn default() -> Self {
        WebConnectivityConfig {
            resolver: DnsTransport::System,
            udp_resolver: None,
            doh_resolver: None,
            th_url: None,
            timeouts: Timeouts::default(),
            body_cap: policy::BODY_CAP,
            th_body_cap: policy::TH_BODY_CAP,
            max_redirects: policy::MAX_REDIRECTS,
            max_endpoints: policy::MAX_ENDPOINTS,
            trust: TrustAnchors::bundled(),
            software: Software::default(),
            network: ProbeNetwork::default(),
            bogons: BogonPolicy::default(),
        }
    }
}
