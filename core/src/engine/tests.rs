//! The engine against loopback servers: complete runs, cancellation, budgets, refusals.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use kuzet_e2e::fixtures::tcp::closed_port;
use kuzet_e2e::fixtures::web::{Route, Routes, WebServer};

use super::*;

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
    results: Mutex<Vec<TargetResult>>,
    progress: Mutex<Vec<RunProgress>>,
    finished: Mutex<Option<RunSummary>>,
    threads: Mutex<Vec<String>>,
}

impl Recorder {
    fn note(&self, event: String) {
        let name = std::thread::current().name().unwrap_or("").to_string();
        self.threads.lock().unwrap().push(name);
        self.events.lock().unwrap().push(event);
    }
    fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
}

impl RunListener for Recorder {
    fn on_phase(&self, phase: RunPhase) {
        self.note(format!("phase {phase:?}"));
    }
    fn on_target_result(&self, result: &TargetResult) {
        self.note(format!("result {}", result.target));
        self.results.lock().unwrap().push(result.clone());
    }
    fn on_progress(&self, progress: &RunProgress) {
        self.note(format!(
            "progress {}/{}",
            progress.completed, progress.total
        ));
        self.progress.lock().unwrap().push(progress.clone());
    }
    fn on_finished(&self, summary: &RunSummary) {
        self.note("finished".to_string());
        *self.finished.lock().unwrap() = Some(summary.clone());
    }
}

/// A server whose paths `/0` to `/9` answer only after 30 s.
async fn slow_server() -> WebServer {
    let mut routes = Routes::new();
    for i in 0..10 {
        routes = routes.route(
            &format!("/{i}"),
            Route::Slow {
                delay: Duration::from_secs(30),
            },
        );
    }
    WebServer::http(routes).await
}

/// A connectivity check with two loopback anchors (domestic and international) on `port`, by
/// TCP connect, resolved from the hosts file: nothing leaves the machine.
pub(crate) fn loopback_connectivity(
    port: u16,
) -> crate::experiment::connectivity::ConnectivityConfig {
    crate::experiment::connectivity::ConnectivityConfig::from_json(&format!(
        r#"{{"anchors": [
            {{"name": "localhost", "group": "domestic", "pinned_ips": ["127.0.0.1"], "port": {port}, "probe": "tcp_connect"}},
            {{"name": "localhost", "group": "international", "pinned_ips": ["127.0.0.1"], "port": {port}, "probe": "tcp_connect"}}
        ],
        "rechecks": {{"count": 0, "delay": 0}},
        "timeouts": {{"dns": 1000, "probe": 1000}}}}"#
    ))
    .expect("loopback connectivity configuration")
}

/// A loopback port that accepts connections while the listener lives (the kernel completes
/// the handshake from the backlog).
fn anchor_listener() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

fn engine_with(dir: &tempfile::TempDir, edit: impl FnOnce(&mut EngineConfig)) -> Engine {
    let mut config = EngineConfig::new(
        dir.path().join("kuzet"),
        Software {
            name: "kuzet-tests".to_string(),
            version: "1.0".to_string(),
        },
    );
    // Never the built-in anchors (public hosts): a dead loopback port unless a test says.
    config.connectivity = loopback_connectivity(closed_port());
    // Never the real messaging services either.
    config.messaging.endpoints = crate::experiment::messaging::MessagingEndpoints::all_at(
        std::net::SocketAddr::from(([127, 0, 0, 1], closed_port())),
    );
    edit(&mut config);
    Engine::new(config).expect("engine")
}

fn web(urls: Vec<String>) -> RunRequest {
    RunRequest {
        suites: vec![Suite::Web],
        web_urls: urls,
        byte_budget: None,
        throttling_targets: Vec::new(),
    }
}

struct FixedNetwork;
impl NetworkContextProvider for FixedNetwork {
    fn current_network(&self) -> NetworkContext {
        NetworkContext {
            kind: NetworkKind::Wifi,
            metered: false,
            constrained: false,
            ..NetworkContext::default()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_run_reports_each_url_in_order_and_ends_completed() {
    let server = WebServer::http(
        Routes::new()
            .page("/", 200, "home")
            .page("/missing", 404, "gone"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, |c| c.parallelism = 1);
    engine.set_network_provider(Some(Arc::new(FixedNetwork)));
    let recorder = Arc::new(Recorder::default());
    let urls = vec![server.url("http", "/"), server.url("http", "/missing")];
    let summary = engine
        .run(web(urls.clone()), recorder.clone())
        .await
        .expect("run");

    assert_eq!(summary.status, RunStatus::Completed);
    assert_eq!(summary.results.len(), 2);
    assert_eq!(summary.skipped, 0);
    assert!(summary.bytes_used > 0);
    let first = &summary.results[0];
    assert_eq!(first.target, urls[0]);
    // A plain-http page without a test helper: it loaded, but nothing proves it genuine.
    assert_eq!(first.verdict, Verdict::Undetermined);
    assert_eq!(first.blocking, None);
    assert!(
        first.verdict_detail.starts_with("undetermined"),
        "{}",
        first.verdict_detail
    );
    assert_eq!(first.status_code, Some(200));
    assert!(
        first
            .explanation
            .starts_with("127.0.0.1 loaded (HTTP 200) in "),
        "{}",
        first.explanation
    );
    let measurement: serde_json::Value = serde_json::from_str(&first.measurement_json).unwrap();
    assert_eq!(measurement["test_name"], "web_connectivity");
    assert_eq!(
        measurement["test_keys"]["x_verdict"]["kind"],
        "undetermined"
    );
    assert_eq!(measurement["software_name"], "kuzet-tests");
    assert_eq!(measurement["annotations"]["network_type"], "wifi");
    assert_eq!(measurement["id"], first.measurement_id.as_str());
    assert_eq!(summary.results[1].status_code, Some(404));

    assert_eq!(
        recorder.events(),
        vec![
            "phase Preparing".to_string(),
            "phase Measuring(Web)".to_string(),
            format!("result {}", urls[0]),
            "progress 1/2".to_string(),
            format!("result {}", urls[1]),
            "progress 2/2".to_string(),
            "phase Finished".to_string(),
            "finished".to_string(),
        ]
    );
    let progress = recorder.progress.lock().unwrap().clone();
    assert!(progress[0].estimated_time_left.is_some());
    assert_eq!(progress[1].estimated_time_left, Some(Duration::ZERO));
    assert_eq!(progress[1].bytes_used, summary.bytes_used);
    // Every callback came from the library's own threads.
    assert!(recorder
        .threads
        .lock()
        .unwrap()
        .iter()
        .all(|name| name.starts_with(runtime::THREAD_NAME_PREFIX)));
    assert_eq!(recorder.finished.lock().unwrap().as_ref(), Some(&summary));
    assert_eq!(engine.active_runs(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_url_is_an_anomaly_with_an_explanation() {
    let port = closed_port();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, |_| {});
    let summary = engine
        .run(
            web(vec![format!("http://127.0.0.1:{port}/")]),
            Arc::new(NoListener),
        )
        .await
        .unwrap();
    let result = &summary.results[0];
    assert_eq!(result.verdict, Verdict::Anomaly);
    assert_eq!(result.failed_operation.as_deref(), Some("connect"));
    assert_eq!(result.failure.as_deref(), Some("connection_refused"));
    assert_eq!(
        result.explanation,
        "127.0.0.1 did not load: the connection was refused while opening a connection. No test helper is configured to compare with another network, so this cannot tell blocking from an outage."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_page_that_loads_is_accessible_without_a_test_helper() {
    let ca = kuzet_e2e::fixtures::pki::TestCa::new("Kuzet Test CA", "Kuzet");
    let leaf = ca.leaf(&["127.0.0.1"]);
    let server = WebServer::https(Routes::new().page("/", 200, "secure"), &leaf).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, |c| {
        c.trust = crate::net::trust::TrustAnchors::bundled_with_pem(ca.cert_pem.as_bytes()).unwrap()
    });
    let summary = engine
        .run(web(vec![server.url("https", "/")]), Arc::new(NoListener))
        .await
        .unwrap();
    let result = &summary.results[0];
    assert_eq!(result.verdict, Verdict::Accessible, "{result:?}");
    assert_eq!(result.verdict_detail, "ok");
    assert!(
        result
            .explanation
            .starts_with("127.0.0.1 loaded normally (HTTP 200) in "),
        "{}",
        result.explanation
    );
}

/// A phone on Kcell's mobile data, as its platform describes it.
struct Kcell;
impl NetworkContextProvider for Kcell {
    fn current_network(&self) -> NetworkContext {
        NetworkContext {
            kind: NetworkKind::Cellular,
            metered: true,
            mcc_mnc: Some("401-02".to_string()),
            ..NetworkContext::default()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_context_names_the_probe_network_and_measurements_become_uploadable() {
    let server = WebServer::http(Routes::new().page("/", 200, "home")).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, |_| {});
    engine.set_network_provider(Some(Arc::new(Kcell)));
    let summary = engine
        .run(web(vec![server.url("http", "/")]), Arc::new(NoListener))
        .await
        .unwrap();
    let measurement: serde_json::Value =
        serde_json::from_str(&summary.results[0].measurement_json).unwrap();
    assert_eq!(measurement["probe_asn"], "AS29355");
    assert_eq!(measurement["probe_cc"], "KZ");
    assert_eq!(measurement["probe_network_name"], "Kcell JSC");
    assert_eq!(measurement["annotations"]["network_type"], "mobile");
    // MCC-MNC is only used to derive those: it is nowhere in the measurement.
    let text = summary.results[0].measurement_json.as_str();
    assert!(
        !text.contains("401-02") && !text.contains("40102"),
        "{text}"
    );
    let pending = engine.pending_uploads().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].state, crate::store::DeliveryState::Pending);
    let runs = engine.store().unwrap().runs(1).unwrap();
    assert_eq!(runs[0].run.probe_asn, "AS29355");

    // The app's own values win.
    struct CheckedIn;
    impl NetworkContextProvider for CheckedIn {
        fn current_network(&self) -> NetworkContext {
            NetworkContext {
                kind: NetworkKind::Wifi,
                probe_asn: Some("AS9198".to_string()),
                probe_cc: Some("KZ".to_string()),
                network_name: Some("JSC Kazakhtelecom".to_string()),
                mcc_mnc: Some("401-02".to_string()),
                ..NetworkContext::default()
            }
        }
    }
    engine.set_network_provider(Some(Arc::new(CheckedIn)));
    let summary = engine
        .run(web(vec![server.url("http", "/")]), Arc::new(NoListener))
        .await
        .unwrap();
    let measurement: serde_json::Value =
        serde_json::from_str(&summary.results[0].measurement_json).unwrap();
    assert_eq!(measurement["probe_asn"], "AS9198");
    assert_eq!(measurement["probe_network_name"], "JSC Kazakhtelecom");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_reads_match_the_blocking_ones() {
    let server = WebServer::http(Routes::new().page("/", 200, "home")).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, |_| {});
    engine.set_network_provider(Some(Arc::new(Kcell)));
    let summary = engine
        .run(web(vec![server.url("http", "/")]), Arc::new(NoListener))
        .await
        .unwrap();
    let id = summary.results[0].measurement_id.clone();
    let page = engine.results_history_async(0, 10).await.unwrap();
    assert_eq!(page, engine.results_history(0, 10).unwrap());
    assert_eq!(page.items.len(), 1);
    let detail = engine.result_detail_async(id.clone()).await.unwrap();
    assert_eq!(detail, engine.result_detail(&id).unwrap());
    assert_eq!(result_verdict(&detail.record), Verdict::Undetermined);
    assert_eq!(
        engine.pending_uploads_async().await.unwrap(),
        engine.pending_uploads().unwrap()
    );
    assert_eq!(
        engine
            .connectivity_timeline_async(std::time::SystemTime::UNIX_EPOCH)
            .await
            .unwrap(),
        engine
            .connectivity_timeline(std::time::SystemTime::UNIX_EPOCH)
            .unwrap()
    );
    let used = engine.data_used_this_month_async().await.unwrap();
    assert_eq!(used.bytes_used, summary.bytes_used);
    assert!(matches!(
        engine.result_detail_async("nope".to_string()).await,
        Err(EngineError::InvalidInput(_))
    ));
    engine.wipe_async().await.unwrap();
    assert!(engine
        .results_history_async(0, 10)
        .await
        .unwrap()
        .items
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_measurements_in_flight_at_once() {
    let server = slow_server().await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, |c| c.parallelism = 2);
    let recorder = Arc::new(Recorder::default());
    let urls = (0..5)
        .map(|i| server.url("http", &format!("/{i}")))
        .collect();
    let handle = engine.start_run(web(urls), recorder.clone()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!handle.is_finished());
    assert_eq!(engine.active_runs(), 1);
    let cancelled_at = Instant::now();
    handle.cancel();
    let summary = handle.wait().await.unwrap();
    assert!(cancelled_at.elapsed() < Duration::from_secs(2));
    assert_eq!(summary.status, RunStatus::Cancelled);
    assert!(summary.results.is_empty());
    assert_eq!(summary.skipped, 5);
    assert_eq!(
        recorder.events().last().map(String::as_str),
        Some("finished")
    );
    assert_eq!(engine.active_runs(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_handle_cancels_the_run() {
    let server = slow_server().await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, |_| {});
    let recorder = Arc::new(Recorder::default());
    let handle = engine
        .start_run(web(vec![server.url("http", "/0")]), recorder.clone())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(handle);
    let deadline = Instant::now() + Duration::from_secs(2);
    while engine.active_runs() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(engine.active_runs(), 0);
    let finished = recorder.finished.lock().unwrap().clone().unwrap();
    assert_eq!(finished.status, RunStatus::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_byte_budget_stops_new_targets() {
    let server = WebServer::http(Routes::new().route("/big", Route::Large { len: 10_000 })).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, |c| c.parallelism = 1);
    let request = RunRequest {
        byte_budget: Some(5_000),
        ..web((0..3).map(|_| server.url("http", "/big")).collect())
    };
    let summary = engine.run(request, Arc::new(NoListener)).await.unwrap();
    assert_eq!(summary.status, RunStatus::BudgetExhausted);
    assert_eq!(summary.results.len(), 1);
    assert_eq!(summary.skipped, 2);
    assert!(summary.bytes_used >= 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_listener_does_not_stop_the_run() {
    struct Panicky;
    impl RunListener for Panicky {
        fn on_phase(&self, _: RunPhase) {
            panic!("listener bug");
        }
        fn on_target_result(&self, _: &TargetResult) {
            panic!("listener bug");
        }
        fn on_progress(&self, _: &RunProgress) {}
        fn on_finished(&self, _: &RunSummary) {
            panic!("listener bug");
        }
    }
    let server = WebServer::http(Routes::new().page("/", 200, "home")).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, |_| {});
    let summary = engine
        .run(web(vec![server.url("http", "/")]), Arc::new(Panicky))
        .await
        .unwrap();
    assert_eq!(summary.status, RunStatus::Completed);
    assert_eq!(summary.results.len(), 1);
}

#[test]
fn runs_are_refused_before_anything_is_measured() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, |c| {
        c.consent.allowed_suites = vec![Suite::Web, Suite::Messaging]
    });
    let listener: Arc<dyn RunListener> = Arc::new(NoListener);
    let refuse = |request: RunRequest| {
        engine
            .start_run(request, listener.clone())
            .expect_err("refused")
    };

    let error = refuse(RunRequest::default());
    assert!(matches!(error, EngineError::InvalidInput(_)), "{error:?}");

    assert!(Suite::Connectivity.is_available() && Suite::Messaging.is_available());
    assert_eq!(engine.unavailable_reason(Suite::Messaging), None);

    // Messaging is built, but refused without consent and with unusable endpoints.
    let dir3 = tempfile::tempdir().unwrap();
    let error = engine_with(&dir3, |c| c.consent.allowed_suites = vec![Suite::Web])
        .start_run(
            RunRequest {
                suites: vec![Suite::Messaging],
                ..RunRequest::default()
            },
            listener.clone(),
        )
        .expect_err("not allowed");
    assert!(matches!(error, EngineError::NotAllowed(_)), "{error:?}");
    let dir4 = tempfile::tempdir().unwrap();
    let error = engine_with(&dir4, |c| c.messaging.endpoints.signal.urls.clear())
        .start_run(
            RunRequest {
                suites: vec![Suite::Messaging],
                ..RunRequest::default()
            },
            listener.clone(),
        )
        .expect_err("bad endpoints");
    assert!(matches!(error, EngineError::InvalidInput(_)), "{error:?}");
    assert!(error.to_string().contains("signal.urls"), "{error}");

    let error = refuse(RunRequest {
        suites: vec![Suite::Throttling],
        ..RunRequest::default()
    });
    assert!(matches!(error, EngineError::NotAllowed(_)), "{error:?}");

    // Allowed and built, but no throughput server configured.
    let dir2 = tempfile::tempdir().unwrap();
    let error = engine_with(&dir2, |_| {})
        .start_run(
            RunRequest {
                suites: vec![Suite::Throttling],
                ..RunRequest::default()
            },
            listener.clone(),
        )
        .expect_err("no server");
    assert!(matches!(error, EngineError::Unavailable(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("needs Kuzet's throughput server"),
        "{error}"
    );

    let error = refuse(web(vec![]));
    assert!(matches!(error, EngineError::InvalidInput(_)), "{error:?}");

    let error = refuse(web(vec!["ftp://example.org/".to_string()]));
    assert!(
        matches!(error, EngineError::Core(crate::Error::InvalidUrl { .. })),
        "{error:?}"
    );
    assert_eq!(engine.active_runs(), 0);
}

#[test]
fn bad_configurations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let base = || EngineConfig::new(dir.path().join("d"), Software::default());
    let refuse = |config: EngineConfig| Engine::new(config).expect_err("refused").to_string();

    let mut config = base();
    config.software.name = "my app".to_string();
    assert!(refuse(config).contains("software name"));
    let mut config = base();
    config.data_dir = PathBuf::from("relative/dir");
    assert!(refuse(config).contains("absolute path"));
    let mut config = base();
    config.parallelism = 0;
    assert!(refuse(config).contains("parallelism"));

    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let config = EngineConfig::new(file.join("sub"), Software::default());
    let error = Engine::new(config).expect_err("not a directory");
    assert!(matches!(error, EngineError::Storage { .. }), "{error:?}");
    assert!(error
        .to_string()
        .starts_with("cannot create the data directory"));
}

#[test]
fn service_urls_must_be_https_except_on_loopback() {
    assert!(parse_service_url("collector", "https://collector.example/").is_ok());
    assert!(parse_service_url("collector", "http://127.0.0.1:8080/").is_ok());
    assert!(parse_service_url("collector", "http://localhost/").is_ok());
    let error = parse_service_url("collector", "http://collector.example/").unwrap_err();
    assert!(error.to_string().contains("must be an https URL"));
    assert!(parse_service_url("collector", "not a url").is_err());
}

#[test]
fn wipe_empties_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, |_| {});
    let data = engine.config().data_dir.clone();
    std::fs::create_dir_all(data.join("sub/deeper")).unwrap();
    std::fs::write(data.join("sub/deeper/f"), b"x").unwrap();
    std::fs::write(data.join("g"), b"y").unwrap();
    engine.wipe().unwrap();
    assert!(data.is_dir());
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0);
}

#[test]
fn a_background_cycle_without_a_collector_uploads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, |c| {
        c.consent.upload_allowed = true;
        c.consent.allowed_suites = vec![Suite::Web];
    });
    let summary = runtime::runtime()
        .block_on(engine.background_cycle(BackgroundRequest {
            time_budget: Duration::from_secs(30),
            network: NetworkContext::default(),
        }))
        .unwrap();
    assert_eq!(summary.uploaded, 0);
    assert_eq!(summary.upload_failures, 0);
    assert_eq!(summary.pending, 0);
    // The user has not allowed the connectivity suite: no check.
    assert!(!summary.connectivity_checked);
    assert_eq!(summary.connectivity, None);
    assert_eq!(summary.tests_run, 0);
    assert_eq!(summary.next_run_in, DEFAULT_BACKGROUND_INTERVAL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connectivity_suite_records_each_check_and_the_timeline_its_changes() {
    let anchor = anchor_listener();
    let port = anchor.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, |c| c.connectivity = loopback_connectivity(port));
    engine.set_network_provider(Some(Arc::new(Kcell)));
    let request = RunRequest {
        suites: vec![Suite::Connectivity],
        ..RunRequest::default()
    };
    let recorder = Arc::new(Recorder::default());
    let summary = engine.run(request.clone(), recorder.clone()).await.unwrap();
    assert_eq!(summary.status, RunStatus::Completed);
    assert_eq!(
        recorder.events(),
        vec![
            "phase Preparing".to_string(),
            "phase Measuring(Connectivity)".to_string(),
            "result connectivity".to_string(),
            "progress 1/1".to_string(),
            "phase Finished".to_string(),
            "finished".to_string(),
        ]
    );
    let result = &summary.results[0];
    assert_eq!(result.suite, Suite::Connectivity);
    assert_eq!(result.target, CONNECTIVITY_TARGET);
    assert_eq!(result.verdict, Verdict::Accessible, "{result:?}");
    assert_eq!(result.verdict_detail, "ok");
    assert!(result
        .explanation
        .contains("reached domestic and international hosts"));
    let measurement: serde_json::Value = serde_json::from_str(&result.measurement_json).unwrap();
    assert_eq!(measurement["test_name"], "kuzet_connectivity");
    assert_eq!(measurement["probe_asn"], "AS29355");
    assert!(
        !result.measurement_json.contains("401-02"),
        "MCC-MNC recorded"
    );
    assert_eq!(measurement["id"], result.measurement_id.as_str());

    // The same status again: stored in the history, no new transition.
    engine
        .run(request.clone(), Arc::new(NoListener))
        .await
        .unwrap();
    // The anchors go away: a data blackout, as this device sees it.
    drop(anchor);
    let blackout = engine.run(request, Arc::new(NoListener)).await.unwrap();
    let result = &blackout.results[0];
    assert_eq!(result.verdict, Verdict::Anomaly, "{result:?}");
    assert_eq!(result.verdict_detail, "data_blackout");

    let timeline = engine
        .connectivity_timeline_async(std::time::SystemTime::UNIX_EPOCH)
        .await
        .unwrap();
    let statuses: Vec<&str> = timeline.iter().map(|t| t.status.as_str()).collect();
    assert_eq!(statuses, vec!["ok", "data_blackout"]);
    let history = engine.results_history(0, 10).unwrap();
    assert_eq!(history.items.len(), 3);
    assert!(history
        .items
        .iter()
        .all(|r| result_suite(r) == Suite::Connectivity));
    let verdicts: Vec<Verdict> = history.items.iter().map(result_verdict).collect();
    assert_eq!(
        verdicts,
        vec![Verdict::Anomaly, Verdict::Accessible, Verdict::Accessible]
    );
    assert_eq!(
        engine
            .result_detail(&result.measurement_id)
            .unwrap()
            .explanation,
        result.explanation
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_cycle_checks_records_changes_and_samples_when_budgets_allow() {
    let anchor = anchor_listener();
    let port = anchor.local_addr().unwrap().port();
    let server = WebServer::http(Routes::new().page("/", 200, "home")).await;
    let urls: Vec<String> = (0..5)
        .map(|i| server.url("http", &format!("/?{i}")))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, |c| {
        c.connectivity = loopback_connectivity(port);
        c.background_sample_urls = urls.clone();
    });
    let wifi = NetworkContext {
        kind: NetworkKind::Wifi,
        probe_asn: Some("AS9198".to_string()),
        probe_cc: Some("KZ".to_string()),
        ..NetworkContext::default()
    };
    let cycle = |network: NetworkContext| {
        engine.background_cycle(BackgroundRequest {
            time_budget: Duration::from_secs(30),
            network,
        })
    };
    let first = cycle(wifi.clone()).await.unwrap();
    assert!(first.connectivity_checked);
    assert_eq!(
        first.connectivity,
        Some(crate::experiment::connectivity::ConnectivityStatus::Ok)
    );
    assert!(first.timeline_changed);
    assert_eq!(first.tests_run, BACKGROUND_SAMPLE_SIZE as u32);
    assert!(first.bytes_used > 0);
    // The transition's measurement and the sample's are queued, named by the app's values.
    let pending = engine.pending_uploads().unwrap();
    assert_eq!(pending.len(), 1 + BACKGROUND_SAMPLE_SIZE);
    assert!(pending
        .iter()
        .all(|p| p.state == crate::store::DeliveryState::Pending));
    let history = engine.results_history(0, 10).unwrap();
    assert!(history.items.iter().all(|r| urls.contains(&r.target)));

    // Nothing changed; on a metered network no test runs.
    let metered = cycle(NetworkContext {
        metered: true,
        ..wifi.clone()
    })
    .await
    .unwrap();
    assert!(metered.connectivity_checked);
    assert!(!metered.timeline_changed);
    assert_eq!(metered.tests_run, 0);

    // No background budget left after the check: no test runs.
    let dir = tempfile::tempdir().unwrap();
    let frugal = engine_with(&dir, |c| {
        c.connectivity = loopback_connectivity(port);
        c.background_sample_urls = urls.clone();
        c.budgets.background_bytes = 1;
    });
    let summary = frugal
        .background_cycle(BackgroundRequest {
            time_budget: Duration::from_secs(30),
            network: wifi.clone(),
        })
        .await
        .unwrap();
    assert!(summary.connectivity_checked);
    assert_eq!(summary.tests_run, 0);

    // The anchors go away: the change is recorded, and no test runs.
    drop(anchor);
    let down = cycle(wifi).await.unwrap();
    assert_eq!(
        down.connectivity,
        Some(crate::experiment::connectivity::ConnectivityStatus::DataBlackout)
    );
    assert!(down.timeline_changed);
    assert_eq!(down.tests_run, 0);
    // Trouble beyond the device: the engine wants to look again soon.
    assert_eq!(down.next_run_in, WATCH_INTERVAL);
    assert_eq!(first.next_run_in, DEFAULT_BACKGROUND_INTERVAL);
    let timeline = engine
        .connectivity_timeline(std::time::SystemTime::UNIX_EPOCH)
        .unwrap();
    let statuses: Vec<&str> = timeline.iter().map(|t| t.status.as_str()).collect();
    assert_eq!(statuses, vec!["ok", "data_blackout"]);

    // Airplane mode, as the platform reports it: the device's own state, nothing uploaded.
    let airplane = cycle(NetworkContext {
        kind: NetworkKind::Offline,
        airplane_mode: true,
        radio: None,
        in_service: Some(false),
        ..NetworkContext::default()
    })
    .await
    .unwrap();
    assert_eq!(
        airplane.connectivity,
        Some(crate::experiment::connectivity::ConnectivityStatus::LocalDevice)
    );
    assert_eq!(airplane.tests_run, 0);
    assert_eq!(airplane.uploaded, 0);
}

#[test]
fn the_platform_state_comes_from_the_network_context_without_mcc_mnc() {
    let state = super::connectivity::platform_state(&NetworkContext {
        kind: NetworkKind::Cellular,
        metered: true,
        mcc_mnc: Some("401-02".to_string()),
        radio: Some("LTE".to_string()),
        in_service: Some(true),
        airplane_mode: false,
        data_enabled: Some(true),
        ..NetworkContext::default()
    });
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

/// A listener that checks, as each result lands, that the store already has it.
struct StoreChecker {
    engine: Engine,
    seen_in_store: Mutex<Vec<bool>>,
}

impl RunListener for StoreChecker {
    fn on_phase(&self, _: RunPhase) {}
    fn on_target_result(&self, result: &TargetResult) {
        let stored = self
            .engine
            .result_detail(&result.measurement_id)
            .is_ok_and(|d| d.record.target == result.target);
        self.seen_in_store.lock().unwrap().push(stored);
    }
    fn on_progress(&self, _: &RunProgress) {}
    fn on_finished(&self, _: &RunSummary) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_result_is_stored_before_the_listener_hears_of_it() {
    let server = WebServer::http(Routes::new().page("/", 200, "home")).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, |c| c.parallelism = 1);
    let checker = Arc::new(StoreChecker {
        engine: engine.clone(),
        seen_in_store: Mutex::new(Vec::new()),
    });
    let urls = vec![server.url("http", "/"), server.url("http", "/")];
    let summary = engine.run(web(urls), checker.clone()).await.unwrap();
    assert_eq!(summary.results.len(), 2);
    assert_eq!(*checker.seen_in_store.lock().unwrap(), vec![true, true]);
    let store = engine.store().unwrap();
    let runs = store.runs(10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].run.suite, "web");
    assert!(runs[0].run.finished_at_ms.is_some(), "the run is finished");
    assert_eq!(runs[0].results, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_pages_newest_first_with_details() {
    let server = WebServer::http(
        Routes::new()
            .page("/a", 200, "a")
            .page("/b", 200, "b")
            .page("/c", 200, "c"),
    )
    .await;
    let port = closed_port();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, |c| c.parallelism = 1);
    assert_eq!(engine.results_history(0, 10).unwrap().items, vec![]);

    let first = engine
        .run(
            web(vec![server.url("http", "/a"), server.url("http", "/b")]),
            Arc::new(NoListener),
        )
        .await
        .unwrap();
    let second = engine
        .run(
            web(vec![
                server.url("http", "/c"),
                format!("http://127.0.0.1:{port}/"),
            ]),
            Arc::new(NoListener),
        )
        .await
        .unwrap();

    let page = engine.results_history(0, 3).unwrap();
    let ids: Vec<&str> = page
        .items
        .iter()
        .map(|r| r.measurement_id.as_str())
        .collect();
    assert_eq!(
        ids,
        vec![
            second.results[1].measurement_id.as_str(),
            second.results[0].measurement_id.as_str(),
            first.results[1].measurement_id.as_str(),
        ]
    );
    assert_eq!(page.next_offset, Some(3));
    let last = engine.results_history(3, 3).unwrap();
    assert_eq!(last.items.len(), 1);
    assert_eq!(
        last.items[0].measurement_id,
        first.results[0].measurement_id
    );
    assert_eq!(last.next_offset, None);
    assert!(engine.results_history(0, 0).is_err());

    assert_eq!(page.items[0].verdict, crate::store::VerdictKind::Anomaly);
    assert_eq!(result_verdict(&page.items[0]), Verdict::Anomaly);
    // Undetermined is stored as an anomaly; the engine's verdict is kept in the detail.
    assert_eq!(page.items[1].verdict, crate::store::VerdictKind::Anomaly);
    assert_eq!(result_verdict(&page.items[1]), Verdict::Undetermined);
    assert_eq!(result_blocking(&page.items[1]), None);

    let failed = &second.results[1];
    let detail = engine.result_detail(&failed.measurement_id).unwrap();
    assert_eq!(detail.explanation, failed.explanation);
    assert_eq!(detail.record.failure.as_deref(), Some("connection_refused"));
    let json: serde_json::Value =
        serde_json::from_str(detail.measurement_json.as_deref().unwrap()).unwrap();
    assert_eq!(json["id"], failed.measurement_id.as_str());
    assert!(matches!(
        engine.result_detail("no-such-id"),
        Err(EngineError::InvalidInput(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_uploads_and_monthly_data_follow_the_runs() {
    let server = WebServer::http(Routes::new().page("/", 200, "home")).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, |c| c.budgets.monthly_bytes = 1234);
    let empty = engine.data_used_this_month().unwrap();
    assert_eq!(empty.bytes_used, 0);
    assert_eq!(empty.monthly_budget, 1234);
    let now = time::OffsetDateTime::now_utc();
    assert_eq!(
        empty.month,
        format!("{:04}-{:02}", now.year(), u8::from(now.month()))
    );
    assert!(engine.pending_uploads().unwrap().is_empty());

    let summary = engine
        .run(web(vec![server.url("http", "/")]), Arc::new(NoListener))
        .await
        .unwrap();
    let pending = engine.pending_uploads().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].measurement_id, summary.results[0].measurement_id);
    // The network is unknown (AS0/ZZ), so the measurement is held, not sent.
    assert_eq!(pending[0].state, crate::store::DeliveryState::Held);
    assert!(pending[0].last_error.is_none());

    let used = engine.data_used_this_month().unwrap();
    assert!(summary.bytes_used > 0);
    assert_eq!(used.bytes_used, summary.bytes_used);
}

#[test]
fn the_connectivity_timeline_reads_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, |_| {});
    assert!(engine
        .connectivity_timeline(std::time::SystemTime::UNIX_EPOCH)
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
        .connectivity_timeline(std::time::SystemTime::UNIX_EPOCH)
        .unwrap();
    let statuses: Vec<&str> = all.iter().map(|t| t.status.as_str()).collect();
    assert_eq!(statuses, vec!["ok", "data_blackout"]);
    let since = std::time::SystemTime::UNIX_EPOCH
        + Duration::from_millis(u64::try_from(now - 1_500).unwrap());
    let recent = engine.connectivity_timeline(since).unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].status, "data_blackout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wipe_empties_the_store_and_it_works_again_afterwards() {
    let server = WebServer::http(Routes::new().page("/", 200, "home")).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, |_| {});
    engine
        .run(web(vec![server.url("http", "/")]), Arc::new(NoListener))
        .await
        .unwrap();
    assert_eq!(engine.results_history(0, 10).unwrap().items.len(), 1);
    let wiper = engine.clone();
    tokio::task::spawn_blocking(move || wiper.wipe())
        .await
        .unwrap()
        .unwrap();
    let data = engine.config().data_dir.clone();
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0);
    assert!(engine.results_history(0, 10).unwrap().items.is_empty());
    assert!(engine.pending_uploads().unwrap().is_empty());
    assert_eq!(engine.data_used_this_month().unwrap().bytes_used, 0);
    engine
        .run(web(vec![server.url("http", "/")]), Arc::new(NoListener))
        .await
        .unwrap();
    assert_eq!(engine.results_history(0, 10).unwrap().items.len(), 1);
}

#[test]
fn every_web_connectivity_verdict_maps_to_a_verdict_and_a_method() {
    use crate::experiment::web_connectivity::{DnsTamper, TcpBlock, TlsBlock, Verdict as Web};
    let cases = [
        (Web::Ok, false, Verdict::Accessible, None),
        (Web::SiteDown, true, Verdict::Down, None),
        (
            Web::DnsTampered {
                how: DnsTamper::Bogon,
            },
            true,
            Verdict::Blocked,
            Some(BlockingMethod::Dns),
        ),
        (
            Web::TcpBlocked {
                how: TcpBlock::Timeout,
            },
            true,
            Verdict::Blocked,
            Some(BlockingMethod::TcpIp),
        ),
        (
            Web::TlsBlocked {
                how: TlsBlock::Reset,
                sni: "a.test".to_string(),
            },
            true,
            Verdict::Blocked,
            Some(BlockingMethod::Tls),
        ),
        (
            Web::TlsMitm {
                issuer: "C=KZ".to_string(),
                known_kz_root: true,
                sni: "a.test".to_string(),
            },
            true,
            Verdict::Blocked,
            Some(BlockingMethod::Interception),
        ),
        (
            Web::HttpBlockpage,
            false,
            Verdict::Blocked,
            Some(BlockingMethod::HttpBlockpage),
        ),
        (
            Web::HttpFailure {
                failure: crate::Failure::ConnectionReset,
            },
            true,
            Verdict::Blocked,
            Some(BlockingMethod::HttpFailure),
        ),
        (
            Web::Undetermined { why: "x".into() },
            true,
            Verdict::Anomaly,
            None,
        ),
        (
            Web::Undetermined { why: "x".into() },
            false,
            Verdict::Undetermined,
            None,
        ),
    ];
    for (web, failed, verdict, method) in cases {
        assert_eq!(run::web_verdict(&web, failed), (verdict, method), "{web}");
        assert_eq!(Verdict::from_name(verdict.name()), Some(verdict));
        if let Some(method) = method {
            assert_eq!(BlockingMethod::from_name(method.name()), Some(method));
        }
    }
}

#[test]
fn throttling_verdicts_map_to_verdicts_and_methods() {
    use crate::experiment::throttling::Evidence;
    use crate::experiment::throttling::ThrottlingVerdict as T;
    let evidence = |blocked: Option<&str>, intercepted: bool| Evidence {
        pairs: 4,
        escalated: false,
        replaced_pairs: 0,
        bytes_used: 1,
        budget_bytes: 2,
        budget_stopped: false,
        blocked: blocked.map(str::to_string),
        intercepted,
        cancelled: false,
    };
    let plain = evidence(None, false);
    let not = T::NotThrottled { median_ratio: 1.0 };
    assert_eq!(
        throttling_verdict(&not, &plain),
        (Verdict::Accessible, None)
    );
    let stalled = T::Stalled { after_bytes: 1000 };
    assert_eq!(
        throttling_verdict(&stalled, &plain),
        (Verdict::Blocked, Some(BlockingMethod::Throttling))
    );
    let suspected = T::Suspected { median_ratio: 0.6 };
    assert_eq!(
        throttling_verdict(&suspected, &plain),
        (Verdict::Anomaly, None)
    );
    let inconclusive = T::Inconclusive {
        why: "blocked: connection_reset".to_string(),
    };
    assert_eq!(
        throttling_verdict(&inconclusive, &evidence(Some("connection_reset"), false)),
        (Verdict::Blocked, Some(BlockingMethod::Tls))
    );
    assert_eq!(
        throttling_verdict(&not, &evidence(None, true)),
        (Verdict::Blocked, Some(BlockingMethod::Interception))
    );
    assert_eq!(
        throttling_verdict(&T::Inconclusive { why: "x".into() }, &plain),
        (Verdict::Undetermined, None)
    );
    assert_eq!(
        BlockingMethod::from_name(BlockingMethod::Throttling.name()),
        Some(BlockingMethod::Throttling)
    );
}

fn messaging_run() -> RunRequest {
    RunRequest {
        suites: vec![Suite::Messaging],
        ..RunRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_messaging_run_reports_each_app_stored_before_the_listener_hears() {
    // engine_with points every app at a closed loopback port: every app is blocked at TCP.
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, |c| {
        c.messaging.timeouts.connect = Duration::from_secs(1);
    });
    let checker = Arc::new(StoreChecker {
        engine: engine.clone(),
        seen_in_store: Mutex::new(Vec::new()),
    });
    let summary = engine.run(messaging_run(), checker.clone()).await.unwrap();
    assert_eq!(summary.status, RunStatus::Completed);
    let targets: Vec<&str> = summary.results.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(
        targets,
        ["whatsapp", "telegram", "signal", "facebook_messenger"]
    );
    for result in &summary.results {
        assert_eq!(result.suite, Suite::Messaging);
        assert_eq!(result.verdict, Verdict::Blocked, "{result:?}");
        assert_eq!(result.blocking, Some(BlockingMethod::TcpIp));
        assert_eq!(result.failure.as_deref(), Some("connection_refused"));
        assert_eq!(result.failed_operation.as_deref(), Some("connect"));
        assert!(
            result.explanation.contains("appears blocked"),
            "{}",
            result.explanation
        );
        let measurement: serde_json::Value =
            serde_json::from_str(&result.measurement_json).unwrap();
        assert_eq!(measurement["test_name"], result.target.as_str());
        assert_eq!(measurement["test_keys"]["x_status"], "blocked");
        assert_eq!(measurement["test_keys"]["x_blocked_step"], "tcp");
    }
    assert_eq!(*checker.seen_in_store.lock().unwrap(), vec![true; 4]);
    let runs = engine.store().unwrap().runs(10).unwrap();
    assert_eq!(runs[0].run.suite, "messaging");
    assert_eq!(runs[0].results, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messaging_apps_that_reach_their_servers_are_accessible_and_the_budget_holds() {
    use kuzet_e2e::fixtures::pki::TestCa;
    let ca = TestCa::new("Kuzet Engine Test CA", "Kuzet");
    let server = WebServer::https(
        Routes::new().fallback(Route::Page {
            status: 200,
            body: "ok".to_string(),
        }),
        &ca.leaf(&["127.0.0.1"]),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, |c| {
        c.trust = crate::net::trust::TrustAnchors::only_pem(ca.cert_pem.as_bytes()).unwrap();
        c.messaging.endpoints =
            crate::experiment::messaging::MessagingEndpoints::all_at(server.addr);
        // Telegram's data centres speak plain HTTP, not this HTTPS server: left out here.
        c.messaging.apps = vec![
            crate::experiment::messaging::App::WhatsApp,
            crate::experiment::messaging::App::Signal,
            crate::experiment::messaging::App::FacebookMessenger,
        ];
    });
    let summary = engine
        .run(messaging_run(), Arc::new(NoListener))
        .await
        .unwrap();
    assert_eq!(summary.status, RunStatus::Completed);
    assert_eq!(summary.results.len(), 3);
    for result in &summary.results {
        assert_eq!(result.verdict, Verdict::Accessible, "{result:?}");
        assert_eq!(result.blocking, None);
    }

    // A budget smaller than one app's bound measures nothing.
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
}
