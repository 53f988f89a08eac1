//! One run: the orchestration task, the web suite's loop, and the handle that cancels it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use time::OffsetDateTime;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::context::{NetworkContext, NetworkContextProvider, NetworkKind};
use super::error::EngineError;
use super::explain::explain_web;
use super::history::{self, blocking};
use super::progress::{RunPhase, RunStatus, RunSummary, TargetResult, Tracker, Verdict};
use super::runtime::runtime;
use super::suite::Suite;
use crate::experiment::urlgetter::{measure_url, UrlGetterConfig, UrlGetterResult};
use crate::report::Measurement;
use crate::store::{NetworkType, NewRun, RunId, Store};

/// A validated run, ready to start.
pub(crate) struct RunPlan {
    pub(crate) run_id: String,
    pub(crate) suites: Vec<Suite>,
    pub(crate) web_urls: Vec<String>,
    pub(crate) urlgetter: Arc<UrlGetterConfig>,
    pub(crate) parallelism: usize,
    pub(crate) network: Option<Arc<dyn NetworkContextProvider>>,
    /// Where each result is recorded before the listener hears of it.
    pub(crate) store: Arc<Store>,
}

/// Why a suite stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Cancelled,
    Budget,
}

/// A running (or finished) run. Dropping it cancels the run: keep it while the run should go
/// on. Cancelling stops every measurement in flight at once; the listener still receives
/// `on_phase(Finished)` and `on_finished` with status [`RunStatus::Cancelled`].
#[derive(Debug)]
pub struct RunHandle {
    run_id: String,
    token: CancellationToken,
    task: Option<JoinHandle<RunSummary>>,
}

impl RunHandle {
    /// The run's id (also in its summary).
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Asks the run to stop now. Idempotent; does not wait.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Whether the run's task has ended (completed, cancelled or failed).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for the run to end and returns its summary. Dropping this future cancels the run.
    pub async fn wait(mut self) -> Result<RunSummary, EngineError> {
        let Some(task) = self.task.take() else {
            return Err(EngineError::Internal(
                "the run was already awaited".to_string(),
            ));
        };
        // `self` lives in this future: if the future is dropped, Drop cancels the run.
        task.await.map_err(EngineError::from_join)
    }

    /// Blocks the calling thread until the run ends. Must not be called from the library's
    /// own threads (a listener callback, for instance).
    pub fn wait_blocking(self) -> Result<RunSummary, EngineError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(EngineError::InvalidInput(
                "a blocking wait cannot be made from Kuzet's own threads (such as inside a listener callback); use the async form".to_string(),
            ));
        }
        runtime().block_on(self.wait())
    }
}

impl Drop for RunHandle {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// Decrements the engine's count of active runs when the task ends, even when aborted.
struct ActiveGuard(Arc<AtomicUsize>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Starts `plan` on the library's runtime.
pub(crate) fn spawn_run(
    plan: RunPlan,
    tracker: Tracker,
    token: CancellationToken,
    active: Arc<AtomicUsize>,
) -> RunHandle {
    let run_id = plan.run_id.clone();
    active.fetch_add(1, Ordering::AcqRel);
    let guard = ActiveGuard(active);
    let task_token = token.clone();
    let task = runtime().spawn(async move {
        let _guard = guard;
        orchestrate(plan, tracker, task_token).await
    });
    RunHandle {
        run_id,
        token,
        task: Some(task),
    }
}

async fn orchestrate(plan: RunPlan, tracker: Tracker, token: CancellationToken) -> RunSummary {
    let started_at = SystemTime::now();
    let test_start_time = OffsetDateTime::now_utc();
    tracker.phase(RunPhase::Preparing);
    let network = plan
        .network
        .as_ref()
        .and_then(|provider| {
            catch_unwind(AssertUnwindSafe(|| provider.current_network()))
                .map_err(|_| tracing::warn!("network context provider panicked; network unknown"))
                .ok()
        })
        .unwrap_or_default();
    tracing::info!(
        run = %plan.run_id,
        suites = plan.suites.len(),
        network = network.kind.ooni_network_type(),
        "run started"
    );

    let stored_run = begin_stored_run(&plan, &network).await;

    let mut status = RunStatus::Completed;
    for &suite in &plan.suites {
        if token.is_cancelled() {
            status = RunStatus::Cancelled;
            break;
        }
        if !tracker.has_budget() {
            status = RunStatus::BudgetExhausted;
            break;
        }
        tracker.phase(RunPhase::Measuring(suite));
        let stop = match suite {
            Suite::Web => {
                run_web(
                    &plan,
                    &network,
                    stored_run,
                    &tracker,
                    &token,
                    test_start_time,
                )
                .await
            }
            other => {
                // Refused when the run was planned; reaching here is a bug, not a panic.
                tracing::error!("no runner for the {other} suite");
                None
            }
        };
        match stop {
            Some(Stop::Cancelled) => {
                status = RunStatus::Cancelled;
                break;
            }
            Some(Stop::Budget) => {
                status = RunStatus::BudgetExhausted;
                break;
            }
            None => {}
        }
    }

    if let Some(run) = stored_run {
        let store = plan.store.clone();
        let finished = blocking(move || store.finish_run(run).map_err(EngineError::from)).await;
        if let Err(error) = finished {
            tracing::error!("cannot mark the run finished in the store: {error}");
        }
    }
    tracker.phase(RunPhase::Finished);
    let summary = tracker.finish(plan.run_id.clone(), status, started_at);
    tracing::info!(
        run = %summary.run_id,
        status = ?summary.status,
        results = summary.results.len(),
        skipped = summary.skipped,
        bytes = summary.bytes_used,
        "run finished"
    );
    tracker.notify("on_finished", |l| l.on_finished(&summary));
    summary
}

/// Starts the run in the store; `None` (logged) if the store refuses, and results then go
/// unrecorded rather than unreported.
async fn begin_stored_run(plan: &RunPlan, network: &NetworkContext) -> Option<RunId> {
    let suite = plan
        .suites
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let network_type = match network.kind {
        NetworkKind::Wifi => NetworkType::Wifi,
        NetworkKind::Cellular => NetworkType::Mobile,
        NetworkKind::Ethernet => NetworkType::Wired,
        NetworkKind::Offline | NetworkKind::Vpn | NetworkKind::Unknown => NetworkType::Unknown,
    };
    let new_run = NewRun::new(&suite, &plan.urlgetter.network, network_type);
    let store = plan.store.clone();
    match blocking(move || store.begin_run(&new_run).map_err(EngineError::from)).await {
        Ok(run) => Some(run),
        Err(error) => {
            tracing::error!("cannot start the run in the store; results go unrecorded: {error}");
            None
        }
    }
}

/// Measures every URL, `parallelism` at a time, until done, cancelled or over budget. The
/// budget is checked before each URL starts; URLs already in flight finish (each is bounded by
/// its body cap). On cancellation every URL in flight is dropped at once.
/// Each result is recorded in `stored_run` before the tracker (and so the listener) hears of
/// it.
async fn run_web(
    plan: &RunPlan,
    network: &NetworkContext,
    stored_run: Option<RunId>,
    tracker: &Tracker,
    token: &CancellationToken,
    test_start_time: OffsetDateTime,
) -> Option<Stop> {
    let mut queue = plan.web_urls.iter();
    let mut tasks: JoinSet<(String, crate::Result<UrlGetterResult>)> = JoinSet::new();
    let mut stop = None;
    loop {
        while stop.is_none() && tasks.len() < plan.parallelism {
            if token.is_cancelled() {
                stop = Some(Stop::Cancelled);
                break;
            }
            if !tracker.has_budget() {
                stop = Some(Stop::Budget);
                break;
            }
            let Some(url) = queue.next() else { break };
            let (config, url) = (plan.urlgetter.clone(), url.clone());
            tasks.spawn(async move {
                let result = measure_url(&config, &url, test_start_time).await;
                (url, result)
            });
        }
        if tasks.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            () = token.cancelled() => {
                tasks.abort_all();
                return Some(Stop::Cancelled);
            }
            joined = tasks.join_next() => match joined {
                Some(Ok((_, Ok(result)))) => {
                    let (target, measurement) = web_result(result, network);
                    if let Some(run) = stored_run {
                        history::record(&plan.store, run, measurement, &target).await;
                    }
                    tracker.record(target);
                }
                Some(Ok((_, Err(_)))) => {
                    // URLs are checked before the run starts, so this is not expected. The
                    // error names the URL, which stays out of logs.
                    tracing::error!("a target could not be measured");
                }
                Some(Err(error)) => {
                    // A bug in one measurement must not take the run down: skip the target.
                    tracing::error!("a web measurement stopped unexpectedly: {}", EngineError::from_join(error));
                }
                None => break,
            },
        }
    }
    stop
}

fn web_result(result: UrlGetterResult, network: &NetworkContext) -> (TargetResult, Measurement) {
    let UrlGetterResult {
        mut measurement,
        summary,
    } = result;
    measurement.annotations.insert(
        "network_type".to_string(),
        network.kind.ooni_network_type().into(),
    );
    let measurement_json = serde_json::to_string(&measurement).unwrap_or_else(|error| {
        tracing::error!("cannot encode a measurement: {error}");
        String::new()
    });
    let target = TargetResult {
        suite: Suite::Web,
        target: summary.url.clone(),
        verdict: if summary.failure.is_none() {
            Verdict::Accessible
        } else {
            Verdict::Anomaly
        },
        failed_operation: summary.failed_operation.clone(),
        failure: summary.failure.as_ref().map(|f| f.as_str().into_owned()),
        status_code: summary.status_code,
        bytes_received: summary.bytes_received,
        runtime: summary.runtime,
        explanation: explain_web(&summary),
        measurement_id: measurement.id.clone().unwrap_or_default(),
        measurement_json,
    };
    (target, measurement)
}
