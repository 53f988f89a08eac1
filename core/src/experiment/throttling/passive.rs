//! The passive method, for throttling keyed on the destination rather than the name: the real
//! site's URL and a baseline URL on comparable infrastructure (same CDN or provider), fetched
//! alternately in ABBA order on fresh connections with real certificate validation, bodies
//! capped at 256 KiB (OONI caps at 512 KiB), sampled with the same memoryless sampler, and
//! compared with the same paired decision. Each host is looked up once, on its arm's first fetch (the
//! `resolve` module), so every fetch of an arm goes to the same address and a lost DNS query is
//! asked again rather than costing a trial. The two pages differ in size and server, so this
//! is weaker evidence than the SNI swap; its point is to see what the SNI swap cannot.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::clock::MeasurementClock;
use crate::experiment::policy;
use crate::experiment::throttling::measurement::{extensions, x_throttling};
use crate::experiment::throttling::resolve::fetch_resolved;
use crate::experiment::throttling::schedule::{follow, pair_order};
use crate::experiment::throttling::trial::Arm;
use crate::experiment::throttling::{
    analyse_trial_with_gap, decide, ThrottlingVerdict, TrialMetrics, TrialSample, TrialTransfer,
};
use crate::experiment::throttling::{
    Evidence, Method, TargetResult, ThrottlingConfig, ThrottlingProgress, TEST_NAME, TEST_VERSION,
};
use crate::net::trust::TrustAnchors;
use crate::probe::dns::{DnsOptions, DnsTransport};
use crate::probe::fetch::{FetchConfig, FetchOutcome, Observations, Operation};
use crate::probe::http::default_request_headers;
use crate::report::observations::HttpBody;
use crate::report::Measurement;

/// Bytes reserved per fetch beyond the body before the first fetch shows the real cost.
pub const PASSIVE_OVERHEAD_BYTES: u64 = 64 * 1024;

/// A destination and its baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassiveTarget {
    /// The real site (https).
    pub url: String,
    /// A page on comparable infrastructure that is not expected to be throttled (https).
    pub baseline_url: String,
}

impl PassiveTarget {
    /// Parses `URL=BASELINE_URL`; both must be https URLs with a host.
    pub fn parse(text: &str) -> Result<PassiveTarget, String> {
        let (url, baseline) = text
            .split_once('=')
            .filter(|(a, b)| !a.is_empty() && !b.is_empty())
            .ok_or_else(|| format!("{text:?} is not URL=BASELINE_URL"))?;
        // A `=` inside the first URL's query would be ambiguous: split at the `=https://`.
        let (url, baseline) = match text.find("=https://") {
            Some(at) => (&text[..at], &text[at + 1..]),
            None => (url, baseline),
        };
        for candidate in [url, baseline] {
            let parsed = Url::parse(&crate::net::idn::url_with_ascii_host(candidate))
                .map_err(|e| format!("{candidate:?}: {e}"))?;
            if parsed.scheme() != "https" || parsed.host_str().is_none_or(str::is_empty) {
                return Err(format!("{candidate:?} is not an https URL with a host"));
            }
        }
        Ok(PassiveTarget {
            url: url.to_string(),
            baseline_url: baseline.to_string(),
        })
    }
}

/// How passive fetches are made.
#[derive(Debug, Clone)]
pub struct PassiveOptions {
    /// The resolver.
    pub resolver: DnsTransport,
    /// Roots for certificate validation (the bundled ones, plus a lab's CA file).
    pub trust: TrustAnchors,
    /// The most body bytes read per fetch.
    pub body_cap: usize,
    /// The most redirects followed per fetch.
    pub max_redirects: usize,
    /// Connect and handshake timeout.
    pub step_timeout: Duration,
    /// The cap on the HTTP exchange, body included.
    pub http_timeout: Duration,
}

impl Default for PassiveOptions {
    fn default() -> Self {
        PassiveOptions {
            resolver: DnsTransport::System,
            trust: TrustAnchors::bundled(),
            body_cap: policy::PASSIVE_BODY_CAP,
            max_redirects: policy::PASSIVE_MAX_REDIRECTS,
            step_timeout: policy::PASSIVE_STEP_TIMEOUT,
            http_timeout: policy::PASSIVE_STEP_TIMEOUT,
        }
    }
}

/// One fetch and its analysis.
struct Fetched {
    arm: Arm,
    url: String,
    outcome: FetchOutcome,
    metrics: TrialMetrics,
    blocked_step: bool,
}

/// Measures one passive target (`None` when `budget` cannot hold one pair).
pub(crate) async fn measure_passive_target(
    config: &ThrottlingConfig,
    target: &PassiveTarget,
    budget: u64,
    test_start: OffsetDateTime,
    cancel: &CancellationToken,
    progress: &(dyn Fn(ThrottlingProgress) + Send + Sync),
) -> Option<TargetResult> {
    let options = &config.passive_options;
    // What the next pair may cost: each arm's largest fetch so far (plus a tenth), or the
    // cap before an arm has been fetched. A throttled target costs far less than its baseline.
    let initial_reserve = options.body_cap as u64 + PASSIVE_OVERHEAD_BYTES;
    let mut target_reserve = initial_reserve;
    let mut baseline_reserve = initial_reserve;
    if budget < 2 * initial_reserve {
        return None;
    }
    let started_at = OffsetDateTime::now_utc();
    let started = Instant::now();
    let clock = MeasurementClock::start();
    let mut fetch_config = FetchConfig {
        resolver: options.resolver.clone(),
        dns: DnsOptions {
            trust: options.trust.clone(),
            ..DnsOptions::default()
        },
        connect_timeout: options.step_timeout,
        tls_timeout: options.step_timeout,
        http_timeout: options.http_timeout,
        body_cap: options.body_cap,
        max_redirects: options.max_redirects,
        trust: options.trust.clone(),
        headers: default_request_headers(),
    };
    let rules = &config.rules;
    let mut fetches: Vec<Fetched> = Vec::new();
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut planned = rules.first_round_pairs;
    let mut evidence = Evidence::with_budget(budget);
    // Each arm's address, looked up on its first fetch.
    let (mut target_endpoint, mut baseline_endpoint) = (None, None);
    let verdict = 'schedule: loop {
        while pairs.len() < planned {
            if evidence.bytes_used + target_reserve + baseline_reserve > budget {
                evidence.budget_stopped = true;
                break;
            }
            let mut pair = [0usize; 2];
            for (slot, arm) in pair_order(pairs.len()).into_iter().enumerate() {
                progress(ThrottlingProgress::Trial {
                    target: target.url.clone(),
                    trial: fetches.len() + 1,
                    planned: planned * 2,
                });
                let (url_text, endpoint) = match arm {
                    Arm::Target => (&target.url, &mut target_endpoint),
                    Arm::Control => (&target.baseline_url, &mut baseline_endpoint),
                };
                let Ok(url) = Url::parse(url_text) else {
                    break 'schedule ThrottlingVerdict::Inconclusive {
                        why: format!("invalid URL {url_text:?}"),
                    };
                };
                // The reserves follow what fetches cost; the cap makes the budget hard even
                // when a fetch costs more than the ones before it.
                let remaining = budget.saturating_sub(evidence.bytes_used);
                fetch_config.body_cap = options.body_cap.min(
                    usize::try_from(remaining.saturating_sub(PASSIVE_OVERHEAD_BYTES))
                        .unwrap_or(usize::MAX),
                );
                let outcome = tokio::select! {
                    outcome = fetch_resolved(&clock, &fetch_config, &url, endpoint) => outcome,
                    _ = cancel.cancelled() => {
                        evidence.cancelled = true;
                        break 'schedule ThrottlingVerdict::Inconclusive {
                            why: "cancelled".to_string(),
                        };
                    }
                };
                evidence.bytes_used += outcome.bytes_received;
                let observed = outcome.bytes_received + outcome.bytes_received / 10;
                match arm {
                    Arm::Target if fetches.iter().all(|f| f.arm != Arm::Target) => {
                        target_reserve = observed
                    }
                    Arm::Target => target_reserve = target_reserve.max(observed),
                    Arm::Control if fetches.iter().all(|f| f.arm != Arm::Control) => {
                        baseline_reserve = observed
                    }
                    Arm::Control => baseline_reserve = baseline_reserve.max(observed),
                }
                let transfer = transfer_of(&outcome, fetch_config.body_cap as u64);
                let metrics = analyse_trial_with_gap(&transfer, config.stall_gap.as_secs_f64());
                let blocked_step = matches!(
                    outcome.failed_operation,
                    Some(Operation::Resolve | Operation::Connect | Operation::TlsHandshake)
                );
                pair[slot] = fetches.len();
                fetches.push(Fetched {
                    arm,
                    url: url_text.clone(),
                    outcome,
                    metrics,
                    blocked_step,
                });
            }
            let (a, b) = (pair[0], pair[1]);
            pairs.push(if fetches[a].arm == Arm::Target {
                (a, b)
            } else {
                (b, a)
            });
        }
        evidence.pairs = pairs.len();
        if pairs.is_empty() {
            break ThrottlingVerdict::Inconclusive {
                why: "the data budget allowed no pair".to_string(),
            };
        }
        let target_failed = pairs
            .iter()
            .filter(|(t, _)| fetches[*t].blocked_step)
            .count();
        let baseline_ok = pairs
            .iter()
            .filter(|(_, c)| !fetches[*c].blocked_step)
            .count();
        let n = pairs.len();
        if baseline_ok == 0 {
            break ThrottlingVerdict::Inconclusive {
                why: "the baseline failed in every trial".to_string(),
            };
        }
        if target_failed * 4 >= n * 3 && baseline_ok * 4 >= n * 3 {
            let last_failed = pairs
                .iter()
                .map(|(t, _)| &fetches[*t].outcome)
                .rfind(|outcome| outcome.failure.is_some());
            break ThrottlingVerdict::Blocked {
                step: last_failed
                    .and_then(|outcome| outcome.failed_operation)
                    .map_or("http_round_trip", |operation| operation.as_str())
                    .to_string(),
                failure: last_failed
                    .and_then(|outcome| outcome.failure.as_ref())
                    .map_or_else(|| "unknown".to_string(), |f| f.as_str().into_owned()),
            };
        }
        let metrics: Vec<(TrialMetrics, TrialMetrics)> = pairs
            .iter()
            .map(|(t, c)| (fetches[*t].metrics.clone(), fetches[*c].metrics.clone()))
            .collect();
        let pair_cost = target_reserve + baseline_reserve;
        match follow(
            decide(&metrics, rules),
            &metrics,
            rules,
            &mut evidence,
            pair_cost,
        ) {
            ControlFlow::Break(verdict) => break verdict,
            ControlFlow::Continue(more) => planned += more,
        }
    };
    evidence.pairs = pairs.len();
    let measurement = passive_measurement(
        config,
        target,
        &fetches,
        &verdict,
        &evidence,
        (test_start, started_at, started.elapsed()),
    );
    Some(TargetResult {
        input: target.url.clone(),
        method: Method::Passive,
        verdict,
        evidence,
        measurement,
    })
}

/// The analysis input of one fetch: its final hop's samples from the request on.
fn transfer_of(outcome: &FetchOutcome, body_cap: u64) -> TrialTransfer {
    let observations = &outcome.observations;
    // Requests are newest first: the final hop is the first.
    let Some(request) = observations.requests.first() else {
        return TrialTransfer {
            samples: Vec::new(),
            requested_bytes: body_cap,
            completed: false,
            failed: true,
        };
    };
    let events: Vec<_> = observations
        .network_events
        .iter()
        .filter(|e| {
            e.transaction_id == request.transaction_id && e.operation == "bytes_received_cumulative"
        })
        .collect();
    let base = events
        .iter()
        .filter(|e| e.t <= request.t0)
        .filter_map(|e| e.num_bytes)
        .max()
        .unwrap_or(0);
    let samples: Vec<TrialSample> = events
        .iter()
        .filter(|e| e.t > request.t0)
        .map(|e| TrialSample {
            t: e.t - request.t0,
            bytes: e.num_bytes.unwrap_or(0).saturating_sub(base),
        })
        .collect();
    let completed = outcome.failure.is_none() && outcome.status_code.is_some();
    TrialTransfer {
        failed: samples.iter().all(|s| s.bytes == 0),
        samples,
        requested_bytes: body_cap,
        completed,
    }
}

fn passive_measurement(
    config: &ThrottlingConfig,
    target: &PassiveTarget,
    fetches: &[Fetched],
    verdict: &ThrottlingVerdict,
    evidence: &Evidence,
    (test_start, started_at, runtime): (OffsetDateTime, OffsetDateTime, Duration),
) -> Measurement {
    let mut measurement = Measurement::new(
        TEST_NAME,
        TEST_VERSION,
        Some(target.url.clone()),
        &config.software,
        &config.network,
        test_start,
        started_at,
    );
    let mut all = Observations::default();
    let mut trials = Vec::new();
    for (i, fetched) in fetches.iter().enumerate() {
        let o = &fetched.outcome.observations;
        all.queries.extend(o.queries.iter().cloned());
        all.tcp_connect.extend(o.tcp_connect.iter().cloned());
        all.tls_handshakes.extend(o.tls_handshakes.iter().cloned());
        all.network_events.extend(o.network_events.iter().cloned());
        // Bodies are not kept (up to 256 KiB each); their length is in `x_trials`.
        all.requests.extend(o.requests.iter().cloned().map(|mut t| {
            t.response.body = HttpBody::default();
            t.response.body_is_truncated = true;
            t
        }));
        let m = &fetched.metrics;
        trials.push(json!({
            "trial": i + 1,
            "arm": if fetched.arm == Arm::Target { "target" } else { "baseline" },
            "url": fetched.url,
            "status_code": fetched.outcome.status_code,
            "body_bytes": fetched.outcome.body.len(),
            "bytes_received": fetched.outcome.bytes_received,
            "failed_operation": fetched.outcome.failed_operation.map(|op| op.as_str()),
            "failure": fetched.outcome.failure.as_ref().map(|f| f.as_str().into_owned()),
            "completed": m.completed,
            "stalled": m.stalled,
            "first_byte_ms": m.first_byte_seconds.map(|s| (s * 1e6).round() / 1e3),
            "rate_kbps": m.rate_bps.map(|b| (b).round() / 1000.0),
            "average_kbps": (m.average_bps).round() / 1000.0,
        }));
    }
    measurement.extensions = extensions();
    measurement.extensions.insert("dnst".to_string(), 0);
    measurement.extensions.insert("httpt".to_string(), 0);
    measurement.test_runtime = runtime.as_secs_f64();
    measurement.test_keys = json!({
        "method": Method::Passive,
        "target_url": target.url,
        "baseline_url": target.baseline_url,
        "failure": Value::Null,
        "queries": all.queries,
        "tcp_connect": all.tcp_connect,
        "tls_handshakes": all.tls_handshakes,
        "requests": all.requests,
        "network_events": all.network_events,
        "x_throttling": x_throttling(Method::Passive, verdict, evidence),
        "x_trials": trials,
    });
    measurement
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passive_pairs_parse() {
        let p = PassiveTarget::parse("https://a.example/x?y=1=https://b.example/").unwrap();
        assert_eq!(p.url, "https://a.example/x?y=1");
        assert_eq!(p.baseline_url, "https://b.example/");
        for bad in [
            "https://a.example/",
            "http://a.example/=https://b.example/",
            "=https://b.example/",
            "https://a.example/=ftp://b/",
        ] {
            assert!(PassiveTarget::parse(bad).is_err(), "{bad}");
        }
    }
}
