//! What a run will measure and how: the targets of each suite, the experiments' settings, the
//! budgets, the network the platform sees and where results are kept. Front ends (the CLI's
//! flags, the engine's configuration) build a [`RunPlan`]; [`RunPlan::check`] refuses an
//! unusable one before anything is measured.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::context::NetworkContext;
use super::suite::Suite;
use crate::experiment::connectivity::ConnectivityConfig;
use crate::experiment::messaging::{App, MessagingConfig};
use crate::experiment::policy::MAX_PARALLELISM;
use crate::experiment::throttling::{PassiveTarget, ThrottlingConfig};
use crate::experiment::urlgetter::{parse_target_url, UrlGetterConfig};
use crate::experiment::web_connectivity::{TargetUrl, WebConnectivityConfig};
use crate::report::{ProbeNetwork, Software};
use crate::store::Store;

/// The targets of a run, by suite. A suite with no target is not run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    /// Run the connectivity check as a result of its own (the check every run with web,
    /// messaging or throttling makes first is then this one).
    pub connectivity: bool,
    /// URLs fetched with urlgetter.
    pub urls: Vec<String>,
    /// URLs measured with web_connectivity, with their test-list categories.
    pub web: Vec<TargetUrl>,
    /// Messaging apps.
    pub apps: Vec<App>,
    /// Site names (SNIs) for the throttling suite's SNI swap.
    pub throttling: Vec<String>,
    /// Real sites against baselines, for the throttling suite's passive method.
    pub passive: Vec<PassiveTarget>,
}

impl Targets {
    /// The suites with targets, in the order a run measures them.
    pub fn suites(&self) -> Vec<Suite> {
        Suite::ALL
            .into_iter()
            .filter(|suite| self.count(*suite) > 0)
            .collect()
    }

    /// How many targets `suite` has.
    pub fn count(&self, suite: Suite) -> usize {
        match suite {
            Suite::Connectivity => usize::from(self.connectivity),
            Suite::Urls => self.urls.len(),
            Suite::Web => self.web.len(),
            Suite::Messaging => self.apps.len(),
            Suite::Throttling => self.throttling.len() + self.passive.len(),
        }
    }

    /// Every target of every suite.
    pub fn total(&self) -> usize {
        Suite::ALL.into_iter().map(|suite| self.count(suite)).sum()
    }

    /// The names of `suite`'s targets, in the order they are measured.
    pub fn names(&self, suite: Suite) -> Vec<String> {
        match suite {
            Suite::Connectivity if self.connectivity => vec![CONNECTIVITY_TARGET.to_string()],
            Suite::Connectivity => Vec::new(),
            Suite::Urls => self.urls.clone(),
            Suite::Web => self.web.iter().map(|t| t.url.clone()).collect(),
            Suite::Messaging => self
                .apps
                .iter()
                .map(|a| a.test_name().to_string())
                .collect(),
            Suite::Throttling => self
                .throttling
                .iter()
                .cloned()
                .chain(self.passive.iter().map(|p| p.url.clone()))
                .collect(),
        }
    }

    /// Whether the run's verdicts must be conditioned on the network: it has web, messaging
    /// or throttling targets.
    pub fn needs_network_check(&self) -> bool {
        self.suites()
            .into_iter()
            .any(|suite| suite.needs_network_check())
    }
}

/// The target name of a connectivity result.
pub const CONNECTIVITY_TARGET: &str = "connectivity";

/// How every target of a run is measured. Each experiment's own settings; the run sets their
/// software and network identity when it starts.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The app (or the CLI), as named in every measurement.
    pub software: Software,
    /// The probe's network as configured (AS0/ZZ when unknown); the run refines it with the
    /// platform's [`NetworkContext`].
    pub probe_network: ProbeNetwork,
    /// urlgetter's settings.
    pub urls: UrlGetterConfig,
    /// web_connectivity's settings (its test helper is set per URL from `test_helpers`).
    pub web: WebConnectivityConfig,
    /// Web-connectivity test helpers, tried in order.
    pub test_helpers: Vec<Url>,
    /// The messaging experiments' settings (their apps come from [`Targets::apps`]).
    pub messaging: MessagingConfig,
    /// The throttling experiment's settings: server, pin, control name, budgets and passive
    /// options (its targets come from [`Targets`]); needed when the run has throttling
    /// targets.
    pub throttling: Option<ThrottlingConfig>,
    /// The connectivity check's anchors, rules and domestic networks.
    pub connectivity: ConnectivityConfig,
    /// Whether the network checks the run makes for its own verdicts are recorded in the
    /// timeline and queued for upload (the user allows the connectivity suite).
    pub record_checks: bool,
}

/// A run's budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    /// No target starts once this many bytes have been received (targets already running
    /// finish within their own caps).
    pub byte_budget: u64,
    /// No target starts once this much time has passed.
    pub time_budget: Option<Duration>,
    /// Web and URL targets measured at the same time (1 to [`MAX_PARALLELISM`]).
    pub parallelism: usize,
}

/// A complete run, ready to start.
#[derive(Clone)]
pub struct RunPlan {
    /// The run's id (a random UUID v4).
    pub run_id: String,
    /// What to measure.
    pub targets: Targets,
    /// How.
    pub setup: Setup,
    /// Within which budgets.
    pub limits: RunLimits,
    /// The network the platform sees (the CLI: what the host tells).
    pub network: NetworkContext,
    /// Where each result is recorded before it is reported; `None` keeps nothing.
    pub store: Option<Arc<Store>>,
}

impl std::fmt::Debug for RunPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunPlan")
            .field("run_id", &self.run_id)
            .field("targets", &self.targets)
            .field("limits", &self.limits)
            .field("stored", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a plan cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

impl RunPlan {
    /// Checks every target and setting; nothing is measured when this fails.
    pub fn check(&self) -> Result<(), PlanError> {
        let invalid = |message: String| Err(PlanError(message));
        if self.targets.total() == 0 {
            return invalid("a run needs at least one target".to_string());
        }
        if !(1..=MAX_PARALLELISM).contains(&self.limits.parallelism) {
            return invalid(format!(
                "parallelism {} must be from 1 to {MAX_PARALLELISM}",
                self.limits.parallelism
            ));
        }
        if self.limits.byte_budget == 0 {
            return invalid("a run's byte budget must be more than 0".to_string());
        }
        if self.limits.time_budget.is_some_and(|t| t.is_zero()) {
            return invalid("a run's time budget must be more than 0".to_string());
        }
        for url in self
            .targets
            .urls
            .iter()
            .chain(self.targets.web.iter().map(|t| &t.url))
        {
            parse_target_url(url).map_err(|e| PlanError(e.to_string()))?;
        }
        if !self.targets.apps.is_empty() {
            self.setup
                .messaging
                .validate()
                .map_err(|e| PlanError(e.to_string()))?;
        }
        for name in &self.targets.throttling {
            check_site_name(name)?;
        }
        let throttling = self.targets.count(Suite::Throttling) > 0;
        if throttling && self.setup.throttling.is_none() {
            return invalid(
                "the throttling suite needs Kuzet's throughput server: its address and key pin"
                    .to_string(),
            );
        }
        if self.targets.needs_network_check() || self.targets.connectivity {
            self.setup
                .connectivity
                .validate()
                .and_then(|()| self.setup.connectivity.resolver_transport().map(drop))
                .map_err(|e| PlanError(e.to_string()))?;
        }
        Ok(())
    }
}

/// Checks a throttling target: a host name (not an address) that can be sent as an SNI.
pub fn check_site_name(name: &str) -> Result<(), PlanError> {
    let usable = !name.is_empty()
        && name.parse::<std::net::IpAddr>().is_err()
        && rustls::pki_types::ServerName::try_from(name).is_ok();
    if usable {
        Ok(())
    } else {
        Err(PlanError(format!(
            "throttling target {name:?} is not a host name"
        )))
    }
}
