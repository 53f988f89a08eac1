//! Kuzet's HTTP uploader against a collector that fails: 500s, 429 with `Retry-After`,
//! requests that hang, connection resets, a blocked collector, an unreachable one, a response
//! lost after the collector stored the measurement. Delivery completes when the collector
//! recovers, within the attempt cap, every measurement exactly once at the collector; the
//! backoff is observable in the flush report, the proxy's log and the outbox.

mod store_support;

use std::sync::Arc;
use std::time::Duration;

use kuzet_core::net::trust::TrustAnchors;
use kuzet_core::store::{DeliveryState, Store, StorePolicy};
use kuzet_core::upload::{
    flush, FlushOptions, FlushReport, HttpUploader, UploadFailureKind, UploadManager, UploadPolicy,
};
use kuzet_e2e::fixtures::collector_faults::{CollectorDouble, Fault, FaultProxy};
use store_support::{kz, measurement};

/// Short delays so the tests run in seconds; a jitter of one half, as in production.
fn policy() -> UploadPolicy {
    UploadPolicy {
        max_requests_per_interval: None,
        max_attempts: Some(8),
        backoff_base: Some(Duration::from_millis(100)),
        backoff_max: Duration::from_millis(800),
        backoff_jitter: 0.5,
        max_wait: Some(Duration::from_secs(5)),
        max_wait_attempts: Some(3),
        request_timeout: Duration::from_millis(700),
        ..UploadPolicy::default()
    }
}

struct Lab {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    double: CollectorDouble,
    proxy: FaultProxy,
    manager: Arc<UploadManager>,
    uploader: Arc<HttpUploader>,
    ids: Vec<String>,
}

async fn lab(n: usize, policy: UploadPolicy) -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), StorePolicy::default()).unwrap());
    let ids = (0..n)
        .map(|i| {
            let m = measurement(&format!("https://site{i}.example/"), &kz(), 200);
            store.enqueue(&m, None).unwrap().measurement_id
        })
        .collect();
    let double = CollectorDouble::start().await;
    let proxy = FaultProxy::start(double.addr()).await;
    let manager = Arc::new(UploadManager::new(store.clone(), &proxy.url(), policy).unwrap());
    let uploader = Arc::new(HttpUploader::new(&TrustAnchors::bundled(), manager.policy()).unwrap());
    Lab {
        _dir: dir,
        store,
        double,
        proxy,
        manager,
        uploader,
        ids,
    }
}

impl Lab {
    async fn flush_for(&self, limit: Duration) -> FlushReport {
        flush(
            self.manager.clone(),
            self.uploader.clone(),
            FlushOptions {
                max_duration: limit,
            },
        )
        .await
        .unwrap()
    }

    /// Flushes until everything is delivered (or 20 s pass); returns every report.
    async fn flush_until_delivered(&self) -> Vec<FlushReport> {
        let mut reports = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            let report = self.flush_for(Duration::from_secs(10)).await;
            reports.push(report);
            if self.store.queue_stats().unwrap().pending == 0 {
                break;
            }
            if let Some(wake) = self.manager.next_wakeup().unwrap() {
                tokio::time::sleep(wake.min(Duration::from_secs(2))).await;
            }
        }
        reports
    }

    /// Every measurement delivered, received by the collector's store exactly once.
    fn assert_all_delivered_once(&self) {
        let stored = self.double.stored_ids();
        let mut sorted_stored = stored.clone();
        sorted_stored.sort();
        let mut expected = self.ids.clone();
        expected.sort();
        assert_eq!(
            sorted_stored, expected,
            "the collector holds every measurement once"
        );
        for item in self.store.queue(&[], 1000).unwrap() {
            assert_eq!(item.state, DeliveryState::Delivered, "{item:?}");
            assert!(item.attempts <= 8, "within the attempt cap: {item:?}");
        }
    }

    fn last_error_kinds(&self) -> Vec<UploadFailureKind> {
        self.store
            .queue(&[], 1000)
            .unwrap()
            .into_iter()
            .filter_map(|item| item.last_error.map(|e| UploadFailureKind::parse(&e.kind)))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_back_off_exponentially_then_deliver() {
    let lab = lab(3, policy()).await;
    lab.proxy.set_default(Fault::status(500));
    let failing = lab.flush_for(Duration::from_millis(1500)).await;
    assert_eq!(failing.delivered, 0);
    assert!(failing.failures >= 3, "{failing:?}");
    // The waits grow: each is in [d/2, d] for d = 100 ms, 200 ms, 400 ms, 800 ms...
    let waits = &failing.waits;
    assert!(waits.len() >= 3, "{waits:?}");
    assert!(waits[0] <= Duration::from_millis(100), "{waits:?}");
    assert!(waits[2] >= Duration::from_millis(200), "{waits:?}");
    // ...and the proxy saw the requests spaced out accordingly.
    let log = lab.proxy.log();
    let gap = log[3].at.duration_since(log[2].at);
    assert!(gap >= Duration::from_millis(190), "{gap:?}");
    // Why it failed is recorded and visible.
    let status = lab.manager.collector_status().unwrap();
    assert!(status.consecutive_failures >= 3);
    assert_eq!(
        status.last_error.unwrap().kind,
        UploadFailureKind::ServerError.as_str()
    );
    assert!(status.next_attempt_at_ms > 0);

    lab.proxy.set_default(Fault::Forward);
    lab.flush_until_delivered().await;
    lab.assert_all_delivered_once();
    assert_eq!(
        lab.manager.collector_status().unwrap().consecutive_failures,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_is_honoured() {
    let lab = lab(2, policy()).await;
    lab.proxy.push([Fault::Status {
        code: 429,
        retry_after: Some("1".to_string()),
    }]);
    let reports = lab.flush_until_delivered().await;
    lab.assert_all_delivered_once();
    assert!(
        reports[0].waits[0] >= Duration::from_millis(950),
        "{:?}",
        reports[0].waits
    );
    let log = lab.proxy.log();
    let gap = log[1].at.duration_since(log[0].at);
    assert!(
        gap >= Duration::from_millis(990),
        "the next request came after {gap:?}"
    );
    // A 429 is not the item's fault: no attempt counted.
    assert!(lab
        .store
        .queue(&[], 10)
        .unwrap()
        .iter()
        .all(|i| i.attempts == 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn timeouts_are_recorded_and_retried() {
    let lab = lab(2, policy()).await;
    lab.proxy.push([Fault::Forward, Fault::Hang, Fault::Hang]);
    let reports = lab.flush_until_delivered().await;
    lab.assert_all_delivered_once();
    assert!(reports
        .iter()
        .any(|r| matches!(r.last_failure, Some((UploadFailureKind::Timeout, _)))));
    assert!(lab.last_error_kinds().contains(&UploadFailureKind::Timeout));
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_resets_read_as_blocking_and_are_retried() {
    let lab = lab(2, policy()).await;
    lab.proxy.push([Fault::Reset, Fault::Reset, Fault::Reset]);
    lab.flush_until_delivered().await;
    lab.assert_all_delivered_once();
    let status = lab.manager.collector_status().unwrap();
    assert_eq!(
        status.last_error.unwrap().kind,
        UploadFailureKind::Blocked.as_str()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_collector_delays_but_never_parks() {
    let lab = lab(3, policy()).await;
    lab.proxy.set_blocked(true);
    let blocked = lab.flush_for(Duration::from_millis(2500)).await;
    assert_eq!(blocked.delivered, 0);
    let status = lab.manager.collector_status().unwrap();
    let error = status.last_error.unwrap();
    assert_eq!(
        error.kind,
        UploadFailureKind::Blocked.as_str(),
        "{}",
        error.message
    );
    assert!(error.message.contains("blocked"), "{}", error.message);
    lab.proxy.set_blocked(false);
    lab.flush_until_delivered().await;
    lab.assert_all_delivered_once();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_collector_is_reported_and_delivery_resumes() {
    let lab = lab(2, policy()).await;
    lab.proxy.stop_listening();
    let offline = lab.flush_for(Duration::from_millis(1500)).await;
    assert_eq!(offline.delivered, 0);
    assert!(
        matches!(
            offline.last_failure,
            Some((UploadFailureKind::Unreachable, _))
        ),
        "{offline:?}"
    );
    let items = lab.store.queue(&[], 10).unwrap();
    let tried = items
        .iter()
        .find(|i| i.last_error.is_some())
        .expect("one was tried");
    assert_eq!(
        tried.last_error.as_ref().unwrap().kind,
        UploadFailureKind::Unreachable.as_str()
    );
    assert_eq!(tried.attempts, 0, "offline attempts do not count");
    assert!(tried.network_failures > 0);
    lab.proxy.resume_listening().await;
    lab.flush_until_delivered().await;
    lab.assert_all_delivered_once();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_answer_means_a_second_delivery_the_collector_recognises() {
    let lab = lab(2, policy()).await;
    // The report opens; the first submission is stored but its answer never arrives.
    lab.proxy.push([Fault::Forward, Fault::ForwardThenReset]);
    lab.flush_until_delivered().await;
    lab.assert_all_delivered_once();
    let resent: Vec<&String> = lab
        .ids
        .iter()
        .filter(|id| lab.double.times_received(id) == 2)
        .collect();
    assert_eq!(
        resent.len(),
        1,
        "one measurement was received twice, stored once"
    );
    let submissions = lab.double.submissions();
    let twice: Vec<_> = submissions
        .iter()
        .filter(|s| s.measurement_id.as_deref() == Some(resent[0].as_str()))
        .collect();
    assert_eq!(twice.len(), 2);
    assert_eq!(
        twice[0].body, twice[1].body,
        "the same measurement, byte for byte"
    );
    assert_eq!(twice[0].content_encoding.as_deref(), Some("gzip"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_attempt_cap_parks_and_a_retry_delivers() {
    let policy = UploadPolicy {
        max_attempts: Some(3),
        ..policy()
    };
    let lab = lab(2, policy).await;
    lab.proxy.push([Fault::Forward]);
    lab.proxy.set_default(Fault::status(503));
    let mut parked = 0;
    for _ in 0..10 {
        lab.flush_for(Duration::from_secs(3)).await;
        parked = lab.store.queue_stats().unwrap().parked;
        if parked == 2 {
            break;
        }
    }
    assert_eq!(parked, 2, "both parked after 3 failed attempts each");
    for item in lab.store.queue(&[], 10).unwrap() {
        assert_eq!((item.state, item.attempts), (DeliveryState::Parked, 3));
        assert!(lab
            .store
            .measurement(&item.measurement_id)
            .unwrap()
            .is_some());
    }
    lab.proxy.set_default(Fault::Forward);
    assert_eq!(
        lab.flush_for(Duration::from_secs(1)).await.delivered,
        0,
        "parked items wait"
    );
    assert_eq!(lab.store.retry_parked().unwrap(), 2);
    lab.flush_until_delivered().await;
    lab.assert_all_delivered_once();
}
