//! Throttling verdicts in plain words: one sentence each, careful about what one device's test
//! can show.

use crate::experiment::throttling::ThrottlingVerdict;

/// Explains one throttling verdict.
pub fn explain(verdict: &ThrottlingVerdict) -> String {
    match verdict {
        ThrottlingVerdict::NotThrottled { median_ratio } => format!(
            "Not throttled: it downloaded at about the same speed as the comparison ({:.0}% of it).",
            median_ratio * 100.0
        ),
        ThrottlingVerdict::Throttled {
            target_kbps,
            control_kbps,
            fixed_rate,
            ..
        } => format!(
            "Throttled: it was held to about {target_kbps} kbit/s while the comparison got about \
             {control_kbps} kbit/s on the same path{}.",
            if *fixed_rate {
                ", at a flat rate that looks like a deliberate speed limit"
            } else {
                ""
            }
        ),
        ThrottlingVerdict::Stalled { after_bytes } => format!(
            "Cut off: downloads froze after about {} KB while the comparison finished, a sign of \
             targeted interference.",
            (after_bytes + 512) / 1024
        ),
        ThrottlingVerdict::Suspected { median_ratio } => format!(
            "Possibly throttled: it was slower than the comparison ({:.0}% of its speed) but not \
             consistently enough to be sure; more tests would tell.",
            median_ratio * 100.0
        ),
        ThrottlingVerdict::Inconclusive { why } => {
            format!("No conclusion: the test could not tell ({why}).")
        }
        ThrottlingVerdict::Blocked { step, failure } => format!(
            "Blocked rather than throttled: its {} failed ({failure}) while the comparison \
             worked.",
            step_words(step)
        ),
        ThrottlingVerdict::Intercepted => "Intercepted: something on the network answered in \
             the server's place, with another key than the server's."
            .to_string(),
        ThrottlingVerdict::Unreachable { network } => {
            crate::experiment::connectivity::unreachable_sentence("the test", *network)
        }
    }
}

/// A failed step of a trial in plain words.
fn step_words(step: &str) -> &'static str {
    match step {
        "resolve" => "address lookup (DNS)",
        "connect" => "connection",
        "tls_handshake" => "secure (TLS) handshake",
        "http_round_trip" => "download request",
        _ => "connection",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verdict_has_one_sentence() {
        let verdicts = [
            ThrottlingVerdict::NotThrottled { median_ratio: 0.97 },
            ThrottlingVerdict::Throttled {
                median_ratio: 0.02,
                target_kbps: 128,
                control_kbps: 8000,
                fixed_rate: true,
            },
            ThrottlingVerdict::Stalled {
                after_bytes: 18_000,
            },
            ThrottlingVerdict::Suspected { median_ratio: 0.6 },
            ThrottlingVerdict::Blocked {
                step: "tls_handshake".to_string(),
                failure: "connection_reset".to_string(),
            },
            ThrottlingVerdict::Intercepted,
            ThrottlingVerdict::Inconclusive {
                why: "cancelled".to_string(),
            },
        ];
        for verdict in &verdicts {
            let text = explain(verdict);
            assert!(text.ends_with('.'), "{text}");
            assert_eq!(text.matches(". ").count(), 0, "one sentence: {text}");
        }
        assert!(explain(&verdicts[1]).contains("128 kbit/s"));
        assert!(explain(&verdicts[2]).contains("18 KB"));
        assert!(explain(&verdicts[4]).starts_with("Blocked"));
    }
}
