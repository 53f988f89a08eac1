//! What a run reports: each target's result as it lands, the counters after it, and the
//! summary at the end. The same records are stored ([`super::history`]) and read back for the
//! history, so the words cannot drift between screens.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::suite::Suite;
use super::verdict::{Verdict, VerdictGroup};
use crate::experiment::connectivity::ConnectivityStatus;

/// One target's result: the same record live, in the history and behind the uploaded
/// measurement.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Record))]
pub struct TargetResult {
    /// What was measured: a URL, an app (`whatsapp`), a site name, `connectivity`.
    pub target: String,
    /// The suite's own verdict.
    pub verdict: Verdict,
    /// The verdict's one word ([`Verdict::word`]), e.g. `dns_tampered`.
    pub word: String,
    /// The group screens put it in ([`Verdict::group`]).
    pub group: VerdictGroup,
    /// The outcome in plain words, for people.
    pub explanation: String,
    /// The step that failed (`resolve`, `connect`, `tls_handshake`, `http_round_trip`), if one
    /// did.
    pub failed_operation: Option<String>,
    /// OONI's failure string for that step, e.g. `connection_reset`.
    pub failure: Option<String>,
    /// The final HTTP status, if a response arrived.
    pub status_code: Option<u16>,
    /// Bytes received from the network for this target.
    pub bytes_received: u64,
    /// Time spent on this target.
    pub runtime: Duration,
    /// When it finished.
    pub measured_at: SystemTime,
    /// The measurement's id (the client-side UUID in the OONI measurement): the key of
    /// `resultDetail` and of the upload queue.
    pub measurement_id: String,
}

impl TargetResult {
    /// The suite that measured it.
    pub fn suite(&self) -> Suite {
        self.verdict.suite()
    }
}

/// A target a run planned and did not measure (cancelled, out of budget or time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Record))]
pub struct NotMeasured {
    /// Its suite.
    pub suite: Suite,
    /// The target.
    pub target: String,
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Enum))]
pub enum RunPhase {
    /// Checking the plan and the network's identity.
    Preparing,
    /// The connectivity check every verdict is conditioned on (or reused, when a recent one
    /// is stored).
    CheckingNetwork,
    /// Measuring one suite.
    Measuring {
        /// The suite.
        suite: Suite,
    },
    /// Confirming the network after the last targets (a final connectivity check) before
    /// their results are reported.
    Confirming,
    /// Done (completed, cancelled or out of budget); `on_finished` follows.
    Finished,
}

/// How far a run has got; sent after each target.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Record))]
pub struct RunProgress {
    /// Targets done, across every suite of the run.
    pub completed: u32,
    /// Targets the run plans to measure.
    pub total: u32,
    /// Bytes received so far (targets and network checks).
    pub bytes_used: u64,
    /// The run's byte budget.
    pub byte_budget: u64,
    /// The estimated time left; absent until a target has finished.
    pub estimated_time_left: Option<Duration>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Enum))]
pub enum RunStatus {
    /// Every target was measured.
    Completed,
    /// Cancelled; every result that finished before is kept, the rest are listed as not
    /// measured.
    Cancelled,
    /// The byte budget ran out; the remaining targets were not measured.
    BudgetExhausted,
    /// The time budget ran out; the remaining targets were not measured.
    OutOfTime,
}

impl RunStatus {
    /// The status's word: `completed`, `cancelled`, `budget_exhausted`, `out_of_time`.
    pub fn word(self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::BudgetExhausted => "budget_exhausted",
            RunStatus::OutOfTime => "out_of_time",
        }
    }

    /// The status of a word from [`RunStatus::word`].
    pub fn from_word(word: &str) -> Option<RunStatus> {
        [
            RunStatus::Completed,
            RunStatus::Cancelled,
            RunStatus::BudgetExhausted,
            RunStatus::OutOfTime,
        ]
        .into_iter()
        .find(|s| s.word() == word)
    }
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Record))]
pub struct RunSummary {
    /// A random id of the run (UUID v4).
    pub run_id: String,
    /// How it ended.
    pub status: RunStatus,
    /// Every target that finished, in the order they were reported (measurements are read
    /// with `resultDetail`).
    pub results: Vec<TargetResult>,
    /// Targets planned but not measured, in plan order.
    pub not_measured: Vec<NotMeasured>,
    /// What the connectivity check at the start found, when the run made one.
    pub network: Option<ConnectivityStatus>,
    /// Problems that stopped a suite early, in plain words (e.g. a throughput server that
    /// could not be used).
    pub problems: Vec<String>,
    /// Bytes received (targets and network checks).
    pub bytes_used: u64,
    /// When the run started.
    pub started_at: SystemTime,
    /// How long it took.
    pub duration: Duration,
}
