//! The engine's background cycle against the real collector (`kuzet-server --collector`):
//! measurements recorded by a run are uploaded, through Kuzet's own uploader or the
//! platform's.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kuzet_core::engine::{
    parse_service_url, BackgroundRequest, Engine, EngineConfig, NetworkContext, NoListener,
    RunRequest, Suite, DEFAULT_BACKGROUND_INTERVAL,
};
use kuzet_core::experiment::connectivity::ConnectivityConfig;
use kuzet_core::experiment::connectivity::ConnectivityStatus;
use kuzet_core::report::{ProbeNetwork, Software};
use kuzet_core::store::DeliveryState;
use kuzet_core::upload::{HttpUploader, UploadPolicy, UploadRequest, UploadResult, Uploader};
use kuzet_e2e::fixtures::collector_server::CollectorServer;
use kuzet_e2e::fixtures::tcp::closed_port;
use kuzet_e2e::fixtures::web::{Routes, WebServer};

fn engine(dir: &tempfile::TempDir, collector: &str) -> Engine {
    let mut config = EngineConfig::new(
        dir.path().join("kuzet"),
        Software {
            name: "kuzet-tests".to_string(),
            version: "1.0".to_string(),
        },
    );
    config.collector_url = Some(parse_service_url("collector URL", collector).unwrap());
    config.consent.upload_allowed = true;
    config.probe_network = ProbeNetwork {
        probe_asn: "AS64500".to_string(),
        probe_cc: "IT".to_string(),
        ..ProbeNetwork::default()
    };
    // The connectivity check probes a loopback anchor, never the built-in public ones.
    config.connectivity = loopback_connectivity(anchor_port());
    Engine::new(config).unwrap()
}

/// A connectivity check with loopback anchors on `port`, by TCP connect.
fn loopback_connectivity(port: u16) -> ConnectivityConfig {
    ConnectivityConfig::from_json(&format!(
        r#"{{"anchors": [
            {{"name": "localhost", "group": "domestic", "pinned_ips": ["127.0.0.1"], "port": {port}, "probe": "tcp_connect"}},
            {{"name": "localhost", "group": "international", "pinned_ips": ["127.0.0.1"], "port": {port}, "probe": "tcp_connect"}}
        ],
        "rechecks": {{"count": 0, "delay": 0}},
        "timeouts": {{"dns": 1000, "probe": 1000}}}}"#
    ))
    .unwrap()
}

/// A loopback port that accepts connections for the whole test process.
fn anchor_port() -> u16 {
    static ANCHOR: std::sync::OnceLock<std::net::TcpListener> = std::sync::OnceLock::new();
    ANCHOR
        .get_or_init(|| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .local_addr()
        .unwrap()
        .port()
}

fn request() -> BackgroundRequest {
    request_within(Duration::from_secs(30))
}

fn request_within(time_budget: Duration) -> BackgroundRequest {
    BackgroundRequest {
        time_budget,
        network: NetworkContext::default(),
    }
}

async fn start_collector(dir: &tempfile::TempDir) -> CollectorServer {
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || CollectorServer::start(&path))
        .await
        .unwrap()
}

async fn measure_twice(engine: &Engine, site: &WebServer) {
    let summary = engine
        .run(
            RunRequest {
                suites: vec![Suite::Web],
                web_urls: vec![site.url("http", "/"), site.url("http", "/")],
                byte_budget: None,
                throttling_targets: Vec::new(),
            },
            Arc::new(NoListener),
        )
        .await
        .unwrap();
    assert_eq!(summary.results.len(), 2);
    // The two results, and the run's network check: the timeline's first status, a
    // transition whose measurement is queued too.
    let pending = engine.pending_uploads().await.unwrap();
    assert_eq!(pending.len(), 3);
    assert!(pending.iter().all(|p| p.state == DeliveryState::Pending));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_cycle_uploads_the_outbox_to_the_collector() {
    let collector_dir = tempfile::tempdir().unwrap();
    let collector = start_collector(&collector_dir).await;
    let site = WebServer::http(Routes::new().page("/", 200, "home")).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir, &collector.url());
    measure_twice(&engine, &site).await;

    let summary = engine.background_cycle(request()).await.unwrap();
    assert!(summary.connectivity_checked);
    assert_eq!(summary.connectivity, Some(ConnectivityStatus::Ok));
    // The run's own check already recorded `ok`: no change, and its measurement is uploaded
    // with the two results.
    assert!(!summary.timeline_changed);
    assert_eq!(summary.uploaded, 3);
    assert_eq!(summary.upload_failures, 0);
    assert_eq!(summary.pending, 0);
    assert_eq!(summary.next_run_in, DEFAULT_BACKGROUND_INTERVAL);
    assert!(engine.pending_uploads().await.unwrap().is_empty());
    let history = engine.results_history(0, 10).await.unwrap();
    assert!(history
        .items
        .iter()
        .all(|r| r.delivery == Some(DeliveryState::Delivered)));

    let again = engine.background_cycle(request()).await.unwrap();
    assert_eq!((again.uploaded, again.pending), (0, 0));
}

/// A platform uploader stand-in: counts requests and checks they are plain, then sends them
/// with Kuzet's own client.
struct CountingUploader {
    inner: HttpUploader,
    calls: AtomicUsize,
}

impl Uploader for CountingUploader {
    fn upload(&self, request: UploadRequest) -> UploadResult {
        self.calls.fetch_add(1, Ordering::SeqCst);
        assert!(
            request
                .headers
                .iter()
                .all(|(name, _)| name.eq_ignore_ascii_case("content-type")),
            "{:?}",
            request.headers
        );
        self.inner.upload(request)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_uploader_is_used_when_set_and_failures_stay_pending() {
    let collector_dir = tempfile::tempdir().unwrap();
    let collector = start_collector(&collector_dir).await;
    let site = WebServer::http(Routes::new().page("/", 200, "home")).await;

    // A collector that is not there: the attempt fails and the items stay pending.
    let port = closed_port();
    let dir = tempfile::tempdir().unwrap();
    let offline = engine(&dir, &format!("http://127.0.0.1:{port}/"));
    measure_twice(&offline, &site).await;
    let summary = offline
        .background_cycle(request_within(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(summary.uploaded, 0);
    assert!(summary.upload_failures > 0);
    // The two measurements, and the run's check's first status.
    assert_eq!(summary.pending, 3);
    assert!(summary.next_run_in < DEFAULT_BACKGROUND_INTERVAL);
    let pending = offline.pending_uploads().await.unwrap();
    assert!(
        pending.iter().any(|p| p.last_error.is_some()),
        "{pending:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir, &collector.url());
    let uploader = Arc::new(CountingUploader {
        inner: HttpUploader::new(
            &kuzet_core::net::trust::TrustAnchors::bundled(),
            &UploadPolicy::default(),
        )
        .unwrap(),
        calls: AtomicUsize::new(0),
    });
    engine.set_uploader(Some(uploader.clone()));
    measure_twice(&engine, &site).await;
    let summary = engine.background_cycle(request()).await.unwrap();
    assert_eq!(summary.uploaded, 3);
    assert_eq!(summary.pending, 0);
    // One request opens the report, one per measurement submits it.
    assert!(uploader.calls.load(Ordering::SeqCst) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_data_blackout_the_cycle_records_it_and_does_not_try_to_upload() {
    let collector_dir = tempfile::tempdir().unwrap();
    let collector = start_collector(&collector_dir).await;
    let site = WebServer::http(Routes::new().page("/", 200, "home")).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = {
        let mut config = EngineConfig::new(
            dir.path().join("kuzet"),
            Software {
                name: "kuzet-tests".to_string(),
                version: "1.0".to_string(),
            },
        );
        config.collector_url = Some(parse_service_url("collector URL", &collector.url()).unwrap());
        config.consent.upload_allowed = true;
        config.probe_network = ProbeNetwork {
            probe_asn: "AS64500".to_string(),
            probe_cc: "IT".to_string(),
            ..ProbeNetwork::default()
        };
        let port = closed_port();
        config.connectivity = loopback_connectivity(port);
        Engine::new(config).unwrap()
    };
    measure_twice(&engine, &site).await;
    let summary = engine.background_cycle(request()).await.unwrap();
    assert_eq!(summary.connectivity, Some(ConnectivityStatus::DataBlackout));
    // The run before already recorded the blackout (its results, pages that loaded, stand).
    assert!(!summary.timeline_changed);
    // The engine wants to look again soon, to record when the blackout ends.
    assert_eq!(summary.next_run_in, kuzet_core::engine::WATCH_INTERVAL);
    // No upload was attempted: nothing failed, everything (the blackout's record too) waits.
    assert_eq!((summary.uploaded, summary.upload_failures), (0, 0));
    assert_eq!(summary.pending, 3);
    assert!(engine
        .pending_uploads()
        .await
        .unwrap()
        .iter()
        .all(|p| p.attempts == 0));
}
