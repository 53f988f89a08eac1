//! The TLS layer: failed handshakes (rule 6), forged certificates and Kazakhstan's known
//! interception chains (rule 2), and what the validation handshakes of http URLs prove.

use super::*;

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
