//! The engine's throttling suite against the loopback throughput fixture (a TLS server that
//! accepts any name, with a pinned key, and paces each name as told): a name held to a tenth of
//! the comparison's speed is throttled, an unhindered one is not, results are stored as they
//! land with the words they were reported with, and a wrong pin ends the suite with its
//! evidence kept.

use std::sync::Arc;

use kuzet_core::engine::{
    Engine, EngineConfig, RunRequest, RunStatus, Suite, ThroughputServer, Verdict, VerdictGroup,
};
use kuzet_core::experiment::throttling::{SpkiPin, ThrottlingVerdict};
use kuzet_core::report::Software;
use kuzet_e2e::fixtures::anchors::Anchors;
use kuzet_e2e::fixtures::listener::Heard;
use kuzet_e2e::fixtures::throughput::{Behaviour, Rules, ThroughputFixture};

const SLOWED: &str = "www.slowed.example";
const FREE: &str = "www.free.example";

fn engine(
    dir: &tempfile::TempDir,
    anchors: &Anchors,
    fixture: &ThroughputFixture,
    pin: Option<SpkiPin>,
) -> Engine {
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
    config.connectivity = anchors.config();
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
    let anchors = Anchors::up();
    let engine = engine(&dir, &anchors, &fixture, None);
    let heard = Arc::new(Heard::default());
    let summary = engine
        .run(throttling(&[SLOWED, FREE]), heard.clone())
        .await
        .unwrap();
    assert_eq!(summary.status, RunStatus::Completed);
    assert_eq!(summary.results.len(), 2);

    let (slowed, measurement) = heard.result(SLOWED);
    assert_eq!(slowed.suite(), Suite::Throttling);
    assert!(
        matches!(
            slowed.verdict,
            Verdict::Throttling(ThrottlingVerdict::Throttled { .. })
        ),
        "{slowed:?}"
    );
    assert_eq!(slowed.word, "throttled");
    assert_eq!(slowed.group, VerdictGroup::Throttled);
    assert!(
        slowed.explanation.starts_with("Throttled:"),
        "{}",
        slowed.explanation
    );
    assert_eq!(measurement.test_name, "kuzet_throttling");
    assert_eq!(measurement.input.as_deref(), Some(SLOWED));
    assert_eq!(
        measurement.test_keys["x_throttling"]["verdict"],
        "throttled"
    );

    let (free, _) = heard.result(FREE);
    assert_eq!(free.word, "not_throttled", "{free:?}");
    assert_eq!(free.group, VerdictGroup::Ok);
    assert!(summary.bytes_used >= slowed.bytes_received + free.bytes_received);
    assert!(slowed.bytes_received > 0);

    // Both are in the history, with the words they were reported with.
    let history = engine.results_history(0, 10).await.unwrap();
    let mut kept: Vec<(String, String)> = history
        .items
        .iter()
        .map(|item| (item.result.target.clone(), item.result.word.clone()))
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        vec![
            (FREE.to_string(), "not_throttled".to_string()),
            (SLOWED.to_string(), "throttled".to_string()),
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
    let anchors = Anchors::up();
    let engine = engine(&dir, &anchors, &fixture, Some(wrong));
    let summary = engine
        .run(throttling(&[SLOWED, FREE]), Arc::new(Heard::default()))
        .await
        .unwrap();
    assert_eq!(summary.results.len(), 1);
    let result = &summary.results[0];
    assert_eq!(result.word, "inconclusive");
    assert_eq!(result.group, VerdictGroup::Unverified);
    assert!(
        result.explanation.contains("presented another key"),
        "{}",
        result.explanation
    );
    // The suite stopped: the other name is listed as not measured, and why is a problem.
    assert_eq!(summary.not_measured.len(), 1);
    assert_eq!(summary.not_measured[0].target, FREE);
    assert_eq!(summary.problems.len(), 1);
    assert!(
        summary.problems[0].contains("another key"),
        "{:?}",
        summary.problems
    );
    // The trials are kept as evidence (of a wrong pin, or of interception).
    let history = engine.results_history(0, 10).await.unwrap();
    assert_eq!(history.items.len(), 1);
    assert_eq!(history.items[0].result.word, "inconclusive");
}
