//! The upload state machine, driven by hand (no network): report reuse, held measurements,
//! persisted backoff, `Retry-After`, the attempt cap, rejections, rate limit, loop guards and
//! results that arrive in another process.

mod store_support;

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use kuzet_core::report::{Measurement, ProbeNetwork};
use kuzet_core::store::{DeliveryState, ManualClock, Store, StorePolicy};
use kuzet_core::upload::{
    UploadFailureKind, UploadManager, UploadPolicy, UploadRequest, UploadResult, UploadTask,
    UploadTaskAction,
};
use serde_json::{json, Value};
use store_support::{kz, measurement};

const COLLECTOR: &str = "https://collector.example/";

struct Setup {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    clock: Arc<ManualClock>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000_000));
    let store = Arc::new(
        Store::open_with_clock(dir.path(), StorePolicy::default(), clock.clone()).unwrap(),
    );
    Setup {
        _dir: dir,
        store,
        clock,
    }
}

/// No jitter, so delays can be checked exactly.
fn policy() -> UploadPolicy {
    UploadPolicy {
        backoff_base: Some(Duration::from_secs(10)),
        backoff_max: Duration::from_secs(3600),
        backoff_jitter: 0.0,
        max_wait: Some(Duration::from_secs(60)),
        ..UploadPolicy::default()
    }
}

fn manager(setup: &Setup, policy: UploadPolicy) -> UploadManager {
    UploadManager::new(setup.store.clone(), COLLECTOR, policy).unwrap()
}

fn enqueue(setup: &Setup, m: &Measurement) -> String {
    setup.store.enqueue(m, None).unwrap().measurement_id
}

fn upload(task: UploadTask) -> UploadRequest {
    match task {
        UploadTask::Upload(request) => request,
        other => panic!("expected an upload, got {other:?}"),
    }
}

fn ok(body: Value) -> UploadResult {
    UploadResult::HttpStatus {
        code: 200,
        retry_after: None,
        body: body.to_string().into_bytes(),
    }
}

fn status(code: u16) -> UploadResult {
    UploadResult::HttpStatus {
        code,
        retry_after: None,
        body: json!({"error": format!("status {code}")})
            .to_string()
            .into_bytes(),
    }
}

fn decoded_body(request: &UploadRequest) -> Value {
    let gzip = request
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("content-encoding") && v == "gzip");
    let bytes = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&request.body[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        request.body.clone()
    };
    serde_json::from_slice(&bytes).unwrap()
}

/// Opens a report (answering the open task with `report_id`).
fn answer_open(manager: &UploadManager, report_id: &str) {
    let open = upload(manager.next_upload_task().unwrap());
    assert_eq!(open.url, format!("{COLLECTOR}report"));
    let template = decoded_body(&open);
    assert_eq!(template["format"], "json");
    assert_eq!(
        manager
            .process_upload_result(
                &open.id,
                ok(json!({"report_id": report_id, "supported_formats": ["json"]}))
            )
            .unwrap(),
        UploadTaskAction::Next
    );
}

fn state_of(setup: &Setup, id: &str) -> kuzet_core::store::OutboxItem {
    setup
        .store
        .queue(&[], 1000)
        .unwrap()
        .into_iter()
        .find(|item| item.measurement_id == id)
        .expect("in the outbox")
}

#[test]
fn one_report_per_template_reused_across_restarts() {
    let setup = setup();
    let a: Vec<String> = (0..3)
        .map(|i| {
            enqueue(
                &setup,
                &measurement(&format!("https://a{i}.example/"), &kz(), 10),
            )
        })
        .collect();
    let mut other = measurement("https://b.example/", &kz(), 10);
    other.test_start_time = "2027-01-01 00:00:00".to_string();
    let b = enqueue(&setup, &other);

    let manager = manager(&setup, policy());
    answer_open(&manager, "R1");
    for id in &a {
        let submit = upload(manager.next_upload_task().unwrap());
        assert_eq!(submit.url, format!("{COLLECTOR}report/R1"));
        let body = decoded_body(&submit);
        assert_eq!(body["format"], "json");
        assert_eq!(body["content"]["report_id"], "R1");
        assert_eq!(body["content"]["id"], id.as_str());
        manager
            .process_upload_result(
                &submit.id,
                ok(json!({"measurement_uid": format!("uid-{id}")})),
            )
            .unwrap();
    }
    // The other template needs its own report.
    answer_open(&manager, "R2");
    let submit = upload(manager.next_upload_task().unwrap());
    assert_eq!(decoded_body(&submit)["content"]["id"], b.as_str());
    manager
        .process_upload_result(&submit.id, ok(json!({})))
        .unwrap();
    assert_eq!(manager.next_upload_task().unwrap(), UploadTask::Done);
    let stats = manager.stats();
    assert_eq!((stats.delivered, stats.reports_opened), (4, 2));
    let item = state_of(&setup, &a[0]);
    assert_eq!(item.state, DeliveryState::Delivered);
    assert_eq!(item.report_id.as_deref(), Some("R1"));
    assert_eq!(item.measurement_uid, Some(format!("uid-{}", a[0])));

    // A new process, a new measurement of the first template: the report is reused.
    let again = enqueue(&setup, &measurement("https://a9.example/", &kz(), 10));
    let manager = UploadManager::new(setup.store.clone(), COLLECTOR, policy()).unwrap();
    let submit = upload(manager.next_upload_task().unwrap());
    assert_eq!(submit.url, format!("{COLLECTOR}report/R1"));
    assert_eq!(decoded_body(&submit)["content"]["id"], again.as_str());
}

#[test]
fn measurements_of_an_unknown_network_are_never_submitted() {
    let setup = setup();
    let held = enqueue(
        &setup,
        &measurement("https://a.example/", &ProbeNetwork::default(), 10),
    );
    let manager = manager(&setup, policy());
    assert_eq!(manager.next_upload_task().unwrap(), UploadTask::Done);
    assert_eq!(state_of(&setup, &held).state, DeliveryState::Held);
    assert_eq!(manager.next_wakeup().unwrap(), None);
    setup.store.release_held(None, "AS9198", "KZ").unwrap();
    let open = upload(manager.next_upload_task().unwrap());
    assert_eq!(decoded_body(&open)["probe_cc"], "KZ");
}

#[test]
fn failures_back_off_exponentially_and_the_backoff_survives_a_restart() {
    let setup = setup();
    let id = enqueue(&setup, &measurement("https://a.example/", &kz(), 10));
    let manager = manager(&setup, policy());
    let mut waits = Vec::new();
    loop {
        match manager.next_upload_task().unwrap() {
            UploadTask::Upload(request) => {
                manager
                    .process_upload_result(&request.id, status(500))
                    .unwrap();
            }
            UploadTask::Wait(pause) => {
                waits.push(pause);
                setup.clock.advance_ms(pause.as_millis() as i64);
            }
            UploadTask::Done => break,
        }
    }
    // 10 s, 20 s, 40 s; 80 s is more than max_wait: Done.
    assert_eq!(waits, [10, 20, 40].map(Duration::from_secs));
    let item = state_of(&setup, &id);
    assert_eq!(item.state, DeliveryState::Pending);
    assert_eq!(item.attempts, 4);
    let error = item.last_error.unwrap();
    assert_eq!(error.kind, UploadFailureKind::ServerError.as_str());
    assert!(error.message.contains("500"), "{}", error.message);
    let collector = manager.collector_status().unwrap();
    assert_eq!(collector.consecutive_failures, 4);
    assert_eq!(
        manager.next_wakeup().unwrap(),
        Some(Duration::from_secs(80))
    );

    // A restart does not forget: the new process waits too.
    let restarted = UploadManager::new(setup.store.clone(), COLLECTOR, policy()).unwrap();
    assert_eq!(restarted.next_upload_task().unwrap(), UploadTask::Done);
    setup.clock.advance_ms(80_000);
    let open = upload(restarted.next_upload_task().unwrap());
    restarted
        .process_upload_result(&open.id, ok(json!({"report_id": "R"})))
        .unwrap();
    assert_eq!(
        restarted.collector_status().unwrap().consecutive_failures,
        0
    );
}

#[test]
fn retry_after_is_honoured_and_rate_limits_do_not_count_as_attempts() {
    let setup = setup();
    let id = enqueue(&setup, &measurement("https://a.example/", &kz(), 10));
    let manager = manager(&setup, policy());
    let open = upload(manager.next_upload_task().unwrap());
    manager
        .process_upload_result(
            &open.id,
            UploadResult::HttpStatus {
                code: 429,
                retry_after: Some("45".to_string()),
                body: Vec::new(),
            },
        )
        .unwrap();
    assert_eq!(
        manager.next_upload_task().unwrap(),
        UploadTask::Wait(Duration::from_secs(45))
    );
    let item = state_of(&setup, &id);
    assert_eq!(item.attempts, 0);
    assert_eq!(item.network_failures, 1);
    assert_eq!(
        item.last_error.unwrap().kind,
        UploadFailureKind::RateLimited.as_str()
    );
    // A Retry-After longer than max_wait ends the loop; the platform schedules a later run.
    setup.clock.advance_ms(45_000);
    let open = upload(manager.next_upload_task().unwrap());
    manager
        .process_upload_result(
            &open.id,
            UploadResult::HttpStatus {
                code: 503,
                retry_after: Some("3600".to_string()),
                body: Vec::new(),
            },
        )
        .unwrap();
    assert_eq!(manager.next_upload_task().unwrap(), UploadTask::Done);
    assert_eq!(
        manager.next_wakeup().unwrap(),
        Some(Duration::from_secs(3600))
    );
}

#[test]
fn the_attempt_cap_parks_and_never_deletes() {
    let setup = setup();
    let id = enqueue(&setup, &measurement("https://a.example/", &kz(), 10));
    let policy = UploadPolicy {
        max_attempts: Some(3),
        ..UploadPolicy::no_limits()
    };
    let manager = manager(&setup, policy);
    for _ in 0..3 {
        let request = upload(manager.next_upload_task().unwrap());
        manager
            .process_upload_result(&request.id, status(502))
            .unwrap();
    }
    assert_eq!(manager.next_upload_task().unwrap(), UploadTask::Done);
    let item = state_of(&setup, &id);
    assert_eq!((item.state, item.attempts), (DeliveryState::Parked, 3));
    assert!(setup.store.measurement(&id).unwrap().is_some(), "kept");
    assert_eq!(manager.stats().parked, 1);
    assert_eq!(setup.store.retry_parked().unwrap(), 1);
    let item = state_of(&setup, &id);
    assert_eq!((item.state, item.attempts), (DeliveryState::Pending, 0));
}

#[test]
fn network_failures_back_off_but_never_park() {
    let setup = setup();
    let id = enqueue(&setup, &measurement("https://a.example/", &kz(), 10));
    let policy = UploadPolicy {
        max_attempts: Some(2),
        ..UploadPolicy::no_limits()
    };
    let manager = manager(&setup, policy);
    for kind in [
        UploadFailureKind::Unreachable,
        UploadFailureKind::Timeout,
        UploadFailureKind::Blocked,
    ]
    .iter()
    .cycle()
    .take(12)
    {
        let request = upload(manager.next_upload_task().unwrap());
        manager
            .process_upload_result(
                &request.id,
                UploadResult::RecoverableFailure {
                    kind: *kind,
                    message: format!("{kind}"),
                },
            )
            .unwrap();
    }
    let item = state_of(&setup, &id);
    assert_eq!(item.state, DeliveryState::Pending);
    assert_eq!((item.attempts, item.network_failures), (0, 12));
    assert_eq!(
        item.last_error.unwrap().kind,
        UploadFailureKind::Blocked.as_str()
    );
}

#[test]
fn rejections_park_at_once_with_the_collector_s_reason() {
    let setup = setup();
    let id = enqueue(&setup, &measurement("https://a.example/", &kz(), 10));
    let manager = manager(&setup, policy());
    answer_open(&manager, "R1");
    let submit = upload(manager.next_upload_task().unwrap());
    manager
        .process_upload_result(
            &submit.id,
            UploadResult::HttpStatus {
                code: 400,
                retry_after: None,
                body: br#"{"error": "content.report_id does not match"}"#.to_vec(),
            },
        )
        .unwrap();
    let item = state_of(&setup, &id);
    assert_eq!(item.state, DeliveryState::Parked);
    let error = item.last_error.unwrap();
    assert_eq!(error.kind, UploadFailureKind::Rejected.as_str());
    assert!(
        error.message.contains("does not match"),
        "{}",
        error.message
    );
    // An item's own rejection does not slow the collector down for the others.
    assert_eq!(manager.collector_status().unwrap().consecutive_failures, 0);
}

#[test]
fn a_report_the_collector_forgot_is_opened_again() {
    let setup = setup();
    enqueue(&setup, &measurement("https://a.example/", &kz(), 10));
    let manager = manager(&setup, UploadPolicy::no_limits());
    answer_open(&manager, "R1");
    let submit = upload(manager.next_upload_task().unwrap());
    manager
        .process_upload_result(&submit.id, status(404))
        .unwrap();
    let open = upload(manager.next_upload_task().unwrap());
    assert!(open.url.ends_with("/report"));
    manager
        .process_upload_result(&open.id, ok(json!({"report_id": "R2"})))
        .unwrap();
    let submit = upload(manager.next_upload_task().unwrap());
    assert!(submit.url.ends_with("/report/R2"));
}

#[test]
fn the_rate_limiter_hands_out_waits_and_the_wait_guard_ends_the_loop() {
    let setup = setup();
    for i in 0..5 {
        enqueue(
            &setup,
            &measurement(&format!("https://a{i}.example/"), &kz(), 10),
        );
    }
    let policy = UploadPolicy {
        max_requests_per_interval: Some(2),
        rate_interval: Duration::from_secs(60),
        max_wait_attempts: Some(2),
        ..policy()
    };
    let manager = manager(&setup, policy);
    answer_open(&manager, "R1");
    let submit = upload(manager.next_upload_task().unwrap());
    manager
        .process_upload_result(&submit.id, ok(json!({})))
        .unwrap();
    setup.clock.advance_ms(1_000);
    assert_eq!(
        manager.next_upload_task().unwrap(),
        UploadTask::Wait(Duration::from_secs(59))
    );
    assert_eq!(
        manager.next_upload_task().unwrap(),
        UploadTask::Wait(Duration::from_secs(59))
    );
    // Two waits in a row: the guard says Done.
    assert_eq!(manager.next_upload_task().unwrap(), UploadTask::Done);
    setup.clock.advance_ms(59_000);
    assert!(matches!(
        manager.next_upload_task().unwrap(),
        UploadTask::Upload(_)
    ));
}

#[test]
fn too_many_failures_in_one_window_end_it() {
    let setup = setup();
    enqueue(&setup, &measurement("https://a.example/", &kz(), 10));
    let policy = UploadPolicy {
        max_recoverable_failures: Some(3),
        ..UploadPolicy::no_limits()
    };
    let manager = manager(&setup, policy);
    for _ in 0..3 {
        let request = upload(manager.next_upload_task().unwrap());
        manager
            .process_upload_result(&request.id, status(500))
            .unwrap();
    }
    assert_eq!(manager.next_upload_task().unwrap(), UploadTask::Done);
    // The next window starts afresh.
    assert!(matches!(
        manager.next_upload_task().unwrap(),
        UploadTask::Upload(_)
    ));
}

#[test]
fn a_result_can_be_processed_by_another_process() {
    let setup = setup();
    let id = enqueue(&setup, &measurement("https://a.example/", &kz(), 10));
    let first = manager(&setup, policy());
    answer_open(&first, "R1");
    let submit = upload(first.next_upload_task().unwrap());
    drop(first);
    // E.g. an iOS background upload that finished after the app was relaunched.
    let second = manager(&setup, policy());
    second
        .process_upload_result(&submit.id, ok(json!({"measurement_uid": "U"})))
        .unwrap();
    let item = state_of(&setup, &id);
    assert_eq!(item.state, DeliveryState::Delivered);
    assert_eq!(item.report_id.as_deref(), Some("R1"));
    assert!(second
        .process_upload_result("nonsense", ok(json!({})))
        .is_err());
}

#[test]
fn the_uploader_can_end_the_loop_and_oversized_bodies_are_parked() {
    let setup = setup();
    let big = enqueue(
        &setup,
        &store_support::incompressible("https://big.example/", &kz(), 50_000, 1),
    );
    let policy = UploadPolicy {
        max_upload_bytes: Some(10_000),
        ..policy()
    };
    let manager = manager(&setup, policy);
    let open = upload(manager.next_upload_task().unwrap());
    assert_eq!(
        manager
            .process_upload_result(&open.id, UploadResult::Done)
            .unwrap(),
        UploadTaskAction::End
    );
    answer_open(&manager, "R1");
    assert_eq!(manager.next_upload_task().unwrap(), UploadTask::Done);
    let item = state_of(&setup, &big);
    assert_eq!(item.state, DeliveryState::Parked);
    assert_eq!(
        item.last_error.unwrap().kind,
        UploadFailureKind::TooLarge.as_str()
    );
}

#[test]
fn a_clock_that_jumped_back_does_not_hold_evidence() {
    let setup = setup();
    enqueue(&setup, &measurement("https://a.example/", &kz(), 10));
    let first = manager(&setup, policy());
    let open = upload(first.next_upload_task().unwrap());
    first.process_upload_result(&open.id, status(500)).unwrap();
    assert!(matches!(
        first.next_upload_task().unwrap(),
        UploadTask::Wait(_)
    ));
    // The device clock jumps 30 days back: the stored pauses now end a month from "now".
    setup.clock.advance_ms(-30 * 24 * 3600 * 1000);
    let restarted = manager(&setup, policy());
    assert!(matches!(
        restarted.next_upload_task().unwrap(),
        UploadTask::Upload(_)
    ));
}
