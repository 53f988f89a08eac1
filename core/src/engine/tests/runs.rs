//! Complete runs: the order of events and the threads they come on, each result stored before
//! the listener hears of it, the network context in every measurement, messaging, listeners
//! that panic and blocking waits on the library's threads.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kuzet_e2e::fixtures::anchors::Anchors;
use kuzet_e2e::fixtures::web::{Route, Routes, WebServer};

use super::*;
use crate::experiment::connectivity::ConnectivityStatus;
use crate::experiment::messaging::{App, BlockedStep, MessagingVerdict};
use crate::experiment::web_connectivity::Verdict as WebVerdict;
use crate::store::DeliveryState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_run_reports_each_url_in_order_and_ends_completed() {
    let server = WebServer::http(
        Routes::new()
            .page("/", 200, "home")
            .page("/missing", 404, "gone"),
    )
    .await;
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |c| c.parallelism = 1);
    engine.set_network_provider(Some(Arc::new(HomeWifi)));
    let recorder = Arc::new(Recorder::default());
    let urls = vec![server.url("http", "/"), server.url("http", "/missing")];
    let summary = engine
        .run(web(urls.clone()), recorder.clone())
        .await
        .expect("run");

    assert_eq!(summary.status, RunStatus::Completed);
    assert_eq!(summary.results.len(), 2);
    assert!(summary.not_measured.is_empty());
    assert!(summary.problems.is_empty());
    assert_eq!(summary.network, Some(ConnectivityStatus::Ok));
    assert!(summary.bytes_used > 0);
    let first = &summary.results[0];
    assert_eq!(first.target, urls[0]);
    assert_eq!(first.suite(), Suite::Web);
    // A plain-http page without a test helper: it loaded, but nothing proves it genuine.
    assert!(
        matches!(
            first.verdict,
            Verdict::Web(WebVerdict::Undetermined { failed: false, .. })
        ),
        "{first:?}"
    );
    assert_eq!(first.word, "undetermined");
    assert_eq!(first.group, VerdictGroup::Unverified);
    assert_eq!(first.status_code, Some(200));
    assert_eq!(first.failure, None);
    assert!(
        first
            .explanation
            .starts_with("127.0.0.1 loaded (HTTP 200) in "),
        "{}",
        first.explanation
    );
    let (_, measurement) = recorder.result(&urls[0]);
    let measurement = json_of(&measurement);
    assert_eq!(measurement["test_name"], "web_connectivity");
    assert_eq!(
        measurement["test_keys"]["x_verdict"]["kind"],
        "undetermined"
    );
    assert_eq!(measurement["software_name"], "kuzet-tests");
    assert_eq!(measurement["annotations"]["network_type"], "wifi");
    assert_eq!(measurement["id"], first.measurement_id.as_str());
    // The run's first check is under every result.
    assert_eq!(
        measurement["test_keys"]["x_network"]["before"]["status"],
        "ok"
    );
    assert_eq!(summary.results[1].status_code, Some(404));

    assert_eq!(
        recorder.events(),
        vec![
            "phase Preparing".to_string(),
            "phase CheckingNetwork".to_string(),
            "check ok".to_string(),
            "phase Measuring { suite: Web }".to_string(),
            format!("started {}", urls[0]),
            format!("result {} undetermined", urls[0]),
            "progress 1/2".to_string(),
            format!("started {}", urls[1]),
            format!("result {} undetermined", urls[1]),
            "progress 2/2".to_string(),
            "phase Finished".to_string(),
            "finished".to_string(),
        ]
    );
    let progress = recorder.progress();
    assert!(progress[0].estimated_time_left.is_some());
    assert_eq!(progress[1].estimated_time_left, Some(Duration::ZERO));
    assert_eq!(progress[1].bytes_used, summary.bytes_used);
    assert_eq!(
        progress[1].byte_budget,
        crate::experiment::policy::RUN_BYTES
    );
    // Every callback came from the library's own threads.
    let threads = recorder.threads();
    assert!(
        threads
            .iter()
            .all(|name| name.starts_with(crate::runtime::THREAD_NAME_PREFIX)),
        "{threads:?}"
    );
    assert_eq!(recorder.finished().as_ref(), Some(&summary));
    assert_eq!(engine.active_runs(), 0);
    // The results as the listener got them are the summary's.
    let heard: Vec<TargetResult> = recorder.results().into_iter().map(|(r, _)| r).collect();
    assert_eq!(heard, summary.results);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_page_that_loads_is_ok_without_a_test_helper() {
    let (server, trust) = https_site().await;
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |c| c.trust = trust);
    let summary = engine
        .run(web(vec![server.url("https", "/")]), Arc::new(NoListener))
        .await
        .unwrap();
    let result = &summary.results[0];
    assert_eq!(result.verdict, Verdict::Web(WebVerdict::Ok), "{result:?}");
    assert_eq!(result.word, "ok");
    assert_eq!(result.group, VerdictGroup::Ok);
    assert!(
        result
            .explanation
            .starts_with("127.0.0.1 loaded normally (HTTP 200) in "),
        "{}",
        result.explanation
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_context_names_the_probe_network_and_measurements_become_uploadable() {
    let server = WebServer::http(Routes::new().page("/", 200, "home")).await;
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |_| {});
    engine.set_network_provider(Some(Arc::new(Kcell)));
    let recorder = Arc::new(Recorder::default());
    let summary = engine
        .run(web(vec![server.url("http", "/")]), recorder.clone())
        .await
        .unwrap();
    let (_, measurement) = recorder.results().remove(0);
    let json = json_of(&measurement);
    assert_eq!(json["probe_asn"], "AS29355");
    assert_eq!(json["probe_cc"], "KZ");
    assert_eq!(json["probe_network_name"], "Kcell JSC");
    assert_eq!(json["annotations"]["network_type"], "mobile");
    // MCC-MNC is only used to derive those: it is nowhere in the measurement, live or stored.
    let text = json.to_string();
    assert!(
        !text.contains("401-02") && !text.contains("40102"),
        "{text}"
    );
    let id = summary.results[0].measurement_id.clone();
    let stored = engine.result_detail(id.clone()).await.unwrap();
    let stored = stored.measurement_json.expect("measurement kept");
    assert!(!stored.contains("401-02") && !stored.contains("40102"));
    let pending = engine.pending_uploads().await.unwrap();
    let queued = pending
        .iter()
        .find(|p| p.measurement_id == id)
        .expect("queued");
    assert_eq!(queued.state, DeliveryState::Pending);
    let runs = engine.store().unwrap().runs(1).unwrap();
    assert_eq!(runs[0].run.probe_asn, "AS29355");
    assert_eq!(runs[0].run.status.as_deref(), Some("completed"));

    // The app's own values win over the ones MCC-MNC gives.
    struct CheckedIn;
    impl NetworkContextProvider for CheckedIn {
        fn current_network(&self) -> NetworkContext {
            NetworkContext {
                mcc_mnc: Some("401-02".to_string()),
                ..home_wifi()
            }
        }
    }
    engine.set_network_provider(Some(Arc::new(CheckedIn)));
    let recorder = Arc::new(Recorder::default());
    engine
        .run(web(vec![server.url("http", "/")]), recorder.clone())
        .await
        .unwrap();
    let json = json_of(&recorder.results()[0].1);
    assert_eq!(json["probe_asn"], "AS9198");
    assert_eq!(json["probe_network_name"], "JSC Kazakhtelecom");
    assert_eq!(json["annotations"]["network_type"], "wifi");

    // A provider that panics counts as an unknown network: the run goes on.
    struct Broken;
    impl NetworkContextProvider for Broken {
        fn current_network(&self) -> NetworkContext {
            panic!("provider bug");
        }
    }
    engine.set_network_provider(Some(Arc::new(Broken)));
    let recorder = Arc::new(Recorder::default());
    let summary = engine
        .run(web(vec![server.url("http", "/")]), recorder.clone())
        .await
        .unwrap();
    assert_eq!(summary.status, RunStatus::Completed);
    let json = json_of(&recorder.results()[0].1);
    assert_eq!(json["probe_asn"], "AS0");
    assert_eq!(json["annotations"]["network_type"], "unknown");
}

#[test]
fn the_platform_state_comes_from_the_network_context_without_mcc_mnc() {
    let state = NetworkContext {
        kind: NetworkKind::Cellular,
        metered: true,
        mcc_mnc: Some("401-02".to_string()),
        radio: Some("LTE".to_string()),
        in_service: Some(true),
        airplane_mode: false,
        data_enabled: Some(true),
        ..NetworkContext::default()
    }
    .platform_state();
    assert_eq!(
        state.transport,
        crate::experiment::connectivity::Transport::Cellular
    );
    assert_eq!(state.radio.as_deref(), Some("LTE"));
    assert_eq!(state.in_service, Some(true));
    assert_eq!(state.data_enabled, Some(true));
    assert_eq!(state.metered, Some(true));
    assert!(!state.airplane_mode && !state.vpn);
    assert_eq!(state.mcc_mnc, None);
}

/// A listener that checks, as each result lands, that the store already has it with the same
/// word.
struct StoreChecker {
    engine: Engine,
    seen_in_store: Mutex<Vec<bool>>,
}

impl RunListener for StoreChecker {
    fn on_target_result(&self, result: &TargetResult, _: &Measurement) {
        let store = self.engine.store().unwrap();
        let stored = store
            .result(&result.measurement_id)
            .unwrap()
            .is_some_and(|record| record.target == result.target && record.word == result.word);
        self.seen_in_store.lock().unwrap().push(stored);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_result_is_stored_before_the_listener_hears_of_it() {
    let server = WebServer::http(Routes::new().page("/", 200, "home")).await;
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |c| c.parallelism = 1);
    let checker = Arc::new(StoreChecker {
        engine: engine.clone(),
        seen_in_store: Mutex::new(Vec::new()),
    });
    // A page, and a failure (a claim, held for the check after it).
    let urls = vec![server.url("http", "/"), refused_url()];
    let summary = engine.run(web(urls), checker.clone()).await.unwrap();
    assert_eq!(summary.results.len(), 2);
    assert_eq!(*checker.seen_in_store.lock().unwrap(), vec![true, true]);
    let store = engine.store().unwrap();
    let runs = store.runs(10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].run.suite, "web");
    assert!(runs[0].run.finished_at_ms.is_some(), "the run is finished");
    assert_eq!(runs[0].run.status.as_deref(), Some("completed"));
    assert_eq!(runs[0].run.planned, Some(2));
    assert_eq!(runs[0].results, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_listener_does_not_stop_the_run() {
    struct Panicky;
    impl RunListener for Panicky {
        fn on_phase(&self, _: RunPhase) {
            panic!("listener bug");
        }
        fn on_network_check(&self, _: &ConnectivityOutcome) {
            panic!("listener bug");
        }
        fn on_target_result(&self, _: &TargetResult, _: &Measurement) {
            panic!("listener bug");
        }
        fn on_progress(&self, _: &RunProgress) {
            panic!("listener bug");
        }
        fn on_finished(&self, _: &RunSummary) {
            panic!("listener bug");
        }
    }
    let server = WebServer::http(Routes::new().page("/", 200, "home")).await;
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |_| {});
    let summary = engine
        .run(
            web(vec![server.url("http", "/"), refused_url()]),
            Arc::new(Panicky),
        )
        .await
        .unwrap();
    assert_eq!(summary.status, RunStatus::Completed);
    assert_eq!(summary.results.len(), 2);
    let history = engine.results_history(0, 10).await.unwrap();
    assert_eq!(history.items.len(), 2);
    assert_eq!(engine.active_runs(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_wait_is_refused_on_the_librarys_threads() {
    /// Starts a second run from inside a callback and waits for it, blocking.
    struct WaitsInside {
        engine: Engine,
        url: String,
        refused: Mutex<Option<Result<RunSummary, String>>>,
    }
    impl RunListener for WaitsInside {
        fn on_target_result(&self, _: &TargetResult, _: &Measurement) {
            let handle = self
                .engine
                .start_run(web(vec![self.url.clone()]), Arc::new(NoListener))
                .unwrap();
            let waited = handle.wait_blocking().map_err(|e| e.to_string());
            *self.refused.lock().unwrap() = Some(waited);
        }
    }
    let server = WebServer::http(Routes::new().page("/", 200, "home")).await;
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |_| {});
    let url = server.url("http", "/");
    let listener = Arc::new(WaitsInside {
        engine: engine.clone(),
        url: url.clone(),
        refused: Mutex::new(None),
    });
    let summary = engine.run(web(vec![url.clone()]), listener.clone()).await;
    assert_eq!(summary.unwrap().status, RunStatus::Completed);
    let waited = listener.refused.lock().unwrap().take().expect("called");
    let error = waited.expect_err("a blocking wait inside a callback is refused");
    assert!(
        error.contains("cannot be made from Kuzet's own threads"),
        "{error}"
    );
    // The refused run's handle was dropped, which cancelled it.
    eventually("the inner run ends", || engine.active_runs() == 0).await;

    // Inside any async context too (the caller's own runtime): the async form is the one.
    let handle = engine
        .start_run(web(vec![url]), Arc::new(NoListener))
        .unwrap();
    let error = handle.wait_blocking().expect_err("refused in async code");
    assert!(error.to_string().contains("use the async form"), "{error}");
}

#[test]
fn a_blocking_wait_from_an_app_thread_returns_the_summary() {
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |_| {});
    let server = crate::runtime::runtime()
        .block_on(async { WebServer::http(Routes::new().page("/", 200, "home")).await });
    let handle = engine
        .start_run(web(vec![server.url("http", "/")]), Arc::new(NoListener))
        .unwrap();
    let summary = handle.wait_blocking().expect("waited");
    assert_eq!(summary.status, RunStatus::Completed);
    assert_eq!(summary.results.len(), 1);
}

fn messaging_run() -> RunRequest {
    RunRequest {
        suites: vec![Suite::Messaging],
        ..RunRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_messaging_run_reports_each_app_blocked_at_tcp_after_a_check() {
    // engine_at points every app at a refused loopback port: every app is blocked at TCP,
    // and the anchors answer, so the claims stand.
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |c| {
        c.messaging.timeouts.connect = Duration::from_secs(1);
    });
    let checker = Arc::new(StoreChecker {
        engine: engine.clone(),
        seen_in_store: Mutex::new(Vec::new()),
    });
    let summary = engine.run(messaging_run(), checker.clone()).await.unwrap();
    assert_eq!(summary.status, RunStatus::Completed);
    assert_eq!(summary.network, Some(ConnectivityStatus::Ok));
    let targets: Vec<&str> = summary.results.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(
        targets,
        ["whatsapp", "telegram", "signal", "facebook_messenger"]
    );
    for result in &summary.results {
        assert_eq!(result.suite(), Suite::Messaging);
        assert!(
            matches!(
                result.verdict,
                Verdict::Messaging(MessagingVerdict::Blocked {
                    step: Some(BlockedStep::Tcp),
                    ..
                })
            ),
            "{result:?}"
        );
        assert_eq!(result.word, "blocked");
        assert_eq!(result.group, VerdictGroup::Blocked);
        assert_eq!(result.failure.as_deref(), Some("connection_refused"));
        assert_eq!(result.failed_operation.as_deref(), Some("connect"));
        assert!(
            result.explanation.contains("appears blocked"),
            "{}",
            result.explanation
        );
        let detail = engine
            .result_detail(result.measurement_id.clone())
            .await
            .unwrap();
        let measurement: serde_json::Value =
            serde_json::from_str(&detail.measurement_json.unwrap()).unwrap();
        assert_eq!(measurement["test_name"], result.target.as_str());
        assert_eq!(measurement["test_keys"]["x_status"], "blocked");
        assert_eq!(measurement["test_keys"]["x_blocked_step"], "tcp");
        assert_eq!(
            measurement["test_keys"]["x_network"]["after"]["status"],
            "ok"
        );
    }
    assert_eq!(*checker.seen_in_store.lock().unwrap(), vec![true; 4]);
    let runs = engine.store().unwrap().runs(10).unwrap();
    assert_eq!(runs[0].run.suite, "messaging");
    assert_eq!(runs[0].results, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messaging_apps_that_reach_their_servers_are_ok_and_the_budget_holds() {
    let ca = kuzet_e2e::fixtures::pki::TestCa::new("Kuzet Engine Test CA", "Kuzet");
    let server = WebServer::https(
        Routes::new().fallback(Route::Page {
            status: 200,
            body: "ok".to_string(),
        }),
        &ca.leaf(&["127.0.0.1"]),
    )
    .await;
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |c| {
        c.trust = crate::net::trust::TrustAnchors::only_pem(ca.cert_pem.as_bytes()).unwrap();
        c.messaging.endpoints =
            crate::experiment::messaging::MessagingEndpoints::all_at(server.addr);
        // Telegram's data centres speak plain HTTP, not this HTTPS server: left out here.
        c.messaging.apps = vec![App::WhatsApp, App::Signal, App::FacebookMessenger];
    });
    let summary = engine
        .run(messaging_run(), Arc::new(NoListener))
        .await
        .unwrap();
    assert_eq!(summary.status, RunStatus::Completed);
    assert_eq!(summary.results.len(), 3);
    for result in &summary.results {
        assert!(
            matches!(
                result.verdict,
                Verdict::Messaging(MessagingVerdict::Ok { .. })
            ),
            "{result:?}"
        );
        assert_eq!(
            (result.word.as_str(), result.group),
            ("ok", VerdictGroup::Ok)
        );
    }

    // A budget smaller than one app's bound measures nothing, and says so.
    let summary = engine
        .run(
            RunRequest {
                byte_budget: Some(1024),
                ..messaging_run()
            },
            Arc::new(NoListener),
        )
        .await
        .unwrap();
    assert_eq!(summary.status, RunStatus::BudgetExhausted);
    assert!(summary.results.is_empty());
    let not_measured: Vec<&str> = summary
        .not_measured
        .iter()
        .map(|n| n.target.as_str())
        .collect();
    assert_eq!(not_measured, ["whatsapp", "signal", "facebook_messenger"]);
    assert!(summary
        .not_measured
        .iter()
        .all(|n| n.suite == Suite::Messaging));
}
