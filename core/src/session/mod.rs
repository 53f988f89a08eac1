//! The one run path every front end goes through: the CLI's `measure`, `run` and `watch`, and
//! through the engine and the bindings the apps' "Test now" and background cycle.
//!
//! **plan → measure → record → progress → summary.** A front end builds a [`RunPlan`] (targets
//! per suite, the experiments' settings, budgets, the network the platform sees, the store)
//! and [`start`]s it on the library's runtime with a [`RunListener`]. The run:
//!
//! 1. names the probe's network from the platform's [`NetworkContext`] ([`operators`]);
//! 2. checks the network first when it has web, messaging or throttling targets (or reuses a
//!    check a few seconds old), and conditions every verdict on the checks around it
//!    ([`NetworkGuard`]): a failure while this device had no way out is `unreachable`, never
//!    `blocked` or `throttled`;
//! 3. measures each suite in turn ([`Suite::ALL`] order), within the byte and time budgets;
//! 4. records each result in the store, durably, before the listener hears of it, with the
//!    same words ([`Verdict::word`]) it is shown with live, in the history and in the
//!    uploaded measurement's `x_` keys;
//! 5. ends `completed`, `cancelled`, `budget_exhausted` or `out_of_time`: everything that
//!    finished is kept, and what was not measured is listed, in the summary and the store.
//!
//! Cancelling (the [`RunHandle`], or dropping it) stops every measurement in flight at once;
//! claims still waiting for a network check get one short check first
//! ([`crate::experiment::policy::CANCEL_CHECK_LIMIT`]).

pub mod context;
pub mod guard;
pub mod history;
pub mod legacy;
pub mod listener;
pub mod operators;
pub mod plan;
pub mod result;
pub mod suite;
pub mod verdict;
pub mod watch;

mod handle;
mod reporter;
mod suites;
mod tracker;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::SystemTime;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

pub use context::{NetworkContext, NetworkContextProvider, NetworkKind};
pub use guard::NetworkGuard;
pub(crate) use handle::from_join;
pub use handle::RunHandle;
pub use history::{
    history_item, past_run, result_of, GroupCount, HistoryItem, PastRun, StoredDetail,
    DETAIL_VERSION,
};
pub use listener::{NoListener, RunListener};
pub use plan::{
    check_site_name, PlanError, RunLimits, RunPlan, Setup, Targets, CONNECTIVITY_TARGET,
};
pub use result::{NotMeasured, RunPhase, RunProgress, RunStatus, RunSummary, TargetResult};
pub use suite::Suite;
pub use verdict::{Verdict, VerdictGroup};

use guard::Checked;
use reporter::Reporter;
use suites::apps::AppsRun;
use suites::speeds::SpeedsRun;
use suites::urls::UrlsRun;
use suites::websites::WebsitesRun;
use suites::{Loop, SuiteRun};
use tracker::Tracker;

use crate::report::ProbeNetwork;
use crate::store::{NetworkType, NewRun};

/// What can go wrong around a run (a failed measurement is a result, never an error).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The plan cannot run.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The results store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A value could not be encoded.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A bug: a task panicked or stopped unexpectedly.
    #[error("{0}")]
    Internal(String),
}

/// Milliseconds since the Unix epoch of `time` (negative before it).
pub fn ms_since_epoch(time: SystemTime) -> i64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis())
            .map(|ms| -ms)
            .unwrap_or(i64::MIN),
    }
}

/// Opens (or creates) the store in `dir` and upgrades results recorded by earlier versions
/// ([`legacy::upgrade`]); every front end opens its store for writing here.
pub fn open_store(
    dir: &std::path::Path,
    policy: crate::store::StorePolicy,
) -> Result<crate::store::Store, SessionError> {
    let store = crate::store::Store::open(dir, policy)?;
    let upgraded = legacy::upgrade(&store)?;
    if upgraded > 0 {
        tracing::info!(upgraded, "results of an earlier version upgraded");
    }
    Ok(store)
}

/// Runs a blocking store call on the library runtime's blocking threads.
pub(crate) async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, SessionError> + Send + 'static,
) -> Result<T, SessionError> {
    crate::runtime::run_blocking(crate::runtime::runtime().handle(), call)
        .await
        .map_err(SessionError::Internal)?
}

/// Checks `plan` and starts it on the library's runtime; progress and the end reach
/// `listener`. Nothing is measured when this returns an error.
pub fn start(
    plan: RunPlan,
    listener: Arc<dyn RunListener>,
    cancel: CancellationToken,
) -> Result<RunHandle, SessionError> {
    start_with(plan, listener, cancel, None)
}

/// [`start`], with a value dropped when the run's task ends (however it ends).
pub fn start_with(
    plan: RunPlan,
    listener: Arc<dyn RunListener>,
    cancel: CancellationToken,
    keep_alive: Option<Box<dyn std::any::Any + Send>>,
) -> Result<RunHandle, SessionError> {
    plan.check()?;
    Ok(handle::spawn(plan, listener, cancel, keep_alive))
}

/// The run itself: every step of the module docs, on the library's runtime.
async fn orchestrate(
    plan: RunPlan,
    listener: Arc<dyn RunListener>,
    cancel: CancellationToken,
) -> RunSummary {
    let started_at = SystemTime::now();
    let test_start_time = OffsetDateTime::now_utc();
    let total = u32::try_from(plan.targets.total()).unwrap_or(u32::MAX);
    let tracker = Arc::new(Tracker::new(
        listener,
        plan.limits.byte_budget,
        plan.limits.time_budget,
        total,
    ));
    tracker.notify("on_phase", |l| l.on_phase(RunPhase::Preparing));
    let probe = operators::probe_network(&plan.setup.probe_network, &plan.network);
    let setup = identified(plan.setup, &probe);
    let suites = plan.targets.suites();
    tracing::info!(
        run = %plan.run_id,
        suites = suites.len(),
        network = plan.network.kind.ooni_network_type(),
        asn = %probe.probe_asn,
        cc = %probe.probe_cc,
        "run started"
    );
    let suite_names: Vec<&str> = suites.iter().map(|s| s.name()).collect();
    let new_run = NewRun::new(
        &suite_names.join(","),
        &probe,
        network_type(plan.network.kind),
    )
    .planning(u64::from(total));
    let reporter = Reporter::start(
        plan.store.clone(),
        new_run,
        tracker.clone(),
        plan.network.kind.ooni_network_type(),
    )
    .await;
    let mut guard = NetworkGuard::new(
        setup.connectivity.clone(),
        plan.network.platform_state(),
        plan.store.clone(),
        setup.record_checks,
    );

    let mut stop = None;
    if plan.targets.connectivity || plan.targets.needs_network_check() {
        tracker.notify("on_phase", |l| l.on_phase(RunPhase::CheckingNetwork));
        stop = first_check(&plan.targets, &mut guard, &reporter, &tracker, &cancel).await;
        if let Some(status) = guard.first_status() {
            tracker.set_network(status);
        }
    }

    let mut measuring = Loop {
        tracker: &tracker,
        guard: &mut guard,
        reporter: &reporter,
        cancel: &cancel,
    };
    for suite in suites.iter().copied().filter(|s| *s != Suite::Connectivity) {
        let run = suite_run(suite, &plan.targets, &setup, &plan.limits, test_start_time);
        let Some(run) = run else { continue };
        if stop.is_some() {
            tracker.not_measured(
                run.names()
                    .into_iter()
                    .map(|target| NotMeasured { suite, target }),
            );
            continue;
        }
        tracker.notify("on_phase", |l| l.on_phase(RunPhase::Measuring { suite }));
        stop = measuring.run(run).await;
    }

    if guard.has_pending() {
        tracker.notify("on_phase", |l| l.on_phase(RunPhase::Confirming));
        let (checked, released) = if cancel.is_cancelled() {
            guard.confirm_cancelled().await
        } else {
            let (checked, mut released) = guard.confirm(&cancel).await;
            // A check cut short by a cancellation confirms nothing: settle the rest.
            let (_, rest) = guard.confirm_cancelled().await;
            released.extend(rest);
            (checked, released)
        };
        reporter.checked(checked);
        for finished in released {
            reporter.deliver(finished).await;
        }
    }

    let status = stop.unwrap_or(RunStatus::Completed);
    tracker.notify("on_phase", |l| l.on_phase(RunPhase::Finished));
    let summary = tracker.finish(plan.run_id.clone(), status, started_at);
    reporter.finish(status, summary.not_measured.clone()).await;
    tracing::info!(
        run = %summary.run_id,
        status = status.word(),
        results = summary.results.len(),
        not_measured = summary.not_measured.len(),
        bytes = summary.bytes_used,
        "run finished"
    );
    tracker.notify("on_finished", |l| l.on_finished(&summary));
    summary
}

/// The run's first connectivity check: reused when a recent one is stored and the run does
/// not ask for one as a result; else made, and reported as a result when asked. Returns
/// `Cancelled` when cancelled during it.
async fn first_check(
    targets: &Targets,
    guard: &mut NetworkGuard,
    reporter: &Reporter,
    tracker: &Tracker,
    cancel: &CancellationToken,
) -> Option<RunStatus> {
    if !targets.connectivity && guard.reuse_recent().await {
        return None;
    }
    let Some(checked) = guard
        .check(reporter.run(), targets.connectivity, cancel)
        .await
    else {
        return cancel.is_cancelled().then_some(RunStatus::Cancelled);
    };
    if !targets.connectivity {
        reporter.checked(Some(checked));
        return None;
    }
    let Checked { outcome, recording } = checked;
    tracker.notify("on_network_check", |l| l.on_network_check(&outcome));
    let measurement = recording
        .and_then(|r| r.measurement)
        .unwrap_or_else(|| outcome.measurement.clone());
    let result = connectivity_result(&outcome, measurement.id.clone().unwrap_or_default());
    reporter.deliver_recorded(result, &measurement);
    None
}

/// The connectivity suite's result for a check whose measurement has id `measurement_id`.
pub(crate) fn connectivity_result(
    outcome: &crate::experiment::connectivity::ConnectivityOutcome,
    measurement_id: String,
) -> TargetResult {
    let verdict = Verdict::Connectivity(outcome.status);
    TargetResult {
        target: CONNECTIVITY_TARGET.to_string(),
        word: verdict.word().to_string(),
        group: verdict.group(),
        verdict,
        explanation: outcome.explanation.clone(),
        failed_operation: None,
        failure: None,
        status_code: None,
        bytes_received: outcome.bytes.total,
        runtime: outcome.runtime,
        measured_at: reporter::time_of(
            outcome
                .observed_at_ms
                .saturating_add(i64::try_from(outcome.runtime.as_millis()).unwrap_or(i64::MAX)),
        ),
        measurement_id,
    }
}

/// One suite's part in the run, `None` when it has no target.
fn suite_run(
    suite: Suite,
    targets: &Targets,
    setup: &Setup,
    limits: &RunLimits,
    test_start_time: OffsetDateTime,
) -> Option<Arc<dyn SuiteRun>> {
    if targets.count(suite) == 0 {
        return None;
    }
    Some(match suite {
        Suite::Connectivity => return None,
        Suite::Urls => Arc::new(UrlsRun {
            urls: targets.urls.clone(),
            config: Arc::new(setup.urls.clone()),
            parallelism: limits.parallelism,
            test_start_time,
        }),
        Suite::Web => Arc::new(WebsitesRun::new(
            targets.web.clone(),
            setup.web.clone(),
            &setup.test_helpers,
            limits.parallelism,
            test_start_time,
        )),
        Suite::Messaging => Arc::new(AppsRun {
            apps: targets.apps.clone(),
            config: setup.messaging.clone(),
            test_start_time,
        }),
        Suite::Throttling => Arc::new(SpeedsRun {
            names: targets.throttling.clone(),
            passive: targets.passive.clone(),
            config: setup.throttling.clone()?,
            test_start_time,
            used: AtomicU64::new(0),
        }),
    })
}

/// The setup with every experiment measuring as `setup.software` on `probe`.
fn identified(mut setup: Setup, probe: &ProbeNetwork) -> Setup {
    let software = setup.software.clone();
    setup.urls.software = software.clone();
    setup.urls.network = probe.clone();
    setup.web.software = software.clone();
    setup.web.network = probe.clone();
    setup.messaging.software = software.clone();
    setup.messaging.network = probe.clone();
    if let Some(throttling) = setup.throttling.as_mut() {
        throttling.software = software.clone();
        throttling.network = probe.clone();
    }
    setup.connectivity.software = software;
    setup.connectivity.network = probe.clone();
    setup
}

/// The store's kind of network for the platform's.
fn network_type(kind: NetworkKind) -> NetworkType {
    match kind {
        NetworkKind::Wifi => NetworkType::Wifi,
        NetworkKind::Cellular => NetworkType::Mobile,
        NetworkKind::Ethernet => NetworkType::Wired,
        NetworkKind::Offline | NetworkKind::Vpn | NetworkKind::Unknown => NetworkType::Unknown,
    }
}
