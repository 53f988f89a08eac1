//! Unit tests of the analysis: every verdict, the classic keys, and the rules that keep a down
//! site or an unreachable helper from being called blocked.

use std::net::SocketAddr;

use rcgen::{CertificateParams, DistinguishedName as RcgenDn, DnType, KeyPair};

use super::*;
use crate::experiment::web_connectivity::verdict::{DnsTamper, TcpBlock, TlsBlock};
use crate::report::observations::{
    BinaryData, HttpBody, HttpRequest, HttpResponse, TcpConnectStatus,
};
use crate::th::{
    ThDns, ThHttpRequest, ThIpInfo, ThTcpConnect, ThTlsHandshake, IP_FLAG_VALID_FOR_DOMAIN,
};

const HOST: &str = "site.test";
const GOOD: &str = "93.184.216.34";
const OTHER: &str = "203.0.114.9";
const PAGE: &str =
    "<html><head><title>Kuzet Example Website</title></head><body>hello</body></html>";

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn tags(depth: usize) -> Vec<String> {
    vec!["classic".to_string(), format!("depth={depth}")]
}

/// Observations of `url` with the system resolver answering `addrs` and nothing else yet.
fn observations(url: &str, addrs: &[&str]) -> Observations {
    Observations {
        url: Url::parse(url).unwrap(),
        system_dns: Some(DnsOutcome {
            addresses: addrs.iter().map(|a| ip(a)).collect(),
            failure: None,
        }),
        doh_dns: None,
        tcp_connect: Vec::new(),
        tls_handshakes: Vec::new(),
        requests: Vec::new(),
        http_experiment_failure: None,
        http_failed_operation: None,
        control: None,
        control_failure: Some(Failure::Unknown("no test helper configured".into())),
    }
}

fn dns_failed(mut obs: Observations, failure: Failure) -> Observations {
    obs.system_dns = Some(DnsOutcome {
        addresses: Vec::new(),
        failure: Some(failure.clone()),
    });
    obs.http_experiment_failure = Some(failure);
    obs.http_failed_operation = Some(Operation::Resolve);
    obs
}

fn connect(ip: &str, port: u16, failure: Option<Failure>) -> TcpConnect {
    TcpConnect {
        ip: ip.to_string(),
        port,
        status: TcpConnectStatus {
            success: failure.is_none(),
            failure,
            blocked: None,
        },
        tags: tags(0),
        ..TcpConnect::default()
    }
}

fn handshake(
    address: &str,
    sni: &str,
    failure: Option<Failure>,
    chain: &[Vec<u8>],
    depth: usize,
) -> TlsHandshake {
    TlsHandshake {
        network: "tcp".into(),
        address: address.to_string(),
        failure,
        server_name: sni.to_string(),
        peer_certificates: chain.iter().map(|c| BinaryData::from_bytes(c)).collect(),
        tags: tags(depth),
        ..TlsHandshake::default()
    }
}

fn response(url: &str, code: i64, body: &str, headers: &[(&str, &str)]) -> HttpTransaction {
    HttpTransaction {
        failure: None,
        request: HttpRequest {
            method: "GET".into(),
            url: url.to_string(),
            ..HttpRequest::default()
        },
        response: HttpResponse {
            body: HttpBody::Text(body.to_string()),
            code,
            headers_list: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body_is_truncated: false,
        },
        tags: tags(0),
        ..HttpTransaction::default()
    }
}

fn failed_request(url: &str, failure: Failure) -> HttpTransaction {
    HttpTransaction {
        failure: Some(failure),
        request: HttpRequest {
            method: "GET".into(),
            url: url.to_string(),
            ..HttpRequest::default()
        },
        tags: tags(0),
        ..HttpTransaction::default()
    }
}

/// A helper answer that resolved `addrs`, reached them on `port`, handshook when `tls`, and
/// fetched [`PAGE`].
fn control(addrs: &[&str], port: u16, tls: bool) -> ThResponse {
    let mut answer = ThResponse {
        dns: ThDns {
            failure: None,
            addrs: addrs.iter().map(|a| a.to_string()).collect(),
        },
        http_request: ThHttpRequest {
            body_length: PAGE.len() as i64,
            discovered_h3_endpoint: String::new(),
            failure: None,
            title: "Kuzet Example Website".into(),
            headers: [
                ("Content-Type", "text/html"),
                ("Date", "now"),
                ("X-Kuzet-Fixture", "1"),
            ]
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
            status_code: 200,
        },
        ..ThResponse::default()
    };
    for addr in addrs {
        let key = SocketAddr::new(ip(addr), port).to_string();
        answer.tcp_connect.insert(
            key.clone(),
            ThTcpConnect {
                status: true,
                failure: None,
            },
        );
        if tls {
            answer.tls_handshake.insert(
                key,
                ThTlsHandshake {
                    server_name: HOST.into(),
                    status: true,
                    failure: None,
                },
            );
        }
        answer.ip_info.insert(
            addr.to_string(),
            ThIpInfo {
                asn: 0,
                flags: crate::th::IP_FLAG_RESOLVED_BY_TH
                    | if tls { IP_FLAG_VALID_FOR_DOMAIN } else { 0 },
            },
        );
    }
    answer
}

fn with_control(mut obs: Observations, answer: ThResponse) -> Observations {
    obs.control = Some(answer);
    obs.control_failure = None;
    obs
}

fn run(obs: &Observations) -> Analysis {
    analyze(obs, &BogonPolicy::default())
}

fn self_signed(dn: &[(DnType, &str)]) -> Vec<u8> {
    let mut params = CertificateParams::default();
    let mut name = RcgenDn::new();
    for (kind, value) in dn {
        name.push(kind.clone(), *value);
    }
    params.distinguished_name = name;
    let key = KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

/// A self-signed certificate with this DN naming `names` (a forgery when it names the SNI).
fn forged(dn: &[(DnType, &str)], names: &[&str]) -> Vec<u8> {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let mut name = RcgenDn::new();
    for (kind, value) in dn {
        name.push(kind.clone(), *value);
    }
    params.distinguished_name = name;
    let key = KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

/// A successful cleartext fetch of PAGE from GOOD.
fn cleartext_ok() -> Observations {
    let mut obs = observations("http://site.test/", &[GOOD]);
    obs.tcp_connect = vec![connect(GOOD, 80, None)];
    obs.requests = vec![response(
        "http://site.test/",
        200,
        PAGE,
        &[("Content-Type", "text/html"), ("X-Kuzet-Fixture", "1")],
    )];
    obs
}

/// An https fetch that succeeded.
fn https_ok() -> Observations {
    let mut obs = observations("https://site.test/", &[GOOD]);
    obs.tcp_connect = vec![connect(GOOD, 443, None)];
    obs.tls_handshakes = vec![handshake(&format!("{GOOD}:443"), HOST, None, &[], 0)];
    obs.requests = vec![response("https://site.test/", 200, PAGE, &[])];
    obs
}

#[test]
fn https_success_is_ok_even_without_control() {
    let analysis = run(&https_ok());
    assert_eq!(analysis.verdict, Verdict::Ok);
    assert_eq!(analysis.classic.blocking, Some(Blocking::NotBlocked));
    assert_eq!(analysis.classic.accessible, Some(true));
    assert_eq!(analysis.classic.dns_consistency, None);
}

#[test]
fn cleartext_success_without_control_is_undetermined() {
    let analysis = run(&cleartext_ok());
    assert!(
        matches!(analysis.verdict, Verdict::Undetermined { ref why } if why.contains("no test helper"))
    );
    assert_eq!(analysis.classic.blocking, None);
    assert_eq!(analysis.classic.accessible, None);
    assert_eq!(analysis.classic.status_code_match, None);
}

#[test]
fn matching_cleartext_page_is_ok() {
    let analysis = run(&with_control(cleartext_ok(), control(&[GOOD], 80, false)));
    assert_eq!(analysis.verdict, Verdict::Ok);
    let classic = &analysis.classic;
    assert_eq!(classic.dns_consistency, Some(DnsConsistency::Consistent));
    assert_eq!(classic.status_code_match, Some(true));
    assert_eq!(classic.body_length_match, Some(true));
    assert_eq!(classic.body_proportion, 1.0);
    assert_eq!(classic.headers_match, Some(true));
    assert_eq!(classic.title_match, Some(true));
    assert_eq!(classic.blocking, Some(Blocking::NotBlocked));
    assert_eq!(classic.accessible, Some(true));
}

#[test]
fn a_different_cleartext_page_is_a_blockpage() {
    let mut obs = cleartext_ok();
    obs.requests = vec![response(
        "http://site.test/",
        200,
        "<html><title>Access Denied</title></html>",
        &[("Server", "censor")],
    )];
    let analysis = run(&with_control(obs, control(&[GOOD], 80, false)));
    assert_eq!(analysis.verdict, Verdict::HttpBlockpage);
    let classic = &analysis.classic;
    assert_eq!(classic.status_code_match, Some(true));
    assert_eq!(classic.body_length_match, Some(false));
    assert_eq!(classic.headers_match, Some(false));
    assert_eq!(classic.title_match, Some(false));
    assert_eq!(classic.blocking, Some(Blocking::HttpDiff));
    assert_eq!(classic.accessible, Some(false));
}

#[test]
fn any_one_of_body_headers_title_rescues_a_matching_status() {
    // Same status and title, different body size and headers: not a blockpage.
    let mut obs = cleartext_ok();
    let long = format!("{PAGE}{}", "x".repeat(PAGE.len() * 3));
    obs.requests = vec![response("http://site.test/", 200, &long, &[])];
    let analysis = run(&with_control(obs, control(&[GOOD], 80, false)));
    assert_eq!(analysis.classic.body_length_match, Some(false));
    assert_eq!(analysis.classic.headers_match, Some(false));
    assert_eq!(analysis.classic.title_match, Some(true));
    assert_eq!(analysis.verdict, Verdict::Ok);

    // A different status cannot be rescued.
    let mut obs = cleartext_ok();
    obs.requests = vec![response(
        "http://site.test/",
        403,
        PAGE,
        &[("X-Kuzet-Fixture", "1")],
    )];
    let analysis = run(&with_control(obs, control(&[GOOD], 80, false)));
    assert_eq!(analysis.classic.status_code_match, Some(false));
    assert_eq!(analysis.verdict, Verdict::HttpBlockpage);
}

#[test]
fn status_code_match_is_null_when_the_control_is_not_2xx() {
    let mut answer = control(&[GOOD], 80, false);
    answer.http_request.status_code = 503;
    let mut obs = cleartext_ok();
    obs.requests[0].response.code = 200;
    let analysis = run(&with_control(obs.clone(), answer.clone()));
    assert_eq!(analysis.classic.status_code_match, None);
    answer.http_request.status_code = 200;
    obs.requests[0].response.code = 200;
    assert_eq!(
        run(&with_control(obs, answer)).classic.status_code_match,
        Some(true)
    );
}

#[test]
fn truncated_bodies_are_not_compared() {
    let mut obs = cleartext_ok();
    obs.requests[0].response.body_is_truncated = true;
    let analysis = run(&with_control(obs, control(&[GOOD], 80, false)));
    assert_eq!(analysis.classic.body_length_match, None);
    assert_eq!(analysis.classic.body_proportion, 0.0);
    assert_eq!(analysis.classic.title_match, None);
    // Headers still decide.
    assert_eq!(analysis.classic.headers_match, Some(true));
    assert_eq!(analysis.verdict, Verdict::Ok);
}

#[test]
fn nxdomain_while_the_helper_resolves_is_dns_tampering() {
    let obs = dns_failed(
        observations("https://site.test/", &[]),
        Failure::DnsNxdomain,
    );
    let analysis = run(&with_control(obs, control(&[GOOD], 443, true)));
    assert_eq!(
        analysis.verdict,
        Verdict::DnsTampered {
            how: DnsTamper::Nxdomain
        }
    );
    assert_eq!(
        analysis.classic.dns_consistency,
        Some(DnsConsistency::Inconsistent)
    );
    assert_eq!(analysis.classic.blocking, Some(Blocking::Dns));
    assert_eq!(analysis.classic.accessible, Some(false));
}

#[test]
fn dns_timeouts_and_errors_while_the_helper_resolves() {
    for (failure, how) in [
        (Failure::GenericTimeout, DnsTamper::Timeout),
        (Failure::DnsServfail, DnsTamper::Error),
        (Failure::DnsRefused, DnsTamper::Error),
        (Failure::DnsNoAnswer, DnsTamper::Nxdomain),
        (Failure::AndroidDnsCacheNoData, DnsTamper::Nxdomain),
    ] {
        let obs = dns_failed(observations("https://site.test/", &[]), failure.clone());
        let analysis = run(&with_control(obs, control(&[GOOD], 443, true)));
        assert_eq!(analysis.verdict, Verdict::DnsTampered { how }, "{failure}");
    }
}

#[test]
fn nxdomain_everywhere_is_site_down() {
    let obs = dns_failed(
        observations("https://gone.test/", &[]),
        Failure::DnsNxdomain,
    );
    let mut answer = control(&[], 443, true);
    answer.dns.failure = Some(Failure::parse(crate::th::TH_DNS_NAME_ERROR));
    answer.http_request = ThHttpRequest::failed(Failure::DnsNxdomain);
    let analysis = run(&with_control(obs, answer));
    assert_eq!(analysis.verdict, Verdict::SiteDown);
    assert_eq!(
        analysis.classic.dns_consistency,
        Some(DnsConsistency::Consistent)
    );
    assert_eq!(analysis.classic.blocking, Some(Blocking::NotBlocked));
    assert_eq!(analysis.classic.accessible, Some(false));
}

#[test]
fn a_bogon_answer_is_dns_tampering_unless_bogons_are_allowed() {
    let mut obs = observations("https://site.test/", &["10.10.34.35"]);
    obs.tcp_connect = vec![connect("10.10.34.35", 443, Some(Failure::GenericTimeout))];
    obs.http_experiment_failure = Some(Failure::GenericTimeout);
    obs.http_failed_operation = Some(Operation::Connect);
    let obs = with_control(obs, control(&[GOOD], 443, true));
    let analysis = run(&obs);
    assert_eq!(
        analysis.verdict,
        Verdict::DnsTampered {
            how: DnsTamper::Bogon
        }
    );
    assert_eq!(analysis.classic.blocking, Some(Blocking::Dns));

    // A lab where 10.x is "public": the other address serves nothing, so a hijack.
    let lab = BogonPolicy {
        enabled: true,
        public_networks: vec!["10.0.0.0/8".parse().unwrap()],
    };
    assert_eq!(
        analyze(&obs, &lab).verdict,
        Verdict::DnsTampered {
            how: DnsTamper::Hijack
        }
    );
}

#[test]
fn other_addresses_that_do_not_serve_the_page_are_a_hijack() {
    let mut obs = observations("http://site.test/", &[OTHER]);
    obs.tcp_connect = vec![connect(OTHER, 80, None)];
    obs.requests = vec![response(
        "http://site.test/",
        200,
        "<html><title>Blocked by order</title></html>",
        &[],
    )];
    let analysis = run(&with_control(obs, control(&[GOOD], 80, false)));
    assert_eq!(
        analysis.verdict,
        Verdict::DnsTampered {
            how: DnsTamper::Hijack
        }
    );
    assert_eq!(
        analysis.classic.dns_consistency,
        Some(DnsConsistency::Inconsistent)
    );
    assert_eq!(analysis.classic.blocking, Some(Blocking::Dns));
}

#[test]
fn other_addresses_proven_valid_are_consistent() {
    // The helper's ip_info vouches for the probe's address (flag 8): a CDN edge.
    let mut obs = cleartext_ok();
    obs.system_dns = Some(DnsOutcome {
        addresses: vec![ip(OTHER)],
        failure: None,
    });
    obs.tcp_connect = vec![connect(OTHER, 80, None)];
    let mut answer = control(&[GOOD], 80, false);
    answer.ip_info.insert(
        OTHER.to_string(),
        ThIpInfo {
            asn: 0,
            flags: crate::th::IP_FLAG_RESOLVED_BY_PROBE | IP_FLAG_VALID_FOR_DOMAIN,
        },
    );
    let analysis = run(&with_control(obs.clone(), answer));
    assert_eq!(
        analysis.classic.dns_consistency,
        Some(DnsConsistency::Consistent)
    );
    assert_eq!(analysis.verdict, Verdict::Ok);

    // Or a verified handshake at the probe itself (http URL, TLS on 443 for validation).
    obs.tls_handshakes = vec![handshake(&format!("{OTHER}:443"), HOST, None, &[], 0)];
    let analysis = run(&with_control(obs.clone(), control(&[GOOD], 80, false)));
    assert_eq!(
        analysis.classic.dns_consistency,
        Some(DnsConsistency::Consistent)
    );

    // Or the same AS, when the helper knows ASNs.
    obs.tls_handshakes.clear();
    let mut answer = control(&[GOOD], 80, false);
    answer.ip_info.get_mut(GOOD).unwrap().asn = 15133;
    answer.ip_info.insert(
        OTHER.to_string(),
        ThIpInfo {
            asn: 15133,
            flags: crate::th::IP_FLAG_RESOLVED_BY_PROBE,
        },
    );
    let analysis = run(&with_control(obs, answer));
    assert_eq!(
        analysis.classic.dns_consistency,
        Some(DnsConsistency::Consistent)
    );
}

#[test]
fn other_addresses_serving_the_same_page_are_not_blamed() {
    // No proof of validity, but the page matches: a CDN the helper could not vouch for.
    let mut obs = cleartext_ok();
    obs.system_dns = Some(DnsOutcome {
        addresses: vec![ip(OTHER)],
        failure: None,
    });
    obs.tcp_connect = vec![connect(OTHER, 80, None)];
    let analysis = run(&with_control(obs, control(&[GOOD], 80, false)));
    assert_eq!(
        analysis.classic.dns_consistency,
        Some(DnsConsistency::Inconsistent)
    );
    assert_eq!(analysis.verdict, Verdict::Ok);
    assert_eq!(analysis.classic.accessible, Some(true));
}

#[test]
fn connect_failures_are_tcp_blocking_when_the_helper_connects() {
    for (failure, how) in [
        (Failure::ConnectionReset, TcpBlock::Reset),
        (Failure::GenericTimeout, TcpBlock::Timeout),
        (Failure::ConnectionRefused, TcpBlock::Refused),
        (Failure::HostUnreachable, TcpBlock::Other),
    ] {
        let mut obs = observations("https://site.test/", &[GOOD]);
        obs.tcp_connect = vec![connect(GOOD, 443, Some(failure.clone()))];
        obs.http_experiment_failure = Some(failure.clone());
        obs.http_failed_operation = Some(Operation::Connect);
        let analysis = run(&with_control(obs, control(&[GOOD], 443, true)));
        assert_eq!(analysis.verdict, Verdict::TcpBlocked { how }, "{failure}");
        assert_eq!(analysis.classic.blocking, Some(Blocking::TcpIp));
        assert_eq!(analysis.classic.accessible, Some(false));
    }
}

#[test]
fn connect_failures_at_the_helper_too_are_site_down() {
    let mut obs = observations("https://site.test/", &[GOOD]);
    obs.tcp_connect = vec![connect(GOOD, 443, Some(Failure::ConnectionRefused))];
    obs.http_experiment_failure = Some(Failure::ConnectionRefused);
    obs.http_failed_operation = Some(Operation::Connect);
    let mut answer = control(&[GOOD], 443, false);
    for result in answer.tcp_connect.values_mut() {
        result.status = false;
        result.failure = Some(Failure::ConnectionRefused);
    }
    answer.http_request = ThHttpRequest::failed(Failure::ConnectionRefused);
    let analysis = run(&with_control(obs, answer));
    assert_eq!(analysis.verdict, Verdict::SiteDown);
    assert_eq!(analysis.classic.blocking, Some(Blocking::NotBlocked));
    assert_eq!(analysis.classic.accessible, Some(false));
}

/// https to GOOD: connect fine, handshake fails with `failure` (and `chain`).
fn tls_failure(failure: Failure, chain: &[Vec<u8>]) -> Observations {
    let mut obs = observations("https://site.test/", &[GOOD]);
    obs.tcp_connect = vec![connect(GOOD, 443, None)];
    obs.tls_handshakes = vec![handshake(
        &format!("{GOOD}:443"),
        HOST,
        Some(failure.clone()),
        chain,
        0,
    )];
    obs.http_experiment_failure = Some(failure);
    obs.http_failed_operation = Some(Operation::TlsHandshake);
    obs
}

#[test]
fn handshake_interruptions_are_tls_blocking() {
    for (failure, how) in [
        (Failure::ConnectionReset, TlsBlock::Reset),
        (Failure::GenericTimeout, TlsBlock::Timeout),
        (Failure::Eof, TlsBlock::Eof),
        (Failure::SslFailedHandshake, TlsBlock::Other),
    ] {
        let obs = tls_failure(failure.clone(), &[]);
        let analysis = run(&with_control(obs, control(&[GOOD], 443, true)));
        assert_eq!(
            analysis.verdict,
            Verdict::TlsBlocked {
                how,
                sni: HOST.into()
            },
            "{failure}"
        );
        assert_eq!(analysis.classic.blocking, Some(Blocking::HttpFailure));
        assert_eq!(
            analysis.classic.dns_consistency,
            Some(DnsConsistency::Consistent)
        );
    }
}

#[test]
fn handshake_failures_at_the_helper_too_are_site_down() {
    let obs = tls_failure(Failure::ConnectionReset, &[]);
    let mut answer = control(&[GOOD], 443, true);
    for result in answer.tls_handshake.values_mut() {
        result.status = false;
        result.failure = Some(Failure::ConnectionReset);
    }
    answer.http_request = ThHttpRequest::failed(Failure::ConnectionReset);
    assert_eq!(run(&with_control(obs, answer)).verdict, Verdict::SiteDown);
}

#[test]
fn an_unverifiable_certificate_where_the_helper_verifies_is_interception() {
    let rogue = forged(
        &[
            (DnType::CommonName, "Rogue CA"),
            (DnType::OrganizationName, "Evil"),
        ],
        &[HOST],
    );
    let obs = tls_failure(Failure::SslUnknownAuthority, std::slice::from_ref(&rogue));
    let analysis = run(&with_control(obs, control(&[GOOD], 443, true)));
    assert_eq!(
        analysis.verdict,
        Verdict::TlsMitm {
            issuer: "CN=Rogue CA, O=Evil".into(),
            known_kz_root: false,
            sni: HOST.into()
        }
    );
    assert_eq!(analysis.classic.blocking, Some(Blocking::HttpFailure));

    // Without the helper, an unknown rogue chain proves nothing.
    let obs = tls_failure(Failure::SslUnknownAuthority, &[rogue]);
    assert!(matches!(run(&obs).verdict, Verdict::Undetermined { .. }));
}

#[test]
fn a_known_kazakh_interception_chain_needs_no_helper() {
    let isca = self_signed(&[
        (DnType::CountryName, "KZ"),
        (DnType::OrganizationName, "ISCA"),
        (
            DnType::CommonName,
            "Information Security Certification Authority",
        ),
    ]);
    let obs = tls_failure(Failure::SslUnknownAuthority, &[isca]);
    let analysis = run(&obs);
    assert_eq!(
        analysis.verdict,
        Verdict::TlsMitm {
            issuer: "C=KZ, O=ISCA, CN=Information Security Certification Authority".into(),
            known_kz_root: true,
            sni: HOST.into()
        }
    );
    // Without a control the classic keys follow the verdict but DNS is unknown.
    assert_eq!(analysis.classic.dns_consistency, None);
    assert_eq!(analysis.classic.blocking, Some(Blocking::HttpFailure));
}

#[test]
fn a_server_with_a_bad_certificate_for_everyone_is_site_down() {
    let rogue = self_signed(&[(DnType::CommonName, "Self")]);
    let obs = tls_failure(Failure::SslInvalidHostname, &[rogue]);
    let mut answer = control(&[GOOD], 443, true);
    for result in answer.tls_handshake.values_mut() {
        result.status = false;
        result.failure = Some(Failure::SslInvalidHostname);
    }
    answer.http_request = ThHttpRequest::failed(Failure::SslInvalidHostname);
    assert_eq!(run(&with_control(obs, answer)).verdict, Verdict::SiteDown);
}

#[test]
fn dns_steering_to_an_interceptor_is_reported_as_interception() {
    let rogue = forged(&[(DnType::CommonName, "Rogue CA")], &[HOST]);
    let mut obs = observations("https://site.test/", &[OTHER]);
    obs.tcp_connect = vec![connect(OTHER, 443, None)];
    obs.tls_handshakes = vec![handshake(
        &format!("{OTHER}:443"),
        HOST,
        Some(Failure::SslUnknownAuthority),
        &[rogue],
        0,
    )];
    obs.http_experiment_failure = Some(Failure::SslUnknownAuthority);
    obs.http_failed_operation = Some(Operation::TlsHandshake);
    let analysis = run(&with_control(obs, control(&[GOOD], 443, true)));
    assert!(matches!(
        analysis.verdict,
        Verdict::TlsMitm {
            known_kz_root: false,
            ..
        }
    ));
    assert_eq!(
        analysis.classic.dns_consistency,
        Some(DnsConsistency::Inconsistent)
    );
    assert_eq!(analysis.classic.blocking, Some(Blocking::Dns));
}

#[test]
fn http_failures_after_the_helper_fetched_are_http_failures() {
    let mut obs = observations("http://site.test/", &[GOOD]);
    obs.tcp_connect = vec![connect(GOOD, 80, None)];
    obs.requests = vec![failed_request(
        "http://site.test/",
        Failure::ConnectionReset,
    )];
    obs.http_experiment_failure = Some(Failure::ConnectionReset);
    obs.http_failed_operation = Some(Operation::HttpRoundTrip);
    let analysis = run(&with_control(obs.clone(), control(&[GOOD], 80, false)));
    assert_eq!(
        analysis.verdict,
        Verdict::HttpFailure {
            failure: Failure::ConnectionReset
        }
    );
    assert_eq!(analysis.classic.blocking, Some(Blocking::HttpFailure));
    assert_eq!(analysis.classic.status_code_match, None);

    // The helper failed the same way: down.
    let mut answer = control(&[GOOD], 80, false);
    answer.http_request = ThHttpRequest::failed(Failure::ConnectionReset);
    assert_eq!(run(&with_control(obs, answer)).verdict, Verdict::SiteDown);
}

#[test]
fn later_hop_failures_are_classified_by_step() {
    // https://site.test/ redirects to https://cdn.test/, whose handshake is reset.
    let mut obs = https_ok();
    obs.requests = vec![{
        let mut redirect = response(
            "https://site.test/",
            302,
            "",
            &[("Location", "https://cdn.test/")],
        );
        redirect.tags = tags(0);
        redirect
    }];
    let mut later = handshake(
        "198.51.100.1:443",
        "cdn.test",
        Some(Failure::ConnectionReset),
        &[],
        1,
    );
    later.t = 1.0;
    obs.tls_handshakes.push(later);
    obs.http_experiment_failure = Some(Failure::ConnectionReset);
    obs.http_failed_operation = Some(Operation::TlsHandshake);
    let analysis = run(&with_control(obs.clone(), control(&[GOOD], 443, true)));
    assert_eq!(
        analysis.verdict,
        Verdict::TlsBlocked {
            how: TlsBlock::Reset,
            sni: "cdn.test".into()
        }
    );

    obs.http_experiment_failure = Some(Failure::DnsNxdomain);
    obs.http_failed_operation = Some(Operation::Resolve);
    assert_eq!(
        run(&with_control(obs.clone(), control(&[GOOD], 443, true))).verdict,
        Verdict::DnsTampered {
            how: DnsTamper::Nxdomain
        }
    );

    obs.http_experiment_failure = Some(Failure::GenericTimeout);
    obs.http_failed_operation = Some(Operation::Connect);
    assert_eq!(
        run(&with_control(obs, control(&[GOOD], 443, true))).verdict,
        Verdict::TcpBlocked {
            how: TcpBlock::Timeout
        }
    );
}

#[test]
fn without_the_helper_doh_can_still_prove_dns_tampering() {
    let mut obs = dns_failed(
        observations("https://site.test/", &[]),
        Failure::DnsNxdomain,
    );
    obs.control_failure = Some(Failure::ConnectionRefused);
    assert_eq!(
        run(&obs).verdict,
        Verdict::Undetermined {
            why: "control unavailable: connection_refused".into()
        }
    );
    obs.doh_dns = Some(DnsOutcome {
        addresses: vec![ip(GOOD)],
        failure: None,
    });
    assert_eq!(
        run(&obs).verdict,
        Verdict::DnsTampered {
            how: DnsTamper::Nxdomain
        }
    );

    // A bogon answer against a public DoH answer.
    let mut obs = observations("https://site.test/", &["127.0.0.1"]);
    obs.tcp_connect = vec![connect("127.0.0.1", 443, Some(Failure::ConnectionRefused))];
    obs.http_experiment_failure = Some(Failure::ConnectionRefused);
    obs.doh_dns = Some(DnsOutcome {
        addresses: vec![ip(GOOD)],
        failure: None,
    });
    assert_eq!(
        run(&obs).verdict,
        Verdict::DnsTampered {
            how: DnsTamper::Bogon
        }
    );
    // A timeout is not proof without the helper.
    let mut obs = dns_failed(
        observations("https://site.test/", &[]),
        Failure::GenericTimeout,
    );
    obs.doh_dns = Some(DnsOutcome {
        addresses: vec![ip(GOOD)],
        failure: None,
    });
    assert!(matches!(run(&obs).verdict, Verdict::Undetermined { .. }));
}

#[test]
fn a_cleartext_page_the_helper_could_not_fetch_is_undetermined() {
    let mut answer = control(&[GOOD], 80, false);
    answer.http_request = ThHttpRequest::failed(Failure::GenericTimeout);
    let analysis = run(&with_control(cleartext_ok(), answer));
    assert_eq!(
        analysis.verdict,
        Verdict::Undetermined {
            why: "the control could not fetch the page".into()
        }
    );
    assert_eq!(analysis.classic.blocking, None);
}

#[test]
fn ip_urls_are_dns_consistent() {
    let mut obs = cleartext_ok();
    obs.url = Url::parse(&format!("http://{GOOD}/")).unwrap();
    obs.system_dns = None;
    let analysis = run(&with_control(obs, control(&[GOOD], 80, false)));
    assert_eq!(
        analysis.classic.dns_consistency,
        Some(DnsConsistency::Consistent)
    );
    assert_eq!(analysis.verdict, Verdict::Ok);
}

#[test]
fn headers_match_by_equal_sets_or_a_shared_uncommon_name() {
    let answer = control(&[GOOD], 80, false);
    let headers_of = |headers: &[(&str, &str)]| {
        let mut obs = cleartext_ok();
        obs.requests = vec![response("http://site.test/", 200, PAGE, headers)];
        run(&with_control(obs, answer.clone()))
            .classic
            .headers_match
    };
    assert_eq!(
        headers_of(&[
            ("content-type", "x"),
            ("date", "y"),
            ("x-kuzet-fixture", "1")
        ]),
        Some(true)
    );
    assert_eq!(headers_of(&[("X-Kuzet-Fixture", "2")]), Some(true));
    assert_eq!(
        headers_of(&[("Content-Type", "x"), ("Date", "y")]),
        Some(false)
    );
    assert_eq!(headers_of(&[]), Some(false));
}

#[test]
fn analysis_reads_back_its_own_keys() {
    // Observations survive the round trip through test keys (what re-analysis relies on).
    let obs = with_control(cleartext_ok(), control(&[GOOD], 80, false));
    let keys = serde_json::json!({
        "queries": [{
            "answers": [{"answer_type": "A", "ipv4": GOOD}],
            "engine": "getaddrinfo", "failure": null, "hostname": HOST,
            "query_type": "ANY", "tags": ["classic", "depth=0"]
        }],
        "tcp_connect": obs.tcp_connect,
        "tls_handshakes": obs.tls_handshakes,
        "requests": obs.requests,
        "control": obs.control,
        "control_failure": null,
        "http_experiment_failure": null,
    });
    let back = Observations::from_test_keys(&obs.url, &keys);
    assert_eq!(back.system_dns, obs.system_dns);
    assert_eq!(run(&back), run(&obs));
}

#[test]
fn validation_handshakes_of_http_urls_are_not_interception_evidence() {
    // http URL, the probe's address differs from the helper's; on 443 it presents a shared
    // host's default certificate (not for the name). That is not an interception: the page
    // decides, and here it differs, so a hijack.
    let other_cert = self_signed(&[(DnType::CommonName, "default.hoster.test")]);
    let mut obs = observations("http://site.test/", &[OTHER]);
    obs.tcp_connect = vec![connect(OTHER, 80, None), connect(OTHER, 443, None)];
    obs.tls_handshakes = vec![handshake(
        &format!("{OTHER}:443"),
        HOST,
        Some(Failure::SslInvalidHostname),
        &[other_cert],
        0,
    )];
    obs.requests = vec![response(
        "http://site.test/",
        200,
        "<html><title>Parked domain</title></html>",
        &[],
    )];
    let analysis = run(&with_control(obs, control(&[GOOD], 80, false)));
    assert_eq!(
        analysis.verdict,
        Verdict::DnsTampered {
            how: DnsTamper::Hijack
        }
    );
}

#[test]
fn a_known_kazakh_chain_on_a_redirect_hop_is_interception() {
    let isca = self_signed(&[
        (DnType::CountryName, "KZ"),
        (DnType::CommonName, "Qaznet Trust Network"),
    ]);
    // http://site.test/ redirects to https://www.site.test/, whose handshake is intercepted.
    let mut obs = cleartext_ok();
    obs.requests = vec![response(
        "http://site.test/",
        301,
        "",
        &[("Location", "https://www.site.test/")],
    )];
    let mut later = handshake(
        "198.51.100.1:443",
        "www.site.test",
        Some(Failure::SslUnknownAuthority),
        &[isca],
        1,
    );
    later.t = 1.0;
    obs.tls_handshakes.push(later);
    obs.http_experiment_failure = Some(Failure::SslUnknownAuthority);
    obs.http_failed_operation = Some(Operation::TlsHandshake);
    let analysis = run(&obs);
    assert_eq!(
        analysis.verdict,
        Verdict::TlsMitm {
            issuer: "C=KZ, CN=Qaznet Trust Network".into(),
            known_kz_root: true,
            sni: "www.site.test".into()
        }
    );
}

#[test]
fn a_certificate_for_another_name_is_a_diversion_not_a_forgery() {
    // The ISP resolver sends the probe to a blockpage server presenting its own certificate:
    // valid, for its own name (ssl_invalid_hostname), or self-signed for its own name
    // (ssl_unknown_authority). Neither names the site: DNS hijack, not interception.
    for failure in [Failure::SslInvalidHostname, Failure::SslUnknownAuthority] {
        let own = forged(
            &[(DnType::CommonName, "blockpage.test")],
            &["blockpage.test"],
        );
        let mut obs = observations("https://site.test/", &[OTHER]);
        obs.tcp_connect = vec![connect(OTHER, 443, None)];
        obs.tls_handshakes = vec![handshake(
            &format!("{OTHER}:443"),
            HOST,
            Some(failure.clone()),
            &[own],
            0,
        )];
        obs.http_experiment_failure = Some(failure.clone());
        obs.http_failed_operation = Some(Operation::TlsHandshake);
        let analysis = run(&with_control(obs, control(&[GOOD], 443, true)));
        assert_eq!(
            analysis.verdict,
            Verdict::DnsTampered {
                how: DnsTamper::Hijack
            },
            "{failure}"
        );
    }

    // With consistent DNS, a box on the path answering with its own certificate is TLS
    // interference, not a forgery.
    let own = forged(&[(DnType::CommonName, "filter.test")], &["filter.test"]);
    let obs = tls_failure(Failure::SslInvalidHostname, &[own]);
    assert_eq!(
        run(&with_control(obs, control(&[GOOD], 443, true))).verdict,
        Verdict::TlsBlocked {
            how: TlsBlock::Other,
            sni: HOST.into()
        }
    );
}

#[test]
fn a_known_kazakh_chain_on_the_validation_handshake_of_an_http_url_is_interception() {
    // http://site.test/ loads fine, but the TLS check of the same name on 443 meets ISCA.
    let isca = forged(
        &[
            (DnType::CountryName, "KZ"),
            (DnType::OrganizationName, "ISCA"),
            (
                DnType::CommonName,
                "Information Security Certification Authority",
            ),
        ],
        &[HOST],
    );
    let mut obs = cleartext_ok();
    obs.tcp_connect.push(connect(GOOD, 443, None));
    obs.tls_handshakes = vec![handshake(
        &format!("{GOOD}:443"),
        HOST,
        Some(Failure::SslUnknownAuthority),
        &[isca],
        0,
    )];
    let analysis = run(&with_control(obs, control(&[GOOD], 80, false)));
    assert!(
        matches!(analysis.verdict, Verdict::TlsMitm { known_kz_root: true, ref sni, .. } if sni == HOST),
        "{:?}",
        analysis.verdict
    );
    // OONI's keys judge the fetch, which worked.
    assert_eq!(analysis.classic.blocking, Some(Blocking::NotBlocked));
    assert_eq!(analysis.classic.accessible, Some(true));
}
