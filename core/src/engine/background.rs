//! The background cycle an app's periodic worker (WorkManager, BGTaskScheduler) runs: a
//! connectivity check, a small sample of tests when budgets and the network allow, then the
//! upload of the outbox; with what it did and when it would like the next cycle.

use std::sync::Arc;
use std::time::Duration;

use super::error::EngineError;
use super::{planning, Engine};
use crate::experiment::connectivity::ConnectivityStatus;
use crate::session::{
    operators::probe_network, NetworkContext, NetworkGuard, NetworkKind, NoListener, Suite,
};
use crate::upload::{flush, FlushOptions, HttpUploader, UploadManager, UploadPolicy, Uploader};

/// When the engine asks for the next cycle if nothing is waiting for upload: every 6 hours.
pub const DEFAULT_BACKGROUND_INTERVAL: Duration = Duration::from_secs(6 * 60 * 60);

/// When the engine asks for the next cycle while the connectivity check sees trouble beyond the
/// device (a blackout, a cut, a block): 15 minutes, Android's shortest periodic work.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// How many URLs one background cycle measures at most.
pub const BACKGROUND_SAMPLE_SIZE: usize = 3;

/// One background cycle's limits and circumstances.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Record))]
pub struct BackgroundRequest {
    /// How long the platform lets the cycle run (about 30 s for an iOS app refresh, up to 10
    /// minutes for an Android worker).
    pub time_budget: Duration,
    /// The network the platform sees right now.
    pub network: NetworkContext,
}

/// What a background cycle did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Record))]
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

impl Engine {
    /// One background cycle within `request.time_budget`, in the network the platform sees
    /// (`request.network`):
    /// 1. the connectivity check (when the user allows the connectivity suite), at most half
    ///    the time budget; a changed status becomes a timeline transition and its measurement
    ///    is queued;
    /// 2. a small sample of web tests ([`BACKGROUND_SAMPLE_SIZE`] URLs from
    ///    [`super::EngineConfig::background_sample_urls`]) when the internet is up, the user
    ///    allows the web suite, the network is neither metered nor constrained, and the
    ///    background and monthly budgets have room; at most half the time left (the run reuses
    ///    the check just made);
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
        crate::runtime::runtime()
            .spawn(async move { engine.background_cycle_here(request).await })
            .await
            .map_err(EngineError::from_join)?
    }

    async fn background_cycle_here(
        &self,
        request: BackgroundRequest,
    ) -> Result<BackgroundSummary, EngineError> {
        let config = self.config();
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
        let token = self.child_token();

        // 1. The connectivity check.
        if config.consent.allowed_suites.contains(&Suite::Connectivity) {
            let mut connectivity = planning::setup(config).connectivity;
            connectivity.software = config.software.clone();
            connectivity.network = probe_network(&config.probe_network, &request.network);
            let mut guard = NetworkGuard::new(
                connectivity,
                request.network.platform_state(),
                Some(store.clone()),
                true,
            );
            let checking = guard.check(None, false, &token);
            match tokio::time::timeout(request.time_budget / 2, checking).await {
                Ok(Some(checked)) => {
                    summary.connectivity_checked = true;
                    summary.connectivity = Some(checked.outcome.status);
                    summary.bytes_used = summary
                        .bytes_used
                        .saturating_add(checked.outcome.bytes.total);
                    summary.timeline_changed = checked
                        .recording
                        .is_some_and(|recording| recording.transition.is_some());
                }
                Ok(None) if token.is_cancelled() => {
                    return Err(EngineError::Internal(
                        "the background cycle was cancelled (the data was wiped)".to_string(),
                    ))
                }
                Ok(None) => tracing::error!("the connectivity check could not run"),
                Err(_) => tracing::warn!(
                    "the connectivity check did not finish within half the time budget"
                ),
            }
        }
        let way_out = !summary
            .connectivity
            .is_some_and(ConnectivityStatus::has_no_path)
            && request.network.kind != NetworkKind::Offline;

        // 2. A small sample of tests.
        if let Some(sample) = self.background_sample(&request, &summary).await? {
            let run = planning::RunRequest {
                suites: vec![Suite::Web],
                web_urls: sample,
                byte_budget: Some(
                    config
                        .budgets
                        .background_bytes
                        .saturating_sub(summary.bytes_used),
                ),
                throttling_targets: Vec::new(),
            };
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.start_run_in(run, Arc::new(NoListener), request.network.clone()) {
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
            let foreign = self.uploader();
            // The platform's uploader is handed plain bodies: it sends only `Content-Type`.
            let policy = UploadPolicy {
                compress: foreign.is_none() && UploadPolicy::default().compress,
                ..UploadPolicy::default()
            };
            let manager = {
                let (store, collector) = (store.clone(), collector.to_string());
                Arc::new(
                    super::blocking(move || {
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
                super::blocking(move || manager.next_wakeup().map_err(EngineError::from)).await?;
            if let Some(wakeup) = wakeup {
                summary.next_run_in = wakeup;
            }
        }
        let stats = super::blocking(move || store.queue_stats().map_err(EngineError::from)).await?;
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
        let config = self.config();
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
        let used = self.data_used_this_month().await?;
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
}
