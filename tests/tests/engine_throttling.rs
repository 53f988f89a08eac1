//! The engine's throttling suite against the loopback throughput fixture (a TLS server that
//! accepts any name, with a pinned key, and paces each name as told): a name held to a tenth of
//! the comparison's speed is throttled, an unhindered one is not, results are stored as they
//! land, and a wrong pin is reported as such without measuring further.

use std::sync::Arc;

use kuzet_core::engine::{
    BlockingMethod, Engine, EngineConfig, NoListener, RunRequest, RunStatus, Suite,
    ThroughputServer, Verdict,
};
use kuzet_core::experiment::throttling::SpkiPin;
use kuzet_core::report::Software;
use kuzet_e2e::fixtures::throughput::{Behaviour, Rules, ThroughputFixture};

const SLOWED: &str = "www.slowed.example";
const FREE: &str = "www.free.example";

fn engine(dir: &tempfile::TempDir, fixture: &ThroughputFixture, pin: Option<SpkiPin>) -> Engine {
    let mut config = EngineConfig::new(
        dir.path().join("kuzet"),
        Software {
            name: "kuzet-tests".to_string(),
            version: "1.0".to_string(),
        },
    );
    config.throughput_server = Some(ThroughputServer {
        addr: fixture.addr,
        pin: pin.unwrap_or_else(|| fixture.pin.parse().unwrap()),
    });
    Engine::new(config).unwrap()
}

fn throttling(targets: &[&str]) -> RunRequest {
    RunRequest {
        suites: vec![Suite::Throttling],
        throttling_targets: targets.iter().map(|t| t.to_string()).collect(),
        ..RunRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowed_name_is_throttled_and_a_free_one_is_not() {
    // Both arms paced, so rates are stable on a busy machine.
    let fixture = ThroughputFixture::start(
        Rules::new()
            .otherwise(Behaviour::RateLimit {
                bytes_per_second: 2_000_000,
            })
            .sni(
                SLOWED,
                Behaviour::RateLimit {
                    bytes_per_second: 200_000,
                },
            ),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir, &fixture, None);
    let summary = engine
        .run(throttling(&[SLOWED, FREE]), Arc::new(NoListener))
        .await
        .unwrap();
    assert_eq!(summary.status, RunStatus::Completed);
    assert_eq!(summary.results.len(), 2);

    let slowed = &summary.results[0];
    assert_eq!(slowed.suite, Suite::Throttling);
    assert_eq!(slowed.target, SLOWED);
    assert_eq!(slowed.verdict, Verdict::Blocked, "{slowed:?}");
    assert_eq!(slowed.blocking, Some(BlockingMethod::Throttling));
    assert_eq!(slowed.verdict_detail, "throttled");
    assert!(
        slowed.explanation.starts_with("Throttled:"),
        "{}",
        slowed.explanation
    );
    let measurement: serde_json::Value = serde_json::from_str(&slowed.measurement_json).unwrap();
    assert_eq!(measurement["test_name"], "kuzet_throttling");
    assert_eq!(measurement["input"], SLOWED);

    let free = &summary.results[1];
    assert_eq!(free.verdict, Verdict::Accessible, "{free:?}");
    assert_eq!(free.verdict_detail, "not_throttled");
    assert!(summary.bytes_used >= slowed.bytes_received + free.bytes_received);
    assert!(slowed.bytes_received > 0);

    // Both are in the history, with their verdicts and suite.
    let history = engine.results_history_async(0, 10).await.unwrap();
    let kept: Vec<(Suite, Verdict, Option<BlockingMethod>)> = history
        .items
        .iter()
        .map(|r| {
            (
                kuzet_core::engine::result_suite(r),
                kuzet_core::engine::result_verdict(r),
                kuzet_core::engine::result_blocking(r),
            )
        })
        .collect();
    assert_eq!(
        kept,
        vec![
            (Suite::Throttling, Verdict::Accessible, None),
            (
                Suite::Throttling,
                Verdict::Blocked,
                Some(BlockingMethod::Throttling)
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pin_is_reported_once_and_nothing_more_is_measured() {
    let fixture = ThroughputFixture::start(Rules::new().otherwise(Behaviour::RateLimit {
        bytes_per_second: 2_000_000,
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let wrong: SpkiPin = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        .parse()
        .unwrap();
    let engine = engine(&dir, &fixture, Some(wrong));
    let summary = engine
        .run(throttling(&[SLOWED, FREE]), Arc::new(NoListener))
        .await
        .unwrap();
    assert_eq!(summary.results.len(), 1);
    let result = &summary.results[0];
    assert_eq!(result.verdict, Verdict::Undetermined);
    assert!(
        result.explanation.contains("presented another key"),
        "{}",
        result.explanation
    );
    assert!(result
        .failure
        .as_deref()
        .unwrap_or("")
        .contains("does not match the pin"));
    // Nothing was stored: there was no measurement.
    assert!(engine.results_history(0, 10).unwrap().items.is_empty());
}
