//! `web_connectivity`: is this website blocked here, and how?
//!
//! For one URL ([`measure_website`]):
//! 1. resolve the host with the classic resolver (the system resolver unless configured
//!    otherwise; its answers decide the verdict) and, in parallel, with the optional UDP and DoH
//!    resolvers (recorded in `x_do53` / `x_doh`; DoH is evidence when the test helper is
//!    unreachable);
//! 2. in parallel: call the test helper with the resolved endpoints, and TCP-connect (then
//!    TLS-handshake, with the URL's host as SNI) every endpoint, at most
//!    [`WebConnectivityConfig::max_endpoints`] of them. Ports follow the helper's rule
//!    ([`crate::th::measured_ports`]): an http URL without a port also gets a TLS handshake on
//!    443, only to prove its addresses valid for the name;
//! 3. fetch the URL ([`crate::probe::fetch`]) through the first endpoint of the URL's port
//!    whose connect (and handshake) succeeded, redirects measured hop by hop; no endpoint, no
//!    fetch;
//! 4. analyse ([`analysis::analyze`], a pure function) and emit one OONI measurement.
//!
//! The run's session ([`crate::session`]) measures many URLs concurrently within the run's
//! budgets, conditioned on the network check.
//!
//! # Test version
//!
//! The measurement says `test_version` **0.4.3**: OONI's tooling keys its interpretation of the
//! classic keys on `test_version`, and the classic keys here have 0.4.3 semantics (see
//! [`analysis`]) with the raw data in the shapes 0.4.3 and 0.5 share. Everything Kuzet adds is
//! under `x_` keys (`x_verdict`, `x_do53`, `x_doh`, `x_control_request`, ...), as the spec asks
//! of extensions. `software_name` tells Kuzet's measurements apart from OONI's own.
//!
//! # Bytes
//!
//! `bytes_received` counts: every byte read on the connections the probe opened (TLS
//! handshakes of the endpoint step, every hop of the fetch, handshakes included); the test
//! helper's answer body (not its headers or TLS overhead); and the DNS responses recorded
//! (`raw_response` of UDP and DoH queries, late UDP replies included). The system resolver's
//! traffic is not observable and counts as 0, as do bytes sent.
//!
//! # Layout
//!
//! One module per step, as in OONI's webconnectivitylte: `dns` (the probe's lookups),
//! `endpoints` (TCP connects and TLS handshakes), `control` (the test helper) and `fetch` (the
//! page and its redirects). `measure` runs them for one URL and gathers what they observed,
//! [`analysis`] judges it, `measurement` writes the OONI measurement, and `runner` measures
//! many URLs. `config` holds [`WebConnectivityConfig`].

pub mod analysis;
mod config;
mod control;
mod dns;
mod endpoints;
pub mod explain;
mod fetch;
pub mod kz_roots;
mod measure;
mod measurement;
pub mod verdict;
pub mod x509;

/// The per-step timeouts, shared with `urlgetter`.
pub use crate::experiment::urlgetter::Timeouts as StepTimeouts;
pub use analysis::{analyze, Analysis, ClassicKeys, DnsOutcome, Observations};
pub use config::{Timeouts, WebConnectivityConfig};
pub(crate) use control::th_client;
pub use explain::explain_website;
pub(crate) use measure::measure_target;
pub use verdict::{Blocking, DnsConsistency, DnsTamper, TcpBlock, TlsBlock, Verdict};

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::Result;
use crate::experiment::urlgetter::parse_target_url;
use crate::failure::Failure;
use crate::report::Measurement;

/// The experiment's `test_name`.
pub const TEST_NAME: &str = "web_connectivity";
/// The experiment's `test_version` (0.4.3 semantics for the classic keys; see the module docs).
pub const TEST_VERSION: &str = "0.4.3";

/// One URL to measure, with its test-list category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetUrl {
    /// The URL.
    pub url: String,
    /// The Citizen Lab category code (`NEWS`, `POLR`, ...), if known.
    pub category_code: Option<String>,
}

impl TargetUrl {
    /// A URL without category.
    pub fn new(url: impl Into<String>) -> Self {
        TargetUrl {
            url: url.into(),
            category_code: None,
        }
    }
}

/// A short summary of one URL's measurement, for tables and progress.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebSummary {
    /// The URL measured.
    pub url: String,
    /// Its category, if known.
    pub category_code: Option<String>,
    /// OONI's `blocking` (`None` is `null`).
    pub blocking: Option<Blocking>,
    /// OONI's `accessible`.
    pub accessible: Option<bool>,
    /// OONI's `dns_consistency`.
    pub dns_consistency: Option<DnsConsistency>,
    /// The classic resolver's failure, if any.
    pub dns_experiment_failure: Option<Failure>,
    /// The HTTP experiment's failure, if any.
    pub http_experiment_failure: Option<Failure>,
    /// Why the test helper could not be used, if it could not.
    pub control_failure: Option<Failure>,
    /// The final status code, if a response arrived.
    pub status_code: Option<u16>,
    /// The last URL fetched.
    pub final_url: Option<String>,
    /// Wall time spent.
    pub runtime: Duration,
}

/// The outcome of measuring one URL.
#[derive(Debug, Clone)]
pub struct WebConnectivityResult {
    /// The OONI measurement.
    pub measurement: Measurement,
    /// Kuzet's verdict (also in the measurement as `x_verdict`).
    pub verdict: Verdict,
    /// Bytes received for this URL (see the module docs for what is counted).
    pub bytes_received: u64,
    /// The summary.
    pub summary: WebSummary,
}

/// Measures `url`. An error means the URL itself is unusable; every network failure is a
/// recorded result inside the measurement.
pub async fn measure_website(
    config: &WebConnectivityConfig,
    url: &str,
    test_start_time: OffsetDateTime,
) -> Result<WebConnectivityResult> {
    let target = parse_target_url(url)?;
    let client = th_client(config);
    Ok(measure_target(
        config,
        client.as_ref(),
        &TargetUrl::new(url),
        target,
        test_start_time,
    )
    .await)
}
