//! One run: the orchestration task, the web suite's loop, and the handle that cancels it.
//!
//! The web suite runs web_connectivity on every URL with the configured test helpers, tried in
//! order: the run starts with the first, and once a URL's control fails through one helper the
//! URLs that start after it use the next (the URL itself keeps its verdict, usually
//! `undetermined`; it is not measured twice). Without a test helper web_connectivity still
//! runs, as it does without one anywhere: an https page that loads is `ok` (its certificate
//! proves it), a failure is an anomaly, and a plain-http page that loads is undetermined.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use time::OffsetDateTime;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::connectivity::{self, CheckSetup};
use super::context::{NetworkContext, NetworkContextProvider, NetworkKind};
use super::error::EngineError;
use super::history::{self, blocking};
use super::messaging::{self as messaging_suite, AppSetup};
use super::operators::probe_network;
use super::progress::{
    BlockingMethod, RunPhase, RunStatus, RunSummary, TargetResult, Tracker, Verdict,
};
use super::runtime::runtime;
use super::suite::Suite;
use super::throttling::{self, Measured, TargetSetup, ThroughputServer};
use crate::experiment::connectivity::ConnectivityConfig;
use crate::experiment::messaging::MessagingConfig;
use crate::experiment::urlgetter::parse_target_url;
use crate::experiment::web_connectivity::{
    explain_website, measure_target, th_client, TargetUrl, Verdict as WebVerdict,
    WebConnectivityConfig, WebConnectivityResult,
};
use crate::failure::Failure;
use crate::net::http_client::ServiceClient;
use crate::report::{Measurement, ProbeNetwork};
use crate::store::{NetworkType, NewRun, RunId, Store};
use url::Url;

/// A validated run, ready to start.
pub(crate) struct RunPlan {
    pub(crate) run_id: String,
    pub(crate) suites: Vec<Suite>,
    pub(crate) web_urls: Vec<String>,
    /// How each URL is measured, without a test helper or the probe's network (both are set
    /// when the run starts).
    pub(crate) web: WebConnectivityConfig,
    /// The test helpers, tried in order.
    pub(crate) test_helpers: Vec<Url>,
    /// The configured probe network, before the platform's context refines it.
    pub(crate) probe_network: ProbeNetwork,
    /// The connectivity check's anchors and rules.
    pub(crate) connectivity: Arc<ConnectivityConfig>,
    /// The throughput server (checked when the run was planned if throttling is included).
    pub(crate) throughput_server: Option<ThroughputServer>,
    /// The throttling suite's names.
    pub(crate) throttling_targets: Vec<String>,
    /// The messaging suite's endpoints, apps and bounds.
    pub(crate) messaging: Arc<MessagingConfig>,
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
    let probe = probe_network(&plan.probe_network, &network);
    tracing::info!(
        run = %plan.run_id,
        suites = plan.suites.len(),
        network = network.kind.ooni_network_type(),
        asn = %probe.probe_asn,
        cc = %probe.probe_cc,
        "run started"
    );

    let stored_run = begin_stored_run(&plan, &network, &probe).await;

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
                    &probe,
                    stored_run,
                    &tracker,
                    &token,
                    test_start_time,
                )
                .await
            }
            Suite::Connectivity => {
                run_connectivity(&plan, &network, &probe, stored_run, &tracker, &token).await
            }
            Suite::Throttling => {
                run_throttling(&plan, &network, &probe, stored_run, &tracker, &token).await
            }
            Suite::Messaging => {
                run_messaging(
                    &plan,
                    &network,
                    &probe,
                    stored_run,
                    &tracker,
                    &token,
                    test_start_time,
                )
                .await
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
async fn begin_stored_run(
    plan: &RunPlan,
    network: &NetworkContext,
    probe: &ProbeNetwork,
) -> Option<RunId> {
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
    let new_run = NewRun::new(&suite, probe, network_type);
    let store = plan.store.clone();
    match blocking(move || store.begin_run(&new_run).map_err(EngineError::from)).await {
        Ok(run) => Some(run),
        Err(error) => {
            tracing::error!("cannot start the run in the store; results go unrecorded: {error}");
            None
        }
    }
}

/// Runs one connectivity check (re-checks included) and records it, with its timeline
/// transition when the status changed, before the listener hears of it.
async fn run_connectivity(
    plan: &RunPlan,
    network: &NetworkContext,
    probe: &ProbeNetwork,
    stored_run: Option<RunId>,
    tracker: &Tracker,
    token: &CancellationToken,
) -> Option<Stop> {
    let setup = CheckSetup {
        config: &plan.connectivity,
        trust: &plan.web.trust,
        software: &plan.web.software,
        network: probe,
    };
    let outcome = match connectivity::check(setup, network, token).await {
        Ok(Some(outcome)) => outcome,
        Ok(None) => return Some(Stop::Cancelled),
        Err(error) => {
            // The configuration was checked when the engine was made: not expected.
            tracing::error!("the connectivity check could not run: {error}");
            return None;
        }
    };
    let (result, _) = connectivity::record(&plan.store, outcome, stored_run).await;
    tracker.record(result);
    None
}

/// Measures every throttling target in turn against the throughput server, until done,
/// cancelled, over budget, or the server proves unusable (reported once, as an undetermined
/// result). Each result is recorded before the listener hears of it.
async fn run_throttling(
    plan: &RunPlan,
    network: &NetworkContext,
    probe: &ProbeNetwork,
    stored_run: Option<RunId>,
    tracker: &Tracker,
    token: &CancellationToken,
) -> Option<Stop> {
    let Some(server) = &plan.throughput_server else {
        // Refused when the run was planned; reaching here is a bug, not a panic.
        tracing::error!("no throughput server for the throttling suite");
        return None;
    };
    let control_sni = throttling::control_sni();
    for target in &plan.throttling_targets {
        if token.is_cancelled() {
            return Some(Stop::Cancelled);
        }
        if !tracker.has_budget() {
            return Some(Stop::Budget);
        }
        let setup = TargetSetup {
            server,
            control_sni: &control_sni,
            software: &plan.web.software,
            network: probe,
            bytes_left: tracker.bytes_left(),
        };
        match throttling::measure(setup, target, token).await {
            Measured::Result(mut result, mut measurement) => {
                measurement.annotations.insert(
                    "network_type".to_string(),
                    network.kind.ooni_network_type().into(),
                );
                result.measurement_json = serde_json::to_string(&measurement).unwrap_or_default();
                if let Some(run) = stored_run {
                    history::record(&plan.store, run, *measurement, &result).await;
                }
                tracker.record(result);
            }
            Measured::Skipped => {
                return Some(if token.is_cancelled() {
                    Stop::Cancelled
                } else {
                    Stop::Budget
                });
            }
            Measured::ServerFailed(result) => {
                tracker.record(result);
                return None;
            }
        }
    }
    if token.is_cancelled() {
        return Some(Stop::Cancelled);
    }
    None
}

/// Measures every messaging app in turn, until done, cancelled or over budget (an app starts
/// only while the budget covers its byte bound). Each result is recorded before the listener
/// hears of it.
async fn run_messaging(
    plan: &RunPlan,
    network: &NetworkContext,
    probe: &ProbeNetwork,
    stored_run: Option<RunId>,
    tracker: &Tracker,
    token: &CancellationToken,
    test_start_time: OffsetDateTime,
) -> Option<Stop> {
    for &app in &plan.messaging.apps {
        if token.is_cancelled() {
            return Some(Stop::Cancelled);
        }
        if !tracker.has_budget() || tracker.bytes_left() < plan.messaging.byte_bound(app) {
            return Some(Stop::Budget);
        }
        let setup = AppSetup {
            config: &plan.messaging,
            resolver: &plan.web.resolver,
            trust: &plan.web.trust,
            software: &plan.web.software,
            network: probe,
            test_start_time,
        };
        match messaging_suite::measure(setup, app, token).await {
            messaging_suite::Measured::Result(mut result, mut measurement) => {
                measurement.annotations.insert(
                    "network_type".to_string(),
                    network.kind.ooni_network_type().into(),
                );
                result.measurement_json = serde_json::to_string(&measurement).unwrap_or_default();
                if let Some(run) = stored_run {
                    history::record(&plan.store, run, *measurement, &result).await;
                }
                tracker.record(result);
            }
            messaging_suite::Measured::Cancelled => return Some(Stop::Cancelled),
            messaging_suite::Measured::Failed(error) => {
                // The configuration was checked when the run was planned: not expected.
                tracing::error!("the messaging suite could not run: {error}");
                return None;
            }
        }
    }
    if token.is_cancelled() {
        return Some(Stop::Cancelled);
    }
    None
}

/// The test helpers of a run, tried in order (see the module docs).
struct Helpers {
    /// One configuration per helper, or one without a helper.
    configs: Vec<Arc<WebConnectivityConfig>>,
    /// The helper URLs start with.
    current: AtomicUsize,
}

impl Helpers {
    fn new(plan: &RunPlan, probe: &ProbeNetwork) -> Helpers {
        let base = WebConnectivityConfig {
            network: probe.clone(),
            ..plan.web.clone()
        };
        let configs = if plan.test_helpers.is_empty() {
            vec![Arc::new(base)]
        } else {
            plan.test_helpers
                .iter()
                .map(|url| {
                    Arc::new(WebConnectivityConfig {
                        th_url: Some(url.clone()),
                        ..base.clone()
                    })
                })
                .collect()
        };
        Helpers {
            configs,
            current: AtomicUsize::new(0),
        }
    }

    /// The helper for the next URL, and its index.
    fn pick(&self) -> (usize, Arc<WebConnectivityConfig>) {
        let index = self
            .current
            .load(Ordering::Acquire)
            .min(self.configs.len() - 1);
        (index, self.configs[index].clone())
    }

    /// Moves on from helper `index` when its control failed and another is left.
    fn control_failed(&self, index: usize) {
        if index + 1 < self.configs.len()
            && self
                .current
                .compare_exchange(index, index + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            tracing::warn!(
                helper = index + 1,
                "the test helper did not answer; the next URLs use the next one"
            );
        }
    }
}

/// Measures every URL with web_connectivity, `parallelism` at a time, until done, cancelled or
/// over budget. The budget is checked before each URL starts; URLs already in flight finish
/// (each is bounded by its timeouts and body caps). On cancellation every URL in flight is
/// dropped at once. Each result is recorded in `stored_run` before the tracker (and so the
/// listener) hears of it.
async fn run_web(
    plan: &RunPlan,
    network: &NetworkContext,
    probe: &ProbeNetwork,
    stored_run: Option<RunId>,
    tracker: &Tracker,
    token: &CancellationToken,
    test_start_time: OffsetDateTime,
) -> Option<Stop> {
    let helpers = Helpers::new(plan, probe);
    // One client for every helper call of the run (it depends only on trust and timeouts).
    let client: Arc<Result<ServiceClient, Failure>> = Arc::new(th_client(&helpers.configs[0]));
    let mut queue = plan.web_urls.iter();
    let mut tasks: JoinSet<(usize, Option<WebConnectivityResult>)> = JoinSet::new();
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
            let (index, config) = helpers.pick();
            let (client, url) = (client.clone(), url.clone());
            tasks.spawn(async move {
                // URLs were checked when the run was planned.
                let Ok(target) = parse_target_url(&url) else {
                    return (index, None);
                };
                let client = client.as_ref().as_ref();
                let result = measure_target(
                    &config,
                    client,
                    &TargetUrl::new(url),
                    target,
                    test_start_time,
                )
                .await;
                (index, Some(result))
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
                Some(Ok((index, Some(result)))) => {
                    if result.summary.control_failure.is_some() {
                        helpers.control_failed(index);
                    }
                    let (target, measurement) = web_result(result, network);
                    if let Some(run) = stored_run {
                        history::record(&plan.store, run, measurement, &target).await;
                    }
                    tracker.record(target);
                }
                Some(Ok((_, None))) => {
                    // The error would name the URL, which stays out of logs.
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

/// The engine's verdict and blocking method for web_connectivity's verdict.
pub(crate) fn web_verdict(verdict: &WebVerdict, failed: bool) -> (Verdict, Option<BlockingMethod>) {
    match verdict {
        WebVerdict::Ok => (Verdict::Accessible, None),
        WebVerdict::SiteDown => (Verdict::Down, None),
        WebVerdict::DnsTampered { .. } => (Verdict::Blocked, Some(BlockingMethod::Dns)),
        WebVerdict::TcpBlocked { .. } => (Verdict::Blocked, Some(BlockingMethod::TcpIp)),
        WebVerdict::TlsBlocked { .. } => (Verdict::Blocked, Some(BlockingMethod::Tls)),
        WebVerdict::TlsMitm { .. } => (Verdict::Blocked, Some(BlockingMethod::Interception)),
        WebVerdict::HttpBlockpage => (Verdict::Blocked, Some(BlockingMethod::HttpBlockpage)),
        WebVerdict::HttpFailure { .. } => (Verdict::Blocked, Some(BlockingMethod::HttpFailure)),
        WebVerdict::Undetermined { .. } if failed => (Verdict::Anomaly, None),
        WebVerdict::Undetermined { .. } => (Verdict::Undetermined, None),
    }
}

fn web_result(
    result: WebConnectivityResult,
    network: &NetworkContext,
) -> (TargetResult, Measurement) {
    let WebConnectivityResult {
        mut measurement,
        verdict,
        bytes_received,
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
    let failed_operation = measurement
        .test_keys
        .get("x_failed_operation")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string);
    let failure = summary
        .http_experiment_failure
        .as_ref()
        .or(summary.dns_experiment_failure.as_ref());
    let (engine_verdict, blocking) = web_verdict(&verdict, failure.is_some());
    let target = TargetResult {
        suite: Suite::Web,
        target: summary.url.clone(),
        verdict: engine_verdict,
        blocking,
        verdict_detail: verdict.to_string(),
        failure: failure.map(|f| f.as_str().into_owned()),
        status_code: summary.status_code,
        bytes_received,
        runtime: summary.runtime,
        explanation: explain_website(
            &verdict,
            &summary,
            failed_operation.as_deref(),
            measurement.test_helpers.is_some(),
        ),
        failed_operation,
        measurement_id: measurement.id.clone().unwrap_or_default(),
        measurement_json,
    };
    (target, measurement)
}
