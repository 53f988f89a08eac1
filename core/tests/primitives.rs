//! TCP, TLS and HTTP primitives against loopback servers that the tests start: every failure
//! class Kuzet claims to recognise, observed on real sockets.

use std::net::SocketAddr;
use std::time::Duration;

use kuzet_core::net::trust::TrustAnchors;
use kuzet_core::probe::http::{default_request_headers, http_get, HttpGetSpec};
use kuzet_core::probe::tcp::tcp_connect;
use kuzet_core::probe::throughput::{ByteCounter, CountingStream, ThroughputSampler};
use kuzet_core::probe::tls::{tls_handshake, TlsOptions};
use kuzet_core::probe::Flow;
use kuzet_core::{Failure, MeasurementClock};
use kuzet_e2e::fixtures::pki::TestCa;
use kuzet_e2e::fixtures::tcp::{closed_addr, BadServer, BlackholeEndpoint, Misbehaviour};
use kuzet_e2e::fixtures::web::{Route, Routes, WebServer};

const SHORT: Duration = Duration::from_millis(500);

fn flow() -> Flow {
    Flow::new(&MeasurementClock::start(), vec!["depth=0".to_string()])
}

fn tls_options(name: &str, trust: &TrustAnchors) -> TlsOptions {
    TlsOptions {
        server_name: name.to_string(),
        alpn: vec!["h2".to_string(), "http/1.1".to_string()],
        trust: trust.clone(),
        verify: true,
        timeout: SHORT,
    }
}

fn trusting(ca: &TestCa) -> TrustAnchors {
    TrustAnchors::only_pem(ca.cert_pem.as_bytes()).expect("CA PEM")
}

/// Connects and handshakes; returns the handshake failure (None on success) and observation.
async fn handshake(
    addr: SocketAddr,
    options: &TlsOptions,
) -> (
    Option<Failure>,
    kuzet_core::report::observations::TlsHandshake,
) {
    let flow = flow();
    let (tcp, _) = tcp_connect(&flow, addr, SHORT).await;
    let tcp = tcp.expect("TCP connect to the fixture");
    let (tls, observation) = tls_handshake(&flow, tcp, addr, options).await;
    (tls.err(), observation)
}

#[tokio::test]
async fn tcp_connect_succeeds_and_records_the_endpoint() {
    let server = WebServer::http(Routes::new()).await;
    let flow = flow();
    let (stream, observation) = tcp_connect(&flow, server.addr, SHORT).await;
    assert!(stream.is_ok());
    assert!(observation.status.success);
    assert_eq!(observation.status.failure, None);
    assert_eq!(observation.ip, "127.0.0.1");
    assert_eq!(observation.port, server.addr.port());
    assert!(observation.t0 <= observation.t);
    assert_eq!(observation.transaction_id, flow.transaction_id);
    assert_eq!(observation.tags, vec!["depth=0"]);
}

#[tokio::test]
async fn tcp_connect_refused() {
    let addr = closed_addr();
    let (stream, observation) = tcp_connect(&flow(), addr, SHORT).await;
    assert_eq!(stream.err(), Some(Failure::ConnectionRefused));
    assert!(!observation.status.success);
    assert_eq!(
        serde_json::to_value(&observation.status.failure).unwrap(),
        "connection_refused"
    );
}

#[tokio::test]
async fn tcp_connect_timeout() {
    let blackhole = BlackholeEndpoint::start();
    let started = std::time::Instant::now();
    let (stream, observation) =
        tcp_connect(&flow(), blackhole.addr, Duration::from_millis(300)).await;
    assert_eq!(stream.err(), Some(Failure::GenericTimeout));
    assert_eq!(observation.status.failure, Some(Failure::GenericTimeout));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the timeout bounds the connect"
    );
}

#[tokio::test]
async fn tls_handshake_succeeds_with_chain_alpn_and_version() {
    let ca = TestCa::new("Kuzet Test CA", "Kuzet");
    let server = WebServer::https(Routes::new(), &ca.leaf(&["site.test"])).await;
    let (failure, observation) =
        handshake(server.addr, &tls_options("site.test", &trusting(&ca))).await;
    assert_eq!(failure, None);
    assert_eq!(observation.failure, None);
    assert_eq!(observation.server_name, "site.test");
    assert_eq!(observation.negotiated_protocol, "h2");
    assert_eq!(observation.tls_version, "TLSv1.3");
    assert!(
        observation.cipher_suite.starts_with("TLS_"),
        "{}",
        observation.cipher_suite
    );
    assert_eq!(
        observation.peer_certificates.len(),
        2,
        "leaf and CA as presented"
    );
    assert!(!observation.no_tls_verify);
    assert_eq!(observation.address, server.addr.to_string());
}

#[tokio::test]
async fn tls_sni_may_differ_from_the_connected_address() {
    // Connect to an IP, send a name: the SNI is what gets verified and recorded.
    let ca = TestCa::new("Kuzet Test CA", "Kuzet");
    let server = WebServer::https(Routes::new(), &ca.leaf(&["other.test"])).await;
    let (failure, observation) =
        handshake(server.addr, &tls_options("other.test", &trusting(&ca))).await;
    assert_eq!(failure, None);
    assert_eq!(observation.server_name, "other.test");
}

#[tokio::test]
async fn tls_wrong_name_is_invalid_hostname() {
    let ca = TestCa::new("Kuzet Test CA", "Kuzet");
    let server = WebServer::https(Routes::new(), &ca.leaf(&["right.test"])).await;
    let (failure, observation) =
        handshake(server.addr, &tls_options("wrong.test", &trusting(&ca))).await;
    assert_eq!(failure, Some(Failure::SslInvalidHostname));
    assert_eq!(
        serde_json::to_value(&observation.failure).unwrap(),
        "ssl_invalid_hostname"
    );
    assert!(
        !observation.peer_certificates.is_empty(),
        "the rejected chain is kept"
    );
}

#[tokio::test]
async fn tls_untrusted_issuer_is_unknown_authority_and_chain_is_captured() {
    let rogue = TestCa::new("Rogue Interception CA", "Rogue");
    let trusted = TestCa::new("Kuzet Test CA", "Kuzet");
    let leaf = rogue.leaf(&["site.test"]);
    let server = WebServer::https(Routes::new(), &leaf).await;
    let (failure, observation) =
        handshake(server.addr, &tls_options("site.test", &trusting(&trusted))).await;
    assert_eq!(failure, Some(Failure::SslUnknownAuthority));
    let captured: Vec<Vec<u8>> = observation
        .peer_certificates
        .iter()
        .map(|c| c.to_bytes().unwrap())
        .collect();
    assert_eq!(
        captured[0],
        leaf.chain[0].to_vec(),
        "the leaf, byte for byte"
    );
}

#[tokio::test]
async fn tls_bundled_roots_do_not_trust_a_private_ca() {
    let ca = TestCa::new("Kuzet Test CA", "Kuzet");
    let server = WebServer::https(Routes::new(), &ca.leaf(&["site.test"])).await;
    let (failure, _) = handshake(
        server.addr,
        &tls_options("site.test", &TrustAnchors::bundled()),
    )
    .await;
    assert_eq!(failure, Some(Failure::SslUnknownAuthority));
    let with_file = TrustAnchors::bundled_with_pem(ca.cert_pem.as_bytes()).unwrap();
    let (failure, _) = handshake(server.addr, &tls_options("site.test", &with_file)).await;
    assert_eq!(failure, None, "an extra CA file adds to the bundled roots");
}

#[tokio::test]
async fn tls_expired_certificate_is_invalid_certificate() {
    let ca = TestCa::new("Kuzet Test CA", "Kuzet");
    let server = WebServer::https(Routes::new(), &ca.expired_leaf(&["site.test"])).await;
    let (failure, _) = handshake(server.addr, &tls_options("site.test", &trusting(&ca))).await;
    assert_eq!(failure, Some(Failure::SslInvalidCertificate));
}

#[tokio::test]
async fn tls_no_verify_accepts_any_chain_and_says_so() {
    let rogue = TestCa::new("Rogue", "Rogue");
    let server = WebServer::https(Routes::new(), &rogue.leaf(&["site.test"])).await;
    let mut options = tls_options("anything.test", &TrustAnchors::bundled());
    options.verify = false;
    let (failure, observation) = handshake(server.addr, &options).await;
    assert_eq!(failure, None);
    assert!(observation.no_tls_verify);
}

#[tokio::test]
async fn tls_reset_after_client_hello_is_connection_reset() {
    let server = BadServer::start(Misbehaviour::ResetAfterFirstRead).await;
    let (failure, observation) = handshake(
        server.addr,
        &tls_options("blocked.test", &TrustAnchors::bundled()),
    )
    .await;
    assert_eq!(failure, Some(Failure::ConnectionReset));
    assert_eq!(observation.server_name, "blocked.test");
}

#[tokio::test]
async fn tls_close_after_client_hello_is_eof() {
    let server = BadServer::start(Misbehaviour::CloseAfterFirstRead).await;
    let (failure, _) = handshake(
        server.addr,
        &tls_options("blocked.test", &TrustAnchors::bundled()),
    )
    .await;
    assert_eq!(failure, Some(Failure::Eof));
}

#[tokio::test]
async fn tls_silence_after_client_hello_is_timeout() {
    let server = BadServer::start(Misbehaviour::Silent).await;
    let started = std::time::Instant::now();
    let (failure, _) = handshake(
        server.addr,
        &tls_options("blocked.test", &TrustAnchors::bundled()),
    )
    .await;
    assert_eq!(failure, Some(Failure::GenericTimeout));
    assert!(started.elapsed() < Duration::from_secs(3));
}

fn get_spec(url: &str, cap: usize) -> HttpGetSpec {
    HttpGetSpec {
        url: url.parse().unwrap(),
        headers: default_request_headers(),
        cookie: None,
        body_cap: cap,
        timeout: Duration::from_secs(2),
    }
}

#[tokio::test]
async fn http_get_cleartext_records_request_and_response() {
    let server = WebServer::http(Routes::new().page("/", 200, "Hello Kuzet")).await;
    let flow = flow();
    let (tcp, _) = tcp_connect(&flow, server.addr, SHORT).await;
    let url = server.url("http", "/");
    let exchange = http_get(
        &flow,
        tcp.unwrap(),
        server.addr,
        "",
        &get_spec(&url, 1 << 19),
    )
    .await;
    let t = &exchange.transaction;
    assert_eq!(t.failure, None);
    assert_eq!(exchange.status, Some(200));
    assert_eq!(t.response.code, 200);
    assert!(String::from_utf8_lossy(&exchange.body).contains("<title>Hello Kuzet</title>"));
    assert_eq!(
        t.response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(t.response.headers.contains_key("X-Kuzet-Fixture"));
    assert_eq!(t.request.method, "GET");
    assert_eq!(t.request.url, url);
    assert_eq!(
        t.request.headers_list[0],
        ("Host".to_string(), server.addr.to_string())
    );
    assert!(!t.response.body_is_truncated);
    assert!(t.t0 <= t.t);
}

#[tokio::test]
async fn http_get_over_tls_with_h2() {
    let ca = TestCa::new("Kuzet Test CA", "Kuzet");
    let server = WebServer::https(
        Routes::new().page("/", 200, "Secure"),
        &ca.leaf(&["site.test"]),
    )
    .await;
    let flow = flow();
    let (tcp, _) = tcp_connect(&flow, server.addr, SHORT).await;
    let (tls, hs) = tls_handshake(
        &flow,
        tcp.unwrap(),
        server.addr,
        &tls_options("site.test", &trusting(&ca)),
    )
    .await;
    let url = format!("https://site.test:{}/", server.addr.port());
    let exchange = http_get(
        &flow,
        tls.unwrap(),
        server.addr,
        &hs.negotiated_protocol,
        &get_spec(&url, 1 << 19),
    )
    .await;
    assert_eq!(exchange.transaction.failure, None);
    assert_eq!(exchange.transaction.alpn.as_deref(), Some("h2"));
    assert_eq!(exchange.status, Some(200));
    assert!(String::from_utf8_lossy(&exchange.body).contains("Secure"));
}

#[tokio::test]
async fn http_body_is_capped_and_marked_truncated() {
    let server = WebServer::http(Routes::new().route("/big", Route::Large { len: 200_000 })).await;
    let flow = flow();
    let (tcp, _) = tcp_connect(&flow, server.addr, SHORT).await;
    let exchange = http_get(
        &flow,
        tcp.unwrap(),
        server.addr,
        "",
        &get_spec(&server.url("http", "/big"), 10_000),
    )
    .await;
    assert_eq!(exchange.transaction.failure, None);
    assert_eq!(exchange.body.len(), 10_000);
    assert!(exchange.transaction.response.body_is_truncated);
}

#[tokio::test]
async fn http_endless_body_stops_at_the_cap() {
    let server = WebServer::http(Routes::new().route("/endless", Route::Endless)).await;
    let flow = flow();
    let (tcp, _) = tcp_connect(&flow, server.addr, SHORT).await;
    let exchange = http_get(
        &flow,
        tcp.unwrap(),
        server.addr,
        "",
        &get_spec(&server.url("http", "/endless"), 100_000),
    )
    .await;
    assert_eq!(exchange.body.len(), 100_000);
    assert!(exchange.transaction.response.body_is_truncated);
}

#[tokio::test]
async fn http_slow_response_times_out() {
    let server = WebServer::http(Routes::new().route(
        "/slow",
        Route::Slow {
            delay: Duration::from_secs(30),
        },
    ))
    .await;
    let flow = flow();
    let (tcp, _) = tcp_connect(&flow, server.addr, SHORT).await;
    let mut spec = get_spec(&server.url("http", "/slow"), 1000);
    spec.timeout = Duration::from_millis(300);
    let exchange = http_get(&flow, tcp.unwrap(), server.addr, "", &spec).await;
    assert_eq!(exchange.transaction.failure, Some(Failure::GenericTimeout));
    assert_eq!(exchange.status, None);
}

#[tokio::test]
async fn http_reset_after_request_is_connection_reset() {
    let server = BadServer::start(Misbehaviour::ResetAfterFirstRead).await;
    let flow = flow();
    let (tcp, _) = tcp_connect(&flow, server.addr, SHORT).await;
    let exchange = http_get(
        &flow,
        tcp.unwrap(),
        server.addr,
        "",
        &get_spec(&format!("http://{}/", server.addr), 1000),
    )
    .await;
    assert_eq!(exchange.transaction.failure, Some(Failure::ConnectionReset));
}

#[tokio::test]
async fn http_close_after_request_is_eof() {
    let server = BadServer::start(Misbehaviour::CloseAfterFirstRead).await;
    let flow = flow();
    let (tcp, _) = tcp_connect(&flow, server.addr, SHORT).await;
    let exchange = http_get(
        &flow,
        tcp.unwrap(),
        server.addr,
        "",
        &get_spec(&format!("http://{}/", server.addr), 1000),
    )
    .await;
    assert_eq!(exchange.transaction.failure, Some(Failure::Eof));
}

#[tokio::test]
async fn throughput_sampler_records_cumulative_bytes() {
    let server = WebServer::http(Routes::new().route("/big", Route::Large { len: 300_000 })).await;
    let flow = flow();
    let (tcp, _) = tcp_connect(&flow, server.addr, SHORT).await;
    let counter = ByteCounter::new();
    let sampler = ThroughputSampler::start(&flow, server.addr.to_string(), counter.clone());
    let stream = CountingStream::new(tcp.unwrap(), counter.clone());
    let exchange = http_get(
        &flow,
        stream,
        server.addr,
        "",
        &get_spec(&server.url("http", "/big"), 1 << 20),
    )
    .await;
    assert_eq!(exchange.body.len(), 300_000);
    let samples = sampler.stop().await;
    assert!(!samples.is_empty());
    let last = samples.last().unwrap();
    assert_eq!(last.operation, "bytes_received_cumulative");
    assert!(
        last.num_bytes.unwrap() >= 300_000,
        "headers and body counted"
    );
    assert_eq!(last.num_bytes.unwrap(), counter.get());
    let totals: Vec<u64> = samples.iter().map(|s| s.num_bytes.unwrap()).collect();
    assert!(totals.windows(2).all(|w| w[0] <= w[1]), "cumulative");
    let times: Vec<f64> = samples.iter().map(|s| s.t).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order");
}
