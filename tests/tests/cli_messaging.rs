//! End-to-end tests of `kuzet run messaging`: the real binary with `--endpoints FILE` pointing
//! every app at loopback servers (an HTTPS server signed by a test CA, a plain HTTP one for
//! Telegram's data centres, and a closed port).

use std::net::SocketAddr;
use std::path::Path;

use kuzet_core::experiment::messaging::MessagingEndpoints;
use kuzet_e2e::cli::{run_kuzet, KuzetOutput};
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
    let output = kuzet(strings(&[
        "run",
        "messaging",
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
    let output = kuzet(strings(&[
        "run",
        "messaging",
        "--endpoints",
        &file,
        "--apps",
        "signal,whatsapp",
        "--data-dir",
        data.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(output.code(), Some(0), "{output:?}");
    let rows: Vec<&str> = output
        .stdout
        .lines()
        .filter(|l| l.starts_with("signal") || l.starts_with("whatsapp"))
        .collect();
    assert_eq!(rows.len(), 2, "{}", output.stdout);
    assert!(
        rows[0].starts_with("signal"),
        "the order asked for: {}",
        output.stdout
    );
    for row in rows {
        assert!(row.contains("blocked") && row.contains("tcp"), "{row}");
        assert!(row.contains("appears blocked"), "{row}");
    }
    let results = kuzet(strings(&["results", "--data-dir", data.to_str().unwrap()])).await;
    assert_eq!(results.code(), Some(0), "{results:?}");
    // RUN, STARTED (two words), SUITE, NETWORK (two words), RESULTS, OK, ANOMALY, BLOCKED...
    let run: Vec<&str> = results
        .stdout
        .lines()
        .find(|line| line.contains(" messaging "))
        .unwrap_or_else(|| panic!("no messaging run: {}", results.stdout))
        .split_whitespace()
        .collect();
    assert_eq!(
        (run[6], run[9]),
        ("2", "2"),
        "two results, both blocked: {run:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_measure_nothing() {
    let output = kuzet(strings(&[
        "run",
        "messaging",
        "--apps",
        "icq",
        "--no-store",
    ]))
    .await;
    assert_eq!(output.code(), Some(2), "{output:?}");
    assert!(output.stderr.contains("icq"), "{}", output.stderr);
    assert!(output.stdout.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, "{\"telegram\": {\"datacenters\": []}}").unwrap();
    let output = kuzet(strings(&[
        "run",
        "messaging",
        "--endpoints",
        path.to_str().unwrap(),
        "--no-store",
    ]))
    .await;
    assert_eq!(output.code(), Some(2), "{output:?}");
    assert!(output.stdout.is_empty());
}
