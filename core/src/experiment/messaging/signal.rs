//! Signal (OONI `signal`, ts-029, test_version 0.2.5): an HTTPS GET of each backend URL
//! (cdsi, chat, sfu.voip, storage), verified against the bundled roots plus Signal's own when
//! configured ([`super::SignalEndpoints::roots_pem`]), and a lookup of the names OONI only
//! resolves (recorded, outside the verdict). Every backend URL is essential: the app is blocked
//! when all fail, partially when some do (OONI calls any failure `blocked`).

use serde_json::{Map, Value};

use super::runner::{Step, StepOutcome};
use super::{check_of, MessagingError, SignalEndpoints, Summary};
use crate::experiment::urlgetter::parse_target_url;
use crate::net::trust::TrustAnchors;

/// The steps: every backend URL, then the names only resolved.
pub(super) fn steps(
    endpoints: &SignalEndpoints,
    trust: Option<TrustAnchors>,
) -> Result<Vec<Step>, MessagingError> {
    let mut steps = Vec::new();
    for text in &endpoints.urls {
        let url =
            parse_target_url(text).map_err(|e| MessagingError::InvalidConfig(e.to_string()))?;
        steps.push(Step::Get {
            url,
            trust: trust.clone(),
        });
    }
    for host in &endpoints.dns_only {
        steps.push(Step::Resolve { host: host.clone() });
    }
    Ok(steps)
}

/// OONI's keys and the checks, from the outcomes of [`steps`] (same order).
pub(super) fn summarise(endpoints: &SignalEndpoints, outcomes: &[StepOutcome]) -> Summary {
    let mut checks = Vec::new();
    let mut first_failure = None;
    for (url, outcome) in endpoints.urls.iter().zip(outcomes) {
        checks.push(check_of(url.clone(), true, outcome));
        if first_failure.is_none() {
            first_failure = outcome.failure.clone();
        }
    }
    let mut keys = Map::new();
    let (status, failure) = match first_failure {
        None => ("ok".into(), Value::Null),
        Some(failure) => ("blocked".into(), failure.as_str().into_owned().into()),
    };
    keys.insert("signal_backend_status".to_string(), status);
    keys.insert("signal_backend_failure".to_string(), failure);
    Summary {
        keys,
        checks,
        urlgetter_shape: true,
    }
}
