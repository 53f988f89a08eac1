//! Connectivity and shutdown detection end to end, in the censorship lab: the `connectivity`
//! scenario (`tests/lab/scenarios/connectivity.json`) switches rule sets on and off while the
//! lab runs (full shutdown, international cut, whitelist, injected redirect, no censorship, the
//! client's own link down), and the real `kuzet` binary in the client's namespace must report
//! each one's status. Then an outage timeline: `kuzet watch` across up → shutdown → restored
//! records ok → data_blackout → ok, and `kuzet upload` to a `kuzet-server --collector` in the
//! lab delivers the `kuzet_connectivity` measurements once the network is back, with no byte
//! of the client's address.
//!
//! Needs root, `ip netns`, nftables, iptables, tc and ethtool; fails loudly without them.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kuzet_core::store::{Store, StorePolicy};
use kuzet_e2e::lab::{self, process, topology, Lab, LabOptions, Scenario};
use kuzet_server::collector::storage::CollectorStorage;
use serde_json::Value;

/// Where the lab's collector listens (an address the scenario gives the internet namespace).
const COLLECTOR: &str = "10.77.3.90:8080";

fn up() -> Lab {
    lab::require();
    kuzet_e2e::cli::kuzet_bin();
    let scenario = Scenario::load("connectivity").unwrap_or_else(|e| panic!("{e}"));
    let options = LabOptions {
        test_helpers: false,
        node_bin: Some(PathBuf::from(env!("CARGO_BIN_EXE_kuzet-lab-node"))),
        server_bin: None,
    };
    Lab::up_with(&scenario, &options).unwrap_or_else(|e| panic!("the lab did not come up: {e}"))
}

/// `kuzet run connectivity` arguments for the lab.
fn check_args(lab: &Lab, anchors: &Path, data_dir: &Path, json: bool) -> Vec<String> {
    let mut args: Vec<String> = [
        "run",
        "connectivity",
        "--probe-cc",
        "KZ",
        "--probe-asn",
        "AS9198",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend([
        "--anchors".to_string(),
        anchors.display().to_string(),
        "--ca-file".to_string(),
        lab.ca_file().display().to_string(),
        "--data-dir".to_string(),
        data_dir.display().to_string(),
    ]);
    if json {
        args.push("--json".to_string());
    }
    args
}

#[test]
fn every_rule_set_gives_its_status() {
    let lab = up();
    let anchors = lab.anchors_file().unwrap();
    let data = tempfile::tempdir().unwrap();
    let sets = lab.outage().expect("an outage section").rule_sets.clone();
    assert!(sets.len() >= 6, "{sets:?}");
    let mut mismatches = Vec::new();
    for set in &sets {
        lab.apply_rule_set(&set.name)
            .unwrap_or_else(|e| panic!("rule set {}: {e}", set.name));
        let started = Instant::now();
        let output = lab.run_kuzet(check_args(&lab, &anchors, data.path(), true));
        let elapsed = started.elapsed();
        lab.clear_rule_set().unwrap();
        assert_eq!(output.code(), Some(0), "{}: {output:#?}", set.name);
        let measurement: Value = serde_json::from_str(output.stdout.trim())
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {output:#?}", set.name));
        assert_eq!(measurement["test_name"], "kuzet_connectivity");
        let status = measurement["test_keys"]["x_status"].as_str().unwrap_or("?");
        eprintln!(
            "{:<18} → {status:<22} ({elapsed:.1?}, {} bytes, {} re-check(s))",
            set.name,
            measurement["test_keys"]["x_bytes"]["total"],
            measurement["test_keys"]["x_rechecks"]
        );
        if status != set.expect {
            mismatches.push(format!(
                "{}: expected {}, got {status}; evidence {}",
                set.name, set.expect, measurement["test_keys"]["x_evidence"]
            ));
        }
        let text = output.stdout.clone();
        assert!(
            !text.contains(&topology::CLIENT_ADDR.to_string()),
            "the client's address in the measurement: {text}"
        );
        // Beyond-local statuses are re-checked before they are declared; local ones are not.
        let rechecks = measurement["test_keys"]["x_rechecks"].as_u64().unwrap_or(0);
        let beyond_local = !matches!(status, "ok" | "local_link" | "local_device");
        assert_eq!(
            rechecks > 0,
            beyond_local,
            "{}: {rechecks} re-checks",
            set.name
        );
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}\n{}", lab.logs());

    // The text output: the status, its one sentence and the evidence table.
    let output = lab.run_kuzet(check_args(&lab, &anchors, data.path(), false));
    assert_eq!(output.code(), Some(0), "{output:#?}");
    for needle in [
        "status: ok",
        "This device",
        "ANCHOR",
        "egov.kz.kuzet.test",
        "international",
        "captive check: the expected answer",
    ] {
        assert!(
            output.stdout.contains(needle),
            "{needle}: {}",
            output.stdout
        );
    }
}

/// Reads a child's standard output lines on a thread.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    receive
}

/// Waits for a line containing `needle`; returns it.
fn wait_for_line(lines: &mpsc::Receiver<String>, needle: &str, lab: &Lab) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => {
                eprintln!("watch: {line}");
                return line;
            }
            Ok(line) => eprintln!("watch (other): {line}"),
            Err(_) => panic!("no line with {needle:?} from kuzet watch\n{}", lab.logs()),
        }
    }
}

#[test]
fn an_outage_timeline_is_recorded_and_uploaded_when_the_network_is_back() {
    let mut lab = up();
    let anchors = lab.anchors_file().unwrap();
    let data = tempfile::tempdir().unwrap();

    // up → full shutdown → restored, watched every second.
    let mut command = lab.client_command(kuzet_e2e::cli::kuzet_bin());
    command
        .args([
            "watch",
            "--every",
            "1s",
            "--probe-cc",
            "KZ",
            "--probe-asn",
            "AS9198",
            "--anchors",
        ])
        .arg(&anchors)
        .arg("--ca-file")
        .arg(lab.ca_file())
        .arg("--data-dir")
        .arg(data.path())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut watch = process::spawn_bound(command).expect("kuzet watch starts");
    let lines = lines_of(&mut watch);
    wait_for_line(&lines, "none → ok", &lab);
    lab.apply_rule_set("blackout").unwrap();
    let cut = wait_for_line(&lines, "ok → data_blackout", &lab);
    lab.clear_rule_set().unwrap();
    wait_for_line(&lines, "data_blackout → ok", &lab);
    assert!(cut.contains("0 of 4 domestic"), "{cut}");

    // SIGTERM stops it cleanly.
    // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
    unsafe {
        libc::kill(watch.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = watch.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "kuzet watch ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "kuzet watch after SIGTERM: {status:?}");

    // The timeline: ok → data_blackout → ok, in order, each with evidence and no address.
    let store = Store::open(data.path(), StorePolicy::default()).unwrap();
    let timeline = store.transitions(None, 100).unwrap();
    let statuses: Vec<&str> = timeline.iter().map(|t| t.status.as_str()).collect();
    assert_eq!(statuses, ["ok", "data_blackout", "ok"], "{timeline:#?}");
    assert!(timeline.windows(2).all(|w| w[0].at_ms < w[1].at_ms));
    for transition in &timeline {
        let evidence = transition.evidence.to_string();
        assert!(
            !evidence.contains("10.77."),
            "an address in the timeline: {evidence}"
        );
    }
    drop(store);

    // The network is back: upload to the lab's collector.
    let collector_dir = tempfile::tempdir().unwrap();
    let server_bin = process::workspace_bin("kuzet-server", "kuzet-server", "KUZET_SERVER_BIN")
        .unwrap_or_else(|e| panic!("{e}"));
    let listen: SocketAddr = COLLECTOR.parse().unwrap();
    let url = lab
        .start_collector(&server_bin, listen, collector_dir.path())
        .unwrap_or_else(|e| panic!("{e}"));
    let output = lab.run_kuzet([
        "upload",
        "--collector",
        &url,
        "--data-dir",
        &data.path().display().to_string(),
    ]);
    assert_eq!(output.code(), Some(0), "{output:#?}");

    let storage = CollectorStorage::open(collector_dir.path()).unwrap();
    let held = storage.measurements().unwrap();
    let mut uploaded: Vec<Value> = Vec::new();
    for m in &held {
        let client = topology::CLIENT_ADDR.to_string();
        assert!(
            !String::from_utf8_lossy(&m.body).contains(&client),
            "the client's address was uploaded"
        );
        uploaded.push(serde_json::from_slice(&m.body).unwrap());
    }
    let mut connectivity: Vec<&Value> = uploaded
        .iter()
        .filter(|m| m["test_name"] == "kuzet_connectivity")
        .collect();
    connectivity.sort_by_key(|m| {
        m["measurement_start_time"]
            .as_str()
            .unwrap_or("")
            .to_string()
    });
    let uploaded_statuses: Vec<(&str, &str)> = connectivity
        .iter()
        .map(|m| {
            (
                m["test_keys"]["x_previous_status"]
                    .as_str()
                    .unwrap_or("none"),
                m["test_keys"]["x_status"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        uploaded_statuses,
        [
            ("none", "ok"),
            ("ok", "data_blackout"),
            ("data_blackout", "ok")
        ],
        "{connectivity:#?}"
    );
    // Stamped when observed: the timeline's times, to the second.
    for (m, t) in connectivity.iter().zip(&timeline) {
        assert_eq!(
            m["measurement_start_time"].as_str().unwrap(),
            kuzet_core::store::format_ms(t.at_ms),
        );
        assert_eq!(m["probe_ip"], "127.0.0.1");
        assert!(m["test_keys"]["x_transition"].is_object());
    }
}

/// The client interface's byte counters (received, sent), read inside its namespace.
fn client_wire_bytes(lab: &Lab) -> (u64, u64) {
    let read = |what: &str| -> u64 {
        let path = format!("/sys/class/net/{}/statistics/{what}", topology::EDGE_IF);
        let output = lab
            .run_in_client("cat", [path], Duration::from_secs(10))
            .expect("cat runs");
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .expect("a counter")
    };
    (read("rx_bytes"), read("tx_bytes"))
}

/// The BENCHMARKS.md figures: one check on the no-censorship scenario, median of 9 runs: the
/// check's own time (`test_runtime`), the bytes it counted, and the bytes the client's
/// interface saw (everything on the wire, headers included). Run with
/// `cargo test --release -p kuzet-e2e --test lab_connectivity -- --ignored --nocapture`.
#[test]
#[ignore = "a benchmark: run by hand for BENCHMARKS.md"]
fn bench_one_check_without_censorship() {
    let lab = up();
    let anchors = lab.anchors_file().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (mut times, mut counted, mut wire) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..9 {
        let (rx0, tx0) = client_wire_bytes(&lab);
        let output = lab.run_kuzet(check_args(&lab, &anchors, data.path(), true));
        let (rx1, tx1) = client_wire_bytes(&lab);
        assert_eq!(output.code(), Some(0), "{output:#?}");
        let m: Value = serde_json::from_str(output.stdout.trim()).unwrap();
        assert_eq!(m["test_keys"]["x_status"], "ok");
        times.push(m["test_runtime"].as_f64().unwrap());
        counted.push(m["test_keys"]["x_bytes"]["total"].as_u64().unwrap());
        wire.push((rx1 - rx0) + (tx1 - tx0));
    }
    times.sort_by(f64::total_cmp);
    counted.sort();
    wire.sort();
    eprintln!(
        "connectivity check, no censorship, median of 9: {:.0} ms, {} bytes counted, {} bytes \
         on the client's interface (min {} max {})",
        times[4] * 1000.0,
        counted[4],
        wire[4],
        wire[0],
        wire[8]
    );
}
