//! A urlgetter measurement in plain words, and the words for each failure and step that the
//! other experiments' explanations share. Kept short and careful: one measurement alone rarely
//! proves blocking, and the words say so.

use std::time::Duration;

use super::UrlSummary;
use crate::failure::Failure;

pub(crate) fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| url.to_string())
}

pub(crate) fn step_words(failed_operation: Option<&str>) -> &'static str {
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

pub(crate) fn seconds(duration: Duration) -> String {
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
}
