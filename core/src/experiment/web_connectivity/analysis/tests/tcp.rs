//! The TCP layer: every connect to the URL's port failed (rule 5).

use super::*;

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
