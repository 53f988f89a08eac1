//! End-to-end tests in the censorship lab (`kuzet_e2e::lab`): the `web` scenario's sites behind
//! a censor that uses real kernel machinery, measured by the real `kuzet` binary from the
//! client's network namespace, and checked against the scenario's ground truth
//! (`tests/lab/scenarios/web.json`).
//!
//! These tests need root, `ip netns`, nftables, iptables and ethtool. Without them they fail
//! loudly (`lab::require`); they are never skipped. Each test brings up its own lab (unique
//! namespace names), and every lab is torn down when dropped, also on panic.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use kuzet_e2e::cli::KuzetOutput;
use kuzet_e2e::lab::{self, topology, GroundTruth, Lab, LabOptions, Scenario};
use serde_json::Value;

fn options(test_helpers: bool) -> LabOptions {
    LabOptions {
        test_helpers,
        node_bin: Some(PathBuf::from(env!("CARGO_BIN_EXE_kuzet-lab-node"))),
        server_bin: None,
    }
}

fn web_scenario() -> Scenario {
    Scenario::load("web").unwrap_or_else(|e| panic!("{e}"))
}

fn up(scenario: &Scenario, test_helpers: bool) -> Lab {
    lab::require();
    // Built (or found fresh) first, so that the timings below are the lab's and kuzet's own.
    kuzet_e2e::cli::kuzet_bin();
    let started = Instant::now();
    let lab = Lab::up_with(scenario, &options(test_helpers))
        .unwrap_or_else(|e| panic!("the lab did not come up: {e}"));
    eprintln!(
        "lab {} up in {:?} (client namespace {})",
        scenario.name,
        started.elapsed(),
        lab.namespaces().client
    );
    lab
}

/// Writes the URLs to a list file in the lab's directory.
fn url_file(lab: &Lab, name: &str, truths: &[&GroundTruth]) -> String {
    let path = lab.dir().join(name);
    let mut file = std::fs::File::create(&path).expect("URL list");
    for truth in truths {
        writeln!(file, "{}", truth.url).expect("write URL list");
    }
    path.display().to_string()
}

/// The measurements on stdout (one JSON object per line), by their `input`.
fn measurements_by_input(output: &KuzetOutput) -> BTreeMap<String, Value> {
    output
        .stdout
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let m: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {line}\n{output:#?}"));
            let input = m["input"].as_str().unwrap_or_default().to_string();
            (input, m)
        })
        .collect()
}

/// What a urlgetter measurement shows against what the ground truth says it must; `None` when
/// they agree.
fn measure_mismatch(truth: &GroundTruth, m: &Value) -> Option<String> {
    let expected = truth.measure.as_ref()?;
    let keys = &m["test_keys"];
    let failure = keys["failure"].as_str();
    let operation = keys["failed_operation"].as_str();
    let actual = format!(
        "failed_operation={operation:?} failure={failure:?} status={}",
        keys["requests"][0]["response"]["code"]
    );
    if failure != expected.failure.as_deref()
        || (expected.failure.is_some() && operation != expected.failed_operation.as_deref())
    {
        return Some(format!(
            "{}: expected failed_operation={:?} failure={:?}, got {actual}",
            truth.url, expected.failed_operation, expected.failure
        ));
    }
    // The newest request comes first.
    let response = &keys["requests"][0]["response"];
    if let Some(status) = expected.status {
        if response["code"].as_i64() != Some(i64::from(status)) {
            return Some(format!(
                "{}: expected status {status}, got {actual}",
                truth.url
            ));
        }
    }
    if let Some(title) = &expected.title {
        let body = response["body"].as_str().unwrap_or_default();
        if !body.contains(&format!("<title>{title}</title>")) {
            return Some(format!(
                "{}: expected the page titled {title:?}, got body {body:?}",
                truth.url
            ));
        }
    }
    None
}

/// `kuzet measure` (urlgetter, no test helper) sees, for every URL of the scenario, the failure
/// the censor's technique must cause: this proves the lab's machinery independently of web
/// connectivity.
#[test]
fn urlgetter_sees_each_technique_fail_at_its_step() {
    let scenario = web_scenario();
    let lab = up(&scenario, false);
    let truths: Vec<&GroundTruth> = scenario
        .urls
        .iter()
        .filter(|t| t.measure.is_some())
        .collect();
    let list = url_file(&lab, "measure-urls.txt", &truths);
    let ca = lab.ca_file().display().to_string();
    let started = Instant::now();
    let output = lab.run_kuzet([
        "measure",
        "--json",
        "--resolver",
        "system",
        "--ca-file",
        &ca,
        "--timeout",
        "2",
        "--dns-timeout",
        "2",
        "--parallel",
        "8",
        "-f",
        &list,
    ]);
    eprintln!(
        "kuzet measure over {} URLs: {:?}",
        truths.len(),
        started.elapsed()
    );
    assert_eq!(output.code(), Some(0), "{output:#?}\n{}", lab.logs());
    let measurements = measurements_by_input(&output);
    let mut problems = Vec::new();
    for truth in &truths {
        match measurements.get(&truth.url) {
            None => problems.push(format!("{}: no measurement", truth.url)),
            Some(m) => {
                assert_eq!(m["test_name"], "urlgetter", "{m}");
                problems.extend(measure_mismatch(truth, m));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} URLs disagree with the ground truth:\n  {}\n\n{}",
        problems.len(),
        truths.len(),
        problems.join("\n  "),
        lab.logs()
    );
}

/// What a web-connectivity verdict shows against the ground truth; `None` when they agree.
fn verdict_mismatch(truth: &GroundTruth, m: &Value) -> Option<String> {
    let verdict = &m["test_keys"]["x_verdict"];
    let expect = &truth.expect;
    let mut wrong = Vec::new();
    if verdict["kind"].as_str() != Some(expect.kind.as_str()) {
        wrong.push(format!("kind {}", expect.kind.as_str()));
    }
    if let Some(how) = &expect.how {
        if verdict["how"].as_str() != Some(how.as_str()) {
            wrong.push(format!("how {how}"));
        }
    }
    if let Some(known) = expect.known_kz_root {
        if verdict["known_kz_root"].as_bool() != Some(known) {
            wrong.push(format!("known_kz_root {known}"));
        }
    }
    if wrong.is_empty() {
        None
    } else {
        Some(format!(
            "{} (helper {}): expected {}, got x_verdict {verdict}",
            truth.url,
            truth.helper,
            wrong.join(", ")
        ))
    }
}

/// `kuzet run web` with the real test helper reaches the scenario's verdict for every URL,
/// including "undetermined" (never "blocked") when the censor blocks the test helper.
#[test]
fn web_connectivity_verdicts_match_the_ground_truth() {
    let scenario = web_scenario();
    let lab = up(&scenario, true);
    let ca = lab.ca_file().display().to_string();
    // The run checks the network first: anchors on the scenario's uncensored site.
    let anchors = lab.anchors_file().expect("the lab's anchors");
    let anchors = anchors.display().to_string();
    let mut problems = Vec::new();
    let mut total = 0;
    for helper in &scenario.helpers {
        let truths = scenario.urls_for_helper(&helper.name);
        if truths.is_empty() {
            continue;
        }
        total += truths.len();
        let list = url_file(&lab, &format!("web-urls-{}.txt", helper.name), &truths);
        let th = helper.url();
        let started = Instant::now();
        let output = lab.run_kuzet([
            "run",
            "web",
            "--list",
            &list,
            "--th",
            &th,
            "--resolver",
            "system",
            "--ca-file",
            &ca,
            "--anchors",
            &anchors,
            // The lab's addresses are private; inside the lab they are the public internet.
            "--public-network",
            topology::LAB_NET,
            "--timeout",
            "3",
            "--dns-timeout",
            "2",
            "--json",
        ]);
        eprintln!(
            "kuzet run web over {} URLs with helper {}: {:?}",
            truths.len(),
            helper.name,
            started.elapsed()
        );
        assert_eq!(output.code(), Some(0), "{output:#?}\n{}", lab.logs());
        let measurements = measurements_by_input(&output);
        for truth in truths {
            match measurements.get(&truth.url) {
                None => problems.push(format!("{}: no measurement", truth.url)),
                Some(m) => problems.extend(verdict_mismatch(truth, m)),
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {total} verdicts disagree with the ground truth:\n  {}\n\n{}",
        problems.len(),
        problems.join("\n  "),
        lab.logs()
    );
}

/// The host's view of the network, which the lab must never change (lifetimes, which count
/// down by themselves, left out).
fn host_network_state() -> String {
    let run = |program: &str, args: &[&str]| {
        let text = lab::process::run(program, args).unwrap_or_else(|e| format!("error: {e}"));
        let mut kept = Vec::new();
        let mut words = text.split_whitespace();
        while let Some(word) = words.next() {
            if matches!(word, "valid_lft" | "preferred_lft" | "expires") {
                words.next();
            } else {
                kept.push(word);
            }
        }
        kept.join(" ")
    };
    [
        run("ip", &["-o", "link", "show"]),
        run("ip", &["-o", "addr", "show"]),
        run("ip", &["route", "show", "table", "all"]),
        run("nft", &["list", "ruleset"]),
    ]
    .join("\n")
}

/// A lab changes nothing in the host's namespace, and dropping it (here: by a panic) removes
/// its namespaces and `/etc/netns` directory.
#[test]
fn lab_leaves_the_host_untouched_and_is_torn_down_on_panic() {
    lab::require();
    let scenario = web_scenario();
    let before = host_network_state();
    let namespaces = std::thread::spawn(move || {
        let lab = up(&scenario, false);
        let names = lab.namespaces().clone();
        let during = host_network_state();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _lab = lab;
            panic!("a failing test");
        }));
        assert!(panicked.is_err());
        (names, during)
    })
    .join()
    .expect("lab thread");
    let (names, during) = namespaces;
    assert_eq!(
        before, during,
        "the host's links, addresses, routes or nftables changed"
    );
    assert_eq!(before, host_network_state());
    let remaining = topology::list_lab_namespaces().expect("ip netns list");
    for name in names.all() {
        assert!(!remaining.iter().any(|n| n == name), "{name} still exists");
        assert!(
            !topology::etc_dir(name).exists(),
            "/etc/netns/{name} still exists"
        );
    }
}

/// Leftovers of a crashed run (its process gone) are swept; live labs are not.
#[test]
fn stale_labs_of_dead_processes_are_swept() {
    lab::require();
    // A pid that no process has: the highest possible one, checked.
    let dead = (1..1000)
        .map(|i| 4_194_304 - i)
        .find(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
        .expect("a free pid");
    let stale = format!("{}{dead}-0-client", topology::PREFIX);
    let live = format!("{}{}-999-client", topology::PREFIX, std::process::id());
    // Labs started by the other tests meanwhile would sweep the planted leftovers first.
    let held = topology::hold_sweeps();
    for name in [&stale, &live] {
        topology::add_namespace(name).expect("ip netns add");
        std::fs::create_dir_all(topology::etc_dir(name)).expect("/etc/netns dir");
    }
    let removed = topology::sweep_held(&held, false);
    let remaining = topology::list_lab_namespaces().expect("ip netns list");
    let live_survived = remaining.contains(&live);
    let _ = topology::remove_namespace(&live);
    let _ = topology::remove_namespace(&stale);
    assert!(removed.contains(&stale), "{removed:?}");
    assert!(!remaining.contains(&stale));
    assert!(!topology::etc_dir(&stale).exists());
    assert!(live_survived, "a live lab was swept");
}
