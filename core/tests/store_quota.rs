//! Quotas: delivered measurements go first, undelivered evidence last, and every drop is
//! counted.

mod store_support;

use std::sync::Arc;
use std::time::Duration;

use kuzet_core::store::{DeliveryState, ManualClock, Store, StorePolicy};
use store_support::{kz, measurement, ok, run};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

fn record_n(store: &Store, n: usize, tag: &str) -> Vec<String> {
    let run_id = store.begin_run(&run(&kz())).unwrap();
    (0..n)
        .map(|i| {
            let url = format!("https://{tag}{i}.example/");
            store
                .record(run_id, &measurement(&url, &kz(), 50), &ok(&url), None)
                .unwrap()
                .measurement_id
        })
        .collect()
}

fn deliver(store: &Store, ids: &[String]) {
    for id in ids {
        store
            .mark_delivered(id, "https://collector.example/", "R1", Some("uid"))
            .unwrap();
    }
}

#[test]
fn the_count_quota_drops_delivered_measurements_first() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let policy = StorePolicy {
        max_measurements: Some(5),
        ..StorePolicy::no_limits()
    };
    let store = Store::open_with_clock(dir.path(), policy, clock.clone()).unwrap();
    let first = record_n(&store, 5, "a");
    // The two newest are delivered: still, delivered ones go before any undelivered one.
    deliver(&store, &first[3..]);
    clock.advance_ms(10);
    let more = record_n(&store, 2, "b");
    let ids = store.measurement_ids().unwrap();
    assert_eq!(ids.len(), 5);
    for id in first[..3].iter().chain(&more) {
        assert!(ids.contains(id), "undelivered evidence was dropped");
    }
    let dropped = store.stats().unwrap().dropped;
    assert_eq!((dropped.delivered_count, dropped.undelivered()), (2, 0));

    // No delivered measurement left: now the oldest undelivered one goes, and is counted.
    let last = record_n(&store, 1, "c");
    let ids = store.measurement_ids().unwrap();
    assert!(!ids.contains(&first[0]));
    assert!(ids.contains(&last[0]));
    let dropped = store.stats().unwrap().dropped;
    assert_eq!(dropped.undelivered_count, 1);
    assert_eq!(dropped.undelivered(), 1);
}

#[test]
fn the_bytes_quota_counts_stored_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let probe = tempfile::tempdir().unwrap();
    // The stored size of one sample measurement.
    let size = {
        let store = Store::open(probe.path(), StorePolicy::no_limits()).unwrap();
        store
            .enqueue(&measurement("https://x.example/", &kz(), 50), None)
            .unwrap()
            .stored_size as u64
    };
    let policy = StorePolicy {
        max_bytes: Some(size * 4 + size / 2),
        ..StorePolicy::no_limits()
    };
    let store = Store::open(dir.path(), policy).unwrap();
    let ids = record_n(&store, 6, "d");
    let kept = store.measurement_ids().unwrap();
    assert_eq!(kept.len(), 4);
    assert_eq!(kept, ids[2..].to_vec());
    let stats = store.stats().unwrap();
    assert!(stats.stored_bytes <= size * 4 + size / 2);
    assert_eq!(stats.dropped.undelivered_bytes, 2);
}

#[test]
fn age_limits_drop_old_delivered_measurements_long_before_undelivered_ones() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(100 * DAY_MS));
    let policy = StorePolicy {
        max_delivered_age: Some(Duration::from_secs(30 * 24 * 3600)),
        max_undelivered_age: Some(Duration::from_secs(90 * 24 * 3600)),
        ..StorePolicy::no_limits()
    };
    let store = Store::open_with_clock(dir.path(), policy, clock.clone()).unwrap();
    let old = record_n(&store, 4, "e");
    deliver(&store, &old[..2]);
    clock.advance_ms(31 * DAY_MS);
    store.enforce_quotas().unwrap();
    let ids = store.measurement_ids().unwrap();
    assert_eq!(
        ids,
        old[2..].to_vec(),
        "delivered ones aged out, undelivered kept"
    );
    clock.advance_ms(60 * DAY_MS);
    let report = store.enforce_quotas().unwrap();
    assert_eq!(report.undelivered_age, 2);
    let dropped = store.stats().unwrap().dropped;
    assert_eq!((dropped.delivered_age, dropped.undelivered_age), (2, 2));
}

#[test]
fn history_keeps_verdicts_of_dropped_measurements_and_limits_runs() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000));
    let policy = StorePolicy {
        max_measurements: Some(1),
        max_runs: Some(2),
        ..StorePolicy::no_limits()
    };
    let store = Store::open_with_clock(dir.path(), policy, clock.clone()).unwrap();
    let first = store.begin_run(&run(&kz())).unwrap();
    let m = measurement("https://a.example/", &kz(), 10);
    store.record(first, &m, &ok("a"), None).unwrap();
    clock.advance_ms(1);
    let second = store.begin_run(&run(&kz())).unwrap();
    store
        .record(
            second,
            &measurement("https://b.example/", &kz(), 10),
            &ok("b"),
            None,
        )
        .unwrap();
    let results = store.results(first).unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(
        results[0].delivery, None,
        "measurement dropped, verdict kept"
    );
    assert_eq!(
        store.results(second).unwrap()[0].delivery,
        Some(DeliveryState::Pending)
    );
    clock.advance_ms(1);
    store.begin_run(&run(&kz())).unwrap();
    let runs = store.runs(10).unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r.run.id != first));
    assert_eq!(store.stats().unwrap().dropped.runs, 1);
}
