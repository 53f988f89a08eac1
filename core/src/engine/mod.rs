//! The engine embedding apps drive: one [`Engine`] per data directory, runs of chosen suites
//! with progress and cancellation, byte budgets, and the library's one tokio runtime.
//!
//! Pure Rust: the `kuzet-ffi` crate wraps this for Kotlin and Swift and adds nothing but type
//! conversions.
//!
//! Every run is recorded in the results store in the data directory (each target's result is
//! durable before the listener hears of it), which also serves the history, the upload queue,
//! the connectivity timeline and the month's data use.
//!
//! The web suite runs web_connectivity with the configured test helpers. Each run names the
//! probe's network (ASN, country) from the platform's [`NetworkContext`] ([`operators`]), so
//! its measurements can be uploaded. Reads of the store have blocking and `async` forms.
//!
//! The connectivity suite runs the connectivity check and records its timeline. The background
//! cycle checks connectivity, runs a small sample of tests when budgets allow, and uploads the
//! outbox. Not here yet: the messaging and throttling suites.

mod background;
mod connectivity;
mod context;
mod error;
mod history;
mod messaging;
pub mod operators;
mod progress;
mod run;
pub mod runtime;
mod suite;
mod throttling;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio_util::sync::CancellationToken;
use url::Url;

pub use background::{
    BackgroundRequest, BackgroundSummary, BACKGROUND_SAMPLE_SIZE, DEFAULT_BACKGROUND_INTERVAL,
    WATCH_INTERVAL,
};
pub use connectivity::{connectivity_verdict, CONNECTIVITY_TARGET};
pub use context::{NetworkContext, NetworkContextProvider, NetworkKind};
pub use error::EngineError;
pub use history::{
    result_blocking, result_bytes, result_explanation, result_suite, result_verdict, DataUsage,
    HistoryPage, StoredResultDetail, MAX_PAGE, MAX_TIMELINE,
};
pub use messaging::messaging_verdict;
pub use progress::{
    BlockingMethod, NoListener, RunListener, RunPhase, RunProgress, RunStatus, RunSummary,
    TargetResult, Verdict,
};
pub use run::RunHandle;
pub use suite::Suite;
pub use throttling::{throttling_verdict, ThroughputServer, DEFAULT_THROTTLING_TARGETS};

use crate::experiment::connectivity::ConnectivityConfig;
use crate::experiment::connectivity::ConnectivityStatus;
use crate::experiment::messaging::MessagingConfig;
use crate::experiment::urlgetter::{parse_target_url, Timeouts};
use crate::experiment::web_connectivity::{self as wc, WebConnectivityConfig};
use crate::net::trust::TrustAnchors;
use crate::probe::dns::DnsTransport;
use crate::report::{ProbeNetwork, Software};
use crate::store::{OutboxItem, Store, Transition};
use crate::th::BogonPolicy;
use crate::upload::{flush, FlushOptions, HttpUploader, UploadManager, UploadPolicy, Uploader};
use progress::Tracker;
use run::{spawn_run, RunPlan};

/// The user's consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// Measurements may be uploaded to the collector.
    pub upload_allowed: bool,
    /// The suites the user allows. A run asking for another is refused.
    pub allowed_suites: Vec<Suite>,
}

impl Default for Consent {
    /// Nothing uploaded; every suite allowed (measuring stays on the device).
    fn default() -> Self {
        Consent {
            upload_allowed: false,
            allowed_suites: Suite::ALL.to_vec(),
        }
    }
}

/// Data budgets, in bytes received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataBudgets {
    /// The most one "test now" run may use.
    pub run_bytes: u64,
    /// The most one background cycle may use.
    pub background_bytes: u64,
    /// The most all measuring may use in a calendar month (enforced once the results store
    /// keeps the month's tally).
    pub monthly_bytes: u64,
}

/// The default [`DataBudgets::run_bytes`]: 50 MiB.
pub const DEFAULT_RUN_BYTES: u64 = 50 << 20;
/// The default [`DataBudgets::background_bytes`]: 2 MiB.
pub const DEFAULT_BACKGROUND_BYTES: u64 = 2 << 20;
/// The default [`DataBudgets::monthly_bytes`]: 200 MiB.
pub const DEFAULT_MONTHLY_BYTES: u64 = 200 << 20;

impl Default for DataBudgets {
    fn default() -> Self {
        DataBudgets {
            run_bytes: DEFAULT_RUN_BYTES,
            background_bytes: DEFAULT_BACKGROUND_BYTES,
            monthly_bytes: DEFAULT_MONTHLY_BYTES,
        }
    }
}

/// The default number of targets measured at the same time.
pub const DEFAULT_PARALLELISM: usize = 4;
/// The most targets measured at the same time.
pub const MAX_PARALLELISM: usize = 16;

/// How an engine measures and where it keeps its data.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// A directory the engine owns (created if missing; [`Engine::wipe`] empties it).
    pub data_dir: PathBuf,
    /// The embedding app, as named in every measurement.
    pub software: Software,
    /// Where measurements are uploaded (OONI's collector or a private one).
    pub collector_url: Option<Url>,
    /// Web-connectivity test helpers, tried in order.
    pub test_helper_urls: Vec<Url>,
    /// What the user agreed to.
    pub consent: Consent,
    /// Data budgets.
    pub budgets: DataBudgets,
    /// The resolver every lookup uses.
    pub resolver: DnsTransport,
    /// The roots certificates are checked against.
    pub trust: TrustAnchors,
    /// Per-step timeouts.
    pub timeouts: Timeouts,
    /// Targets measured at the same time (1 to [`MAX_PARALLELISM`]).
    pub parallelism: usize,
    /// The probe's network as far as the configuration knows (AS0/ZZ by default). Each run
    /// refines it with the platform's [`NetworkContext`] (see [`operators::probe_network`]).
    pub probe_network: ProbeNetwork,
    /// Which addresses web_connectivity calls bogons (on by default; loopback and lab tests
    /// turn it off or list their "public" networks).
    pub bogons: BogonPolicy,
    /// The connectivity check's anchors, captive check, timeouts, re-checks and rules
    /// ([`ConnectivityConfig::kazakhstan`] by default). Its trust, software and network are
    /// the engine's.
    pub connectivity: ConnectivityConfig,
    /// URLs a background cycle may sample from ([`BACKGROUND_SAMPLE_SIZE`] at a time, at
    /// random); empty (the default) runs no tests in the background.
    pub background_sample_urls: Vec<String>,
    /// Kuzet's throughput server, which the throttling suite needs (none by default: runs of
    /// that suite are refused until one is set).
    pub throughput_server: Option<ThroughputServer>,
    /// The messaging suite's endpoints, apps and bounds ([`MessagingConfig::default`]: the real
    /// services). Its resolver, trust, software and network are the engine's.
    pub messaging: MessagingConfig,
}

impl EngineConfig {
    /// A configuration with every default, for `data_dir` and the given app.
    pub fn new(data_dir: impl Into<PathBuf>, software: Software) -> Self {
        EngineConfig {
            data_dir: data_dir.into(),
            software,
            collector_url: None,
            test_helper_urls: Vec::new(),
            consent: Consent::default(),
            budgets: DataBudgets::default(),
            resolver: DnsTransport::System,
            trust: TrustAnchors::bundled(),
            timeouts: Timeouts::default(),
            parallelism: DEFAULT_PARALLELISM,
            probe_network: ProbeNetwork::default(),
            bogons: BogonPolicy::default(),
            connectivity: ConnectivityConfig::kazakhstan(),
            background_sample_urls: Vec::new(),
            throughput_server: None,
            messaging: MessagingConfig::default(),
        }
    }

    fn validate(&self) -> Result<(), EngineError> {
        let invalid = |message: String| Err(EngineError::InvalidInput(message));
        let name = &self.software.name;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.+-".contains(&b))
        {
            return invalid(format!(
                "software name {name:?} must be non-empty and use only letters, digits and _ . + -"
            ));
        }
        if self.software.version.trim().is_empty() {
            return invalid("software version must not be empty".to_string());
        }
        if self.data_dir.as_os_str().is_empty() || !self.data_dir.is_absolute() {
            return invalid(format!(
                "data directory {:?} must be an absolute path",
                self.data_dir
            ));
        }
        if !(1..=MAX_PARALLELISM).contains(&self.parallelism) {
            return invalid(format!(
                "parallelism {} must be from 1 to {MAX_PARALLELISM}",
                self.parallelism
            ));
        }
        if self.budgets.run_bytes == 0 {
            return invalid("the run data budget must be more than 0 bytes".to_string());
        }
        self.connectivity
            .validate()
            .and_then(|()| self.connectivity.resolver_transport().map(drop))
            .map_err(|e| EngineError::InvalidInput(e.to_string()))?;
        for url in &self.background_sample_urls {
            parse_target_url(url)?;
        }
        Ok(())
    }
}

/// Parses a collector or test-helper URL: `https`, or `http` for loopback test servers.
pub fn parse_service_url(what: &str, text: &str) -> Result<Url, EngineError> {
    let url = Url::parse(text)
        .map_err(|e| EngineError::InvalidInput(format!("{what} {text:?} is not a URL: {e}")))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(EngineError::InvalidInput(format!(
            "{what} {text:?} must be an https URL (http only for loopback test servers)"
        ))),
    }
}

/// What to measure in one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunRequest {
    /// The suites, measured in [`Suite::ALL`] order; duplicates are ignored.
    pub suites: Vec<Suite>,
    /// URLs for the web suite (http or https).
    pub web_urls: Vec<String>,
    /// A lower byte budget for this run only (never above the configured one).
    pub byte_budget: Option<u64>,
    /// Names (SNIs) for the throttling suite; empty for [`DEFAULT_THROTTLING_TARGETS`].
    pub throttling_targets: Vec<String>,
}

/// The engine: one per data directory. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    config: EngineConfig,
    network: RwLock<Option<Arc<dyn NetworkContextProvider>>>,
    /// Parent of every run's cancellation token; replaced after `wipe` cancels it.
    runs: Mutex<CancellationToken>,
    active: Arc<AtomicUsize>,
    /// The results store, opened once; `None` after `wipe` until the next use reopens it.
    store: Mutex<Option<Arc<Store>>>,
    /// The platform's uploader, if the app set one.
    uploader: RwLock<Option<Arc<dyn Uploader>>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("data_dir", &self.inner.config.data_dir)
            .field("active_runs", &self.active_runs())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Checks `config` and creates the data directory.
    pub fn new(config: EngineConfig) -> Result<Engine, EngineError> {
        config.validate()?;
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            EngineError::storage("cannot create the data directory", &config.data_dir, e)
        })?;
        let store = history::open_store(&config.data_dir)?;
        Ok(Engine {
            inner: Arc::new(Inner {
                config,
                network: RwLock::new(None),
                runs: Mutex::new(CancellationToken::new()),
                active: Arc::new(AtomicUsize::new(0)),
                store: Mutex::new(Some(store)),
                uploader: RwLock::new(None),
            }),
        })
    }

    /// The results store, reopened (created) if `wipe` closed it.
    pub fn store(&self) -> Result<Arc<Store>, EngineError> {
        let mut store = self.inner.store.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(store) = store.as_ref() {
            return Ok(store.clone());
        }
        let opened = history::open_store(&self.inner.config.data_dir)?;
        *store = Some(opened.clone());
        Ok(opened)
    }

    /// One page of past results, newest first: `limit` (1 to [`MAX_PAGE`]) entries from
    /// `offset`. Blocks on the store: call it off the UI thread, or use
    /// [`Engine::results_history_async`].
    pub fn results_history(&self, offset: usize, limit: usize) -> Result<HistoryPage, EngineError> {
        history::history_page(self.store()?.as_ref(), offset, limit)
    }

    /// One stored result by its measurement id, with its explanation and measurement. Blocks on
    /// the store.
    pub fn result_detail(&self, id: &str) -> Result<StoredResultDetail, EngineError> {
        history::result_detail(self.store()?.as_ref(), id)
    }

    /// Measurements not yet uploaded (pending, held or parked), with state and last error.
    /// Blocks on the store.
    pub fn pending_uploads(&self) -> Result<Vec<OutboxItem>, EngineError> {
        history::pending_uploads(self.store()?.as_ref())
    }

    /// Connectivity changes at or after `since`, oldest first (at most [`MAX_TIMELINE`]).
    /// Blocks on the store.
    pub fn connectivity_timeline(
        &self,
        since: std::time::SystemTime,
    ) -> Result<Vec<Transition>, EngineError> {
        history::timeline(self.store()?.as_ref(), since)
    }

    /// Bytes received by this calendar month's recorded results, and the monthly budget.
    /// Blocks on the store.
    pub fn data_used_this_month(&self) -> Result<DataUsage, EngineError> {
        history::data_used_this_month(
            self.store()?.as_ref(),
            self.inner.config.budgets.monthly_bytes,
        )
    }

    /// Runs a blocking call of this engine on the library runtime's blocking threads
    /// (`spawn_blocking`), so async callers on any executor never block their own threads. The
    /// call runs to its end even if the caller stops waiting (SQLite calls are short and
    /// cannot be interrupted).
    async fn off_thread<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Engine) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, EngineError> {
        let engine = self.clone();
        runtime::run_blocking(runtime::runtime().handle(), move || call(&engine)).await
    }

    /// [`Engine::results_history`] off the caller's thread.
    pub async fn results_history_async(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<HistoryPage, EngineError> {
        self.off_thread(move |engine| engine.results_history(offset, limit))
            .await
    }

    /// [`Engine::result_detail`] off the caller's thread.
    pub async fn result_detail_async(&self, id: String) -> Result<StoredResultDetail, EngineError> {
        self.off_thread(move |engine| engine.result_detail(&id))
            .await
    }

    /// [`Engine::pending_uploads`] off the caller's thread.
    pub async fn pending_uploads_async(&self) -> Result<Vec<OutboxItem>, EngineError> {
        self.off_thread(Engine::pending_uploads).await
    }

    /// [`Engine::connectivity_timeline`] off the caller's thread.
    pub async fn connectivity_timeline_async(
        &self,
        since: std::time::SystemTime,
    ) -> Result<Vec<Transition>, EngineError> {
        self.off_thread(move |engine| engine.connectivity_timeline(since))
            .await
    }

    /// [`Engine::data_used_this_month`] off the caller's thread.
    pub async fn data_used_this_month_async(&self) -> Result<DataUsage, EngineError> {
        self.off_thread(Engine::data_used_this_month).await
    }

    /// [`Engine::wipe`] off the caller's thread.
    pub async fn wipe_async(&self) -> Result<(), EngineError> {
        self.off_thread(Engine::wipe).await
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Sets (or clears) where runs learn the current network.
    pub fn set_network_provider(&self, provider: Option<Arc<dyn NetworkContextProvider>>) {
        *self
            .inner
            .network
            .write()
            .unwrap_or_else(|e| e.into_inner()) = provider;
    }

    /// Sets (or clears) the platform uploader background cycles upload through; without one
    /// the engine uploads by itself ([`HttpUploader`]).
    pub fn set_uploader(&self, uploader: Option<Arc<dyn Uploader>>) {
        *self
            .inner
            .uploader
            .write()
            .unwrap_or_else(|e| e.into_inner()) = uploader;
    }

    /// Why this engine cannot run `suite`, if it cannot: not built in this version, or (for
    /// throttling) no throughput server configured.
    pub fn unavailable_reason(&self, suite: Suite) -> Option<String> {
        if let Some(reason) = suite.unavailable_reason() {
            return Some(reason);
        }
        if suite == Suite::Throttling && self.inner.config.throughput_server.is_none() {
            return Some(
                "the throttling suite needs Kuzet's throughput server: set its address and key pin in the configuration"
                    .to_string(),
            );
        }
        None
    }

    /// Runs still going.
    pub fn active_runs(&self) -> usize {
        self.inner.active.load(Ordering::Acquire)
    }

    /// Checks `request` against consent, availability and input, then starts it on the
    /// library's runtime. Nothing is measured when this returns an error.
    pub fn start_run(
        &self,
        request: RunRequest,
        listener: Arc<dyn RunListener>,
    ) -> Result<RunHandle, EngineError> {
        self.start_run_in(request, listener, None)
    }

    /// [`Engine::start_run`], in `network` when given instead of asking the provider.
    fn start_run_in(
        &self,
        request: RunRequest,
        listener: Arc<dyn RunListener>,
        network: Option<NetworkContext>,
    ) -> Result<RunHandle, EngineError> {
        let config = &self.inner.config;
        let suites: BTreeSet<Suite> = crate::ordered::btree_set(request.suites.iter().copied());
        if suites.is_empty() {
            return Err(EngineError::InvalidInput(
                "a run needs at least one suite".to_string(),
            ));
        }
        let suites: Vec<Suite> = Suite::ALL
            .into_iter()
            .filter(|s| suites.contains(s))
            .collect();
        for suite in &suites {
            if !config.consent.allowed_suites.contains(suite) {
                return Err(EngineError::NotAllowed(format!(
                    "the user has not allowed the {suite} suite"
                )));
            }
        }
        for suite in &suites {
            if let Some(reason) = self.unavailable_reason(*suite) {
                return Err(EngineError::Unavailable(reason));
            }
        }
        if suites.contains(&Suite::Web) {
            if request.web_urls.is_empty() {
                return Err(EngineError::InvalidInput(
                    "the web suite needs at least one URL".to_string(),
                ));
            }
            for url in &request.web_urls {
                parse_target_url(url)?;
            }
        }
        let throttling_targets = if suites.contains(&Suite::Throttling) {
            let targets: Vec<String> = if request.throttling_targets.is_empty() {
                DEFAULT_THROTTLING_TARGETS.map(str::to_string).to_vec()
            } else {
                request.throttling_targets.clone()
            };
            for name in &targets {
                let usable = !name.is_empty()
                    && name.parse::<std::net::IpAddr>().is_err()
                    && rustls::pki_types::ServerName::try_from(name.as_str()).is_ok();
                if !usable {
                    return Err(EngineError::InvalidInput(format!(
                        "throttling target {name:?} is not a host name"
                    )));
                }
            }
            targets
        } else {
            Vec::new()
        };
        let byte_budget = match request.byte_budget {
            Some(0) => {
                return Err(EngineError::InvalidInput(
                    "a run's byte budget must be more than 0".to_string(),
                ))
            }
            Some(bytes) => bytes.min(config.budgets.run_bytes),
            None => config.budgets.run_bytes,
        };
        let web_urls = if suites.contains(&Suite::Web) {
            request.web_urls
        } else {
            Vec::new()
        };
        let checks = usize::from(suites.contains(&Suite::Connectivity));
        let apps = if suites.contains(&Suite::Messaging) {
            config
                .messaging
                .validate()
                .map_err(|e| EngineError::InvalidInput(e.to_string()))?;
            config.messaging.apps.len()
        } else {
            0
        };
        let total = u32::try_from(web_urls.len() + checks + throttling_targets.len() + apps)
            .unwrap_or(u32::MAX);
        let provider: Option<Arc<dyn NetworkContextProvider>> = match network {
            Some(context) => Some(Arc::new(context::Fixed(context))),
            None => self
                .inner
                .network
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        };

        let plan = RunPlan {
            run_id: crate::random::uuid_v4().to_string(),
            suites,
            web_urls,
            web: WebConnectivityConfig {
                resolver: config.resolver.clone(),
                timeouts: wc::Timeouts::from_steps(config.timeouts.clone()),
                trust: config.trust.clone(),
                software: config.software.clone(),
                bogons: config.bogons.clone(),
                ..WebConnectivityConfig::default()
            },
            test_helpers: config.test_helper_urls.clone(),
            probe_network: config.probe_network.clone(),
            connectivity: Arc::new(config.connectivity.clone()),
            throughput_server: config.throughput_server.clone(),
            throttling_targets,
            messaging: Arc::new(config.messaging.clone()),
            parallelism: config.parallelism,
            network: provider,
            store: self.store()?,
        };
        let token = self
            .inner
            .runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .child_token();
        let tracker = Tracker::new(listener, byte_budget, total);
        Ok(spawn_run(plan, tracker, token, self.inner.active.clone()))
    }

    /// Starts `request` and waits for its summary. Dropping the future cancels the run.
    pub async fn run(
        &self,
        request: RunRequest,
        listener: Arc<dyn RunListener>,
    ) -> Result<RunSummary, EngineError> {
        self.start_run(request, listener)?.wait().await
    }

    /// One background cycle within `request.time_budget`, in the network the platform sees
    /// (`request.network`):
    /// 1. the cheap connectivity check (when the user allows the connectivity suite), at most
    ///    half the time budget; a changed status becomes a timeline transition and its
    ///    measurement is queued;
    /// 2. a small sample of web tests ([`BACKGROUND_SAMPLE_SIZE`] URLs from
    ///    [`EngineConfig::background_sample_urls`]) when the internet is up, the user allows
    ///    the web suite, the network is neither metered nor constrained, and the background and
    ///    monthly budgets have room; at most half the time left;
    /// 3. the upload of the outbox to the configured collector (when there is one and the user
    ///    allows uploads) through the platform's uploader if set, else by itself; skipped when
    ///    the check found no way out (the device offline, its link down, a data blackout).
    ///
    /// It asks for the next cycle when the upload queue wants it, else in
    /// [`DEFAULT_BACKGROUND_INTERVAL`], and within [`WATCH_INTERVAL`] while the check sees
    /// trouble beyond the device (to record when it ends).
    ///
    /// The cycle runs on the library's runtime, so it may be awaited from any executor; it is
    /// bounded by the time budget and finishes even if the caller stops waiting.
    pub async fn background_cycle(
        &self,
        request: BackgroundRequest,
    ) -> Result<BackgroundSummary, EngineError> {
        let engine = self.clone();
        runtime::runtime()
            .spawn(async move { engine.background_cycle_here(request).await })
            .await
            .map_err(EngineError::from_join)?
    }

    async fn background_cycle_here(
        &self,
        request: BackgroundRequest,
    ) -> Result<BackgroundSummary, EngineError> {
        let config = &self.inner.config;
        let store = self.store()?;
        let deadline = tokio::time::Instant::now() + request.time_budget;
        let mut summary = BackgroundSummary {
            uploaded: 0,
            upload_failures: 0,
            pending: 0,
            connectivity_checked: false,
            connectivity: None,
            timeline_changed: false,
            tests_run: 0,
            bytes_used: 0,
            next_run_in: DEFAULT_BACKGROUND_INTERVAL,
        };
        let token = self
            .inner
            .runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .child_token();
        let probe = operators::probe_network(&config.probe_network, &request.network);

        // 1. The connectivity check.
        if config.consent.allowed_suites.contains(&Suite::Connectivity) {
            let setup = connectivity::CheckSetup {
                config: &config.connectivity,
                trust: &config.trust,
                software: &config.software,
                network: &probe,
            };
            let checking = connectivity::check(setup, &request.network, &token);
            match tokio::time::timeout(request.time_budget / 2, checking).await {
                Ok(Ok(Some(outcome))) => {
                    summary.connectivity_checked = true;
                    summary.connectivity = Some(outcome.status);
                    summary.bytes_used = summary.bytes_used.saturating_add(outcome.bytes.total);
                    let (_, changed) = connectivity::record(&store, outcome, None).await;
                    summary.timeline_changed = changed;
                }
                Ok(Ok(None)) => {
                    return Err(EngineError::Internal(
                        "the background cycle was cancelled (the data was wiped)".to_string(),
                    ))
                }
                Ok(Err(error)) => tracing::error!("the connectivity check could not run: {error}"),
                Err(_) => tracing::warn!(
                    "the connectivity check did not finish within half the time budget"
                ),
            }
        }
        let way_out = !matches!(
            summary.connectivity,
            Some(
                ConnectivityStatus::LocalDevice
                    | ConnectivityStatus::LocalLink
                    | ConnectivityStatus::DataBlackout
            )
        ) && request.network.kind != NetworkKind::Offline;

        // 2. A small sample of tests.
        if let Some(sample) = self.background_sample(&request, &summary).await? {
            let byte_budget = config
                .budgets
                .background_bytes
                .saturating_sub(summary.bytes_used);
            let run = RunRequest {
                suites: vec![Suite::Web],
                web_urls: sample,
                byte_budget: Some(byte_budget),
                throttling_targets: Vec::new(),
            };
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.start_run_in(run, Arc::new(NoListener), Some(request.network.clone())) {
                // Dropping the handle when time is up cancels the sample.
                Ok(handle) => match tokio::time::timeout(left / 2, handle.wait()).await {
                    Ok(Ok(run)) => {
                        summary.tests_run = u32::try_from(run.results.len()).unwrap_or(u32::MAX);
                        summary.bytes_used = summary.bytes_used.saturating_add(run.bytes_used);
                    }
                    Ok(Err(error)) => tracing::error!("the background sample failed: {error}"),
                    Err(_) => tracing::warn!(
                        "the background sample was cut at its share of the time budget"
                    ),
                },
                Err(error) => tracing::error!("the background sample could not start: {error}"),
            }
        }

        // 3. The upload.
        if let (Some(collector), true, true) = (
            &config.collector_url,
            config.consent.upload_allowed,
            way_out,
        ) {
            let foreign = self
                .inner
                .uploader
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            // The platform's uploader is handed plain bodies: it sends only `Content-Type`.
            let policy = UploadPolicy {
                compress: foreign.is_none() && UploadPolicy::default().compress,
                ..UploadPolicy::default()
            };
            let manager = {
                let (store, collector) = (store.clone(), collector.to_string());
                Arc::new(
                    history::blocking(move || {
                        UploadManager::new(store, &collector, policy).map_err(EngineError::from)
                    })
                    .await?,
                )
            };
            let uploader: Arc<dyn Uploader> = match foreign {
                Some(uploader) => uploader,
                None => Arc::new(HttpUploader::new(&config.trust, manager.policy())?),
            };
            let report = flush(
                manager.clone(),
                uploader,
                FlushOptions {
                    max_duration: deadline.saturating_duration_since(tokio::time::Instant::now()),
                },
            )
            .await?;
            summary.uploaded = u32::try_from(report.delivered).unwrap_or(u32::MAX);
            summary.upload_failures = u32::try_from(report.failures).unwrap_or(u32::MAX);
            let wakeup =
                history::blocking(move || manager.next_wakeup().map_err(EngineError::from)).await?;
            if let Some(wakeup) = wakeup {
                summary.next_run_in = wakeup;
            }
        }
        let stats =
            history::blocking(move || store.queue_stats().map_err(EngineError::from)).await?;
        summary.pending = u32::try_from(stats.pending).unwrap_or(u32::MAX);
        if summary
            .connectivity
            .is_some_and(ConnectivityStatus::is_beyond_local)
        {
            // Something is wrong beyond the device: look again soon, to see when it ends.
            summary.next_run_in = summary.next_run_in.min(WATCH_INTERVAL);
        }
        tracing::info!(
            checked = summary.connectivity_checked,
            status = summary.connectivity.map(ConnectivityStatus::as_str),
            tests = summary.tests_run,
            uploaded = summary.uploaded,
            failures = summary.upload_failures,
            pending = summary.pending,
            "background cycle finished"
        );
        Ok(summary)
    }

    /// The URLs of a background cycle's sample, if one may run now (see
    /// [`Engine::background_cycle`]).
    async fn background_sample(
        &self,
        request: &BackgroundRequest,
        summary: &BackgroundSummary,
    ) -> Result<Option<Vec<String>>, EngineError> {
        let config = &self.inner.config;
        let internet_up = match summary.connectivity {
            Some(status) => status == ConnectivityStatus::Ok,
            None => request.network.kind != NetworkKind::Offline,
        };
        if config.background_sample_urls.is_empty()
            || !internet_up
            || !config.consent.allowed_suites.contains(&Suite::Web)
            || request.network.metered
            || request.network.constrained
            || summary.bytes_used >= config.budgets.background_bytes
        {
            return Ok(None);
        }
        let used = self.data_used_this_month_async().await?;
        if used.bytes_used >= used.monthly_budget {
            tracing::info!("the monthly data budget is used up: no background tests");
            return Ok(None);
        }
        let sample = crate::random::FastRng::from_entropy()
            .sample(&config.background_sample_urls, BACKGROUND_SAMPLE_SIZE)
            .into_iter()
            .cloned()
            .collect();
        Ok(Some(sample))
    }

    /// Cancels every run, empties the results store ([`Store::wipe`]) and closes it, then
    /// deletes everything in the data directory (the directory stays). The store is created
    /// afresh on its next use.
    pub fn wipe(&self) -> Result<(), EngineError> {
        {
            let mut runs = self.inner.runs.lock().unwrap_or_else(|e| e.into_inner());
            runs.cancel();
            *runs = CancellationToken::new();
        }
        {
            let mut store = self.inner.store.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(open) = store.take() {
                open.wipe()?;
            }
        }
        let dir = &self.inner.config.data_dir;
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return std::fs::create_dir_all(dir)
                    .map_err(|e| EngineError::storage("cannot create the data directory", dir, e))
            }
            Err(e) => return Err(EngineError::storage("cannot list", dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| EngineError::storage("cannot list", dir, e))?;
            let path = entry.path();
            // `file_type` does not follow symbolic links: a link is removed, not its target.
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let removed = if is_dir {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(|e| EngineError::storage("cannot delete", &path, e))?;
        }
        tracing::info!("data directory wiped");
        Ok(())
    }
}

#[cfg(test)]
mod tests;
