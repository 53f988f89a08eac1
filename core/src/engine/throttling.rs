//! The throttling suite: the paired SNI-swap experiment (`kuzet_throttling`) against the
//! configured throughput server, one target (SNI) at a time so each result is stored and
//! reported as it lands, within the run's byte budget.

use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;

use super::progress::{BlockingMethod, TargetResult, Verdict};
use super::suite::Suite;
use crate::experiment::throttling::ThrottlingVerdict;
use crate::experiment::throttling::{
    self as experiment, random_control_sni, run_throttling, SpkiPin, ThrottlingConfig,
    ThrottlingError,
};
use crate::report::{Measurement, ProbeNetwork, Software};

/// The names tested when a run names none: services whose throttling has been reported in the
/// region (Twitter/X was throttled in Russia in 2021; messengers and video in Kazakhstan's
/// protests). Only the name travels to them: every byte comes from the throughput server.
pub const DEFAULT_THROTTLING_TARGETS: [&str; 4] = [
    "twitter.com",
    "www.youtube.com",
    "web.telegram.org",
    "www.instagram.com",
];

/// Kuzet's throughput server: where throttling trials download from, and the key it must
/// present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThroughputServer {
    /// Its address and port.
    pub addr: SocketAddr,
    /// Its key's pin (`sha256/...`).
    pub pin: SpkiPin,
}

/// How one target of a run is measured.
pub(crate) struct TargetSetup<'a> {
    pub(crate) server: &'a ThroughputServer,
    pub(crate) control_sni: &'a str,
    pub(crate) software: &'a Software,
    pub(crate) network: &'a ProbeNetwork,
    /// The bytes left in the run's budget (the experiment's own caps still apply).
    pub(crate) bytes_left: u64,
}

/// A fresh control name for one run (every target of the run compares against it).
pub(crate) fn control_sni() -> String {
    random_control_sni()
}

/// The outcome of one target.
pub(crate) enum Measured {
    /// A result and its measurement, to record.
    Result(TargetResult, Box<Measurement>),
    /// Not measured: cancelled or out of budget.
    Skipped,
    /// The server cannot be used (wrong pin, unreachable): a result to report (no measurement)
    /// and no point trying further targets.
    ServerFailed(TargetResult),
}

/// Measures `target` (an SNI).
pub(crate) async fn measure(
    setup: TargetSetup<'_>,
    target: &str,
    cancel: &CancellationToken,
) -> Measured {
    let mut config = ThrottlingConfig::new(
        setup.server.addr,
        setup.server.pin,
        vec![target.to_string()],
    );
    config.control_sni = setup.control_sni.to_string();
    config.software = setup.software.clone();
    config.network = setup.network.clone();
    config.run_budget = config.run_budget.min(setup.bytes_left);
    config.target_budget = config.target_budget.min(setup.bytes_left);
    match run_throttling(&config, cancel, &|_| {}).await {
        Ok(mut report) => match report.results.pop() {
            Some(result) => {
                let (verdict, blocking) = throttling_verdict(&result.verdict, &result.evidence);
                let measurement = result.measurement;
                let measurement_json = serde_json::to_string(&measurement).unwrap_or_else(|e| {
                    tracing::error!("cannot encode a measurement: {e}");
                    String::new()
                });
                let target = TargetResult {
                    suite: Suite::Throttling,
                    target: target.to_string(),
                    verdict,
                    blocking,
                    verdict_detail: experiment::verdict_kind(&result.verdict).to_string(),
                    failed_operation: None,
                    failure: result.evidence.blocked.clone(),
                    status_code: None,
                    bytes_received: result.evidence.bytes_used,
                    runtime: std::time::Duration::from_secs_f64(measurement.test_runtime.max(0.0)),
                    explanation: experiment::explain(&result.verdict),
                    measurement_id: measurement.id.clone().unwrap_or_default(),
                    measurement_json,
                };
                Measured::Result(target, Box::new(measurement))
            }
            None => Measured::Skipped,
        },
        Err(error) => {
            let explanation = match &error {
                ThrottlingError::PinMismatch { .. } => "Kuzet could not test for throttling: its throughput server presented another key than the one configured (a wrong pin, or someone intercepting the connection).".to_string(),
                ThrottlingError::ServerUnreachable { .. } => "Kuzet could not test for throttling: its throughput server could not be reached from this network, so nothing can be compared.".to_string(),
                ThrottlingError::InvalidConfig(reason) => format!("Kuzet could not test for throttling: {reason}."),
            };
            tracing::warn!("throttling: {error}");
            Measured::ServerFailed(TargetResult {
                suite: Suite::Throttling,
                target: target.to_string(),
                verdict: Verdict::Undetermined,
                blocking: None,
                verdict_detail: "inconclusive".to_string(),
                failed_operation: None,
                failure: Some(error.to_string()),
                status_code: None,
                bytes_received: 0,
                runtime: std::time::Duration::ZERO,
                explanation,
                measurement_id: String::new(),
                measurement_json: String::new(),
            })
        }
    }
}

/// The engine's verdict of a throttling verdict: held to a lower rate or cut off is
/// interference ([`BlockingMethod::Throttling`]); a target whose handshakes failed while the
/// control's worked is blocked by its name ([`BlockingMethod::Tls`]), and one that presented
/// another key intercepted; "possibly throttled" is an anomaly; inconclusive is undetermined.
pub fn throttling_verdict(
    verdict: &ThrottlingVerdict,
    evidence: &experiment::Evidence,
) -> (Verdict, Option<BlockingMethod>) {
    if evidence.intercepted {
        return (Verdict::Blocked, Some(BlockingMethod::Interception));
    }
    if evidence.blocked.is_some() {
        return (Verdict::Blocked, Some(BlockingMethod::Tls));
    }
    match verdict {
        ThrottlingVerdict::NotThrottled { .. } => (Verdict::Accessible, None),
        ThrottlingVerdict::Throttled { .. } | ThrottlingVerdict::Stalled { .. } => {
            (Verdict::Blocked, Some(BlockingMethod::Throttling))
        }
        ThrottlingVerdict::Suspected { .. } => (Verdict::Anomaly, None),
        ThrottlingVerdict::Inconclusive { .. } => (Verdict::Undetermined, None),
    }
}
