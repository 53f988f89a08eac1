//! The background cycle's request and summary: what an app's periodic worker (WorkManager,
//! BGTaskScheduler) asks for and gets back.

use std::time::Duration;

use super::context::NetworkContext;

/// When the engine asks for the next cycle if nothing is waiting for upload: every 6 hours.
pub const DEFAULT_BACKGROUND_INTERVAL: Duration = Duration::from_secs(6 * 60 * 60);

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
    /// Tests run in the sample.
    pub tests_run: u32,
    /// Bytes used by the cycle.
    pub bytes_used: u64,
    /// When the engine would like the next cycle, from now.
    pub next_run_in: Duration,
}
