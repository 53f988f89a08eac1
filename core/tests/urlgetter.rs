//! The urlgetter experiment end to end on loopback: redirects measured hop by hop, cookies
//! carried along the chain, limits, and the OONI measurement it emits.

use std::time::Duration;

use kuzet_core::experiment::urlgetter::{measure_url, Timeouts, UrlGetterConfig};
use kuzet_core::net::trust::TrustAnchors;
use kuzet_core::report::observations::{HttpTransaction, TcpConnect};
use kuzet_core::Failure;
use kuzet_e2e::fixtures::pki::TestCa;
use kuzet_e2e::fixtures::web::{Route, Routes, WebServer};
use time::OffsetDateTime;

fn config() -> UrlGetterConfig {
    UrlGetterConfig {
        timeouts: Timeouts {
            dns: Duration::from_secs(1),
            connect: Duration::from_secs(1),
            tls: Duration::from_secs(1),
            http: Duration::from_secs(2),
        },
        ..UrlGetterConfig::default()
    }
}

fn requests(keys: &serde_json::Value) -> Vec<HttpTransaction> {
    serde_json::from_value(keys["requests"].clone()).unwrap()
}

#[tokio::test]
async fn redirect_chain_is_measured_hop_by_hop_newest_first() {
    let server = WebServer::http(
        Routes::new()
            .redirect("/a", 301, "/b")
            .redirect("/b", 302, "/c")
            .page("/c", 200, "Final page"),
    )
    .await;
    let url = server.url("http", "/a");
    let result = measure_url(&config(), &url, OffsetDateTime::now_utc())
        .await
        .unwrap();
    let summary = &result.summary;
    assert_eq!(summary.failure, None);
    assert_eq!(summary.status_code, Some(200));
    assert_eq!(summary.redirects, 2);
    assert!(summary.final_url.ends_with("/c"));
    assert!(summary.bytes_received > 0);

    let keys = &result.measurement.test_keys;
    let requests = requests(keys);
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].response.code, 200, "final response first");
    assert_eq!(requests[2].response.code, 301, "first redirect last");
    assert_eq!(requests[0].tags, vec!["depth=2"]);
    assert_eq!(requests[2].tags, vec!["depth=0"]);
    let connects: Vec<TcpConnect> = serde_json::from_value(keys["tcp_connect"].clone()).unwrap();
    assert_eq!(connects.len(), 3, "every hop connects afresh");
    assert_eq!(keys["failure"], serde_json::Value::Null);
    assert_eq!(keys["failed_operation"], serde_json::Value::Null);
    assert!(!keys["network_events"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn cookies_set_in_a_redirect_are_sent_on_the_next_hop() {
    let server = WebServer::http(
        Routes::new()
            .route(
                "/login",
                Route::SetCookieRedirect {
                    cookie: "kuzet=1; Path=/".to_string(),
                    location: "/private".to_string(),
                },
            )
            .route(
                "/private",
                Route::RequireCookie {
                    cookie: "kuzet=1".to_string(),
                },
            ),
    )
    .await;
    let result = measure_url(
        &config(),
        &server.url("http", "/login"),
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    assert_eq!(
        result.summary.status_code,
        Some(200),
        "the cookie came back"
    );
}

#[tokio::test]
async fn too_many_redirects_stop_with_a_failure() {
    let server = WebServer::http(Routes::new().redirect("/loop", 302, "/loop")).await;
    let mut config = config();
    config.max_redirects = 3;
    let result = measure_url(
        &config,
        &server.url("http", "/loop"),
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    assert_eq!(
        result.summary.failure,
        Some(Failure::Unknown(
            "stopped after too many redirects".to_string()
        ))
    );
    assert_eq!(
        result.summary.failed_operation.as_deref(),
        Some("http_round_trip")
    );
    assert_eq!(requests(&result.measurement.test_keys).len(), 4);
}

#[tokio::test]
async fn a_redirect_without_a_usable_host_is_an_invalid_location() {
    let server = WebServer::http(Routes::new().redirect("/bad", 302, "ftp://elsewhere/")).await;
    let result = measure_url(
        &config(),
        &server.url("http", "/bad"),
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    assert_eq!(
        result.summary.failure,
        Some(Failure::HttpInvalidRedirectLocationHost)
    );
}

#[tokio::test]
async fn https_failures_name_the_tls_step() {
    let ca = TestCa::new("Kuzet Test CA", "Kuzet");
    let server =
        WebServer::https(Routes::new().page("/", 200, "Hi"), &ca.leaf(&["127.0.0.1"])).await;
    let url = server.url("https", "/");
    // Bundled roots only: the lab CA is unknown.
    let result = measure_url(&config(), &url, OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(
        result.summary.failed_operation.as_deref(),
        Some("tls_handshake")
    );
    assert_eq!(result.summary.failure, Some(Failure::SslUnknownAuthority));
    // With the CA file the same URL works, over h2.
    let mut config = config();
    config.trust = TrustAnchors::bundled_with_pem(ca.cert_pem.as_bytes()).unwrap();
    let result = measure_url(&config, &url, OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(result.summary.failure, None);
    assert_eq!(
        requests(&result.measurement.test_keys)[0].alpn.as_deref(),
        Some("h2")
    );
}

#[tokio::test]
async fn the_measurement_has_ooni_base_keys() {
    let server = WebServer::http(Routes::new().page("/", 200, "Hi")).await;
    let url = server.url("http", "/");
    let started = OffsetDateTime::now_utc();
    let result = measure_url(&config(), &url, started).await.unwrap();
    let json = serde_json::to_value(&result.measurement).unwrap();
    assert_eq!(json["data_format_version"], "0.2.0");
    assert_eq!(json["test_name"], "urlgetter");
    assert_eq!(json["input"], url);
    assert_eq!(json["probe_ip"], "127.0.0.1");
    assert_eq!(json["probe_cc"], "ZZ");
    assert_eq!(json["probe_asn"], "AS0");
    assert_eq!(json["software_name"], "kuzet-cli");
    assert!(json["test_runtime"].as_f64().unwrap() > 0.0);
    let time_shape = |s: &str| {
        s.len() == 19 && s.as_bytes()[10] == b' ' && s.chars().filter(|c| *c == ':').count() == 2
    };
    assert!(time_shape(json["measurement_start_time"].as_str().unwrap()));
    assert!(time_shape(json["test_start_time"].as_str().unwrap()));
    for key in [
        "queries",
        "tcp_connect",
        "tls_handshakes",
        "requests",
        "network_events",
    ] {
        assert!(json["test_keys"][key].is_array(), "{key}");
    }
}

#[tokio::test]
async fn malformed_urls_are_errors_not_measurements() {
    for bad in ["not a url", "ftp://example.org/", "http://"] {
        assert!(
            measure_url(&config(), bad, OffsetDateTime::now_utc())
                .await
                .is_err(),
            "{bad}"
        );
    }
}
