//! What the store gives back: the history, newest first and in pages, with exactly the words
//! and explanations the runs reported; one result with its measurement; the upload queue; the
//! month's data use; and a wipe that leaves nothing.

use std::sync::Arc;

use kuzet_e2e::fixtures::anchors::Anchors;
use kuzet_e2e::fixtures::web::{Route, Routes, WebServer};

use super::*;
use crate::store::DeliveryState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_pages_newest_first_with_details() {
    let server = WebServer::http(
        Routes::new()
            .page("/a", 200, "a")
            .page("/b", 200, "b")
            .page("/c", 200, "c"),
    )
    .await;
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |c| c.parallelism = 1);
    let empty = engine.results_history(0, 10).await.unwrap();
    assert_eq!(empty.items, vec![]);
    assert_eq!(empty.next_offset, None);

    let first = engine
        .run(
            web(vec![server.url("http", "/a"), server.url("http", "/b")]),
            Arc::new(NoListener),
        )
        .await
        .unwrap();
    let second = engine
        .run(
            web(vec![server.url("http", "/c"), refused_url()]),
            Arc::new(NoListener),
        )
        .await
        .unwrap();

    let page = engine.results_history(0, 3).await.unwrap();
    let ids: Vec<&str> = page
        .items
        .iter()
        .map(|item| item.result.measurement_id.as_str())
        .collect();
    assert_eq!(
        ids,
        vec![
            second.results[1].measurement_id.as_str(),
            second.results[0].measurement_id.as_str(),
            first.results[1].measurement_id.as_str(),
        ]
    );
    assert_eq!(page.next_offset, Some(3));
    let last = engine.results_history(3, 3).await.unwrap();
    assert_eq!(last.items.len(), 1);
    assert_eq!(
        as_stored(&last.items[0].result),
        as_stored(&first.results[0])
    );
    assert_eq!(last.next_offset, None);
    assert!(engine.results_history(4, 3).await.unwrap().items.is_empty());
    assert!(engine
        .results_history(usize::MAX, 3)
        .await
        .unwrap()
        .items
        .is_empty());
    for limit in [0, MAX_PAGE + 1] {
        assert!(matches!(
            engine.results_history(0, limit).await,
            Err(EngineError::InvalidInput(_))
        ));
    }
    // Each entry knows its run and where its measurement is.
    assert_eq!(page.items[0].run, page.items[1].run);
    assert_ne!(page.items[1].run, page.items[2].run);
    assert!(page
        .items
        .iter()
        .all(|item| item.delivery == Some(DeliveryState::Held)));

    // The failure: its word, group and explanation as reported, with its measurement.
    let failed = &second.results[1];
    assert_eq!(as_stored(&page.items[0].result), as_stored(failed));
    assert_eq!(failed.word, "undetermined");
    assert_eq!(failed.group, VerdictGroup::Unclear);
    let detail = engine
        .result_detail(failed.measurement_id.clone())
        .await
        .unwrap();
    assert_eq!(as_stored(&detail.item.result), as_stored(failed));
    assert_eq!(
        detail.item.result.failure.as_deref(),
        Some("connection_refused")
    );
    let json: serde_json::Value =
        serde_json::from_str(detail.measurement_json.as_deref().unwrap()).unwrap();
    assert_eq!(json["id"], failed.measurement_id.as_str());
    assert_eq!(json["test_keys"]["x_verdict"]["kind"], "undetermined");
    assert!(matches!(
        engine.result_detail("no-such-id".to_string()).await,
        Err(EngineError::InvalidInput(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_returns_exactly_the_words_and_explanations_the_run_reported() {
    let (site, trust) = https_site().await;
    let plain = WebServer::http(
        Routes::new()
            .page("/", 200, "home")
            .page("/gone", 404, "gone")
            .route(
                "/slow",
                Route::Slow {
                    delay: std::time::Duration::from_millis(300),
                },
            ),
    )
    .await;
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |c| {
        c.trust = trust;
        c.messaging.timeouts.connect = std::time::Duration::from_secs(1);
    });
    let recorder = Arc::new(Recorder::default());
    // Web verdicts of several groups, and messaging apps blocked at TCP. The failures are
    // held for the check after them, and recorded well after they were measured.
    let request = RunRequest {
        suites: vec![Suite::Web, Suite::Messaging],
        web_urls: vec![
            refused_url(),
            site.url("https", "/"),
            plain.url("http", "/"),
            plain.url("http", "/gone"),
            plain.url("http", "/slow"),
        ],
        ..RunRequest::default()
    };
    let summary = engine.run(request, recorder.clone()).await.unwrap();
    assert_eq!(summary.status, RunStatus::Completed);
    assert_eq!(summary.results.len(), 9);
    let groups: std::collections::BTreeSet<VerdictGroup> =
        summary.results.iter().map(|r| r.group).collect();
    assert!(groups.len() >= 3, "{groups:?}");

    let live: Vec<TargetResult> = recorder.results().into_iter().map(|(r, _)| r).collect();
    assert_eq!(live, summary.results);
    let mut stored: Vec<TargetResult> = engine
        .results_history(0, MAX_PAGE)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|item| as_stored(&item.result))
        .collect();
    stored.reverse();
    // Whole records: verdict, word, group, explanation, failure, times and ids.
    let live_as_stored: Vec<TargetResult> = live.iter().map(as_stored).collect();
    assert_eq!(stored, live_as_stored);
    for result in &live {
        assert_eq!(result.word, result.verdict.word());
        assert_eq!(result.group, result.verdict.group());
        let detail = engine
            .result_detail(result.measurement_id.clone())
            .await
            .unwrap();
        assert_eq!(as_stored(&detail.item.result), as_stored(result));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_uploads_and_monthly_data_follow_the_runs() {
    let server = WebServer::http(Routes::new().page("/", 200, "home")).await;
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |c| c.budgets.monthly_bytes = 1234);
    let empty = engine.data_used_this_month().await.unwrap();
    assert_eq!(empty.bytes_used, 0);
    assert_eq!(empty.monthly_budget, 1234);
    let now = time::OffsetDateTime::now_utc();
    assert_eq!(
        empty.month,
        format!("{:04}-{:02}", now.year(), u8::from(now.month()))
    );
    assert!(engine.pending_uploads().await.unwrap().is_empty());

    let summary = engine
        .run(web(vec![server.url("http", "/")]), Arc::new(NoListener))
        .await
        .unwrap();
    let pending = engine.pending_uploads().await.unwrap();
    let result = &summary.results[0];
    let queued = pending
        .iter()
        .find(|p| p.measurement_id == result.measurement_id)
        .expect("the result's measurement is queued");
    // The network is unknown (AS0/ZZ), so the measurement is held, not sent.
    assert_eq!(queued.state, DeliveryState::Held);
    assert!(queued.last_error.is_none());
    // With it, the run's check, the timeline's first status.
    assert_eq!(pending.len(), 2);

    let used = engine.data_used_this_month().await.unwrap();
    assert!(result.bytes_received > 0);
    assert_eq!(used.bytes_used, result.bytes_received);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wipe_empties_the_data_directory_and_the_store_and_it_works_again() {
    let server = WebServer::http(Routes::new().page("/", 200, "home")).await;
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |_| {});
    engine
        .run(web(vec![server.url("http", "/")]), Arc::new(NoListener))
        .await
        .unwrap();
    assert_eq!(engine.results_history(0, 10).await.unwrap().items.len(), 1);
    assert_eq!(stored_checks(&engine), 1);
    let data = engine.config().data_dir.clone();
    std::fs::create_dir_all(data.join("sub/deeper")).unwrap();
    std::fs::write(data.join("sub/deeper/f"), b"x").unwrap();
    std::fs::write(data.join("g"), b"y").unwrap();

    engine.wipe().await.unwrap();
    assert!(data.is_dir());
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0);
    // Every read reopens an empty store.
    assert!(engine
        .results_history(0, 10)
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(engine.pending_uploads().await.unwrap().is_empty());
    assert!(engine
        .connectivity_timeline(std::time::SystemTime::UNIX_EPOCH)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(engine.data_used_this_month().await.unwrap().bytes_used, 0);
    assert_eq!(stored_checks(&engine), 0);
    // A second wipe of an empty directory is fine.
    engine.wipe().await.unwrap();

    engine
        .run(web(vec![server.url("http", "/")]), Arc::new(NoListener))
        .await
        .unwrap();
    assert_eq!(engine.results_history(0, 10).await.unwrap().items.len(), 1);
    // The run checked again: nothing from before the wipe was reused.
    assert_eq!(stored_checks(&engine), 1);
}
