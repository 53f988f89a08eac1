//! From what an app asks for ([`RunRequest`]) to the plan every front end's runs go through
//! ([`RunPlan`]): consent and availability first, then targets, budgets and the experiments'
//! settings from the engine's configuration. Nothing is measured when this refuses.

use std::sync::Arc;

use super::config::EngineConfig;
use super::error::EngineError;
use crate::experiment::throttling::{ThrottlingConfig, DEFAULT_TARGETS};
use crate::experiment::urlgetter::UrlGetterConfig;
use crate::experiment::web_connectivity::{self as wc, TargetUrl, WebConnectivityConfig};
use crate::session::{NetworkContext, RunLimits, RunPlan, Setup, Suite, Targets};
use crate::store::Store;

/// What to measure in one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Record))]
pub struct RunRequest {
    /// The suites, measured in [`Suite::ALL`] order; duplicates are ignored. Every run with
    /// web, messaging or throttling checks the network first, and conditions its verdicts on
    /// it.
    pub suites: Vec<Suite>,
    /// URLs for the web suite (http or https).
    #[cfg_attr(all(feature = "uniffi", not(test)), uniffi(default = []))]
    pub web_urls: Vec<String>,
    /// A lower byte budget for this run only (never above the configured one).
    #[cfg_attr(all(feature = "uniffi", not(test)), uniffi(default = None))]
    pub byte_budget: Option<u64>,
    /// Site names (SNIs) for the throttling suite; empty for the built-in list
    /// ([`crate::experiment::throttling::DEFAULT_TARGETS`]). Only the names are sent, to
    /// Kuzet's throughput server.
    #[cfg_attr(all(feature = "uniffi", not(test)), uniffi(default = []))]
    pub throttling_targets: Vec<String>,
}

/// Why this engine cannot run `suite`, if it cannot: the command line's alone (single URLs),
/// or (throttling) no throughput server configured.
pub(crate) fn unavailable_reason(config: &EngineConfig, suite: Suite) -> Option<String> {
    match suite {
        Suite::Urls => Some(
            "the urls suite (single URLs, step by step) is the command line's; apps run the web \
             suite"
                .to_string(),
        ),
        Suite::Throttling if config.throughput_server.is_none() => Some(
            "the throttling suite needs Kuzet's throughput server: set its address and key pin \
             in the configuration"
                .to_string(),
        ),
        _ => None,
    }
}

/// Checks `request` against consent and availability and builds its plan.
pub(crate) fn plan(
    config: &EngineConfig,
    request: RunRequest,
    network: NetworkContext,
    store: Arc<Store>,
) -> Result<RunPlan, EngineError> {
    let mut suites: Vec<Suite> = Suite::ALL
        .into_iter()
        .filter(|s| request.suites.contains(s))
        .collect();
    suites.dedup();
    if suites.is_empty() {
        return Err(EngineError::InvalidInput(
            "a run needs at least one suite".to_string(),
        ));
    }
    for suite in &suites {
        if !config.consent.allowed_suites.contains(suite) {
            return Err(EngineError::NotAllowed(format!(
                "the user has not allowed the {suite} suite"
            )));
        }
    }
    for suite in &suites {
        if let Some(reason) = unavailable_reason(config, *suite) {
            return Err(EngineError::Unavailable(reason));
        }
    }
    let has = |suite: Suite| suites.contains(&suite);
    if has(Suite::Web) && request.web_urls.is_empty() {
        return Err(EngineError::InvalidInput(
            "the web suite needs at least one URL".to_string(),
        ));
    }
    let byte_budget = match request.byte_budget {
        Some(0) => {
            return Err(EngineError::InvalidInput(
                "a run's byte budget must be more than 0".to_string(),
            ))
        }
        Some(bytes) => bytes.min(config.budgets.run_bytes),
        None => config.budgets.run_bytes,
    };
    let targets = Targets {
        connectivity: has(Suite::Connectivity),
        urls: Vec::new(),
        web: if has(Suite::Web) {
            request.web_urls.into_iter().map(TargetUrl::new).collect()
        } else {
            Vec::new()
        },
        apps: if has(Suite::Messaging) {
            config.messaging.apps.clone()
        } else {
            Vec::new()
        },
        throttling: match (
            has(Suite::Throttling),
            request.throttling_targets.is_empty(),
        ) {
            (false, _) => Vec::new(),
            (true, true) => DEFAULT_TARGETS.map(str::to_string).to_vec(),
            (true, false) => request.throttling_targets,
        },
        passive: Vec::new(),
    };
    let plan = RunPlan {
        run_id: crate::random::uuid_v4().to_string(),
        targets,
        setup: setup(config),
        limits: RunLimits {
            byte_budget,
            time_budget: None,
            parallelism: config.parallelism,
        },
        network,
        store: Some(store),
    };
    plan.check()
        .map_err(|e| EngineError::InvalidInput(e.to_string()))?;
    Ok(plan)
}

/// Every experiment's settings from the engine's configuration.
pub(crate) fn setup(config: &EngineConfig) -> Setup {
    let trust = config.trust.clone();
    let mut connectivity = config.connectivity.clone();
    connectivity.trust = trust.clone();
    let mut messaging = config.messaging.clone();
    messaging.resolver = config.resolver.clone();
    messaging.trust = trust.clone();
    let throttling = config.throughput_server.as_ref().map(|server| {
        let mut throttling = ThrottlingConfig::new(server.addr, server.pin, Vec::new());
        throttling.passive_options.resolver = config.resolver.clone();
        throttling.passive_options.trust = trust.clone();
        throttling
    });
    Setup {
        software: config.software.clone(),
        probe_network: config.probe_network.clone(),
        urls: UrlGetterConfig {
            resolver: config.resolver.clone(),
            timeouts: config.timeouts.clone(),
            trust: trust.clone(),
            ..UrlGetterConfig::default()
        },
        web: WebConnectivityConfig {
            resolver: config.resolver.clone(),
            timeouts: wc::Timeouts::from_steps(config.timeouts.clone()),
            trust,
            bogons: config.bogons.clone(),
            ..WebConnectivityConfig::default()
        },
        test_helpers: config.test_helper_urls.clone(),
        messaging,
        throttling,
        connectivity,
        record_checks: config.consent.allowed_suites.contains(&Suite::Connectivity),
    }
}
