//! One plain-language sentence per status, for apps and the CLI. Each sentence says what this
//! device observed, never that the whole country or network is cut: one device cannot know.

use crate::experiment::connectivity::classify::ConnectivityStatus;

/// A one-sentence explanation of `status` for people.
pub fn explain(status: ConnectivityStatus) -> String {
    match status {
        ConnectivityStatus::Ok => "This device reached domestic and international hosts normally.",
        ConnectivityStatus::LocalDevice => {
            "This device is offline by its own settings or radio (airplane mode, mobile data \
             off or no service), so nothing can be said about the network."
        }
        ConnectivityStatus::LocalLink => {
            "This device's own connection is down (no network path from the device), which \
             is a local problem, not a sign of a shutdown."
        }
        ConnectivityStatus::CaptiveOrInjection => {
            "This device's web traffic was answered by something else (a login portal or an \
             injected redirect) instead of the expected page."
        }
        ConnectivityStatus::DataBlackout => {
            "This device is connected to its network, but no domestic or international host \
             answered, as in a data shutdown."
        }
        ConnectivityStatus::InternationalCut => {
            "This device reached hosts inside the country, but none abroad, as when the \
             international gateway is cut."
        }
        ConnectivityStatus::WhitelistMode => {
            "This device reached only a few approved hosts while most others failed, as when \
             only whitelisted services are let through."
        }
        ConnectivityStatus::ServiceBlock => {
            "This device reached the internet, but some key services failed, as when those \
             services are blocked."
        }
    }
    .to_string()
}

/// One sentence for a target that could not be judged because this device's network was down
/// or cut while it was measured (`status`, the connectivity check's): `subject` names the
/// target (a host, an app, "the test"). It never calls the target blocked or throttled.
pub fn unreachable_sentence(subject: &str, status: ConnectivityStatus) -> String {
    let network = match status {
        ConnectivityStatus::LocalDevice | ConnectivityStatus::LocalLink => {
            "this device itself was offline at the time"
        }
        ConnectivityStatus::DataBlackout => {
            "no domestic or international host answered this device at the time, as in a data \
             shutdown"
        }
        ConnectivityStatus::InternationalCut => {
            "this device could not reach anything abroad at the time, as when the international \
             gateway is cut"
        }
        _ => "this device's network was disrupted at the time",
    };
    format!(
        "{subject} could not be reached, but {network} ({status}), so this says nothing about \
         whether it is blocked or slowed."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [ConnectivityStatus; 8] = [
        ConnectivityStatus::Ok,
        ConnectivityStatus::LocalDevice,
        ConnectivityStatus::LocalLink,
        ConnectivityStatus::CaptiveOrInjection,
        ConnectivityStatus::DataBlackout,
        ConnectivityStatus::InternationalCut,
        ConnectivityStatus::WhitelistMode,
        ConnectivityStatus::ServiceBlock,
    ];

    #[test]
    fn every_status_has_one_sentence_about_this_device() {
        for status in ALL {
            let text = explain(status);
            assert!(text.starts_with("This device"), "{status:?}: {text}");
            assert!(text.ends_with('.'), "{text}");
            assert_eq!(text.matches(". ").count(), 0, "one sentence: {text}");
            let lower = text.to_lowercase();
            assert!(!lower.contains("national shutdown") && !lower.contains("nationwide"));
        }
    }

    #[test]
    fn unreachable_never_claims_blocking() {
        for status in ALL {
            let text = unreachable_sentence("example.org", status);
            assert!(
                text.starts_with("example.org could not be reached"),
                "{text}"
            );
            assert!(text.contains(status.as_str()), "{text}");
            assert!(
                text.ends_with('.') && text.matches(". ").count() == 0,
                "{text}"
            );
        }
    }

    #[test]
    fn local_statuses_say_they_are_local() {
        assert!(explain(ConnectivityStatus::LocalLink).contains("not a sign of a shutdown"));
    }
}
