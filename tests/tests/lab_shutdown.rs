//! Every suite through a shutdown, end to end in the censorship lab: the real `kuzet` in the
//! client's namespace runs `kuzet run web`, `messaging` and `throttling` (the `shutdown`
//! scenario, `tests/lab/scenarios/shutdown.json`: the scenario's anchors, the real test helper
//! and throughput server, the messaging apps pointed at lab servers) in three situations:
//!
//! - the network works and the censor blocks one target per suite: those are still called
//!   blocked, untouched ones ok;
//! - a full shutdown (everything from the client dropped): nothing is called blocked,
//!   throttled, partially blocked or down; every result is `unreachable`, live, stored, and in
//!   what `kuzet upload` delivers to the lab's collector once the network is back, where
//!   `x_network` says why (the checks' statuses, the verdict it would have had);
//! - an international cut, with the anchors' `domestic_networks` covering the lab's domestic
//!   prefix: international targets are `unreachable`, a domestic site the censor blocks is
//!   still blocked and an open domestic site still ok.
//!
//! Timeouts are short (`--timeout 3 --dns-timeout 2`, the anchors' 1.5 s and one re-check): in
//! a shutdown each suite ends within a minute (the longest wait is web_connectivity's own 30 s
//! call to the unreachable test helper, for all URLs at once).
//!
//! Needs root, `ip netns`, nftables, iptables, tc and ethtool; fails loudly without them.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kuzet_e2e::lab::suites::{self, SuiteSetup};
use kuzet_e2e::lab::{self, process, topology, Lab, LabOptions, Scenario};
use kuzet_server::collector::storage::CollectorStorage;
use serde_json::Value;

/// Where the lab's collector listens (`collector.kuzet.test` in the scenario).
const COLLECTOR: &str = "10.77.3.90:8080";

/// The web targets: an open and a blocked (TCP reset) domestic site, an open and a blocked
/// (NXDOMAIN at the ISP resolver) international one.
const DOMESTIC_OPEN: &str = "https://open.kz.kuzet.test/";
const DOMESTIC_BLOCKED: &str = "https://reset.kz.kuzet.test/";
const WORLD_OPEN: &str = "https://open.world.kuzet.test/";
const WORLD_BLOCKED: &str = "https://denied.world.kuzet.test/";
const WEB: [&str; 4] = [DOMESTIC_OPEN, DOMESTIC_BLOCKED, WORLD_OPEN, WORLD_BLOCKED];

/// The messaging apps' servers (international): Signal's are reset by the censor.
const CHAT_HOST: &str = "chat.msg.kuzet.test";
const CHAT_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 6, 40);
const SIGNAL_URL: &str = "https://backend.signal.msg.kuzet.test/";
const APPS: [&str; 4] = ["whatsapp", "telegram", "signal", "facebook_messenger"];

/// The throughput server (international) and its targets: one name untouched, one whose
/// ClientHello the censor resets.
const THROUGHPUT: &str = "d";
const FREE_SNI: &str = "free-sni.kuzet.test";
const RESET_SNI: &str = "reset-sni.kuzet.test";

/// Every word a verdict of the blocked group has, per suite.
const BLOCKED_WORDS: [&str; 7] = [
    "dns_tampered",
    "tcp_blocked",
    "tls_blocked",
    "tls_mitm",
    "http_blockpage",
    "http_failure",
    "blocked",
];

fn up() -> Lab {
    lab::require();
    kuzet_e2e::cli::kuzet_bin();
    let scenario = Scenario::load("shutdown").unwrap_or_else(|e| panic!("{e}"));
    let options = LabOptions {
        test_helpers: true,
        node_bin: Some(PathBuf::from(env!("CARGO_BIN_EXE_kuzet-lab-node"))),
        server_bin: None,
    };
    let started = Instant::now();
    let lab = Lab::up_with(&scenario, &options)
        .unwrap_or_else(|e| panic!("the lab did not come up: {e}"));
    eprintln!(
        "lab shutdown up in {:.1?} (client namespace {})",
        started.elapsed(),
        lab.namespaces().client
    );
    lab
}

/// The CLI's setup with a store in `data`: short timeouts, JSON lines.
fn setup(lab: &Lab, data: &Path) -> SuiteSetup {
    SuiteSetup::new(lab, data, Duration::from_secs(3), Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// What the suites printed, and how their runs ended.
#[derive(Default)]
struct Runs {
    /// Every measurement (the runs' own checks left out), by target.
    measured: BTreeMap<String, Value>,
    /// Runs that did not exit 0: which, and what they said.
    failed: Vec<String>,
}

impl Runs {
    /// Runs one suite, keeping its measurements and, when it did not exit 0, why.
    fn run(&mut self, lab: &Lab, what: &str, args: Vec<OsString>) {
        let started = Instant::now();
        let output = lab.run_kuzet(&args);
        eprintln!("{what}: {:.1?}", started.elapsed());
        if output.code() != Some(0) {
            self.failed.push(format!(
                "{what}: exit {:?}: {}",
                output.code(),
                output.stderr.trim()
            ));
        }
        for m in suites::printed(&output) {
            if suites::is_check(&m) {
                continue;
            }
            let target = suites::target_of(&m);
            self.measured.insert(target, m);
        }
    }

    /// Every suite once (web, messaging, throttling), in the lab's present state.
    fn every_suite(lab: &Lab, setup: &SuiteSetup, situation: &str) -> Runs {
        let mut runs = Runs::default();
        runs.run(
            lab,
            &format!("{situation}: kuzet run web"),
            setup.web_args(lab, &format!("web-{situation}.txt"), &WEB, "th"),
        );
        let endpoints = suites::messaging_endpoints(CHAT_HOST, CHAT_IP, SIGNAL_URL, "10.77.6.0/24");
        runs.run(
            lab,
            &format!("{situation}: kuzet run messaging"),
            setup.messaging_args(lab, &endpoints),
        );
        runs.run(
            lab,
            &format!("{situation}: kuzet run throttling"),
            setup.throttling_args(lab, THROUGHPUT, &[FREE_SNI, RESET_SNI]),
        );
        runs
    }

    /// Fails the test with `problems` and the runs that did not exit 0, if any.
    fn assert_fine(&self, mut problems: Vec<String>, lab: &Lab) {
        problems.extend(self.failed.iter().cloned());
        assert!(
            problems.is_empty(),
            "{}\n  {}\n{}",
            problems.join("\n"),
            listing(&self.measured),
            lab.logs()
        );
    }
}

/// The word of `target`'s measurement, and the measurement; what is wrong when either is
/// missing.
fn word<'a>(
    measurements: &'a BTreeMap<String, Value>,
    target: &str,
) -> Result<(&'a str, &'a Value), String> {
    let m = measurements
        .get(target)
        .ok_or_else(|| format!("{target}: no measurement"))?;
    let word = suites::word_of(m).ok_or_else(|| format!("{target}: no verdict word: {m}"))?;
    Ok((word, m))
}

/// A line per measurement: target, word, `x_network`.
fn listing(measurements: &BTreeMap<String, Value>) -> String {
    measurements
        .iter()
        .map(|(target, m)| {
            format!(
                "{target}: {} {}",
                suites::word_of(m).unwrap_or("?"),
                m["test_keys"]["x_network"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// Checks that `m` was relabelled because of `status`: its suite's word is `unreachable`,
/// `x_network` names `status` before (or, for a claim held for a later check, after) and
/// never `ok`, and keeps the verdict it would have had. Returns what is wrong.
fn unreachable_because(m: &Value, status: &str) -> Option<String> {
    let target = suites::target_of(m);
    let network = &m["test_keys"]["x_network"];
    let statuses = [&network["before"]["status"], &network["after"]["status"]];
    let mut wrong = Vec::new();
    if suites::word_of(m) != Some("unreachable") {
        wrong.push(format!("word {:?}", suites::word_of(m)));
    }
    if !statuses.iter().any(|s| s.as_str() == Some(status)) {
        wrong.push(format!("no check saw {status}"));
    }
    if statuses.iter().any(|s| s.as_str() == Some("ok")) {
        wrong.push("a check around it saw ok".to_string());
    }
    match network["verdict_without_network"].as_str() {
        Some(w) if w != "unreachable" && w != "ok" => {}
        other => wrong.push(format!("verdict_without_network {other:?}")),
    }
    // The suite's own keys name the outage too.
    let keys = &m["test_keys"];
    let named = match m["test_name"].as_str() {
        Some("web_connectivity") => &keys["x_verdict"]["network"],
        Some("kuzet_throttling") => &keys["x_throttling"]["network"],
        _ => &keys["x_network_status"],
    };
    if named.as_str() != Some(status) {
        wrong.push(format!("the suite's keys name {named}"));
    }
    (!wrong.is_empty()).then(|| format!("{target}: {}; x_network {network}", wrong.join(", ")))
}

/// The network works; the censor resets one domestic site, denies one international name at
/// the ISP resolver, resets Signal's servers and one throttling target's ClientHello. Those
/// are blocked (their scenario verdicts, words of the blocked group), everything else ok, each
/// after an `ok` check.
#[test]
fn with_the_network_up_blocked_targets_are_blocked_and_the_rest_ok() {
    let lab = up();
    let data = tempfile::tempdir().unwrap();
    let setup = setup(&lab, data.path());
    let mut runs = Runs::every_suite(&lab, &setup, "network up");
    // Throughput figures are statistical: an untouched name measured slower than its control
    // by chance (rare, BENCHMARKS.md) is measured once more, as lab_throttling does.
    if let Some(m) = runs.measured.get(FREE_SNI) {
        if suites::word_of(m) != Some("not_throttled") {
            eprintln!(
                "{FREE_SNI}: {} the first time; measuring it once more",
                m["test_keys"]["x_throttling"]
            );
            runs.run(
                &lab,
                "network up: kuzet run throttling (again)",
                setup.throttling_args(&lab, THROUGHPUT, &[FREE_SNI]),
            );
        }
    }

    let mut expected: Vec<(String, &str)> = Vec::new();
    for url in WEB {
        let truth = lab
            .scenario()
            .urls
            .iter()
            .find(|t| t.url == url)
            .unwrap_or_else(|| panic!("{url} has no ground truth"));
        expected.push((url.to_string(), truth.expect.kind.as_str()));
    }
    for app in APPS {
        expected.push((
            app.to_string(),
            if app == "signal" { "blocked" } else { "ok" },
        ));
    }
    expected.push((FREE_SNI.to_string(), "not_throttled"));
    expected.push((RESET_SNI.to_string(), "blocked"));
    let blocked = [DOMESTIC_BLOCKED, WORLD_BLOCKED, "signal", RESET_SNI];

    let mut problems = Vec::new();
    for (target, want) in &expected {
        let (got, m) = match word(&runs.measured, target) {
            Ok(found) => found,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        if got != *want {
            problems.push(format!("{target}: expected {want}, got {got}"));
        }
        if blocked.contains(&target.as_str()) && !BLOCKED_WORDS.contains(&got) {
            problems.push(format!(
                "{target}: {got} is not a word of the blocked group"
            ));
        }
        let network = &m["test_keys"]["x_network"];
        if network["before"]["status"] != "ok" || !network["verdict_without_network"].is_null() {
            problems.push(format!("{target}: x_network {network}"));
        }
    }
    runs.assert_fine(problems, &lab);
}

/// A full shutdown: every target of every suite is `unreachable` (printed, stored and
/// uploaded), none blocked, throttled or down; once the network is back, `kuzet upload`
/// delivers each measurement with `x_network` saying that the checks saw a data blackout and
/// which verdict it would have had.
#[test]
fn during_a_full_shutdown_every_result_is_unreachable_and_says_why() {
    let mut lab = up();
    let data = tempfile::tempdir().unwrap();
    let setup = setup(&lab, data.path());
    lab.apply_rule_set("blackout").unwrap();
    let runs = Runs::every_suite(&lab, &setup, "shutdown");
    lab.clear_rule_set().unwrap();

    // Every web target and app has a result; the throughput server cannot be reached, so the
    // throttling suite stops after its first target.
    let mut problems: Vec<String> = WEB
        .iter()
        .chain(APPS.iter())
        .chain([FREE_SNI].iter())
        .filter_map(|target| word(&runs.measured, target).err())
        .collect();
    problems.extend(
        runs.measured
            .values()
            .filter_map(|m| unreachable_because(m, "data_blackout")),
    );
    // Stored with the same word.
    let stored = stored_words(&lab, data.path());
    for m in runs.measured.values() {
        let id = m["id"].as_str().unwrap_or_default();
        if stored.get(id).map(String::as_str) != Some("unreachable") {
            problems.push(format!(
                "{}: stored as {:?}",
                suites::target_of(m),
                stored.get(id)
            ));
        }
    }
    runs.assert_fine(problems, &lab);

    // The network is back: upload to the lab's collector and read what it keeps.
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
    assert_eq!(output.code(), Some(0), "{output:#?}\n{}", lab.logs());
    let storage = CollectorStorage::open(collector_dir.path()).unwrap();
    let client = topology::CLIENT_ADDR.to_string();
    let uploaded: BTreeMap<String, Value> = storage
        .measurements()
        .unwrap()
        .iter()
        .map(|held| {
            let text = String::from_utf8_lossy(&held.body);
            assert!(!text.contains(&client), "the client's address was uploaded");
            let m: Value = serde_json::from_str(&text).unwrap();
            (m["id"].as_str().unwrap_or_default().to_string(), m)
        })
        .collect();
    let mut problems = Vec::new();
    for m in runs.measured.values() {
        let id = m["id"].as_str().unwrap_or_default();
        match uploaded.get(id) {
            None => problems.push(format!("{}: not uploaded", suites::target_of(m))),
            Some(up) => problems.extend(unreachable_because(up, "data_blackout")),
        }
    }
    assert!(
        problems.is_empty(),
        "uploaded ({} measurements):\n{}",
        uploaded.len(),
        problems.join("\n")
    );
}

/// An international cut, with the domestic prefix (10.77.5.0/24) in the anchors'
/// `domestic_networks`: the domestic site the censor resets is still `tcp_blocked` (counted
/// domestic, the checks before and after it saw the cut) and the open one ok; every
/// international target (a web site, every app, the throughput server) is `unreachable`
/// because of the cut.
#[test]
fn during_an_international_cut_domestic_blocking_is_still_seen() {
    let lab = up();
    let data = tempfile::tempdir().unwrap();
    let setup = setup(&lab, data.path());
    lab.apply_rule_set("international_cut").unwrap();
    let runs = Runs::every_suite(&lab, &setup, "international cut");
    lab.clear_rule_set().unwrap();

    let mut problems = Vec::new();
    for (target, want) in [(DOMESTIC_OPEN, "ok"), (DOMESTIC_BLOCKED, "tcp_blocked")] {
        let (got, m) = match word(&runs.measured, target) {
            Ok(found) => found,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        let network = &m["test_keys"]["x_network"];
        // A claim waits for a check after it, which must have seen the cut as well.
        let after_ok = want == "ok" || network["after"]["status"] == "international_cut";
        if got != want
            || network["target_domestic"] != true
            || network["before"]["status"] != "international_cut"
            || !after_ok
            || !network["verdict_without_network"].is_null()
        {
            problems.push(format!(
                "{target}: expected {want}, domestic, between checks that saw the cut; got \
                 {got}, x_network {network}"
            ));
        }
    }
    // Every international target; the throughput server's second target only if the suite
    // went on after the first.
    let international = [WORLD_OPEN, WORLD_BLOCKED]
        .into_iter()
        .chain(APPS)
        .chain([FREE_SNI]);
    for target in international {
        match word(&runs.measured, target) {
            Err(problem) => problems.push(problem),
            Ok((_, m)) => {
                problems.extend(unreachable_because(m, "international_cut"));
                if m["test_keys"]["x_network"]["target_domestic"] != false {
                    problems.push(format!("{target}: counted domestic"));
                }
            }
        }
    }
    if let Some(m) = runs.measured.get(RESET_SNI) {
        problems.extend(unreachable_because(m, "international_cut"));
    }
    runs.assert_fine(problems, &lab);
}

/// Every stored result's word, by measurement id (`kuzet results --json`).
fn stored_words(lab: &Lab, data: &Path) -> BTreeMap<String, String> {
    let data = data.display().to_string();
    let output = lab.run_kuzet(["results", "--json", "--data-dir", &data]);
    assert_eq!(output.code(), Some(0), "{output:#?}");
    let runs: Value = serde_json::from_str(&output.stdout).unwrap();
    let mut words = BTreeMap::new();
    for run in runs.as_array().unwrap() {
        let id = run["run"]["id"].to_string();
        let output = lab.run_kuzet(["results", "--json", "--run", &id, "--data-dir", &data]);
        assert_eq!(output.code(), Some(0), "{output:#?}");
        let detail: Value = serde_json::from_str(&output.stdout).unwrap();
        for result in detail["results"].as_array().unwrap() {
            words.insert(
                result["measurement_id"].as_str().unwrap().to_string(),
                result["verdict"].as_str().unwrap().to_string(),
            );
        }
    }
    words
}
