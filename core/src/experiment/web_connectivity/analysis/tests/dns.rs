//! The DNS layer: `dns_consistency`, failed and forged lookups against the helper's (rule 4),
//! and DoH as evidence without a helper (rule 3).

use super::*;

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
fn without_the_helper_doh_can_still_prove_dns_tampering() {
    let mut obs = dns_failed(
        observations("https://site.test/", &[]),
        Failure::DnsNxdomain,
    );
    obs.control_failure = Some(Failure::ConnectionRefused);
    assert_eq!(
        run(&obs).verdict,
        Verdict::Undetermined {
            why: "control unavailable: connection_refused".into(),
            failed: true,
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
