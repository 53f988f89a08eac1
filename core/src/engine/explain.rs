//! Results in plain words: what a person sees next to a target. Kept short and careful: one
//! measurement alone rarely proves blocking, and the words say so.

use std::time::Duration;

use crate::experiment::urlgetter::UrlSummary;
use crate::experiment::web_connectivity::{
    DnsTamper, TcpBlock, TlsBlock, Verdict as WebVerdict, WebSummary,
};
use crate::failure::Failure;

/// Explains one web_connectivity measurement from its verdict (`x_verdict`): blocked how,
/// down for everyone, fine, or why nothing can be concluded. `failed_operation` is the step
/// that failed (`x_failed_operation`), if one did; `helper` whether a test helper was
/// configured for it.
pub fn explain_website(
    verdict: &WebVerdict,
    summary: &WebSummary,
    failed_operation: Option<&str>,
    helper: bool,
) -> String {
    let host = host_of(&summary.url);
    let took = seconds(summary.runtime);
    let failure = summary
        .http_experiment_failure
        .as_ref()
        .or(summary.dns_experiment_failure.as_ref());
    let no_control = match (helper, &summary.control_failure) {
        (false, _) => "No test helper is configured to compare with another network",
        (true, Some(_)) => "Kuzet could not reach its test helper to compare with another network",
        (true, None) => "The test helper's measurement from another network could not settle it",
    };
    match verdict {
        WebVerdict::Ok => match summary.status_code {
            Some(code) if code >= 400 => format!(
                "{host} answered with HTTP {code} (an error page) after {took}, as it does from elsewhere. The site was reachable; it refused the request or the page does not exist."
            ),
            Some(code) => format!("{host} loaded normally (HTTP {code}) in {took}."),
            None => format!("{host} was reachable in {took}."),
        },
        WebVerdict::SiteDown => format!(
            "{host} did not load, and it failed the same way from the test helper's network: the site seems down for everyone, not blocked here."
        ),
        WebVerdict::DnsTampered { how } => {
            let what = match how {
                DnsTamper::Nxdomain => "your network's resolver said the name does not exist",
                DnsTamper::Bogon => "your network's resolver returned a private or reserved address",
                DnsTamper::Hijack => "your network's resolver returned addresses that do not serve the site",
                DnsTamper::Timeout => "your network's resolver did not answer",
                DnsTamper::Error => "your network's resolver failed",
            };
            format!(
                "{host} appears blocked by DNS: {what}, while the name resolves normally elsewhere."
            )
        }
        WebVerdict::TcpBlocked { how } => {
            let what = match how {
                TcpBlock::Reset => "was reset",
                TcpBlock::Timeout => "went unanswered",
                TcpBlock::Refused => "was refused",
                TcpBlock::Other => "failed",
            };
            format!(
                "{host} appears blocked: every connection to its addresses {what}, while the test helper connected to them."
            )
        }
        WebVerdict::TlsBlocked { how, sni } => {
            let what = match how {
                TlsBlock::Reset => "was reset",
                TlsBlock::Timeout => "went unanswered until it timed out",
                TlsBlock::Eof => "was closed",
                TlsBlock::Other => "was interrupted",
            };
            format!(
                "{host} appears blocked by its name: the secure (TLS) connection {what} right after the name {sni} was sent, while the test helper's connection worked."
            )
        }
        WebVerdict::TlsMitm {
            issuer,
            known_kz_root,
            ..
        } => {
            let root = if *known_kz_root {
                ", one of Kazakhstan's known interception certificates"
            } else {
                ""
            };
            format!(
                "The connection to {host} was intercepted: a certificate issued by \"{issuer}\"{root} was presented instead of the site's own. Whoever holds it can read what is sent to this site."
            )
        }
        WebVerdict::HttpBlockpage => format!(
            "{host} appears blocked: the page that came back is not the site's page (it differs from what the test helper received), most likely a block page."
        ),
        WebVerdict::HttpFailure { failure } => format!(
            "{host} appears blocked: {what} while requesting the page, while the test helper fetched it.",
            what = describe_failure(failure)
        ),
        WebVerdict::Undetermined { .. } => match failure {
            Some(failure) => format!(
                "{host} did not load: {what} while {step}. {no_control}, so this cannot tell blocking from an outage.",
                what = describe_failure(failure),
                step = step_words(failed_operation),
            ),
            None => {
                let loaded = match summary.status_code {
                    Some(code) => format!("{host} loaded (HTTP {code}) in {took}"),
                    None => format!("{host} was reachable in {took}"),
                };
                format!(
                    "{loaded}, but the page came over an unencrypted connection. {no_control}, so Kuzet cannot confirm it was the site's real page."
                )
            }
        },
    }
}

fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| url.to_string())
}

fn step_words(failed_operation: Option<&str>) -> &'static str {
    match failed_operation {
        Some("resolve") => "looking up its address (DNS)",
        Some("connect") => "opening a connection",
        Some("tls_handshake") => "setting up the secure (TLS) connection",
        Some("http_round_trip") => "requesting the page",
        _ => "measuring it",
    }
}

/// Explains one web measurement.
pub fn explain_web(summary: &UrlSummary) -> String {
    let host = host_of(&summary.url);
    let took = seconds(summary.runtime);
    let Some(failure) = &summary.failure else {
        return match summary.status_code {
            Some(code) if code >= 400 => format!(
                "{host} answered with HTTP {code} (an error page) after {took}. The site was reachable, but it refused the request or the page does not exist."
            ),
            Some(code) => format!("{host} loaded normally (HTTP {code}) in {took}."),
            None => format!("{host} was reachable in {took}."),
        };
    };
    let step = step_words(summary.failed_operation.as_deref());
    let what = describe_failure(failure);
    format!(
        "{host} did not load: {what} while {step}. {caveat}",
        caveat = caveat(failure)
    )
}

/// A failure string in plain words (without the step).
pub fn describe_failure(failure: &Failure) -> String {
    match failure {
        Failure::DnsNxdomain => "the name was reported as not existing".to_string(),
        Failure::DnsNoAnswer => "the resolver returned no address".to_string(),
        Failure::DnsRefused => "the resolver refused to answer".to_string(),
        Failure::DnsServfail => "the resolver reported a server failure".to_string(),
        Failure::DnsBogon => "the resolver returned a private or reserved address".to_string(),
        Failure::DnsTemporary | Failure::DnsNonRecoverable | Failure::DnsServerMisbehaving => {
            "the address lookup failed".to_string()
        }
        Failure::ConnectionRefused => "the connection was refused".to_string(),
        Failure::ConnectionReset => "the connection was reset".to_string(),
        Failure::GenericTimeout => "it timed out".to_string(),
        Failure::Eof => "the connection was closed unexpectedly".to_string(),
        Failure::HostUnreachable | Failure::NetworkUnreachable | Failure::NetworkDown => {
            "the network could not reach the server".to_string()
        }
        Failure::SslInvalidHostname => {
            "the certificate presented was not for this site".to_string()
        }
        Failure::SslUnknownAuthority => {
            "the certificate presented was not issued by a trusted authority".to_string()
        }
        Failure::SslInvalidCertificate => "the certificate presented was invalid".to_string(),
        Failure::SslFailedHandshake => "the secure connection could not be set up".to_string(),
        other => format!("the error was {}", other.as_str()),
    }
}

fn caveat(failure: &Failure) -> &'static str {
    match failure {
        Failure::DnsNxdomain | Failure::DnsBogon => {
            "Censors often answer this way for blocked sites, but the site may also have moved or closed."
        }
        Failure::ConnectionReset | Failure::Eof => {
            "Middleboxes that block sites often cut connections like this, but an overloaded server can too."
        }
        Failure::SslInvalidHostname | Failure::SslUnknownAuthority | Failure::SslInvalidCertificate => {
            "This can mean someone is intercepting the connection; it can also be a badly configured site."
        }
        Failure::GenericTimeout => {
            "Blocking often looks like this, but so does a slow or unreachable server."
        }
        _ => "One measurement alone cannot tell blocking from an outage.",
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(failed: Option<&str>, failure: Option<Failure>, code: Option<u16>) -> UrlSummary {
        UrlSummary {
            url: "https://example.org/path".to_string(),
            failed_operation: failed.map(str::to_string),
            failure,
            status_code: code,
            final_url: "https://example.org/path".to_string(),
            redirects: 0,
            body_length: 0,
            bytes_received: 0,
            runtime: Duration::from_millis(1234),
        }
    }

    #[test]
    fn success_names_host_status_and_time() {
        assert_eq!(
            explain_web(&summary(None, None, Some(200))),
            "example.org loaded normally (HTTP 200) in 1.2 s."
        );
    }

    #[test]
    fn error_pages_are_reachable_but_not_normal() {
        assert!(explain_web(&summary(None, None, Some(404))).contains("HTTP 404"));
    }

    #[test]
    fn failures_name_the_step_and_hedge() {
        let text = explain_web(&summary(
            Some("connect"),
            Some(Failure::ConnectionReset),
            None,
        ));
        assert!(
            text.starts_with(
                "example.org did not load: the connection was reset while opening a connection."
            ),
            "{text}"
        );
        assert!(text.contains("overloaded server"), "{text}");
    }

    #[test]
    fn unknown_failures_keep_the_ooni_string() {
        let text = describe_failure(&Failure::Unknown("weird".to_string()));
        assert_eq!(text, "the error was unknown_failure: weird");
    }

    fn web(status: Option<u16>, failure: Option<Failure>, control: bool) -> WebSummary {
        WebSummary {
            url: "http://example.org/".to_string(),
            category_code: None,
            blocking: None,
            accessible: None,
            dns_consistency: None,
            dns_experiment_failure: None,
            http_experiment_failure: failure,
            control_failure: (!control).then(|| Failure::Unknown("no test helper".to_string())),
            status_code: status,
            final_url: None,
            runtime: Duration::from_millis(2500),
        }
    }

    #[test]
    fn each_web_verdict_has_its_own_words() {
        let ok = web(Some(200), None, true);
        let cases: Vec<(WebVerdict, &str)> = vec![
            (WebVerdict::Ok, "example.org loaded normally (HTTP 200) in 2.5 s."),
            (WebVerdict::SiteDown, "down for everyone"),
            (WebVerdict::DnsTampered { how: DnsTamper::Nxdomain }, "blocked by DNS: your network's resolver said the name does not exist"),
            (WebVerdict::TcpBlocked { how: TcpBlock::Reset }, "every connection to its addresses was reset"),
            (
                WebVerdict::TlsBlocked { how: TlsBlock::Timeout, sni: "example.org".to_string() },
                "went unanswered until it timed out right after the name example.org was sent",
            ),
            (
                WebVerdict::TlsMitm { issuer: "C=KZ, CN=Qaznet Trust Network".to_string(), known_kz_root: true, sni: "example.org".to_string() },
                "issued by \"C=KZ, CN=Qaznet Trust Network\", one of Kazakhstan's known interception certificates",
            ),
            (WebVerdict::HttpBlockpage, "most likely a block page"),
            (WebVerdict::HttpFailure { failure: Failure::ConnectionReset }, "the connection was reset while requesting the page"),
        ];
        for (verdict, words) in cases {
            let text = explain_website(&verdict, &ok, None, true);
            assert!(text.contains(words), "{verdict}: {text}");
        }
    }

    #[test]
    fn undetermined_says_why_nothing_can_be_concluded() {
        let why = WebVerdict::Undetermined {
            why: "x".to_string(),
        };
        let failed = explain_website(
            &why,
            &web(None, Some(Failure::ConnectionRefused), false),
            Some("connect"),
            true,
        );
        assert_eq!(
            failed,
            "example.org did not load: the connection was refused while opening a connection. Kuzet could not reach its test helper to compare with another network, so this cannot tell blocking from an outage."
        );
        let loaded = explain_website(&why, &web(Some(200), None, false), None, false);
        assert!(
            loaded.starts_with("example.org loaded (HTTP 200) in 2.5 s, but"),
            "{loaded}"
        );
        assert!(loaded.contains("No test helper is configured"), "{loaded}");
        assert!(
            loaded.contains("cannot confirm it was the site's real page"),
            "{loaded}"
        );
    }
}
