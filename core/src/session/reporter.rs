//! Recording and reporting a run's results: each result is durable in the store before the
//! listener hears of it, with the same words it is shown with ([`super::history`]).

use std::sync::Arc;
use std::time::SystemTime;

use super::guard::Checked;
use super::history::stored_verdict;
use super::result::{RunStatus, TargetResult};
use super::suites::Finished;
use super::tracker::Tracker;
use super::{blocking, NotMeasured};
use crate::report::{scrub_measurement, Measurement};
use crate::store::{NewRun, RunId, Store};

/// Where a run's results go: the store (when the run records) and the listener.
pub(crate) struct Reporter {
    store: Option<Arc<Store>>,
    run: Option<RunId>,
    tracker: Arc<Tracker>,
    /// OONI's `network_type` annotation for every measurement of the run.
    network_type: &'static str,
}

impl Reporter {
    /// Starts the run in `store` (when given); a store that refuses is logged, and results
    /// then go unrecorded rather than unreported.
    pub(crate) async fn start(
        store: Option<Arc<Store>>,
        new_run: NewRun,
        tracker: Arc<Tracker>,
        network_type: &'static str,
    ) -> Reporter {
        let run = match &store {
            Some(store) => {
                let store = store.clone();
                match blocking(move || Ok(store.begin_run(&new_run)?)).await {
                    Ok(run) => Some(run),
                    Err(error) => {
                        tracing::error!(
                            "cannot start the run in the store; results go unrecorded: {error}"
                        );
                        None
                    }
                }
            }
            None => None,
        };
        Reporter {
            store,
            run,
            tracker,
            network_type,
        }
    }

    /// The run's id in the store, when it records.
    pub(crate) fn run(&self) -> Option<RunId> {
        self.run
    }

    /// Records `finished` and reports it.
    pub(crate) async fn deliver(&self, finished: Finished) {
        if let Some(problem) = &finished.problem {
            self.tracker.problem(problem.clone());
        }
        let Finished {
            target,
            verdict,
            explanation,
            failed_operation,
            failure,
            status_code,
            bytes_received,
            runtime,
            ended_ms,
            mut measurement,
            ..
        } = finished;
        measurement
            .annotations
            .insert("network_type".to_string(), self.network_type.into());
        // Scrubbed here as the store scrubs it, so the listener sees what is kept.
        let mut measurement = match scrub_measurement(&measurement, None) {
            Ok(scrubbed) => scrubbed,
            Err(error) => {
                tracing::error!("cannot scrub a measurement: {error}");
                return;
            }
        };
        let id = measurement
            .id
            .get_or_insert_with(|| crate::random::uuid_v4().to_string())
            .clone();
        let result = TargetResult {
            target,
            word: verdict.word().to_string(),
            group: verdict.group(),
            verdict,
            explanation,
            failed_operation,
            failure,
            status_code,
            bytes_received,
            runtime,
            measured_at: time_of(ended_ms),
            measurement_id: id,
        };
        self.record(&result, &measurement).await;
        self.tracker.record(result, &measurement);
    }

    /// Reports a result that is already recorded (the connectivity check, recorded with its
    /// timeline transition).
    pub(crate) fn deliver_recorded(&self, result: TargetResult, measurement: &Measurement) {
        self.tracker.record(result, measurement);
    }

    /// Counts a network check's bytes and tells the listener.
    pub(crate) fn checked(&self, checked: Option<Checked>) {
        if let Some(checked) = checked {
            self.tracker.add_bytes(checked.outcome.bytes.total);
            self.tracker
                .notify("on_network_check", |l| l.on_network_check(&checked.outcome));
        }
    }

    async fn record(&self, result: &TargetResult, measurement: &Measurement) {
        let (Some(store), Some(run)) = (self.store.clone(), self.run) else {
            return;
        };
        let verdict = stored_verdict(result);
        let measurement = measurement.clone();
        let recorded = blocking(move || Ok(store.record(run, &measurement, &verdict, None)?)).await;
        if let Err(error) = recorded {
            tracing::error!("cannot store a measurement: {error}");
        }
    }

    /// Marks the run finished in the store, with how it ended and what it did not measure.
    pub(crate) async fn finish(&self, status: RunStatus, not_measured: Vec<NotMeasured>) {
        let (Some(store), Some(run)) = (self.store.clone(), self.run) else {
            return;
        };
        let finished = blocking(move || {
            let not_measured = serde_json::to_value(&not_measured)?;
            Ok(store.finish_run(run, status.word(), &not_measured)?)
        })
        .await;
        if let Err(error) = finished {
            tracing::error!("cannot mark the run finished in the store: {error}");
        }
    }
}

/// A time in ms since the epoch as a `SystemTime`.
pub(crate) fn time_of(ms: i64) -> SystemTime {
    let magnitude = std::time::Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        SystemTime::UNIX_EPOCH
            .checked_add(magnitude)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    } else {
        SystemTime::UNIX_EPOCH
            .checked_sub(magnitude)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}
