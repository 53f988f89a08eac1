//! The status timeline: compares each check with the last recorded status and, on a change,
//! appends a transition to the store's timeline and enqueues a `kuzet_connectivity`
//! measurement describing it, so that an outage observed offline is uploaded once the network
//! is back.
//!
//! **What is enqueued.** With [`RecordPolicy::Transitions`] (the background monitor and
//! `kuzet watch`): one measurement per transition, the first check ever included (a transition
//! from nothing). With [`RecordPolicy::Always`] (`kuzet run connectivity`, a check the user
//! asked for): every check's measurement, and a transition when the status changed. Each
//! measurement's `measurement_start_time` is when the check started (when the status was
//! observed), never the upload time; its test keys carry `x_status`, `x_previous_status`,
//! `x_transition`, the anchors' outcomes, `x_rechecks` and `x_bytes`.
//!
//! The timeline's evidence carries names, groups, operators, outcomes and failures: no address
//! of any kind.
//!
//! Store calls block: async callers run [`ConnectivityMonitor::record`] in
//! `tokio::task::spawn_blocking`.

use serde_json::json;

use super::ConnectivityOutcome;
use crate::experiment::connectivity::ConnectivityStatus;
use crate::report::Measurement;
use crate::store::{NewTransition, RunId, Store, StoreResult, Transition, Verdict};

/// When a check's measurement is stored and queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordPolicy {
    /// Only when the status changed (monitoring).
    #[default]
    Transitions,
    /// Every check (checks the user asked for).
    Always,
}

/// A transition that was appended to the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedTransition {
    /// Its timeline id.
    pub id: i64,
    /// When it was observed (ms since the epoch).
    pub at_ms: i64,
    /// The status before (`None` for the first check ever recorded).
    pub from: Option<ConnectivityStatus>,
    /// The new status.
    pub to: ConnectivityStatus,
}

/// What [`ConnectivityMonitor::record`] did.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The last recorded status before this check.
    pub previous: Option<ConnectivityStatus>,
    /// The transition appended, if the status changed.
    pub transition: Option<RecordedTransition>,
    /// The measurement stored and queued, if any (with the previous status filled in).
    pub measurement: Option<Measurement>,
}

/// Records checks in a store's timeline and upload queue.
#[derive(Debug, Clone, Copy)]
pub struct ConnectivityMonitor<'a> {
    store: &'a Store,
}

impl<'a> ConnectivityMonitor<'a> {
    /// A monitor over `store`.
    pub fn new(store: &'a Store) -> ConnectivityMonitor<'a> {
        ConnectivityMonitor { store }
    }

    /// The last connectivity status in the timeline, with when it was observed. Timeline
    /// entries that are not connectivity statuses count as no status.
    pub fn last_status(&self) -> StoreResult<Option<(ConnectivityStatus, i64)>> {
        Ok(self
            .store
            .last_transition()?
            .and_then(|t| ConnectivityStatus::parse(&t.status).map(|s| (s, t.at_ms))))
    }

    /// The connectivity transitions at or after `since_ms`, oldest first, at most `limit`.
    pub fn transitions(&self, since_ms: Option<i64>, limit: usize) -> StoreResult<Vec<Transition>> {
        Ok(self
            .store
            .transitions(since_ms, limit)?
            .into_iter()
            .filter(|t| ConnectivityStatus::parse(&t.status).is_some())
            .collect())
    }

    /// Compares `outcome` with the last recorded status; on a change appends a transition
    /// (stamped with when the check observed it) and, as `policy` says, stores and queues the
    /// measurement: as a result of `run` with its verdict (so the history shows it), or on its
    /// own.
    pub fn record(
        &self,
        outcome: &ConnectivityOutcome,
        policy: RecordPolicy,
        run: Option<(RunId, &Verdict)>,
    ) -> StoreResult<Recording> {
        let previous = self.last_status()?.map(|(status, _)| status);
        let changed = previous != Some(outcome.status);
        let mut recording = Recording {
            previous,
            transition: None,
            measurement: None,
        };
        if !changed && policy == RecordPolicy::Transitions {
            return Ok(recording);
        }
        let mut measurement = outcome.measurement.clone();
        if let Some(keys) = measurement.test_keys.as_object_mut() {
            keys.insert("x_previous_status".to_string(), json!(previous));
            keys.insert(
                "x_transition".to_string(),
                if changed {
                    json!({
                        "from": previous,
                        "to": outcome.status,
                        "at": measurement.measurement_start_time,
                    })
                } else {
                    serde_json::Value::Null
                },
            );
        }
        let recorded = match run {
            Some((run, verdict)) => self.store.record(run, &measurement, verdict, None)?,
            None => self.store.enqueue(&measurement, None)?,
        };
        measurement.id = Some(recorded.measurement_id.clone());
        if changed {
            let id = self.store.append_transition(&NewTransition {
                at_ms: Some(outcome.observed_at_ms),
                status: outcome.status.as_str().to_string(),
                network_type: outcome.network_type(),
                probe_asn: known(&outcome.measurement.probe_asn, "AS0"),
                probe_cc: known(&outcome.measurement.probe_cc, "ZZ"),
                evidence: timeline_evidence(outcome, previous, &recorded.measurement_id),
            })?;
            recording.transition = Some(RecordedTransition {
                id,
                at_ms: outcome.observed_at_ms,
                from: previous,
                to: outcome.status,
            });
        }
        recording.measurement = Some(measurement);
        Ok(recording)
    }
}

fn known(value: &str, unknown: &str) -> Option<String> {
    (value != unknown).then(|| value.to_string())
}

/// The timeline's evidence: the decision's facts and each anchor's outcome, without addresses.
fn timeline_evidence(
    outcome: &ConnectivityOutcome,
    previous: Option<ConnectivityStatus>,
    measurement_id: &str,
) -> serde_json::Value {
    let anchors: Vec<serde_json::Value> = outcome
        .last_round
        .iter()
        .flat_map(|round| round.anchors.iter())
        .map(|a| {
            let result = a.result();
            json!({
                "name": a.name,
                "group": a.group,
                "operator": a.operator,
                "by_name": result.by_name,
                "by_ip": result.by_ip,
                "failure": result.failure,
            })
        })
        .collect();
    json!({
        "from": previous,
        "to": outcome.status,
        "explanation": outcome.explanation,
        "evidence": outcome.evidence,
        "rechecks": outcome.rechecks(),
        "bytes": outcome.bytes.total,
        "measurement_id": measurement_id,
        "anchors": anchors,
    })
}
