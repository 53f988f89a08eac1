//! The network under every verdict. A shutdown is evidence of a shutdown, not of blocking: a
//! target that failed while this device had no way out says nothing about the target.
//!
//! A run with web, messaging or throttling targets starts with a connectivity check (or reuses
//! one that ended at most [`CHECK_REUSE_WINDOW`] ago, from the store). Every later result that
//! claims something (anything but a clean success,
//! [`crate::session::Verdict::needs_network`]) is labelled by the checks around it, as the
//! timeline records them:
//!
//! - the last check that ended before the target started (`before`), and
//! - the first check that started after the target ended (`after`).
//!
//! If either saw no way out ([`ConnectivityStatus::has_no_path`]: the device offline, its link
//! down, a data blackout), or an international cut while the target was not inside the
//! country (its addresses outside [`ConnectivityConfig::domestic_networks`]), the result is
//! `unreachable`, with the connectivity status that explains it, live, stored and uploaded.
//! Otherwise its verdict stands. A claim is held (not yet recorded or reported) until a check
//! after it has run: one starts once a claim waits and the last check started at least
//! [`CONFIRM_GAP`] ago, and at the end of the run (also when it is cancelled, bounded by
//! [`CANCEL_CHECK_LIMIT`]). Results that need no network are released at once.
//!
//! Each labelled measurement carries `x_network`: the statuses before and after, when they
//! were observed, whether the target counted as domestic, and the verdict it would have had
//! when it was relabelled. OONI's classic keys are left as OONI's rules give them.
//!
//! The guard's checks are recorded like any check: a changed status becomes a timeline
//! transition (with its measurement queued when the user allows the connectivity suite), and
//! every check's time and status are kept for the next run to reuse.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::history::stored_verdict;
use super::suites::Finished;
use crate::experiment::connectivity::{
    check_connectivity, unreachable_sentence, ConnectivityConfig, ConnectivityError,
    ConnectivityMonitor, ConnectivityOutcome, ConnectivityStatus, PlatformState, RecordPolicy,
    Recording,
};
use crate::experiment::policy::{CANCEL_CHECK_LIMIT, CHECK_REUSE_WINDOW, CONFIRM_GAP};
use crate::report::{format_ooni_time, Measurement};
use crate::store::{CheckRecord, RunId, Store};

/// One check as the guard uses it: when it ran and what it saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// When the check started (ms since the epoch).
    pub started_ms: i64,
    /// When it ended.
    pub ended_ms: i64,
    /// What it saw.
    pub status: ConnectivityStatus,
}

impl Observation {
    /// A stored check, when its status is a connectivity status.
    pub fn of_check(check: &CheckRecord) -> Option<Observation> {
        Some(Observation {
            started_ms: check.started_at_ms,
            ended_ms: check.ended_at_ms,
            status: ConnectivityStatus::parse(&check.status)?,
        })
    }
}

/// The connectivity status that makes a claim unreachable, if any: a `before` or `after`
/// check with no way out, or an international cut for a target not inside the country.
pub fn network_cause(
    before: Option<ConnectivityStatus>,
    after: Option<ConnectivityStatus>,
    domestic: bool,
) -> Option<ConnectivityStatus> {
    [before, after].into_iter().flatten().find(|status| {
        status.has_no_path() || (*status == ConnectivityStatus::InternationalCut && !domestic)
    })
}

/// The addresses a measurement reached for or was given: every `tcp_connect[].ip` and every
/// DNS answer. Used only in memory, to tell domestic targets from international ones.
pub fn addresses_of(measurement: &Measurement) -> Vec<IpAddr> {
    let keys = &measurement.test_keys;
    let list = |key: &str| {
        keys.get(key)
            .and_then(serde_json::Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut addresses: Vec<IpAddr> = list("tcp_connect")
        .iter()
        .filter_map(|c| c.get("ip")?.as_str()?.parse().ok())
        .collect();
    for query in list("queries") {
        for answer in query
            .get("answers")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            for key in ["ipv4", "ipv6"] {
                if let Some(ip) = answer.get(key).and_then(|v| v.as_str()?.parse().ok()) {
                    addresses.push(ip);
                }
            }
        }
    }
    addresses
}

/// What one of the guard's checks gave.
pub(crate) struct Checked {
    /// The check itself.
    pub(crate) outcome: ConnectivityOutcome,
    /// How it was recorded, when the run records.
    pub(crate) recording: Option<Recording>,
}

/// The run's connectivity checks and the claims waiting for one.
pub struct NetworkGuard {
    config: ConnectivityConfig,
    platform: PlatformState,
    store: Option<Arc<Store>>,
    record_checks: bool,
    observations: Vec<Observation>,
    pending: Vec<Finished>,
    last_started: Option<Instant>,
}

impl NetworkGuard {
    /// A guard checking with `config` (its trust, software and network already set) in
    /// `platform`, recording in `store` when given (checks queued for upload only when
    /// `record_checks`).
    pub(crate) fn new(
        config: ConnectivityConfig,
        platform: PlatformState,
        store: Option<Arc<Store>>,
        record_checks: bool,
    ) -> NetworkGuard {
        NetworkGuard {
            config,
            platform,
            store,
            record_checks,
            observations: Vec::new(),
            pending: Vec::new(),
            last_started: None,
        }
    }

    /// The status the first check (or the reused one) saw.
    pub(crate) fn first_status(&self) -> Option<ConnectivityStatus> {
        self.observations.first().map(|o| o.status)
    }

    /// Reuses the store's last check when it ended at most [`CHECK_REUSE_WINDOW`] ago; `false` when
    /// there is none (or no store).
    pub(crate) async fn reuse_recent(&mut self) -> bool {
        let Some(store) = self.store.clone() else {
            return false;
        };
        let last = super::blocking(move || Ok((store.last_check()?, store.now_ms()))).await;
        let window = i64::try_from(CHECK_REUSE_WINDOW.as_millis()).unwrap_or(i64::MAX);
        match last {
            Ok((Some(check), now)) if now.saturating_sub(check.ended_at_ms) <= window => {
                match Observation::of_check(&check) {
                    Some(observation) => {
                        self.observations.push(observation);
                        true
                    }
                    None => false,
                }
            }
            Ok(_) => false,
            Err(error) => {
                tracing::warn!("cannot read the last connectivity check: {error}");
                false
            }
        }
    }

    /// Runs one check and records it: in `run` as a result of its own (`as_result`, the
    /// connectivity suite), else as monitoring does (a transition when the status changed).
    /// `None` when cancelled.
    pub(crate) async fn check(
        &mut self,
        run: Option<RunId>,
        as_result: bool,
        cancel: &CancellationToken,
    ) -> Option<Checked> {
        self.last_started = Some(Instant::now());
        let outcome = match check_connectivity(&self.config, &self.platform, cancel).await {
            Ok(outcome) => outcome,
            Err(ConnectivityError::Cancelled) => return None,
            Err(ConnectivityError::Config(error)) => {
                // Checked when the run was planned: not expected.
                tracing::error!("the connectivity check could not run: {error}");
                return None;
            }
        };
        let observation = Observation {
            started_ms: outcome.observed_at_ms,
            ended_ms: outcome
                .observed_at_ms
                .saturating_add(i64::try_from(outcome.runtime.as_millis()).unwrap_or(i64::MAX)),
            status: outcome.status,
        };
        self.observations.push(observation);
        let recording = self.record(&outcome, observation, run, as_result).await;
        Some(Checked { outcome, recording })
    }

    async fn record(
        &self,
        outcome: &ConnectivityOutcome,
        observation: Observation,
        run: Option<RunId>,
        as_result: bool,
    ) -> Option<Recording> {
        let store = self.store.clone()?;
        let (policy, run) = if as_result {
            (RecordPolicy::Always, run)
        } else {
            (RecordPolicy::Transitions, None)
        };
        let record_checks = self.record_checks || as_result;
        let verdict = as_result.then(|| {
            let id = outcome.measurement.id.clone().unwrap_or_default();
            stored_verdict(&super::connectivity_result(outcome, id))
        });
        let outcome = outcome.clone();
        let recorded = super::blocking(move || {
            store.record_check(&CheckRecord {
                started_at_ms: observation.started_ms,
                ended_at_ms: observation.ended_ms,
                status: observation.status.as_str().to_string(),
            })?;
            if !record_checks {
                return Ok(None);
            }
            let run = run.zip(verdict.as_ref());
            Ok(Some(
                ConnectivityMonitor::new(&store).record(&outcome, policy, run)?,
            ))
        })
        .await;
        recorded.unwrap_or_else(|error| {
            tracing::error!("cannot record the connectivity check: {error}");
            None
        })
    }

    /// Labels `finished` now when it can be (it needs no network, or the network had no way
    /// out before it started), else holds it for the next check and returns `None`.
    pub(crate) fn admit(&mut self, mut finished: Finished) -> Option<Finished> {
        if self.observations.is_empty() {
            return Some(finished);
        }
        let before = self.before(finished.started_ms, finished.ended_ms);
        let domestic = self.is_domestic(&finished.measurement);
        if !finished.verdict.needs_network()
            || network_cause(before.map(|o| o.status), None, domestic).is_some()
        {
            self.label(&mut finished, before, None, domestic);
            return Some(finished);
        }
        self.pending.push(finished);
        None
    }

    /// When the next confirming check should start, while claims wait.
    pub(crate) fn confirmation_due(&self) -> Option<tokio::time::Instant> {
        if self.pending.is_empty() {
            return None;
        }
        let since = self.last_started.map_or(CONFIRM_GAP, |at| at.elapsed());
        Some(tokio::time::Instant::now() + CONFIRM_GAP.saturating_sub(since))
    }

    /// Whether claims are waiting for a check.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Runs a confirming check and releases, labelled, every claim it confirms (those that
    /// ended before it started). Returns the check (for the listener) and the released
    /// results; a cancelled check releases nothing.
    pub(crate) async fn confirm(
        &mut self,
        cancel: &CancellationToken,
    ) -> (Option<Checked>, Vec<Finished>) {
        let checked = self.check(None, false, cancel).await;
        if checked.is_none() {
            return (None, Vec::new());
        }
        (checked, self.release_confirmed())
    }

    /// The final confirmation when the run is cancelled: one check without re-checks, at most
    /// [`CANCEL_CHECK_LIMIT`]. Claims it does not confirm are released with what is known
    /// before them, and their `x_network.after` is null.
    pub(crate) async fn confirm_cancelled(&mut self) -> (Option<Checked>, Vec<Finished>) {
        let checked = if self.pending.is_empty() {
            None
        } else {
            let full = std::mem::replace(&mut self.config.rechecks.count, 0);
            let token = CancellationToken::new();
            let limited =
                tokio::time::timeout(CANCEL_CHECK_LIMIT, self.check(None, false, &token)).await;
            self.config.rechecks.count = full;
            limited.ok().flatten()
        };
        let mut released = self.release_confirmed();
        for mut finished in std::mem::take(&mut self.pending) {
            let before = self.before(finished.started_ms, finished.ended_ms);
            let domestic = self.is_domestic(&finished.measurement);
            self.label(&mut finished, before, None, domestic);
            released.push(finished);
        }
        (checked, released)
    }

    fn release_confirmed(&mut self) -> Vec<Finished> {
        let waiting = std::mem::take(&mut self.pending);
        let mut released = Vec::new();
        for mut finished in waiting {
            match self.after(finished.ended_ms) {
                Some(after) => {
                    let before = self.before(finished.started_ms, finished.ended_ms);
                    let domestic = self.is_domestic(&finished.measurement);
                    self.label(&mut finished, before, Some(after), domestic);
                    released.push(finished);
                }
                None => self.pending.push(finished),
            }
        }
        released
    }

    /// The last check that ended before a target that ran from `started_ms` to `ended_ms`
    /// started (else the first check). A check that started after the target ended is the
    /// check after it, never the one before, even when both fit in the same millisecond.
    fn before(&self, started_ms: i64, ended_ms: i64) -> Option<Observation> {
        self.observations
            .iter()
            .rev()
            .find(|o| o.ended_ms <= started_ms && o.started_ms < ended_ms)
            .or_else(|| self.observations.first())
            .copied()
    }

    /// The first check that started after `ended_ms`.
    fn after(&self, ended_ms: i64) -> Option<Observation> {
        self.observations
            .iter()
            .find(|o| o.started_ms >= ended_ms)
            .copied()
    }

    fn is_domestic(&self, measurement: &Measurement) -> bool {
        let addresses = addresses_of(measurement);
        !addresses.is_empty()
            && addresses.iter().all(|ip| {
                self.config
                    .domestic_networks
                    .iter()
                    .any(|net| net.contains(*ip))
            })
    }

    /// Relabels `finished` as unreachable when the checks say so, and writes `x_network`.
    fn label(
        &self,
        finished: &mut Finished,
        before: Option<Observation>,
        after: Option<Observation>,
        domestic: bool,
    ) {
        let mut without_network = None;
        if finished.verdict.needs_network() {
            if let Some(status) =
                network_cause(before.map(|o| o.status), after.map(|o| o.status), domestic)
            {
                if let Some(unreachable) = finished.verdict.unreachable(status) {
                    without_network = Some(finished.verdict.word());
                    finished.verdict = unreachable;
                    finished.explanation = unreachable_sentence(&finished.subject, status);
                    finished.problem = None;
                    finished
                        .verdict
                        .write_test_keys(&mut finished.measurement.test_keys);
                }
            }
        }
        let seen = |o: Option<Observation>| {
            o.map(|o| {
                json!({
                    "status": o.status,
                    "checked_at": format_ooni_time(ms_time(o.ended_ms)),
                })
            })
        };
        if let Some(keys) = finished.measurement.test_keys.as_object_mut() {
            keys.insert(
                "x_network".to_string(),
                json!({
                    "before": seen(before),
                    "after": seen(after),
                    "target_domestic": domestic,
                    "verdict_without_network": without_network,
                }),
            );
        }
    }
}

fn ms_time(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConnectivityStatus::*;

    #[test]
    fn a_claim_is_unreachable_when_either_check_had_no_way_out() {
        assert_eq!(network_cause(Some(Ok), Some(Ok), false), None);
        assert_eq!(
            network_cause(Some(Ok), Some(DataBlackout), false),
            Some(DataBlackout)
        );
        assert_eq!(
            network_cause(Some(LocalLink), Some(Ok), true),
            Some(LocalLink)
        );
        assert_eq!(
            network_cause(Some(LocalDevice), None, true),
            Some(LocalDevice)
        );
        // A whitelist or a blocked service is censorship, not an outage: verdicts stand.
        assert_eq!(
            network_cause(Some(WhitelistMode), Some(ServiceBlock), false),
            None
        );
    }

    #[test]
    fn an_international_cut_spares_domestic_targets_only() {
        assert_eq!(
            network_cause(Some(InternationalCut), Some(InternationalCut), false),
            Some(InternationalCut)
        );
        assert_eq!(
            network_cause(Some(InternationalCut), Some(InternationalCut), true),
            None
        );
    }

    #[test]
    fn a_check_after_a_target_is_never_the_one_before_it() {
        let mut guard = NetworkGuard::new(
            ConnectivityConfig::kazakhstan(),
            PlatformState::default(),
            None,
            false,
        );
        let seen = |started_ms, ended_ms, status| Observation {
            started_ms,
            ended_ms,
            status,
        };
        guard.observations = vec![seen(0, 10, Ok), seen(20, 20, DataBlackout)];
        // A target that failed at once, at 20 ms, and the check after it, within the same
        // millisecond.
        assert_eq!(guard.before(20, 20), Some(seen(0, 10, Ok)));
        assert_eq!(guard.after(20), Some(seen(20, 20, DataBlackout)));
        // A target that started after that check ended has it before.
        assert_eq!(guard.before(20, 25), Some(seen(20, 20, DataBlackout)));
        assert_eq!(guard.before(30, 40), Some(seen(20, 20, DataBlackout)));
        assert_eq!(guard.after(40), None);
    }

    #[test]
    fn addresses_come_from_connects_and_answers() {
        let mut measurement = Measurement::new(
            "web_connectivity",
            "0.4.3",
            None,
            &crate::report::Software::default(),
            &crate::report::ProbeNetwork::default(),
            time::OffsetDateTime::UNIX_EPOCH,
            time::OffsetDateTime::UNIX_EPOCH,
        );
        measurement.test_keys = json!({
            "tcp_connect": [{"ip": "10.1.2.3", "port": 443}],
            "queries": [{"answers": [{"ipv4": "10.9.9.9"}, {"ipv6": "fd00::1"}, {"hostname": "x"}]}],
        });
        let addresses: Vec<String> = addresses_of(&measurement)
            .into_iter()
            .map(|ip| ip.to_string())
            .collect();
        assert_eq!(addresses, ["10.1.2.3", "10.9.9.9", "fd00::1"]);
    }
}
