//! `kuzet run connectivity` and `kuzet watch` on loopback: anchors are local TLS servers
//! named by a fixture resolver and signed by a test CA, the captive check a local HTTP server.
//! Checks the text and JSON output, what is stored (result, timeline transition, queued
//! measurement), the platform override, `watch` printing one line per transition, and errors.

use std::net::Ipv4Addr;
use std::path::Path;

use kuzet_core::store::{Store, StorePolicy};
use kuzet_e2e::cli::{run_kuzet, KuzetOutput};
use kuzet_e2e::fixtures::dns::{Behaviour, UdpDnsServer, Zone};
use kuzet_e2e::fixtures::pki::TestCa;
use kuzet_e2e::fixtures::web::{Routes, WebServer};
use serde_json::{json, Value};

/// Two domestic and two international anchors, a captive endpoint, a resolver, a CA file and
/// the anchors file, all in `dir`.
struct Setup {
    _servers: Vec<WebServer>,
    _dns: UdpDnsServer,
    dns_spec: String,
    anchors: String,
    ca_file: String,
}

async fn setup(dir: &Path) -> Setup {
    let ca = TestCa::new("Kuzet CLI CA", "Kuzet tests");
    let zone = Zone::new();
    let mut servers = Vec::new();
    let mut anchors = Vec::new();
    for (i, group) in ["domestic", "domestic", "international", "international"]
        .iter()
        .enumerate()
    {
        let name = format!("{group}{i}.cli.test");
        let server =
            WebServer::https(Routes::new().page("/", 200, "anchor"), &ca.leaf(&[&name])).await;
        zone.set(&name, Behaviour::addresses(&[Ipv4Addr::LOCALHOST], &[]));
        anchors.push(json!({
            "name": name, "group": group, "operator": format!("operator {i}"),
            "pinned_ips": ["127.0.0.1"], "port": server.addr.port(),
        }));
        servers.push(server);
    }
    let captive = WebServer::http(Routes::new().page("/generate_204", 204, "")).await;
    zone.set(
        "captive.cli.test",
        Behaviour::addresses(&[Ipv4Addr::LOCALHOST], &[]),
    );
    let config = json!({
        "anchors": anchors,
        "captive_check": {
            "url": format!("http://captive.cli.test:{}/generate_204", captive.addr.port()),
        },
        "timeouts": {"dns": 1000, "probe": 1000},
        "rechecks": {"count": 1, "delay": 50},
    });
    servers.push(captive);
    let dns = UdpDnsServer::start(zone).await;
    let anchors_path = dir.join("anchors.json");
    std::fs::write(&anchors_path, config.to_string()).unwrap();
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, &ca.cert_pem).unwrap();
    Setup {
        _servers: servers,
        dns_spec: format!("udp://{}", dns.addr),
        _dns: dns,
        anchors: anchors_path.display().to_string(),
        ca_file: ca_path.display().to_string(),
    }
}

async fn kuzet(args: Vec<String>) -> KuzetOutput {
    tokio::task::spawn_blocking(move || run_kuzet(args))
        .await
        .unwrap()
}

fn args(setup: &Setup, data: &Path, command: &[&str], extra: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = command.iter().map(|s| s.to_string()).collect();
    for (flag, value) in [
        ("--anchors", setup.anchors.as_str()),
        ("--ca-file", setup.ca_file.as_str()),
        ("--resolver", setup.dns_spec.as_str()),
        ("--data-dir", &data.display().to_string()),
    ] {
        all.push(flag.to_string());
        all.push(value.to_string());
    }
    all.extend(extra.iter().map(|s| s.to_string()));
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn run_connectivity_prints_stores_and_records_the_transition() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let setup = setup(dir.path()).await;
    let run = ["run", "connectivity"];

    let output = kuzet(args(&setup, &data, &run, &["--transport", "ethernet"])).await;
    assert_eq!(output.code(), Some(0), "{output:#?}");
    for needle in [
        "status: ok",
        "This device reached",
        "ANCHOR",
        "BY NAME",
        "domestic0.cli.test",
        "operator 3",
        "ok (connect)",
        "captive check: the expected answer",
        "recorded: none → ok",
    ] {
        assert!(
            output.stdout.contains(needle),
            "{needle:?} in\n{}",
            output.stdout
        );
    }

    // JSON: the stored measurement, with the previous status; no new transition.
    let output = kuzet(args(
        &setup,
        &data,
        &run,
        &[
            "--transport",
            "ethernet",
            "--json",
            "--probe-cc",
            "KZ",
            "--probe-asn",
            "AS9198",
        ],
    ))
    .await;
    assert_eq!(output.code(), Some(0), "{output:#?}");
    let m: Value = serde_json::from_str(output.stdout.trim()).unwrap();
    assert_eq!(m["test_name"], "kuzet_connectivity");
    assert_eq!(m["probe_cc"], "KZ");
    assert_eq!(m["test_keys"]["x_status"], "ok");
    assert_eq!(m["test_keys"]["x_previous_status"], "ok");
    assert!(m["test_keys"]["x_transition"].is_null());
    assert_eq!(m["test_keys"]["anchors"].as_array().unwrap().len(), 4);
    assert!(m["test_keys"]["x_bytes"]["total"].as_u64().unwrap() > 0);

    // No network path: nothing probed, local_link, a new transition.
    let output = kuzet(args(&setup, &data, &run, &["--transport", "none"])).await;
    assert_eq!(output.code(), Some(0), "{output:#?}");
    assert!(
        output.stdout.contains("status: local_link"),
        "{}",
        output.stdout
    );
    assert!(output.stdout.contains("not a sign of a shutdown"));
    assert!(output.stdout.contains("recorded: ok → local_link"));
    assert!(!output.stdout.contains("ANCHOR"), "nothing was probed");

    let store = Store::open(&data, StorePolicy::default()).unwrap();
    let statuses: Vec<String> = store
        .transitions(None, 10)
        .unwrap()
        .into_iter()
        .map(|t| t.status)
        .collect();
    assert_eq!(statuses, ["ok", "local_link"]);
    let runs = store.runs(10).unwrap();
    assert_eq!(
        runs.len(),
        3,
        "every check the user asked for is in the history"
    );
    assert_eq!(store.measurement_ids().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_prints_one_line_per_transition_and_stops_after_count() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let setup = setup(dir.path()).await;
    let output = kuzet(args(
        &setup,
        &data,
        &["watch"],
        &[
            "--every",
            "200ms",
            "--count",
            "3",
            "--transport",
            "ethernet",
        ],
    ))
    .await;
    assert_eq!(output.code(), Some(0), "{output:#?}");
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("none → ok"), "{lines:?}");
    let store = Store::open(&data, StorePolicy::default()).unwrap();
    assert_eq!(store.transitions(None, 10).unwrap().len(), 1);
    // Only the transition's measurement is queued, not every check's.
    assert_eq!(store.measurement_ids().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_inputs_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"anchors": []}"#).unwrap();
    for argv in [
        vec!["run", "connectivity", "--anchors", bad.to_str().unwrap()],
        vec!["run", "connectivity", "--anchors", "/no/such/file.json"],
        vec!["run", "connectivity", "--recheck-delay", "soon"],
        vec!["watch", "--every", "1ms"],
        vec!["run", "connectivity", "--transport", "pigeon"],
    ] {
        let mut argv: Vec<String> = argv.into_iter().map(String::from).collect();
        argv.push("--no-store".to_string());
        if argv[0] == "watch" {
            argv.pop();
        }
        let output = kuzet(argv.clone()).await;
        assert_eq!(output.code(), Some(2), "{argv:?}: {output:#?}");
        assert!(output.stderr.starts_with("kuzet: error:"), "{output:#?}");
    }
}
