//! The few records and enums the bindings define themselves: the app's configuration (plain
//! strings, checked and turned into core's in one place, [`crate::engine`]), suite
//! descriptions, the history's upload states and the platform uploader's messages. Everything a
//! run reports (results, verdicts, progress, summaries), the network context and the
//! background cycle's records are core's own types, which carry uniffi derives
//! (`kuzet-core`'s `uniffi` feature): the bindings mirror none of them.

use std::time::SystemTime;

use kuzet_core::engine::{Consent, DataBudgets};
use kuzet_core::experiment::connectivity::ConnectivityStatus;
use kuzet_core::session::{history::HistoryItem, NetworkKind, Suite, TargetResult};
use kuzet_core::store;

/// What a suite is, and whether this engine can run it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SuiteInfo {
    /// The suite.
    pub suite: Suite,
    /// Whether runs may include it (consent is checked separately).
    pub available: bool,
    /// One sentence for settings screens.
    pub description: String,
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
    /// The connectivity check's anchors, captive check, timeouts, re-checks, thresholds and
    /// domestic networks as JSON (the format of `kuzet run connectivity --anchors`); null for
    /// the built-in set for Kazakhstan. Every run with web, messaging or throttling checks the
    /// network with it first, and conditions its verdicts on it.
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

/// Where a measurement is on its way to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum UploadState {
    /// Waiting for the next upload attempt.
    Queued,
    /// Uploaded.
    Uploaded,
    /// Kept on the device: upload not allowed, or the network is unknown (AS0/ZZ).
    Held,
    /// Gave up after repeated failures or a rejection (or a quota dropped it).
    Failed,
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

/// One entry of the results history: the result exactly as the run reported it, and where
/// its measurement is on its way to the collector.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ResultItem {
    /// The result (its verdict, word, group and explanation are the run's own).
    pub result: TargetResult,
    /// Its upload state.
    pub upload_state: UploadState,
    /// The run it belongs to (a `PastRun`'s `run`).
    pub run: i64,
}

impl From<HistoryItem> for ResultItem {
    fn from(item: HistoryItem) -> Self {
        ResultItem {
            result: item.result,
            upload_state: item.delivery.into(),
            run: item.run,
        }
    }
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
    /// The OONI measurement as JSON (scrubbed), or empty when a quota dropped it.
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

impl From<&store::OutboxItem> for PendingUpload {
    fn from(item: &store::OutboxItem) -> Self {
        PendingUpload {
            measurement_id: item.measurement_id.clone(),
            state: Some(item.state).into(),
            attempts: item.attempts,
            last_error: item.last_error.as_ref().map(|e| e.message.clone()),
            queued_at: kuzet_core::session::history::time_of_ms(item.created_at_ms),
        }
    }
}

/// A change in connectivity, for the shutdown timeline.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TimelineEntry {
    /// When the state was observed (it lasted until the next entry).
    pub since: SystemTime,
    /// The state: what this device observed, never a claim about the whole network.
    pub state: ConnectivityStatus,
    /// The state in plain words.
    pub explanation: String,
    /// The network the device was on.
    pub network: NetworkKind,
}

impl TimelineEntry {
    /// The entry of a connectivity transition; `None` for other timeline entries.
    pub(crate) fn from_transition(transition: &store::Transition) -> Option<TimelineEntry> {
        let status = ConnectivityStatus::parse(&transition.status)?;
        Some(TimelineEntry {
            since: kuzet_core::session::history::time_of_ms(transition.at_ms),
            state: status,
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
