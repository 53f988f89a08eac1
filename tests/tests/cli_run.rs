//! `kuzet run` without a suite, on loopback, as the apps' "Test now": the connectivity check
//! (anchors that answer), the web suite (a small list of demo-site URLs against a real
//! `kuzet-server --th --th-allow-private`), then the messaging suite (two apps pointed at a
//! closed port); no throughput server, so no throttling suite. The run prints the network's
//! status and one table grouped by verdict (problems first), and `kuzet results` lists the
//! same words.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use kuzet_core::experiment::messaging::MessagingEndpoints;
use kuzet_core::session::VerdictGroup;
use kuzet_e2e::cli::{run_kuzet, KuzetOutput};
use kuzet_e2e::fixtures::anchors::Anchors;
use kuzet_e2e::fixtures::collector_server::kuzet_server_bin;
use kuzet_e2e::fixtures::pki::TestCa;
use kuzet_e2e::fixtures::tcp::{closed_addr, ClosedPort};
use kuzet_e2e::fixtures::web::{Routes, WebServer};
use serde_json::Value;

/// A real `kuzet-server --th` on 127.0.0.1; killed when dropped.
struct TestHelper {
    child: Child,
    url: String,
}

impl Drop for TestHelper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestHelper {
    /// Starts a test helper that may fetch loopback sites and trusts `ca_file`. Blocking.
    fn start(ca_file: &Path) -> TestHelper {
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
            Ok(addr) => TestHelper {
                child,
                url: format!("http://{addr}/"),
            },
            Err(_) => {
                let _ = child.kill();
                panic!("kuzet-server --th did not start listening");
            }
        }
    }
}

async fn kuzet(args: Vec<String>) -> KuzetOutput {
    tokio::task::spawn_blocking(move || run_kuzet(args))
        .await
        .expect("the kuzet run")
}

/// A table line's cells: columns are two or more spaces apart, cells have single spaces.
fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|cell| !cell.is_empty())
        .collect()
}

/// Everything one run needs: anchors, demo sites, a test helper, a list, endpoints.
struct Loopback {
    _anchors: Anchors,
    _sites: Vec<WebServer>,
    _closed: ClosedPort,
    _helper: TestHelper,
    dir: tempfile::TempDir,
    /// The list's URLs and the verdict each must get, in list order.
    web: Vec<(String, &'static str)>,
    /// Every flag of the run but the output's.
    args: Vec<String>,
}

async fn loopback() -> Loopback {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let anchors = Anchors::up();
    anchors.write(dir.path());

    // The demo sites (as `kuzet-demo-sites` serves them): a page over HTTPS, one over HTTP, a
    // redirect from one to the other, and a port where nothing listens.
    let ca = TestCa::new("Kuzet Run CA", "Kuzet tests");
    std::fs::write(path("ca.pem"), &ca.cert_pem).unwrap();
    let https = WebServer::https(
        Routes::new().page("/", 200, "Kuzet demo site (HTTPS)"),
        &ca.leaf(&["127.0.0.1"]),
    )
    .await;
    let http = WebServer::http(
        Routes::new()
            .page("/", 200, "Kuzet demo site (HTTP)")
            .redirect("/go-secure", 301, &https.url("https", "/")),
    )
    .await;
    let closed = ClosedPort::reserve().expect("a closed port");
    let web = vec![
        (http.url("http", "/"), "ok"),
        (https.url("https", "/"), "ok"),
        (http.url("http", "/go-secure"), "ok"),
        (format!("http://{}/", closed.addr), "site_down"),
    ];
    let list: String = web.iter().map(|(url, _)| format!("{url}\n")).collect();
    std::fs::write(path("list.txt"), list).unwrap();

    let ca_file = dir.path().join("ca.pem");
    let helper = tokio::task::spawn_blocking(move || TestHelper::start(&ca_file))
        .await
        .unwrap();

    // Every app's endpoints at a port where nothing listens: blocked at TCP.
    let endpoints = MessagingEndpoints::all_at(closed_addr());
    std::fs::write(
        path("endpoints.json"),
        serde_json::to_string_pretty(&endpoints).unwrap(),
    )
    .unwrap();

    let args = [
        "run",
        "--anchors",
        &path("anchors.json"),
        "--list",
        &path("list.txt"),
        "--th",
        &helper.url,
        "--ca-file",
        &path("ca.pem"),
        "--apps",
        "signal,whatsapp",
        "--endpoints",
        &path("endpoints.json"),
        "--probe-cc",
        "KZ",
        "--probe-asn",
        "AS9198",
        "--transport",
        "ethernet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Loopback {
        _anchors: anchors,
        _sites: vec![http, https],
        _closed: closed,
        _helper: helper,
        dir,
        web,
        args,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_without_a_suite_checks_the_network_then_web_then_messaging() {
    let lab = loopback().await;

    // JSON lines come in plan order: the check, the list in its order, the apps as asked.
    let mut args = lab.args.clone();
    args.extend(["--json".to_string(), "--no-store".to_string()]);
    let output = kuzet(args).await;
    assert_eq!(output.code(), Some(0), "{output:#?}");
    let lines: Vec<Value> = output
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let order: Vec<(&str, &str)> = lines
        .iter()
        .map(|m| {
            (
                m["test_name"].as_str().unwrap(),
                m["input"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    let mut expected = vec![("kuzet_connectivity", "-")];
    expected.extend(
        lab.web
            .iter()
            .map(|(url, _)| ("web_connectivity", url.as_str())),
    );
    expected.extend([("signal", "-"), ("whatsapp", "-")]);
    assert_eq!(order, expected, "{}", output.stdout);
    assert_eq!(lines[0]["test_keys"]["x_status"], "ok");
    for (m, (_, word)) in lines[1..].iter().zip(&lab.web) {
        assert_eq!(m["test_keys"]["x_verdict"]["kind"], *word, "{m}");
    }
    for m in &lines[5..] {
        assert_eq!(m["test_keys"]["x_status"], "blocked", "{m}");
    }
    assert!(
        output
            .stderr
            .contains("7 measured: 2 blocked, 1 site_down, 4 ok;"),
        "{}",
        output.stderr
    );

    // The table: the network first, then every result, problems first.
    let data = lab.dir.path().join("data");
    let data = data.to_str().unwrap();
    let mut args = lab.args.clone();
    args.extend(["--data-dir".to_string(), data.to_string()]);
    let output = kuzet(args).await;
    assert_eq!(output.code(), Some(0), "{output:#?}");
    let text: Vec<&str> = output.stdout.lines().collect();
    assert!(text[0].starts_with("network: ok — "), "{}", output.stdout);
    assert_eq!(text[1], "", "{}", output.stdout);
    assert_eq!(
        cells(text[2]),
        ["GROUP", "SUITE", "TARGET", "VERDICT", "EXPLANATION"],
        "{}",
        output.stdout
    );
    let rows: Vec<Vec<&str>> = text[3..]
        .iter()
        .take_while(|line| !line.is_empty())
        .map(|line| cells(line))
        .collect();
    assert_eq!(rows.len(), 7, "{}", output.stdout);
    let groups: Vec<VerdictGroup> = rows
        .iter()
        .map(|row| VerdictGroup::from_word(row[0]).unwrap_or_else(|| panic!("{row:?}")))
        .collect();
    assert!(
        groups.windows(2).all(|pair| pair[0] <= pair[1]),
        "grouped, problems first:\n{}",
        output.stdout
    );
    let printed: BTreeMap<String, (String, String, String)> = rows
        .iter()
        .map(|row| {
            assert!(row.len() >= 5, "an explanation: {row:?}");
            (
                row[2].to_string(),
                (row[1].to_string(), row[3].to_string(), row[0].to_string()),
            )
        })
        .collect();
    let mut expected: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    let mut expect = |target: &str, suite: &str, word: &str, group: &str| {
        expected.insert(
            target.to_string(),
            (suite.to_string(), word.to_string(), group.to_string()),
        );
    };
    expect("connectivity", "connectivity", "ok", "ok");
    for (url, word) in &lab.web {
        let group = if *word == "ok" { "ok" } else { "down" };
        expect(url, "web", word, group);
    }
    expect("signal", "messaging", "blocked", "blocked");
    expect("whatsapp", "messaging", "blocked", "blocked");
    assert_eq!(printed, expected, "{}", output.stdout);
    let summary = text.last().unwrap();
    assert!(
        summary.starts_with("7 measured: 2 blocked, 1 site_down, 4 ok;")
            && summary.contains("network at the start: ok"),
        "{summary}"
    );
    assert!(
        !output.stdout.contains("throttling"),
        "no throughput server, no throttling suite: {}",
        output.stdout
    );

    // The history: one run of the three suites, and each target with the word printed.
    let results = kuzet(vec![
        "results".to_string(),
        "--data-dir".to_string(),
        data.to_string(),
    ])
    .await;
    assert_eq!(results.code(), Some(0), "{results:#?}");
    let run = cells(results.stdout.lines().nth(1).expect("a run"));
    assert_eq!(
        (run[0], run[2], run[4], run[5], run[6]),
        (
            "1",
            "connectivity,web,messaging",
            "completed",
            "7",
            "2 blocked, 1 down, 4 ok"
        ),
        "{}",
        results.stdout
    );
    let details = kuzet(vec![
        "results".to_string(),
        "--data-dir".to_string(),
        data.to_string(),
        "--run".to_string(),
        "1".to_string(),
    ])
    .await;
    assert_eq!(details.code(), Some(0), "{details:#?}");
    let lines: Vec<&str> = details.stdout.lines().collect();
    assert!(
        lines[0].starts_with("Run 1: connectivity,web,messaging on AS9198 KZ"),
        "{}",
        details.stdout
    );
    assert_eq!(
        cells(lines[1]),
        [
            "TARGET",
            "VERDICT",
            "FAILURE",
            "UPLOAD",
            "MEASUREMENT",
            "EXPLANATION"
        ],
        "{}",
        details.stdout
    );
    let stored: Vec<(String, String)> = lines[2..]
        .iter()
        .map(|line| cells(line))
        .map(|row| (row[0].to_string(), row[1].to_string()))
        .collect();
    assert_eq!(stored.len(), 7, "{}", details.stdout);
    // Recorded as measured: the check, then the websites, then the apps.
    let suites: Vec<&str> = stored
        .iter()
        .map(|(target, _)| expected[target].0.as_str())
        .collect();
    assert_eq!(
        suites,
        [
            "connectivity",
            "web",
            "web",
            "web",
            "web",
            "messaging",
            "messaging"
        ],
        "{}",
        details.stdout
    );
    for (target, word) in &stored {
        assert_eq!(word, &expected[target].1, "{target}: {}", details.stdout);
    }
    assert!(
        !details.stdout.contains("not measured"),
        "{}",
        details.stdout
    );
}
