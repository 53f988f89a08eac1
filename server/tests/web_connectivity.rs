//! web_connectivity end to end on loopback: the probe (kuzet-core's experiment) against
//! Kuzet's own test helper served in-process, with loopback web, DNS and misbehaving servers.
//!
//! Everything is on 127.0.0.0/8, so the bogon filter is off on the probe side and the helper
//! allows private targets. The probe and the helper share one network here, so probe-only
//! interference is made in one of two ways:
//! - **the resolver trick**: the probe's resolver and the helper's answer differently, so the
//!   probe reaches another server (a rogue-certificate server, a reset box) at another loopback
//!   address (127.0.0.2) on the same port;
//! - **the gate**: a censoring proxy in front of the real server interferes until the helper
//!   receives its request, then forwards. The helper endpoint is wrapped so that it waits a
//!   moment before opening the gate, by which time the probe (which connects as soon as it has
//!   resolved) has been censored. DNS is then consistent, as with on-path censorship.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use kuzet_core::experiment::web_connectivity::{
    measure_website, Blocking, DnsConsistency, DnsTamper, StepTimeouts, TargetUrl, Timeouts,
    TlsBlock, Verdict, WebConnectivityConfig, WebConnectivityResult,
};
use kuzet_core::net::trust::TrustAnchors;
use kuzet_core::probe::dns::DnsTransport;
use kuzet_core::session::{self, RunLimits, RunPlan, RunStatus, Setup, Targets};
use kuzet_core::th::{BogonPolicy, ThResponse};
use kuzet_core::Failure;
use kuzet_e2e::fixtures::anchors::Anchors;
use kuzet_e2e::fixtures::dns::{Behaviour, UdpDnsServer, Zone};
use kuzet_e2e::fixtures::listener::Heard;
use kuzet_e2e::fixtures::pki::{TestCa, TestLeaf};
use kuzet_e2e::fixtures::tcp::closed_port;
use kuzet_e2e::fixtures::web::{Routes, WebServer};
use kuzet_server::endpoint::{Endpoint, HandlerFuture, ReadRequest};
use kuzet_server::router::Router;
use kuzet_server::th::{TestHelper, TestHelperConfig, ThTimeouts};
use serde_json::Value;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use url::Url;

const SITE: &str = "site.test";
const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;
const OTHER_LOOPBACK: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// A server task that stops when dropped.
struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A trusted CA and a leaf for SITE.
fn pki() -> (TestCa, TestLeaf) {
    let ca = TestCa::new("Kuzet Lab CA", "Kuzet");
    let leaf = ca.leaf(&[SITE]);
    (ca, leaf)
}

fn trust(ca: &TestCa) -> TrustAnchors {
    TrustAnchors::bundled_with_pem(ca.cert_pem.as_bytes()).expect("the lab CA")
}

/// A DNS server answering SITE with `ip` (or NXDOMAIN when `None`).
async fn resolver(ip: Option<Ipv4Addr>) -> UdpDnsServer {
    let zone = Zone::new();
    if let Some(ip) = ip {
        zone.set(SITE, Behaviour::addresses(&[ip], &[]));
    }
    UdpDnsServer::start(zone).await
}

fn helper_config(resolver: &UdpDnsServer, ca: &TestCa, allow_private: bool) -> TestHelperConfig {
    TestHelperConfig {
        resolver: DnsTransport::Udp {
            server: resolver.addr,
        },
        trust: trust(ca),
        allow_private_targets: allow_private,
        timeouts: ThTimeouts {
            dns: Duration::from_secs(2),
            connect: Duration::from_secs(2),
            tls: Duration::from_secs(2),
            http: Duration::from_secs(5),
        },
        ..TestHelperConfig::default()
    }
}

/// Serves `endpoint` on 127.0.0.1; returns its base URL.
async fn serve(endpoint: Arc<dyn Endpoint>) -> (Url, Task) {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new(vec![endpoint]);
    let task = Task(tokio::spawn(router.serve(listener)));
    (Url::parse(&format!("http://{addr}/")).unwrap(), task)
}

/// Kuzet's helper, resolving with `resolver`, allowed to reach loopback.
async fn start_helper(resolver: &UdpDnsServer, ca: &TestCa) -> (Url, Task) {
    serve(Arc::new(TestHelper::new(helper_config(resolver, ca, true)))).await
}

fn probe_config(
    resolver: &UdpDnsServer,
    ca: &TestCa,
    th_url: Option<Url>,
) -> WebConnectivityConfig {
    WebConnectivityConfig {
        resolver: DnsTransport::Udp {
            server: resolver.addr,
        },
        th_url,
        timeouts: Timeouts {
            steps: StepTimeouts {
                dns: Duration::from_secs(2),
                connect: Duration::from_secs(2),
                tls: Duration::from_secs(2),
                http: Duration::from_secs(3),
            },
            th: Duration::from_secs(15),
            fetch: Duration::from_secs(10),
        },
        trust: trust(ca),
        bogons: BogonPolicy::disabled(),
        ..WebConnectivityConfig::default()
    }
}

async fn measure(config: &WebConnectivityConfig, url: &str) -> WebConnectivityResult {
    measure_website(config, url, OffsetDateTime::now_utc())
        .await
        .expect("a measurable URL")
}

fn keys(result: &WebConnectivityResult) -> &Value {
    &result.measurement.test_keys
}

fn control(result: &WebConnectivityResult) -> ThResponse {
    serde_json::from_value(keys(result)["control"].clone()).expect("a control")
}

/// Accepts on `addr`, reads the first bytes, then resets: a reset box.
async fn reset_box(addr: SocketAddr) -> Task {
    let listener = TcpListener::bind(addr).await.expect("bind the reset box");
    Task(tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                let _ = stream.set_zero_linger();
                drop(stream);
            });
        }
    }))
}

/// What the censoring proxy does while its gate is closed.
#[derive(Clone, Copy)]
enum Censorship {
    /// Read the first bytes (a ClientHello, a request), then reset.
    Reset,
    /// Answer any request with a short blockpage.
    Blockpage,
}

const BLOCKPAGE: &str = "<html><head><title>Access restricted</title></head></html>";

/// A proxy on 127.0.0.1 to `upstream` that censors while `gate` is closed.
async fn censor(
    upstream: SocketAddr,
    how: Censorship,
    gate: Arc<AtomicBool>,
) -> (SocketAddr, Task) {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = Task(tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                continue;
            };
            let open = gate.load(Ordering::SeqCst);
            tokio::spawn(async move {
                if open {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                    return;
                }
                let mut buffer = [0u8; 4096];
                let _ = client.read(&mut buffer).await;
                match how {
                    Censorship::Reset => {
                        let _ = client.set_zero_linger();
                    }
                    Censorship::Blockpage => {
                        // No Content-Length (the body ends with the connection): sharing
                        // that uncommon header with the real page would make OONI's rule
                        // call the pages equal.
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n{BLOCKPAGE}"
                        );
                        let _ = client.write_all(answer.as_bytes()).await;
                        let _ = client.shutdown().await;
                    }
                }
            });
        }
    }));
    (addr, task)
}

/// The helper, opening `gate` a moment after each request arrives (see the module docs).
struct GatedHelper {
    inner: TestHelper,
    gate: Arc<AtomicBool>,
}

impl Endpoint for GatedHelper {
    fn name(&self) -> &'static str {
        "gated-th"
    }
    fn claims(&self, method: &Method, path: &str) -> bool {
        self.inner.claims(method, path)
    }
    fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes()
    }
    fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight()
    }
    fn handle(&self, request: ReadRequest) -> HandlerFuture<'_> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            self.gate.store(true, Ordering::SeqCst);
            self.inner.handle(request).await
        })
    }
}

#[tokio::test]
async fn an_https_site_reached_everywhere_is_ok() {
    let (ca, leaf) = pki();
    let site = WebServer::https(Routes::new().page("/", 200, "Kuzet Example Website"), &leaf).await;
    let dns = resolver(Some(LOCALHOST)).await;
    let (th_url, _th) = start_helper(&dns, &ca).await;
    let config = probe_config(&dns, &ca, Some(th_url.clone()));
    let url = format!("https://{SITE}:{}/", site.addr.port());
    let result = measure(&config, &url).await;

    assert_eq!(result.verdict, Verdict::Ok);
    assert_eq!(result.summary.blocking, Some(Blocking::NotBlocked));
    assert_eq!(result.summary.accessible, Some(true));
    assert_eq!(
        result.summary.dns_consistency,
        Some(DnsConsistency::Consistent)
    );
    assert_eq!(result.summary.status_code, Some(200));
    assert!(result.bytes_received > 0);

    let measurement = &result.measurement;
    assert_eq!(measurement.test_name, "web_connectivity");
    assert_eq!(measurement.test_version, "0.4.3");
    assert_eq!(measurement.input.as_deref(), Some(url.as_str()));
    assert_eq!(
        measurement.test_helpers,
        Some(serde_json::json!({"backend": {"address": th_url.as_str(), "type": "https"}}))
    );
    let keys = keys(&result);
    for key in [
        "agent",
        "client_resolver",
        "retries",
        "socksproxy",
        "queries",
        "tcp_connect",
        "tls_handshakes",
        "requests",
        "network_events",
        "control",
        "control_failure",
        "dns_experiment_failure",
        "http_experiment_failure",
        "dns_consistency",
        "body_proportion",
        "body_length_match",
        "status_code_match",
        "headers_match",
        "title_match",
        "blocking",
        "accessible",
        "x_dns_duplicate_responses",
        "x_verdict",
    ] {
        assert!(keys.get(key).is_some(), "test key {key}");
    }
    assert_eq!(keys["x_verdict"], serde_json::json!({"kind": "ok"}));
    assert_eq!(keys["control_failure"], Value::Null);
    assert_eq!(keys["status_code_match"], Value::Bool(true));
    assert_eq!(keys["title_match"], Value::Bool(true));

    let control = control(&result);
    let endpoint = format!("127.0.0.1:{}", site.addr.port());
    assert!(control.tcp_connect[&endpoint].status);
    assert!(control.tls_handshake[&endpoint].status);
    assert_eq!(control.tls_handshake[&endpoint].server_name, SITE);
    assert_eq!(control.http_request.status_code, 200);
    assert_eq!(control.http_request.title, "Kuzet Example Website");
    assert_eq!(control.dns.addrs, vec!["127.0.0.1"]);
    // Resolved by both (1 | 2), a bogon (4: loopback), valid for the domain (8).
    assert_eq!(control.ip_info["127.0.0.1"].flags, 15);

    // The classic observations are tagged as OONI's v0.5 does, and re-analyse the same.
    let requests = keys["requests"].as_array().unwrap();
    assert_eq!(
        requests[0]["tags"],
        serde_json::json!(["classic", "depth=0"])
    );
    let reread = kuzet_core::experiment::web_connectivity::Observations::from_test_keys(
        &Url::parse(&url).unwrap(),
        keys,
    );
    assert_eq!(
        kuzet_core::experiment::web_connectivity::analyze(&reread, &BogonPolicy::disabled())
            .verdict,
        Verdict::Ok
    );
}

#[tokio::test]
async fn a_cleartext_page_matching_the_helpers_is_ok() {
    let (ca, _) = pki();
    let site = WebServer::http(Routes::new().page("/", 200, "Kuzet Example Website")).await;
    let dns = resolver(Some(LOCALHOST)).await;
    let (th_url, _th) = start_helper(&dns, &ca).await;
    let config = probe_config(&dns, &ca, Some(th_url));
    let result = measure(&config, &format!("http://{SITE}:{}/", site.addr.port())).await;
    assert_eq!(result.verdict, Verdict::Ok);
    let keys = keys(&result);
    assert_eq!(keys["status_code_match"], Value::Bool(true));
    assert_eq!(keys["body_length_match"], Value::Bool(true));
    assert_eq!(keys["headers_match"], Value::Bool(true));
    assert_eq!(keys["title_match"], Value::Bool(true));
    assert_eq!(keys["body_proportion"], serde_json::json!(1.0));
    assert_eq!(keys["accessible"], Value::Bool(true));
}

#[tokio::test]
async fn a_site_down_for_everyone_is_site_down() {
    let (ca, _) = pki();
    let port = closed_port();
    let dns = resolver(Some(LOCALHOST)).await;
    let (th_url, _th) = start_helper(&dns, &ca).await;
    let config = probe_config(&dns, &ca, Some(th_url));
    let result = measure(&config, &format!("https://{SITE}:{port}/")).await;
    assert_eq!(result.verdict, Verdict::SiteDown);
    assert_eq!(result.summary.blocking, Some(Blocking::NotBlocked));
    assert_eq!(result.summary.accessible, Some(false));
    assert_eq!(
        result.summary.http_experiment_failure,
        Some(Failure::ConnectionRefused)
    );
    let control = control(&result);
    assert!(!control.tcp_connect[&format!("127.0.0.1:{port}")].status);
    assert_eq!(control.http_request.status_code, -1);
    assert_eq!(control.http_request.body_length, -1);
}

#[tokio::test]
async fn nxdomain_from_the_probes_resolver_only_is_dns_tampering() {
    let (ca, leaf) = pki();
    let site = WebServer::https(Routes::new().page("/", 200, "Kuzet Example Website"), &leaf).await;
    let probe_dns = resolver(None).await;
    let helper_dns = resolver(Some(LOCALHOST)).await;
    let (th_url, _th) = start_helper(&helper_dns, &ca).await;
    let config = probe_config(&probe_dns, &ca, Some(th_url));
    let result = measure(&config, &format!("https://{SITE}:{}/", site.addr.port())).await;
    assert_eq!(
        result.verdict,
        Verdict::DnsTampered {
            how: DnsTamper::Nxdomain
        }
    );
    assert_eq!(result.summary.blocking, Some(Blocking::Dns));
    assert_eq!(
        result.summary.dns_consistency,
        Some(DnsConsistency::Inconsistent)
    );
    assert_eq!(
        result.summary.dns_experiment_failure,
        Some(Failure::DnsNxdomain)
    );
    assert_eq!(keys(&result)["x_failed_operation"], "resolve");
    // The probe still asked the helper, with no endpoint of its own.
    assert_eq!(
        keys(&result)["x_control_request"]["tcp_connect"],
        serde_json::json!([])
    );
}

#[tokio::test]
async fn a_kazakh_interception_certificate_is_tls_mitm_with_a_known_root() {
    let (ca, leaf) = pki();
    let site = WebServer::https(Routes::new().page("/", 200, "Kuzet Example Website"), &leaf).await;
    let port = site.addr.port();
    // The interceptor, on the same port at another loopback address.
    let isca = TestCa::with_country(
        "Information Security Certification Authority",
        "ISCA",
        Some("KZ"),
    );
    let _interceptor = WebServer::https_on(
        SocketAddr::new(IpAddr::V4(OTHER_LOOPBACK), port),
        Routes::new().page("/", 200, "Intercepted"),
        &isca.leaf(&[SITE]),
    )
    .await;
    let probe_dns = resolver(Some(OTHER_LOOPBACK)).await;
    let helper_dns = resolver(Some(LOCALHOST)).await;
    let (th_url, _th) = start_helper(&helper_dns, &ca).await;
    let config = probe_config(&probe_dns, &ca, Some(th_url));
    let result = measure(&config, &format!("https://{SITE}:{port}/")).await;
    let Verdict::TlsMitm {
        issuer,
        known_kz_root,
        sni,
    } = &result.verdict
    else {
        panic!("expected tls_mitm, got {:?}", result.verdict);
    };
    assert!(known_kz_root);
    assert_eq!(sni, SITE);
    assert!(issuer.contains("C=KZ"), "{issuer}");
    assert!(issuer.contains("ISCA"), "{issuer}");
    assert_eq!(
        result.summary.http_experiment_failure,
        Some(Failure::SslUnknownAuthority)
    );
    // The presented chain is in the measurement.
    let handshakes = keys(&result)["tls_handshakes"].as_array().unwrap();
    assert!(!handshakes[0]["peer_certificates"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn an_unknown_rogue_certificate_is_tls_mitm_when_the_helper_verifies() {
    let (ca, leaf) = pki();
    let site = WebServer::https(Routes::new().page("/", 200, "Kuzet Example Website"), &leaf).await;
    let port = site.addr.port();
    let rogue = TestCa::new("Totally Legit Root", "Rogue Inc");
    let _interceptor = WebServer::https_on(
        SocketAddr::new(IpAddr::V4(OTHER_LOOPBACK), port),
        Routes::new().page("/", 200, "Intercepted"),
        &rogue.leaf(&[SITE]),
    )
    .await;
    let probe_dns = resolver(Some(OTHER_LOOPBACK)).await;
    let helper_dns = resolver(Some(LOCALHOST)).await;
    let (th_url, _th) = start_helper(&helper_dns, &ca).await;
    let config = probe_config(&probe_dns, &ca, Some(th_url));
    let result = measure(&config, &format!("https://{SITE}:{port}/")).await;
    assert_eq!(
        result.verdict,
        Verdict::TlsMitm {
            issuer: "CN=Totally Legit Root, O=Rogue Inc".into(),
            known_kz_root: false,
            sni: SITE.into()
        }
    );
    // Reached through DNS steering: OONI's classic keys blame the DNS.
    assert_eq!(result.summary.blocking, Some(Blocking::Dns));
}

#[tokio::test]
async fn dns_steering_to_a_reset_box_is_a_dns_hijack() {
    let (ca, leaf) = pki();
    let site = WebServer::https(Routes::new().page("/", 200, "Kuzet Example Website"), &leaf).await;
    let port = site.addr.port();
    let _reset = reset_box(SocketAddr::new(IpAddr::V4(OTHER_LOOPBACK), port)).await;
    let probe_dns = resolver(Some(OTHER_LOOPBACK)).await;
    let helper_dns = resolver(Some(LOCALHOST)).await;
    let (th_url, _th) = start_helper(&helper_dns, &ca).await;
    let config = probe_config(&probe_dns, &ca, Some(th_url));
    let result = measure(&config, &format!("https://{SITE}:{port}/")).await;
    assert_eq!(
        result.verdict,
        Verdict::DnsTampered {
            how: DnsTamper::Hijack
        }
    );
    assert_eq!(
        result.summary.http_experiment_failure,
        Some(Failure::ConnectionReset)
    );
    // The helper measured the probe's address too, and saw the same reset there.
    let control = control(&result);
    let probe_endpoint = format!("127.0.0.2:{port}");
    assert!(!control.tls_handshake[&probe_endpoint].status);
    assert_eq!(control.ip_info["127.0.0.2"].flags & 1, 1);
}

#[tokio::test]
async fn a_handshake_reset_on_the_path_is_tls_blocking() {
    let (ca, leaf) = pki();
    let site = WebServer::https(Routes::new().page("/", 200, "Kuzet Example Website"), &leaf).await;
    let gate = Arc::new(AtomicBool::new(false));
    let (proxy, _censor) = censor(site.addr, Censorship::Reset, gate.clone()).await;
    let dns = resolver(Some(LOCALHOST)).await;
    let helper = GatedHelper {
        inner: TestHelper::new(helper_config(&dns, &ca, true)),
        gate,
    };
    let (th_url, _th) = serve(Arc::new(helper)).await;
    let config = probe_config(&dns, &ca, Some(th_url));
    let result = measure(&config, &format!("https://{SITE}:{}/", proxy.port())).await;
    assert_eq!(
        result.verdict,
        Verdict::TlsBlocked {
            how: TlsBlock::Reset,
            sni: SITE.into()
        }
    );
    assert_eq!(result.summary.blocking, Some(Blocking::HttpFailure));
    assert_eq!(
        result.summary.dns_consistency,
        Some(DnsConsistency::Consistent)
    );
    assert_eq!(keys(&result)["x_failed_operation"], "tls_handshake");
    assert_eq!(
        result.summary.http_experiment_failure,
        Some(Failure::ConnectionReset)
    );
}

#[tokio::test]
async fn a_blockpage_on_the_path_is_http_blockpage() {
    let (ca, _) = pki();
    let site = WebServer::http(Routes::new().page("/", 200, "Kuzet Example Website")).await;
    let gate = Arc::new(AtomicBool::new(false));
    let (proxy, _censor) = censor(site.addr, Censorship::Blockpage, gate.clone()).await;
    let dns = resolver(Some(LOCALHOST)).await;
    let helper = GatedHelper {
        inner: TestHelper::new(helper_config(&dns, &ca, true)),
        gate,
    };
    let (th_url, _th) = serve(Arc::new(helper)).await;
    let config = probe_config(&dns, &ca, Some(th_url));
    let result = measure(&config, &format!("http://{SITE}:{}/", proxy.port())).await;
    assert_eq!(result.verdict, Verdict::HttpBlockpage);
    assert_eq!(result.summary.blocking, Some(Blocking::HttpDiff));
    let keys = keys(&result);
    assert_eq!(keys["status_code_match"], Value::Bool(true));
    assert_eq!(keys["body_length_match"], Value::Bool(false));
    assert_eq!(keys["headers_match"], Value::Bool(false));
    assert_eq!(keys["title_match"], Value::Bool(false));
}

#[tokio::test]
async fn an_unreachable_helper_leaves_cleartext_undetermined_but_https_ok() {
    let (ca, leaf) = pki();
    let https_site =
        WebServer::https(Routes::new().page("/", 200, "Kuzet Example Website"), &leaf).await;
    let http_site = WebServer::http(Routes::new().page("/", 200, "Kuzet Example Website")).await;
    let dns = resolver(Some(LOCALHOST)).await;
    let th_url = Url::parse(&format!("http://127.0.0.1:{}/", closed_port())).unwrap();
    let config = probe_config(&dns, &ca, Some(th_url));

    let result = measure(
        &config,
        &format!("http://{SITE}:{}/", http_site.addr.port()),
    )
    .await;
    assert!(
        matches!(&result.verdict, Verdict::Undetermined { why, .. } if why.contains("connection_refused")),
        "{:?}",
        result.verdict
    );
    assert_eq!(result.summary.blocking, None);
    assert_eq!(result.summary.accessible, None);
    assert_eq!(
        result.summary.control_failure,
        Some(Failure::ConnectionRefused)
    );
    assert_eq!(keys(&result)["control"], Value::Null);

    let result = measure(
        &config,
        &format!("https://{SITE}:{}/", https_site.addr.port()),
    )
    .await;
    assert_eq!(result.verdict, Verdict::Ok);
    assert_eq!(result.summary.accessible, Some(true));
}

/// A run of the web suite on the one run path, with loopback anchors for its network check,
/// nothing stored.
async fn run_websites(
    config: &WebConnectivityConfig,
    urls: &[TargetUrl],
    limits: RunLimits,
) -> (session::RunSummary, Arc<Heard>) {
    let anchors = Anchors::up();
    let mut setup_base = kuzet_core::engine::EngineConfig::new("/nonexistent", Default::default());
    setup_base.connectivity = anchors.config();
    let plan = RunPlan {
        run_id: "web".to_string(),
        targets: Targets {
            web: urls.to_vec(),
            ..Targets::default()
        },
        setup: Setup {
            web: WebConnectivityConfig {
                th_url: None,
                ..config.clone()
            },
            test_helpers: config.th_url.iter().cloned().collect(),
            ..setup_of(&setup_base)
        },
        limits,
        network: Default::default(),
        store: None,
    };
    let heard = Arc::new(Heard::default());
    let summary = session::start(plan, heard.clone(), Default::default())
        .unwrap()
        .wait()
        .await
        .unwrap();
    drop(anchors);
    (summary, heard)
}

/// Every experiment's default settings, with `config`'s connectivity check.
fn setup_of(config: &kuzet_core::engine::EngineConfig) -> Setup {
    Setup {
        software: config.software.clone(),
        probe_network: config.probe_network.clone(),
        urls: Default::default(),
        web: Default::default(),
        test_helpers: Vec::new(),
        messaging: Default::default(),
        throttling: None,
        connectivity: config.connectivity.clone(),
        record_checks: false,
    }
}

#[tokio::test]
async fn many_urls_run_concurrently_within_budgets() {
    let (ca, leaf) = pki();
    let site = WebServer::https(Routes::new().page("/", 200, "Kuzet Example Website"), &leaf).await;
    let dns = resolver(Some(LOCALHOST)).await;
    let (th_url, _th) = start_helper(&dns, &ca).await;
    let config = probe_config(&dns, &ca, Some(th_url));
    let good = format!("https://{SITE}:{}/", site.addr.port());
    let down = format!("https://{SITE}:{}/", closed_port());
    let urls = vec![
        TargetUrl {
            url: good.clone(),
            category_code: Some("NEWS".into()),
        },
        TargetUrl::new(down.clone()),
        TargetUrl::new(format!("{good}again")),
    ];
    let limits = |parallelism, time_budget, byte_budget| RunLimits {
        parallelism,
        time_budget,
        byte_budget,
    };
    let (report, heard) = run_websites(&config, &urls, limits(2, None, u64::MAX)).await;
    assert_eq!(report.status, RunStatus::Completed);
    let mut verdicts: Vec<(String, String)> = heard
        .results()
        .iter()
        .map(|(r, _)| (r.target.clone(), r.word.clone()))
        .collect();
    verdicts.sort();
    let mut expected = vec![
        (good.clone(), "ok".to_string()),
        (urls[2].url.clone(), "ok".to_string()),
        (down.clone(), "site_down".to_string()),
    ];
    expected.sort();
    assert_eq!(verdicts, expected);
    let (_, first) = heard.result(&good);
    assert_eq!(first.input.as_deref(), Some(good.as_str()));
    // The list's category is the input's, never a key of the measurement (OONI's have none).
    assert!(first.test_keys.get("category_code").is_none());
    assert!(report.not_measured.is_empty());
    // The results' bytes and the run's network check.
    assert!(report.bytes_used >= report.results.iter().map(|r| r.bytes_received).sum::<u64>());
    // One report: one test_start_time.
    let starts: Vec<String> = heard
        .results()
        .iter()
        .map(|(_, m)| m.test_start_time.clone())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] == w[1]));

    // A URL that is not http(s): the plan is refused before anything is measured.
    let mut bad = urls.clone();
    bad.push(TargetUrl::new("ftp://example.org/"));
    let plan = RunPlan {
        run_id: "bad".to_string(),
        targets: Targets {
            web: bad,
            ..Targets::default()
        },
        setup: setup_of(&kuzet_core::engine::EngineConfig::new(
            "/x",
            Default::default(),
        )),
        limits: limits(1, None, u64::MAX),
        network: Default::default(),
        store: None,
    };
    let refused = session::start(plan, Arc::new(Heard::default()), Default::default());
    assert!(refused
        .unwrap_err()
        .to_string()
        .contains("ftp://example.org/"));

    // A byte budget of one byte: the network check uses it, no URL starts, all are listed.
    let (report, _) = run_websites(&config, &urls, limits(1, None, 1)).await;
    assert_eq!(report.status, RunStatus::BudgetExhausted);
    assert!(report.results.is_empty());
    assert_eq!(report.not_measured.len(), 3);

    // No time at all: nothing starts.
    let (report, _) = run_websites(
        &config,
        &urls,
        limits(4, Some(Duration::from_nanos(1)), u64::MAX),
    )
    .await;
    assert!(report.results.is_empty());
    assert_eq!(report.not_measured.len(), 3);
    assert_eq!(report.status, RunStatus::OutOfTime);
}

/// Sends one raw HTTP/1.1 request; returns the status code and body.
async fn raw_request(base: &Url, method: &str, body: &str) -> (u16, String) {
    let addr = format!(
        "{}:{}",
        base.host_str().unwrap(),
        base.port_or_known_default().unwrap()
    );
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} / HTTP/1.1\r\nHost: th\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("an answer in time")
        .unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn the_helper_speaks_oohelperd_and_refuses_garbage() {
    let (ca, _) = pki();
    let dns = resolver(Some(LOCALHOST)).await;
    let (th_url, _th) = start_helper(&dns, &ca).await;

    let (status, body) = raw_request(&th_url, "GET", "").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        serde_json::json!({"message": "Hello OONItarian!"})
    );
    assert_eq!(raw_request(&th_url, "PUT", "{}").await.0, 400);
    assert_eq!(raw_request(&th_url, "POST", "garbage").await.0, 400);
    assert_eq!(
        raw_request(&th_url, "POST", r#"{"http_request":"ftp://x.test/"}"#)
            .await
            .0,
        400
    );
    assert_eq!(
        raw_request(
            &th_url,
            "POST",
            r#"{"http_request":"http://x.test/","tcp_connect":["not an endpoint"]}"#
        )
        .await
        .0,
        400
    );
    // Too large a request: 413 from the router's cap (1 MiB).
    let huge = format!(
        r#"{{"http_request":"http://x.test/","padding":"{}"}}"#,
        "x".repeat(1024 * 1024)
    );
    assert_eq!(raw_request(&th_url, "POST", &huge).await.0, 413);

    // A well-formed request for an unknown name answers dns_name_error, every key present.
    let (status, body) = raw_request(
        &th_url,
        "POST",
        r#"{"http_request":"https://unknown.test/","http_request_headers":{},"tcp_connect":[],"x_quic_enabled":false}"#,
    )
    .await;
    assert_eq!(status, 200);
    let value: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(value["dns"]["failure"], "dns_name_error");
    assert_eq!(value["http_request"]["status_code"], -1);
    assert_eq!(value["http3_request"], Value::Null);
    assert_eq!(value["quic_handshake"], serde_json::json!({}));
}

/// A listener on `ip` that counts the connections it accepts.
async fn counting_listener(ip: Ipv4Addr) -> (SocketAddr, Arc<AtomicUsize>, Task) {
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    let task = Task(tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    }));
    (addr, count, task)
}

#[tokio::test]
async fn a_production_helper_never_connects_to_private_addresses() {
    let (ca, _) = pki();
    let (target, connections, _listener) = counting_listener(LOCALHOST).await;
    // The helper's own resolver points the name at loopback too.
    let dns = resolver(Some(LOCALHOST)).await;
    let helper = TestHelper::new(helper_config(&dns, &ca, false));
    let (th_url, _th) = serve(Arc::new(helper)).await;

    for url in [
        format!("http://{target}/"),
        format!("http://{SITE}:{}/", target.port()),
    ] {
        let request = serde_json::json!({
            "http_request": url,
            "http_request_headers": {},
            "tcp_connect": [target.to_string()],
            "x_quic_enabled": false,
        });
        let (status, body) = raw_request(&th_url, "POST", &request.to_string()).await;
        assert_eq!(status, 200, "{body}");
        let response: ThResponse = serde_json::from_str(&body).unwrap();
        assert!(response.tcp_connect.is_empty(), "{url}: {body}");
        assert!(response.tls_handshake.is_empty());
        assert_eq!(
            response.http_request.failure,
            Some(Failure::DnsBogon),
            "{url}"
        );
        let info = response.ip_info["127.0.0.1"];
        assert_eq!(info.flags & 4, 4, "flagged as a bogon");
        assert_eq!(info.flags & 1, 1, "flagged as the probe's");
    }
    assert_eq!(connections.load(Ordering::SeqCst), 0, "no connection made");
}

#[tokio::test]
async fn the_fetch_filter_applies_to_every_redirect_hop() {
    // The helper's fetch refuses bogons on every hop. Here the filter allows 127.0.0.1 only (as
    // if it were public), and the site redirects to 127.0.0.2: that hop must not connect.
    use kuzet_core::clock::MeasurementClock;
    use kuzet_core::probe::dns::DnsOptions;
    use kuzet_core::probe::fetch::{fetch_filtered, FetchConfig, Operation};
    let (target, connections, _listener) = counting_listener(OTHER_LOOPBACK).await;
    let site =
        WebServer::http(Routes::new().redirect("/", 302, &format!("http://{target}/admin"))).await;
    let config = FetchConfig {
        resolver: DnsTransport::System,
        dns: DnsOptions::default(),
        connect_timeout: Duration::from_secs(2),
        tls_timeout: Duration::from_secs(2),
        http_timeout: Duration::from_secs(2),
        body_cap: 1024,
        max_redirects: 5,
        trust: TrustAnchors::bundled(),
        headers: Vec::new(),
    };
    let allow = |ip: IpAddr| ip == IpAddr::V4(LOCALHOST);
    let url = Url::parse(&format!("http://{}/", site.addr)).unwrap();
    let outcome = fetch_filtered(&MeasurementClock::start(), &config, &url, None, &allow).await;
    assert_eq!(outcome.redirects, 1, "the first hop was fetched");
    assert_eq!(outcome.failure, Some(Failure::DnsBogon));
    assert_eq!(outcome.failed_operation, Some(Operation::Resolve));
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}
