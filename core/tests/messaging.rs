//! The messaging experiments on loopback: every endpoint of every app pointed at local servers
//! (names through a loopback DNS server, Telegram's data centres by address), then made to
//! fail at each step (DNS, TCP refused and timing out, TLS with an untrusted CA or a reset), and
//! the measurements compared with OONI's samples of the same tests.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kuzet_core::experiment::messaging::{
    measure_app, App, AppResult, AppStatus, BlockedStep, FacebookService, HostPort,
    MessagingConfig, MessagingEndpoints, MessagingError,
};
use kuzet_core::experiment::urlgetter::Timeouts;
use kuzet_core::net::trust::TrustAnchors;
use kuzet_core::probe::dns::DnsTransport;
use kuzet_e2e::fixtures::dns::{Behaviour, UdpDnsServer, Zone};
use kuzet_e2e::fixtures::pki::TestCa;
use kuzet_e2e::fixtures::tcp::{closed_port, BadServer, BlackholeEndpoint, Misbehaviour};
use kuzet_e2e::fixtures::web::{Route, Routes, WebServer};
use kuzet_e2e::ooni::BASE_KEYS;
use serde_json::Value;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// Every name the loopback endpoints use.
const NAMES: [&str; 12] = [
    "e1.whatsapp.test",
    "e2.whatsapp.test",
    "v.whatsapp.test",
    "web.whatsapp.test",
    "web.telegram.test",
    "cdsi.signal.test",
    "chat.signal.test",
    "uptime.signal.test",
    "stun.fbsbx.test",
    "b-api.facebook.test",
    "edge-mqtt.facebook.test",
    "star.c10r.facebook.test",
];

/// The local servers and the DNS zone behind one test.
struct Lab {
    ca: TestCa,
    zone: Zone,
    dns: UdpDnsServer,
    https: WebServer,
    http: WebServer,
}

impl Lab {
    async fn start() -> Lab {
        let ca = TestCa::new("Kuzet Messaging Test CA", "Kuzet");
        let leaf = ca.leaf(&NAMES);
        let routes = Routes::new().fallback(Route::Page {
            status: 200,
            body: "ok".to_string(),
        });
        let https = WebServer::https(routes.clone(), &leaf).await;
        let http = WebServer::http(routes).await;
        let zone = Zone::new();
        for name in NAMES {
            zone.set(name, Behaviour::addresses(&[Ipv4Addr::LOCALHOST], &[]));
        }
        let dns = UdpDnsServer::start(zone.clone()).await;
        Lab {
            ca,
            zone,
            dns,
            https,
            http,
        }
    }

    /// A configuration trusting the lab's CA, resolving through its DNS server.
    fn config(&self, endpoints: MessagingEndpoints) -> MessagingConfig {
        MessagingConfig {
            endpoints,
            resolver: DnsTransport::Udp {
                server: self.dns.addr,
            },
            trust: TrustAnchors::only_pem(self.ca.cert_pem.as_bytes()).unwrap(),
            timeouts: Timeouts {
                dns: Duration::from_secs(2),
                connect: Duration::from_secs(1),
                tls: Duration::from_secs(2),
                http: Duration::from_secs(2),
            },
            app_timeout: Duration::from_secs(10),
            ..MessagingConfig::default()
        }
    }
}

/// Endpoints on loopback: chat endpoints and Facebook services on `tcp_port`, every HTTPS URL
/// on `https_port`, Telegram's data centres at `dc`.
fn endpoints(tcp_port: u16, https_port: u16, dc: SocketAddr) -> MessagingEndpoints {
    let mut endpoints = MessagingEndpoints::default();
    endpoints.whatsapp.endpoints = ["e1.whatsapp.test", "e2.whatsapp.test"]
        .into_iter()
        .map(|host| HostPort {
            host: host.to_string(),
            port: tcp_port,
        })
        .collect();
    endpoints.whatsapp.registration_url =
        format!("https://v.whatsapp.test:{https_port}/v2/register");
    endpoints.whatsapp.web_url = format!("https://web.whatsapp.test:{https_port}/");
    endpoints.telegram.datacenters = vec![dc, dc];
    endpoints.telegram.web_url = format!("https://web.telegram.test:{https_port}/");
    endpoints.signal.urls = vec![
        format!("https://cdsi.signal.test:{https_port}/"),
        format!("https://chat.signal.test:{https_port}/"),
    ];
    endpoints.signal.dns_only = vec!["uptime.signal.test".to_string()];
    let service = |service: &str, host: &str, port: Option<u16>| FacebookService {
        service: service.to_string(),
        host: host.to_string(),
        port,
    };
    endpoints.facebook_messenger.services = vec![
        service("stun", "stun.fbsbx.test", None),
        service("b_api", "b-api.facebook.test", Some(tcp_port)),
        service("edge", "edge-mqtt.facebook.test", Some(tcp_port)),
        service("star", "star.c10r.facebook.test", Some(tcp_port)),
    ];
    endpoints.facebook_messenger.expected_networks = vec!["127.0.0.0/8".to_string()];
    endpoints
}

async fn measure(config: &MessagingConfig, app: App) -> AppResult {
    measure_app(
        config,
        app,
        OffsetDateTime::now_utc(),
        &CancellationToken::new(),
    )
    .await
    .unwrap_or_else(|e| panic!("{app}: {e}"))
}

fn keys(result: &AppResult) -> &serde_json::Map<String, Value> {
    result.measurement.test_keys.as_object().expect("test keys")
}

fn assert_verdict(result: &AppResult, status: AppStatus, step: Option<BlockedStep>) {
    assert_eq!(
        (result.verdict.status, result.verdict.step),
        (status, step),
        "{}: {:#?}",
        result.app,
        keys(result)
    );
    let tk = keys(result);
    assert_eq!(tk["x_status"], status.as_str());
    assert_eq!(
        tk["x_blocked_step"],
        step.map_or(Value::Null, |s| s.as_str().into())
    );
}

#[tokio::test]
async fn every_app_is_ok_when_every_endpoint_answers() {
    let lab = Lab::start().await;
    let config = lab.config(endpoints(
        lab.http.addr.port(),
        lab.https.addr.port(),
        lab.http.addr,
    ));
    for app in App::ALL {
        let result = measure(&config, app).await;
        assert_verdict(&result, AppStatus::Ok, None);
        assert!(
            result.explanation.contains("reached all"),
            "{}",
            result.explanation
        );
        assert_eq!(result.measurement.test_name, app.test_name());
        assert_eq!(result.measurement.test_version, app.test_version());
        assert!(result.measurement.input.is_none());
    }
    let whatsapp = measure(&config, App::WhatsApp).await;
    let tk = keys(&whatsapp);
    assert_eq!(tk["whatsapp_endpoints_status"], "ok");
    assert_eq!(tk["whatsapp_endpoints_blocked"], serde_json::json!([]));
    assert_eq!(tk["registration_server_status"], "ok");
    assert_eq!(tk["whatsapp_web_status"], "ok");
    assert_eq!(
        tk["tcp_connect"].as_array().unwrap().len(),
        4,
        "two endpoints and two fetches"
    );

    let telegram = measure(&config, App::Telegram).await;
    let tk = keys(&telegram);
    assert_eq!(tk["telegram_tcp_blocking"], false);
    assert_eq!(tk["telegram_http_blocking"], false);
    assert_eq!(tk["telegram_web_status"], "ok");
    let posts: Vec<&Value> = tk["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["request"]["method"] == "POST")
        .collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0]["response"]["code"], 200);

    let signal = measure(&config, App::Signal).await;
    assert_eq!(keys(&signal)["signal_backend_status"], "ok");
    assert!(
        keys(&signal)["queries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["hostname"] == "uptime.signal.test"),
        "the DNS-only name is looked up"
    );

    let facebook = measure(&config, App::FacebookMessenger).await;
    let tk = keys(&facebook);
    assert_eq!(tk["facebook_dns_blocking"], false);
    assert_eq!(tk["facebook_tcp_blocking"], false);
    assert_eq!(tk["facebook_b_api_reachable"], true);
    assert_eq!(tk["facebook_stun_reachable"], Value::Null);
    assert_eq!(tk["facebook_stun_dns_consistent"], true);
}

#[tokio::test]
async fn refused_connections_block_every_app_at_tcp() {
    let lab = Lab::start().await;
    let closed = closed_port();
    let config = lab.config(endpoints(
        closed,
        closed,
        SocketAddr::from(([127, 0, 0, 1], closed)),
    ));
    for app in App::ALL {
        let result = measure(&config, app).await;
        assert_verdict(&result, AppStatus::Blocked, Some(BlockedStep::Tcp));
        assert_eq!(
            result
                .verdict
                .failure
                .as_ref()
                .map(|f| f.to_string())
                .as_deref(),
            Some("connection_refused")
        );
        assert!(
            result.explanation.contains("appears blocked"),
            "{}",
            result.explanation
        );
    }
    let whatsapp = measure(&config, App::WhatsApp).await;
    let tk = keys(&whatsapp);
    assert_eq!(tk["whatsapp_endpoints_status"], "blocked");
    assert_eq!(
        tk["whatsapp_endpoints_blocked"],
        serde_json::json!(["e1.whatsapp.test", "e2.whatsapp.test"])
    );
    assert_eq!(tk["registration_server_failure"], "connection_refused");
    let telegram = measure(&config, App::Telegram).await;
    assert_eq!(keys(&telegram)["telegram_tcp_blocking"], true);
    assert_eq!(keys(&telegram)["telegram_http_blocking"], true);
    let facebook = measure(&config, App::FacebookMessenger).await;
    assert_eq!(keys(&facebook)["facebook_tcp_blocking"], true);
    assert_eq!(keys(&facebook)["facebook_b_api_reachable"], false);
}

#[tokio::test]
async fn connections_that_time_out_block_at_tcp_within_the_bounds() {
    let lab = Lab::start().await;
    let hole = BlackholeEndpoint::start();
    let config = lab.config(endpoints(hole.addr.port(), hole.addr.port(), hole.addr));
    for app in [App::WhatsApp, App::Telegram, App::FacebookMessenger] {
        let result = measure(&config, app).await;
        assert_verdict(&result, AppStatus::Blocked, Some(BlockedStep::Tcp));
        assert_eq!(
            result
                .verdict
                .failure
                .as_ref()
                .map(|f| f.to_string())
                .as_deref(),
            Some("generic_timeout_error")
        );
        // Generous: the connect timeout is 1 s, the app's bound 10 s.
        assert!(
            result.runtime < Duration::from_secs(10),
            "{:?}",
            result.runtime
        );
    }
}

#[tokio::test]
async fn the_whole_app_is_cut_at_its_deadline() {
    let lab = Lab::start().await;
    let hole = BlackholeEndpoint::start();
    let mut config = lab.config(endpoints(hole.addr.port(), hole.addr.port(), hole.addr));
    config.timeouts.connect = Duration::from_secs(30);
    config.app_timeout = Duration::from_millis(500);
    let result = measure(&config, App::WhatsApp).await;
    assert_verdict(&result, AppStatus::Blocked, Some(BlockedStep::Tcp));
    assert!(
        result.runtime < Duration::from_secs(10),
        "{:?}",
        result.runtime
    );
}

#[tokio::test]
async fn an_untrusted_certificate_fails_at_tls() {
    let lab = Lab::start().await;
    let rogue = TestCa::new("Rogue CA", "Nobody");
    let fake = WebServer::https(
        Routes::new().fallback(Route::Page {
            status: 200,
            body: "intercepted".to_string(),
        }),
        &rogue.leaf(&NAMES),
    )
    .await;
    let config = lab.config(endpoints(
        lab.http.addr.port(),
        fake.addr.port(),
        lab.http.addr,
    ));
    // WhatsApp's chat endpoints and Telegram's data centres still answer: partially blocked.
    for app in [App::WhatsApp, App::Telegram] {
        let result = measure(&config, app).await;
        assert_verdict(&result, AppStatus::PartiallyBlocked, Some(BlockedStep::Tls));
        assert!(
            result.explanation.contains("partially"),
            "{}",
            result.explanation
        );
    }
    let signal = measure(&config, App::Signal).await;
    assert_verdict(&signal, AppStatus::Blocked, Some(BlockedStep::Tls));
    assert_eq!(keys(&signal)["signal_backend_status"], "blocked");
    assert_eq!(
        keys(&signal)["signal_backend_failure"],
        "ssl_unknown_authority"
    );
    let handshakes = keys(&signal)["tls_handshakes"].as_array().unwrap().clone();
    assert!(!handshakes.is_empty());
    assert!(handshakes
        .iter()
        .all(|h| h["failure"] == "ssl_unknown_authority"
            && h["peer_certificates"]
                .as_array()
                .is_some_and(|c| !c.is_empty())));
    let whatsapp = measure(&config, App::WhatsApp).await;
    assert_eq!(
        keys(&whatsapp)["whatsapp_web_failure"],
        "ssl_unknown_authority"
    );
    assert_eq!(keys(&whatsapp)["whatsapp_endpoints_status"], "ok");
}

#[tokio::test]
async fn a_reset_handshake_fails_at_tls() {
    let lab = Lab::start().await;
    let reset = BadServer::start(Misbehaviour::ResetAfterFirstRead).await;
    let config = lab.config(endpoints(
        lab.http.addr.port(),
        reset.addr.port(),
        lab.http.addr,
    ));
    let signal = measure(&config, App::Signal).await;
    assert_verdict(&signal, AppStatus::Blocked, Some(BlockedStep::Tls));
    assert_eq!(keys(&signal)["signal_backend_failure"], "connection_reset");
}

#[tokio::test]
async fn failing_dns_answers_block_at_dns() {
    let lab = Lab::start().await;
    for name in NAMES {
        lab.zone.set(name, Behaviour::NxDomain);
    }
    let config = lab.config(endpoints(
        lab.http.addr.port(),
        lab.https.addr.port(),
        lab.http.addr,
    ));
    for app in [App::WhatsApp, App::Signal, App::FacebookMessenger] {
        let result = measure(&config, app).await;
        assert_verdict(&result, AppStatus::Blocked, Some(BlockedStep::Dns));
        assert_eq!(
            result
                .verdict
                .failure
                .as_ref()
                .map(|f| f.to_string())
                .as_deref(),
            Some("dns_nxdomain_error")
        );
    }
    // Telegram's data centres are reached by address: only its web version is affected.
    let telegram = measure(&config, App::Telegram).await;
    assert_verdict(
        &telegram,
        AppStatus::PartiallyBlocked,
        Some(BlockedStep::Dns),
    );
    assert_eq!(
        keys(&telegram)["telegram_web_failure"],
        "dns_nxdomain_error"
    );
    let facebook = measure(&config, App::FacebookMessenger).await;
    assert_eq!(keys(&facebook)["facebook_dns_blocking"], true);
    assert_eq!(keys(&facebook)["facebook_b_api_reachable"], Value::Null);
}

#[tokio::test]
async fn facebook_addresses_outside_its_networks_are_dns_tampering() {
    let lab = Lab::start().await;
    let mut endpoints = endpoints(lab.http.addr.port(), lab.https.addr.port(), lab.http.addr);
    endpoints.facebook_messenger.expected_networks = vec!["157.240.0.0/16".to_string()];
    let config = lab.config(endpoints);
    let facebook = measure(&config, App::FacebookMessenger).await;
    assert_verdict(&facebook, AppStatus::Blocked, Some(BlockedStep::Dns));
    assert_eq!(keys(&facebook)["facebook_b_api_dns_consistent"], false);
}

#[tokio::test]
async fn signal_trusts_its_pinned_roots() {
    let lab = Lab::start().await;
    let mut endpoints = endpoints(lab.http.addr.port(), lab.https.addr.port(), lab.http.addr);
    let mut config = lab.config(endpoints.clone());
    // Without the lab CA in the general roots, Signal fails...
    config.trust = TrustAnchors::bundled();
    let result = measure(&config, App::Signal).await;
    assert_verdict(&result, AppStatus::Blocked, Some(BlockedStep::Tls));
    // ...and with it as Signal's pinned root, Signal works.
    endpoints.signal.roots_pem = Some(lab.ca.cert_pem.clone());
    config.endpoints = endpoints;
    let result = measure(&config, App::Signal).await;
    assert_verdict(&result, AppStatus::Ok, None);
}

#[tokio::test]
async fn cancellation_stops_an_app() {
    let lab = Lab::start().await;
    let hole = BlackholeEndpoint::start();
    let mut config = lab.config(endpoints(hole.addr.port(), hole.addr.port(), hole.addr));
    config.timeouts.connect = Duration::from_secs(30);
    config.app_timeout = Duration::from_secs(30);
    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stopper.cancel();
    });
    let started = std::time::Instant::now();
    let error = measure_app(&config, App::WhatsApp, OffsetDateTime::now_utc(), &cancel)
        .await
        .expect_err("cancelled");
    assert_eq!(error, MessagingError::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn bad_configurations_are_refused() {
    let mut config = MessagingConfig::default();
    config.endpoints.signal.urls = vec!["ftp://signal.test/".to_string()];
    let error = measure_app(
        &config,
        App::Signal,
        OffsetDateTime::now_utc(),
        &CancellationToken::new(),
    )
    .await
    .expect_err("refused");
    assert!(
        matches!(error, MessagingError::InvalidConfig(_)),
        "{error:?}"
    );
}

// --- OONI shape ------------------------------------------------------------------------------

/// Where OONI's IM samples are: `shared/` lives beside the repository checkout.
fn im_samples_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/ooni-samples/im");
    assert!(
        dir.is_dir(),
        "OONI IM samples not found at {}: the shape tests need the shared data directory \
         beside the checkout; they fail rather than skip.",
        dir.display()
    );
    dir
}

/// `0.10.0` -> (0, 10, 0).
fn version_key(version: &str) -> Vec<u64> {
    version
        .split('.')
        .map(|part| part.parse().unwrap_or(0))
        .collect()
}

/// The newest sample (highest `test_version`) of `test_name`.
fn newest_sample(test_name: &str) -> Value {
    let mut samples: Vec<Value> = std::fs::read_dir(im_samples_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            serde_json::from_str::<Value>(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .filter(|sample| sample["test_name"] == test_name)
        .collect();
    assert!(!samples.is_empty(), "no OONI sample of {test_name}");
    samples.sort_by_key(|s| version_key(s["test_version"].as_str().unwrap_or_default()));
    samples.pop().unwrap()
}

/// A JSON value's type name; `null` matches anything (OONI writes null for unset values).
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[tokio::test]
async fn measurements_have_the_shape_of_ooni_samples() {
    let lab = Lab::start().await;
    // The real services' names and Facebook's seven services, so the key set can match; all
    // resolved by the lab DNS (NXDOMAIN) and never contacted.
    let mut endpoints = endpoints(lab.http.addr.port(), lab.https.addr.port(), lab.http.addr);
    endpoints.facebook_messenger = kuzet_core::experiment::messaging::FacebookEndpoints {
        services: MessagingEndpoints::default()
            .facebook_messenger
            .services
            .into_iter()
            .map(|mut service| {
                service.host = format!("{}.test", service.service.replace('_', "-"));
                if service.port.is_some() {
                    service.port = Some(lab.http.addr.port());
                }
                service
            })
            .collect(),
        expected_networks: vec!["127.0.0.0/8".to_string()],
    };
    let config = lab.config(endpoints);
    for app in App::ALL {
        let result = measure(&config, app).await;
        let ours = serde_json::to_value(&result.measurement).unwrap();
        let envelope: BTreeSet<&str> = ours
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let base: BTreeSet<&str> = BASE_KEYS.into_iter().collect();
        let unknown: Vec<_> = envelope.difference(&base).collect();
        assert!(
            unknown.is_empty(),
            "{app}: envelope keys outside OONI's: {unknown:?}"
        );
        for key in [
            "test_keys",
            "test_name",
            "test_version",
            "input",
            "data_format_version",
        ] {
            assert!(envelope.contains(key), "{app}: no {key}");
        }

        let sample = newest_sample(app.test_name());
        let theirs = sample["test_keys"].as_object().unwrap();
        let ours_keys = ours["test_keys"].as_object().unwrap();
        let ours_set: BTreeSet<&str> = ours_keys
            .keys()
            .map(String::as_str)
            .filter(|key| !key.starts_with("x_"))
            .collect();
        let theirs_set: BTreeSet<&str> = theirs.keys().map(String::as_str).collect();
        assert_eq!(
            ours_set, theirs_set,
            "{app}: test_keys differ from OONI's {} sample",
            sample["test_version"]
        );
        let mut mismatched = BTreeMap::new();
        for key in &theirs_set {
            let (a, b) = (type_name(&ours_keys[*key]), type_name(&theirs[*key]));
            if a != b && a != "null" && b != "null" {
                mismatched.insert(*key, (a, b));
            }
        }
        assert!(
            mismatched.is_empty(),
            "{app}: types differ (ours, OONI's): {mismatched:?}"
        );
    }
}
