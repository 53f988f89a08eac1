//! Parity of the two front ends: for every suite (connectivity, web, messaging, throttling),
//! one test measures the same loopback inputs through the `kuzet` CLI and through the engine
//! the apps embed (`kuzet_core::engine::Engine`), and proves that each target gets the same
//! verdict word everywhere it appears:
//!
//! - CLI, live: the table `kuzet run SUITE` prints (its VERDICT column, or the connectivity
//!   check's `status:` line) and the x_ key of each measurement `kuzet run SUITE --json` prints;
//! - CLI, stored: `kuzet results --run 1 --json` (word and group per target, groups per run);
//! - CLI, uploaded: the x_ key of what `kuzet upload` delivered to the real collector;
//! - engine, live: each result the run listener heard, and its measurement's x_ key;
//! - engine, app history: `results_history`, `past_runs` and the measurement `result_detail`
//!   gives back;
//! - engine, uploaded: the x_ key of what the background cycle delivered to the same collector.
//!
//! The x_ key is read raw where each suite keeps its word (`x_status` for connectivity and
//! messaging, `x_verdict.kind` for web, `x_throttling.verdict` for throttling) and also through
//! [`Verdict::from_test_keys`]. The inputs give each suite at least two different words.
//!
//! Everything is on 127.0.0.1: loopback anchors, demo sites, a closed port, the messaging
//! endpoints, the throughput fixture, and one real `kuzet-server --th --collector` serving as
//! both the test helper and the collector of both front ends.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use kuzet_core::engine::{
    parse_service_url, BackgroundRequest, Engine, EngineConfig, NetworkContext,
    NetworkContextProvider, NetworkKind, RunRequest, RunStatus, Suite, ThroughputServer,
};
use kuzet_core::experiment::connectivity::ConnectivityConfig;
use kuzet_core::experiment::messaging::MessagingEndpoints;
use kuzet_core::net::trust::TrustAnchors;
use kuzet_core::report::{ProbeNetwork, Software};
use kuzet_core::session::Verdict;
use kuzet_e2e::cli::{run_kuzet, KuzetOutput};
use kuzet_e2e::fixtures::anchors::Anchors;
use kuzet_e2e::fixtures::collector_server::kuzet_server_bin;
use kuzet_e2e::fixtures::listener::Heard;
use kuzet_e2e::fixtures::pki::TestCa;
use kuzet_e2e::fixtures::tcp::ClosedPort;
use kuzet_e2e::fixtures::throughput::{Behaviour, Rules, ThroughputFixture};
use kuzet_e2e::fixtures::web::{Route, Routes, WebServer};
use kuzet_server::collector::storage::CollectorStorage;
use serde_json::Value;

/// The probe's network, on both paths.
const PROBE_CC: &str = "KZ";
const PROBE_ASN: &str = "AS9198";

/// A real `kuzet-server --th --th-allow-private --collector` on 127.0.0.1: the test helper and
/// the collector of both front ends. Killed when dropped.
struct Services {
    child: Child,
    url: String,
    collector_dir: tempfile::TempDir,
}

impl Drop for Services {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Services {
    /// Starts the server; its test helper trusts `ca_file`. Blocking.
    fn start(ca_file: &Path) -> Services {
        let collector_dir = tempfile::tempdir().expect("a collector directory");
        let mut child = Command::new(kuzet_server_bin())
            .args([
                "--listen",
                "127.0.0.1:0",
                "--th",
                "--th-allow-private",
                "--th-resolver",
                "system",
                "--th-ca-file",
            ])
            .arg(ca_file)
            .arg("--collector")
            .arg("--data-dir")
            .arg(collector_dir.path())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start kuzet-server: {e}"));
        let stderr = child.stderr.take().expect("stderr");
        let (sender, receiver) = mpsc::channel();
        // Read standard error for the whole life of the server, so it never blocks on it.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(addr) = line.strip_prefix("kuzet-server: listening on ") {
                        sent = sender.send(addr.trim().to_string()).is_ok();
                        continue;
                    }
                }
                eprintln!("[kuzet-server] {line}");
            }
        });
        match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => Services {
                child,
                url: format!("http://{addr}/"),
                collector_dir,
            },
            Err(_) => {
                let _ = child.kill();
                panic!("kuzet-server --th --collector did not start listening");
            }
        }
    }

    /// Every measurement the collector holds, by the client's measurement id.
    fn received(&self) -> BTreeMap<String, Value> {
        let storage =
            CollectorStorage::open(self.collector_dir.path()).expect("the collector's db");
        storage
            .measurements()
            .expect("the collector's measurements")
            .into_iter()
            .map(|m| {
                let id = m.measurement_id.expect("a Kuzet measurement has an id");
                let body = serde_json::from_slice(&m.body).expect("a JSON measurement");
                (id, body)
            })
            .collect()
    }
}

/// What every suite's test shares: a directory for input files, a test CA (trusted by the
/// probe on both paths and by the test helper), loopback anchors that answer, and the server.
struct Lab {
    dir: tempfile::TempDir,
    ca: TestCa,
    anchors: Anchors,
    services: Services,
}

impl Lab {
    async fn new() -> Lab {
        let dir = tempfile::tempdir().expect("a directory");
        let ca = TestCa::new("Kuzet Parity CA", "Kuzet tests");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &ca.cert_pem).expect("write the CA");
        let services = tokio::task::spawn_blocking(move || Services::start(&ca_file))
            .await
            .expect("start the services");
        Lab {
            dir,
            ca,
            anchors: Anchors::up(),
            services,
        }
    }

    /// A file of the lab's directory.
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `text` into the lab's directory as `name`; returns its path as a string.
    fn write(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write an input file");
        path.display().to_string()
    }
}

/// The network both paths say they are on: wired, AS9198 in Kazakhstan (so the measurements
/// are uploadable, not held for an unknown network).
fn kazakhtelecom() -> NetworkContext {
    NetworkContext {
        kind: NetworkKind::Ethernet,
        probe_asn: Some(PROBE_ASN.to_string()),
        probe_cc: Some(PROBE_CC.to_string()),
        ..NetworkContext::default()
    }
}

struct Kazakhtelecom;

impl NetworkContextProvider for Kazakhtelecom {
    fn current_network(&self) -> NetworkContext {
        kazakhtelecom()
    }
}

/// One suite measured on both paths from the same inputs.
struct Case {
    /// `run SUITE` and the suite's own flags (the lab's shared flags are added).
    cli: Vec<String>,
    /// The engine's request for the same targets.
    request: RunRequest,
    /// The connectivity check's configuration (JSON): `--anchors` and the engine's.
    anchors: String,
    /// Each target, the word it must get and that word's group.
    expected: Vec<(String, &'static str, &'static str)>,
}

/// The target a measurement is about: the input (a URL, a site name), the app for messaging,
/// `connectivity` for the check.
fn target_of(measurement: &Value) -> String {
    match (
        measurement["test_name"].as_str(),
        measurement["input"].as_str(),
    ) {
        (Some("kuzet_connectivity"), _) => "connectivity".to_string(),
        (_, Some(input)) => input.to_string(),
        (Some(test_name), None) => test_name.to_string(),
        (None, None) => panic!("a measurement without a test name: {measurement}"),
    }
}

/// The verdict word a measurement carries, read raw from where its suite keeps it; checked
/// against [`Verdict::from_test_keys`], which must read the same word back.
fn word_in(measurement: &Value) -> String {
    let test_name = measurement["test_name"].as_str().expect("a test name");
    let keys = &measurement["test_keys"];
    let raw = match test_name {
        "kuzet_connectivity" => &keys["x_status"],
        "web_connectivity" => &keys["x_verdict"]["kind"],
        "kuzet_throttling" => &keys["x_throttling"]["verdict"],
        "whatsapp" | "telegram" | "signal" | "facebook_messenger" => &keys["x_status"],
        other => panic!("a measurement of an unknown suite: {other}"),
    };
    let raw = raw
        .as_str()
        .unwrap_or_else(|| panic!("no verdict word in the {test_name} measurement: {keys}"))
        .to_string();
    let read = Verdict::from_test_keys(test_name, keys)
        .unwrap_or_else(|| panic!("Verdict::from_test_keys cannot read {test_name}: {keys}"));
    assert_eq!(
        read.word(),
        raw,
        "{test_name}: the typed verdict read back differs from the raw key"
    );
    raw
}

/// A table line's cells: columns are two or more spaces apart, cells have single spaces.
fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|cell| !cell.is_empty())
        .collect()
}

/// The words a `kuzet run` table printed, by target: the table whose header has a VERDICT
/// column, its target in the URL, APP or TARGET column; or, for the connectivity check, its
/// `status:` line.
fn printed_words(stdout: &str) -> BTreeMap<String, String> {
    if let Some(status) = stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("status: "))
    {
        return BTreeMap::from([("connectivity".to_string(), status.trim().to_string())]);
    }
    let lines: Vec<&str> = stdout.lines().collect();
    let header = lines
        .iter()
        .position(|line| cells(line).contains(&"VERDICT"))
        .unwrap_or_else(|| panic!("no table with a VERDICT column:\n{stdout}"));
    let head = cells(lines[header]);
    let column = |names: &[&str]| {
        head.iter()
            .position(|cell| names.contains(cell))
            .unwrap_or_else(|| panic!("no {names:?} column:\n{stdout}"))
    };
    let (target, verdict) = (column(&["URL", "APP", "TARGET"]), column(&["VERDICT"]));
    let mut words = BTreeMap::new();
    for line in lines[header + 1..]
        .iter()
        .take_while(|l| !l.trim().is_empty())
    {
        let row = cells(line);
        assert_eq!(row.len(), head.len(), "a row of every column: {line:?}");
        let old = words.insert(row[target].to_string(), row[verdict].to_string());
        assert!(old.is_none(), "{} printed twice:\n{stdout}", row[target]);
    }
    words
}

async fn kuzet(args: Vec<String>) -> KuzetOutput {
    tokio::task::spawn_blocking(move || run_kuzet(args))
        .await
        .expect("the kuzet run")
}

/// Each target's word (or group) as one place holds it.
type Words = BTreeMap<String, String>;

/// Asserts that every place saw exactly the expected word for every target.
fn assert_same(expected: &Words, places: &[(&str, &Words)]) {
    for (place, words) in places {
        assert_eq!(
            *words, expected,
            "the words in {place} differ from the expected ones (left: {place}); every \
             place:\n{places:#?}"
        );
    }
}

/// Measures `case` through the CLI and through the engine (`configure` sets the engine's
/// suite-specific settings), and asserts the same word per target everywhere.
async fn assert_parity(lab: &Lab, case: Case, configure: impl FnOnce(&mut EngineConfig)) {
    let expected: Words = case
        .expected
        .iter()
        .map(|(target, word, _)| (target.clone(), word.to_string()))
        .collect();
    let expected_groups: Words = case
        .expected
        .iter()
        .map(|(target, _, group)| (target.clone(), group.to_string()))
        .collect();
    assert_eq!(expected.len(), case.expected.len(), "targets are distinct");
    let mut expected_counts: BTreeMap<String, u64> = BTreeMap::new();
    for (_, _, group) in &case.expected {
        *expected_counts.entry(group.to_string()).or_default() += 1;
    }
    let anchors_file = lab.write("anchors.json", &case.anchors);
    let data = tempfile::tempdir().expect("the CLI's data directory");
    let data_dir = data.path().display().to_string();
    let shared = |extra: &[&str]| -> Vec<String> {
        let mut args = case.cli.clone();
        for arg in [
            "--anchors",
            anchors_file.as_str(),
            "--ca-file",
            &lab.path("ca.pem").display().to_string(),
            "--probe-cc",
            PROBE_CC,
            "--probe-asn",
            PROBE_ASN,
            "--transport",
            "ethernet",
        ] {
            args.push(arg.to_string());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };

    // --- The CLI. ---
    // Live, as JSON: one measurement per line, stored as run 1.
    let output = kuzet(shared(&["--json", "--data-dir", &data_dir])).await;
    assert_eq!(output.code(), Some(0), "{output:#?}");
    let mut cli_json = Words::new();
    let mut cli_printed_ids = BTreeMap::new();
    for line in output.stdout.lines() {
        let measurement: Value = serde_json::from_str(line).expect("a JSON line");
        let target = target_of(&measurement);
        cli_printed_ids.insert(
            target.clone(),
            measurement["id"].as_str().unwrap().to_string(),
        );
        let old = cli_json.insert(target.clone(), word_in(&measurement));
        assert!(old.is_none(), "{target} printed twice:\n{}", output.stdout);
    }

    // Live, as the table (measured again, kept nowhere).
    let output = kuzet(shared(&["--no-store"])).await;
    assert_eq!(output.code(), Some(0), "{output:#?}");
    let cli_table = printed_words(&output.stdout);

    // Stored: run 1's results, and the run's groups.
    let output = kuzet(
        ["results", "--run", "1", "--json", "--data-dir", &data_dir]
            .map(String::from)
            .to_vec(),
    )
    .await;
    assert_eq!(output.code(), Some(0), "{output:#?}");
    let stored: Value = serde_json::from_str(&output.stdout).expect("results as JSON");
    let mut cli_results = Words::new();
    let mut cli_groups = Words::new();
    let mut cli_ids = BTreeMap::new();
    for item in stored["results"].as_array().expect("results") {
        let target = item["target"].as_str().expect("a target").to_string();
        cli_results.insert(
            target.clone(),
            item["verdict"].as_str().unwrap().to_string(),
        );
        cli_groups.insert(target.clone(), item["group"].as_str().unwrap().to_string());
        cli_ids.insert(target, item["measurement_id"].as_str().unwrap().to_string());
    }
    assert_eq!(
        cli_ids, cli_printed_ids,
        "the stored results are the measurements printed"
    );
    let output = kuzet(
        ["results", "--json", "--data-dir", &data_dir]
            .map(String::from)
            .to_vec(),
    )
    .await;
    assert_eq!(output.code(), Some(0), "{output:#?}");
    let runs: Value = serde_json::from_str(&output.stdout).expect("runs as JSON");
    let runs = runs.as_array().expect("a list of runs");
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0]["run"]["status"], "completed", "{:#}", runs[0]);
    let cli_counts: BTreeMap<String, u64> = runs[0]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().expect("a group").to_string(),
                pair[1].as_u64().expect("a count"),
            )
        })
        .collect();

    // Uploaded: everything stored, to the collector.
    let output = kuzet(
        [
            "upload",
            "--collector",
            &lab.services.url,
            "--data-dir",
            &data_dir,
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert_eq!(output.code(), Some(0), "{output:#?}");

    // --- The engine. ---
    let engine_data = tempfile::tempdir().expect("the engine's data directory");
    let mut config = EngineConfig::new(
        engine_data.path().join("kuzet"),
        Software {
            name: "kuzet-tests".to_string(),
            version: "1.0".to_string(),
        },
    );
    config.connectivity =
        ConnectivityConfig::from_json(&case.anchors).expect("the anchors' configuration");
    config.trust = TrustAnchors::bundled_with_pem(lab.ca.cert_pem.as_bytes()).expect("the CA");
    config.collector_url =
        Some(parse_service_url("collector URL", &lab.services.url).expect("a collector URL"));
    config.consent.upload_allowed = true;
    config.probe_network = ProbeNetwork {
        probe_asn: PROBE_ASN.to_string(),
        probe_cc: PROBE_CC.to_string(),
        ..ProbeNetwork::default()
    };
    configure(&mut config);
    let engine = Engine::new(config).expect("an engine");
    engine.set_network_provider(Some(Arc::new(Kazakhtelecom)));

    // Live: what the listener heard.
    let heard = Arc::new(Heard::default());
    let summary = engine
        .run(case.request.clone(), heard.clone())
        .await
        .expect("the engine's run");
    assert_eq!(summary.status, RunStatus::Completed, "{summary:#?}");
    let mut engine_live = Words::new();
    let mut engine_live_groups = Words::new();
    let mut engine_live_keys = Words::new();
    let mut engine_live_ids = BTreeMap::new();
    for (result, measurement) in heard.results() {
        let measurement = serde_json::to_value(&measurement).expect("a measurement");
        assert_eq!(target_of(&measurement), result.target, "{measurement}");
        engine_live_keys.insert(result.target.clone(), word_in(&measurement));
        engine_live_ids.insert(result.target.clone(), result.measurement_id.clone());
        engine_live_groups.insert(result.target.clone(), result.group.word().to_string());
        let old = engine_live.insert(result.target.clone(), result.word.clone());
        assert!(old.is_none(), "{} heard twice", result.target);
    }

    // The app's history: results, past runs, each stored measurement.
    let history = engine.results_history(0, 100).await.expect("the history");
    let mut engine_history = Words::new();
    let mut engine_groups = Words::new();
    let mut engine_ids = BTreeMap::new();
    for item in &history.items {
        let result = &item.result;
        engine_history.insert(result.target.clone(), result.word.clone());
        engine_groups.insert(result.target.clone(), result.group.word().to_string());
        engine_ids.insert(result.target.clone(), result.measurement_id.clone());
    }
    assert_eq!(
        engine_ids, engine_live_ids,
        "the history keeps the measurements heard"
    );
    let mut engine_stored = Words::new();
    for (target, id) in &engine_ids {
        let detail = engine.result_detail(id.clone()).await.expect("a result");
        assert_eq!(detail.item.result.word, engine_history[target]);
        let json = detail.measurement_json.expect("the measurement is kept");
        let measurement: Value = serde_json::from_str(&json).expect("a JSON measurement");
        engine_stored.insert(target.clone(), word_in(&measurement));
    }
    let past = engine.past_runs(10).await.expect("past runs");
    assert_eq!(past.len(), 1, "{past:#?}");
    assert_eq!(past[0].status, Some(RunStatus::Completed));
    let engine_counts: BTreeMap<String, u64> = past[0]
        .groups
        .iter()
        .map(|g| (g.group.word().to_string(), g.count))
        .collect();

    // Uploaded: the background cycle delivers the outbox to the same collector.
    let cycle = engine
        .background_cycle(BackgroundRequest {
            time_budget: Duration::from_secs(30),
            network: kazakhtelecom(),
        })
        .await
        .expect("a background cycle");
    assert_eq!((cycle.upload_failures, cycle.pending), (0, 0), "{cycle:#?}");
    assert!(
        cycle.uploaded as usize >= engine_ids.len(),
        "every result uploaded: {cycle:#?}"
    );

    // --- What the collector received from each. ---
    let received = lab.services.received();
    let uploaded = |ids: &BTreeMap<String, String>, who: &str| -> Words {
        ids.iter()
            .map(|(target, id)| {
                let body = received.get(id).unwrap_or_else(|| {
                    panic!("{who}'s measurement of {target} ({id}) never arrived")
                });
                assert_eq!(target_of(body), *target, "{body}");
                (target.clone(), word_in(body))
            })
            .collect()
    };
    let cli_uploaded = uploaded(&cli_ids, "the CLI");
    let engine_uploaded = uploaded(&engine_ids, "the engine");

    assert_same(
        &expected,
        &[
            ("the CLI's table", &cli_table),
            ("the CLI's --json x_ keys", &cli_json),
            ("`kuzet results --run 1 --json`", &cli_results),
            ("the x_ keys the CLI uploaded", &cli_uploaded),
            ("the engine's listener", &engine_live),
            ("the x_ keys of the measurements heard", &engine_live_keys),
            ("the engine's results_history", &engine_history),
            ("the x_ keys result_detail gives", &engine_stored),
            ("the x_ keys the engine uploaded", &engine_uploaded),
        ],
    );
    assert_same(
        &expected_groups,
        &[
            ("`kuzet results --run 1 --json`", &cli_groups),
            ("the engine's listener", &engine_live_groups),
            ("the engine's results_history", &engine_groups),
        ],
    );
    assert_eq!(
        cli_counts, expected_counts,
        "the groups `kuzet results` lists"
    );
    assert_eq!(engine_counts, expected_counts, "the groups past_runs lists");
}

/// The connectivity check on its own: anchors that answer (`ok`), then domestic anchors that
/// answer and international ones that refuse (`international_cut`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectivity_words_are_the_same_through_the_cli_and_the_engine() {
    let lab = Lab::new().await;
    let request = RunRequest {
        suites: vec![Suite::Connectivity],
        ..RunRequest::default()
    };
    let cli = ["run", "connectivity"].map(String::from).to_vec();
    assert_parity(
        &lab,
        Case {
            cli: cli.clone(),
            request: request.clone(),
            anchors: lab.anchors.json(),
            expected: vec![("connectivity".to_string(), "ok", "ok")],
        },
        |_| {},
    )
    .await;

    let abroad = ClosedPort::reserve().expect("a closed port");
    let cut = format!(
        r#"{{"anchors": [
            {{"name": "localhost", "group": "domestic", "pinned_ips": ["127.0.0.1"], "port": {}, "probe": "tcp_connect"}},
            {{"name": "localhost", "group": "international", "pinned_ips": ["127.0.0.1"], "port": {}, "probe": "tcp_connect"}}
        ],
        "rechecks": {{"count": 0, "delay": 0}},
        "timeouts": {{"dns": 1000, "probe": 1000}}}}"#,
        lab.anchors.port(),
        abroad.addr.port()
    );
    assert_parity(
        &lab,
        Case {
            cli,
            request,
            anchors: cut,
            expected: vec![(
                "connectivity".to_string(),
                "international_cut",
                "network_disrupted",
            )],
        },
        |_| {},
    )
    .await;
}

/// Websites against the real test helper: pages over HTTP and HTTPS and a 404 (`ok`), and a
/// port where nothing listens (`site_down`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_words_are_the_same_through_the_cli_and_the_engine() {
    let lab = Lab::new().await;
    let http = WebServer::http(
        Routes::new()
            .page("/", 200, "Kuzet parity site (HTTP)")
            .page("/missing", 404, "gone"),
    )
    .await;
    let https = WebServer::https(
        Routes::new().page("/", 200, "Kuzet parity site (HTTPS)"),
        &lab.ca.leaf(&["127.0.0.1"]),
    )
    .await;
    let closed = ClosedPort::reserve().expect("a closed port");
    let expected = vec![
        (http.url("http", "/"), "ok", "ok"),
        (http.url("http", "/missing"), "ok", "ok"),
        (https.url("https", "/"), "ok", "ok"),
        (format!("http://{}/", closed.addr), "site_down", "down"),
    ];
    let urls: Vec<String> = expected.iter().map(|(url, _, _)| url.clone()).collect();
    let list = lab.write("list.txt", &(urls.join("\n") + "\n"));
    let helper = lab.services.url.clone();
    assert_parity(
        &lab,
        Case {
            cli: ["run", "web", "--list", &list, "--th", &helper]
                .map(String::from)
                .to_vec(),
            request: RunRequest {
                suites: vec![Suite::Web],
                web_urls: urls,
                ..RunRequest::default()
            },
            anchors: lab.anchors.json(),
            expected,
        },
        |config| {
            config.test_helper_urls =
                vec![parse_service_url("test helper URL", &helper).expect("a test helper URL")];
        },
    )
    .await;
}

/// The four apps: Telegram and Facebook Messenger at servers that answer (`ok`), Signal and
/// WhatsApp at a port where nothing listens (`blocked`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messaging_words_are_the_same_through_the_cli_and_the_engine() {
    let lab = Lab::new().await;
    let answer = || {
        Routes::new().fallback(Route::Page {
            status: 200,
            body: "ok".to_string(),
        })
    };
    let https = WebServer::https(answer(), &lab.ca.leaf(&["127.0.0.1"])).await;
    let http = WebServer::http(answer()).await;
    let closed = ClosedPort::reserve().expect("a closed port");
    let endpoints = endpoints(https.addr, http.addr, closed.addr);
    let file = lab.write(
        "endpoints.json",
        &serde_json::to_string_pretty(&endpoints).expect("endpoints as JSON"),
    );
    assert_parity(
        &lab,
        Case {
            cli: ["run", "messaging", "--endpoints", &file]
                .map(String::from)
                .to_vec(),
            request: RunRequest {
                suites: vec![Suite::Messaging],
                ..RunRequest::default()
            },
            anchors: lab.anchors.json(),
            expected: vec![
                ("telegram".to_string(), "ok", "ok"),
                ("facebook_messenger".to_string(), "ok", "ok"),
                ("signal".to_string(), "blocked", "blocked"),
                ("whatsapp".to_string(), "blocked", "blocked"),
            ],
        },
        |config| config.messaging.endpoints = endpoints.clone(),
    )
    .await;
}

/// Every app at `https`, Telegram's data centres at `dc`, then Signal and WhatsApp at `closed`.
fn endpoints(https: SocketAddr, dc: SocketAddr, closed: SocketAddr) -> MessagingEndpoints {
    let mut endpoints = MessagingEndpoints::all_at(https);
    endpoints.telegram.datacenters = vec![dc];
    let refused = MessagingEndpoints::all_at(closed);
    endpoints.signal = refused.signal;
    endpoints.whatsapp = refused.whatsapp;
    endpoints
}

/// Three names against the throughput fixture: one unhindered (`not_throttled`), one held to
/// a tenth of the comparison's speed (`throttled`), one whose handshake is reset (`blocked`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_words_are_the_same_through_the_cli_and_the_engine() {
    const FREE: &str = "free.parity.example";
    const SLOWED: &str = "slowed.parity.example";
    const RESET: &str = "reset.parity.example";
    let lab = Lab::new().await;
    // Every arm paced, so rates are stable on a busy machine.
    let fixture = ThroughputFixture::start(
        Rules::new()
            .otherwise(Behaviour::RateLimit {
                bytes_per_second: 2_000_000,
            })
            .sni(
                SLOWED,
                Behaviour::RateLimit {
                    bytes_per_second: 200_000,
                },
            )
            .sni(RESET, Behaviour::ResetHandshake),
    )
    .await;
    let targets = [FREE, SLOWED, RESET];
    let server = ThroughputServer {
        addr: fixture.addr,
        pin: fixture.pin.parse().expect("the fixture's pin"),
    };
    assert_parity(
        &lab,
        Case {
            cli: [
                "run",
                "throttling",
                "--server",
                &fixture.addr.to_string(),
                "--pin",
                &fixture.pin,
                "--targets",
                &targets.join(","),
            ]
            .map(String::from)
            .to_vec(),
            request: RunRequest {
                suites: vec![Suite::Throttling],
                throttling_targets: targets.map(String::from).to_vec(),
                ..RunRequest::default()
            },
            anchors: lab.anchors.json(),
            expected: vec![
                (FREE.to_string(), "not_throttled", "ok"),
                (SLOWED.to_string(), "throttled", "throttled"),
                (RESET.to_string(), "blocked", "blocked"),
            ],
        },
        |config| config.throughput_server = Some(server),
    )
    .await;
}
