//! A store written by an earlier Kuzet (schema version 1: `tests/data/store-v1/kuzet.db`, made by
//! the CLI and the engine of commit 5877ecf against loopback servers) opens with today's code:
//! the schema migrates to version 2 and every result is upgraded once to today's typed record,
//! with the words today's runs use, its delivery state and everything else kept.

use std::path::{Path, PathBuf};

use kuzet_core::experiment::messaging::{BlockedStep, MessagingVerdict};
use kuzet_core::experiment::throttling::ThrottlingVerdict;
use kuzet_core::experiment::urlgetter::UrlVerdict;
use kuzet_core::experiment::web_connectivity::Verdict as WebVerdict;
use kuzet_core::session::{self, history, Verdict, VerdictGroup};
use kuzet_core::store::{DeliveryState, Store, StorePolicy, DATABASE_FILE_NAME};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/store-v1/kuzet.db")
}

/// A copy of the fixture in a new directory (opening a store writes to it).
fn copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture(), dir.path().join(DATABASE_FILE_NAME)).unwrap();
    dir
}

fn schema_version(dir: &Path) -> i64 {
    let conn = rusqlite::Connection::open(dir.join(DATABASE_FILE_NAME)).unwrap();
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap()
}

/// Every result of the store, read back as today's records, with their test names.
fn all_results(store: &Store) -> Vec<(String, history::HistoryItem)> {
    let mut all = Vec::new();
    for run in store.runs(usize::MAX).unwrap() {
        for record in store.results(run.run.id).unwrap() {
            let item = history::history_item(&record)
                .unwrap_or_else(|| panic!("unreadable after the upgrade: {record:?}"));
            all.push((record.test_name.clone(), item));
        }
    }
    all
}

#[test]
fn a_version_one_store_opens_migrates_and_reads() {
    let dir = copy();
    assert_eq!(schema_version(dir.path()), 1);
    let store = session::open_store(dir.path(), StorePolicy::default()).unwrap();
    assert_eq!(schema_version(dir.path()), 2);
    // Every result was upgraded: none of version 1 is left.
    assert!(store.results_of_version(1, 10).unwrap().is_empty());

    // Nothing was lost.
    let stats = store.stats().unwrap();
    assert_eq!(stats.measurements, 39);
    let runs = store.runs(usize::MAX).unwrap();
    assert_eq!(runs.len(), 16);
    let results = all_results(&store);
    assert_eq!(results.len(), 38);
    let queue = store.queue_stats().unwrap();
    assert_eq!(
        (queue.delivered, queue.pending, queue.held, queue.parked),
        (14, 19, 6, 0)
    );
    assert_eq!(store.transitions(None, 100).unwrap().len(), 5);
    // Every measurement still decodes, and every result's group is the one its verdict gives.
    for id in store.measurement_ids().unwrap() {
        assert!(store.measurement(&id).unwrap().is_some(), "{id}");
    }
    for (_, item) in &results {
        assert_eq!(item.result.group, item.result.verdict.group());
        assert_eq!(item.result.word, item.result.verdict.word());
        assert!(!item.result.explanation.is_empty(), "{:?}", item.result);
    }

    // The words are today's, read from each measurement's own verdict where it is kept.
    let words = |test_name: &str| -> Vec<String> {
        let mut words: Vec<String> = results
            .iter()
            .filter(|(name, _)| name == test_name)
            .map(|(_, item)| item.result.word.clone())
            .collect();
        words.sort();
        words.dedup();
        words
    };
    assert_eq!(words("urlgetter"), ["failed", "ok"]);
    assert_eq!(words("web_connectivity"), ["ok", "site_down"]);
    assert_eq!(words("kuzet_connectivity"), ["data_blackout", "ok"]);
    assert_eq!(words("kuzet_throttling"), ["not_throttled", "throttled"]);
    assert_eq!(words("facebook_messenger"), ["blocked"]);
    assert_eq!(words("signal"), ["ok"]);

    // The CLI's urlgetter failure keeps its step and failure.
    assert!(results.iter().any(|(_, item)| matches!(
        &item.result.verdict,
        Verdict::Urls(UrlVerdict::Failed { operation, failure })
            if operation == "connect" && failure == "connection_refused"
    )));
    // The engine's site down for everyone (stored as its own word `down`) is web's site_down.
    assert!(results.iter().any(|(_, item)| {
        item.result.verdict == Verdict::Web(WebVerdict::SiteDown)
            && item.result.explanation.contains("down for everyone")
    }));
    // The engine's throttled row (stored as `blocked`, detail `throttled`) keeps its rates and
    // explanation.
    let throttled = results
        .iter()
        .find(|(_, item)| item.result.word == "throttled")
        .expect("the engine's throttled row");
    assert_eq!(throttled.1.result.group, VerdictGroup::Throttled);
    assert!(matches!(
        throttled.1.result.verdict,
        Verdict::Throttling(ThrottlingVerdict::Throttled { target_kbps, control_kbps, .. })
            if target_kbps > 0 && control_kbps > target_kbps
    ));
    assert!(throttled.1.result.explanation.starts_with("Throttled:"));
    assert!(throttled.1.result.bytes_received > 0);
    // The CLI's blocked messaging app keeps its step.
    assert!(results
        .iter()
        .any(|(name, item)| name == "facebook_messenger"
            && matches!(
                item.result.verdict,
                Verdict::Messaging(MessagingVerdict::Blocked {
                    step: Some(BlockedStep::Tcp),
                    ..
                })
            )));
    // Delivery states are kept with the results.
    assert!(results
        .iter()
        .any(|(_, item)| item.delivery == Some(DeliveryState::Delivered)));
    assert!(results
        .iter()
        .any(|(_, item)| item.delivery == Some(DeliveryState::Held)));

    // Opening again changes nothing: the upgrade ran once.
    drop(store);
    let again = session::open_store(dir.path(), StorePolicy::default()).unwrap();
    let reread = all_results(&again);
    assert_eq!(reread.len(), 38);
    for ((_, before), (_, after)) in results.iter().zip(&reread) {
        assert_eq!(before.result, after.result);
    }
}

#[test]
fn a_version_one_result_reads_on_the_fly_before_its_upgrade() {
    // A store opened only to read is never upgraded: its results of version 1 are converted
    // as they are read, to the same records the upgrade writes.
    let dir = copy();
    let plain = Store::open(dir.path(), StorePolicy::default()).unwrap();
    assert!(!plain.results_of_version(1, 100).unwrap().is_empty());
    let mut on_the_fly = Vec::new();
    for run in plain.runs(usize::MAX).unwrap() {
        for record in plain.results(run.run.id).unwrap() {
            let item = history::read_item(&plain, &record).expect("readable");
            on_the_fly.push((record.measurement_id.clone(), item.result));
        }
    }
    drop(plain);
    let upgraded = session::open_store(dir.path(), StorePolicy::default()).unwrap();
    for (id, before) in on_the_fly {
        let record = upgraded.result(&id).unwrap().expect("still stored");
        let after = history::result_of(&record).unwrap();
        assert_eq!(before, after, "{id}");
    }
}
