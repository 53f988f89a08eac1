//! The store and uploader benchmark: enqueue N measurements (default 10,000) one transaction
//! each, as the apps do, then flush them to the real collector (`kuzet-server --collector`, a
//! separate process on loopback). Reports the enqueue rate, the flush rate, the database size
//! per measurement, the time to open (and integrity-check) the full store, and the peak RSS of
//! this process in each phase. Several rounds; medians are printed for BENCHMARKS.md.
//!
//! Run: `cargo bench -p kuzet-e2e --bench outbox` (release profile).
//! Environment: `KUZET_BENCH_N` (measurements, default 10000), `KUZET_BENCH_ROUNDS` (default 5).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kuzet_core::net::trust::TrustAnchors;
use kuzet_core::report::{Measurement, ProbeNetwork, Software};
use kuzet_core::store::{Store, StorePolicy};
use kuzet_core::upload::{
    flush_blocking, FlushOptions, FlushStop, HttpUploader, UploadManager, UploadPolicy,
};
use kuzet_e2e::fixtures::collector_server::CollectorServer;
use kuzet_server::collector::storage::CollectorStorage;
use time::OffsetDateTime;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A deterministic pseudo-random stream (for incompressible parts of a measurement).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn base64ish(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        (0..len)
            .map(|_| ALPHABET[(self.next() % 64) as usize] as char)
            .collect()
    }
}

/// A web_connectivity-like measurement of about 12 KB: DNS answers, TCP connects, a TLS
/// handshake with a certificate (incompressible), and an 8 KB HTML body (compressible).
fn measurement(i: usize, start: OffsetDateTime, noise: &mut Noise) -> Measurement {
    let network = ProbeNetwork {
        probe_asn: "AS9198".to_string(),
        probe_cc: "KZ".to_string(),
        probe_network_name: "JSC Kazakhtelecom".to_string(),
        ..ProbeNetwork::default()
    };
    let url = format!("https://site{i}.example.kz/news/{}", noise.next() % 100_000);
    let mut m = Measurement::new(
        "web_connectivity",
        "0.5.28",
        Some(url.clone()),
        &Software::default(),
        &network,
        start,
        start,
    );
    m.test_runtime = 1.25;
    let body: String = (0..160)
        .map(|line| {
            format!("<p>Paragraph {line} of article {i}: lorem ipsum dolor sit amet.</p>\n")
        })
        .collect::<String>()
        .chars()
        .take(8192)
        .collect();
    m.test_keys = serde_json::json!({
        "agent": "redirect",
        "client_resolver": "127.0.0.2",
        "queries": [{"answers": [{"answer_type": "A", "ipv4": format!("93.184.{}.{}", i % 250, (i / 250) % 250), "ttl": 300}],
                     "engine": "getaddrinfo", "failure": null, "hostname": format!("site{i}.example.kz"),
                     "query_type": "A", "t": 0.012}],
        "tcp_connect": [{"ip": format!("93.184.{}.{}", i % 250, (i / 250) % 250), "port": 443,
                         "status": {"blocked": false, "failure": null, "success": true}, "t": 0.05}],
        "tls_handshakes": [{"cipher_suite": "TLS_AES_128_GCM_SHA256", "failure": null,
                            "negotiated_protocol": "h2", "no_tls_verify": false,
                            "peer_certificates": [{"data": noise.base64ish(1600), "format": "base64"}],
                            "server_name": format!("site{i}.example.kz"), "t": 0.11, "tls_version": "TLSv1.3"}],
        "requests": [{"failure": null,
                      "request": {"headers_list": [["Accept", "text/html"], ["User-Agent", "Mozilla/5.0"]],
                                  "method": "GET", "url": url},
                      "response": {"body": body, "code": 200,
                                   "headers_list": [["Content-Type", "text/html; charset=utf-8"],
                                                    ["Server", "nginx"], ["Date", "Sat, 28 Nov 2026 12:00:00 GMT"]]},
                      "t": 0.3}],
        "blocking": false,
        "accessible": true,
    });
    m
}

/// Resets the peak RSS counter (Linux: `/proc/self/clear_refs`, 5 = reset the high water mark).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The peak RSS since the last reset, in KiB (`VmHWM`).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[derive(Debug, Clone, Copy, Default)]
struct Round {
    enqueue_per_s: f64,
    flush_per_s: f64,
    raw_bytes: f64,
    stored_bytes: f64,
    file_bytes: f64,
    open_ms: f64,
    enqueue_rss_kib: u64,
    flush_rss_kib: u64,
}

fn round(n: usize, number: usize) -> Round {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = StorePolicy {
        // Room for all of them: the benchmark measures throughput, not the quota.
        max_measurements: Some(n as u64),
        ..StorePolicy::default()
    };
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15 ^ number as u64);
    let start = OffsetDateTime::now_utc();

    // Enqueue: one durable transaction per measurement.
    reset_peak_rss();
    let store = Store::open(dir.path(), policy.clone()).expect("open store");
    let (mut raw, mut stored) = (0u64, 0u64);
    let mut spent = Duration::ZERO;
    for i in 0..n {
        let m = measurement(i, start, &mut noise);
        let began = Instant::now();
        let recorded = store.enqueue(&m, None).expect("enqueue");
        spent += began.elapsed();
        raw += recorded.raw_size as u64;
        stored += recorded.stored_size as u64;
    }
    drop(store);
    let enqueue_rss_kib = peak_rss_kib();
    let db = dir.path().join("kuzet.db");
    let file_bytes = file_size(&db) + file_size(&dir.path().join("kuzet.db-wal"));

    // Reopen (with the integrity check) the full store.
    let began = Instant::now();
    let store = Arc::new(Store::open(dir.path(), policy).expect("reopen"));
    let open_ms = began.elapsed().as_secs_f64() * 1000.0;

    // Flush to the real collector (a separate process), without the rate limiter.
    let collector_dir = tempfile::tempdir().expect("temp dir");
    let collector = CollectorServer::start(collector_dir.path());
    reset_peak_rss();
    let upload_policy = UploadPolicy {
        max_requests_per_interval: None,
        ..UploadPolicy::default()
    };
    let manager =
        UploadManager::new(store.clone(), &collector.url(), upload_policy).expect("manager");
    let uploader = HttpUploader::new(&TrustAnchors::bundled(), manager.policy()).expect("uploader");
    let began = Instant::now();
    let report = flush_blocking(
        &manager,
        &uploader,
        &FlushOptions {
            max_duration: Duration::from_secs(3600),
        },
    )
    .expect("flush");
    let flush_s = began.elapsed().as_secs_f64();
    let flush_rss_kib = peak_rss_kib();
    assert_eq!(report.stop, FlushStop::Done);
    assert_eq!(report.delivered as usize, n, "{report:?}");
    let at_collector = CollectorStorage::open(collector_dir.path())
        .and_then(|s| s.count())
        .expect("collector storage");
    assert_eq!(at_collector as usize, n);
    drop(collector);

    Round {
        enqueue_per_s: n as f64 / spent.as_secs_f64(),
        flush_per_s: n as f64 / flush_s,
        raw_bytes: raw as f64 / n as f64,
        stored_bytes: stored as f64 / n as f64,
        file_bytes: file_bytes as f64 / n as f64,
        open_ms,
        enqueue_rss_kib,
        flush_rss_kib,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let n = env_number("KUZET_BENCH_N", 10_000);
    let rounds = env_number("KUZET_BENCH_ROUNDS", 5).max(1);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("outbox benchmark: {n} measurements, {rounds} rounds, {cores} cores, {cpu}");
    println!(
        "{:>5}  {:>10}  {:>10}  {:>9}  {:>9}  {:>9}  {:>8}  {:>11}  {:>11}",
        "round",
        "enqueue/s",
        "flush/s",
        "raw B",
        "stored B",
        "file B",
        "open ms",
        "enq RSS KiB",
        "flush RSS KiB"
    );
    let mut results = Vec::new();
    for number in 0..rounds {
        let r = round(n, number);
        println!(
            "{:>5}  {:>10.0}  {:>10.0}  {:>9.0}  {:>9.0}  {:>9.0}  {:>8.1}  {:>11}  {:>11}",
            number + 1,
            r.enqueue_per_s,
            r.flush_per_s,
            r.raw_bytes,
            r.stored_bytes,
            r.file_bytes,
            r.open_ms,
            r.enqueue_rss_kib,
            r.flush_rss_kib
        );
        results.push(r);
    }
    let pick = |f: fn(&Round) -> f64| median(results.iter().map(f).collect());
    println!(
        "median  enqueue {:.0}/s  flush {:.0}/s  raw {:.0} B  stored {:.0} B  on disk {:.0} B per \
         measurement  open+check {:.1} ms  peak RSS enqueue {:.1} MiB  flush {:.1} MiB",
        pick(|r| r.enqueue_per_s),
        pick(|r| r.flush_per_s),
        pick(|r| r.raw_bytes),
        pick(|r| r.stored_bytes),
        pick(|r| r.file_bytes),
        pick(|r| r.open_ms),
        pick(|r| r.enqueue_rss_kib as f64) / 1024.0,
        pick(|r| r.flush_rss_kib as f64) / 1024.0,
    );
}
