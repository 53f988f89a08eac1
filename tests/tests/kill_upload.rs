//! SIGKILL at random points: the real `kuzet` CLI measures N URLs and uploads them to the real
//! `kuzet-server --collector`, and is killed at a random moment; then `kuzet upload` is
//! started again (and sometimes killed again), and finally allowed to finish. In every trial,
//! every measurement the CLI reported (printed as a JSON line) is in the store, every stored
//! measurement reached the collector, and the collector holds each exactly once (by id),
//! byte for byte what the client stored. The collector never holds a measurement the client
//! does not know. Many trials, many kill points; bounded to about a minute.
//!
//! `KUZET_KILL_SEED` replays a run (the seed is printed); `KUZET_KILL_TRIALS` sets the count.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kuzet_core::store::{Store, StorePolicy};
use kuzet_e2e::cli::kuzet_bin;
use kuzet_e2e::fixtures::collector_server::CollectorServer;
use kuzet_e2e::fixtures::web::{Route, Routes, WebServer};
use kuzet_server::collector::storage::CollectorStorage;
use serde_json::Value;

/// URLs measured per trial.
const URLS: usize = 6;
/// Trials unless `KUZET_KILL_TRIALS` says otherwise.
const TRIALS: usize = 80;
/// The whole test stops starting new trials after this long.
const BUDGET: Duration = Duration::from_secs(75);

/// xorshift64*: reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What a killed (or finished) run printed and how it ended.
struct RunOutcome {
    stdout: String,
    killed: bool,
    code: Option<i32>,
    elapsed: Duration,
}

/// Runs `kuzet ARGS`, killing it with SIGKILL after `kill_after` if it is still running.
fn run_and_kill(args: &[String], kill_after: Option<Duration>) -> RunOutcome {
    let start = Instant::now();
    let mut child = Command::new(kuzet_bin())
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kuzet");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let deadline = start + kill_after.unwrap_or(Duration::from_secs(120));
    let mut killed = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            // Child::kill sends SIGKILL on Unix.
            child.kill().expect("SIGKILL");
            killed = true;
            break child.wait().expect("reap");
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(
        kill_after.is_some() || !killed,
        "an unkilled run did not finish in time"
    );
    RunOutcome {
        stdout: reader.join().unwrap_or_default(),
        killed,
        code: status.code(),
        elapsed: start.elapsed(),
    }
}

fn measure_args(dir: &Path, collector: &str, urls: &[String]) -> Vec<String> {
    let mut args: Vec<String> = [
        "measure",
        "--json",
        "--probe-cc",
        "KZ",
        "--probe-asn",
        "AS9198",
        "--upload",
        "--collector",
        collector,
        "--data-dir",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(dir.display().to_string());
    args.extend(urls.iter().cloned());
    args
}

fn upload_args(dir: &Path, collector: &str) -> Vec<String> {
    vec![
        "upload".to_string(),
        "--collector".to_string(),
        collector.to_string(),
        "--data-dir".to_string(),
        dir.display().to_string(),
    ]
}

/// The ids of the JSON lines a run printed (complete lines only: a line cut by the kill is
/// not a report of "done").
fn printed_ids(stdout: &str) -> Vec<String> {
    stdout
        .split_inclusive('\n')
        .filter(|line| line.ends_with('\n'))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect()
}

/// A measurement without its `report_id` (set at upload), for comparison.
fn without_report_id(mut value: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.remove("report_id");
    }
    value
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_random_points_never_loses_or_duplicates_a_measurement() {
    let web = WebServer::http(Routes::new().fallback(Route::Page {
        status: 200,
        body: "<html><body>A page that is not blocked.</body></html>".to_string(),
    }))
    .await;
    let urls: Vec<String> = (0..URLS)
        .map(|i| web.url("http", &format!("/page{i}")))
        .collect();
    let collector_dir = tempfile::tempdir().unwrap();
    let collector = tokio::task::spawn_blocking({
        let dir = collector_dir.path().to_path_buf();
        move || CollectorServer::start(&dir)
    })
    .await
    .unwrap();
    let collector_url = collector.url();
    let seed = std::env::var("KUZET_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    let trials = std::env::var("KUZET_KILL_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(TRIALS);
    eprintln!("kill test: seed {seed} (KUZET_KILL_SEED to replay), {trials} trials");

    let outcome = tokio::task::spawn_blocking(move || {
        let mut rng = Rng(seed);
        let started = Instant::now();
        // Calibration: how long an undisturbed run takes (kill points are spread over it).
        let mut all_client_ids: BTreeSet<String> = BTreeSet::new();
        let mut dirs = Vec::new();
        let mut spans = Vec::new();
        for _ in 0..3 {
            let calibration = tempfile::tempdir().unwrap();
            let clean = run_and_kill(
                &measure_args(calibration.path(), &collector_url, &urls),
                None,
            );
            assert_eq!(clean.code, Some(0), "an undisturbed run succeeds");
            assert_eq!(printed_ids(&clean.stdout).len(), URLS);
            all_client_ids.extend(printed_ids(&clean.stdout));
            spans.push(clean.elapsed.as_millis() as u64);
            dirs.push(calibration);
        }
        spans.sort_unstable();
        let mut span = spans[1];
        eprintln!("kill test: an undisturbed run takes {span} ms (median of {spans:?})");
        let mut kills = 0;
        let mut kills_with_output = 0;
        let mut done = 0;
        for trial in 0..trials {
            if started.elapsed() > BUDGET {
                eprintln!("kill test: time budget reached after {trial} trials");
                break;
            }
            let dir = tempfile::tempdir().unwrap();
            // Kill points spread over the whole run, from start-up to the end of the upload.
            let kill_at = Duration::from_millis(rng.below(span * 6 / 5 + 1));
            let run = run_and_kill(
                &measure_args(dir.path(), &collector_url, &urls),
                Some(kill_at),
            );
            let mut reported = printed_ids(&run.stdout);
            if !run.killed {
                // The machine got faster: aim the next kill points within the shorter run.
                span = span.min(run.elapsed.as_millis() as u64).max(5);
            }
            if run.killed {
                kills += 1;
                if !reported.is_empty() {
                    kills_with_output += 1;
                }
            }
            // Restart: uploads that may be killed again, then one that finishes.
            for _ in 0..rng.below(3) {
                let kill_at = Duration::from_millis(rng.below(span / 2 + 1));
                if run_and_kill(&upload_args(dir.path(), &collector_url), Some(kill_at)).killed {
                    kills += 1;
                }
            }
            let last = run_and_kill(&upload_args(dir.path(), &collector_url), None);
            assert_eq!(
                last.code,
                Some(0),
                "trial {trial}: the final upload succeeds"
            );

            let store = Store::open(dir.path(), StorePolicy::default())
                .unwrap_or_else(|e| panic!("trial {trial}: the store opens after kills: {e}"));
            let stored: BTreeSet<String> = store.measurement_ids().unwrap().into_iter().collect();
            for id in &reported {
                assert!(
                    stored.contains(id),
                    "trial {trial}: reported measurement {id} was lost"
                );
            }
            let stats = store.queue_stats().unwrap();
            assert_eq!(
                (stats.pending, stats.held, stats.parked),
                (0, 0, 0),
                "trial {trial}: everything was delivered"
            );
            assert_eq!(stats.delivered as usize, stored.len());
            // Ids are never reused across trials.
            for id in &stored {
                assert!(all_client_ids.insert(id.clone()), "id {id} seen twice");
            }
            reported.clear();
            done += 1;
            dirs.push(dir);
        }
        (dirs, kills, kills_with_output, done, all_client_ids)
    })
    .await
    .unwrap();
    let (dirs, kills, kills_with_output, done, _) = outcome;

    // What the collector holds, read from its own database while it runs.
    let storage = CollectorStorage::open(collector.data_dir()).unwrap();
    let held = storage.measurements().unwrap();
    let mut at_collector: BTreeMap<String, Value> = BTreeMap::new();
    for m in &held {
        let id = m
            .measurement_id
            .clone()
            .expect("every Kuzet measurement has an id");
        let body: Value = serde_json::from_slice(&m.body).unwrap();
        assert!(
            at_collector.insert(id.clone(), body).is_none(),
            "the collector holds {id} twice"
        );
    }
    // Every stored measurement of every trial is at the collector, identical; nothing else is.
    let mut client_total = 0;
    for dir in &dirs {
        let store = Store::open(dir.path(), StorePolicy::default()).unwrap();
        for id in store.measurement_ids().unwrap() {
            client_total += 1;
            let Some(body) = at_collector.get(&id) else {
                panic!("measurement {id} never reached the collector");
            };
            let ours: Value =
                serde_json::from_slice(&store.measurement_json(&id).unwrap().unwrap()).unwrap();
            assert_eq!(
                without_report_id(body.clone()),
                without_report_id(ours),
                "the collector's copy of {id} differs"
            );
            assert!(body["report_id"].as_str().is_some_and(|r| !r.is_empty()));
        }
    }
    assert_eq!(
        at_collector.len(),
        client_total,
        "the collector holds nothing unknown"
    );
    let duplicates = storage.duplicates().unwrap();
    eprintln!(
        "kill test: {done} trials, {kills} kills ({kills_with_output} after some output), \
         {client_total} measurements, each at the collector once; {duplicates} re-sent \
         submissions recognised as duplicates"
    );
    assert!(done >= 8, "enough trials ran");
    assert!(kills >= done / 2, "most trials were killed");
    drop(collector);
}
