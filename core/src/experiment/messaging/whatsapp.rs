//! WhatsApp (OONI `whatsapp`, ts-018, test_version 0.11.0): TCP connects to the chat endpoints
//! (e1…e16.whatsapp.net on 443 and 5222), an HTTPS GET of the registration service and one of
//! WhatsApp Web. The chat endpoints are essential: the app is blocked when none connects.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::runner::{Step, StepOutcome};
use super::{check_of, status_and_failure, MessagingError, Summary, WhatsAppEndpoints};
use crate::experiment::urlgetter::parse_target_url;

/// The steps: every chat endpoint, then registration, then web.
pub(super) fn steps(endpoints: &WhatsAppEndpoints) -> Result<Vec<Step>, MessagingError> {
    let url = |text: &str| {
        parse_target_url(text).map_err(|e| MessagingError::InvalidConfig(e.to_string()))
    };
    let mut steps: Vec<Step> = endpoints
        .endpoints
        .iter()
        .map(|endpoint| Step::Connect {
            host: endpoint.host.clone(),
            port: endpoint.port,
        })
        .collect();
    steps.push(Step::Get {
        url: url(&endpoints.registration_url)?,
        trust: None,
    });
    steps.push(Step::Get {
        url: url(&endpoints.web_url)?,
        trust: None,
    });
    Ok(steps)
}

/// OONI's keys and the checks, from the outcomes of [`steps`] (same order).
pub(super) fn summarise(endpoints: &WhatsAppEndpoints, outcomes: &[StepOutcome]) -> Summary {
    let count = endpoints.endpoints.len();
    let mut checks = Vec::new();
    // A host is blocked when every port tried on it failed.
    let mut host_ok: BTreeMap<&str, bool> = BTreeMap::new();
    for (endpoint, outcome) in endpoints.endpoints.iter().zip(outcomes) {
        let label = super::runner::Step::Connect {
            host: endpoint.host.clone(),
            port: endpoint.port,
        }
        .label();
        checks.push(check_of(label, true, outcome));
        *host_ok.entry(endpoint.host.as_str()).or_insert(false) |= outcome.failure.is_none();
    }
    let any_connected = host_ok.values().any(|ok| *ok);
    let blocked_hosts: BTreeSet<&str> = crate::ordered::btree_set(
        host_ok
            .iter()
            .filter(|(_, ok)| !**ok)
            .map(|(host, _)| *host),
    );
    let default = StepOutcome::default();
    let registration = outcomes.get(count).unwrap_or(&default);
    let web = outcomes.get(count + 1).unwrap_or(&default);
    checks.push(check_of(
        endpoints.registration_url.clone(),
        false,
        registration,
    ));
    checks.push(check_of(endpoints.web_url.clone(), false, web));

    let mut keys = Map::new();
    keys.insert(
        "whatsapp_endpoints_status".to_string(),
        if any_connected { "ok" } else { "blocked" }.into(),
    );
    keys.insert(
        "whatsapp_endpoints_blocked".to_string(),
        blocked_hosts.into_iter().collect::<Vec<_>>().into(),
    );
    // OONI keeps this key for compatibility and no longer fills it; Kuzet does not check DNS
    // consistency for WhatsApp either.
    keys.insert(
        "whatsapp_endpoints_dns_inconsistent".to_string(),
        Value::Array(Vec::new()),
    );
    let (status, failure) = status_and_failure(registration);
    keys.insert("registration_server_status".to_string(), status);
    keys.insert("registration_server_failure".to_string(), failure);
    let (status, failure) = status_and_failure(web);
    keys.insert("whatsapp_web_status".to_string(), status);
    keys.insert("whatsapp_web_failure".to_string(), failure);
    Summary {
        keys,
        checks,
        urlgetter_shape: true,
    }
}
