//! The probe's IP address, planted all over a measurement and its verdict, never appears in
//! any byte the store writes (database, WAL, index, decompressed bodies) nor in any byte
//! uploaded (compressed or not).

mod store_support;

use std::net::IpAddr;
use std::sync::Arc;

use kuzet_core::net::trust::TrustAnchors;
use kuzet_core::report::Measurement;
use kuzet_core::store::{Store, StorePolicy, Verdict};
use kuzet_core::upload::{flush, FlushOptions, HttpUploader, UploadManager, UploadPolicy};
use kuzet_e2e::fixtures::collector_faults::CollectorDouble;
use store_support::{all_bytes, contains, kz, measurement, run};

const V4: &str = "203.0.113.77";
const V6: &str = "2001:db8:77::1";

/// Every spelling scanned for.
fn needles() -> Vec<Vec<u8>> {
    vec![
        V4.as_bytes().to_vec(),
        b"203-0-113-77".to_vec(),
        V6.as_bytes().to_vec(),
        V6.to_uppercase().into_bytes(),
        b"2001:0db8:0077:0000:0000:0000:0000:0001".to_vec(),
    ]
}

fn assert_clean(what: &str, bytes: &[u8]) {
    for needle in needles() {
        assert!(
            !contains(bytes, &needle),
            "{what} contains the probe address {}",
            String::from_utf8_lossy(&needle)
        );
    }
}

/// A measurement with `ip` in every place an address turns up.
fn planted(ip: &str, n: usize) -> (Measurement, Verdict) {
    let url = format!("https://site{n}.example/?client={ip}");
    // Reverse-DNS host names spell IPv4 addresses with dashes.
    let host = if ip.contains('.') {
        format!(" (host ip-{}.example.net)", ip.replace('.', "-"))
    } else {
        String::new()
    };
    let mut m = measurement(&url, &kz(), 10);
    m.probe_ip = ip.to_string();
    m.test_keys = serde_json::json!({
        "client_resolver": ip,
        "tcp_connect": [{"ip": ip, "port": 443, "status": {"success": true}}],
        "network_events": [{"address": format!("[{ip}]:443"), "operation": "connect"}],
        "requests": [{
            "request": {"headers_list": [["X-Forwarded-For", ip]], "url": url},
            "response": {"body": format!("<p>Your address is {ip}{host}</p>"),
                         "headers": {"X-Client": ip.to_uppercase()}}
        }],
        "queries": [{"answers": [{"answer_type": "A", "ipv4": ip}]}],
        ip: {"keyed": true},
    });
    m.annotations
        .insert("note".to_string(), format!("seen from {ip}").into());
    let verdict = Verdict {
        word: "undetermined".to_string(),
        group: "unclear".to_string(),
        target: url.clone(),
        failure: Some(format!("connection to {ip} reset")),
        detail: serde_json::json!({"seen": ip, "list": [ip]}),
        detail_version: 2,
    };
    (m, verdict)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_probe_ip_never_reaches_disk_or_the_collector() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), StorePolicy::default()).unwrap());
    let run_id = store.begin_run(&run(&kz())).unwrap();
    let mut ids = Vec::new();
    for (n, ip) in [V4, V6].iter().enumerate() {
        let (m, verdict) = planted(ip, n);
        let address: IpAddr = ip.parse().unwrap();
        let recorded = store.record(run_id, &m, &verdict, Some(address)).unwrap();
        ids.push(recorded.measurement_id);
    }
    // The store's files, raw.
    assert_clean("the store's files", &all_bytes(dir.path()));
    // The stored measurements, decompressed, and the history.
    for id in &ids {
        let json = store.measurement_json(id).unwrap().unwrap();
        assert_clean("a stored measurement", &json);
        let m = store.measurement(id).unwrap().unwrap();
        assert_eq!(m.probe_ip, "127.0.0.1");
        assert!(String::from_utf8_lossy(&json).contains("[scrubbed]"));
    }
    let results = store.results(run_id).unwrap();
    assert_clean(
        "the history",
        serde_json::to_string(&results).unwrap().as_bytes(),
    );
    assert!(results[0].target.contains("[scrubbed]"));

    // Upload, then scan what the collector received.
    let double = CollectorDouble::start().await;
    let manager = Arc::new(
        UploadManager::new(store.clone(), &double.url(), UploadPolicy::default()).unwrap(),
    );
    let uploader = Arc::new(HttpUploader::new(&TrustAnchors::bundled(), manager.policy()).unwrap());
    let report = flush(manager, uploader, FlushOptions::default())
        .await
        .unwrap();
    assert_eq!(report.delivered, 2);
    let submissions = double.submissions();
    assert_eq!(submissions.len(), 2);
    for submission in &submissions {
        assert_clean("an uploaded body (as sent)", &submission.raw_body);
        assert_clean("an uploaded body (decompressed)", &submission.body);
    }
    // And the store after delivery (report ids, uids written).
    drop(store);
    assert_clean("the store's files after upload", &all_bytes(dir.path()));
}
