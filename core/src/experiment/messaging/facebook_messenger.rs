//! Facebook Messenger (OONI `facebook_messenger`, ts-019, test_version 0.2.1): for each service,
//! a lookup whose addresses must all be in Facebook's networks (`facebook_<service>_dns_consistent`)
//! and, for the TCP services, a connect (`facebook_<service>_reachable`, `null` when the lookup
//! was inconsistent, as OONI). `facebook_dns_blocking` and `facebook_tcp_blocking` are true when
//! any service failed that way. The TCP services are essential: the app is blocked when every
//! one failed.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::runner::{Step, StepOutcome};
use super::{BlockedStep, EndpointCheck, FacebookEndpoints, Summary};
use crate::failure::Failure;
use crate::th::IpNet;

/// The steps: one per service, in order (a connect for TCP services, a lookup otherwise).
pub(super) fn steps(endpoints: &FacebookEndpoints) -> Vec<Step> {
    endpoints
        .services
        .iter()
        .map(|service| match service.port {
            Some(port) => Step::Connect {
                host: service.host.clone(),
                port,
            },
            None => Step::Resolve {
                host: service.host.clone(),
            },
        })
        .collect()
}

/// OONI's keys and the checks, from the outcomes of [`steps`] (same order).
pub(super) fn summarise(
    endpoints: &FacebookEndpoints,
    networks: &[IpNet],
    outcomes: &[StepOutcome],
) -> Summary {
    let mut keys = Map::new();
    let mut checks = Vec::new();
    let mut dns_blocking = false;
    let mut tcp_blocking = false;
    for (service, outcome) in endpoints.services.iter().zip(outcomes) {
        let addresses: Vec<IpAddr> = match service.host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => outcome.addresses.clone(),
        };
        let resolved = !addresses.is_empty()
            && !matches!(
                outcome.failed_operation,
                Some(crate::probe::fetch::Operation::Resolve)
            );
        let consistent = resolved
            && addresses
                .iter()
                .all(|ip| networks.iter().any(|net| net.contains(*ip)));
        let reachable = match service.port {
            Some(_) if consistent => Some(outcome.failure.is_none()),
            _ => None,
        };
        dns_blocking |= !consistent;
        tcp_blocking |= reachable == Some(false);
        keys.insert(
            format!("facebook_{}_dns_consistent", service.service),
            consistent.into(),
        );
        keys.insert(
            format!("facebook_{}_reachable", service.service),
            reachable.map_or(Value::Null, Value::from),
        );
        let failed = if !consistent {
            Some((
                BlockedStep::Dns,
                outcome
                    .failure
                    .clone()
                    .filter(|_| !resolved)
                    .unwrap_or_else(|| {
                        Failure::Unknown("addresses outside the service's networks".to_string())
                    }),
            ))
        } else if reachable == Some(false) {
            outcome
                .failure
                .clone()
                .map(|failure| (BlockedStep::Tcp, failure))
        } else {
            None
        };
        let endpoint = match service.port {
            Some(port) => Step::Connect {
                host: service.host.clone(),
                port,
            }
            .label(),
            None => service.host.clone(),
        };
        checks.push(EndpointCheck {
            endpoint,
            essential: service.port.is_some(),
            failed,
        });
    }
    keys.insert("facebook_tcp_blocking".to_string(), tcp_blocking.into());
    keys.insert("facebook_dns_blocking".to_string(), dns_blocking.into());
    Summary {
        keys,
        checks,
        urlgetter_shape: false,
    }
}
