//! The throttling experiment against the loopback throughput fixture: unthrottled, throttled,
//! stalled and blocked names; a wrong pin; budgets; cancellation; hostile servers; and the
//! shape of the OONI measurement.

use kuzet_e2e::ooni::BASE_KEYS;
use std::time::{Duration, Instant};

use kuzet_core::experiment::throttling::schedule::trial_reserve;
use kuzet_core::experiment::throttling::ThrottlingVerdict;
use kuzet_core::experiment::throttling::{
    run_throttling, SpkiPin, ThrottlingConfig, ThrottlingError, ThrottlingProgress,
    ThrottlingReport,
};
use kuzet_core::report::Measurement;
use kuzet_e2e::fixtures::throughput::{Behaviour, Rules, ThroughputFixture};
use tokio_util::sync::CancellationToken;

const TARGET: &str = "www.throttled.example";
const CONTROL: &str = "control.kuzet-control.invalid";
/// Both arms are paced, so rates are stable on a busy machine: 2 MB/s.
const FAST: Behaviour = Behaviour::RateLimit {
    bytes_per_second: 2_000_000,
};

fn config(fixture: &ThroughputFixture, targets: &[&str]) -> ThrottlingConfig {
    let pin: SpkiPin = fixture.pin.parse().expect("the fixture's pin parses");
    let mut config = ThrottlingConfig::new(
        fixture.addr,
        pin,
        targets.iter().map(|t| t.to_string()).collect(),
    );
    config.control_sni = CONTROL.to_string();
    config.trial_timeout = Duration::from_secs(2);
    config.stall_gap = Duration::from_secs(1);
    config.handshake_timeout = Duration::from_secs(5);
    config
}

async fn run(config: &ThrottlingConfig) -> Result<ThrottlingReport, ThrottlingError> {
    run_throttling(config, &CancellationToken::new(), &|_| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equal_speeds_are_not_throttled() {
    let fixture = ThroughputFixture::start(Rules::new().otherwise(FAST)).await;
    let report = run(&config(&fixture, &[TARGET])).await.unwrap();
    let result = &report.results[0];
    assert!(
        matches!(result.verdict, ThrottlingVerdict::NotThrottled { .. }),
        "{:?}",
        result.verdict
    );
    assert!(result.evidence.pairs >= 4);
    assert!(result.evidence.bytes_used <= result.evidence.budget_bytes);
    assert_eq!(report.bytes_used, result.evidence.bytes_used);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_held_to_128_kbps_is_throttled() {
    let fixture = ThroughputFixture::start(Rules::new().otherwise(FAST).sni(
        TARGET,
        Behaviour::RateLimit {
            bytes_per_second: 16_000,
        },
    ))
    .await;
    let report = run(&config(&fixture, &[TARGET])).await.unwrap();
    let result = &report.results[0];
    match &result.verdict {
        ThrottlingVerdict::Throttled {
            target_kbps,
            control_kbps,
            median_ratio,
            ..
        } => {
            assert!(
                (64..=256).contains(target_kbps),
                "target {target_kbps} kbit/s"
            );
            assert!(*control_kbps > 4 * target_kbps, "control {control_kbps}");
            assert!(*median_ratio < 0.5);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(result.evidence.pairs, 4);
    let x = &result.measurement.test_keys["x_throttling"];
    assert_eq!(x["verdict"], "throttled");
    assert_eq!(x["pairs"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_freezes_is_stalled() {
    let fixture = ThroughputFixture::start(
        Rules::new()
            .otherwise(FAST)
            .sni(TARGET, Behaviour::StallAfter { bytes: 20_000 }),
    )
    .await;
    let mut config = config(&fixture, &[TARGET]);
    config.trial_timeout = Duration::from_secs(3);
    let started = Instant::now();
    let report = run(&config).await.unwrap();
    match report.results[0].verdict {
        ThrottlingVerdict::Stalled { after_bytes } => {
            assert!((20_000..40_000).contains(&after_bytes), "{after_bytes}")
        }
        ref other => panic!("{other:?}"),
    }
    // A stall ends a trial after the stall gap, not at the time cap.
    assert!(started.elapsed() < Duration::from_secs(4 * 3 + 10));
}

/// A censor dropping every packet past a byte count cuts a TLS record: its first bytes arrive
/// (here 300 ms after the last whole record) but are never returned as plaintext. The stall is
/// measured from those bytes, so every trial is a stall, not a slow transfer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_that_cuts_a_tls_record_is_stalled() {
    let fixture = ThroughputFixture::start(
        Rules::new()
            .otherwise(FAST)
            .sni(TARGET, Behaviour::StallMidRecord { bytes: 20_000 }),
    )
    .await;
    let mut config = config(&fixture, &[TARGET]);
    config.trial_timeout = Duration::from_secs(3);
    let report = run(&config).await.unwrap();
    let result = &report.results[0];
    match result.verdict {
        ThrottlingVerdict::Stalled { after_bytes } => {
            assert!((20_000..40_000).contains(&after_bytes), "{after_bytes}")
        }
        ref other => panic!("{other:?}"),
    }
    let trials = result.measurement.test_keys["x_trials"]
        .as_array()
        .expect("x_trials")
        .iter()
        .filter(|t| t["arm"] == "target")
        .collect::<Vec<_>>();
    assert!(!trials.is_empty());
    for trial in trials {
        assert_eq!(trial["stalled"], true, "{trial}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_handshake_is_blocked_not_throttled() {
    let fixture = ThroughputFixture::start(
        Rules::new()
            .otherwise(FAST)
            .sni(TARGET, Behaviour::ResetHandshake),
    )
    .await;
    let report = run(&config(&fixture, &[TARGET])).await.unwrap();
    let result = &report.results[0];
    match &result.verdict {
        ThrottlingVerdict::Blocked { step, failure } => {
            assert_eq!(step, "tls_handshake");
            assert_eq!(failure, "connection_reset");
        }
        other => panic!("{other:?}"),
    }
    let x = &result.measurement.test_keys["x_throttling"];
    assert_eq!(x["verdict"], "blocked");
    assert_eq!(x["blocked"], true);
    assert_eq!(x["blocked_failure"], "connection_reset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pin_is_inconclusive_and_names_the_key() {
    let fixture = ThroughputFixture::start(Rules::new()).await;
    let mut config = config(&fixture, &[TARGET]);
    config.pin = SpkiPin::of_spki(b"not the server's key");
    let report = run(&config).await.unwrap();
    // The measurement is kept (evidence of a wrong pin, or of interception), and no further
    // target is measured against that server.
    let result = &report.results[0];
    assert!(result.evidence.server_unusable);
    match &result.verdict {
        ThrottlingVerdict::Inconclusive { why } => {
            assert!(why.contains("another key"), "{why}");
            assert!(why.contains(&fixture.pin), "names the key presented: {why}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        result.measurement.test_keys["x_throttling"]["verdict"],
        "inconclusive"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_inconclusive_and_ends_the_run() {
    let fixture = ThroughputFixture::start(Rules::new()).await;
    let mut config = config(&fixture, &[TARGET]);
    drop(fixture);
    tokio::time::sleep(Duration::from_millis(50)).await;
    config.connect_timeout = Duration::from_secs(2);
    let report = run(&config).await.unwrap();
    let result = &report.results[0];
    assert!(result.evidence.server_unusable);
    match &result.verdict {
        ThrottlingVerdict::Inconclusive { why } => {
            assert!(why.contains("could not be reached"), "{why}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_are_hard_caps() {
    let fixture = ThroughputFixture::start(Rules::new().otherwise(FAST)).await;
    let mut config = config(&fixture, &[TARGET, "second.example"]);
    let pair = 2 * trial_reserve(&config);
    // Room for three pairs of the first target, and not one pair more in the run.
    config.target_budget = 3 * pair + pair / 2;
    config.run_budget = 3 * pair + pair / 2;
    let report = run(&config).await.unwrap();
    assert_eq!(report.results.len(), 1);
    assert_eq!(report.skipped, vec!["second.example".to_string()]);
    let result = &report.results[0];
    assert_eq!(result.evidence.pairs, 3);
    assert!(result.evidence.budget_stopped);
    assert!(result.evidence.bytes_used <= config.target_budget);
    assert!(report.bytes_used <= config.run_budget);
    assert_eq!(
        result.measurement.test_keys["x_throttling"]["budget_stopped"],
        true
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_the_run_quickly() {
    let fixture = ThroughputFixture::start(Rules::new().otherwise(Behaviour::RateLimit {
        bytes_per_second: 8_000,
    }))
    .await;
    let mut config = config(&fixture, &[TARGET, "second.example"]);
    config.trial_timeout = Duration::from_secs(5);
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        trigger.cancel();
    });
    let report = run_throttling(&config, &cancel, &|_| {}).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(report.cancelled);
    assert_eq!(report.results.len(), 1);
    assert!(report.results[0].evidence.cancelled);
    assert!(matches!(
        report.results[0].verdict,
        ThrottlingVerdict::Inconclusive { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_servers_are_bounded_and_never_give_a_rate_verdict() {
    for behaviour in [
        Behaviour::EndlessBody,
        Behaviour::HugeContentLength,
        Behaviour::Garbage,
    ] {
        let fixture = ThroughputFixture::start(Rules::new().otherwise(behaviour)).await;
        let config = config(&fixture, &[TARGET]);
        let started = Instant::now();
        let report = run(&config)
            .await
            .unwrap_or_else(|e| panic!("{behaviour:?}: {e:?}"));
        let result = &report.results[0];
        assert!(started.elapsed() < Duration::from_secs(60), "{behaviour:?}");
        assert!(
            result.evidence.bytes_used <= config.target_budget,
            "{behaviour:?}: {}",
            result.evidence.bytes_used
        );
        // Every trial read at most its body and the overhead cap.
        let cap = trial_reserve(&config);
        for trial in result.measurement.test_keys["x_trials"].as_array().unwrap() {
            assert!(trial["bytes_received"].as_u64().unwrap() <= cap, "{trial}");
        }
        match behaviour {
            // The announced length is right: the bytes past it are never read. (The rate is
            // unpaced loopback here, so no verdict is asserted.)
            Behaviour::EndlessBody => {
                for trial in result.measurement.test_keys["x_trials"].as_array().unwrap() {
                    assert_eq!(trial["body_bytes"], trial["requested_bytes"], "{trial}");
                }
            }
            _ => assert!(
                matches!(result.verdict, ThrottlingVerdict::Inconclusive { .. }),
                "{behaviour:?}: {:?}",
                result.verdict
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_counts_trials() {
    let fixture = ThroughputFixture::start(Rules::new().otherwise(FAST)).await;
    let events = std::sync::Mutex::new(Vec::new());
    let report = run_throttling(
        &config(&fixture, &[TARGET]),
        &CancellationToken::new(),
        &|event| events.lock().unwrap().push(event),
    )
    .await
    .unwrap();
    let events = events.into_inner().unwrap();
    let trials = events
        .iter()
        .filter(|e| matches!(e, ThrottlingProgress::Trial { .. }))
        .count();
    assert_eq!(trials, report.results[0].evidence.pairs * 2);
    assert!(matches!(
        events.last(),
        Some(ThrottlingProgress::Finished { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_measurement_is_an_ooni_envelope_with_samples() {
    let fixture = ThroughputFixture::start(Rules::new().otherwise(FAST)).await;
    let report = run(&config(&fixture, &[TARGET])).await.unwrap();
    let measurement = &report.results[0].measurement;
    let value = serde_json::to_value(measurement).unwrap();
    for key in value.as_object().unwrap().keys() {
        assert!(BASE_KEYS.contains(&key.as_str()), "unexpected key {key}");
    }
    assert_eq!(value["test_name"], "kuzet_throttling");
    assert_eq!(value["input"], TARGET);
    assert_eq!(value["data_format_version"], "0.2.0");
    assert_eq!(value["probe_ip"], "127.0.0.1");
    let name = value["test_name"].as_str().unwrap();
    assert!(name.len() <= 29 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    let keys = &value["test_keys"];
    let events = keys["network_events"].as_array().unwrap();
    assert!(!events.is_empty());
    assert!(events
        .iter()
        .all(|e| e["operation"] == "bytes_received_cumulative" && e["num_bytes"].is_u64()));
    let connects = keys["tcp_connect"].as_array().unwrap();
    let handshakes = keys["tls_handshakes"].as_array().unwrap();
    let trials = keys["x_trials"].as_array().unwrap();
    assert_eq!(connects.len(), trials.len());
    assert_eq!(handshakes.len(), trials.len());
    assert!(connects.iter().all(|c| c["status"]["success"] == true));
    let snis: Vec<&str> = handshakes
        .iter()
        .map(|h| h["server_name"].as_str().unwrap())
        .collect();
    assert_eq!(&snis[..4], &[TARGET, CONTROL, CONTROL, TARGET], "ABBA");
    assert!(handshakes.iter().all(|h| h["no_tls_verify"] == true));
    let x = &keys["x_throttling"];
    for field in [
        "verdict",
        "median_ratio",
        "target_kbps",
        "control_kbps",
        "fixed_rate_policer",
        "pairs",
        "escalated",
        "replaced_pairs",
        "bytes_used",
    ] {
        assert!(x.get(field).is_some(), "x_throttling.{field} missing: {x}");
    }
    assert_eq!(x["bytes_used"], report.results[0].evidence.bytes_used);
    // A round trip keeps everything.
    let again: Measurement = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(serde_json::to_value(&again).unwrap(), value);
}
