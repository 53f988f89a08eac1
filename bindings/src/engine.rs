//! The `Engine` object: the one entry point apps use.

use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use kuzet_core::engine::{
    self as core, BackgroundRequest, BackgroundSummary, DataUsage, RunRequest,
};
use kuzet_core::experiment::connectivity::ConnectivityConfig;
use kuzet_core::net::trust::TrustAnchors;
use kuzet_core::probe::dns::DnsTransport;
use kuzet_core::report::Software;
use kuzet_core::runtime::runtime;
use kuzet_core::session::{PastRun, RunSummary, Suite};

use crate::error::{ApiResult, KuzetError};
use crate::platform::{
    ListenerAdapter, NetworkAdapter, NetworkContextProvider, RunListener, Uploader, UploaderAdapter,
};
use crate::task::TaskHandle;
use crate::types::{
    EngineConfig, PendingUpload, ResultDetail, ResultItem, ResultsPage, SuiteInfo, TimelineEntry,
};

/// Kuzet's engine: runs tests, keeps results and uploads them. Make one per data directory
/// when the app starts and keep it; it is safe to use from any thread.
#[derive(uniffi::Object)]
pub struct Engine {
    core: core::Engine,
    uploader: RwLock<Option<Arc<dyn Uploader>>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

fn core_config(config: EngineConfig) -> ApiResult<core::EngineConfig> {
    let mut core_config = core::EngineConfig::new(
        config.data_dir,
        Software {
            name: config.software_name,
            version: config.software_version,
        },
    );
    core_config.collector_url = config
        .collector_url
        .as_deref()
        .map(|url| core::parse_service_url("collector URL", url))
        .transpose()?;
    core_config.test_helper_urls = config
        .test_helper_urls
        .iter()
        .map(|url| core::parse_service_url("test helper URL", url))
        .collect::<Result<_, _>>()?;
    core_config.consent = config.consent;
    core_config.budgets = config.budgets;
    if let Some(spec) = config.resolver.as_deref() {
        core_config.resolver = DnsTransport::parse(spec)?;
    }
    if let Some(pem) = config.extra_ca_pem.as_deref() {
        core_config.trust = TrustAnchors::bundled_with_pem(pem.as_bytes()).map_err(|reason| {
            KuzetError::InvalidInput {
                message: format!("extra CA certificates: {reason}"),
            }
        })?;
    }
    core_config.parallelism = usize::try_from(config.parallelism).unwrap_or(usize::MAX);
    if let Some(json) = config.connectivity_config_json.as_deref() {
        core_config.connectivity =
            ConnectivityConfig::from_json(json).map_err(|e| KuzetError::InvalidInput {
                message: e.to_string(),
            })?;
    }
    core_config.background_sample_urls = config.background_sample_urls;
    if let Some(json) = config.messaging_endpoints_json.as_deref() {
        core_config.messaging.endpoints =
            kuzet_core::experiment::messaging::MessagingEndpoints::from_json(json).map_err(
                |e| KuzetError::InvalidInput {
                    message: e.to_string(),
                },
            )?;
    }
    core_config.throughput_server = match (config.throughput_server, config.throughput_pin) {
        (None, None) => None,
        (Some(addr), Some(pin)) => Some(core::ThroughputServer {
            addr: addr.trim().parse().map_err(|_| KuzetError::InvalidInput {
                message: format!("throughput server {addr:?} must be IP:PORT"),
            })?,
            pin: pin
                .parse()
                .map_err(|e: kuzet_core::experiment::throttling::PinParseError| {
                    KuzetError::InvalidInput {
                        message: e.to_string(),
                    }
                })?,
        }),
        _ => {
            return Err(KuzetError::InvalidInput {
                message: "the throughput server and its pin go together: set both or neither"
                    .to_string(),
            })
        }
    };
    Ok(core_config)
}

/// A history page's offset and limit as core takes them.
fn page_bounds(offset: u32, limit: u32) -> (usize, usize) {
    (
        usize::try_from(offset).unwrap_or(usize::MAX),
        usize::try_from(limit).unwrap_or(usize::MAX),
    )
}

/// Every async export below runs its work on the library's runtime (core spawns it there), so
/// the foreign executor only polls a join handle. Each store read has one async form in core;
/// the blocking forms here wait for it on the calling thread.
#[uniffi::export]
impl Engine {
    /// Checks `config` and creates the data directory. Throws `InvalidInput` for a bad
    /// configuration and `Storage` when the directory cannot be created.
    #[uniffi::constructor]
    pub fn new(config: EngineConfig) -> ApiResult<Arc<Self>> {
        let core = core::Engine::new(core_config(config)?)?;
        Ok(Arc::new(Engine {
            core,
            uploader: RwLock::new(None),
        }))
    }

    /// Sets (or, with null, clears) where runs learn the current network. Without one, the
    /// network is recorded as unknown.
    pub fn set_network_provider(&self, provider: Option<Arc<dyn NetworkContextProvider>>) {
        self.core.set_network_provider(provider.map(|p| {
            Arc::new(NetworkAdapter(p)) as Arc<dyn kuzet_core::session::NetworkContextProvider>
        }));
    }

    /// Sets (or, with null, clears) the platform uploader background cycles hand uploads to.
    /// Without one, Kuzet uploads by itself.
    pub fn set_uploader(&self, uploader: Option<Arc<dyn Uploader>>) {
        self.core.set_uploader(
            uploader
                .clone()
                .map(|u| Arc::new(UploaderAdapter(u)) as Arc<dyn kuzet_core::upload::Uploader>),
        );
        *self.uploader.write().unwrap_or_else(|e| e.into_inner()) = uploader;
    }

    /// Whether a platform uploader is set.
    pub fn has_uploader(&self) -> bool {
        self.uploader
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Every suite, whether this engine can run it (the urls suite is the command line's;
    /// throttling needs a throughput server; consent is checked separately), and what it does.
    pub fn available_suites(&self) -> Vec<SuiteInfo> {
        Suite::ALL
            .into_iter()
            .map(|suite| SuiteInfo {
                suite,
                available: self.core.unavailable_reason(suite).is_none(),
                description: suite.description().to_string(),
            })
            .collect()
    }

    /// Starts a test now and returns at once; progress and the end arrive through
    /// `listener`. The run checks the network first when it has web, messaging or throttling,
    /// and a failure while the device had no way out is `unreachable`, never `blocked`.
    /// Throws, before anything is measured, `InvalidInput` (no suite, no URL, a bad URL),
    /// `NotAllowed` (a suite the user has not allowed) or `Unavailable` (a suite this engine
    /// cannot run).
    pub fn start_run(
        &self,
        request: RunRequest,
        listener: Arc<dyn RunListener>,
    ) -> ApiResult<Arc<TaskHandle>> {
        let run = self
            .core
            .start_run(request, Arc::new(ListenerAdapter(listener)))?;
        Ok(Arc::new(TaskHandle::new(run)))
    }

    /// Runs a test and returns its summary; `listener` gets the same progress as with
    /// `startRun`. Cancelling the calling coroutine cancels the test. (Swift: `Task`
    /// cancellation does not reach Rust; use `startRun` and its handle to cancel.)
    pub async fn run(
        &self,
        request: RunRequest,
        listener: Arc<dyn RunListener>,
    ) -> ApiResult<RunSummary> {
        Ok(self
            .core
            .run(request, Arc::new(ListenerAdapter(listener)))
            .await?)
    }

    /// Runs a test, blocking the calling thread until it ends. Not from the main thread, and
    /// not from inside a listener callback (that throws `InvalidInput`).
    pub fn run_blocking(
        &self,
        request: RunRequest,
        listener: Arc<dyn RunListener>,
    ) -> ApiResult<RunSummary> {
        let run = self
            .core
            .start_run(request, Arc::new(ListenerAdapter(listener)))?;
        Ok(run.wait_blocking().map_err(core::EngineError::from)?)
    }

    /// One background cycle within `request.timeBudget`, in `request.network`: the
    /// connectivity check (when the user allows the connectivity suite; a changed state
    /// becomes a timeline entry), a small sample of web tests from
    /// `EngineConfig.backgroundSampleUrls` (when the internet is up, the network is neither
    /// metered nor constrained, and the background and monthly budgets have room), then the
    /// upload of the outbox to the collector (when configured and allowed; skipped when the
    /// check found no way out), through the platform uploader if set. Returns what it did and
    /// when it wants the next cycle: when the upload queue wants it, else in 6 hours, and
    /// within 15 minutes while the check sees trouble beyond the device (to record when it
    /// ends).
    pub async fn background_cycle(
        &self,
        request: BackgroundRequest,
    ) -> ApiResult<BackgroundSummary> {
        Ok(self.core.background_cycle(request).await?)
    }

    /// The blocking form of `backgroundCycle`, for workers that are already on a background
    /// thread (Android `Worker.doWork`).
    pub fn background_cycle_blocking(
        &self,
        request: BackgroundRequest,
    ) -> ApiResult<BackgroundSummary> {
        blocking(self.core.background_cycle(request))
    }

    /// One page of past results, newest first: `limit` (1 to 500) entries from `offset`, each
    /// with the words the run reported. Throws `InvalidInput` for a bad limit, `Storage` when
    /// the store cannot be read.
    pub async fn results_history(&self, offset: u32, limit: u32) -> ApiResult<ResultsPage> {
        let (offset, limit) = page_bounds(offset, limit);
        Ok(page(self.core.results_history(offset, limit).await?))
    }

    /// The blocking form of `resultsHistory` (not from the main thread).
    pub fn results_history_blocking(&self, offset: u32, limit: u32) -> ApiResult<ResultsPage> {
        let (offset, limit) = page_bounds(offset, limit);
        blocking(self.core.results_history(offset, limit)).map(page)
    }

    /// The most recent runs, newest first (`limit`: 1 to 500): how each ended
    /// (`status`), its results by group, and the targets it planned but did not measure
    /// (`notMeasured`: a cancelled run lists them). Its results are the history entries
    /// whose `run` equals its `run`.
    pub async fn past_runs(&self, limit: u32) -> ApiResult<Vec<PastRun>> {
        Ok(self.core.past_runs(limit as usize).await?)
    }

    /// The blocking form of `pastRuns` (not from the main thread).
    pub fn past_runs_blocking(&self, limit: u32) -> ApiResult<Vec<PastRun>> {
        blocking(self.core.past_runs(limit as usize))
    }

    /// One result (by its measurement id) with its OONI measurement. Throws `InvalidInput`
    /// when no stored result has that id.
    pub async fn result_detail(&self, id: String) -> ApiResult<ResultDetail> {
        Ok(detail(self.core.result_detail(id).await?))
    }

    /// The blocking form of `resultDetail`.
    pub fn result_detail_blocking(&self, id: String) -> ApiResult<ResultDetail> {
        blocking(self.core.result_detail(id)).map(detail)
    }

    /// Measurements waiting for upload (queued, held or failed), with their state and last
    /// error.
    pub async fn pending_uploads(&self) -> ApiResult<Vec<PendingUpload>> {
        Ok(pending(self.core.pending_uploads().await?))
    }

    /// The blocking form of `pendingUploads`.
    pub fn pending_uploads_blocking(&self) -> ApiResult<Vec<PendingUpload>> {
        blocking(self.core.pending_uploads()).map(pending)
    }

    /// Connectivity changes since `since`, oldest first (the shutdown timeline).
    pub async fn connectivity_timeline(&self, since: SystemTime) -> ApiResult<Vec<TimelineEntry>> {
        Ok(timeline(self.core.connectivity_timeline(since).await?))
    }

    /// The blocking form of `connectivityTimeline`.
    pub fn connectivity_timeline_blocking(
        &self,
        since: SystemTime,
    ) -> ApiResult<Vec<TimelineEntry>> {
        blocking(self.core.connectivity_timeline(since)).map(timeline)
    }

    /// Bytes received by measuring this calendar month (UTC), and the monthly budget.
    pub async fn data_used_this_month(&self) -> ApiResult<DataUsage> {
        Ok(self.core.data_used_this_month().await?)
    }

    /// The blocking form of `dataUsedThisMonth`.
    pub fn data_used_this_month_blocking(&self) -> ApiResult<DataUsage> {
        blocking(self.core.data_used_this_month())
    }

    /// Runs still going.
    pub fn active_runs(&self) -> u32 {
        u32::try_from(self.core.active_runs()).unwrap_or(u32::MAX)
    }

    /// Cancels every run and deletes everything Kuzet keeps in its data directory: results,
    /// queued uploads, the timeline, settings. Throws `Storage` if something cannot be deleted.
    pub async fn wipe(&self) -> ApiResult<()> {
        Ok(self.core.wipe().await?)
    }

    /// The blocking form of `wipe`.
    pub fn wipe_blocking(&self) -> ApiResult<()> {
        blocking(self.core.wipe())
    }
}

/// Waits on the calling thread for one of core's async calls, run on the library's runtime.
/// Refused on the library's own threads (a listener callback), where it would deadlock.
fn blocking<T>(
    call: impl std::future::Future<Output = Result<T, core::EngineError>>,
) -> ApiResult<T> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(KuzetError::InvalidInput {
            message: "a blocking call cannot be made from Kuzet's own threads (such as inside a \
                      listener callback); use the async form"
                .to_string(),
        });
    }
    Ok(runtime().block_on(call)?)
}

fn page(page: core::HistoryPage) -> ResultsPage {
    ResultsPage {
        items: page.items.into_iter().map(ResultItem::from).collect(),
        next_offset: page
            .next_offset
            .map(|o| u32::try_from(o).unwrap_or(u32::MAX)),
    }
}

fn detail(detail: core::StoredResultDetail) -> ResultDetail {
    ResultDetail {
        item: detail.item.into(),
        measurement_json: detail.measurement_json.unwrap_or_default(),
    }
}

fn pending(items: Vec<kuzet_core::store::OutboxItem>) -> Vec<PendingUpload> {
    items.iter().map(Into::into).collect()
}

fn timeline(transitions: Vec<kuzet_core::store::Transition>) -> Vec<TimelineEntry> {
    transitions
        .iter()
        .filter_map(TimelineEntry::from_transition)
        .collect()
}
