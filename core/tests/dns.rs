//! DNS lookups against loopback UDP, DoH and DoT servers (kuzet-e2e fixtures) and the system
//! resolver. Nothing here sends traffic beyond 127.0.0.1.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hickory_proto::op::Message;
use kuzet_core::failure::Failure;
use kuzet_core::net::trust::TrustAnchors;
use kuzet_core::probe::dns::{dns_lookup, DnsLookup, DnsOptions, DnsTransport};
use kuzet_core::probe::Flow;
use kuzet_core::report::observations::DnsQuery;
use kuzet_core::MeasurementClock;
use kuzet_e2e::fixtures::dns::{Behaviour, Records, UdpDnsServer, Zone};
use kuzet_e2e::fixtures::dns_tls::{DohServer, DotServer};
use kuzet_e2e::fixtures::pki::TestCa;
use kuzet_e2e::fixtures::tcp::closed_addr;

const TIMEOUT: Duration = Duration::from_millis(300);
const WINDOW: Duration = Duration::from_millis(300);

fn v4(text: &str) -> Ipv4Addr {
    text.parse().expect("IPv4")
}

fn v6(text: &str) -> Ipv6Addr {
    text.parse().expect("IPv6")
}

fn flow() -> Flow {
    let clock = MeasurementClock::start();
    // Burn one id so that the flow's id is not the clock's first.
    let _ = clock.next_transaction_id();
    Flow::new(&clock, vec!["depth=0".to_string(), "dns_test".to_string()])
}

fn options(trust: TrustAnchors) -> DnsOptions {
    DnsOptions {
        timeout: TIMEOUT,
        late_reply_window: WINDOW,
        trust,
        ..DnsOptions::default()
    }
}

/// The behaviour table every test server serves.
fn zone() -> Zone {
    let zone = Zone::new();
    zone.set(
        "ok.test",
        Behaviour::addresses(&[v4("10.0.0.1"), v4("10.0.0.2")], &[v6("2001:db8::1")]),
    )
    .set("v4only.test", Behaviour::addresses(&[v4("10.0.0.3")], &[]))
    .set(
        "alias.test",
        Behaviour::Answer(Records {
            a: vec![v4("10.0.0.4")],
            aaaa: vec![],
            cname: Some("target.example.".to_string()),
            ttl: 60,
        }),
    )
    .set("nx.test", Behaviour::NxDomain)
    .set("refused.test", Behaviour::Refused)
    .set("servfail.test", Behaviour::ServFail)
    .set("empty.test", Behaviour::no_answer())
    .set("drop.test", Behaviour::Drop)
    .set("garbage.test", Behaviour::Garbage)
    .set(
        "wrongid.test",
        Behaviour::WrongId(Box::new(Behaviour::addresses(&[v4("10.9.9.9")], &[]))),
    )
    .set(
        "injected.test",
        Behaviour::injected(
            Behaviour::addresses(&[v4("10.10.34.34")], &[]),
            Behaviour::addresses(&[v4("93.184.216.34")], &[v6("2606:2800:220:1::1")]),
            Duration::from_millis(100),
        ),
    )
    .set(
        "twice.test",
        Behaviour::Several(vec![
            Behaviour::addresses(&[v4("10.0.0.5")], &[]),
            Behaviour::addresses(&[v4("10.0.0.5")], &[]),
        ]),
    )
    .set(
        "wrongid-then-ok.test",
        Behaviour::Several(vec![
            Behaviour::WrongId(Box::new(Behaviour::addresses(&[v4("10.6.6.6")], &[]))),
            Behaviour::Delayed(
                Duration::from_millis(50),
                Box::new(Behaviour::addresses(&[v4("10.0.0.6")], &[])),
            ),
        ]),
    )
    .set("oversized.test", Behaviour::Raw(vec![0u8; 5000]))
    .set(
        "flood.test",
        Behaviour::Several(vec![Behaviour::addresses(&[v4("10.0.0.8")], &[]); 40]),
    )
    .set("status.test", Behaviour::HttpStatus(500))
    .set(
        "ctype.test",
        Behaviour::ContentType(
            "text/html".to_string(),
            Box::new(Behaviour::addresses(&[v4("10.0.0.7")], &[])),
        ),
    );
    zone
}

/// A CA, the trust anchors that accept it, and a leaf for 127.0.0.1 and `dns.test`.
struct Pki {
    trust: TrustAnchors,
    leaf: kuzet_e2e::fixtures::pki::TestLeaf,
}

fn pki() -> Pki {
    let ca = TestCa::new("Kuzet DNS Test CA", "Kuzet tests");
    let trust = TrustAnchors::bundled_with_pem(ca.cert_pem.as_bytes()).expect("trust the test CA");
    Pki {
        trust,
        leaf: ca.leaf(&["127.0.0.1", "dns.test"]),
    }
}

/// The three network transports, each served by its own fixture on loopback.
struct Servers {
    _udp: UdpDnsServer,
    _doh: DohServer,
    _dot: DotServer,
    zone: Zone,
    transports: Vec<DnsTransport>,
    trust: TrustAnchors,
}

async fn servers() -> Servers {
    let zone = zone();
    let pki = pki();
    let udp = UdpDnsServer::start(zone.clone()).await;
    let doh = DohServer::start(zone.clone(), &pki.leaf).await;
    let dot = DotServer::start(zone.clone(), &pki.leaf).await;
    let transports = vec![
        DnsTransport::Udp { server: udp.addr },
        DnsTransport::Doh {
            url: doh.url().parse().expect("DoH URL"),
        },
        DnsTransport::Dot {
            server: dot.addr,
            server_name: "127.0.0.1".to_string(),
        },
    ];
    Servers {
        _udp: udp,
        _doh: doh,
        _dot: dot,
        zone,
        transports,
        trust: pki.trust,
    }
}

/// Checks the fields every entry of this lookup must carry.
fn assert_common(query: &DnsQuery, flow: &Flow, transport: &DnsTransport, domain: &str) {
    assert_eq!(query.engine, transport.engine());
    assert_eq!(query.resolver_address, transport.address());
    assert_eq!(query.hostname, domain);
    assert_eq!(query.tags, flow.tags);
    assert_eq!(query.transaction_id, flow.transaction_id);
    assert!(query.t0 <= query.t, "t0 {} > t {}", query.t0, query.t);
    assert!(query.t0 >= 0.0);
}

/// Decodes `raw_response`.
fn raw_message(query: &DnsQuery) -> Message {
    let raw = query.raw_response.as_deref().expect("raw_response");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .expect("base64");
    Message::from_vec(&bytes).expect("a DNS message")
}

async fn lookup(
    flow: &Flow,
    transport: &DnsTransport,
    domain: &str,
    options: &DnsOptions,
) -> DnsLookup {
    dns_lookup(flow, transport, domain, options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_transport_resolves_a_and_aaaa() {
    let servers = servers().await;
    let options = options(servers.trust.clone());
    for transport in &servers.transports {
        let flow = flow();
        let result = lookup(&flow, transport, "ok.test", &options).await;
        let name = transport.engine();
        assert_eq!(result.failure, None, "{name}");
        assert_eq!(
            result.addresses,
            vec![
                IpAddr::V4(v4("10.0.0.1")),
                IpAddr::V4(v4("10.0.0.2")),
                IpAddr::V6(v6("2001:db8::1")),
            ],
            "{name}"
        );
        assert_eq!(result.queries.len(), 2, "{name}");
        let (a, aaaa) = (&result.queries[0], &result.queries[1]);
        for query in [a, aaaa] {
            assert_common(query, &flow, transport, "ok.test");
            assert_eq!(query.failure, None, "{name}");
        }
        assert_eq!(a.query_type, "A");
        assert_eq!(aaaa.query_type, "AAAA");
        assert_eq!(a.answers.len(), 2);
        assert_eq!(a.answers[0].answer_type, "A");
        assert_eq!(a.answers[0].ipv4.as_deref(), Some("10.0.0.1"));
        assert_eq!(a.answers[0].ttl, Some(300));
        assert_eq!(a.answers[1].ipv4.as_deref(), Some("10.0.0.2"));
        assert_eq!(aaaa.answers.len(), 1);
        assert_eq!(aaaa.answers[0].answer_type, "AAAA");
        assert_eq!(aaaa.answers[0].ipv6.as_deref(), Some("2001:db8::1"));
        assert_eq!(aaaa.answers[0].ipv4, None);
        let message = raw_message(a);
        assert_eq!(message.answers.len(), 2);
        assert_eq!(message.queries[0].name.to_ascii(), "ok.test.");
        assert!(result.late_replies.collect().await.is_empty(), "{name}");
    }
    transports_address_shapes(&servers);
}

/// `resolver_address` as OONI writes it.
fn transports_address_shapes(servers: &Servers) {
    for transport in &servers.transports {
        let address = transport.address();
        match transport {
            DnsTransport::Udp { server } | DnsTransport::Dot { server, .. } => {
                assert_eq!(address, format!("127.0.0.1:{}", server.port()));
            }
            DnsTransport::Doh { .. } => {
                assert!(address.starts_with("https://127.0.0.1:"), "{address}");
                assert!(address.ends_with("/dns-query"), "{address}");
            }
            DnsTransport::System => unreachable!(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_answers_and_cnames() {
    let servers = servers().await;
    let options = options(servers.trust.clone());
    for transport in &servers.transports {
        let flow = flow();
        let name = transport.engine();
        let result = lookup(&flow, transport, "v4only.test", &options).await;
        assert_eq!(result.failure, None, "{name}");
        assert_eq!(result.addresses, vec![IpAddr::V4(v4("10.0.0.3"))]);
        assert_eq!(result.queries[0].failure, None);
        assert_eq!(
            result.queries[1].failure,
            Some(Failure::DnsNoAnswer),
            "{name}"
        );

        let result = lookup(&flow, transport, "alias.test", &options).await;
        assert_eq!(result.addresses, vec![IpAddr::V4(v4("10.0.0.4"))], "{name}");
        let answers = &result.queries[0].answers;
        assert_eq!(answers[0].answer_type, "CNAME");
        assert_eq!(answers[0].hostname.as_deref(), Some("target.example."));
        assert_eq!(answers[0].ttl, Some(60));
        assert_eq!(answers[1].ipv4.as_deref(), Some("10.0.0.4"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rcodes_become_failures() {
    let servers = servers().await;
    let options = options(servers.trust.clone());
    let cases = [
        ("nx.test", Failure::DnsNxdomain),
        ("refused.test", Failure::DnsRefused),
        ("servfail.test", Failure::DnsServfail),
        ("empty.test", Failure::DnsNoAnswer),
    ];
    for transport in &servers.transports {
        for (domain, expected) in &cases {
            let flow = flow();
            let result = lookup(&flow, transport, domain, &options).await;
            let name = transport.engine();
            assert_eq!(result.failure.as_ref(), Some(expected), "{name} {domain}");
            assert!(result.addresses.is_empty());
            assert_eq!(result.queries.len(), 2);
            for query in &result.queries {
                assert_common(query, &flow, transport, domain);
                assert_eq!(query.failure.as_ref(), Some(expected), "{name} {domain}");
                assert!(query.answers.is_empty());
                assert!(query.raw_response.is_some(), "{name} {domain}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_queries_time_out() {
    let servers = servers().await;
    let options = options(servers.trust.clone());
    for transport in &servers.transports {
        let flow = flow();
        let started = Instant::now();
        let result = lookup(&flow, transport, "drop.test", &options).await;
        let elapsed = started.elapsed();
        let name = transport.engine();
        assert_eq!(result.failure, Some(Failure::GenericTimeout), "{name}");
        assert!(elapsed >= TIMEOUT, "{name} gave up after {elapsed:?}");
        assert!(
            elapsed < TIMEOUT + Duration::from_millis(700),
            "{name} took {elapsed:?}"
        );
        for query in &result.queries {
            assert_common(query, &flow, transport, "drop.test");
            assert_eq!(query.failure, Some(Failure::GenericTimeout));
            assert_eq!(query.raw_response, None);
            assert!(
                query.t - query.t0 >= 0.25,
                "{name}: {} .. {}",
                query.t0,
                query.t
            );
        }
    }
    assert!(servers.zone.queries_received() >= 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_with_the_wrong_id_are_not_used() {
    let servers = servers().await;
    let options = options(servers.trust.clone());
    for transport in &servers.transports {
        let flow = flow();
        let name = transport.engine();
        let result = lookup(&flow, transport, "wrongid.test", &options).await;
        assert_eq!(result.failure, Some(Failure::DnsWrongQueryId), "{name}");
        assert!(result.addresses.is_empty());
        for query in &result.queries {
            assert_eq!(query.failure, Some(Failure::DnsWrongQueryId), "{name}");
            assert!(query.answers.is_empty());
            // The offending reply is kept.
            assert!(query.raw_response.is_some(), "{name}");
        }
        let late = result.late_replies.collect().await;
        if matches!(transport, DnsTransport::Udp { .. }) {
            assert_eq!(late.len(), 2, "one ignored reply per query type");
            assert!(late
                .iter()
                .all(|q| q.failure == Some(Failure::DnsWrongQueryId)));
            let a = late.iter().find(|q| q.query_type == "A").expect("A reply");
            assert_eq!(a.answers[0].ipv4.as_deref(), Some("10.9.9.9"));
        } else {
            assert!(late.is_empty());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_skips_a_wrong_id_and_takes_the_genuine_reply() {
    let servers = servers().await;
    let options = options(servers.trust.clone());
    let flow = flow();
    let transport = &servers.transports[0];
    let result = lookup(&flow, transport, "wrongid-then-ok.test", &options).await;
    assert_eq!(result.failure, None);
    assert_eq!(result.addresses, vec![IpAddr::V4(v4("10.0.0.6"))]);
    let late = result.late_replies.collect().await;
    let wrong: Vec<_> = late
        .iter()
        .filter(|q| q.failure == Some(Failure::DnsWrongQueryId))
        .collect();
    assert_eq!(wrong.len(), 2, "one ignored reply per query type");
    let a = wrong.iter().find(|q| q.query_type == "A").expect("A reply");
    assert_eq!(a.answers[0].ipv4.as_deref(), Some("10.6.6.6"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_server_misbehaving() {
    let servers = servers().await;
    let options = options(servers.trust.clone());
    for transport in &servers.transports {
        let flow = flow();
        let name = transport.engine();
        let result = lookup(&flow, transport, "garbage.test", &options).await;
        assert_eq!(
            result.failure,
            Some(Failure::DnsServerMisbehaving),
            "{name}"
        );
        for query in &result.queries {
            assert_common(query, &flow, transport, "garbage.test");
            assert_eq!(query.failure, Some(Failure::DnsServerMisbehaving), "{name}");
            let raw = query.raw_response.as_deref().expect("the garbage is kept");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(raw)
                .expect("base64");
            assert_eq!(bytes, kuzet_e2e::fixtures::dns::GARBAGE);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_records_injected_and_duplicate_replies() {
    let servers = servers().await;
    let options = options(servers.trust.clone());
    let transport = &servers.transports[0];
    let flow = flow();
    let started = Instant::now();
    let result = lookup(&flow, transport, "injected.test", &options).await;
    // The first reply wins, as it would for any stub resolver.
    assert_eq!(result.failure, None);
    assert_eq!(result.addresses, vec![IpAddr::V4(v4("10.10.34.34"))]);
    assert_eq!(
        result.queries[0].answers[0].ipv4.as_deref(),
        Some("10.10.34.34")
    );
    assert_eq!(result.queries[1].failure, Some(Failure::DnsNoAnswer));
    let first_t = result.queries[0].t;
    let late = result.late_replies.collect().await;
    assert!(started.elapsed() >= WINDOW, "collect waits for the window");
    assert_eq!(late.len(), 2, "{late:?}");
    let a = late.iter().find(|q| q.query_type == "A").expect("late A");
    assert_eq!(a.failure, None);
    assert_eq!(a.answers[0].ipv4.as_deref(), Some("93.184.216.34"));
    assert!(a.t > first_t);
    assert_common(a, &flow, transport, "injected.test");
    assert_eq!(raw_message(a).answers.len(), 1);
    let aaaa = late
        .iter()
        .find(|q| q.query_type == "AAAA")
        .expect("late AAAA");
    assert_eq!(aaaa.answers[0].ipv6.as_deref(), Some("2606:2800:220:1::1"));

    let result = lookup(&flow, transport, "twice.test", &options).await;
    assert_eq!(result.addresses, vec![IpAddr::V4(v4("10.0.0.5"))]);
    let late = result.late_replies.collect().await;
    let duplicates: Vec<_> = late.iter().filter(|q| q.query_type == "A").collect();
    assert_eq!(duplicates.len(), 1);
    assert_eq!(duplicates[0].answers[0].ipv4.as_deref(), Some("10.0.0.5"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_caps_what_it_records() {
    let servers = servers().await;
    let options = options(servers.trust.clone());
    let transport = &servers.transports[0];

    // A datagram over the 4096-byte buffer is cut there and counts as malformed.
    let result = lookup(&flow(), transport, "oversized.test", &options).await;
    assert_eq!(result.failure, Some(Failure::DnsServerMisbehaving));
    let raw = result.queries[0].raw_response.as_deref().expect("raw");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .expect("base64");
    assert_eq!(bytes.len(), 4096);

    // Forty replies per query: sixteen are recorded, the one used included.
    let result = lookup(&flow(), transport, "flood.test", &options).await;
    assert_eq!(result.addresses, vec![IpAddr::V4(v4("10.0.0.8"))]);
    let late = result.late_replies.collect().await;
    for query_type in ["A", "AAAA"] {
        let count = late.iter().filter(|q| q.query_type == query_type).count();
        assert_eq!(count, 15, "{query_type}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doh_and_dot_use_only_the_first_reply() {
    let servers = servers().await;
    let options = options(servers.trust.clone());
    for transport in &servers.transports[1..] {
        let result = lookup(&flow(), transport, "injected.test", &options).await;
        assert_eq!(result.addresses, vec![IpAddr::V4(v4("10.10.34.34"))]);
        assert!(result.late_replies.collect().await.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificates_are_unknown_authority() {
    let zone = zone();
    let rogue = TestCa::new("Rogue CA", "Nobody trusts this");
    let leaf = rogue.leaf(&["127.0.0.1"]);
    let doh = DohServer::start(zone.clone(), &leaf).await;
    let dot = DotServer::start(zone.clone(), &leaf).await;
    // The client trusts the bundled roots and the honest test CA, not the rogue one.
    let options = options(pki().trust);
    let transports = [
        DnsTransport::Doh {
            url: doh.url().parse().expect("URL"),
        },
        DnsTransport::Dot {
            server: dot.addr,
            server_name: "127.0.0.1".to_string(),
        },
    ];
    for transport in &transports {
        let flow = flow();
        let result = lookup(&flow, transport, "ok.test", &options).await;
        let name = transport.engine();
        assert_eq!(result.failure, Some(Failure::SslUnknownAuthority), "{name}");
        for query in &result.queries {
            assert_common(query, &flow, transport, "ok.test");
            assert_eq!(query.failure, Some(Failure::SslUnknownAuthority), "{name}");
            assert_eq!(query.raw_response, None);
        }
    }
    assert_eq!(
        zone.queries_received(),
        0,
        "no query crossed the rejected connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_checks_the_server_name() {
    let zone = zone();
    let pki = pki();
    let dot = DotServer::start(zone, &pki.leaf).await;
    let options = options(pki.trust);
    let good = DnsTransport::parse(&format!("dot://{}?sni=dns.test", dot.addr)).expect("spec");
    let result = lookup(&flow(), &good, "ok.test", &options).await;
    assert_eq!(result.failure, None);
    let wrong = DnsTransport::Dot {
        server: dot.addr,
        server_name: "other.test".to_string(),
    };
    let result = lookup(&flow(), &wrong, "ok.test", &options).await;
    assert_eq!(result.failure, Some(Failure::SslInvalidHostname));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections() {
    let options = options(pki().trust);
    let addr = closed_addr();
    let doh = DnsTransport::parse(&format!("https://{addr}/dns-query")).expect("spec");
    let dot = DnsTransport::Dot {
        server: addr,
        server_name: "127.0.0.1".to_string(),
    };
    // Nothing listens on this UDP port either: the kernel answers with ICMP port unreachable.
    let udp_port = {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.local_addr().expect("address")
    };
    let udp = DnsTransport::Udp { server: udp_port };
    for transport in [doh, dot, udp] {
        let flow = flow();
        let result = lookup(&flow, &transport, "ok.test", &options).await;
        let name = transport.engine();
        assert_eq!(result.failure, Some(Failure::ConnectionRefused), "{name}");
        for query in &result.queries {
            assert_common(query, &flow, &transport, "ok.test");
            assert_eq!(query.failure, Some(Failure::ConnectionRefused), "{name}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doh_http_errors_are_server_misbehaving() {
    let servers = servers().await;
    let doh = &servers.transports[1];
    let options = options(servers.trust.clone());
    for domain in ["status.test", "ctype.test"] {
        let result = lookup(&flow(), doh, domain, &options).await;
        assert_eq!(
            result.failure,
            Some(Failure::DnsServerMisbehaving),
            "{domain}"
        );
        assert_eq!(result.queries[0].raw_response, None);
    }
    // A body over the cap is refused, not cut.
    let small = DnsOptions {
        response_cap: 20,
        ..options.clone()
    };
    let result = lookup(&flow(), doh, "ok.test", &small).await;
    assert_eq!(result.failure, Some(Failure::DnsServerMisbehaving));
    let result = lookup(&flow(), &servers.transports[2], "ok.test", &small).await;
    assert_eq!(
        result.failure,
        Some(Failure::DnsServerMisbehaving),
        "dot cap"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_names_send_nothing() {
    let servers = servers().await;
    let options = options(servers.trust.clone());
    let long_label = format!("{}.test", "a".repeat(64));
    for transport in &servers.transports {
        let result = lookup(&flow(), transport, &long_label, &options).await;
        assert_eq!(result.failure, Some(Failure::InvalidArgument));
    }
    let result = lookup(&flow(), &DnsTransport::System, "bad\0name", &options).await;
    assert_eq!(result.failure, Some(Failure::InvalidArgument));
    assert_eq!(servers.zone.queries_received(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_resolver_resolves_localhost() {
    let flow = flow();
    let options = DnsOptions {
        timeout: Duration::from_secs(2),
        ..DnsOptions::default()
    };
    // /etc/hosts maps localhost to 127.0.0.1: no query leaves the machine.
    let result = lookup(&flow, &DnsTransport::System, "localhost", &options).await;
    assert_eq!(result.failure, None);
    assert!(
        result.addresses.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)),
        "{:?}",
        result.addresses
    );
    let first_v6 = result.addresses.iter().position(IpAddr::is_ipv6);
    let last_v4 = result.addresses.iter().rposition(IpAddr::is_ipv4);
    if let (Some(v6), Some(v4)) = (first_v6, last_v4) {
        assert!(v4 < v6, "IPv4 first");
    }
    assert_eq!(result.queries.len(), 1);
    let query = &result.queries[0];
    assert_common(query, &flow, &DnsTransport::System, "localhost");
    assert_eq!(query.engine, "getaddrinfo");
    assert_eq!(query.query_type, "ANY");
    assert_eq!(query.resolver_address, "");
    assert_eq!(query.raw_response, None);
    assert_eq!(query.failure, None);
    assert!(query
        .answers
        .iter()
        .any(|answer| answer.answer_type == "A" && answer.ipv4.as_deref() == Some("127.0.0.1")));
    assert!(query.answers.iter().all(|answer| answer.ttl.is_none()));
    assert!(result.late_replies.collect().await.is_empty());

    // An IP literal comes back without any lookup.
    let result = lookup(&flow, &DnsTransport::System, "127.0.0.1", &options).await;
    assert_eq!(result.addresses, vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
}

#[test]
fn parse_accepts_specs() {
    let cases: Vec<(&str, DnsTransport)> = vec![
        ("system", DnsTransport::System),
        (" SYSTEM ", DnsTransport::System),
        (
            "udp://1.2.3.4",
            DnsTransport::Udp {
                server: "1.2.3.4:53".parse().expect("addr"),
            },
        ),
        (
            "udp://1.2.3.4:5353",
            DnsTransport::Udp {
                server: "1.2.3.4:5353".parse().expect("addr"),
            },
        ),
        (
            "udp://[2001:db8::1]",
            DnsTransport::Udp {
                server: "[2001:db8::1]:53".parse().expect("addr"),
            },
        ),
        (
            "udp://[2001:db8::1]:5353",
            DnsTransport::Udp {
                server: "[2001:db8::1]:5353".parse().expect("addr"),
            },
        ),
        (
            "https://dns.example/dns-query",
            DnsTransport::Doh {
                url: "https://dns.example/dns-query".parse().expect("url"),
            },
        ),
        (
            "dot://1.1.1.1",
            DnsTransport::Dot {
                server: "1.1.1.1:853".parse().expect("addr"),
                server_name: "1.1.1.1".to_string(),
            },
        ),
        (
            "dot://1.1.1.1:8853?sni=one.one.one.one",
            DnsTransport::Dot {
                server: "1.1.1.1:8853".parse().expect("addr"),
                server_name: "one.one.one.one".to_string(),
            },
        ),
        (
            "dot://[2606:4700::1111]",
            DnsTransport::Dot {
                server: "[2606:4700::1111]:853".parse().expect("addr"),
                server_name: "2606:4700::1111".to_string(),
            },
        ),
    ];
    for (spec, expected) in cases {
        assert_eq!(DnsTransport::parse(spec).expect(spec), expected, "{spec}");
    }
}

#[test]
fn parse_rejects_specs() {
    for spec in [
        "",
        "8.8.8.8",
        "udp://",
        "udp://dns.google",
        "udp://dns.google:53",
        "udp://1.2.3.4:0",
        "udp://1.2.3.4:99999",
        "udp://1.2.3.4:port",
        "udp://2001:db8::1",
        "udp://[2001:db8::1",
        "udp://[1.2.3.4]:53",
        "udp://1.2.3.4/path",
        "http://dns.example/dns-query",
        "https://",
        "dot://dns.google",
        "dot://1.1.1.1?sni=",
        "dot://1.1.1.1?server=x",
        "dot://1.1.1.1?sni=bad name",
        "tcp://1.2.3.4",
        "ftp://1.2.3.4",
    ] {
        let error = DnsTransport::parse(spec).expect_err(spec);
        assert!(
            matches!(error, kuzet_core::Error::InvalidResolver { .. }),
            "{spec}: {error}"
        );
    }
    let error = DnsTransport::parse("dot://dns.google").expect_err("a name");
    assert!(error.to_string().contains("not an IP address"), "{error}");
}

#[test]
fn engines_and_addresses() {
    let system = DnsTransport::System;
    assert_eq!(
        (system.engine(), system.address()),
        ("getaddrinfo", String::new())
    );
    let udp = DnsTransport::parse("udp://[::1]:53").expect("udp");
    assert_eq!(
        (udp.engine(), udp.address()),
        ("udp", "[::1]:53".to_string())
    );
    let doh = DnsTransport::parse("https://dns.example/dns-query").expect("doh");
    assert_eq!(
        (doh.engine(), doh.address()),
        ("doh", "https://dns.example/dns-query".to_string())
    );
    let dot = DnsTransport::parse("dot://9.9.9.9").expect("dot");
    assert_eq!(
        (dot.engine(), dot.address()),
        ("dot", "9.9.9.9:853".to_string())
    );
    let defaults = DnsOptions::default();
    assert_eq!(defaults.timeout, Duration::from_secs(4));
    assert!(defaults.response_cap >= 65_535);
}
