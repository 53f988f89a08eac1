//! A run's counters and budgets, and the one door to its listener: every call to the listener
//! goes through here, one at a time, with panics contained.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use super::listener::RunListener;
use super::result::{NotMeasured, RunProgress, RunStatus, RunSummary, TargetResult};
use crate::experiment::connectivity::ConnectivityStatus;
use crate::report::Measurement;

/// Counts a run's progress, enforces its byte and time budgets and forwards events to the
/// listener.
pub(crate) struct Tracker {
    listener: Arc<dyn RunListener>,
    started: Instant,
    byte_budget: u64,
    deadline: Option<Instant>,
    /// Held while the listener is called: one call at a time, in order.
    calls: Mutex<()>,
    state: Mutex<TrackerState>,
}

#[derive(Default)]
struct TrackerState {
    total: u32,
    results: Vec<TargetResult>,
    bytes_used: u64,
    not_measured: Vec<NotMeasured>,
    problems: Vec<String>,
    network: Option<ConnectivityStatus>,
}

impl Tracker {
    pub(crate) fn new(
        listener: Arc<dyn RunListener>,
        byte_budget: u64,
        time_budget: Option<Duration>,
        total: u32,
    ) -> Self {
        let started = Instant::now();
        Tracker {
            listener,
            started,
            byte_budget,
            deadline: time_budget.map(|budget| started + budget),
            calls: Mutex::new(()),
            state: Mutex::new(TrackerState {
                total,
                ..TrackerState::default()
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, TrackerState> {
        // Plain counters and lists: a panic elsewhere cannot leave them inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether there are bytes left to start another target.
    pub(crate) fn has_budget(&self) -> bool {
        self.bytes_left() > 0
    }

    /// The bytes left in the budget.
    pub(crate) fn bytes_left(&self) -> u64 {
        self.byte_budget.saturating_sub(self.state().bytes_used)
    }

    /// Whether the time budget has run out.
    pub(crate) fn out_of_time(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// Why no further target may start, if none may: out of time, or out of bytes.
    pub(crate) fn exhausted(&self) -> Option<RunStatus> {
        if self.out_of_time() {
            Some(RunStatus::OutOfTime)
        } else if !self.has_budget() {
            Some(RunStatus::BudgetExhausted)
        } else {
            None
        }
    }

    /// Counts bytes spent outside a target (the run's connectivity checks).
    pub(crate) fn add_bytes(&self, bytes: u64) {
        let mut state = self.state();
        state.bytes_used = state.bytes_used.saturating_add(bytes);
    }

    /// Notes the connectivity status the run started under.
    pub(crate) fn set_network(&self, status: ConnectivityStatus) {
        self.state().network.get_or_insert(status);
    }

    /// Notes targets the run will not measure.
    pub(crate) fn not_measured(&self, targets: impl IntoIterator<Item = NotMeasured>) {
        self.state().not_measured.extend(targets);
    }

    /// Notes a problem that stopped a suite early.
    pub(crate) fn problem(&self, problem: String) {
        self.state().problems.push(problem);
    }

    /// Calls the listener, one call at a time, containing any panic in it.
    pub(crate) fn notify(&self, what: &str, call: impl FnOnce(&dyn RunListener)) {
        let _turn = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let listener = &*self.listener;
        if catch_unwind(AssertUnwindSafe(|| call(listener))).is_err() {
            tracing::warn!("run listener panicked in {what}; ignoring it");
        }
    }

    /// Counts one target's result and reports it, with the new counters.
    pub(crate) fn record(&self, result: TargetResult, measurement: &Measurement) {
        let progress = {
            let mut state = self.state();
            state.bytes_used = state.bytes_used.saturating_add(result.bytes_received);
            state.results.push(result.clone());
            let completed = u32::try_from(state.results.len()).unwrap_or(u32::MAX);
            // Checks and reruns can make more results than planned.
            state.total = state.total.max(completed);
            let remaining = state.total - completed;
            let estimated_time_left = (completed > 0).then(|| {
                self.started
                    .elapsed()
                    .mul_f64(f64::from(remaining) / f64::from(completed))
            });
            RunProgress {
                completed,
                total: state.total,
                bytes_used: state.bytes_used,
                byte_budget: self.byte_budget,
                estimated_time_left,
            }
        };
        self.notify("on_target_result", |l| {
            l.on_target_result(&result, measurement)
        });
        self.notify("on_progress", |l| l.on_progress(&progress));
    }

    /// The summary so far; `results` are moved out.
    pub(crate) fn finish(
        &self,
        run_id: String,
        status: RunStatus,
        started_at: SystemTime,
    ) -> RunSummary {
        let mut state = self.state();
        RunSummary {
            run_id,
            status,
            results: std::mem::take(&mut state.results),
            not_measured: std::mem::take(&mut state.not_measured),
            network: state.network,
            problems: std::mem::take(&mut state.problems),
            bytes_used: state.bytes_used,
            started_at,
            duration: self.started.elapsed(),
        }
    }
}
