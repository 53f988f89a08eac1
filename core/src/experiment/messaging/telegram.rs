//! Telegram (OONI `telegram`, ts-020, test_version 0.3.1): a cleartext HTTP POST to every data
//! centre address (on 80 and on 443, where the data centres speak plain HTTP) and an HTTPS GET
//! of Telegram Web. The data centres are essential: the app is blocked when none answers.

use serde_json::Map;

use super::runner::{Step, StepOutcome};
use super::{check_of, status_and_failure, MessagingError, Summary, TelegramEndpoints};
use crate::experiment::urlgetter::parse_target_url;
use crate::probe::fetch::Operation;

/// The URL a data centre is POSTed to.
fn datacenter_url(address: std::net::SocketAddr) -> String {
    format!("http://{address}/")
}

/// The steps: every data centre, then web.
pub(super) fn steps(endpoints: &TelegramEndpoints) -> Result<Vec<Step>, MessagingError> {
    let url = |text: &str| {
        parse_target_url(text).map_err(|e| MessagingError::InvalidConfig(e.to_string()))
    };
    let mut steps = Vec::new();
    for address in &endpoints.datacenters {
        steps.push(Step::Post {
            url: url(&datacenter_url(*address))?,
        });
    }
    steps.push(Step::Get {
        url: url(&endpoints.web_url)?,
        trust: None,
    });
    Ok(steps)
}

/// OONI's keys and the checks, from the outcomes of [`steps`] (same order).
pub(super) fn summarise(endpoints: &TelegramEndpoints, outcomes: &[StepOutcome]) -> Summary {
    let count = endpoints.datacenters.len();
    let mut checks = Vec::new();
    // As OONI: both start blocked; one data centre that answers clears both; a failure after
    // the connection was made clears the TCP one.
    let mut tcp_blocking = true;
    let mut http_blocking = true;
    for (address, outcome) in endpoints.datacenters.iter().zip(outcomes) {
        checks.push(check_of(datacenter_url(*address), true, outcome));
        match outcome.failed_operation {
            None => {
                tcp_blocking = false;
                http_blocking = false;
            }
            Some(Operation::Connect | Operation::Resolve) => {}
            Some(_) => tcp_blocking = false,
        }
    }
    let default = StepOutcome::default();
    let web = outcomes.get(count).unwrap_or(&default);
    checks.push(check_of(endpoints.web_url.clone(), false, web));

    let mut keys = Map::new();
    keys.insert("telegram_tcp_blocking".to_string(), tcp_blocking.into());
    keys.insert("telegram_http_blocking".to_string(), http_blocking.into());
    let (status, failure) = status_and_failure(web);
    keys.insert("telegram_web_status".to_string(), status);
    keys.insert("telegram_web_failure".to_string(), failure);
    Summary {
        keys,
        checks,
        urlgetter_shape: true,
    }
}
