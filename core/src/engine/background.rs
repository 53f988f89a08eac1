//! The background cycle's request and summary: what an app's periodic worker (WorkManager,
//! BGTaskScheduler) asks for and gets back.

use std::time::Duration;

use super::context::NetworkContext;
use crate::experiment::connectivity::ConnectivityStatus;

/// When the engine asks for the next cycle if nothing is waiting for upload: every 6 hours.
pub const DEFAULT_BACKGROUND_INTERVAL: Duration = Duration::from_secs(6 * 60 * 60);

/// When the engine asks for the next cycle while the connectivity check sees trouble beyond the
/// device (a blackout, a cut, a block): 15 minutes, Android's shortest periodic work.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// How many URLs one background cycle measures at most.
pub const BACKGROUND_SAMPLE_SIZE: usize = 3;

/// One background cycle's limits and circumstances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackgroundRequest {
    /// How long the platform lets the cycle run (about 30 s for an iOS app refresh, up to 10
    /// minutes for an Android worker).
    pub time_budget: Duration,
    /// The network the platform sees right now.
    pub network: NetworkContext,
}

/// What a background cycle did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackgroundSummary {
    /// Measurements uploaded from the outbox.
    pub uploaded: u32,
    /// Uploads that failed and stay queued.
    pub upload_failures: u32,
    /// Measurements still waiting for upload after the cycle (due now or later).
    pub pending: u32,
    /// Whether the connectivity check ran.
    pub connectivity_checked: bool,
    /// What the check found, if it ran.
    pub connectivity: Option<ConnectivityStatus>,
    /// Whether the check's status differed from the timeline's last one (a transition was
    /// recorded, and its measurement queued).
    pub timeline_changed: bool,
    /// Tests run in the sample (web URLs measured).
    pub tests_run: u32,
    /// Bytes used by the cycle's check and tests (uploads not counted).
    pub bytes_used: u64,
    /// When the engine would like the next cycle, from now.
    pub next_run_in: Duration,
}
