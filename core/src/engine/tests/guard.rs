//! The network guard through the engine: a failure says something about its target only if
//! this device's network worked around it. With the anchors up a failure keeps its verdict;
//! with them down (before the target, or in the check after it) it is `unreachable`, live,
//! stored and uploaded; a check a few seconds old is reused rather than repeated.

use std::sync::{Arc, Mutex};

use kuzet_e2e::fixtures::anchors::Anchors;
use kuzet_e2e::fixtures::tcp::closed_port;
use kuzet_e2e::fixtures::web::{Route, Routes, WebServer};

use super::*;
use crate::experiment::connectivity::ConnectivityStatus;
use crate::experiment::web_connectivity::Verdict as WebVerdict;
use crate::store::CheckRecord;

/// A stand-in test helper whose every answer is that the refused URL's site is down from its
/// network too (its connect refused, no page).
async fn helper_seeing_the_site_down() -> WebServer {
    let port = closed_port();
    let control = serde_json::json!({
        "tcp_connect": {
            format!("127.0.0.1:{port}"): {"status": false, "failure": "connection_refused"}
        },
        "tls_handshake": {},
        "quic_handshake": {},
        "http_request": {
            "body_length": -1,
            "discovered_h3_endpoint": "",
            "failure": "connection_refused",
            "title": "",
            "headers": {},
            "status_code": -1
        },
        "http3_request": null,
        "dns": {"failure": null, "addrs": []},
        "ip_info": {}
    });
    WebServer::http(Routes::new().fallback(Route::Page {
        status: 200,
        body: control.to_string(),
    }))
    .await
}

fn with_helper(helper: Option<&WebServer>) -> impl FnOnce(&mut EngineConfig) + '_ {
    move |config| {
        config.parallelism = 1;
        if let Some(helper) = helper {
            let url = helper.url("http", "/");
            config.test_helper_urls = vec![parse_service_url("test helper", &url).unwrap()];
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_anchors_up_a_failure_keeps_its_verdict() {
    let anchors = Anchors::up();
    let refused = refused_url();

    // Without a test helper: a failure that cannot tell blocking from an outage.
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, with_helper(None));
    let recorder = Arc::new(Recorder::default());
    let summary = engine
        .run(web(vec![refused.clone()]), recorder.clone())
        .await
        .unwrap();
    assert_eq!(summary.network, Some(ConnectivityStatus::Ok));
    let (result, measurement) = recorder.result(&refused);
    assert!(
        matches!(
            result.verdict,
            Verdict::Web(WebVerdict::Undetermined { failed: true, .. })
        ),
        "{result:?}"
    );
    assert_eq!(result.word, "undetermined");
    assert_eq!(result.group, VerdictGroup::Unclear);
    assert_eq!(result.failed_operation.as_deref(), Some("connect"));
    assert_eq!(result.failure.as_deref(), Some("connection_refused"));
    assert_eq!(
        result.explanation,
        "127.0.0.1 did not load: the connection was refused while opening a connection. No \
         test helper is configured to compare with another network, so this cannot tell \
         blocking from an outage."
    );
    // Held until the check after it, which found the network working.
    let keys = &json_of(&measurement)["test_keys"];
    assert_eq!(keys["x_network"]["before"]["status"], "ok");
    assert_eq!(keys["x_network"]["after"]["status"], "ok");
    assert_eq!(
        keys["x_network"]["verdict_without_network"],
        serde_json::Value::Null
    );
    assert_eq!(keys["x_verdict"]["kind"], "undetermined");
    assert_eq!(
        recorder.events()[4..],
        [
            format!("started {refused}"),
            "phase Confirming".to_string(),
            "check ok".to_string(),
            format!("result {refused} undetermined"),
            "progress 1/1".to_string(),
            "phase Finished".to_string(),
            "finished".to_string(),
        ]
    );

    // With a test helper that cannot reach the site either: down for everyone.
    let helper = helper_seeing_the_site_down().await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, with_helper(Some(&helper)));
    let recorder = Arc::new(Recorder::default());
    engine
        .run(web(vec![refused.clone()]), recorder.clone())
        .await
        .unwrap();
    let (result, measurement) = recorder.result(&refused);
    assert_eq!(
        result.verdict,
        Verdict::Web(WebVerdict::SiteDown),
        "{result:?}"
    );
    assert_eq!(result.word, "site_down");
    assert_eq!(result.group, VerdictGroup::Down);
    let keys = &json_of(&measurement)["test_keys"];
    assert_eq!(keys["x_network"]["after"]["status"], "ok");
    assert_eq!(keys["x_verdict"]["kind"], "site_down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_anchors_down_a_failure_is_unreachable_and_a_page_that_loads_is_ok() {
    let (site, trust) = https_site().await;
    let page = site.url("https", "/");
    let refused = refused_url();
    let helper = helper_seeing_the_site_down().await;
    for (helper, verdict_without_network) in [(None, "undetermined"), (Some(&helper), "site_down")]
    {
        let dir = tempfile::tempdir().unwrap();
        let trust = trust.clone();
        let engine = engine_at(&dir, closed_port(), |c| {
            with_helper(helper)(c);
            c.trust = trust;
        });
        let recorder = Arc::new(Recorder::default());
        let summary = engine
            .run(web(vec![refused.clone(), page.clone()]), recorder.clone())
            .await
            .unwrap();
        assert_eq!(summary.status, RunStatus::Completed);
        assert_eq!(summary.network, Some(ConnectivityStatus::DataBlackout));

        let (result, measurement) = recorder.result(&refused);
        assert_eq!(
            result.verdict,
            Verdict::Web(WebVerdict::Unreachable {
                network: ConnectivityStatus::DataBlackout
            }),
            "{result:?}"
        );
        assert_eq!(result.word, "unreachable");
        assert_eq!(result.group, VerdictGroup::Unreachable);
        assert!(
            result.explanation.contains("127.0.0.1"),
            "{}",
            result.explanation
        );
        let keys = &json_of(&measurement)["test_keys"];
        assert_eq!(keys["x_network"]["before"]["status"], "data_blackout");
        assert_eq!(keys["x_verdict"]["kind"], "unreachable");
        assert_eq!(
            keys["x_network"]["verdict_without_network"],
            verdict_without_network
        );
        // The same in the store and in the measurement queued for upload.
        let detail = engine
            .result_detail(result.measurement_id.clone())
            .await
            .unwrap();
        assert_eq!(as_stored(&detail.item.result), as_stored(&result));
        let stored: serde_json::Value =
            serde_json::from_str(&detail.measurement_json.unwrap()).unwrap();
        assert_eq!(stored["test_keys"]["x_verdict"]["kind"], "unreachable");
        assert_eq!(
            stored["test_keys"]["x_network"]["before"]["status"],
            "data_blackout"
        );

        // A page that loads proves the way out worked for it: its verdict stands.
        let (loaded, measurement) = recorder.result(&page);
        assert_eq!(loaded.verdict, Verdict::Web(WebVerdict::Ok), "{loaded:?}");
        assert_eq!(
            (loaded.word.as_str(), loaded.group),
            ("ok", VerdictGroup::Ok)
        );
        assert_eq!(
            json_of(&measurement)["test_keys"]["x_verdict"]["kind"],
            "ok"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_after_the_network_went_down_is_unreachable_by_the_check_after_it() {
    let site = WebServer::http(Routes::new().page("/", 200, "home")).await;
    let page = site.url("http", "/");
    let refused = refused_url();
    let anchors = Arc::new(Mutex::new(Anchors::up()));
    let port = anchors.lock().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_at(&dir, port, with_helper(None));
    // The anchors go down as soon as the first result is in: the second target fails after.
    let recorder = Arc::new(Recorder::on_result({
        let anchors = anchors.clone();
        move |_| anchors.lock().unwrap().take_down()
    }));
    let summary = engine
        .run(web(vec![page.clone(), refused.clone()]), recorder.clone())
        .await
        .unwrap();
    assert_eq!(summary.status, RunStatus::Completed);
    assert_eq!(summary.network, Some(ConnectivityStatus::Ok));

    let (loaded, _) = recorder.result(&page);
    assert_eq!(loaded.word, "undetermined");
    assert_eq!(loaded.group, VerdictGroup::Unverified);
    let (result, measurement) = recorder.result(&refused);
    assert_eq!(result.word, "unreachable", "{result:?}");
    assert_eq!(result.group, VerdictGroup::Unreachable);
    let keys = &json_of(&measurement)["test_keys"];
    assert_eq!(keys["x_network"]["before"]["status"], "ok");
    assert_eq!(keys["x_network"]["after"]["status"], "data_blackout");
    assert_eq!(keys["x_network"]["verdict_without_network"], "undetermined");
    assert_eq!(keys["x_verdict"]["kind"], "unreachable");
    assert_eq!(
        recorder.events(),
        [
            "phase Preparing".to_string(),
            "phase CheckingNetwork".to_string(),
            "check ok".to_string(),
            "phase Measuring { suite: Web }".to_string(),
            format!("started {page}"),
            format!("result {page} undetermined"),
            "progress 1/2".to_string(),
            format!("started {refused}"),
            "phase Confirming".to_string(),
            "check data_blackout".to_string(),
            format!("result {refused} unreachable"),
            "progress 2/2".to_string(),
            "phase Finished".to_string(),
            "finished".to_string(),
        ]
    );
    // Both checks are in the timeline.
    let timeline = engine
        .connectivity_timeline(std::time::SystemTime::UNIX_EPOCH)
        .await
        .unwrap();
    let statuses: Vec<&str> = timeline.iter().map(|t| t.status.as_str()).collect();
    assert_eq!(statuses, ["ok", "data_blackout"]);
    assert_eq!(stored_checks(&engine), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_at_most_ten_seconds_old_is_reused_and_an_older_one_is_not() {
    let site = WebServer::http(Routes::new().page("/", 200, "home")).await;
    let page = site.url("http", "/");
    // Anchors that would give a data blackout if the run checked: a stored `ok` is visible
    // in the run's network only when it was reused.
    let stored_ok = |engine: &Engine, age_ms: i64| {
        let store = engine.store().unwrap();
        let now = store.now_ms();
        store
            .record_check(&CheckRecord {
                started_at_ms: now - age_ms - 500,
                ended_at_ms: now - age_ms,
                status: "ok".to_string(),
            })
            .unwrap();
    };

    let dir = tempfile::tempdir().unwrap();
    let engine = engine_at(&dir, closed_port(), |_| {});
    stored_ok(&engine, 5_000);
    let recorder = Arc::new(Recorder::default());
    let summary = engine
        .run(web(vec![page.clone()]), recorder.clone())
        .await
        .unwrap();
    assert_eq!(summary.network, Some(ConnectivityStatus::Ok), "reused");
    assert_eq!(stored_checks(&engine), 1, "no second check");
    assert!(!recorder.events().iter().any(|e| e.starts_with("check ")));
    assert_eq!(
        json_of(&recorder.results()[0].1)["test_keys"]["x_network"]["before"]["status"],
        "ok"
    );

    let dir = tempfile::tempdir().unwrap();
    let engine = engine_at(&dir, closed_port(), |_| {});
    stored_ok(&engine, 15_000);
    let recorder = Arc::new(Recorder::default());
    let summary = engine
        .run(web(vec![page.clone()]), recorder.clone())
        .await
        .unwrap();
    assert_eq!(summary.network, Some(ConnectivityStatus::DataBlackout));
    assert_eq!(stored_checks(&engine), 2, "checked again");
    assert!(recorder
        .events()
        .contains(&"check data_blackout".to_string()));

    // A run right after another reuses its check.
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |_| {});
    for _ in 0..2 {
        let summary = engine
            .run(web(vec![page.clone()]), Arc::new(NoListener))
            .await
            .unwrap();
        assert_eq!(summary.network, Some(ConnectivityStatus::Ok));
    }
    assert_eq!(stored_checks(&engine), 1);
}
