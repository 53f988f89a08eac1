//! The collector endpoint, in process behind the real router: the protocol's messages (with
//! OONI's own examples), what it rejects, size caps, gzip, de-duplication, durability, and
//! Kuzet's own uploader delivering to it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kuzet_core::net::trust::TrustAnchors;
use kuzet_core::report::{Measurement, ProbeNetwork, Software};
use kuzet_core::store::{DeliveryState, Store, StorePolicy};
use kuzet_core::upload::{
    flush, FlushOptions, FlushStop, HttpUploader, UploadManager, UploadPolicy,
};
use kuzet_server::collector::storage::CollectorStorage;
use kuzet_server::collector::{Collector, CollectorConfig};
use kuzet_server::router::Router;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

struct Running {
    base: String,
    collector: Collector,
    task: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(dir: &Path, config: CollectorConfig) -> Running {
    let collector = Collector::open(dir, config).expect("open the collector");
    let router = Router::new(vec![Arc::new(collector.clone())]);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let task = tokio::spawn(router.serve(listener));
    Running {
        base,
        collector,
        task,
    }
}

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/ooni-samples/protocols")
}

fn sample(name: &str) -> Value {
    let path = samples().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}): the OONI samples live in shared/data beside the checkout",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("sample JSON")
}

async fn post(base: &str, path: &str, body: Vec<u8>, encoding: Option<&str>) -> (u16, Value) {
    // Kuzet's service client: the ring provider and the bundled roots.
    let client = kuzet_core::net::http_client::service_client(
        &TrustAnchors::bundled(),
        Duration::from_secs(10),
    )
    .expect("client");
    let mut headers = vec![("content-type", "application/json")];
    if let Some(encoding) = encoding {
        headers.push(("content-encoding", encoding));
    }
    let url = url::Url::parse(&format!("{base}{path}")).expect("URL");
    let response = client
        .post(&url, &headers, body, 1 << 20)
        .await
        .expect("request");
    let text = String::from_utf8_lossy(&response.body).into_owned();
    (
        response.status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn post_json(base: &str, path: &str, body: &Value) -> (u16, Value) {
    post(base, path, body.to_string().into_bytes(), None).await
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// The spec's template with a real network.
fn template() -> Value {
    let mut template = sample("collector-open-report-request-spec-bk-003.json");
    template["probe_cc"] = "KZ".into();
    template["probe_asn"] = "AS9198".into();
    template
}

async fn open_report(base: &str, template: &Value) -> String {
    let (status, answer) = post_json(base, "/report", template).await;
    assert_eq!(status, 200, "{answer}");
    answer["report_id"].as_str().expect("report_id").to_string()
}

/// The spec's submission, moved to `report_id` on the template's network.
fn submission(report_id: &str, id: &str) -> Value {
    let mut body = sample("collector-update-report-request-spec-bk-003.json");
    body["content"]["report_id"] = report_id.into();
    body["content"]["probe_cc"] = "KZ".into();
    body["content"]["probe_asn"] = "AS9198".into();
    body["content"]["id"] = id.into();
    body
}

#[tokio::test]
async fn open_report_answers_as_the_backend_and_checks_the_template() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), CollectorConfig::default()).await;
    let (status, answer) = post_json(
        &server.base,
        "/report",
        &sample("collector-open-report-request-spec-bk-003.json"),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let report_id = answer["report_id"].as_str().unwrap();
    let fields: Vec<&str> = report_id.split('_').collect();
    assert_eq!(fields.len(), 6, "{report_id}");
    assert_eq!(&fields[1..5], ["dummy", "IT", "30722", "n1"]);
    assert_eq!(fields[5].len(), 16);
    assert_eq!(answer["supported_formats"], json!(["json"]));
    assert!(answer["backend_version"].is_string());

    for (field, bad) in [
        ("format", json!("yaml")),
        ("data_format_version", json!("zero")),
        ("probe_cc", json!("Italy")),
        ("probe_asn", json!("30722")),
        ("software_name", json!("mk collector!")),
        ("test_name", json!("d")),
        ("test_version", Value::Null),
    ] {
        let mut template = template();
        template[field] = bad.clone();
        let (status, answer) = post_json(&server.base, "/report", &template).await;
        assert_eq!(status, 400, "{field}={bad}: {answer}");
        assert!(answer["error"].is_string());
    }
    let (status, _) = post(&server.base, "/report", b"not json".to_vec(), None).await;
    assert_eq!(status, 400);
    assert_eq!(server.collector.storage().reports().unwrap(), 1);
}

#[tokio::test]
async fn submissions_are_checked_against_their_report() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), CollectorConfig::default()).await;
    let report_id = open_report(&server.base, &template()).await;
    let path = format!("/report/{report_id}");
    let id = "bdd20d7a-bba5-40dd-a111-9863d7908572";

    let (status, answer) = post_json(&server.base, &path, &submission(&report_id, id)).await;
    assert_eq!(status, 200, "{answer}");
    let uid = answer["measurement_uid"].as_str().unwrap();
    assert!(uid.contains("_KZ_dummy_"), "{uid}");

    let mut mismatched = submission(&report_id, "other-id");
    mismatched["content"]["report_id"] =
        "20240214T090617Z_dummy_KZ_9198_n1_1IvUiXNWHooB5rmD".into();
    for (body, expected) in [
        (mismatched, 400),
        (
            {
                let mut b = submission(&report_id, "x1");
                b["content"]["probe_cc"] = "RU".into();
                b
            },
            400,
        ),
        (
            {
                let mut b = submission(&report_id, "x2");
                b["content"]["probe_asn"] = "AS1".into();
                b
            },
            400,
        ),
        (
            {
                let mut b = submission(&report_id, "x3");
                b["content"]["test_name"] = "web_connectivity".into();
                b
            },
            400,
        ),
        (
            {
                let mut b = submission(&report_id, "x4");
                b["format"] = "yaml".into();
                b
            },
            400,
        ),
        (json!({"format": "json", "content": "a string"}), 400),
    ] {
        let (status, answer) = post_json(&server.base, &path, &body).await;
        assert_eq!(status, expected, "{body}: {answer}");
    }
    // A well-formed report id that was never opened here, and malformed ones.
    let unknown = "20240214T090617Z_dummy_KZ_9198_n1_1IvUiXNWHooB5rmD";
    let (status, _) = post_json(
        &server.base,
        &format!("/report/{unknown}"),
        &submission(unknown, "y"),
    )
    .await;
    assert_eq!(status, 404);
    for bad in [
        "nonsense",
        "20190313T131942Z_AS30722_dU70oZPs80d5E21z8Ef6GXel6CwsdLoXvDk44Fsajv1LDLOIeI",
    ] {
        let (status, _) = post_json(
            &server.base,
            &format!("/report/{bad}"),
            &submission(bad, "z"),
        )
        .await;
        assert_eq!(status, 400, "{bad}");
    }
    assert_eq!(server.collector.storage().count().unwrap(), 1);

    let (status, answer) = post_json(
        &server.base,
        &format!("/report/{report_id}/close"),
        &json!({}),
    )
    .await;
    assert_eq!((status, answer), (200, json!({})));
}

#[tokio::test]
async fn unknown_networks_are_accepted_and_dropped_as_the_backend_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), CollectorConfig::default()).await;
    // The spec's own example: probe_asn AS0, probe_cc ZZ.
    let mut template = template();
    template["probe_cc"] = "ZZ".into();
    template["probe_asn"] = "AS0".into();
    let report_id = open_report(&server.base, &template).await;
    assert!(report_id.contains("_ZZ_0_"), "{report_id}");
    let mut body = sample("collector-update-report-request-spec-bk-003.json");
    body["content"]["report_id"] = report_id.clone().into();
    let (status, answer) = post_json(&server.base, &format!("/report/{report_id}"), &body).await;
    assert_eq!((status, answer), (200, json!({})));
    // probe-cli's expected body, too.
    let line = std::fs::read_to_string(
        samples().join("collector-update-report-body-probe-cli-expected.jsonl"),
    )
    .unwrap();
    let mut body: Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    body["content"]["report_id"] = report_id.clone().into();
    let (status, answer) = post_json(&server.base, &format!("/report/{report_id}"), &body).await;
    assert_eq!((status, answer), (200, json!({})));
    assert_eq!(server.collector.storage().count().unwrap(), 0);
}

#[tokio::test]
async fn gzip_bodies_are_accepted_within_caps() {
    let dir = tempfile::tempdir().unwrap();
    let config = CollectorConfig {
        max_body_bytes: 64 * 1024,
        max_decompressed_bytes: 256 * 1024,
        ..CollectorConfig::default()
    };
    let server = start(dir.path(), config).await;
    let report_id = open_report(&server.base, &template()).await;
    let path = format!("/report/{report_id}");
    let body = submission(&report_id, "gz-1").to_string();
    let (status, answer) = post(&server.base, &path, gzip(body.as_bytes()), Some("gzip")).await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = post(
        &server.base,
        &path,
        b"\x1f\x8bnot really".to_vec(),
        Some("gzip"),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = post(&server.base, &path, body.clone().into_bytes(), Some("br")).await;
    assert_eq!(status, 415);
    // A bomb: small compressed, huge decompressed.
    let mut huge = submission(&report_id, "gz-2");
    huge["content"]["test_keys"]["padding"] = "a".repeat(1024 * 1024).into();
    let packed = gzip(huge.to_string().as_bytes());
    assert!(packed.len() < 64 * 1024);
    let (status, _) = post(&server.base, &path, packed, Some("gzip")).await;
    assert_eq!(status, 413);
    // Too large even compressed: the router refuses it unread.
    let (status, _) = post(&server.base, &path, vec![b' '; 100 * 1024], None).await;
    assert_eq!(status, 413);
    assert_eq!(server.collector.storage().count().unwrap(), 1);
}

#[tokio::test]
async fn duplicates_are_recognised_and_storage_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), CollectorConfig::default()).await;
    let report_id = open_report(&server.base, &template()).await;
    let path = format!("/report/{report_id}");
    let body = submission(&report_id, "dup-1");
    let (_, first) = post_json(&server.base, &path, &body).await;
    let (status, second) = post_json(&server.base, &path, &body).await;
    assert_eq!(status, 200);
    assert_eq!(first, second, "a duplicate gets the first uid");
    let storage = server.collector.storage().clone();
    assert_eq!(
        (storage.count().unwrap(), storage.duplicates().unwrap()),
        (1, 1)
    );
    drop(server);
    drop(storage);
    // A new process (here: a new storage on the same directory) finds it.
    let storage = CollectorStorage::open(dir.path()).unwrap();
    let stored = storage.measurements().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].measurement_id.as_deref(), Some("dup-1"));
    let content: Value = serde_json::from_slice(&stored[0].body).unwrap();
    assert_eq!(content["report_id"], report_id.as_str());
}

#[tokio::test]
async fn kuzet_uploads_to_its_own_collector() {
    let dir = tempfile::tempdir().unwrap();
    let client_dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), CollectorConfig::default()).await;
    let store = Arc::new(Store::open(client_dir.path(), StorePolicy::default()).unwrap());
    let network = ProbeNetwork {
        probe_asn: "AS9198".to_string(),
        probe_cc: "KZ".to_string(),
        ..ProbeNetwork::default()
    };
    let start_time = time::OffsetDateTime::now_utc();
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut m = Measurement::new(
            "web_connectivity",
            "0.5.28",
            Some(format!("https://site{i}.example/")),
            &Software::default(),
            &network,
            start_time,
            start_time,
        );
        m.test_keys = json!({"blocking": false, "accessible": true});
        ids.push(store.enqueue(&m, None).unwrap().measurement_id);
    }
    let manager =
        Arc::new(UploadManager::new(store.clone(), &server.base, UploadPolicy::default()).unwrap());
    let uploader = Arc::new(HttpUploader::new(&TrustAnchors::bundled(), manager.policy()).unwrap());
    let report = flush(manager, uploader, FlushOptions::default())
        .await
        .unwrap();
    assert_eq!(report.stop, FlushStop::Done);
    assert_eq!(
        (report.delivered, report.reports_opened, report.failures),
        (5, 1, 0)
    );
    let storage = server.collector.storage();
    let stored = storage.measurements().unwrap();
    let stored_ids: Vec<String> = stored
        .iter()
        .filter_map(|m| m.measurement_id.clone())
        .collect();
    assert_eq!(stored_ids, ids);
    let queue = store.queue(&[], 10).unwrap();
    for item in &queue {
        assert_eq!(item.state, DeliveryState::Delivered);
        let uid = item.measurement_uid.as_deref().unwrap();
        assert!(stored.iter().any(|m| m.measurement_uid == uid));
        assert!(uid.contains("_KZ_web_connectivity_"), "{uid}");
    }
}
