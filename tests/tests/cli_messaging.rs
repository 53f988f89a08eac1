//! End-to-end tests of `kuzet run messaging`: the real binary with `--endpoints FILE` pointing
//! every app at loopback servers (an HTTPS server signed by a test CA, a plain HTTP one for
//! Telegram's data centres, and a closed port). Every run checks the network first, against
//! loopback anchors that answer (`--anchors`), so a failure is the app's, never the network's.

use std::net::SocketAddr;
use std::path::Path;

use kuzet_core::experiment::messaging::MessagingEndpoints;
use kuzet_e2e::cli::{run_kuzet, KuzetOutput};
use kuzet_e2e::fixtures::anchors::Anchors;
use kuzet_e2e::fixtures::pki::TestCa;
use kuzet_e2e::fixtures::tcp::closed_addr;
use kuzet_e2e::fixtures::web::{Route, Routes, WebServer};
use serde_json::Value;

const APPS: [&str; 4] = ["whatsapp", "telegram", "signal", "facebook_messenger"];

async fn kuzet(args: Vec<String>) -> KuzetOutput {
    tokio::task::spawn_blocking(move || run_kuzet(args))
        .await
        .expect("the kuzet run")
}

/// Writes an endpoints file: every app at `https`, Telegram's data centres at `dc`.
fn endpoints_file(dir: &Path, https: SocketAddr, dc: SocketAddr) -> String {
    let mut endpoints = MessagingEndpoints::all_at(https);
    endpoints.telegram.datacenters = vec![dc];
    let path = dir.join("endpoints.json");
    std::fs::write(&path, serde_json::to_string_pretty(&endpoints).unwrap()).unwrap();
    path.to_string_lossy().into_owned()
}

fn routes() -> Routes {
    Routes::new().fallback(Route::Page {
        status: 200,
        body: "ok".to_string(),
    })
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_app_reachable_prints_ooni_measurements() {
    let ca = TestCa::new("Kuzet CLI Messaging CA", "Kuzet");
    let https = WebServer::https(routes(), &ca.leaf(&["127.0.0.1"])).await;
    let http = WebServer::http(routes()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = endpoints_file(dir.path(), https.addr, http.addr);
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.cert_pem).unwrap();
    let anchors = Anchors::up();
    let anchors_file = anchors.write(dir.path());
    let output = kuzet(strings(&[
        "run",
        "messaging",
        "--anchors",
        anchors_file.to_str().unwrap(),
        "--endpoints",
        &file,
        "--ca-file",
        ca_file.to_str().unwrap(),
        "--json",
        "--no-store",
    ]))
    .await;
    assert_eq!(output.code(), Some(0), "{output:?}");
    let lines: Vec<Value> = output
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let names: Vec<&str> = lines
        .iter()
        .map(|m| m["test_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, APPS);
    for measurement in &lines {
        assert_eq!(
            measurement["test_keys"]["x_status"], "ok",
            "{}",
            measurement["test_keys"]
        );
        assert_eq!(measurement["input"], Value::Null);
    }
    assert_eq!(lines[1]["test_keys"]["telegram_http_blocking"], false);
    assert_eq!(lines[2]["test_keys"]["signal_backend_status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_apps_are_a_table_and_stored() {
    let addr = closed_addr();
    let dir = tempfile::tempdir().unwrap();
    let file = endpoints_file(dir.path(), addr, addr);
    let data = dir.path().join("data");
    let anchors = Anchors::up();
    let anchors_file = anchors.write(dir.path());
    let output = kuzet(strings(&[
        "run",
        "messaging",
        "--anchors",
        anchors_file.to_str().unwrap(),
        "--endpoints",
        &file,
        "--apps",
        "signal,whatsapp",
        "--data-dir",
        data.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(output.code(), Some(0), "{output:?}");
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(
        cells(lines[0]),
        [
            "APP",
            "VERDICT",
            "BLOCKED AT",
            "FAILING",
            "DATA",
            "EXPLANATION"
        ],
        "{}",
        output.stdout
    );
    let rows: Vec<Vec<&str>> = lines
        .iter()
        .filter(|l| l.starts_with("signal") || l.starts_with("whatsapp"))
        .map(|l| cells(l))
        .collect();
    assert_eq!(rows.len(), 2, "{}", output.stdout);
    assert_eq!(
        rows[0][0], "signal",
        "the order asked for: {}",
        output.stdout
    );
    for row in &rows {
        assert_eq!((row[1], row[2]), ("blocked", "tcp"), "{row:?}");
        assert!(row[5].contains("appears blocked"), "{row:?}");
    }
    assert!(
        output.stdout.contains("2 measured: 2 blocked;")
            && output.stdout.contains("network at the start: ok"),
        "{}",
        output.stdout
    );
    let d = data.to_str().unwrap();
    let results = kuzet(strings(&["results", "--data-dir", d])).await;
    assert_eq!(results.code(), Some(0), "{results:?}");
    // RUN, STARTED, SUITE, NETWORK, STATUS, RESULTS, GROUPS, UPLOADED.
    let run = results
        .stdout
        .lines()
        .find(|line| line.contains(" messaging "))
        .map(cells)
        .unwrap_or_else(|| panic!("no messaging run: {}", results.stdout));
    assert_eq!(
        (run[2], run[4], run[5], run[6]),
        ("messaging", "completed", "2", "2 blocked"),
        "two results, both blocked: {run:?}"
    );
    // The run's results carry the words the table printed.
    let run_id = run[0];
    let details = kuzet(strings(&["results", "--data-dir", d, "--run", run_id])).await;
    assert_eq!(details.code(), Some(0), "{details:?}");
    let stored: Vec<Vec<&str>> = details
        .stdout
        .lines()
        .filter(|l| l.starts_with("signal") || l.starts_with("whatsapp"))
        .map(|l| cells(l))
        .collect();
    assert_eq!(stored.len(), 2, "{}", details.stdout);
    for row in &stored {
        assert_eq!(row[1], "blocked", "{row:?}");
        assert!(row[5].contains("appears blocked"), "{row:?}");
    }
}

/// A table line's cells: columns are two or more spaces apart, cells have single spaces.
fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|cell| !cell.is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_measure_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let anchors = Anchors::up();
    let anchors_file = anchors.write(dir.path());
    let anchors_file = anchors_file.to_str().unwrap();
    let output = kuzet(strings(&[
        "run",
        "messaging",
        "--anchors",
        anchors_file,
        "--apps",
        "icq",
        "--no-store",
    ]))
    .await;
    assert_eq!(output.code(), Some(2), "{output:?}");
    assert!(output.stderr.contains("icq"), "{}", output.stderr);
    assert!(output.stdout.is_empty());
    let path = dir.path().join("bad.json");
    std::fs::write(&path, "{\"telegram\": {\"datacenters\": []}}").unwrap();
    let output = kuzet(strings(&[
        "run",
        "messaging",
        "--anchors",
        anchors_file,
        "--endpoints",
        path.to_str().unwrap(),
        "--no-store",
    ]))
    .await;
    assert_eq!(output.code(), Some(2), "{output:?}");
    assert!(output.stdout.is_empty());
}
