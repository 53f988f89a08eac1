//! Watching the network: a connectivity check every period, each change recorded in the
//! timeline with its measurement queued for upload (stamped when observed), and every check's
//! time and status kept for runs to reuse. `kuzet watch` runs it; the apps' background cycle
//! makes the same check through the same [`NetworkGuard`].

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::context::NetworkContextProvider;
use super::guard::NetworkGuard;
use super::operators::probe_network;
use crate::experiment::connectivity::{ConnectivityConfig, ConnectivityOutcome, Recording};
use crate::report::{ProbeNetwork, Software};
use crate::store::Store;

/// What to watch, how often and where to record it.
pub struct WatchPlan {
    /// The check's anchors and rules (its trust set by the caller).
    pub config: ConnectivityConfig,
    /// Who measures.
    pub software: Software,
    /// The probe's network as configured; refined from the platform's context at each check.
    pub probe_network: ProbeNetwork,
    /// Where the platform's view of the network comes from, asked before each check.
    pub network: Arc<dyn NetworkContextProvider>,
    /// Where checks and transitions are recorded.
    pub store: Arc<Store>,
    /// Time between the starts of two checks.
    pub every: Duration,
    /// Stop after this many checks (`None`: until cancelled).
    pub count: Option<u64>,
}

/// Hears each check of a watch.
pub trait WatchListener: Send + Sync {
    /// A check finished and was recorded (`recording` says whether the status changed).
    fn on_check(&self, outcome: &ConnectivityOutcome, recording: Option<&Recording>);
}

/// Watches until cancelled or `count` checks are done; returns the number of checks made.
pub async fn watch(
    plan: WatchPlan,
    listener: &dyn WatchListener,
    cancel: &CancellationToken,
) -> u64 {
    let mut checks = 0u64;
    loop {
        let started = tokio::time::Instant::now();
        let context = plan.network.current_network();
        let mut config = plan.config.clone();
        config.software = plan.software.clone();
        config.network = probe_network(&plan.probe_network, &context);
        let mut guard = NetworkGuard::new(
            config,
            context.platform_state(),
            Some(plan.store.clone()),
            true,
        );
        let Some(checked) = guard.check(None, false, cancel).await else {
            break;
        };
        listener.on_check(&checked.outcome, checked.recording.as_ref());
        checks += 1;
        if plan.count.is_some_and(|count| checks >= count) {
            break;
        }
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            () = tokio::time::sleep_until(started + plan.every) => {}
        }
    }
    checks
}
