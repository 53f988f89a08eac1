//! The listener a front end gives a run: the CLI's printer, the apps' adapter in the bindings.

use super::result::{RunPhase, RunProgress, RunSummary, TargetResult};
use super::suite::Suite;
use crate::experiment::connectivity::ConnectivityOutcome;
use crate::report::Measurement;

/// Receives a run's progress. Called from the library's worker threads, one call at a time per
/// run, in order: `on_phase(Preparing)`, then per suite `on_phase(Measuring)` followed by
/// `on_target_result` and `on_progress` per target (each result is stored before it is
/// reported), `on_phase(Finished)`, and `on_finished` last. Return quickly: the run waits for
/// each call. A panicking listener is logged and ignored; it never stops the run.
///
/// Only `on_target_result` must be written; the rest default to doing nothing.
pub trait RunListener: Send + Sync {
    /// The run entered a phase.
    fn on_phase(&self, _phase: RunPhase) {}

    /// A target started (for progress displays).
    fn on_target_started(&self, _suite: Suite, _target: &str) {}

    /// A step within a long target, e.g. `trial 3/8` of a throttling target.
    fn on_target_step(&self, _suite: Suite, _target: &str, _step: &str) {}

    /// A connectivity check finished (the run's own, or a confirmation), with every anchor's
    /// outcome.
    fn on_network_check(&self, _outcome: &ConnectivityOutcome) {}

    /// One target's result arrived, with its measurement as stored (scrubbed, queued for
    /// upload when the run records).
    fn on_target_result(&self, result: &TargetResult, measurement: &Measurement);

    /// Counters after each target.
    fn on_progress(&self, _progress: &RunProgress) {}

    /// The run ended; nothing is called after this.
    fn on_finished(&self, _summary: &RunSummary) {}
}

/// A listener that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoListener;

impl RunListener for NoListener {
    fn on_target_result(&self, _: &TargetResult, _: &Measurement) {}
}
