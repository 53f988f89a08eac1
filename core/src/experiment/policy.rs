//! Every timeout, byte cap and budget of measuring, in one place, beside the store's
//! ([`crate::store::StorePolicy`]) and the uploader's ([`crate::upload::UploadPolicy`]).
//!
//! Each limit is a named constant, gathered in [`MeasurementPolicy`]; the experiments' settings
//! (`UrlGetterConfig`, `WebConnectivityConfig`, `MessagingConfig`, `ThrottlingConfig`), the
//! run's network check ([`crate::session::NetworkGuard`]) and the engine's budgets take their
//! defaults from here and nowhere else. Front ends may lower or raise a value for one run (the
//! CLI's `--timeout`, an app's budgets); the defaults are these.

use std::time::Duration;

use super::urlgetter::Timeouts;

// --- Steps (urlgetter and web_connectivity, as OONI's web_connectivity) ---

/// One DNS lookup.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(4);
/// One TCP connect, TLS handshake or HTTP round trip.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// The most body bytes kept per response: OONI's 512 KiB.
pub const BODY_CAP: usize = 1 << 19;
/// The most redirects followed: OONI's 10.
pub const MAX_REDIRECTS: usize = 10;

// --- web_connectivity ---

/// The most endpoints (address and port pairs) measured per URL.
pub const MAX_ENDPOINTS: usize = 8;
/// The test helper call (OONI's probe waits 30 s: the helper itself may spend 4 s on DNS,
/// then 15 s connecting and 10 s on TLS).
pub const TH_TIMEOUT: Duration = Duration::from_secs(30);
/// The most bytes read of a test helper's answer. Answers are a few KiB (a map per endpoint
/// and the final response's headers); anything near this is not a test helper.
pub const TH_BODY_CAP: usize = 1 << 20;
/// The whole fetch of a URL, every redirect included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

// --- Messaging ---

/// One TCP connect, TLS handshake or HTTP round trip of a messaging endpoint (DNS uses
/// [`DNS_TIMEOUT`]).
pub const MESSAGING_STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// The most body bytes kept per messaging response: reachability needs no body.
pub const MESSAGING_BODY_CAP: usize = 16 * 1024;
/// The longest one app may take, every step included.
pub const APP_TIMEOUT: Duration = Duration::from_secs(15);
/// Steps measured at the same time within one app.
pub const MESSAGING_PARALLELISM: usize = 8;

// --- Throttling ---

/// Body bytes per trial: 128 KiB, so sixteen trials (an escalated target) with their overhead
/// stay within [`THROTTLING_TARGET_BUDGET`]; the rate is measured over the 64 KiB after the
/// 64 KiB warm-up.
pub const TRIAL_BYTES: u64 = 128 * 1024;
/// The cap on one trial's transfer.
pub const TRIAL_TIMEOUT: Duration = Duration::from_secs(6);
/// No progress for this long after a first kilobyte ends a trial as a stall.
pub const STALL_GAP: Duration = Duration::from_secs(3);
/// A trial's TCP connect, and its TLS handshake, each.
pub const TRIAL_STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// The hard cap per throttling target: 2.5 MB.
pub const THROTTLING_TARGET_BUDGET: u64 = 2_500_000;
/// The hard cap of the throttling suite in one run: 12.5 MB (five targets).
pub const THROTTLING_RUN_BUDGET: u64 = 12_500_000;
/// The most body bytes read per passive fetch: 256 KiB, half of OONI's 512 KiB. The rate is
/// measured after the first 64 KiB, so 192 KiB are measured per fetch; with 512 KiB a pair
/// costs about 1.1 MB on an untouched site and the per-target budget would hold only two
/// pairs, never the four of a first round.
pub const PASSIVE_BODY_CAP: usize = 256 * 1024;
/// The most redirects a passive fetch follows.
pub const PASSIVE_MAX_REDIRECTS: usize = 3;
/// A passive fetch's connect and handshake, each; and its HTTP exchange, body included.
pub const PASSIVE_STEP_TIMEOUT: Duration = Duration::from_secs(10);

// --- The network check under every verdict ---

/// A stored connectivity check at most this old is reused instead of checking again.
pub const CHECK_REUSE_WINDOW: Duration = Duration::from_secs(10);
/// The least time between the starts of two confirming checks while claims wait.
pub const CONFIRM_GAP: Duration = Duration::from_secs(15);
/// The longest the confirming check of a cancelled run may take (no re-checks).
pub const CANCEL_CHECK_LIMIT: Duration = Duration::from_secs(10);

// --- Runs (the engine's defaults; the apps' settings lower or raise them) ---

/// The most one "test now" run may receive: 50 MiB.
pub const RUN_BYTES: u64 = 50 << 20;
/// The most one background cycle may receive: 2 MiB.
pub const BACKGROUND_BYTES: u64 = 2 << 20;
/// The most all measuring may receive in a calendar month: 200 MiB.
pub const MONTHLY_BYTES: u64 = 200 << 20;
/// Websites (or URLs) measured at the same time.
pub const PARALLELISM: usize = 4;
/// The most websites (or URLs) a run may measure at the same time.
pub const MAX_PARALLELISM: usize = 64;
/// The most an app lets its user choose (a phone's sockets and radio).
pub const APP_MAX_PARALLELISM: usize = 16;

/// Every limit above, as values a caller can read in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasurementPolicy {
    /// urlgetter's and web_connectivity's step timeouts.
    pub steps: Timeouts,
    /// [`BODY_CAP`].
    pub body_cap: usize,
    /// [`MAX_REDIRECTS`].
    pub max_redirects: usize,
    /// [`MAX_ENDPOINTS`].
    pub max_endpoints: usize,
    /// [`TH_TIMEOUT`].
    pub th_timeout: Duration,
    /// [`TH_BODY_CAP`].
    pub th_body_cap: usize,
    /// [`FETCH_TIMEOUT`].
    pub fetch_timeout: Duration,
    /// Messaging's step timeouts ([`DNS_TIMEOUT`], then [`MESSAGING_STEP_TIMEOUT`]).
    pub messaging_steps: Timeouts,
    /// [`MESSAGING_BODY_CAP`].
    pub messaging_body_cap: usize,
    /// [`APP_TIMEOUT`].
    pub app_timeout: Duration,
    /// [`MESSAGING_PARALLELISM`].
    pub messaging_parallelism: usize,
    /// [`TRIAL_BYTES`].
    pub trial_bytes: u64,
    /// [`TRIAL_TIMEOUT`].
    pub trial_timeout: Duration,
    /// [`STALL_GAP`].
    pub stall_gap: Duration,
    /// [`TRIAL_STEP_TIMEOUT`].
    pub trial_step_timeout: Duration,
    /// [`THROTTLING_TARGET_BUDGET`].
    pub throttling_target_budget: u64,
    /// [`THROTTLING_RUN_BUDGET`].
    pub throttling_run_budget: u64,
    /// [`PASSIVE_BODY_CAP`].
    pub passive_body_cap: usize,
    /// [`PASSIVE_MAX_REDIRECTS`].
    pub passive_max_redirects: usize,
    /// [`PASSIVE_STEP_TIMEOUT`].
    pub passive_step_timeout: Duration,
    /// [`CHECK_REUSE_WINDOW`].
    pub check_reuse_window: Duration,
    /// [`CONFIRM_GAP`].
    pub confirm_gap: Duration,
    /// [`CANCEL_CHECK_LIMIT`].
    pub cancel_check_limit: Duration,
    /// [`RUN_BYTES`].
    pub run_bytes: u64,
    /// [`BACKGROUND_BYTES`].
    pub background_bytes: u64,
    /// [`MONTHLY_BYTES`].
    pub monthly_bytes: u64,
    /// [`PARALLELISM`].
    pub parallelism: usize,
    /// [`MAX_PARALLELISM`].
    pub max_parallelism: usize,
    /// [`APP_MAX_PARALLELISM`].
    pub app_max_parallelism: usize,
}

impl Default for MeasurementPolicy {
    fn default() -> Self {
        MeasurementPolicy {
            steps: step_timeouts(),
            body_cap: BODY_CAP,
            max_redirects: MAX_REDIRECTS,
            max_endpoints: MAX_ENDPOINTS,
            th_timeout: TH_TIMEOUT,
            th_body_cap: TH_BODY_CAP,
            fetch_timeout: FETCH_TIMEOUT,
            messaging_steps: messaging_step_timeouts(),
            messaging_body_cap: MESSAGING_BODY_CAP,
            app_timeout: APP_TIMEOUT,
            messaging_parallelism: MESSAGING_PARALLELISM,
            trial_bytes: TRIAL_BYTES,
            trial_timeout: TRIAL_TIMEOUT,
            stall_gap: STALL_GAP,
            trial_step_timeout: TRIAL_STEP_TIMEOUT,
            throttling_target_budget: THROTTLING_TARGET_BUDGET,
            throttling_run_budget: THROTTLING_RUN_BUDGET,
            passive_body_cap: PASSIVE_BODY_CAP,
            passive_max_redirects: PASSIVE_MAX_REDIRECTS,
            passive_step_timeout: PASSIVE_STEP_TIMEOUT,
            check_reuse_window: CHECK_REUSE_WINDOW,
            confirm_gap: CONFIRM_GAP,
            cancel_check_limit: CANCEL_CHECK_LIMIT,
            run_bytes: RUN_BYTES,
            background_bytes: BACKGROUND_BYTES,
            monthly_bytes: MONTHLY_BYTES,
            parallelism: PARALLELISM,
            max_parallelism: MAX_PARALLELISM,
            app_max_parallelism: APP_MAX_PARALLELISM,
        }
    }
}

/// urlgetter's and web_connectivity's step timeouts: [`DNS_TIMEOUT`], then [`STEP_TIMEOUT`].
pub const fn step_timeouts() -> Timeouts {
    Timeouts {
        dns: DNS_TIMEOUT,
        connect: STEP_TIMEOUT,
        tls: STEP_TIMEOUT,
        http: STEP_TIMEOUT,
    }
}

/// Messaging's step timeouts: [`DNS_TIMEOUT`], then [`MESSAGING_STEP_TIMEOUT`].
pub const fn messaging_step_timeouts() -> Timeouts {
    Timeouts {
        dns: DNS_TIMEOUT,
        connect: MESSAGING_STEP_TIMEOUT,
        tls: MESSAGING_STEP_TIMEOUT,
        http: MESSAGING_STEP_TIMEOUT,
    }
}

// The limits agree with each other; checked when the crate compiles.

// Sixteen trials (an escalated target) with their overhead fit the per-target budget.
const _: () = assert!(
    16 * (TRIAL_BYTES + super::throttling::trial::TRIAL_OVERHEAD_BYTES) <= THROTTLING_TARGET_BUDGET
);
// A background cycle fits in a run, a run in a month, the throttling suite in a run.
const _: () = assert!(BACKGROUND_BYTES < RUN_BYTES && RUN_BYTES < MONTHLY_BYTES);
const _: () = assert!(THROTTLING_RUN_BUDGET < RUN_BYTES);
// The calls that wrap steps last at least as long as one step.
const _: () = assert!(TH_TIMEOUT.as_millis() >= STEP_TIMEOUT.as_millis());
const _: () = assert!(FETCH_TIMEOUT.as_millis() >= STEP_TIMEOUT.as_millis());
// The default parallelism is one an app may choose, and an app's is one a run accepts.
const _: () = assert!(PARALLELISM <= APP_MAX_PARALLELISM && APP_MAX_PARALLELISM <= MAX_PARALLELISM);
