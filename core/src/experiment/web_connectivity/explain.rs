//! A web_connectivity verdict in plain words: blocked how, down for everyone, fine, or why
//! nothing can be concluded. Kept short and careful: one measurement alone rarely proves
//! blocking, and the words say so.

use super::{DnsTamper, TcpBlock, TlsBlock, Verdict as WebVerdict, WebSummary};
use crate::experiment::urlgetter::explain::{describe_failure, host_of, seconds, step_words};

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
        WebVerdict::Unreachable { network } => {
            crate::experiment::connectivity::unreachable_sentence(&host, *network)
        }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::failure::Failure;

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
            failed: false,
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
