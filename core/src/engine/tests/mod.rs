//! The engine against loopback servers, one module per concern: complete runs and their
//! listeners ([`runs`]), cancellation and budgets ([`stopping`]), refusals ([`refusals`]), the
//! network guard under every verdict ([`guard`]), the connectivity suite and the background
//! cycle ([`background`]), what the store gives back ([`history`]), and the word and group of
//! every verdict ([`verdicts`]).
//!
//! Every engine here checks the network against loopback anchors ([`Anchors`]), never the
//! built-in public ones, and measures messaging against loopback endpoints.

mod background;
mod guard;
mod history;
mod refusals;
mod runs;
mod stopping;
mod verdicts;

use std::sync::Mutex;
use std::time::Duration;

use kuzet_e2e::fixtures::anchors::Anchors;
use kuzet_e2e::fixtures::tcp::closed_port;
use kuzet_e2e::fixtures::web::{Route, Routes, WebServer};

use super::*;
use crate::experiment::connectivity::{ConnectivityConfig, ConnectivityOutcome};
use crate::report::{Measurement, Software};

/// Everything a run reported, in order, with the threads it came on.
#[derive(Default)]
pub(super) struct Recorder {
    events: Mutex<Vec<String>>,
    results: Mutex<Vec<(TargetResult, Measurement)>>,
    progress: Mutex<Vec<RunProgress>>,
    finished: Mutex<Option<RunSummary>>,
    threads: Mutex<Vec<String>>,
    /// Called with each result, after it is noted.
    on_result: Option<Hook<TargetResult>>,
    /// Called with each target as it starts.
    on_started: Option<Hook<str>>,
}

type Hook<T> = Box<dyn Fn(&T) + Send + Sync>;

impl Recorder {
    /// A recorder that also calls `hook` with each result.
    pub(super) fn on_result(hook: impl Fn(&TargetResult) + Send + Sync + 'static) -> Recorder {
        Recorder {
            on_result: Some(Box::new(hook)),
            ..Recorder::default()
        }
    }

    /// A recorder that also calls `hook` with each target as it starts.
    pub(super) fn on_started(hook: impl Fn(&str) + Send + Sync + 'static) -> Recorder {
        Recorder {
            on_started: Some(Box::new(hook)),
            ..Recorder::default()
        }
    }

    fn note(&self, event: String) {
        let name = std::thread::current().name().unwrap_or("").to_string();
        self.threads.lock().unwrap().push(name);
        self.events.lock().unwrap().push(event);
    }

    /// Every event: `phase ...`, `started TARGET`, `check STATUS`, `result TARGET WORD`,
    /// `progress N/M`, `finished`.
    pub(super) fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }

    /// Every result with its measurement, as the listener got them.
    pub(super) fn results(&self) -> Vec<(TargetResult, Measurement)> {
        self.results.lock().unwrap().clone()
    }

    /// The result of `target`, with its measurement.
    pub(super) fn result(&self, target: &str) -> (TargetResult, Measurement) {
        self.results()
            .into_iter()
            .find(|(result, _)| result.target == target)
            .unwrap_or_else(|| panic!("no result for {target}"))
    }

    pub(super) fn progress(&self) -> Vec<RunProgress> {
        self.progress.lock().unwrap().clone()
    }

    pub(super) fn finished(&self) -> Option<RunSummary> {
        self.finished.lock().unwrap().clone()
    }

    pub(super) fn threads(&self) -> Vec<String> {
        self.threads.lock().unwrap().clone()
    }
}

impl RunListener for Recorder {
    fn on_phase(&self, phase: RunPhase) {
        self.note(format!("phase {phase:?}"));
    }
    fn on_target_started(&self, _suite: Suite, target: &str) {
        self.note(format!("started {target}"));
        if let Some(hook) = &self.on_started {
            hook(target);
        }
    }
    fn on_network_check(&self, outcome: &ConnectivityOutcome) {
        self.note(format!("check {}", outcome.status.as_str()));
    }
    fn on_target_result(&self, result: &TargetResult, measurement: &Measurement) {
        self.note(format!("result {} {}", result.target, result.word));
        self.results
            .lock()
            .unwrap()
            .push((result.clone(), measurement.clone()));
        if let Some(hook) = &self.on_result {
            hook(result);
        }
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

/// The connectivity check against loopback anchors on `port` (by TCP connect to 127.0.0.1,
/// no re-checks): `ok` while something listens there, a data blackout when nothing does.
pub(super) fn loopback_connectivity(port: u16) -> ConnectivityConfig {
    ConnectivityConfig::from_json(&kuzet_e2e::fixtures::anchors::json_for(port))
        .expect("loopback connectivity configuration")
}

/// An engine in `dir` whose network checks go to loopback anchors on `anchor_port` and whose
/// messaging endpoints refuse connections, edited by `edit`.
pub(super) fn engine_at(
    dir: &tempfile::TempDir,
    anchor_port: u16,
    edit: impl FnOnce(&mut EngineConfig),
) -> Engine {
    let mut config = EngineConfig::new(
        dir.path().join("kuzet"),
        Software {
            name: "kuzet-tests".to_string(),
            version: "1.0".to_string(),
        },
    );
    config.connectivity = loopback_connectivity(anchor_port);
    // Never the real messaging services.
    config.messaging.endpoints = crate::experiment::messaging::MessagingEndpoints::all_at(
        std::net::SocketAddr::from(([127, 0, 0, 1], closed_port())),
    );
    edit(&mut config);
    Engine::new(config).expect("engine")
}

/// [`engine_at`] with anchors that answer.
pub(super) fn engine_with(
    dir: &tempfile::TempDir,
    anchors: &Anchors,
    edit: impl FnOnce(&mut EngineConfig),
) -> Engine {
    engine_at(dir, anchors.port(), edit)
}

/// A web run of `urls`.
pub(super) fn web(urls: Vec<String>) -> RunRequest {
    RunRequest {
        suites: vec![Suite::Web],
        web_urls: urls,
        byte_budget: None,
        throttling_targets: Vec::new(),
    }
}

/// A URL whose connects are refused.
pub(super) fn refused_url() -> String {
    format!("http://127.0.0.1:{}/", closed_port())
}

/// A server whose paths `/0` to `/9` answer only after 30 s.
pub(super) async fn slow_server() -> WebServer {
    let mut routes = Routes::new();
    for i in 0..10 {
        routes = routes.route(
            &format!("/{i}"),
            Route::Slow {
                delay: Duration::from_secs(30),
            },
        );
    }
    WebServer::http(routes.page("/", 200, "home")).await
}

/// An HTTPS server of one page, with the trust that accepts its certificate.
pub(super) async fn https_site() -> (WebServer, crate::net::trust::TrustAnchors) {
    let ca = kuzet_e2e::fixtures::pki::TestCa::new("Kuzet Engine Test CA", "Kuzet");
    let server = WebServer::https(
        Routes::new().page("/", 200, "secure"),
        &ca.leaf(&["127.0.0.1"]),
    )
    .await;
    let trust =
        crate::net::trust::TrustAnchors::bundled_with_pem(ca.cert_pem.as_bytes()).expect("test CA");
    (server, trust)
}

/// A phone on Kcell's mobile data, as its platform describes it.
pub(super) struct Kcell;

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

/// A Wi-Fi network whose AS and country the app learned: its measurements are uploadable.
pub(super) struct HomeWifi;

impl NetworkContextProvider for HomeWifi {
    fn current_network(&self) -> NetworkContext {
        home_wifi()
    }
}

pub(super) fn home_wifi() -> NetworkContext {
    NetworkContext {
        kind: NetworkKind::Wifi,
        probe_asn: Some("AS9198".to_string()),
        probe_cc: Some("KZ".to_string()),
        network_name: Some("JSC Kazakhtelecom".to_string()),
        ..NetworkContext::default()
    }
}

/// The number of connectivity checks the store keeps (every check a run or a cycle made,
/// reused ones not repeated).
pub(super) fn stored_checks(engine: &Engine) -> i64 {
    engine
        .store()
        .unwrap()
        .read("counting checks", |conn| {
            Ok(conn.query_row("SELECT count(*) FROM checks", [], |row| row.get(0))?)
        })
        .unwrap()
}

/// A measurement as JSON, for reading its keys.
pub(super) fn json_of(measurement: &Measurement) -> serde_json::Value {
    serde_json::to_value(measurement).expect("measurement as JSON")
}

/// Waits (at most 5 s) until `done` holds.
pub(super) async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `result` as the history gives it back: its runtime to the millisecond (the precision the
/// store keeps), everything else as reported.
pub(super) fn as_stored(result: &TargetResult) -> TargetResult {
    TargetResult {
        runtime: Duration::from_millis(u64::try_from(result.runtime.as_millis()).unwrap()),
        ..result.clone()
    }
}
