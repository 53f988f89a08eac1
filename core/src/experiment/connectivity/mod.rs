//! `kuzet_connectivity`: is this device's network up, cut, whitelisted or behind a portal?
//!
//! A check runs cheap probes in parallel with short timeouts ([`probes`]): the local resolver,
//! every anchor (domestic, international, key services) by name and by pinned IP, and the
//! captive-portal / injection check. The pure decision
//! ([`classify`](fn@crate::experiment::connectivity::classify)) maps what they saw, with the platform's own view ([`PlatformState`], passed in by the app
//! or the CLI), to a [`ConnectivityStatus`] with its evidence. Anything beyond local trouble is
//! re-checked ([`config::Rechecks`]) before it is declared. A single device never claims a
//! national shutdown: statuses and explanations say what *this device observed*.
//!
//! The [`monitor::ConnectivityMonitor`] keeps the status timeline in the store: a changed
//! status becomes a timeline transition and an OONI measurement in the upload queue, stamped
//! with the time it was observed, so an outage seen offline reaches a collector once the
//! network is back.
//!
//! Cost: when the network works a check takes one round trip per probe (all in parallel) and a
//! few KB (measured in `BENCHMARKS.md`); when it does not, it is bounded by its timeouts.

pub mod classify;
pub mod config;
pub mod explain;
pub mod monitor;
pub mod observation;
pub mod probes;

use std::time::{Duration, Instant};

use serde_json::json;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

pub use config::{
    Anchor, AnchorProbe, CaptiveCheckConfig, CheckTimeouts, ConfigError, ConnectivityConfig,
    Rechecks,
};
pub use monitor::{ConnectivityMonitor, RecordPolicy, RecordedTransition, Recording};
pub use probes::{AnchorReport, BytesUsed, CaptiveReport, ResolverReport, RoundReport};

use crate::report::Measurement;
use crate::store::NetworkType;
pub use classify::{classify, Classification, ClassifyRules, ConnectivityStatus};
pub use explain::{explain, unreachable_sentence};
pub use observation::{
    AnchorGroup, AnchorResult, CaptiveCheck, ConnectivityObservation, PlatformState, Transport,
};

/// The experiment's `test_name`.
pub const TEST_NAME: &str = "kuzet_connectivity";
/// The experiment's `test_version`.
pub const TEST_VERSION: &str = "0.1.0";

/// Why a check could not complete (a network failure is never an error: it is evidence).
#[derive(Debug, thiserror::Error)]
pub enum ConnectivityError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The check was cancelled before it finished.
    #[error("the connectivity check was cancelled")]
    Cancelled,
}

/// One round's status, for the record of re-checks.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RoundSummary {
    /// The status this round alone gave.
    pub status: ConnectivityStatus,
    /// When it started, in seconds after the check started.
    pub t: f64,
}

/// What a connectivity check found.
#[derive(Debug, Clone)]
pub struct ConnectivityOutcome {
    /// The declared status (after re-checks).
    pub status: ConnectivityStatus,
    /// One plain-language sentence about it ([`explain`](fn@crate::experiment::connectivity::explain)).
    pub explanation: String,
    /// The facts behind it, e.g. "0 of 4 international anchors reachable".
    pub evidence: Vec<String>,
    /// Every anchor's, the resolver's and the captive check's outcome in the last round
    /// (`None` when the platform reported no network and nothing was probed).
    pub last_round: Option<RoundReport>,
    /// Each round's status, the first round first.
    pub rounds: Vec<RoundSummary>,
    /// The platform's view, as given.
    pub platform: PlatformState,
    /// When the check started (ms since the epoch): when the status was observed.
    pub observed_at_ms: i64,
    /// How long it took, re-checks included.
    pub runtime: Duration,
    /// The bytes it used, all rounds together.
    pub bytes: BytesUsed,
    /// The OONI measurement (`test_name` [`TEST_NAME`]); the monitor adds the previous status.
    pub measurement: Measurement,
}

impl ConnectivityOutcome {
    /// How many re-checks ran.
    pub fn rechecks(&self) -> usize {
        self.rounds.len().saturating_sub(1)
    }

    /// The store's network type for the platform's transport.
    pub fn network_type(&self) -> NetworkType {
        network_type(self.platform.transport)
    }
}

/// The store's network type for a transport.
pub fn network_type(transport: Transport) -> NetworkType {
    match transport {
        Transport::Wifi => NetworkType::Wifi,
        Transport::Cellular => NetworkType::Mobile,
        Transport::Ethernet => NetworkType::Wired,
        Transport::None | Transport::Unknown => NetworkType::Unknown,
    }
}

/// Runs one connectivity check: probes in parallel, the decision, and the re-checks the
/// configuration asks for when the status points beyond the device. `platform` is the OS's
/// view (from the app, or what the CLI can tell from the host); when it says the device is
/// offline by itself (airplane mode, data off, no network path) nothing is probed.
/// `cancel` stops the check between and during rounds ([`ConnectivityError::Cancelled`]).
pub async fn check_connectivity(
    config: &ConnectivityConfig,
    platform: &PlatformState,
    cancel: &CancellationToken,
) -> Result<ConnectivityOutcome, ConnectivityError> {
    config.validate()?;
    let resolver = config.resolver_transport()?;
    let test_start = OffsetDateTime::now_utc();
    let observed_at_ms =
        i64::try_from(test_start.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
    let started = Instant::now();
    let counter = std::sync::Arc::new(probes::ByteCounter::default());

    // The platform alone may settle it: no probe is sent from a device that is offline.
    let platform_only = ConnectivityObservation {
        platform: platform.clone(),
        ..ConnectivityObservation::default()
    };
    let by_platform = classify(&platform_only, &config.rules);
    let settled_by_platform = by_platform.status == ConnectivityStatus::LocalDevice
        || platform.transport == Transport::None;

    let mut rounds = Vec::new();
    let mut last_round = None;
    let mut classification: Classification;
    if settled_by_platform {
        classification = by_platform;
        if platform.transport == Transport::None
            && classification.status == ConnectivityStatus::LocalLink
        {
            classification.evidence = vec![
                "the platform reports no network path (no interface up with a route)".to_string(),
            ];
        }
        classification
            .evidence
            .push("nothing was probed: the device is offline by itself".to_string());
        rounds.push(RoundSummary {
            status: classification.status,
            t: 0.0,
        });
    } else {
        loop {
            let t = started.elapsed().as_secs_f64();
            let round = tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(ConnectivityError::Cancelled),
                round = probes::run_round(config, &resolver, &counter) => round,
            };
            let observation = observation(platform, &round);
            classification = classify(&observation, &config.rules);
            rounds.push(RoundSummary {
                status: classification.status,
                t,
            });
            last_round = Some(round);
            let rechecks_done = rounds.len() - 1;
            if !classification.status.is_beyond_local()
                || rechecks_done >= config.rechecks.count as usize
            {
                break;
            }
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(ConnectivityError::Cancelled),
                () = tokio::time::sleep(config.rechecks.delay) => {}
            }
        }
    }

    let status = classification.status;
    let mut evidence = classification.evidence;
    if rounds.len() > 1 {
        let seen: Vec<&str> = rounds.iter().map(|r| r.status.as_str()).collect();
        evidence.push(format!(
            "re-checked {} time(s), {:.0} s apart: {}",
            rounds.len() - 1,
            config.rechecks.delay.as_secs_f64(),
            seen.join(" → ")
        ));
    }
    if status.is_beyond_local() {
        evidence.push(
            "this device observed this on its own network; one device cannot tell how far \
             it extends"
                .to_string(),
        );
    }
    let runtime = started.elapsed();
    let bytes = counter.snapshot();
    let explanation = explain(status);
    let mut measurement = Measurement::new(
        TEST_NAME,
        TEST_VERSION,
        None,
        &config.software,
        &config.network,
        test_start,
        test_start,
    );
    measurement.test_runtime = runtime.as_secs_f64();
    measurement.test_keys = test_keys(
        status,
        &explanation,
        &evidence,
        &rounds,
        last_round.as_ref(),
        platform,
        &resolver,
        bytes,
    );
    Ok(ConnectivityOutcome {
        status,
        explanation,
        evidence,
        last_round,
        rounds,
        platform: platform.clone(),
        observed_at_ms,
        runtime,
        bytes,
        measurement,
    })
}

/// The decision's input for one round.
fn observation(platform: &PlatformState, round: &RoundReport) -> ConnectivityObservation {
    let mut anchors = vec![round.resolver.result()];
    anchors.extend(round.anchors.iter().map(AnchorReport::result));
    ConnectivityObservation {
        platform: platform.clone(),
        captive: round
            .captive
            .iter()
            .map(|c| c.result.clone())
            .collect::<Vec<CaptiveCheck>>(),
        anchors,
    }
}

/// The measurement's test keys. Anchors carry their pinned addresses (ours, from the
/// configuration); nothing carries the device's address, interfaces or identifiers.
#[allow(clippy::too_many_arguments)]
fn test_keys(
    status: ConnectivityStatus,
    explanation: &str,
    evidence: &[String],
    rounds: &[RoundSummary],
    round: Option<&RoundReport>,
    platform: &PlatformState,
    resolver: &crate::probe::dns::DnsTransport,
    bytes: BytesUsed,
) -> serde_json::Value {
    let anchors: Vec<serde_json::Value> = round
        .map(|r| {
            r.anchors
                .iter()
                .map(|a| {
                    let result = a.result();
                    json!({
                        "name": a.name,
                        "group": a.group,
                        "operator": a.operator,
                        "probe": a.probe,
                        "port": a.port,
                        "pinned_ips": a.pinned_ips,
                        "by_name": result.by_name,
                        "by_ip": result.by_ip,
                        "failure": result.failure,
                        "by_name_detail": a.by_name,
                        "by_ip_detail": a.by_ip,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "x_status": status,
        "x_previous_status": null,
        "x_explanation": explanation,
        "x_evidence": evidence,
        "x_rechecks": rounds.len().saturating_sub(1),
        "x_rounds": rounds,
        "x_bytes": bytes,
        "anchors": anchors,
        "resolver": round.map(|r| json!({
            "engine": r.resolver.engine,
            "address": resolver.address(),
            "lookups": r.resolver.lookups,
            "answered": r.resolver.answered,
            "failure": r.resolver.failure,
        })),
        "captive_check": round.and_then(|r| r.captive.as_ref()),
        "platform": platform,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab_config() -> ConnectivityConfig {
        ConnectivityConfig::from_json(
            r#"{"anchors": [{"name": "a.invalid", "group": "domestic"}],
                "rechecks": {"count": 3, "delay": 10}}"#,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn an_offline_device_is_not_probed() {
        let platform = PlatformState {
            airplane_mode: true,
            ..PlatformState::default()
        };
        let outcome = check_connectivity(&lab_config(), &platform, &CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(outcome.status, ConnectivityStatus::LocalDevice);
        assert!(outcome.last_round.is_none());
        assert_eq!(outcome.bytes.total, 0);
        assert_eq!(outcome.measurement.test_name, TEST_NAME);
        assert_eq!(outcome.measurement.test_keys["x_status"], "local_device");

        let platform = PlatformState {
            transport: Transport::None,
            ..PlatformState::default()
        };
        let outcome = check_connectivity(&lab_config(), &platform, &CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(outcome.status, ConnectivityStatus::LocalLink);
        assert!(outcome
            .evidence
            .iter()
            .any(|e| e.contains("no network path")));
    }

    #[tokio::test]
    async fn a_cancelled_check_says_so() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        let result = check_connectivity(&lab_config(), &PlatformState::default(), &cancel).await;
        assert!(matches!(result, Err(ConnectivityError::Cancelled)));
    }

    #[test]
    fn transports_map_to_network_types() {
        assert_eq!(network_type(Transport::Cellular), NetworkType::Mobile);
        assert_eq!(network_type(Transport::None), NetworkType::Unknown);
    }
}
