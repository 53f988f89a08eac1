//! End-to-end tests of the CLI's store commands: `kuzet measure` keeps what it measures,
//! `kuzet results` shows the history, `kuzet queue` the outbox and why uploads failed,
//! `kuzet upload` delivers to the real collector, `kuzet wipe` clears everything and
//! `kuzet recover` deals with a damaged store.

use std::path::Path;

use kuzet_e2e::cli::{run_kuzet, KuzetOutput};
use kuzet_e2e::fixtures::collector_server::CollectorServer;
use kuzet_e2e::fixtures::tcp::closed_addr;
use kuzet_e2e::fixtures::web::{Routes, WebServer};
use serde_json::Value;

fn dir_arg(dir: &Path) -> String {
    dir.display().to_string()
}

fn kuzet(args: &[&str]) -> KuzetOutput {
    run_kuzet(args)
}

fn ok(output: &KuzetOutput) {
    assert_eq!(
        output.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        output.stdout,
        output.stderr
    );
}

/// Measures `urls` into `dir`, on a known network unless `unknown`.
fn measure(dir: &Path, urls: &[String], unknown: bool) -> KuzetOutput {
    let dir = dir_arg(dir);
    let mut args = vec!["measure", "--json", "--data-dir", &dir];
    if !unknown {
        args.extend(["--probe-cc", "KZ", "--probe-asn", "AS9198"]);
    }
    args.extend(urls.iter().map(String::as_str));
    let output = kuzet(&args);
    ok(&output);
    output
}

async fn site() -> (WebServer, Vec<String>) {
    let web = WebServer::http(Routes::new().page("/", 200, "Home").page("/b", 200, "B")).await;
    let urls = vec![web.url("http", "/"), web.url("http", "/b")];
    (web, urls)
}

fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f).join().expect("thread")
}

#[tokio::test(flavor = "multi_thread")]
async fn measure_keeps_its_results_and_results_shows_them() {
    let (_web, mut urls) = site().await;
    let refused = format!("http://{}/", closed_addr());
    urls.push(refused.clone());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let (measured, results, run, json) = blocking(move || {
        let measured = measure(&path, &urls, false);
        let d = dir_arg(&path);
        (
            measured,
            kuzet(&["results", "--data-dir", &d]),
            kuzet(&["results", "--data-dir", &d, "--run", "1"]),
            kuzet(&["results", "--data-dir", &d, "--json"]),
        )
    });
    let ids: Vec<String> = measured
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 3);
    ok(&results);
    // RUN, STARTED, SUITE, NETWORK, STATUS, RESULTS, GROUPS, UPLOADED.
    let header = cells(results.stdout.lines().next().unwrap());
    assert_eq!(
        header,
        [
            "RUN",
            "STARTED (UTC)",
            "SUITE",
            "NETWORK",
            "STATUS",
            "RESULTS",
            "GROUPS",
            "UPLOADED"
        ],
        "{}",
        results.stdout
    );
    let row = cells(results.stdout.lines().nth(1).unwrap());
    assert_eq!(row[0], "1", "{}", results.stdout);
    assert_eq!(row[2], "urls", "{}", results.stdout);
    assert!(row[3].starts_with("AS9198 KZ"), "{}", results.stdout);
    assert_eq!(
        (row[4], row[5], row[6]),
        ("completed", "3", "1 unclear, 2 ok"),
        "{}",
        results.stdout
    );
    assert_eq!(row[7], "0/3", "nothing uploaded yet: {}", results.stdout);
    ok(&run);
    for id in &ids {
        assert!(run.stdout.contains(id.as_str()), "{}", run.stdout);
    }
    assert!(run.stdout.contains("pending"), "{}", run.stdout);
    // Each target's row: TARGET, VERDICT, FAILURE, UPLOAD, MEASUREMENT, EXPLANATION, with
    // the words `kuzet measure` printed.
    let verdict = |url: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(url))
            .map(cells)
            .unwrap_or_else(|| panic!("no row for {url}: {}", run.stdout))
    };
    let refused_row = verdict(&refused);
    assert_eq!(
        (refused_row[1], refused_row[2], refused_row[3]),
        ("failed", "connection_refused", "pending"),
        "{refused_row:?}"
    );
    assert!(
        !refused_row[5].is_empty(),
        "an explanation: {refused_row:?}"
    );
    assert!(!run.stdout.contains("not measured"), "{}", run.stdout);
    ok(&json);
    let runs: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(runs[0]["results"], 3);
    assert_eq!(runs[0]["run"]["suite"], "urls");
    assert_eq!(runs[0]["run"]["status"], "completed");
    assert_eq!(
        runs[0]["groups"],
        serde_json::json!([["ok", 2], ["unclear", 1]])
    );
}

/// A table line's cells: columns are two or more spaces apart, cells have single spaces.
fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|cell| !cell.is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn queue_shows_held_items_and_why_uploads_fail() {
    let (_web, urls) = site().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let refused = format!("http://{}/", closed_addr());
    let (queue_held, upload, queue) = blocking(move || {
        measure(&path, &urls[..1], true);
        let d = dir_arg(&path);
        let queue_held = kuzet(&["queue", "--data-dir", &d]);
        measure(&path, &urls[1..], false);
        let upload = kuzet(&[
            "upload",
            "--data-dir",
            &d,
            "--collector",
            &refused,
            "--max-time",
            "3",
        ]);
        (queue_held, upload, kuzet(&["queue", "--data-dir", &d]))
    });
    ok(&queue_held);
    assert!(
        queue_held.stdout.contains("1 held"),
        "{}",
        queue_held.stdout
    );
    assert!(
        queue_held.stdout.contains("unknown"),
        "{}",
        queue_held.stdout
    );
    assert_eq!(
        upload.code(),
        Some(1),
        "{}\n{}",
        upload.stdout,
        upload.stderr
    );
    assert!(upload.stdout.contains("unreachable"), "{}", upload.stdout);
    assert!(upload.stdout.contains("still waiting"), "{}", upload.stdout);
    assert!(upload.stderr.contains("kuzet: error:"), "{}", upload.stderr);
    ok(&queue);
    assert!(
        queue.stdout.contains("1 pending, 1 held"),
        "{}",
        queue.stdout
    );
    assert!(
        queue.stdout.contains("unreachable: connection_refused"),
        "{}",
        queue.stdout
    );
    assert!(
        queue.stdout.contains("failure"),
        "the collector's backoff: {}",
        queue.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_delivers_to_the_real_collector() {
    let (_web, urls) = site().await;
    let dir = tempfile::tempdir().unwrap();
    let collector_dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let cpath = collector_dir.path().to_path_buf();
    let (upload, queue, again, collected) = blocking(move || {
        let collector = CollectorServer::start(&cpath);
        measure(&path, &urls, false);
        let d = dir_arg(&path);
        let url = collector.url();
        let upload = kuzet(&["upload", "--data-dir", &d, "--collector", &url]);
        let queue = kuzet(&["queue", "--data-dir", &d, "--all", "--json"]);
        let again = kuzet(&["upload", "--data-dir", &d, "--collector", &url]);
        let storage = kuzet_server::collector::storage::CollectorStorage::open(&cpath).unwrap();
        (upload, queue, again, storage.count().unwrap())
    });
    ok(&upload);
    assert!(
        upload.stdout.contains("uploaded 2 measurements"),
        "{}",
        upload.stdout
    );
    ok(&queue);
    let queue: Value = serde_json::from_str(&queue.stdout).unwrap();
    assert_eq!(queue["stats"]["delivered"], 2);
    for item in queue["items"].as_array().unwrap() {
        assert_eq!(item["state"], "delivered");
        assert!(item["measurement_uid"]
            .as_str()
            .unwrap()
            .contains("_KZ_urlgetter_"));
    }
    ok(&again);
    assert!(
        again.stdout.contains("uploaded 0 measurements"),
        "{}",
        again.stdout
    );
    assert_eq!(collected, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn wipe_asks_then_removes_everything() {
    let (_web, urls) = site().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let (refused, wiped, results) = blocking(move || {
        measure(&path, &urls, false);
        let d = dir_arg(&path);
        let refused = kuzet(&["wipe", "--data-dir", &d]);
        let wiped = kuzet(&["wipe", "--data-dir", &d, "--yes"]);
        (
            refused,
            wiped,
            kuzet(&["results", "--data-dir", &d, "--json"]),
        )
    });
    assert_eq!(refused.code(), Some(2), "{}", refused.stderr);
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    ok(&wiped);
    assert!(
        wiped
            .stdout
            .contains("Wiped 2 measurements (2 not uploaded), 1 runs"),
        "{}",
        wiped.stdout
    );
    ok(&results);
    assert_eq!(
        serde_json::from_str::<Value>(&results.stdout).unwrap(),
        serde_json::json!([])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_store_is_reported_never_replaced_and_can_be_recovered() {
    let (_web, urls) = site().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kuzet.db");
    std::fs::write(
        &db,
        b"this is not a database, but it might be someone's evidence",
    )
    .unwrap();
    let path = dir.path().to_path_buf();
    let (results, measured, recovered, after) = blocking(move || {
        let d = dir_arg(&path);
        let results = kuzet(&["results", "--data-dir", &d]);
        let mut args = vec!["measure", "--data-dir", &d];
        args.extend(urls.iter().map(String::as_str));
        let measured = kuzet(&args);
        let recovered = kuzet(&["recover", "--data-dir", &d]);
        (
            results,
            measured,
            recovered,
            kuzet(&["results", "--data-dir", &d]),
        )
    });
    assert_eq!(results.code(), Some(1));
    assert!(results.stderr.contains("damaged"), "{}", results.stderr);
    assert!(
        results.stderr.contains("kuzet recover"),
        "{}",
        results.stderr
    );
    assert_eq!(
        measured.code(),
        Some(1),
        "nothing is measured without a store"
    );
    assert!(measured.stdout.is_empty());
    ok(&recovered);
    assert!(recovered.stdout.contains("kept as"), "{}", recovered.stdout);
    let kept: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("damaged"))
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        std::fs::read(kept[0].path()).unwrap(),
        b"this is not a database, but it might be someone's evidence"
    );
    ok(&after);
    // A wipe removes the kept copy too.
    let d = dir_arg(dir.path());
    let wiped = blocking(move || kuzet(&["wipe", "--data-dir", &d, "--yes"]));
    ok(&wiped);
    assert!(
        wiped.stdout.contains("1 damaged copies"),
        "{}",
        wiped.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_store_keeps_nothing() {
    let (_web, urls) = site().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir_arg(dir.path());
    let output = blocking(move || {
        let mut args = vec!["measure", "--no-store", "--data-dir", &d];
        args.extend(urls.iter().map(String::as_str));
        kuzet(&args)
    });
    ok(&output);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
