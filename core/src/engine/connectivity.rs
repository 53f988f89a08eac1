//! The connectivity suite and the background cycle's cheap check: the platform's context as
//! the check's platform state, the check itself (`kuzet_connectivity`), its recording in the
//! store's timeline, and its result as a [`TargetResult`].

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::context::{NetworkContext, NetworkKind};
use super::error::EngineError;
use super::history::blocking;
use super::progress::{TargetResult, Verdict};
use super::suite::Suite;
use crate::experiment::connectivity::{
    check_connectivity, ConnectivityConfig, ConnectivityError, ConnectivityMonitor,
    ConnectivityOutcome, RecordPolicy,
};
use crate::experiment::connectivity::{ConnectivityStatus, PlatformState, Transport};
use crate::net::trust::TrustAnchors;
use crate::report::{Measurement, ProbeNetwork, Software};
use crate::store::{RunId, Store};

/// The target name of a connectivity result.
pub const CONNECTIVITY_TARGET: &str = "connectivity";

/// The check's view of the platform, from the app's [`NetworkContext`]. The MCC-MNC is left
/// out: the check's measurement records its platform state, and MCC-MNC is never recorded.
pub(crate) fn platform_state(context: &NetworkContext) -> PlatformState {
    PlatformState {
        transport: match context.kind {
            NetworkKind::Wifi => Transport::Wifi,
            NetworkKind::Cellular => Transport::Cellular,
            NetworkKind::Ethernet => Transport::Ethernet,
            NetworkKind::Offline => Transport::None,
            NetworkKind::Vpn | NetworkKind::Unknown => Transport::Unknown,
        },
        radio: context.radio.clone(),
        in_service: context.in_service,
        airplane_mode: context.airplane_mode,
        data_enabled: context.data_enabled,
        vpn: context.kind == NetworkKind::Vpn,
        metered: Some(context.metered),
        mcc_mnc: None,
    }
}

/// The engine's verdict of a connectivity status: reachable is accessible; the device's own
/// trouble (offline by itself, its link down) says nothing about the network, so undetermined;
/// anything beyond the device is an anomaly, never "blocked": one device observed it, and
/// cannot tell how far it extends.
pub fn connectivity_verdict(status: ConnectivityStatus) -> Verdict {
    match status {
        ConnectivityStatus::Ok => Verdict::Accessible,
        ConnectivityStatus::LocalDevice | ConnectivityStatus::LocalLink => Verdict::Undetermined,
        ConnectivityStatus::CaptiveOrInjection
        | ConnectivityStatus::DataBlackout
        | ConnectivityStatus::InternationalCut
        | ConnectivityStatus::WhitelistMode
        | ConnectivityStatus::ServiceBlock => Verdict::Anomaly,
    }
}

/// What a check needs besides the configuration's anchors.
pub(crate) struct CheckSetup<'a> {
    pub(crate) config: &'a ConnectivityConfig,
    pub(crate) trust: &'a TrustAnchors,
    pub(crate) software: &'a Software,
    pub(crate) network: &'a ProbeNetwork,
}

/// Runs one check in `context`; `None` when cancelled.
pub(crate) async fn check(
    setup: CheckSetup<'_>,
    context: &NetworkContext,
    cancel: &CancellationToken,
) -> Result<Option<ConnectivityOutcome>, EngineError> {
    let config = ConnectivityConfig {
        trust: setup.trust.clone(),
        software: setup.software.clone(),
        network: setup.network.clone(),
        ..setup.config.clone()
    };
    match check_connectivity(&config, &platform_state(context), cancel).await {
        Ok(outcome) => Ok(Some(outcome)),
        Err(ConnectivityError::Cancelled) => Ok(None),
        Err(ConnectivityError::Config(error)) => Err(EngineError::InvalidInput(error.to_string())),
    }
}

/// The result to report for a check, with `measurement` as stored (or as made).
pub(crate) fn target_result(
    outcome: &ConnectivityOutcome,
    measurement: &Measurement,
) -> TargetResult {
    let measurement_json = serde_json::to_string(measurement).unwrap_or_else(|error| {
        tracing::error!("cannot encode a measurement: {error}");
        String::new()
    });
    TargetResult {
        suite: Suite::Connectivity,
        target: CONNECTIVITY_TARGET.to_string(),
        verdict: connectivity_verdict(outcome.status),
        blocking: None,
        verdict_detail: outcome.status.as_str().to_string(),
        failed_operation: None,
        failure: None,
        status_code: None,
        bytes_received: outcome.bytes.total,
        runtime: outcome.runtime,
        explanation: outcome.explanation.clone(),
        measurement_id: measurement.id.clone().unwrap_or_default(),
        measurement_json,
    }
}

/// Records `outcome` with the monitor: in `run` when given (every check of a run is kept, and
/// a changed status also becomes a timeline transition), else only when the status changed
/// (the background cycle: the transition and its measurement, queued for upload). Returns the
/// result to report (with the stored measurement) and whether the timeline got a transition.
/// On a store failure (logged) the result is still returned, unrecorded.
pub(crate) async fn record(
    store: &Arc<Store>,
    outcome: ConnectivityOutcome,
    run: Option<RunId>,
) -> (TargetResult, bool) {
    let store = store.clone();
    let fallback = target_result(&outcome, &outcome.measurement);
    let recorded = blocking(move || {
        let policy = if run.is_some() {
            RecordPolicy::Always
        } else {
            RecordPolicy::Transitions
        };
        let recording = ConnectivityMonitor::new(&store).record(&outcome, policy, run)?;
        let result = recording
            .measurement
            .as_ref()
            .map(|measurement| target_result(&outcome, measurement));
        Ok((result, recording.transition.is_some()))
    })
    .await;
    match recorded {
        Ok((result, changed)) => (result.unwrap_or(fallback), changed),
        Err(error) => {
            tracing::error!("cannot record the connectivity check: {error}");
            (fallback, false)
        }
    }
}
