//! End-to-end tests of `kuzet run throttling`: the real binary against the loopback throughput
//! fixture (one name held to 320 kbit/s, the others paced at 16 Mbit/s). Every run checks the
//! network first, against loopback anchors that answer (`--anchors`).

use std::path::PathBuf;

use kuzet_e2e::cli::{run_kuzet, KuzetOutput};
use kuzet_e2e::fixtures::anchors::Anchors;
use kuzet_e2e::fixtures::tcp::closed_addr;
use kuzet_e2e::fixtures::throughput::{Behaviour, Rules, ThroughputFixture};
use serde_json::Value;

const SLOW: &str = "slow.example";
const FAST: &str = "fast.example";

async fn fixture() -> ThroughputFixture {
    ThroughputFixture::start(
        Rules::new()
            .otherwise(Behaviour::RateLimit {
                bytes_per_second: 2_000_000,
            })
            .sni(
                SLOW,
                Behaviour::RateLimit {
                    bytes_per_second: 40_000,
                },
            ),
    )
    .await
}

async fn kuzet(args: Vec<String>) -> KuzetOutput {
    tokio::task::spawn_blocking(move || run_kuzet(args))
        .await
        .expect("the kuzet run")
}

/// Loopback anchors that answer, and their file for `--anchors`.
struct Network {
    _anchors: Anchors,
    _dir: tempfile::TempDir,
    file: PathBuf,
}

fn network_up() -> Network {
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let file = anchors.write(dir.path());
    Network {
        _anchors: anchors,
        _dir: dir,
        file,
    }
}

fn args(fixture: &ThroughputFixture, network: &Network, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "run",
        "throttling",
        "--anchors",
        network.file.to_str().unwrap(),
        "--server",
        &fixture.addr.to_string(),
        "--pin",
        &fixture.pin,
        "--control",
        "control.kuzet-control.invalid",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_server_it_asks_for_one() {
    let network = network_up();
    let output = kuzet(vec![
        "run".into(),
        "throttling".into(),
        "--anchors".into(),
        network.file.display().to_string(),
        "--no-store".into(),
    ])
    .await;
    assert_eq!(output.code(), Some(2), "{output:?}");
    assert!(
        output.stderr.contains("--server") && output.stderr.contains("--pin"),
        "{}",
        output.stderr
    );
    assert!(output.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_name_is_reported_in_the_table_and_stored() {
    let fixture = fixture().await;
    let network = network_up();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let output = kuzet(args(
        &fixture,
        &network,
        &[
            "--targets",
            &format!("{SLOW},{FAST}"),
            "--data-dir",
            data_dir,
        ],
    ))
    .await;
    assert_eq!(output.code(), Some(0), "{output:?}");
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert!(lines[0].starts_with("TARGET"), "{}", output.stdout);
    // TARGET, VERDICT, RATE, PAIRS, DATA, EXPLANATION.
    let row = |name: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(name))
            .map(|l| cells(l))
            .unwrap_or_else(|| panic!("no {name} row: {}", output.stdout))
    };
    let slow = row(SLOW);
    assert_eq!(slow[1], "throttled", "{slow:?}");
    assert!(slow[2].ends_with("kbit/s"), "{slow:?}");
    let fast = row(FAST);
    assert_eq!(fast[1], "not_throttled", "{fast:?}");
    assert!(
        output
            .stdout
            .contains("2 measured: 1 throttled, 1 not_throttled;"),
        "{}",
        output.stdout
    );
    // The results store has them, with the same words.
    let results = kuzet(vec![
        "results".into(),
        "--data-dir".into(),
        data_dir.to_string(),
    ])
    .await;
    assert_eq!(results.code(), Some(0), "{results:?}");
    let run = results
        .stdout
        .lines()
        .find(|line| line.contains(" throttling "))
        .map(cells)
        .unwrap_or_else(|| panic!("no throttling run: {}", results.stdout));
    assert_eq!(
        (run[2], run[4], run[5], run[6]),
        ("throttling", "completed", "2", "1 throttled, 1 ok"),
        "{run:?}"
    );
    let details = kuzet(vec![
        "results".into(),
        "--data-dir".into(),
        data_dir.to_string(),
        "--run".into(),
        run[0].to_string(),
    ])
    .await;
    assert_eq!(details.code(), Some(0), "{details:?}");
    for (name, word) in [(SLOW, "throttled"), (FAST, "not_throttled")] {
        let stored = details
            .stdout
            .lines()
            .find(|l| l.starts_with(name))
            .map(cells)
            .unwrap_or_else(|| panic!("no {name} row: {}", details.stdout));
        assert_eq!(stored[1], word, "{stored:?}");
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
async fn json_prints_one_ooni_measurement_per_target() {
    let fixture = fixture().await;
    let network = network_up();
    let output = kuzet(args(
        &fixture,
        &network,
        &["--targets", SLOW, "--json", "--no-store"],
    ))
    .await;
    assert_eq!(output.code(), Some(0), "{output:?}");
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", output.stdout);
    let m: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(m["test_name"], "kuzet_throttling");
    assert_eq!(m["input"], SLOW);
    assert_eq!(m["test_keys"]["x_throttling"]["verdict"], "throttled");
    let kbps = m["test_keys"]["x_throttling"]["target_kbps"]
        .as_u64()
        .unwrap();
    assert!((160..=640).contains(&kbps), "{kbps}");
    assert!(m["test_keys"]["network_events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["operation"] == "bytes_received_cumulative"));
}

/// A wrong pin gives one `inconclusive` result, kept and stored; the suite stops there (the
/// other target is not measured) and the command fails with the problem on stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pin_is_inconclusive_and_fails_the_run() {
    let fixture = fixture().await;
    let network = network_up();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let mut args = args(
        &fixture,
        &network,
        &[
            "--targets",
            &format!("{FAST},{SLOW}"),
            "--data-dir",
            data_dir,
        ],
    );
    let pin_at = args.iter().position(|a| a == "--pin").unwrap() + 1;
    args[pin_at] = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_string();
    let output = kuzet(args).await;
    assert_eq!(output.code(), Some(1), "{output:?}");
    // The problem, once, as the command's error.
    let problem: Vec<&str> = output
        .stderr
        .lines()
        .filter(|l| l.contains("a wrong pin"))
        .collect();
    assert_eq!(problem.len(), 1, "{}", output.stderr);
    assert!(
        problem[0].starts_with("kuzet: error: "),
        "{}",
        output.stderr
    );
    let row = output
        .stdout
        .lines()
        .find(|l| l.starts_with(FAST))
        .map(cells)
        .unwrap_or_else(|| panic!("no {FAST} row: {}", output.stdout));
    assert_eq!(row[1], "inconclusive", "{row:?}");
    assert!(row[5].contains("a wrong pin"), "{row:?}");
    assert!(
        !output.stdout.lines().any(|l| l.starts_with(SLOW)),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("1 measured: 1 inconclusive;")
            && output.stdout.contains("1 not measured"),
        "{}",
        output.stdout
    );
    assert!(
        output.stderr.contains(SLOW),
        "not measured: {}",
        output.stderr
    );

    let details = kuzet(vec![
        "results".into(),
        "--data-dir".into(),
        data_dir.to_string(),
        "--run".into(),
        "1".into(),
    ])
    .await;
    assert_eq!(details.code(), Some(0), "{details:?}");
    let stored = details
        .stdout
        .lines()
        .find(|l| l.starts_with(FAST))
        .map(cells)
        .unwrap_or_else(|| panic!("no {FAST} row: {}", details.stdout));
    assert_eq!(stored[1], "inconclusive", "{stored:?}");
    assert!(
        details
            .stdout
            .contains(&format!("not measured (1): {SLOW}")),
        "{}",
        details.stdout
    );
}

/// A throughput server nobody answers at is inconclusive too, and fails the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_inconclusive_and_fails_the_run() {
    let fixture = fixture().await;
    let network = network_up();
    let mut args = args(
        &fixture,
        &network,
        &["--targets", FAST, "--json", "--no-store"],
    );
    let server_at = args.iter().position(|a| a == "--server").unwrap() + 1;
    args[server_at] = closed_addr().to_string();
    let output = kuzet(args).await;
    assert_eq!(output.code(), Some(1), "{output:?}");
    assert!(
        output.stderr.contains("kuzet: error: "),
        "{}",
        output.stderr
    );
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", output.stdout);
    let m: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(m["input"], FAST);
    assert_eq!(m["test_keys"]["x_throttling"]["verdict"], "inconclusive");
}
