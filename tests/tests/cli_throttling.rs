//! End-to-end tests of `kuzet run throttling`: the real binary against the loopback throughput
//! fixture (one name held to 320 kbit/s, the others paced at 16 Mbit/s).

use kuzet_e2e::cli::{run_kuzet, KuzetOutput};
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

fn args(fixture: &ThroughputFixture, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "run",
        "throttling",
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
    let output = kuzet(vec!["run".into(), "throttling".into(), "--no-store".into()]).await;
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
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let output = kuzet(args(
        &fixture,
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
    let slow = lines
        .iter()
        .find(|l| l.starts_with(SLOW))
        .expect("slow row");
    assert!(
        slow.contains("throttled") && slow.contains("kbit/s"),
        "{slow}"
    );
    let fast = lines
        .iter()
        .find(|l| l.starts_with(FAST))
        .expect("fast row");
    assert!(!fast.contains(" throttled "), "{fast}");
    assert!(output.stdout.contains("2 measured"), "{}", output.stdout);
    // The results store has them.
    let results = kuzet(vec![
        "results".into(),
        "--data-dir".into(),
        data_dir.to_string(),
    ])
    .await;
    assert_eq!(results.code(), Some(0), "{results:?}");
    assert!(results.stdout.contains("throttling"), "{}", results.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_prints_one_ooni_measurement_per_target() {
    let fixture = fixture().await;
    let output = kuzet(args(&fixture, &["--targets", SLOW, "--json", "--no-store"])).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pin_fails_the_run() {
    let fixture = fixture().await;
    let mut args = args(&fixture, &["--targets", FAST, "--no-store"]);
    let pin_at = args.iter().position(|a| a == "--pin").unwrap() + 1;
    args[pin_at] = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_string();
    let output = kuzet(args).await;
    assert_eq!(output.code(), Some(1), "{output:?}");
    assert!(
        output.stderr.contains("does not match the pin"),
        "{}",
        output.stderr
    );
    assert!(output.stdout.is_empty());
}
