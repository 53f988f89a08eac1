//! Records and enums of the API. Most mirror a type of `kuzet_core::engine`; the conversions
//! are plain field copies.

use std::time::{Duration, SystemTime};

use kuzet_core::engine as core;
use kuzet_core::experiment::connectivity::ConnectivityStatus;
use kuzet_core::store;

/// A group of tests a run can include.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Suite {
    /// Websites: whether each URL loads, and at which step it fails.
    Web,
    /// Messaging apps: WhatsApp, Telegram, Signal, Facebook Messenger.
    Messaging,
    /// Throttling: the same download from Kuzet's throughput server under the tested site's
    /// name and under a neutral one; a persistent gap is throttling keyed on the name. Needs
    /// `EngineConfig.throughputServer` and `throughputPin`. One result per name.
    Throttling,
    /// Connectivity: is the internet up at all, and if not how it fails (the shutdown
    /// timeline). One result, target `connectivity`.
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
    /// The connectivity check's anchors, captive check, timeouts, re-checks and thresholds as
    /// JSON (the format of `kuzet connectivity --config`); null for the built-in set for
    /// Kazakhstan.
    #[uniffi(default = None)]
    pub connectivity_config_json: Option<String>,
    /// URLs a background cycle may test, 3 at a time at random; empty (the default): no tests
    /// in the background.
    #[uniffi(default = [])]
    pub background_sample_urls: Vec<String>,
    /// Kuzet's throughput server for the throttling suite, `IP:PORT`; with `throughputPin`.
    /// Without it, throttling runs are refused (`Unavailable`).
    #[uniffi(default = None)]
    pub throughput_server: Option<String>,
    /// The throughput server's key pin, `sha256/<base64>` (printed by `kuzet-server
    /// --throughput`).
    #[uniffi(default = None)]
    pub throughput_pin: Option<String>,
    /// The messaging suite's endpoints as JSON (keys `whatsapp`, `telegram`, `signal`,
    /// `facebook_messenger`; the format of `kuzet run messaging --endpoints`); null for the real
    /// services.
    #[uniffi(default = None)]
    pub messaging_endpoints_json: Option<String>,
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
    /// Site names (SNIs) for the throttling suite; empty for the built-in list (Twitter,
    /// YouTube, Telegram, Instagram). Only the names are sent, to Kuzet's throughput server.
    #[uniffi(default = [])]
    pub throttling_targets: Vec<String>,
}

impl From<RunRequest> for core::RunRequest {
    fn from(request: RunRequest) -> Self {
        core::RunRequest {
            suites: request.suites.into_iter().map(Into::into).collect(),
            web_urls: request.web_urls,
            byte_budget: request.byte_budget,
            throttling_targets: request.throttling_targets,
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

/// What one target's measurement suggests. For websites it follows web_connectivity's own
/// verdict (`x_verdict` in the measurement): `ok` is `ACCESSIBLE`, `site_down` `DOWN`, every
/// kind of interference `BLOCKED` (how: `TargetResult.blocking`), and `undetermined` `ANOMALY`
/// when a step failed or `UNDETERMINED` when none did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Verdict {
    /// It worked as expected.
    Accessible,
    /// Something failed, and nothing could tell blocking from an outage (typically no test
    /// helper was configured or reachable).
    Anomaly,
    /// Blocked or tampered with, confirmed against the test helper's control measurement.
    Blocked,
    /// Down for everyone: it failed the same way for the test helper.
    Down,
    /// Nothing failed, but nothing proved the answer genuine either (a plain-http page loaded
    /// with no control to compare it with).
    Undetermined,
}

impl From<core::Verdict> for Verdict {
    fn from(verdict: core::Verdict) -> Self {
        match verdict {
            core::Verdict::Accessible => Verdict::Accessible,
            core::Verdict::Anomaly => Verdict::Anomaly,
            core::Verdict::Blocked => Verdict::Blocked,
            core::Verdict::Down => Verdict::Down,
            core::Verdict::Undetermined => Verdict::Undetermined,
        }
    }
}

/// How a target was blocked (with `Verdict.BLOCKED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum BlockingMethod {
    /// DNS: the network's resolver lied (no such name, a private address, other addresses) or
    /// failed, while the name resolves elsewhere.
    Dns,
    /// TCP/IP: connections to the site's addresses were reset, refused or dropped.
    TcpIp,
    /// TLS, by the site's name sent in the handshake (SNI): the handshake was cut.
    Tls,
    /// TLS interception: a certificate that does not verify (for instance a state root) was
    /// presented instead of the site's own.
    Interception,
    /// A block page came back instead of the site's page.
    HttpBlockpage,
    /// The HTTP exchange failed while the test helper fetched the page.
    HttpFailure,
    /// Throttled: held to a much lower speed than a neutral name on the same path, or cut off
    /// after a few bytes.
    Throttling,
}

impl From<core::BlockingMethod> for BlockingMethod {
    fn from(method: core::BlockingMethod) -> Self {
        match method {
            core::BlockingMethod::Dns => BlockingMethod::Dns,
            core::BlockingMethod::TcpIp => BlockingMethod::TcpIp,
            core::BlockingMethod::Tls => BlockingMethod::Tls,
            core::BlockingMethod::Interception => BlockingMethod::Interception,
            core::BlockingMethod::HttpBlockpage => BlockingMethod::HttpBlockpage,
            core::BlockingMethod::HttpFailure => BlockingMethod::HttpFailure,
            core::BlockingMethod::Throttling => BlockingMethod::Throttling,
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
    /// How it was blocked, when `verdict` is `BLOCKED`.
    pub blocking: Option<BlockingMethod>,
    /// The experiment's own verdict in short, e.g. `TLS blocked (timeout, SNI example.org)`
    /// or `DNS tampered (nxdomain)`: for logs and detail screens.
    pub verdict_detail: String,
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
            blocking: result.blocking.map(Into::into),
            verdict_detail: result.verdict_detail.clone(),
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
///
/// Measurements name the network's ASN and country, as OONI's do; without them they stay on
/// the device and are never uploaded. They come from `probeAsn` / `probeCc` / `networkName`
/// when the app knows them (for instance from a check-in with its own server), else from
/// `mccMnc`: the country from its MCC, and on mobile data in Kazakhstan the operator's ASN
/// (Beeline 401-01, Kcell 401-02, Altel 401-07, Tele2 401-77). `mccMnc` itself is never
/// recorded or uploaded.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NetworkContext {
    /// The kind of network.
    pub kind: NetworkKind,
    /// Data is paid per byte (mobile data, a hotspot).
    #[uniffi(default = false)]
    pub metered: bool,
    /// The user asked to save data (Data Saver, Low Data Mode).
    #[uniffi(default = false)]
    pub constrained: bool,
    /// The network's autonomous system, `AS1234` (or `1234`), when the app knows it.
    #[uniffi(default = None)]
    pub probe_asn: Option<String>,
    /// The country, ISO 3166 alpha-2 (`KZ`), when the app knows it.
    #[uniffi(default = None)]
    pub probe_cc: Option<String>,
    /// The network's (AS organisation's) name, e.g. `Kcell JSC`, when the app knows it.
    #[uniffi(default = None)]
    pub network_name: Option<String>,
    /// The serving mobile network's MCC and MNC, e.g. `401-02` (Android
    /// `TelephonyManager.networkOperator`, iOS `CTCarrier`); null without a mobile network.
    #[uniffi(default = None)]
    pub mcc_mnc: Option<String>,
    /// The radio technology on mobile data, e.g. `LTE`, `NR`, `HSPA` (Android
    /// `TelephonyDisplayInfo`, iOS `serviceCurrentRadioAccessTechnology`); recorded with the
    /// connectivity check.
    #[uniffi(default = None)]
    pub radio: Option<String>,
    /// Whether the modem is registered for service (voice/SMS), when the platform says.
    #[uniffi(default = None)]
    pub in_service: Option<bool>,
    /// Airplane mode is on: the connectivity check then reports the device's own state
    /// (`LOCAL_DEVICE`) without probing.
    #[uniffi(default = false)]
    pub airplane_mode: bool,
    /// Whether mobile data is switched on, when the platform says.
    #[uniffi(default = None)]
    pub data_enabled: Option<bool>,
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
            probe_asn: context.probe_asn,
            probe_cc: context.probe_cc,
            network_name: context.network_name,
            mcc_mnc: context.mcc_mnc,
            radio: context.radio,
            in_service: context.in_service,
            airplane_mode: context.airplane_mode,
            data_enabled: context.data_enabled,
        }
    }
}

/// One background cycle's limits and circumstances.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
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
    /// What the check found, if it ran.
    pub connectivity: Option<ConnectivityState>,
    /// Whether that differed from the timeline's last state (a new timeline entry).
    pub timeline_changed: bool,
    /// Web tests run in the sample.
    pub tests_run: u32,
    /// Bytes used by the check and the tests (uploads not counted).
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
            connectivity: summary.connectivity.map(Into::into),
            timeline_changed: summary.timeline_changed,
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
    /// How it was blocked, when `verdict` is `BLOCKED` (and the result recorded it).
    pub blocking: Option<BlockingMethod>,
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

/// What this device observed about its network (the connectivity check's status). Each says
/// what one device saw, never that a whole network or country is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConnectivityState {
    /// Domestic and international hosts reachable.
    Ok,
    /// The device is offline by itself: airplane mode, mobile data off, no service.
    LocalDevice,
    /// The device's own link is down (no network path): a local problem.
    LocalLink,
    /// A captive portal or an injected redirect answered instead of the internet.
    CaptiveOrInjection,
    /// Connected, but no host answered, domestic or international: as in a data shutdown.
    DataBlackout,
    /// Domestic hosts answered, international ones did not: as when the gateway is cut.
    InternationalCut,
    /// Only a few approved hosts answered: as in a whitelist regime.
    WhitelistMode,
    /// The internet answered, but some key services (messengers) failed.
    ServiceBlock,
}

impl From<ConnectivityStatus> for ConnectivityState {
    fn from(status: ConnectivityStatus) -> Self {
        match status {
            ConnectivityStatus::Ok => ConnectivityState::Ok,
            ConnectivityStatus::LocalDevice => ConnectivityState::LocalDevice,
            ConnectivityStatus::LocalLink => ConnectivityState::LocalLink,
            ConnectivityStatus::CaptiveOrInjection => ConnectivityState::CaptiveOrInjection,
            ConnectivityStatus::DataBlackout => ConnectivityState::DataBlackout,
            ConnectivityStatus::InternationalCut => ConnectivityState::InternationalCut,
            ConnectivityStatus::WhitelistMode => ConnectivityState::WhitelistMode,
            ConnectivityStatus::ServiceBlock => ConnectivityState::ServiceBlock,
        }
    }
}

/// A change in connectivity, for the shutdown timeline.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TimelineEntry {
    /// When the state was observed (it lasted until the next entry).
    pub since: SystemTime,
    /// The state.
    pub state: ConnectivityState,
    /// The state in plain words.
    pub explanation: String,
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

impl From<&store::ResultRecord> for ResultItem {
    fn from(record: &store::ResultRecord) -> Self {
        ResultItem {
            id: record.measurement_id.clone(),
            suite: core::result_suite(record).into(),
            target: record.target.clone(),
            verdict: core::result_verdict(record).into(),
            blocking: core::result_blocking(record).map(Into::into),
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

impl TimelineEntry {
    /// The entry of a connectivity transition; `None` for other timeline entries.
    pub(crate) fn from_transition(transition: &store::Transition) -> Option<TimelineEntry> {
        let status = ConnectivityStatus::parse(&transition.status)?;
        Some(TimelineEntry {
            since: time_from_ms(transition.at_ms),
            state: status.into(),
            explanation: kuzet_core::experiment::connectivity::explain(status),
            network: match transition.network_type {
                store::NetworkType::Wifi => NetworkKind::Wifi,
                store::NetworkType::Mobile => NetworkKind::Cellular,
                store::NetworkType::Wired => NetworkKind::Ethernet,
                store::NetworkType::Unknown => NetworkKind::Unknown,
            },
        })
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
