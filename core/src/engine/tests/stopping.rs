//! How runs stop early: cancelled (by the handle, by dropping it, by a wipe), out of bytes,
//! out of time. What finished is kept, in the summary and the store; what was not measured is
//! listed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kuzet_e2e::fixtures::anchors::Anchors;
use kuzet_e2e::fixtures::web::{Route, Routes, WebServer};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::experiment::connectivity::ConnectivityStatus;

fn not_measured(summary: &RunSummary) -> Vec<String> {
    summary
        .not_measured
        .iter()
        .map(|n| {
            assert_eq!(n.suite, Suite::Web);
            n.target.clone()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_measurements_in_flight_at_once() {
    let server = slow_server().await;
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |c| c.parallelism = 2);
    let started = Arc::new(Notify::new());
    let recorder = Arc::new(Recorder::on_started({
        let started = started.clone();
        move |_| started.notify_one()
    }));
    let urls: Vec<String> = (0..5)
        .map(|i| server.url("http", &format!("/{i}")))
        .collect();
    let handle = engine
        .start_run(web(urls.clone()), recorder.clone())
        .unwrap();
    started.notified().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!handle.is_finished());
    assert_eq!(engine.active_runs(), 1);
    let cancelled_at = Instant::now();
    handle.cancel();
    handle.cancel(); // idempotent
    let summary = handle.wait().await.unwrap();
    assert!(cancelled_at.elapsed() < Duration::from_secs(2));
    assert_eq!(summary.status, RunStatus::Cancelled);
    assert!(summary.results.is_empty());
    // The two in flight and the three never started, in plan order.
    assert_eq!(not_measured(&summary), urls);
    assert_eq!(
        recorder.events().last().map(String::as_str),
        Some("finished")
    );
    assert_eq!(
        recorder.finished().map(|s| s.status),
        Some(RunStatus::Cancelled)
    );
    assert_eq!(engine.active_runs(), 0);
    let runs = engine.store().unwrap().runs(1).unwrap();
    assert_eq!(runs[0].run.status.as_deref(), Some("cancelled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_keeps_what_finished_in_the_store_and_lists_the_rest() {
    let server = slow_server().await;
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |c| c.parallelism = 1);
    engine.set_network_provider(Some(Arc::new(HomeWifi)));
    let first_result = Arc::new(Notify::new());
    let recorder = Arc::new(Recorder::on_result({
        let first_result = first_result.clone();
        move |_| first_result.notify_one()
    }));
    // A page that loads, then three that never answer.
    let urls: Vec<String> = ["/", "/0", "/1", "/2"]
        .iter()
        .map(|path| server.url("http", path))
        .collect();
    let handle = engine
        .start_run(web(urls.clone()), recorder.clone())
        .unwrap();
    first_result.notified().await;
    handle.cancel();
    let summary = handle.wait().await.unwrap();
    assert_eq!(summary.status, RunStatus::Cancelled);
    assert_eq!(summary.results.len(), 1);
    assert_eq!(summary.results[0].target, urls[0]);
    assert_eq!(not_measured(&summary), urls[1..].to_vec());
    assert_eq!(summary.network, Some(ConnectivityStatus::Ok));

    // Kept in the store, queued for upload, listed in the history.
    let id = summary.results[0].measurement_id.clone();
    let history = engine.results_history(0, 10).await.unwrap();
    assert_eq!(history.items.len(), 1);
    assert_eq!(
        as_stored(&history.items[0].result),
        as_stored(&summary.results[0])
    );
    let pending = engine.pending_uploads().await.unwrap();
    assert!(
        pending.iter().any(|p| p.measurement_id == id),
        "{pending:?}"
    );
    let runs = engine.store().unwrap().runs(1).unwrap();
    assert_eq!(runs[0].run.status.as_deref(), Some("cancelled"));
    assert_eq!(runs[0].results, 1);
    assert_eq!(
        runs[0].run.not_measured,
        serde_json::to_value(&summary.not_measured).unwrap()
    );

    // And listed as a past run: cancelled, its one result by group, the rest not measured.
    let past = engine.past_runs(10).await.unwrap();
    assert_eq!(past.len(), 1);
    assert_eq!(past[0].run, history.items[0].run);
    assert_eq!(past[0].suites, vec![Suite::Web]);
    assert_eq!(past[0].status, Some(RunStatus::Cancelled));
    assert_eq!(past[0].planned, Some(4));
    assert_eq!(past[0].results, 1);
    assert_eq!(
        past[0].groups,
        vec![crate::session::GroupCount {
            group: summary.results[0].group,
            count: 1
        }]
    );
    assert_eq!(past[0].not_measured, summary.not_measured);
    assert!(past[0].finished_at.is_some());
    assert!(engine.past_runs(0).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_waiting_for_a_check_gets_one_when_the_run_is_cancelled() {
    let server = slow_server().await;
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |c| c.parallelism = 1);
    let slow = server.url("http", "/0");
    let slow_started = Arc::new(Notify::new());
    let recorder = Arc::new(Recorder::on_started({
        let (slow, slow_started) = (slow.clone(), slow_started.clone());
        move |target| {
            if target == slow {
                slow_started.notify_one();
            }
        }
    }));
    // A refused URL (a claim, held for the next check), then one that never answers.
    let refused = refused_url();
    let handle = engine
        .start_run(web(vec![refused.clone(), slow.clone()]), recorder.clone())
        .unwrap();
    slow_started.notified().await;
    assert!(recorder.results().is_empty(), "the claim is held");
    handle.cancel();
    let summary = handle.wait().await.unwrap();
    assert_eq!(summary.status, RunStatus::Cancelled);
    assert_eq!(not_measured(&summary), vec![slow]);
    // The claim was released after one short check, which found the network working.
    let (result, measurement) = recorder.result(&refused);
    assert_eq!(result.word, "undetermined", "{result:?}");
    assert_eq!(result.group, VerdictGroup::Unclear);
    assert_eq!(
        json_of(&measurement)["test_keys"]["x_network"]["after"]["status"],
        "ok"
    );
    let events = recorder.events();
    let confirming = events
        .iter()
        .position(|e| e == "phase Confirming")
        .expect("confirming");
    assert_eq!(events[confirming + 1], "check ok");
    assert_eq!(
        events[confirming + 2],
        format!("result {refused} undetermined")
    );
    assert_eq!(summary.results, vec![result]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_handle_cancels_the_run() {
    let server = slow_server().await;
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |_| {});
    let started = Arc::new(Notify::new());
    let recorder = Arc::new(Recorder::on_started({
        let started = started.clone();
        move |_| started.notify_one()
    }));
    let handle = engine
        .start_run(web(vec![server.url("http", "/0")]), recorder.clone())
        .unwrap();
    started.notified().await;
    drop(handle);
    eventually("the run ends", || engine.active_runs() == 0).await;
    let finished = recorder.finished().expect("on_finished was called");
    assert_eq!(finished.status, RunStatus::Cancelled);
    assert_eq!(finished.not_measured.len(), 1);

    // Dropping the future of `run` cancels it the same way.
    let recorder = Arc::new(Recorder::default());
    let run = engine.run(web(vec![server.url("http", "/1")]), recorder.clone());
    assert!(tokio::time::timeout(Duration::from_millis(500), run)
        .await
        .is_err());
    eventually("the run ends", || engine.active_runs() == 0).await;
    assert_eq!(
        recorder.finished().map(|s| s.status),
        Some(RunStatus::Cancelled)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wiping_cancels_runs_in_flight() {
    let server = slow_server().await;
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |_| {});
    let started = Arc::new(Notify::new());
    let recorder = Arc::new(Recorder::on_started({
        let started = started.clone();
        move |_| started.notify_one()
    }));
    let handle = engine
        .start_run(web(vec![server.url("http", "/0")]), recorder)
        .unwrap();
    started.notified().await;
    engine.wipe().await.unwrap();
    let summary = tokio::time::timeout(Duration::from_secs(5), handle.wait())
        .await
        .expect("the wipe cancelled the run")
        .unwrap();
    assert_eq!(summary.status, RunStatus::Cancelled);
    eventually("the run ends", || engine.active_runs() == 0).await;
    // Nothing of it is left, and the engine runs again.
    assert!(engine
        .results_history(0, 10)
        .await
        .unwrap()
        .items
        .is_empty());
    let summary = engine
        .run(web(vec![server.url("http", "/")]), Arc::new(NoListener))
        .await
        .unwrap();
    assert_eq!(summary.status, RunStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_byte_budget_stops_new_targets() {
    let server = WebServer::http(Routes::new().route("/big", Route::Large { len: 10_000 })).await;
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |c| c.parallelism = 1);
    let urls: Vec<String> = (0..3)
        .map(|i| server.url("http", &format!("/big?{i}")))
        .collect();
    let request = RunRequest {
        byte_budget: Some(5_000),
        ..web(urls.clone())
    };
    let recorder = Arc::new(Recorder::default());
    let summary = engine.run(request, recorder.clone()).await.unwrap();
    assert_eq!(summary.status, RunStatus::BudgetExhausted);
    assert_eq!(summary.results.len(), 1);
    assert_eq!(not_measured(&summary), urls[1..].to_vec());
    assert!(summary.bytes_used >= 10_000);
    assert_eq!(recorder.progress()[0].byte_budget, 5_000);
    let runs = engine.store().unwrap().runs(1).unwrap();
    assert_eq!(runs[0].run.status.as_deref(), Some("budget_exhausted"));

    // A run's own budget is never above the configured one.
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |c| {
        c.parallelism = 1;
        c.budgets.run_bytes = 5_000;
    });
    let request = RunRequest {
        byte_budget: Some(1 << 30),
        ..web(urls)
    };
    let recorder = Arc::new(Recorder::default());
    let summary = engine.run(request, recorder.clone()).await.unwrap();
    assert_eq!(summary.status, RunStatus::BudgetExhausted);
    assert_eq!(summary.results.len(), 1);
    assert_eq!(recorder.progress()[0].byte_budget, 5_000);
}

/// The engine sets no time budget (the platform bounds background work itself): a plan with
/// one, started on the same run path, stops starting targets once it has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_budget_stops_new_targets_out_of_time() {
    let mut routes = Routes::new();
    for i in 0..5 {
        routes = routes.route(
            &format!("/{i}"),
            Route::Slow {
                delay: Duration::from_millis(700),
            },
        );
    }
    let server = WebServer::http(routes).await;
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |c| c.parallelism = 1);
    let urls: Vec<String> = (0..5)
        .map(|i| server.url("http", &format!("/{i}")))
        .collect();
    let mut plan = super::super::planning::plan(
        engine.config(),
        web(urls.clone()),
        NetworkContext::default(),
        engine.store().unwrap(),
    )
    .unwrap();
    assert_eq!(plan.limits.time_budget, None, "the engine sets none");
    plan.limits.time_budget = Some(Duration::from_millis(1000));
    let recorder = Arc::new(Recorder::default());
    let summary = crate::session::start(plan, recorder.clone(), CancellationToken::new())
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(summary.status, RunStatus::OutOfTime);
    // A target in flight when time runs out finishes; no new one starts.
    let measured = summary.results.len();
    assert!((1..urls.len()).contains(&measured), "{measured}");
    assert_eq!(not_measured(&summary), urls[measured..].to_vec());
    assert_eq!(
        recorder.finished().map(|s| s.status),
        Some(RunStatus::OutOfTime)
    );
    let runs = engine.store().unwrap().runs(1).unwrap();
    assert_eq!(runs[0].run.status.as_deref(), Some("out_of_time"));
}
