//! The engine against loopback servers: complete runs, cancellation, budgets, refusals.

use std::sync::Mutex;
use std::time::{Duration, Instant};

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

fn engine_with(dir: &tempfile::TempDir, edit: impl FnOnce(&mut EngineConfig)) -> Engine {
    let mut config = EngineConfig::new(
        dir.path().join("kuzet"),
        Software {
            name: "kuzet-tests".to_string(),
            version: "1.0".to_string(),
        },
    );
    edit(&mut config);
    Engine::new(config).expect("engine")
}

fn web(urls: Vec<String>) -> RunRequest {
    RunRequest {
        suites: vec![Suite::Web],
        web_urls: urls,
        byte_budget: None,
    }
}

struct FixedNetwork;
impl NetworkContextProvider for FixedNetwork {
    fn current_network(&self) -> NetworkContext {
        NetworkContext {
            kind: NetworkKind::Wifi,
            metered: false,
            constrained: false,
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
    assert_eq!(first.verdict, Verdict::Accessible);
    assert_eq!(first.status_code, Some(200));
    assert!(
        first.explanation.contains("loaded normally (HTTP 200)"),
        "{}",
        first.explanation
    );
    let measurement: serde_json::Value = serde_json::from_str(&first.measurement_json).unwrap();
    assert_eq!(measurement["test_name"], "urlgetter");
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
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
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
    assert!(result
        .explanation
        .contains("the connection was refused while opening a connection"));
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

    let error = refuse(RunRequest {
        suites: vec![Suite::Messaging],
        ..RunRequest::default()
    });
    assert!(matches!(error, EngineError::Unavailable(_)), "{error:?}");
    assert_eq!(
        error.to_string(),
        "the messaging suite is not available yet in this version of Kuzet"
    );

    let error = refuse(RunRequest {
        suites: vec![Suite::Throttling],
        ..RunRequest::default()
    });
    assert!(matches!(error, EngineError::NotAllowed(_)), "{error:?}");

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
    let engine = engine_with(&dir, |c| c.consent.upload_allowed = true);
    let summary = runtime::runtime()
        .block_on(engine.background_cycle(BackgroundRequest {
            time_budget: Duration::from_secs(30),
            network: NetworkContext::default(),
        }))
        .unwrap();
    assert_eq!(summary.uploaded, 0);
    assert_eq!(summary.upload_failures, 0);
    assert_eq!(summary.pending, 0);
    assert!(!summary.connectivity_checked);
    assert_eq!(summary.next_run_in, DEFAULT_BACKGROUND_INTERVAL);
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
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
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
    assert_eq!(page.items[1].verdict, crate::store::VerdictKind::Ok);

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
    for (at, status) in [(now - 2_000, "online"), (now - 1_000, "unreachable")] {
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
    assert_eq!(statuses, vec!["online", "unreachable"]);
    let since = std::time::SystemTime::UNIX_EPOCH
        + Duration::from_millis(u64::try_from(now - 1_500).unwrap());
    let recent = engine.connectivity_timeline(since).unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].status, "unreachable");
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
