//! `urlgetter`: measure one URL (DNS, TCP, TLS, HTTP with redirects) and emit one measurement.

pub mod explain;

use std::time::{Duration, Instant};

use time::OffsetDateTime;
use url::Url;

use crate::clock::MeasurementClock;
use crate::error::{Error, Result};
use crate::experiment::policy;
use crate::failure::Failure;
use crate::net::trust::TrustAnchors;
use crate::probe::dns::{DnsOptions, DnsTransport};
use crate::probe::fetch::{fetch, FetchConfig, FetchOutcome};
use crate::probe::http::default_request_headers;
use crate::report::{Measurement, ProbeNetwork, Software};

pub use explain::{describe_failure, explain_web};

/// The experiment's `test_name`.
pub const TEST_NAME: &str = "urlgetter";
/// The experiment's `test_version`.
pub const TEST_VERSION: &str = "0.2.0";

/// Timeouts of each step. Defaults follow OONI's web_connectivity (DNS 4 s, the rest 10 s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// One DNS lookup.
    pub dns: Duration,
    /// One TCP connect.
    pub connect: Duration,
    /// One TLS handshake.
    pub tls: Duration,
    /// One HTTP round trip, body included.
    pub http: Duration,
}

impl Default for Timeouts {
    /// [`policy::step_timeouts`].
    fn default() -> Self {
        policy::step_timeouts()
    }
}

/// How `urlgetter` measures.
#[derive(Debug, Clone)]
pub struct UrlGetterConfig {
    /// The resolver used for every hop.
    pub resolver: DnsTransport,
    /// Per-step timeouts.
    pub timeouts: Timeouts,
    /// The most body bytes kept per response (512 KiB by default, as OONI).
    pub body_cap: usize,
    /// The most redirects followed (10, as OONI).
    pub max_redirects: usize,
    /// The roots certificates are checked against.
    pub trust: TrustAnchors,
    /// Who makes the measurement.
    pub software: Software,
    /// The probe's network, as far as known.
    pub network: ProbeNetwork,
}

impl Default for UrlGetterConfig {
    fn default() -> Self {
        UrlGetterConfig {
            resolver: DnsTransport::System,
            timeouts: Timeouts::default(),
            body_cap: policy::BODY_CAP,
            max_redirects: policy::MAX_REDIRECTS,
            trust: TrustAnchors::bundled(),
            software: Software::default(),
            network: ProbeNetwork::default(),
        }
    }
}

/// A short summary of one URL's measurement, for tables and progress.
#[derive(Debug, Clone, PartialEq)]
pub struct UrlSummary {
    /// The URL measured.
    pub url: String,
    /// The step that failed (`resolve`, `connect`, `tls_handshake`, `http_round_trip`), if any.
    pub failed_operation: Option<String>,
    /// The failure of that step, if any.
    pub failure: Option<Failure>,
    /// The final HTTP status code, if a response arrived.
    pub status_code: Option<u16>,
    /// The last URL fetched (after redirects).
    pub final_url: String,
    /// How many redirects were followed.
    pub redirects: usize,
    /// Body bytes of the final response (after the cap).
    pub body_length: usize,
    /// Bytes received from the network for this URL, all hops included.
    pub bytes_received: u64,
    /// Wall time spent.
    pub runtime: Duration,
}

impl UrlSummary {
    /// What the measurement concludes: every step worked, or which one failed and how.
    pub fn verdict(&self) -> UrlVerdict {
        match (&self.failed_operation, &self.failure) {
            (None, None) => UrlVerdict::Ok,
            (operation, failure) => UrlVerdict::Failed {
                operation: operation.clone().unwrap_or_else(|| "unknown".to_string()),
                failure: failure.as_ref().map_or_else(
                    || "unknown_failure".to_string(),
                    |f| f.as_str().into_owned(),
                ),
            },
        }
    }
}

/// What `kuzet measure` concludes for one URL, written as `x_verdict`: whether every step
/// worked. Never a verdict on blocking: urlgetter has no control measurement to compare with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Enum))]
pub enum UrlVerdict {
    /// Every step worked and a response arrived (whatever its status code).
    Ok,
    /// A step failed.
    Failed {
        /// The step: `resolve`, `connect`, `tls_handshake` or `http_round_trip`.
        operation: String,
        /// OONI's failure string.
        failure: String,
    },
}

impl UrlVerdict {
    /// The verdict's one word: `ok` or `failed`.
    pub fn word(&self) -> &'static str {
        match self {
            UrlVerdict::Ok => "ok",
            UrlVerdict::Failed { .. } => "failed",
        }
    }
}

/// The outcome of measuring one URL.
#[derive(Debug, Clone)]
pub struct UrlGetterResult {
    /// The OONI measurement.
    pub measurement: Measurement,
    /// Its summary.
    pub summary: UrlSummary,
}

/// Checks that `text` is an `http` or `https` URL with a host, and parses it.
pub fn parse_target_url(text: &str) -> Result<Url> {
    let url =
        Url::parse(&crate::net::idn::url_with_ascii_host(text)).map_err(|e| Error::InvalidUrl {
            url: text.to_string(),
            reason: e.to_string(),
        })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(Error::InvalidUrl {
            url: text.to_string(),
            reason: format!("scheme {:?} is not http or https", url.scheme()),
        });
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::InvalidUrl {
            url: text.to_string(),
            reason: "no host".to_string(),
        });
    }
    Ok(url)
}

/// Measures `url`. An error means the URL itself is unusable; every network failure is a
/// recorded result inside the measurement.
pub async fn measure_url(
    config: &UrlGetterConfig,
    url: &str,
    test_start_time: OffsetDateTime,
) -> Result<UrlGetterResult> {
    let target = parse_target_url(url)?;
    let started_at = OffsetDateTime::now_utc();
    let started = Instant::now();
    let clock = MeasurementClock::start();
    let fetch_config = FetchConfig {
        resolver: config.resolver.clone(),
        dns: DnsOptions {
            timeout: config.timeouts.dns,
            trust: config.trust.clone(),
            ..DnsOptions::default()
        },
        connect_timeout: config.timeouts.connect,
        tls_timeout: config.timeouts.tls,
        http_timeout: config.timeouts.http,
        body_cap: config.body_cap,
        max_redirects: config.max_redirects,
        trust: config.trust.clone(),
        headers: default_request_headers(),
    };
    let outcome = fetch(&clock, &fetch_config, &target, None).await;
    let runtime = started.elapsed();

    let mut measurement = Measurement::new(
        TEST_NAME,
        TEST_VERSION,
        Some(url.to_string()),
        &config.software,
        &config.network,
        test_start_time,
        started_at,
    );
    measurement.extensions = [
        ("dnst", 0),
        ("httpt", 0),
        ("netevents", 0),
        ("tcpconnect", 0),
        ("tlshandshake", 0),
    ]
    .into_iter()
    .map(|(name, version)| (name.to_string(), version))
    .collect();
    measurement.test_runtime = runtime.as_secs_f64();
    let summary = UrlSummary {
        url: url.to_string(),
        failed_operation: outcome.failed_operation.map(|op| op.as_str().to_string()),
        failure: outcome.failure.clone(),
        status_code: outcome.status_code,
        final_url: outcome.final_url.to_string(),
        redirects: outcome.redirects,
        body_length: outcome.body.len(),
        bytes_received: outcome.bytes_received,
        runtime,
    };
    measurement.test_keys = test_keys(&config.resolver, &outcome, &summary.verdict())?;
    Ok(UrlGetterResult {
        measurement,
        summary,
    })
}

/// urlgetter's test keys (ts-027), plus Kuzet's `x_` extras.
fn test_keys(
    resolver: &DnsTransport,
    outcome: &FetchOutcome,
    verdict: &UrlVerdict,
) -> Result<serde_json::Value> {
    let observations = &outcome.observations;
    Ok(serde_json::json!({
        "agent": "redirect",
        "failed_operation": outcome.failed_operation.map(|op| op.as_str()),
        "failure": outcome.failure,
        "network_events": observations.network_events,
        "queries": observations.queries,
        "requests": observations.requests,
        "socksproxy": null,
        "tcp_connect": observations.tcp_connect,
        "tls_handshakes": observations.tls_handshakes,
        "tunnel": "",
        "x_dns_duplicate_responses": observations.dns_late_replies,
        "x_resolver": resolver.address(),
        "x_bytes_received": outcome.bytes_received,
        "x_verdict": verdict,
    }))
}
