//! The engine embedding apps drive: one [`Engine`] per data directory. It turns the app's
//! configuration (`config.rs`) and requests (`planning.rs`) into runs on the one run path
//! ([`crate::session`]) every front end shares, runs the background cycle (`background.rs`),
//! and reads back the history, the upload queue, the connectivity timeline and the month's
//! data use (`reads.rs`).
//!
//! Pure Rust: the `kuzet-ffi` crate wraps this for Kotlin and Swift. Every run is recorded in
//! the results store in the data directory, each result durable before the listener hears of
//! it, with the words it was reported with. Connectivity, web and messaging are always
//! available, throttling once a throughput server is configured; the urls suite (single URLs,
//! step by step) is the command line's.

mod background;
mod config;
mod error;
mod planning;
mod reads;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio_util::sync::CancellationToken;

pub use background::{
    BackgroundRequest, BackgroundSummary, BACKGROUND_SAMPLE_SIZE, DEFAULT_BACKGROUND_INTERVAL,
    WATCH_INTERVAL,
};
pub use config::{parse_service_url, Consent, DataBudgets, EngineConfig, ThroughputServer};
pub use error::EngineError;
pub use planning::RunRequest;
pub use reads::{DataUsage, HistoryPage, StoredResultDetail, MAX_PAGE, MAX_TIMELINE};

pub use crate::session::{
    NetworkContext, NetworkContextProvider, NetworkKind, NoListener, NotMeasured, RunHandle,
    RunListener, RunPhase, RunProgress, RunStatus, RunSummary, Suite, TargetResult, Verdict,
    VerdictGroup,
};
use crate::store::{Store, StorePolicy};
use crate::upload::Uploader;

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

/// Runs a blocking call on the library runtime's blocking threads.
pub(crate) async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    crate::runtime::run_blocking(crate::runtime::runtime().handle(), call)
        .await
        .map_err(EngineError::Internal)?
}

/// Decrements the engine's count of active runs when a run's task ends, even when aborted.
struct ActiveGuard(Arc<AtomicUsize>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Engine {
    /// Checks `config`, creates the data directory and opens the store (upgrading results of
    /// earlier versions).
    pub fn new(config: EngineConfig) -> Result<Engine, EngineError> {
        config.validate()?;
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            EngineError::storage("cannot create the data directory", &config.data_dir, e)
        })?;
        let store = open_store(&config)?;
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
        let opened = open_store(&self.inner.config)?;
        *store = Some(opened.clone());
        Ok(opened)
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
    /// the engine uploads by itself.
    pub fn set_uploader(&self, uploader: Option<Arc<dyn Uploader>>) {
        *self
            .inner
            .uploader
            .write()
            .unwrap_or_else(|e| e.into_inner()) = uploader;
    }

    fn uploader(&self) -> Option<Arc<dyn Uploader>> {
        self.inner
            .uploader
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Why this engine cannot run `suite`, if it cannot: the command line's alone (single
    /// URLs), or (throttling) no throughput server configured. Consent is checked separately.
    pub fn unavailable_reason(&self, suite: Suite) -> Option<String> {
        planning::unavailable_reason(&self.inner.config, suite)
    }

    /// Runs still going.
    pub fn active_runs(&self) -> usize {
        self.inner.active.load(Ordering::Acquire)
    }

    /// A new child of the runs' cancellation token (cancelled by `wipe`).
    fn child_token(&self) -> CancellationToken {
        self.inner
            .runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .child_token()
    }

    /// The network the provider reports now, or unknown without one (a panicking provider
    /// counts as unknown).
    fn current_network(&self) -> NetworkContext {
        let provider = self
            .inner
            .network
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        provider
            .and_then(|provider| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    provider.current_network()
                }))
                .map_err(|_| tracing::warn!("network context provider panicked; network unknown"))
                .ok()
            })
            .unwrap_or_default()
    }

    /// Checks `request` against consent, availability and input, then starts it on the
    /// library's runtime. Nothing is measured when this returns an error.
    pub fn start_run(
        &self,
        request: RunRequest,
        listener: Arc<dyn RunListener>,
    ) -> Result<RunHandle, EngineError> {
        let network = self.current_network();
        self.start_run_in(request, listener, network)
    }

    /// [`Engine::start_run`] in `network`.
    fn start_run_in(
        &self,
        request: RunRequest,
        listener: Arc<dyn RunListener>,
        network: NetworkContext,
    ) -> Result<RunHandle, EngineError> {
        let plan = planning::plan(&self.inner.config, request, network, self.store()?)?;
        self.inner.active.fetch_add(1, Ordering::AcqRel);
        let active = ActiveGuard(self.inner.active.clone());
        crate::session::start_with(plan, listener, self.child_token(), Some(Box::new(active)))
            .map_err(EngineError::from)
    }

    /// Starts `request` and waits for its summary. Dropping the future cancels the run.
    pub async fn run(
        &self,
        request: RunRequest,
        listener: Arc<dyn RunListener>,
    ) -> Result<RunSummary, EngineError> {
        Ok(self.start_run(request, listener)?.wait().await?)
    }

    /// Cancels every run, empties the results store ([`Store::wipe`]) and closes it, then
    /// deletes everything in the data directory (the directory stays). The store is created
    /// afresh on its next use.
    pub async fn wipe(&self) -> Result<(), EngineError> {
        let engine = self.clone();
        blocking(move || engine.wipe_here()).await
    }

    fn wipe_here(&self) -> Result<(), EngineError> {
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

/// Opens (or creates) the engine's store.
fn open_store(config: &EngineConfig) -> Result<Arc<Store>, EngineError> {
    crate::session::open_store(&config.data_dir, StorePolicy::default())
        .map(Arc::new)
        .map_err(EngineError::from)
}

#[cfg(test)]
mod tests;
