//! The device store: recording, history, outbox states, held measurements, timeline, wipe.

mod store_support;

use std::sync::Arc;

use kuzet_core::report::ProbeNetwork;
use kuzet_core::store::{
    CheckRecord, DeliveryState, ManualClock, NetworkType, NewTransition, Store, StoreError,
    StorePolicy, DATABASE_FILE_NAME,
};
use store_support::{all_bytes, contains, kz, measurement, ok, run};

#[test]
fn recorded_measurements_survive_a_reopen_with_their_history() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String>;
    let run_id;
    {
        let store = Store::open(dir.path(), StorePolicy::default()).unwrap();
        run_id = store.begin_run(&run(&kz())).unwrap();
        ids = (0..3)
            .map(|i| {
                let url = format!("https://site{i}.example/");
                let m = measurement(&url, &kz(), 100);
                let recorded = store.record(run_id, &m, &ok(&url), None).unwrap();
                assert_eq!(recorded.state, DeliveryState::Pending);
                assert!(!recorded.duplicate);
                assert_eq!(Some(recorded.measurement_id.clone()), m.id);
                assert!(recorded.stored_size < recorded.raw_size);
                recorded.measurement_id
            })
            .collect();
        store
            .finish_run(run_id, "cancelled", &serde_json::json!([{"target": "x"}]))
            .unwrap();
    }
    let store = Store::open(dir.path(), StorePolicy::default()).unwrap();
    let runs = store.runs(10).unwrap();
    assert_eq!(runs.len(), 1);
    let summary = &runs[0];
    assert_eq!(summary.run.id, run_id);
    assert_eq!(summary.run.probe_asn, "AS9198");
    assert_eq!(summary.run.network_type, NetworkType::Wifi);
    assert!(summary.run.finished_at_ms.is_some());
    assert_eq!(summary.run.status.as_deref(), Some("cancelled"));
    assert_eq!(summary.run.not_measured[0]["target"], "x");
    assert_eq!((summary.results, summary.undelivered), (3, 3));
    assert_eq!(summary.groups, vec![("ok".to_string(), 3)]);
    let results = store.results(run_id).unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[1].target, "https://site1.example/");
    assert_eq!(results[1].word, "ok");
    assert_eq!(results[1].group, "ok");
    assert_eq!(results[1].detail_version, 2);
    assert_eq!(results[1].detail["status_code"], 200);
    assert_eq!(results[1].delivery, Some(DeliveryState::Pending));
    for id in &ids {
        let back = store.measurement(id).unwrap().expect("stored");
        assert_eq!(back.id.as_deref(), Some(id.as_str()));
        assert_eq!(back.report_id, "");
    }
    assert_eq!(store.measurement_ids().unwrap(), ids);
    let queue = store.queue(&[], 10).unwrap();
    assert_eq!(queue.len(), 3);
    assert!(queue
        .iter()
        .all(|item| item.state == DeliveryState::Pending));
    let stats = store.queue_stats().unwrap();
    assert_eq!((stats.pending, stats.held, stats.parked), (3, 0, 0));
    let stats = store.stats().unwrap();
    assert_eq!(stats.measurements, 3);
    assert!(stats.stored_bytes > 0 && stats.file_bytes > 0);
}

#[test]
fn the_same_measurement_id_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StorePolicy::default()).unwrap();
    let run_id = store.begin_run(&run(&kz())).unwrap();
    let m = measurement("https://a.example/", &kz(), 10);
    let first = store.record(run_id, &m, &ok("a"), None).unwrap();
    let second = store.record(run_id, &m, &ok("a"), None).unwrap();
    assert!(second.duplicate);
    assert_eq!(first.measurement_id, second.measurement_id);
    assert_eq!(store.stats().unwrap().measurements, 1);
    assert_eq!(store.results(run_id).unwrap().len(), 1);
}

#[test]
fn a_measurement_without_an_id_gets_one_and_bad_ids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StorePolicy::default()).unwrap();
    let mut m = measurement("https://a.example/", &kz(), 10);
    m.id = None;
    let recorded = store.enqueue(&m, None).unwrap();
    assert_eq!(recorded.measurement_id.len(), 36);
    let back = store
        .measurement(&recorded.measurement_id)
        .unwrap()
        .unwrap();
    assert_eq!(back.id, Some(recorded.measurement_id));
    m.id = Some("../../etc".to_string());
    assert!(matches!(
        store.enqueue(&m, None),
        Err(StoreError::Invalid { .. })
    ));
}

#[test]
fn an_unknown_network_holds_measurements_until_it_is_known() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StorePolicy::default()).unwrap();
    let unknown = ProbeNetwork::default();
    let run_id = store.begin_run(&run(&unknown)).unwrap();
    let m = measurement("https://a.example/", &unknown, 10);
    let recorded = store.record(run_id, &m, &ok("a"), None).unwrap();
    assert_eq!(recorded.state, DeliveryState::Held);
    assert_eq!(store.queue_stats().unwrap().held, 1);
    assert!(store.due_items(i64::MAX, 10).unwrap().is_empty());
    assert!(store.release_held(Some(run_id), "AS0", "KZ").is_err());
    assert_eq!(store.release_held(Some(run_id), "AS9198", "KZ").unwrap(), 1);
    let back = store
        .measurement(&recorded.measurement_id)
        .unwrap()
        .unwrap();
    assert_eq!(
        (back.probe_asn.as_str(), back.probe_cc.as_str()),
        ("AS9198", "KZ")
    );
    let due = store.due_items(i64::MAX, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].header.probe_asn, "AS9198");
    assert_eq!(store.run(run_id).unwrap().unwrap().probe_cc, "KZ");
}

#[test]
fn oversized_measurements_are_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let policy = StorePolicy {
        max_measurement_bytes: Some(2_000),
        ..StorePolicy::default()
    };
    let store = Store::open(dir.path(), policy).unwrap();
    let m = measurement("https://big.example/", &kz(), 5_000);
    match store.enqueue(&m, None) {
        Err(StoreError::TooLarge { size, max }) => assert!(size > max),
        other => panic!("{other:?}"),
    }
    assert_eq!(store.stats().unwrap().dropped.refused_too_large, 1);
    assert_eq!(store.stats().unwrap().measurements, 0);
}

#[test]
fn run_networks_never_carry_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StorePolicy::default()).unwrap();
    let mut network = kz();
    network.probe_network_name = "router 192.168.1.1".to_string();
    assert!(matches!(
        store.begin_run(&run(&network)),
        Err(StoreError::Invalid { .. })
    ));
}

#[test]
fn the_timeline_appends_and_lists() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000));
    let store = Store::open_with_clock(dir.path(), StorePolicy::default(), clock.clone()).unwrap();
    for (status, at) in [
        ("online", None),
        ("offline", Some(5_000)),
        ("shutdown", Some(9_000)),
    ] {
        store
            .append_transition(&NewTransition {
                at_ms: at,
                status: status.to_string(),
                network_type: NetworkType::Mobile,
                probe_asn: Some("AS9198".to_string()),
                probe_cc: Some("KZ".to_string()),
                evidence: serde_json::json!({"probe": status}),
            })
            .unwrap();
    }
    let all = store.transitions(None, 10).unwrap();
    assert_eq!(
        all.iter().map(|t| t.status.as_str()).collect::<Vec<_>>(),
        ["online", "offline", "shutdown"]
    );
    assert_eq!(all[0].at_ms, 1_000);
    assert_eq!(all[2].evidence["probe"], "shutdown");
    assert_eq!(store.transitions(Some(5_000), 10).unwrap().len(), 2);
    assert!(store
        .append_transition(&NewTransition {
            at_ms: None,
            status: String::new(),
            network_type: NetworkType::Unknown,
            probe_asn: None,
            probe_cc: None,
            evidence: serde_json::Value::Null,
        })
        .is_err());
}

#[test]
fn wipe_removes_everything_from_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let marker = "https://wipe-marker-7f3a.example/";
    let store = Store::open(dir.path(), StorePolicy::default()).unwrap();
    let run_id = store.begin_run(&run(&kz())).unwrap();
    for i in 0..20 {
        let m = measurement(&format!("{marker}{i}"), &kz(), 2_000);
        store
            .record(run_id, &m, &ok(&format!("{marker}{i}")), None)
            .unwrap();
    }
    store
        .append_transition(&NewTransition {
            at_ms: None,
            status: "online".to_string(),
            network_type: NetworkType::Wifi,
            probe_asn: None,
            probe_cc: None,
            evidence: serde_json::json!({"note": marker}),
        })
        .unwrap();
    // A check's time and status (what a run reuses), with a status no other row has.
    let check_marker = "check-marker-7f3a";
    store
        .record_check(&CheckRecord {
            started_at_ms: 1_000,
            ended_at_ms: 2_000,
            status: check_marker.to_string(),
        })
        .unwrap();
    assert!(contains(&all_bytes(dir.path()), marker.as_bytes()));
    assert!(contains(&all_bytes(dir.path()), check_marker.as_bytes()));
    let report = store.wipe().unwrap();
    assert_eq!(
        (
            report.measurements,
            report.undelivered,
            report.runs,
            report.results,
            report.timeline
        ),
        (20, 20, 1, 20, 1)
    );
    assert!(report.compacted);
    assert!(!contains(&all_bytes(dir.path()), marker.as_bytes()));
    assert!(!contains(&all_bytes(dir.path()), check_marker.as_bytes()));
    assert_eq!(store.last_check().unwrap(), None);
    let stats = store.stats().unwrap();
    assert_eq!(
        (stats.measurements, stats.stored_bytes, stats.runs),
        (0, 0, 0)
    );
    assert!(store.runs(10).unwrap().is_empty());
    // Still usable afterwards.
    let run_id = store.begin_run(&run(&kz())).unwrap();
    store
        .record(
            run_id,
            &measurement("https://after.example/", &kz(), 1),
            &ok("after"),
            None,
        )
        .unwrap();
    drop(store);
    assert!(dir.path().join(DATABASE_FILE_NAME).exists());
}
