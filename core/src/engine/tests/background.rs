//! The connectivity suite and its timeline, and the background cycle: the check, the sample
//! when budgets and the network allow, and what it asks of the next cycle.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kuzet_e2e::fixtures::anchors::Anchors;
use kuzet_e2e::fixtures::web::{Routes, WebServer};

use super::*;
use crate::experiment::connectivity::ConnectivityStatus;
use crate::store::DeliveryState;

fn connectivity_run() -> RunRequest {
    RunRequest {
        suites: vec![Suite::Connectivity],
        ..RunRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connectivity_suite_records_each_check_and_the_timeline_its_changes() {
    let mut anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |_| {});
    engine.set_network_provider(Some(Arc::new(Kcell)));
    let recorder = Arc::new(Recorder::default());
    let summary = engine
        .run(connectivity_run(), recorder.clone())
        .await
        .unwrap();
    assert_eq!(summary.status, RunStatus::Completed);
    assert_eq!(summary.network, Some(ConnectivityStatus::Ok));
    assert_eq!(
        recorder.events(),
        vec![
            "phase Preparing".to_string(),
            "phase CheckingNetwork".to_string(),
            "check ok".to_string(),
            "result connectivity ok".to_string(),
            "progress 1/1".to_string(),
            "phase Finished".to_string(),
            "finished".to_string(),
        ]
    );
    let result = &summary.results[0];
    assert_eq!(result.suite(), Suite::Connectivity);
    assert_eq!(result.target, crate::session::CONNECTIVITY_TARGET);
    assert_eq!(
        result.verdict,
        Verdict::Connectivity(ConnectivityStatus::Ok),
        "{result:?}"
    );
    assert_eq!(
        (result.word.as_str(), result.group),
        ("ok", VerdictGroup::Ok)
    );
    assert!(
        result
            .explanation
            .contains("reached domestic and international hosts"),
        "{}",
        result.explanation
    );
    let (_, measurement) = recorder.result(crate::session::CONNECTIVITY_TARGET);
    let json = json_of(&measurement);
    assert_eq!(json["test_name"], "kuzet_connectivity");
    assert_eq!(json["probe_asn"], "AS29355");
    assert_eq!(json["test_keys"]["x_status"], "ok");
    assert!(!json.to_string().contains("401-02"), "MCC-MNC recorded");
    assert_eq!(json["id"], result.measurement_id.as_str());

    // The same status again: a result in the history, no new transition; a connectivity run
    // always checks (it never reuses the last check).
    engine
        .run(connectivity_run(), Arc::new(NoListener))
        .await
        .unwrap();
    assert_eq!(stored_checks(&engine), 2);
    // The anchors go away: a data blackout, as this device sees it.
    anchors.take_down();
    let blackout = engine
        .run(connectivity_run(), Arc::new(NoListener))
        .await
        .unwrap();
    assert_eq!(blackout.status, RunStatus::Completed);
    let down = &blackout.results[0];
    assert_eq!(
        down.verdict,
        Verdict::Connectivity(ConnectivityStatus::DataBlackout)
    );
    assert_eq!(down.word, "data_blackout");
    assert_eq!(down.group, VerdictGroup::NetworkDisrupted);
    assert_eq!(blackout.network, Some(ConnectivityStatus::DataBlackout));

    let timeline = engine
        .connectivity_timeline(SystemTime::UNIX_EPOCH)
        .await
        .unwrap();
    let statuses: Vec<&str> = timeline.iter().map(|t| t.status.as_str()).collect();
    assert_eq!(statuses, vec!["ok", "data_blackout"]);
    let history = engine.results_history(0, 10).await.unwrap();
    let words: Vec<&str> = history
        .items
        .iter()
        .map(|item| {
            assert_eq!(item.result.suite(), Suite::Connectivity);
            item.result.word.as_str()
        })
        .collect();
    assert_eq!(words, vec!["data_blackout", "ok", "ok"]);
    let detail = engine
        .result_detail(down.measurement_id.clone())
        .await
        .unwrap();
    assert_eq!(as_stored(&detail.item.result), as_stored(down));
    // Every check's measurement is queued: they are results of their own.
    let pending = engine.pending_uploads().await.unwrap();
    assert_eq!(pending.len(), 3);
    assert!(pending.iter().all(|p| p.state == DeliveryState::Pending));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connectivity_timeline_reads_the_store() {
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |_| {});
    assert!(engine
        .connectivity_timeline(SystemTime::UNIX_EPOCH)
        .await
        .unwrap()
        .is_empty());
    let store = engine.store().unwrap();
    let now = store.now_ms();
    for (at, status) in [
        (now - 3_000, "not-a-status"),
        (now - 2_000, "ok"),
        (now - 1_000, "data_blackout"),
    ] {
        store
            .append_transition(&crate::store::NewTransition {
                at_ms: Some(at),
                status: status.to_string(),
                network_type: crate::store::NetworkType::Wifi,
                probe_asn: None,
                probe_cc: None,
                evidence: serde_json::json!({}),
            })
            .unwrap();
    }
    let all = engine
        .connectivity_timeline(SystemTime::UNIX_EPOCH)
        .await
        .unwrap();
    let statuses: Vec<&str> = all.iter().map(|t| t.status.as_str()).collect();
    assert_eq!(statuses, vec!["ok", "data_blackout"]);
    let since = SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(now - 1_500).unwrap());
    let recent = engine.connectivity_timeline(since).await.unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].status, "data_blackout");
}

fn cycle_within(network: NetworkContext) -> BackgroundRequest {
    BackgroundRequest {
        time_budget: Duration::from_secs(30),
        network,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_cycle_without_a_collector_or_consent_does_little() {
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |c| {
        c.consent.upload_allowed = true;
        c.consent.allowed_suites = vec![Suite::Web];
    });
    let summary = engine
        .background_cycle(cycle_within(NetworkContext::default()))
        .await
        .unwrap();
    assert_eq!(summary.uploaded, 0);
    assert_eq!(summary.upload_failures, 0);
    assert_eq!(summary.pending, 0);
    // The user has not allowed the connectivity suite: no check.
    assert!(!summary.connectivity_checked);
    assert_eq!(summary.connectivity, None);
    assert!(!summary.timeline_changed);
    // And no sample URLs are configured: no test.
    assert_eq!(summary.tests_run, 0);
    assert_eq!(summary.next_run_in, DEFAULT_BACKGROUND_INTERVAL);
    assert_eq!(stored_checks(&engine), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_cycle_checks_records_changes_and_samples_when_budgets_allow() {
    let mut anchors = Anchors::up();
    let server = WebServer::http(Routes::new().page("/", 200, "home")).await;
    let urls: Vec<String> = (0..5)
        .map(|i| server.url("http", &format!("/?{i}")))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |c| {
        c.background_sample_urls = urls.clone();
    });
    let cycle = |network: NetworkContext| engine.background_cycle(cycle_within(network));

    let first = cycle(home_wifi()).await.unwrap();
    assert!(first.connectivity_checked);
    assert_eq!(first.connectivity, Some(ConnectivityStatus::Ok));
    assert!(first.timeline_changed);
    assert_eq!(first.tests_run, BACKGROUND_SAMPLE_SIZE as u32);
    assert!(first.bytes_used > 0);
    assert_eq!(first.next_run_in, DEFAULT_BACKGROUND_INTERVAL);
    // The sample reused the cycle's check: one check in all.
    assert_eq!(stored_checks(&engine), 1);
    // The transition's measurement and the sample's are queued, named by the app's values.
    let pending = engine.pending_uploads().await.unwrap();
    assert_eq!(pending.len(), 1 + BACKGROUND_SAMPLE_SIZE);
    assert!(pending.iter().all(|p| p.state == DeliveryState::Pending));
    assert_eq!(first.pending, pending.len() as u32);
    let history = engine.results_history(0, 10).await.unwrap();
    assert_eq!(history.items.len(), BACKGROUND_SAMPLE_SIZE);
    assert!(history
        .items
        .iter()
        .all(|item| urls.contains(&item.result.target)));

    // Nothing changed; on a metered or data-saving network no test runs.
    for network in [
        NetworkContext {
            metered: true,
            ..home_wifi()
        },
        NetworkContext {
            constrained: true,
            ..home_wifi()
        },
    ] {
        let summary = cycle(network).await.unwrap();
        assert!(summary.connectivity_checked);
        assert_eq!(summary.connectivity, Some(ConnectivityStatus::Ok));
        assert!(!summary.timeline_changed);
        assert_eq!(summary.tests_run, 0);
    }

    // The anchors go away: the change is recorded, and no test runs.
    anchors.take_down();
    let down = cycle(home_wifi()).await.unwrap();
    assert_eq!(down.connectivity, Some(ConnectivityStatus::DataBlackout));
    assert!(down.timeline_changed);
    assert_eq!(down.tests_run, 0);
    // Trouble beyond the device: the engine wants to look again soon.
    assert_eq!(down.next_run_in, WATCH_INTERVAL);
    let timeline = engine
        .connectivity_timeline(SystemTime::UNIX_EPOCH)
        .await
        .unwrap();
    let statuses: Vec<&str> = timeline.iter().map(|t| t.status.as_str()).collect();
    assert_eq!(statuses, vec!["ok", "data_blackout"]);

    // Airplane mode, as the platform reports it: the device's own state, nothing run or
    // uploaded, and no hurry to look again.
    let airplane = cycle(NetworkContext {
        kind: NetworkKind::Offline,
        airplane_mode: true,
        radio: None,
        in_service: Some(false),
        ..NetworkContext::default()
    })
    .await
    .unwrap();
    assert_eq!(airplane.connectivity, Some(ConnectivityStatus::LocalDevice));
    assert_eq!(airplane.tests_run, 0);
    assert_eq!(airplane.uploaded, 0);
    assert_eq!(airplane.next_run_in, DEFAULT_BACKGROUND_INTERVAL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_cycle_keeps_to_the_background_and_monthly_budgets() {
    let anchors = Anchors::up();
    let server = WebServer::http(Routes::new().page("/", 200, "home")).await;
    let urls: Vec<String> = (0..5)
        .map(|i| server.url("http", &format!("/?{i}")))
        .collect();

    // The background budget: nothing left after the check, no test.
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |c| {
        c.background_sample_urls = urls.clone();
        c.budgets.background_bytes = 1;
    });
    let summary = engine
        .background_cycle(cycle_within(home_wifi()))
        .await
        .unwrap();
    assert!(summary.connectivity_checked);
    let check_bytes = summary.bytes_used;
    assert!(check_bytes > 0, "{summary:?}");
    assert_eq!(summary.tests_run, 0);
    assert!(engine.store().unwrap().runs(10).unwrap().is_empty());

    // A byte left after the check: the sample's run gets that byte, measures one URL and
    // stops there.
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |c| {
        c.background_sample_urls = urls.clone();
        c.budgets.background_bytes = check_bytes + 1;
        c.parallelism = 1;
    });
    let summary = engine
        .background_cycle(cycle_within(home_wifi()))
        .await
        .unwrap();
    assert_eq!(summary.bytes_used - check_bytes, {
        let history = engine.results_history(0, 10).await.unwrap();
        history
            .items
            .iter()
            .map(|i| i.result.bytes_received)
            .sum::<u64>()
    });
    assert_eq!(summary.tests_run, 1, "{summary:?}");
    let runs = engine.store().unwrap().runs(10).unwrap();
    assert_eq!(runs[0].run.status.as_deref(), Some("budget_exhausted"));
    assert_eq!(
        runs[0].run.not_measured.as_array().map(Vec::len),
        Some(BACKGROUND_SAMPLE_SIZE - 1)
    );

    // The month's budget used up: no test runs.
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |c| {
        c.background_sample_urls = urls.clone();
        c.budgets.monthly_bytes = 1;
    });
    engine
        .run(web(vec![server.url("http", "/")]), Arc::new(NoListener))
        .await
        .unwrap();
    let used = engine.data_used_this_month().await.unwrap();
    assert!(used.bytes_used >= used.monthly_budget, "{used:?}");
    let summary = engine
        .background_cycle(cycle_within(home_wifi()))
        .await
        .unwrap();
    assert!(summary.connectivity_checked);
    assert_eq!(summary.connectivity, Some(ConnectivityStatus::Ok));
    assert_eq!(summary.tests_run, 0);
}
