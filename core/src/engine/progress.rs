//! What a run reports while it goes and when it ends, and the listener that receives it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::suite::Suite;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunPhase {
    /// Checking the network and preparing the targets.
    Preparing,
    /// Measuring one suite.
    Measuring(Suite),
    /// Every suite is done (or the run was cancelled or ran out of budget).
    Finished,
}

/// What a measurement of one target suggests. For the web suite it follows web_connectivity's
/// verdict (`x_verdict`, see [`crate::experiment::web_connectivity::Verdict`]): `ok` is
/// [`Verdict::Accessible`], `site_down` [`Verdict::Down`], every kind of interference
/// [`Verdict::Blocked`] (how in [`TargetResult::blocking`]), and `undetermined`
/// [`Verdict::Anomaly`] when a step failed or [`Verdict::Undetermined`] when none did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It worked as expected.
    Accessible,
    /// Something failed, and nothing could tell blocking from an outage (typically the test
    /// helper was unreachable or not configured).
    Anomaly,
    /// Blocked or tampered with, confirmed against the test helper's control measurement.
    Blocked,
    /// Down for everyone: it failed the same way for the test helper.
    Down,
    /// Nothing failed, but nothing proved the answer genuine either (a plain-http page loaded
    /// and there was no control to compare it with).
    Undetermined,
}

impl Verdict {
    /// The verdict's name in stored results: `accessible`, `anomaly`, `blocked`, `down`,
    /// `undetermined`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Accessible => "accessible",
            Verdict::Anomaly => "anomaly",
            Verdict::Blocked => "blocked",
            Verdict::Down => "down",
            Verdict::Undetermined => "undetermined",
        }
    }

    /// The verdict of a name from [`Verdict::name`].
    pub fn from_name(name: &str) -> Option<Verdict> {
        [
            Verdict::Accessible,
            Verdict::Anomaly,
            Verdict::Blocked,
            Verdict::Down,
            Verdict::Undetermined,
        ]
        .into_iter()
        .find(|v| v.name() == name)
    }
}

/// How a target was blocked (with [`Verdict::Blocked`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockingMethod {
    /// DNS: the resolver lied (NXDOMAIN, a bogon, other addresses) or failed while the name
    /// resolves elsewhere.
    Dns,
    /// TCP/IP: connections to the site's addresses were reset, refused or dropped.
    TcpIp,
    /// TLS, by the name sent in the handshake (SNI): the handshake was cut.
    Tls,
    /// TLS interception: a certificate that does not verify (for instance a state root) was
    /// presented instead of the site's.
    Interception,
    /// A block page came back instead of the site's page.
    HttpBlockpage,
    /// The HTTP exchange failed while the test helper fetched the page.
    HttpFailure,
    /// Throttled: held to a much lower speed than a comparison on the same path, or cut off
    /// after a few bytes.
    Throttling,
}

impl BlockingMethod {
    /// The method's name in stored results: `dns`, `tcp_ip`, `tls`, `interception`,
    /// `http_blockpage`, `http_failure`, `throttling`.
    pub fn name(self) -> &'static str {
        match self {
            BlockingMethod::Dns => "dns",
            BlockingMethod::TcpIp => "tcp_ip",
            BlockingMethod::Tls => "tls",
            BlockingMethod::Interception => "interception",
            BlockingMethod::HttpBlockpage => "http_blockpage",
            BlockingMethod::HttpFailure => "http_failure",
            BlockingMethod::Throttling => "throttling",
        }
    }

    /// The method of a name from [`BlockingMethod::name`].
    pub fn from_name(name: &str) -> Option<BlockingMethod> {
        [
            BlockingMethod::Dns,
            BlockingMethod::TcpIp,
            BlockingMethod::Tls,
            BlockingMethod::Interception,
            BlockingMethod::HttpBlockpage,
            BlockingMethod::HttpFailure,
            BlockingMethod::Throttling,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }
}

/// The result of one target (a URL for the web suite).
#[derive(Debug, Clone, PartialEq)]
pub struct TargetResult {
    /// The suite that measured it.
    pub suite: Suite,
    /// What was measured (the URL).
    pub target: String,
    /// What the measurement suggests.
    pub verdict: Verdict,
    /// How it was blocked, when [`Verdict::Blocked`].
    pub blocking: Option<BlockingMethod>,
    /// The experiment's own verdict in short, e.g. `TLS blocked (timeout, SNI example.org)`
    /// (web_connectivity's `x_verdict`).
    pub verdict_detail: String,
    /// The step that failed (`resolve`, `connect`, `tls_handshake`, `http_round_trip`).
    pub failed_operation: Option<String>,
    /// OONI's failure string for that step, e.g. `connection_reset`.
    pub failure: Option<String>,
    /// The final HTTP status, if a response arrived.
    pub status_code: Option<u16>,
    /// Bytes received from the network for this target.
    pub bytes_received: u64,
    /// Time spent on this target.
    pub runtime: Duration,
    /// The outcome in plain words, for people.
    pub explanation: String,
    /// The measurement's id (the client-side UUID in the OONI measurement).
    pub measurement_id: String,
    /// The OONI measurement, serialised as JSON.
    pub measurement_json: String,
}

/// How far a run has got.
#[derive(Debug, Clone, PartialEq)]
pub struct RunProgress {
    /// Targets done, across every suite of the run.
    pub completed: u32,
    /// Targets the run plans to measure.
    pub total: u32,
    /// Bytes received so far.
    pub bytes_used: u64,
    /// The run's byte budget.
    pub byte_budget: u64,
    /// The estimated time left; `None` until a target has finished.
    pub estimated_time_left: Option<Duration>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Every target was measured.
    Completed,
    /// The run was cancelled; `results` holds what finished before.
    Cancelled,
    /// The byte budget ran out; the remaining targets were skipped.
    BudgetExhausted,
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// A random id of the run (UUID v4).
    pub run_id: String,
    /// How it ended.
    pub status: RunStatus,
    /// Every target that finished, in the order they finished.
    pub results: Vec<TargetResult>,
    /// Targets never measured (cancelled or over budget).
    pub skipped: u32,
    /// Bytes received.
    pub bytes_used: u64,
    /// When the run started.
    pub started_at: SystemTime,
    /// How long it took.
    pub duration: Duration,
}

/// Receives a run's progress. Called from the library's worker threads, one call at a time per
/// run, in order: `on_phase(Preparing)`, then per suite `on_phase(Measuring)` followed by
/// `on_target_result` and `on_progress` per target, `on_phase(Finished)`, and `on_finished`
/// last. Return quickly: the run waits for each call. A panicking listener is logged and
/// ignored; it never stops the run.
pub trait RunListener: Send + Sync {
    /// The run entered a phase.
    fn on_phase(&self, phase: RunPhase);
    /// One target's result arrived.
    fn on_target_result(&self, result: &TargetResult);
    /// Counters after each target.
    fn on_progress(&self, progress: &RunProgress);
    /// The run ended; nothing is called after this.
    fn on_finished(&self, summary: &RunSummary);
}

/// A listener that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoListener;

impl RunListener for NoListener {
    fn on_phase(&self, _: RunPhase) {}
    fn on_target_result(&self, _: &TargetResult) {}
    fn on_progress(&self, _: &RunProgress) {}
    fn on_finished(&self, _: &RunSummary) {}
}

/// Counts a run's progress, enforces its byte budget and forwards events to the listener.
pub(crate) struct Tracker {
    listener: Arc<dyn RunListener>,
    started: Instant,
    byte_budget: u64,
    state: Mutex<TrackerState>,
}

#[derive(Default)]
struct TrackerState {
    total: u32,
    results: Vec<TargetResult>,
    bytes_used: u64,
}

impl Tracker {
    pub(crate) fn new(listener: Arc<dyn RunListener>, byte_budget: u64, total: u32) -> Self {
        Tracker {
            listener,
            started: Instant::now(),
            byte_budget,
            state: Mutex::new(TrackerState {
                total,
                ..TrackerState::default()
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, TrackerState> {
        // The state is plain counters: a panic elsewhere cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether there are bytes left to start another target.
    pub(crate) fn has_budget(&self) -> bool {
        self.state().bytes_used < self.byte_budget
    }

    /// The bytes left in the budget.
    pub(crate) fn bytes_left(&self) -> u64 {
        self.byte_budget.saturating_sub(self.state().bytes_used)
    }

    /// Calls the listener, containing any panic in it.
    pub(crate) fn notify(&self, what: &str, call: impl FnOnce(&dyn RunListener)) {
        let listener = &*self.listener;
        if catch_unwind(AssertUnwindSafe(|| call(listener))).is_err() {
            tracing::warn!("run listener panicked in {what}; ignoring it");
        }
    }

    pub(crate) fn phase(&self, phase: RunPhase) {
        self.notify("on_phase", |l| l.on_phase(phase));
    }

    /// Records one target's result and reports it with the new counters.
    pub(crate) fn record(&self, result: TargetResult) {
        let progress = {
            let mut state = self.state();
            state.bytes_used = state.bytes_used.saturating_add(result.bytes_received);
            state.results.push(result.clone());
            let completed = state.results.len() as u32;
            let remaining = state.total.saturating_sub(completed);
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
        self.notify("on_target_result", |l| l.on_target_result(&result));
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
        let results = std::mem::take(&mut state.results);
        RunSummary {
            run_id,
            status,
            skipped: state.total.saturating_sub(results.len() as u32),
            results,
            bytes_used: state.bytes_used,
            started_at,
            duration: self.started.elapsed(),
        }
    }
}
