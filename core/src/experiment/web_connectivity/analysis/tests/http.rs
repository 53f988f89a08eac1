//! The HTTP layer: https pages, OONI's http-diff keys on cleartext pages (rule 8), and
//! fetches that failed after the first hop (rule 7).

use super::*;

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
        matches!(analysis.verdict, Verdict::Undetermined { ref why, .. } if why.contains("no test helper"))
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
fn a_cleartext_page_the_helper_could_not_fetch_is_undetermined() {
    let mut answer = control(&[GOOD], 80, false);
    answer.http_request = ThHttpRequest::failed(Failure::GenericTimeout);
    let analysis = run(&with_control(cleartext_ok(), answer));
    assert_eq!(
        analysis.verdict,
        Verdict::Undetermined {
            why: "the control could not fetch the page".into(),
            failed: false,
        }
    );
    assert_eq!(analysis.classic.blocking, None);
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
