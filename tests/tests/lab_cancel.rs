//! Stopping a run half-way, end to end in the censorship lab: `kuzet run web` (the real CLI in
//! the client's namespace, the `shutdown` scenario's anchors and test helper) over a list whose
//! first sites answer at once (an open domestic site, a domestic site the censor resets, an open
//! international site) and whose later ones hang (the censor drops their SYNs, and the connect
//! timeout is 30 s). Once the first ones are stored, the process gets SIGINT (or SIGTERM): it
//! must exit 130 within a few seconds, print the finished results, and leave a run that `kuzet
//! results` shows `cancelled` with those results (the same words) and the hanging sites as not
//! measured, their measurements queued for upload (`kuzet queue`).
//!
//! Needs root, `ip netns`, nftables, iptables, tc and ethtool; fails loudly without them.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kuzet_core::store::Store;
use kuzet_e2e::lab::suites::{self, SuiteSetup};
use kuzet_e2e::lab::{self, process, Lab, LabOptions, Scenario};
use serde_json::Value;

/// The sites that answer at once, in plan order, with their words.
const FINISHED: [(&str, &str); 3] = [
    ("https://open.kz.kuzet.test/", "ok"),
    ("https://reset.kz.kuzet.test/", "tcp_blocked"),
    ("https://open.world.kuzet.test/", "ok"),
];
/// The sites that hang (SYNs dropped) until the run is stopped.
const HANGING: [&str; 3] = [
    "https://blackholed.world.kuzet.test/a",
    "https://blackholed.world.kuzet.test/b",
    "https://blackholed.world.kuzet.test/c",
];
/// The longest a stopped run may take to exit: its last short network check (at most
/// `kuzet_core::session::guard::CANCEL_CHECK_LIMIT`, 10 s; well under a second in the lab).
const EXIT_WITHIN: Duration = Duration::from_secs(10);

fn up() -> Lab {
    lab::require();
    kuzet_e2e::cli::kuzet_bin();
    let scenario = Scenario::load("shutdown").unwrap_or_else(|e| panic!("{e}"));
    let options = LabOptions {
        test_helpers: true,
        node_bin: Some(PathBuf::from(env!("CARGO_BIN_EXE_kuzet-lab-node"))),
        server_bin: None,
    };
    Lab::up_with(&scenario, &options).unwrap_or_else(|e| panic!("the lab did not come up: {e}"))
}

/// Reads a pipe to its end on a thread.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// How many results the store in `data` holds for its newest run (0 before it exists).
fn stored_results(data: &Path) -> u64 {
    let Ok(store) = Store::open_read_only(data) else {
        return 0;
    };
    store
        .runs(1)
        .ok()
        .and_then(|runs| runs.first().map(|r| r.results))
        .unwrap_or(0)
}

/// Waits for `child` to exit, at most `limit`; kills it after that.
fn wait_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait for kuzet") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `kuzet ARGS --json` in the client's namespace (quick commands).
fn kuzet_json(lab: &Lab, args: &[&str]) -> Value {
    let output = lab.run_kuzet(args.iter().chain(&["--json"]));
    assert_eq!(output.code(), Some(0), "{args:?}: {output:#?}");
    serde_json::from_str(&output.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {output:#?}"))
}

/// Runs the list, stops the run with `signal` once the first sites are stored, and checks
/// the exit, what was printed (JSON lines when `json`, else the table), the stored run and the
/// upload queue.
fn stop_a_web_run_with(signal: libc::c_int, json: bool) {
    let lab = up();
    let data = tempfile::tempdir().unwrap();
    let mut setup = SuiteSetup::new(
        &lab,
        data.path(),
        Duration::from_secs(30),
        Duration::from_secs(2),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    setup.json = json;
    let urls: Vec<&str> = FINISHED
        .iter()
        .map(|(url, _)| *url)
        .chain(HANGING)
        .collect();
    let mut args = setup.web_args(&lab, "cancel.txt", &urls, "th");
    // One at a time: the sites finish in plan order, and the hanging ones come last.
    args.extend(["--parallel".into(), "1".into()]);
    let mut command = lab.client_command(kuzet_e2e::cli::kuzet_bin());
    command
        .args(&args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = process::spawn_bound(command).expect("kuzet starts");
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));

    // The two ok sites are stored as they finish; the blocked one between them is held for a
    // network check, so two stored results mean all three finished and the run hangs on the
    // fourth (or is about to start it).
    let deadline = Instant::now() + Duration::from_secs(90);
    while stored_results(data.path()) < 2 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "kuzet ended before it was stopped ({status}):\n{}\n{}",
                stdout.join().unwrap(),
                stderr.join().unwrap()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the first sites were not stored within 90 s\n{}",
            lab.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("first results stored after {:.1?}", started.elapsed());

    // `ip netns exec` runs kuzet in its own place: the child is kuzet itself.
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", child.id())).unwrap_or_default();
    assert_eq!(comm.trim(), "kuzet", "the child is not kuzet itself");
    let stopped = Instant::now();
    // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
    let status = wait_within(&mut child, EXIT_WITHIN);
    let took = stopped.elapsed();
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    let shown = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}");
    let status =
        status.unwrap_or_else(|| panic!("kuzet did not exit within {EXIT_WITHIN:?}\n{shown}"));
    eprintln!("kuzet exited {status} {took:.1?} after the signal");
    assert_eq!(status.code(), Some(130), "{shown}");

    // What it printed: the finished results, the counts, the sites not measured.
    let finished: BTreeMap<&str, &str> = FINISHED.into_iter().collect();
    if json {
        let printed = suites::printed(&kuzet_e2e::cli::KuzetOutput {
            status,
            stdout: stdout.clone(),
            stderr: stderr.clone(),
        });
        let lines: Vec<(String, &str)> = printed
            .iter()
            .map(|m| (suites::target_of(m), suites::word_of(m).unwrap_or("?")))
            .collect();
        let expected: Vec<(String, &str)> =
            FINISHED.iter().map(|(u, w)| (u.to_string(), *w)).collect();
        assert_eq!(lines, expected, "{shown}");
    } else {
        for (url, word) in FINISHED {
            assert!(
                stdout
                    .lines()
                    .any(|line| line.starts_with(word) && line.contains(url)),
                "no row `{word} {url}`\n{shown}"
            );
        }
        for url in HANGING {
            assert!(!stdout.contains(url), "{url} in the table\n{shown}");
        }
        let listed = format!("not measured ({}): {}", HANGING.len(), HANGING.join(", "));
        assert!(stderr.contains(&listed), "no `{listed}`\n{shown}");
    }
    assert!(
        stdout.contains("3 measured: 1 tcp_blocked, 2 ok")
            || stderr.contains("3 measured: 1 tcp_blocked, 2 ok"),
        "no summary line\n{shown}"
    );
    assert!(
        stderr.contains("stopped: 3 finished result(s) kept, 3 target(s) not measured"),
        "{shown}"
    );

    // The store: the run cancelled, its results with the same words, the rest not measured.
    let dir = data.path().display().to_string();
    let runs = kuzet_json(&lab, &["results", "--data-dir", &dir]);
    let runs = runs.as_array().expect("a list of runs");
    assert_eq!(runs.len(), 1, "{runs:#?}");
    let run = &runs[0]["run"];
    assert_eq!(run["status"], "cancelled", "{run:#}");
    assert_eq!(runs[0]["results"], 3, "{:#}", runs[0]);
    let not_measured: BTreeSet<&str> = run["not_measured"]
        .as_array()
        .expect("a not-measured list")
        .iter()
        .filter_map(|n| n["target"].as_str())
        .collect();
    assert_eq!(not_measured, HANGING.into_iter().collect(), "{run:#}");
    let id = run["id"].to_string();
    let detail = kuzet_json(&lab, &["results", "--run", &id, "--data-dir", &dir]);
    let results = detail["results"].as_array().expect("results");
    let stored: BTreeMap<&str, &str> = results
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap(),
                r["verdict"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(stored, finished, "{detail:#}");

    // Each result's measurement waits in the upload queue.
    let queue = kuzet_json(&lab, &["queue", "--data-dir", &dir]);
    let queued: BTreeMap<&str, &str> = queue["items"]
        .as_array()
        .expect("queue items")
        .iter()
        .map(|i| {
            (
                i["measurement_id"].as_str().unwrap(),
                i["state"].as_str().unwrap(),
            )
        })
        .collect();
    for result in results {
        let id = result["measurement_id"].as_str().unwrap();
        assert_eq!(
            queued.get(id).copied(),
            Some("pending"),
            "{}: {queue:#}",
            result["target"]
        );
    }
}

/// Ctrl-C in the middle of `kuzet run web --json`.
#[test]
fn sigint_keeps_the_finished_results_and_lists_the_rest() {
    stop_a_web_run_with(libc::SIGINT, true);
}

/// SIGTERM (a service manager stopping it) in the middle of `kuzet run web` with its table.
#[test]
fn sigterm_keeps_the_finished_results_and_lists_the_rest() {
    stop_a_web_run_with(libc::SIGTERM, false);
}
