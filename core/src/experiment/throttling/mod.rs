//! `kuzet_throttling`: is a name (or a destination) throttled on this network?
//!
//! Two methods, one decision ([`crate::experiment::throttling::decide`]):
//!
//! - **SNI swap** ([`run_throttling`]): trials against Kuzet's own throughput server, which
//!   accepts any SNI and is pinned by its key. Target and control SNIs alternate in ABBA order
//!   (T C C T T C C T), each on a fresh connection, each capped in bytes and time; four pairs,
//!   eight when the first round is ambiguous. Same address, same path, back to back: only the
//!   name differs, so a persistent gap is throttling keyed on the name.
//! - **Passive** ([`passive`]): the real site's URL and a baseline URL on comparable
//!   infrastructure, fetched alternately with real certificate validation; this sees throttling
//!   keyed on the destination address, which the SNI swap cannot.
//!
//! Verdicts: `not_throttled`, `throttled` (rate, fixed-rate policer or not), `stalled`,
//! `suspected`, `inconclusive`. A target whose handshake fails (reset, timeout) while the
//! control's succeeds is **blocked, not throttled**: its verdict is `inconclusive` with a reason
//! starting with "blocked", and `x_throttling.blocked` holds the failure. Data use is bounded by
//! a budget per target and per run; what was used is reported.
//!
//! The default control SNI is a fresh random label under `kuzet-control.invalid`: a name no
//! censor lists (`.invalid` can never be registered), new at every run so it cannot be
//! whitelisted or cached.

pub mod decision;
pub mod explain;
pub mod measurement;
pub mod passive;
pub mod pin;
pub mod rate;
pub(crate) mod resolve;
pub mod schedule;
pub mod trial;

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::experiment::policy;
use crate::report::{Measurement, ProbeNetwork, Software};

pub use decision::{decide, Decision, DecisionRules, ThrottlingVerdict};
pub use explain::explain;
pub use measurement::verdict_from_x_throttling;
pub use passive::{PassiveOptions, PassiveTarget};
pub use pin::{PinParseError, PinnedVerifier, SpkiPin};
pub use rate::{analyse_trial, analyse_trial_with_gap, TrialMetrics, TrialSample, TrialTransfer};
pub use trial::{Arm, TrialRecord};

/// The experiment's `test_name`.
pub const TEST_NAME: &str = "kuzet_throttling";
/// The experiment's `test_version`.
pub const TEST_VERSION: &str = "0.1.0";
/// The names tested when a run names none: sites Kazakhstan throttled by their SNI (the
/// RFE/RL Kazakh service from September 2022 on most networks, Current Time around the
/// November 2022 election; OONI, 2023) and the name Russia throttled in 2021 (Twitter; Xue et
/// al., IMC 2021). Only the names travel: every byte comes from Kuzet's throughput server.
pub const DEFAULT_TARGETS: [&str; 4] = [
    "www.azattyq.org",
    "rus.azattyq.org",
    "www.currenttime.tv",
    "twitter.com",
];

/// The parent of the default control names.
pub const CONTROL_PARENT: &str = "kuzet-control.invalid";

/// A fresh control SNI: `<12 random hex digits>.kuzet-control.invalid`.
pub fn random_control_sni() -> String {
    let label = crate::random::random_u64();
    format!("c{:012x}.{CONTROL_PARENT}", label & 0xffff_ffff_ffff)
}

/// How to run the throttling test.
#[derive(Debug, Clone)]
pub struct ThrottlingConfig {
    /// The throughput server (resolved before anything is timed).
    pub server: SocketAddr,
    /// Its pinned key.
    pub pin: SpkiPin,
    /// The SNIs under test.
    pub targets: Vec<String>,
    /// The control SNI.
    pub control_sni: String,
    /// Body bytes per trial.
    pub trial_bytes: u64,
    /// The cap on one trial's transfer (from the request).
    pub trial_timeout: Duration,
    /// No progress for this long after a first kilobyte ends a trial as a stall.
    pub stall_gap: Duration,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// TLS handshake timeout.
    pub handshake_timeout: Duration,
    /// The most bytes received per target, escalation included (hard cap).
    pub target_budget: u64,
    /// The most bytes received in the whole run (hard cap).
    pub run_budget: u64,
    /// The decision's thresholds.
    pub rules: DecisionRules,
    /// Destinations measured with the passive method, after the SNI targets.
    pub passive: Vec<PassiveTarget>,
    /// How passive targets are fetched.
    pub passive_options: PassiveOptions,
    /// Who makes the measurement.
    pub software: Software,
    /// The probe's network, as far as known.
    pub network: ProbeNetwork,
}

impl ThrottlingConfig {
    /// A configuration with the defaults, for `server` pinned by `pin`.
    pub fn new(server: SocketAddr, pin: SpkiPin, targets: Vec<String>) -> Self {
        ThrottlingConfig {
            server,
            pin,
            targets,
            control_sni: random_control_sni(),
            trial_bytes: policy::TRIAL_BYTES,
            trial_timeout: policy::TRIAL_TIMEOUT,
            stall_gap: policy::STALL_GAP,
            connect_timeout: policy::TRIAL_STEP_TIMEOUT,
            handshake_timeout: policy::TRIAL_STEP_TIMEOUT,
            target_budget: policy::THROTTLING_TARGET_BUDGET,
            run_budget: policy::THROTTLING_RUN_BUDGET,
            rules: DecisionRules::default(),
            passive: Vec::new(),
            passive_options: PassiveOptions::default(),
            software: Software::default(),
            network: ProbeNetwork::default(),
        }
    }
}

/// Which method measured a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Target and control SNIs against Kuzet's throughput server.
    SniSwap,
    /// The real destination against a baseline destination.
    Passive,
}

/// What backs a verdict besides the verdict itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// Pairs measured.
    pub pairs: usize,
    /// True when the first round was ambiguous and more pairs were run.
    pub escalated: bool,
    /// Pairs run again because a trial of a decisive first round had no rate (a fetch that
    /// failed or timed out before any data).
    pub replaced_pairs: usize,
    /// Bytes received for this target.
    pub bytes_used: u64,
    /// The budget it had.
    pub budget_bytes: u64,
    /// True when the budget stopped the schedule early (no escalation, or fewer pairs).
    pub budget_stopped: bool,
    /// True when the run was cancelled while this target was measured.
    pub cancelled: bool,
    /// True when the throughput server could not be used (every control trial failed, or it
    /// presented another key than its pin): the verdict is `inconclusive`, and no further
    /// target is measured against that server.
    pub server_unusable: bool,
}

impl Evidence {
    /// Nothing measured yet, with `budget_bytes` to spend.
    pub fn with_budget(budget_bytes: u64) -> Evidence {
        Evidence {
            pairs: 0,
            escalated: false,
            replaced_pairs: 0,
            bytes_used: 0,
            budget_bytes,
            budget_stopped: false,
            cancelled: false,
            server_unusable: false,
        }
    }
}

/// The result for one target.
#[derive(Debug, Clone)]
pub struct TargetResult {
    /// The SNI (or URL, for the passive method).
    pub input: String,
    /// The method.
    pub method: Method,
    /// The verdict.
    pub verdict: ThrottlingVerdict,
    /// Its evidence.
    pub evidence: Evidence,
    /// The OONI measurement.
    pub measurement: Measurement,
}

/// What happened during a run, for progress displays.
#[derive(Debug, Clone, PartialEq)]
pub enum ThrottlingProgress {
    /// A trial starts: `trial` of `planned` for `target` (planned grows on escalation).
    Trial {
        /// The target.
        target: String,
        /// 1-based.
        trial: usize,
        /// Trials planned so far.
        planned: usize,
    },
    /// A target is done.
    Finished {
        /// The target.
        target: String,
        /// Its verdict.
        verdict: ThrottlingVerdict,
    },
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct ThrottlingReport {
    /// One per target measured, in order.
    pub results: Vec<TargetResult>,
    /// Targets not measured because the run budget was used up.
    pub skipped: Vec<String>,
    /// Bytes received in the whole run.
    pub bytes_used: u64,
    /// True when the run was cancelled.
    pub cancelled: bool,
}

/// Why the test could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThrottlingError {
    /// The configuration cannot be used.
    #[error("invalid throttling configuration: {0}")]
    InvalidConfig(String),
}

/// Runs the test: every SNI target, then every passive target, each within its budget and the
/// run's. Cancelling stops at the next step and returns what was measured so far (the
/// interrupted target, if any, as `inconclusive`).
pub async fn run_throttling(
    config: &ThrottlingConfig,
    cancel: &CancellationToken,
    progress: &(dyn Fn(ThrottlingProgress) + Send + Sync),
) -> Result<ThrottlingReport, ThrottlingError> {
    validate(config)?;
    let test_start = time::OffsetDateTime::now_utc();
    let mut report = ThrottlingReport {
        results: Vec::new(),
        skipped: Vec::new(),
        bytes_used: 0,
        cancelled: false,
    };
    let inputs: Vec<(Method, usize)> = (0..config.targets.len())
        .map(|i| (Method::SniSwap, i))
        .chain((0..config.passive.len()).map(|i| (Method::Passive, i)))
        .collect();
    for (method, index) in inputs {
        let input = match method {
            Method::SniSwap => config.targets[index].clone(),
            Method::Passive => config.passive[index].url.clone(),
        };
        if cancel.is_cancelled() {
            report.cancelled = true;
            break;
        }
        let run_left = config.run_budget.saturating_sub(report.bytes_used);
        let budget = config.target_budget.min(run_left);
        let result = match method {
            Method::SniSwap => {
                schedule::measure_sni_target(config, &input, budget, test_start, cancel, progress)
                    .await
            }
            Method::Passive => {
                passive::measure_passive_target(
                    config,
                    &config.passive[index],
                    budget,
                    test_start,
                    cancel,
                    progress,
                )
                .await
            }
        };
        let Some(result) = result else {
            report.skipped.push(input);
            continue;
        };
        report.bytes_used += result.evidence.bytes_used;
        report.cancelled |= result.evidence.cancelled;
        let server_unusable = result.evidence.server_unusable;
        progress(ThrottlingProgress::Finished {
            target: input,
            verdict: result.verdict.clone(),
        });
        report.results.push(result);
        if server_unusable {
            break;
        }
    }
    Ok(report)
}

fn validate(config: &ThrottlingConfig) -> Result<(), ThrottlingError> {
    if config.targets.is_empty() && config.passive.is_empty() {
        return Err(ThrottlingError::InvalidConfig(
            "no target: give SNIs or passive URLs".to_string(),
        ));
    }
    for name in config.targets.iter().chain([&config.control_sni]) {
        if rustls::pki_types::ServerName::try_from(name.as_str()).is_err() || name.is_empty() {
            return Err(ThrottlingError::InvalidConfig(format!(
                "{name:?} is not a usable TLS server name"
            )));
        }
    }
    if config
        .targets
        .iter()
        .any(|t| t.eq_ignore_ascii_case(&config.control_sni))
    {
        return Err(ThrottlingError::InvalidConfig(
            "the control SNI must differ from every target".to_string(),
        ));
    }
    let least = crate::experiment::throttling::rate::WARMUP_BYTES
        + crate::experiment::throttling::rate::MIN_MEASURED_BYTES;
    if config.trial_bytes < least {
        return Err(ThrottlingError::InvalidConfig(format!(
            "trial bytes must be at least {least} (warm-up plus a measurable rest)"
        )));
    }
    if config.trial_timeout.is_zero() || config.stall_gap.is_zero() {
        return Err(ThrottlingError::InvalidConfig(
            "timeouts must be positive".to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_names_are_fresh_and_valid() {
        let a = random_control_sni();
        let b = random_control_sni();
        assert_ne!(a, b);
        assert!(a.ends_with(".kuzet-control.invalid"), "{a}");
        assert!(rustls::pki_types::ServerName::try_from(a.as_str()).is_ok());
    }

    #[test]
    fn bad_configurations_are_refused() {
        let pin = SpkiPin::of_spki(b"k");
        let server: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut config = ThrottlingConfig::new(server, pin, vec![]);
        assert!(validate(&config).is_err());
        config.targets = vec!["bad name!".to_string()];
        assert!(validate(&config).is_err());
        config.targets = vec![config.control_sni.clone()];
        assert!(validate(&config).is_err());
        config.targets = vec!["www.example.org".to_string()];
        assert!(validate(&config).is_ok());
        config.trial_bytes = 1000;
        assert!(validate(&config).is_err());
    }
}
