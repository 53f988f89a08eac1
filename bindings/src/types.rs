//! Records and enums of the API. Most mirror a type of `kuzet_core::engine`; the conversions
//! are plain field copies.

use std::time::{Duration, SystemTime};

use kuzet_core::engine as core;
use kuzet_core::store;

/// A group of tests a run can include.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Suite {
    /// Websites: whether each URL loads, and at which step it fails.
    Web,
    /// Messaging apps (not available yet).
    Messaging,
    /// Throttling: download speed over time (not available yet).
    Throttling,
    /// Connectivity: is the internet up at all, for the shutdown timeline (not available yet).
    Connectivity,
}

impl From<Suite> for core::Suite {
    fn from(suite: Suite) -> Self {
        match suite {
            Suite::Web => core::Suite::Web,
            Suite::Messaging => core::Suite::Messaging,
            Suite::Throttling => core::Suite::Throttling,
            Suite::Connectivity => core::Suite::Connectivity,
        }
    }
}

impl From<core::Suite> for Suite {
    fn from(suite: core::Suite) -> Self {
        match suite {
            core::Suite::Web => Suite::Web,
            core::Suite::Messaging => Suite::Messaging,
            core::Suite::Throttling => Suite::Throttling,
            core::Suite::Connectivity => Suite::Connectivity,
        }
    }
}

/// What a suite is, and whether this version can run it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SuiteInfo {
    /// The suite.
    pub suite: Suite,
    /// Whether runs may include it.
    pub available: bool,
    /// One sentence for settings screens.
    pub description: String,
}

/// What the user agreed to.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Consent {
    /// Measurements may be uploaded to the collector.
    pub upload_allowed: bool,
    /// The suites the user allows; runs asking for another are refused with `NotAllowed`.
    pub allowed_suites: Vec<Suite>,
}

/// Data budgets, in bytes received from the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct DataBudgets {
    /// The most one "test now" run may use (default 50 MiB).
    #[uniffi(default = 52428800)]
    pub run_bytes: u64,
    /// The most one background cycle may use (default 2 MiB).
    #[uniffi(default = 2097152)]
    pub background_bytes: u64,
    /// The most all measuring may use in a calendar month (default 200 MiB).
    #[uniffi(default = 209715200)]
    pub monthly_bytes: u64,
}

/// How an engine measures and where it keeps its data.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EngineConfig {
    /// An absolute path to a directory Kuzet owns (created if missing; `wipe()` empties it).
    /// On Android `context.filesDir + "/kuzet"`; on iOS a folder in Application Support.
    pub data_dir: String,
    /// The app's name as written in every measurement (letters, digits, `_ . + -`).
    pub software_name: String,
    /// The app's version.
    pub software_version: String,
    /// Where measurements are uploaded: an https URL (http only for loopback test servers).
    #[uniffi(default = None)]
    pub collector_url: Option<String>,
    /// Web-connectivity test helpers, tried in order (https).
    #[uniffi(default = [])]
    pub test_helper_urls: Vec<String>,
    /// What the user agreed to.
    pub consent: Consent,
    /// Data budgets.
    pub budgets: DataBudgets,
    /// The resolver: `system` (default), `udp://IP[:PORT]`, `https://HOST/PATH` (DoH) or
    /// `dot://IP[:PORT][?sni=NAME]`.
    #[uniffi(default = None)]
    pub resolver: Option<String>,
    /// Extra trusted CA certificates in PEM (a lab or self-hosted servers). The bundled
    /// Mozilla roots are always trusted; the phone's own store never is.
    #[uniffi(default = None)]
    pub extra_ca_pem: Option<String>,
    /// Targets measured at the same time, 1 to 16.
    #[uniffi(default = 4)]
    pub parallelism: u32,
}

/// What to measure in one run.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RunRequest {
    /// The suites to run; duplicates are ignored.
    pub suites: Vec<Suite>,
    /// URLs for the web suite (http or https).
    #[uniffi(default = [])]
    pub web_urls: Vec<String>,
    /// A lower byte budget for this run only (never above the configured one).
    #[uniffi(default = None)]
    pub byte_budget: Option<u64>,
}

impl From<RunRequest> for core::RunRequest {
    fn from(request: RunRequest) -> Self {
        core::RunRequest {
            suites: request.suites.into_iter().map(Into::into).collect(),
            web_urls: request.web_urls,
            byte_budget: request.byte_budget,
        }
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RunPhase {
    /// Checking the network and preparing targets.
    Preparing,
    /// Measuring one suite.
    Measuring {
        /// The suite.
        suite: Suite,
    },
    /// Done (completed, cancelled or over budget); `onFinished` follows.
    Finished,
}

impl From<core::RunPhase> for RunPhase {
    fn from(phase: core::RunPhase) -> Self {
        match phase {
            core::RunPhase::Preparing => RunPhase::Preparing,
            core::RunPhase::Measuring(suite) => RunPhase::Measuring {
                suite: suite.into(),
            },
            core::RunPhase::Finished => RunPhase::Finished,
        }
    }
}

/// What one target's measurement suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Verdict {
    /// It worked as expected.
    Accessible,
    /// Something failed; this measurement alone cannot tell blocking from an outage.
    Anomaly,
    /// Blocked, confirmed against a control measurement.
    Blocked,
    /// Down for everyone, per the control measurement.
    Down,
}

impl From<core::Verdict> for Verdict {
    fn from(verdict: core::Verdict) -> Self {
        match verdict {
            core::Verdict::Accessible => Verdict::Accessible,
            core::Verdict::Anomaly => Verdict::Anomaly,
            core::Verdict::Blocked => Verdict::Blocked,
            core::Verdict::Down => Verdict::Down,
        }
    }
}

/// The result of one target (a URL for the web suite).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TargetResult {
    /// The suite that measured it.
    pub suite: Suite,
    /// What was measured (the URL).
    pub target: String,
    /// What the measurement suggests.
    pub verdict: Verdict,
    /// The step that failed: `resolve`, `connect`, `tls_handshake` or `http_round_trip`.
    pub failed_operation: Option<String>,
    /// OONI's failure string for that step, e.g. `connection_reset`.
    pub failure: Option<String>,
    /// The final HTTP status, if a response arrived.
    pub status_code: Option<u16>,
    /// Bytes received for this target.
    pub bytes_received: u64,
    /// Time spent on this target.
    pub runtime: Duration,
    /// The outcome in plain words, ready to show.
    pub explanation: String,
    /// The measurement's id.
    pub measurement_id: String,
    /// The OONI measurement as JSON.
    pub measurement_json: String,
}

impl From<&core::TargetResult> for TargetResult {
    fn from(result: &core::TargetResult) -> Self {
        TargetResult {
            suite: result.suite.into(),
            target: result.target.clone(),
            verdict: result.verdict.into(),
            failed_operation: result.failed_operation.clone(),
            failure: result.failure.clone(),
            status_code: result.status_code,
            bytes_received: result.bytes_received,
            runtime: result.runtime,
            explanation: result.explanation.clone(),
            measurement_id: result.measurement_id.clone(),
            measurement_json: result.measurement_json.clone(),
        }
    }
}

/// How far a run has got; sent after each target.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RunProgress {
    /// Targets done.
    pub completed: u32,
    /// Targets planned.
    pub total: u32,
    /// Bytes received so far.
    pub bytes_used: u64,
    /// The run's byte budget.
    pub byte_budget: u64,
    /// The estimated time left; absent until a target has finished.
    pub estimated_time_left: Option<Duration>,
}

impl From<&core::RunProgress> for RunProgress {
    fn from(progress: &core::RunProgress) -> Self {
        RunProgress {
            completed: progress.completed,
            total: progress.total,
            bytes_used: progress.bytes_used,
            byte_budget: progress.byte_budget,
            estimated_time_left: progress.estimated_time_left,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RunStatus {
    /// Every target was measured.
    Completed,
    /// Cancelled; the summary holds what finished before.
    Cancelled,
    /// The byte budget ran out; the remaining targets were skipped.
    BudgetExhausted,
}

impl From<core::RunStatus> for RunStatus {
    fn from(status: core::RunStatus) -> Self {
        match status {
            core::RunStatus::Completed => RunStatus::Completed,
            core::RunStatus::Cancelled => RunStatus::Cancelled,
            core::RunStatus::BudgetExhausted => RunStatus::BudgetExhausted,
        }
    }
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RunSummary {
    /// The run's id.
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

impl From<&core::RunSummary> for RunSummary {
    fn from(summary: &core::RunSummary) -> Self {
        RunSummary {
            run_id: summary.run_id.clone(),
            status: summary.status.into(),
            results: summary.results.iter().map(Into::into).collect(),
            skipped: summary.skipped,
            bytes_used: summary.bytes_used,
            started_at: summary.started_at,
            duration: summary.duration,
        }
    }
}

/// The kind of network the device is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum NetworkKind {
    /// No network.
    Offline,
    /// Wi-Fi.
    Wifi,
    /// Mobile data.
    Cellular,
    /// Wired Ethernet.
    Ethernet,
    /// A VPN is active.
    Vpn,
    /// Something else, or unknown.
    Unknown,
}

/// What the platform knows about the current network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct NetworkContext {
    /// The kind of network.
    pub kind: NetworkKind,
    /// Data is paid per byte (mobile data, a hotspot).
    #[uniffi(default = false)]
    pub metered: bool,
    /// The user asked to save data (Data Saver, Low Data Mode).
    #[uniffi(default = false)]
    pub constrained: bool,
}

impl From<NetworkContext> for core::NetworkContext {
    fn from(context: NetworkContext) -> Self {
        core::NetworkContext {
            kind: match context.kind {
                NetworkKind::Offline => core::NetworkKind::Offline,
                NetworkKind::Wifi => core::NetworkKind::Wifi,
                NetworkKind::Cellular => core::NetworkKind::Cellular,
                NetworkKind::Ethernet => core::NetworkKind::Ethernet,
                NetworkKind::Vpn => core::NetworkKind::Vpn,
                NetworkKind::Unknown => core::NetworkKind::Unknown,
            },
            metered: context.metered,
            constrained: context.constrained,
        }
    }
}

/// One background cycle's limits and circumstances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct BackgroundRequest {
    /// How long the platform lets the cycle run.
    pub time_budget: Duration,
    /// The network right now.
    pub network: NetworkContext,
}

/// What a background cycle did, and when it would like the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct BackgroundSummary {
    /// Measurements uploaded from the outbox.
    pub uploaded: u32,
    /// Uploads that failed and stay queued.
    pub upload_failures: u32,
    /// Measurements still waiting for upload after the cycle.
    pub pending: u32,
    /// Whether the connectivity check ran.
    pub connectivity_checked: bool,
    /// Tests run in the sample.
    pub tests_run: u32,
    /// Bytes used.
    pub bytes_used: u64,
    /// When to schedule the next cycle, from now.
    pub next_run_in: Duration,
}

impl From<core::BackgroundSummary> for BackgroundSummary {
    fn from(summary: core::BackgroundSummary) -> Self {
        BackgroundSummary {
            uploaded: summary.uploaded,
            upload_failures: summary.upload_failures,
            pending: summary.pending,
            connectivity_checked: summary.connectivity_checked,
            tests_run: summary.tests_run,
            bytes_used: summary.bytes_used,
            next_run_in: summary.next_run_in,
        }
    }
}

/// Where a measurement is on its way to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum UploadState {
    /// Waiting for the next upload attempt.
    Queued,
    /// Being uploaded now.
    Uploading,
    /// Uploaded.
    Uploaded,
    /// Kept on the device: upload not allowed, or the network is unknown (AS0/ZZ).
    Held,
    /// Gave up after repeated failures.
    Failed,
}

/// One entry of the results history.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ResultItem {
    /// The measurement's id.
    pub id: String,
    /// The suite.
    pub suite: Suite,
    /// What was measured.
    pub target: String,
    /// What it suggests.
    pub verdict: Verdict,
    /// When it was measured.
    pub measured_at: SystemTime,
    /// Its upload state.
    pub upload_state: UploadState,
}

/// One page of the results history, newest first.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ResultsPage {
    /// The entries.
    pub items: Vec<ResultItem>,
    /// The offset of the next page, absent on the last one.
    pub next_offset: Option<u32>,
}

/// One result in full.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ResultDetail {
    /// The history entry.
    pub item: ResultItem,
    /// The outcome in plain words.
    pub explanation: String,
    /// The OONI measurement as JSON.
    pub measurement_json: String,
}

/// A measurement waiting for upload.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PendingUpload {
    /// The measurement's id.
    pub measurement_id: String,
    /// Its state.
    pub state: UploadState,
    /// Upload attempts so far.
    pub attempts: u32,
    /// The last attempt's error, if it failed.
    pub last_error: Option<String>,
    /// When it was queued.
    pub queued_at: SystemTime,
}

/// Whether the internet was reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConnectivityState {
    /// Reachable.
    Online,
    /// The device had a network but the internet was unreachable (a possible shutdown).
    Unreachable,
    /// The device had no network.
    Offline,
}

/// A change in connectivity, for the shutdown timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct TimelineEntry {
    /// When the state began.
    pub since: SystemTime,
    /// The state.
    pub state: ConnectivityState,
    /// The network the device was on.
    pub network: NetworkKind,
}

/// Data used by measuring in the current calendar month.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DataUsage {
    /// The month, `YYYY-MM` (UTC).
    pub month: String,
    /// Bytes received this month.
    pub bytes_used: u64,
    /// The monthly budget.
    pub monthly_budget: u64,
}

/// A request the outbox hands to the platform's uploader.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UploadRequest {
    /// Where to send it.
    pub url: String,
    /// `POST` or `PUT`.
    pub method: String,
    /// `Content-Type`.
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

/// What happened to an upload.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum UploadOutcome {
    /// The server answered; `body` is its response body (JSON for the collector).
    Response {
        /// The HTTP status.
        status: u16,
        /// The response body.
        body: Vec<u8>,
    },
    /// No answer (offline, timeout, TLS failure).
    Failed {
        /// What went wrong.
        message: String,
    },
}

/// How much the logger hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something odd.
    Warn,
    /// Runs starting and ending.
    Info,
    /// Details for debugging.
    Debug,
    /// Everything.
    Trace,
}

/// A store time (milliseconds since the Unix epoch) as a `SystemTime`.
fn time_from_ms(ms: i64) -> SystemTime {
    let magnitude = Duration::from_millis(ms.unsigned_abs());
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

impl From<Option<store::DeliveryState>> for UploadState {
    fn from(state: Option<store::DeliveryState>) -> Self {
        match state {
            Some(store::DeliveryState::Pending) => UploadState::Queued,
            Some(store::DeliveryState::Held) => UploadState::Held,
            Some(store::DeliveryState::Delivered) => UploadState::Uploaded,
            // Parked after rejection or repeated failures; or dropped from the queue by quota.
            Some(store::DeliveryState::Parked) | None => UploadState::Failed,
        }
    }
}

impl From<store::VerdictKind> for Verdict {
    fn from(kind: store::VerdictKind) -> Self {
        match kind {
            store::VerdictKind::Ok => Verdict::Accessible,
            store::VerdictKind::Blocked => Verdict::Blocked,
            store::VerdictKind::Failed => Verdict::Down,
            store::VerdictKind::Anomaly | store::VerdictKind::Error => Verdict::Anomaly,
        }
    }
}

impl From<&store::ResultRecord> for ResultItem {
    fn from(record: &store::ResultRecord) -> Self {
        ResultItem {
            id: record.measurement_id.clone(),
            suite: core::result_suite(record).into(),
            target: record.target.clone(),
            verdict: record.verdict.into(),
            measured_at: time_from_ms(record.finished_at_ms),
            upload_state: record.delivery.into(),
        }
    }
}

impl From<core::HistoryPage> for ResultsPage {
    fn from(page: core::HistoryPage) -> Self {
        ResultsPage {
            items: page.items.iter().map(Into::into).collect(),
            next_offset: page
                .next_offset
                .map(|o| u32::try_from(o).unwrap_or(u32::MAX)),
        }
    }
}

impl From<core::StoredResultDetail> for ResultDetail {
    fn from(detail: core::StoredResultDetail) -> Self {
        ResultDetail {
            item: (&detail.record).into(),
            explanation: detail.explanation,
            measurement_json: detail.measurement_json.unwrap_or_default(),
        }
    }
}

impl From<&store::OutboxItem> for PendingUpload {
    fn from(item: &store::OutboxItem) -> Self {
        PendingUpload {
            measurement_id: item.measurement_id.clone(),
            state: Some(item.state).into(),
            attempts: item.attempts,
            last_error: item.last_error.as_ref().map(|e| e.message.clone()),
            queued_at: time_from_ms(item.created_at_ms),
        }
    }
}

impl From<&store::Transition> for TimelineEntry {
    fn from(transition: &store::Transition) -> Self {
        TimelineEntry {
            since: time_from_ms(transition.at_ms),
            state: match transition.status.as_str() {
                "online" => ConnectivityState::Online,
                "offline" => ConnectivityState::Offline,
                _ => ConnectivityState::Unreachable,
            },
            network: match transition.network_type {
                store::NetworkType::Wifi => NetworkKind::Wifi,
                store::NetworkType::Mobile => NetworkKind::Cellular,
                store::NetworkType::Wired => NetworkKind::Ethernet,
                store::NetworkType::Unknown => NetworkKind::Unknown,
            },
        }
    }
}

impl From<core::DataUsage> for DataUsage {
    fn from(usage: core::DataUsage) -> Self {
        DataUsage {
            month: usage.month,
            bytes_used: usage.bytes_used,
            monthly_budget: usage.monthly_budget,
        }
    }
}
