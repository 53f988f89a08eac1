//! The connectivity check's probes against local servers on loopback: anchors by name (through
//! a fixture resolver) and by pinned IP, TLS handshakes against a test CA, the captive check,
//! re-checks, byte counting, and the monitor's timeline and queue in a temporary store.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use kuzet_core::experiment::connectivity::{
    check_connectivity, Anchor, AnchorProbe, CaptiveCheckConfig, ConnectivityConfig,
    ConnectivityMonitor, RecordPolicy,
};
use kuzet_core::experiment::connectivity::{
    AnchorGroup, ConnectivityStatus, PlatformState, Transport,
};
use kuzet_core::net::trust::TrustAnchors;
use kuzet_core::report::ProbeNetwork;
use kuzet_core::store::{DeliveryState, Store, StorePolicy};
use kuzet_e2e::fixtures::dns::{Behaviour, UdpDnsServer, Zone};
use kuzet_e2e::fixtures::pki::TestCa;
use kuzet_e2e::fixtures::tcp::{closed_port, BlackholeEndpoint};
use kuzet_e2e::fixtures::web::{Routes, WebServer};
use tokio_util::sync::CancellationToken;

/// Local anchors: `domestic` and `international` TLS servers, a captive endpoint, a resolver.
struct Net {
    _servers: Vec<WebServer>,
    dns: UdpDnsServer,
    zone: Zone,
    ca: TestCa,
    domestic: Vec<SocketAddr>,
    international: Vec<SocketAddr>,
    captive: WebServer,
}

async fn net(domestic: usize, international: usize, captive: Routes) -> Net {
    let ca = TestCa::new("Kuzet Test CA", "Kuzet tests");
    let zone = Zone::new();
    let mut servers = Vec::new();
    let (mut dom, mut int) = (Vec::new(), Vec::new());
    for (group, n) in [("dom", domestic), ("int", international)] {
        for i in 0..n {
            let name = format!("{group}{i}.anchor.test");
            let leaf = ca.leaf(&[&name]);
            let server = WebServer::https(Routes::new().page("/", 200, "anchor"), &leaf).await;
            zone.set(&name, Behaviour::addresses(&[Ipv4Addr::LOCALHOST], &[]));
            if group == "dom" {
                dom.push(server.addr);
            } else {
                int.push(server.addr);
            }
            servers.push(server);
        }
    }
    let captive = WebServer::http(captive).await;
    zone.set(
        "captive.anchor.test",
        Behaviour::addresses(&[Ipv4Addr::LOCALHOST], &[]),
    );
    let dns = UdpDnsServer::start(zone.clone()).await;
    Net {
        _servers: servers,
        dns,
        zone,
        ca,
        domestic: dom,
        international: int,
        captive,
    }
}

fn anchor(name: &str, group: AnchorGroup, port: u16, pinned: bool) -> Anchor {
    Anchor {
        name: name.to_string(),
        group,
        operator: format!("op {name}"),
        pinned_ips: if pinned {
            vec![Ipv4Addr::LOCALHOST.into()]
        } else {
            Vec::new()
        },
        port,
        probe: AnchorProbe::TlsHandshake,
    }
}

fn config(net: &Net) -> ConnectivityConfig {
    let mut anchors = Vec::new();
    for (group, prefix, addrs) in [
        (AnchorGroup::Domestic, "dom", &net.domestic),
        (AnchorGroup::International, "int", &net.international),
    ] {
        for (i, addr) in addrs.iter().enumerate() {
            anchors.push(anchor(
                &format!("{prefix}{i}.anchor.test"),
                group,
                addr.port(),
                true,
            ));
        }
    }
    let mut config = ConnectivityConfig::empty();
    config.anchors = anchors;
    config.captive_check = Some(CaptiveCheckConfig {
        url: format!(
            "http://captive.anchor.test:{}/generate_204",
            net.captive.addr.port()
        ),
        expect_status: 204,
        expect_body_contains: None,
    });
    config.resolver = format!("udp://{}", net.dns.addr);
    config.timeouts.dns = Duration::from_millis(800);
    config.timeouts.probe = Duration::from_millis(800);
    config.rechecks.count = 1;
    config.rechecks.delay = Duration::from_millis(50);
    config.trust = TrustAnchors::bundled_with_pem(net.ca.cert_pem.as_bytes()).unwrap();
    config.network = ProbeNetwork {
        probe_asn: "AS9198".to_string(),
        probe_cc: "KZ".to_string(),
        ..ProbeNetwork::default()
    };
    config
}

fn wired() -> PlatformState {
    PlatformState {
        transport: Transport::Ethernet,
        ..PlatformState::default()
    }
}

fn generate_204() -> Routes {
    Routes::new().page("/generate_204", 204, "")
}

#[tokio::test]
async fn everything_reachable_is_ok_for_a_few_kb() {
    let net = net(2, 2, generate_204()).await;
    let outcome = check_connectivity(&config(&net), &wired(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        outcome.status,
        ConnectivityStatus::Ok,
        "{:?}",
        outcome.evidence
    );
    assert_eq!(outcome.rechecks(), 0);
    let round = outcome.last_round.as_ref().unwrap();
    for anchor in &round.anchors {
        assert!(anchor.by_name.ok, "{anchor:?}");
        let by_ip = anchor.by_ip.as_ref().unwrap();
        // The name answered, so the pinned address was only connected to.
        assert!(by_ip.ok && by_ip.handshake_skipped, "{anchor:?}");
    }
    assert_eq!(round.resolver.answered, 4);
    assert!(outcome.bytes.received > 0 && outcome.bytes.sent > 0);
    assert!(outcome.bytes.total < 50_000, "{:?}", outcome.bytes);
    let keys = &outcome.measurement.test_keys;
    assert_eq!(keys["x_status"], "ok");
    assert_eq!(keys["anchors"].as_array().unwrap().len(), 4);
    assert_eq!(keys["captive_check"]["result"]["kind"], "expected");
    assert_eq!(outcome.measurement.test_name, "kuzet_connectivity");
    assert_eq!(outcome.measurement.input, None);
}

#[tokio::test]
async fn refused_abroad_is_an_international_cut_after_a_recheck() {
    let net = net(2, 0, generate_204()).await;
    let mut config = config(&net);
    // Two "foreign" anchors whose port refuses connections (a closed port on loopback).
    let port = closed_port();
    for i in 0..2 {
        let name = format!("abroad{i}.anchor.test");
        net.zone
            .set(&name, Behaviour::addresses(&[Ipv4Addr::LOCALHOST], &[]));
        config
            .anchors
            .push(anchor(&name, AnchorGroup::International, port, true));
    }
    let outcome = check_connectivity(&config, &wired(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome.status, ConnectivityStatus::InternationalCut);
    assert_eq!(outcome.rechecks(), 1);
    assert!(outcome
        .evidence
        .iter()
        .any(|e| e.contains("this device observed")));
    let abroad = &outcome.last_round.as_ref().unwrap().anchors[2];
    assert_eq!(
        abroad.result().failure.map(|f| f.to_string()).as_deref(),
        Some("connection_refused")
    );
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_still_reached_by_its_pinned_ip() {
    let net = net(2, 2, generate_204()).await;
    net.zone.set("dom0.anchor.test", Behaviour::NxDomain);
    let outcome = check_connectivity(&config(&net), &wired(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome.status, ConnectivityStatus::Ok);
    let dom0 = &outcome.last_round.as_ref().unwrap().anchors[0];
    assert!(!dom0.by_name.ok);
    assert_eq!(
        dom0.by_name
            .failure
            .as_ref()
            .map(|f| f.to_string())
            .as_deref(),
        Some("dns_nxdomain_error")
    );
    let by_ip = dom0.by_ip.as_ref().unwrap();
    // The name failed, so the pinned address got the full handshake.
    assert!(by_ip.ok && !by_ip.handshake_skipped, "{dom0:?}");
    assert_eq!(outcome.last_round.as_ref().unwrap().resolver.answered, 3);
}

#[tokio::test]
async fn a_redirected_captive_check_is_captive_or_injection() {
    let routes = Routes::new().redirect("/generate_204", 302, "http://portal.example/login?x=1");
    let net = net(1, 1, routes).await;
    let outcome = check_connectivity(&config(&net), &wired(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome.status, ConnectivityStatus::CaptiveOrInjection);
    assert!(outcome
        .evidence
        .iter()
        .any(|e| e.contains("redirected to portal.example")));
    let text = outcome.measurement.test_keys.to_string();
    assert!(!text.contains("login?x=1"), "only the host is kept: {text}");
}

#[tokio::test]
async fn silence_everywhere_is_a_blackout_bounded_by_the_timeouts() {
    let hole = BlackholeEndpoint::start();
    let net = net(0, 0, generate_204()).await;
    let mut config = config(&net);
    config.captive_check = None;
    for (i, group) in [AnchorGroup::Domestic, AnchorGroup::International]
        .into_iter()
        .enumerate()
    {
        let name = format!("hole{i}.anchor.test");
        net.zone
            .set(&name, Behaviour::addresses(&[Ipv4Addr::LOCALHOST], &[]));
        config
            .anchors
            .push(anchor(&name, group, hole.addr.port(), true));
    }
    let started = std::time::Instant::now();
    let outcome = check_connectivity(&config, &wired(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome.status, ConnectivityStatus::DataBlackout);
    assert_eq!(outcome.rounds.len(), 2);
    // Two rounds of one probe timeout each, plus the pause: generous bound.
    assert!(started.elapsed() < Duration::from_secs(10));
    let failure = outcome.last_round.as_ref().unwrap().anchors[0]
        .result()
        .failure
        .unwrap();
    assert!(failure.is_timeout(), "{failure}");
}

#[tokio::test]
async fn the_monitor_records_transitions_and_queues_them() {
    let net = net(1, 1, generate_204()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StorePolicy::default()).unwrap();
    let config = config(&net);
    let cancel = CancellationToken::new();

    let first = check_connectivity(&config, &wired(), &cancel)
        .await
        .unwrap();
    let monitor = ConnectivityMonitor::new(&store);
    let recording = monitor
        .record(&first, RecordPolicy::Transitions, None)
        .unwrap();
    let transition = recording
        .transition
        .expect("the first check is a transition");
    assert_eq!(
        (transition.from, transition.to),
        (None, ConnectivityStatus::Ok)
    );
    assert_eq!(transition.at_ms, first.observed_at_ms);

    // The same status again: nothing recorded.
    let again = check_connectivity(&config, &wired(), &cancel)
        .await
        .unwrap();
    let recording = monitor
        .record(&again, RecordPolicy::Transitions, None)
        .unwrap();
    assert!(recording.transition.is_none() && recording.measurement.is_none());

    // The link goes: a transition, queued with the previous status.
    let offline = PlatformState {
        transport: Transport::None,
        ..PlatformState::default()
    };
    let down = check_connectivity(&config, &offline, &cancel)
        .await
        .unwrap();
    let recording = monitor
        .record(&down, RecordPolicy::Transitions, None)
        .unwrap();
    let measurement = recording.measurement.expect("queued");
    assert_eq!(measurement.test_keys["x_previous_status"], "ok");
    assert_eq!(measurement.test_keys["x_status"], "local_link");
    assert_eq!(measurement.test_keys["x_transition"]["to"], "local_link");

    let timeline = monitor.transitions(None, 10).unwrap();
    let statuses: Vec<&str> = timeline.iter().map(|t| t.status.as_str()).collect();
    assert_eq!(statuses, ["ok", "local_link"]);
    assert_eq!(
        monitor.last_status().unwrap().map(|(s, _)| s),
        Some(ConnectivityStatus::LocalLink)
    );
    for t in &timeline {
        assert!(!t.evidence.to_string().contains("127.0.0.1"), "{t:?}");
    }
    let queued = store.queue(&[DeliveryState::Pending], 10).unwrap();
    assert_eq!(queued.len(), 2);
    let stored = store
        .measurement(measurement.id.as_deref().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(stored.test_name, "kuzet_connectivity");
    assert_eq!(stored.test_keys["x_previous_status"], "ok");
}
