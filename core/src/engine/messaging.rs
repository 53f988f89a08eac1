//! The messaging suite: the WhatsApp, Telegram, Signal and Facebook Messenger experiments, one
//! app at a time so each result is stored and reported as it lands, within the run's byte
//! budget (an app starts only when the budget still covers its byte bound).

use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::progress::{BlockingMethod, TargetResult, Verdict};
use super::suite::Suite;
use crate::experiment::messaging::{
    self as experiment, measure_app, App, AppResult, AppStatus, AppVerdict, BlockedStep,
    MessagingConfig, MessagingError,
};
use crate::net::trust::TrustAnchors;
use crate::probe::dns::DnsTransport;
use crate::report::{Measurement, ProbeNetwork, Software};

/// What one app's measurement needs besides the suite's configuration.
pub(crate) struct AppSetup<'a> {
    pub(crate) config: &'a MessagingConfig,
    pub(crate) resolver: &'a DnsTransport,
    pub(crate) trust: &'a TrustAnchors,
    pub(crate) software: &'a Software,
    pub(crate) network: &'a ProbeNetwork,
    pub(crate) test_start_time: OffsetDateTime,
}

/// The outcome of one app.
pub(crate) enum Measured {
    /// A result and its measurement, to record.
    Result(TargetResult, Box<Measurement>),
    /// Not measured: cancelled.
    Cancelled,
    /// The configuration is unusable (checked when the engine was made: not expected).
    Failed(String),
}

/// Measures `app` with the engine's resolver, roots and identity.
pub(crate) async fn measure(setup: AppSetup<'_>, app: App, cancel: &CancellationToken) -> Measured {
    let config = MessagingConfig {
        resolver: setup.resolver.clone(),
        trust: setup.trust.clone(),
        software: setup.software.clone(),
        network: setup.network.clone(),
        ..setup.config.clone()
    };
    match measure_app(&config, app, setup.test_start_time, cancel).await {
        Ok(result) => {
            let target = target_result(&result);
            Measured::Result(target, Box::new(result.measurement))
        }
        Err(MessagingError::Cancelled) => Measured::Cancelled,
        Err(error) => Measured::Failed(error.to_string()),
    }
}

/// The engine's result for one app's measurement.
pub(crate) fn target_result(result: &AppResult) -> TargetResult {
    let (verdict, blocking) = messaging_verdict(&result.verdict);
    let measurement_json = serde_json::to_string(&result.measurement).unwrap_or_else(|e| {
        tracing::error!("cannot encode a measurement: {e}");
        String::new()
    });
    TargetResult {
        suite: Suite::Messaging,
        target: result.app.test_name().to_string(),
        verdict,
        blocking,
        verdict_detail: result.verdict.detail(),
        failed_operation: result
            .verdict
            .step
            .map(|step| operation_name(step).to_string()),
        failure: result.verdict.failure.as_ref().map(ToString::to_string),
        status_code: None,
        bytes_received: result.bytes_received,
        runtime: Duration::from_secs_f64(result.measurement.test_runtime.max(0.0)),
        explanation: explain(result.app, &result.verdict),
        measurement_id: result.measurement.id.clone().unwrap_or_default(),
        measurement_json,
    }
}

/// urlgetter's name of the operation at a step.
fn operation_name(step: BlockedStep) -> &'static str {
    match step {
        BlockedStep::Dns => "resolve",
        BlockedStep::Tcp => "connect",
        BlockedStep::Tls => "tls_handshake",
        BlockedStep::Http => "http_round_trip",
    }
}

/// The engine's verdict of an app's: ok is accessible; blocked is blocked at its step (DNS,
/// TCP/IP, TLS, or an HTTP failure); partially blocked is an anomaly (the app may still work
/// in part, and one measurement cannot say how much).
pub fn messaging_verdict(verdict: &AppVerdict) -> (Verdict, Option<BlockingMethod>) {
    match verdict.status {
        AppStatus::Ok => (Verdict::Accessible, None),
        AppStatus::PartiallyBlocked => (Verdict::Anomaly, None),
        AppStatus::Blocked => (
            Verdict::Blocked,
            Some(match verdict.step {
                Some(BlockedStep::Dns) => BlockingMethod::Dns,
                Some(BlockedStep::Tcp) | None => BlockingMethod::TcpIp,
                Some(BlockedStep::Tls) => BlockingMethod::Tls,
                Some(BlockedStep::Http) => BlockingMethod::HttpFailure,
            }),
        ),
    }
}

/// One app's result in plain words (the experiment's explanation: what failed, at which
/// step, how sure one measurement can be).
pub fn explain(app: App, verdict: &AppVerdict) -> String {
    experiment::explain(app, verdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::messaging::EndpointCheck;
    use crate::failure::Failure;

    #[test]
    fn verdicts_map_to_the_engines() {
        let blocked = AppVerdict::from_checks(&[EndpointCheck {
            endpoint: "e1.whatsapp.net:443".to_string(),
            essential: true,
            failed: Some((BlockedStep::Tls, Failure::ConnectionReset)),
        }]);
        assert_eq!(
            messaging_verdict(&blocked),
            (Verdict::Blocked, Some(BlockingMethod::Tls))
        );
        let text = explain(App::WhatsApp, &blocked);
        assert!(text.starts_with("WhatsApp appears blocked"), "{text}");
        assert!(text.contains("connection_reset"), "{text}");
        let partial = AppVerdict::from_checks(&[
            EndpointCheck {
                endpoint: "a".to_string(),
                essential: true,
                failed: None,
            },
            EndpointCheck {
                endpoint: "b".to_string(),
                essential: false,
                failed: Some((BlockedStep::Dns, Failure::DnsNxdomain)),
            },
        ]);
        assert_eq!(messaging_verdict(&partial), (Verdict::Anomaly, None));
        let ok = AppVerdict::from_checks(&[]);
        assert_eq!(messaging_verdict(&ok), (Verdict::Accessible, None));
    }
}
