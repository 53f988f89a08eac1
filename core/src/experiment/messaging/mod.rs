//! The messaging experiments: can WhatsApp, Telegram, Signal and Facebook Messenger reach their
//! servers from here? Each app is one OONI measurement with OONI's `test_name`, `test_version`
//! and summary keys (`whatsapp_endpoints_status`, `telegram_tcp_blocking`,
//! `signal_backend_status`, `facebook_*_reachable`…) over the usual raw data (`queries`,
//! `tcp_connect`, `tls_handshakes`, `requests`, `network_events`), plus Kuzet's verdict in
//! `x_status` (`ok`, `blocked`, `partially_blocked`), `x_blocked_step` (`dns`, `tcp`, `tls`,
//! `http`) and `x_failing_endpoints`.
//!
//! "Blocked" means the app's essential endpoints all failed (WhatsApp's chat endpoints,
//! Telegram's data centres, Signal's backend, Facebook's TCP services); any other failure is
//! "partially blocked". One device's measurement: the words for people say "appears".
//!
//! Every step has its timeout and byte cap; an app is bounded as a whole by
//! [`MessagingConfig::app_timeout`] and [`MessagingConfig::parallelism`], and stops at once when
//! its [`CancellationToken`] is cancelled.

mod endpoints;
mod explain;
mod facebook_messenger;
mod runner;
mod signal;
mod telegram;
mod whatsapp;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

pub use endpoints::{
    EndpointsError, FacebookEndpoints, FacebookService, HostPort, MessagingEndpoints,
    SignalEndpoints, TelegramEndpoints, WhatsAppEndpoints,
};
pub use explain::explain;

use crate::clock::MeasurementClock;
use crate::experiment::policy;
use crate::experiment::urlgetter::Timeouts;
use crate::failure::Failure;
use crate::net::trust::TrustAnchors;
use crate::probe::dns::{DnsOptions, DnsTransport};
use crate::probe::fetch::Operation;
use crate::report::{Measurement, ProbeNetwork, Software};
use runner::{run_steps, Step, StepOutcome, StepSettings};

/// A messaging app Kuzet measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum App {
    /// WhatsApp.
    WhatsApp,
    /// Telegram.
    Telegram,
    /// Signal.
    Signal,
    /// Facebook Messenger.
    FacebookMessenger,
}

impl App {
    /// Every app, in the order a run measures them.
    pub const ALL: [App; 4] = [
        App::WhatsApp,
        App::Telegram,
        App::Signal,
        App::FacebookMessenger,
    ];

    /// OONI's `test_name` (also the app's name on the command line).
    pub fn test_name(self) -> &'static str {
        match self {
            App::WhatsApp => "whatsapp",
            App::Telegram => "telegram",
            App::Signal => "signal",
            App::FacebookMessenger => "facebook_messenger",
        }
    }

    /// OONI's `test_version` of the experiment Kuzet follows.
    pub fn test_version(self) -> &'static str {
        match self {
            App::WhatsApp => "0.11.0",
            App::Telegram => "0.3.1",
            App::Signal => "0.2.5",
            App::FacebookMessenger => "0.2.1",
        }
    }

    /// The app's name for people.
    pub fn display_name(self) -> &'static str {
        match self {
            App::WhatsApp => "WhatsApp",
            App::Telegram => "Telegram",
            App::Signal => "Signal",
            App::FacebookMessenger => "Facebook Messenger",
        }
    }
}

impl fmt::Display for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.test_name())
    }
}

impl FromStr for App {
    type Err = MessagingError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim().to_ascii_lowercase();
        App::ALL
            .into_iter()
            .find(|app| app.test_name() == text || (text == "messenger" && *app == App::FacebookMessenger))
            .ok_or_else(|| {
                MessagingError::InvalidConfig(format!(
                    "unknown app {text:?}: expected whatsapp, telegram, signal or facebook_messenger"
                ))
            })
    }
}

/// Why an app could not be measured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessagingError {
    /// The configuration cannot be used.
    #[error("invalid messaging configuration: {0}")]
    InvalidConfig(String),
    /// The measurement was cancelled.
    #[error("the messaging measurement was cancelled")]
    Cancelled,
}

impl From<EndpointsError> for MessagingError {
    fn from(error: EndpointsError) -> Self {
        MessagingError::InvalidConfig(error.0)
    }
}

/// How the messaging experiments measure.
#[derive(Debug, Clone)]
pub struct MessagingConfig {
    /// Where each app's servers are ([`MessagingEndpoints::default`]: the real ones).
    pub endpoints: MessagingEndpoints,
    /// The apps a run measures (all by default).
    pub apps: Vec<App>,
    /// The resolver every lookup uses.
    pub resolver: DnsTransport,
    /// Roots for every certificate (Signal's also trust [`SignalEndpoints::roots_pem`]).
    pub trust: TrustAnchors,
    /// Per-step timeouts (DNS 4 s, connect, TLS and HTTP 5 s each by default).
    pub timeouts: Timeouts,
    /// The most body bytes kept per response (16 KiB by default: reachability needs no body).
    pub body_cap: usize,
    /// The longest one app may take, every step included (15 s by default).
    pub app_timeout: Duration,
    /// Steps measured at the same time within one app (8 by default).
    pub parallelism: usize,
    /// Who makes the measurement.
    pub software: Software,
    /// The probe's network, as far as known.
    pub network: ProbeNetwork,
}

impl Default for MessagingConfig {
    fn default() -> Self {
        MessagingConfig {
            endpoints: MessagingEndpoints::default(),
            apps: App::ALL.to_vec(),
            resolver: DnsTransport::System,
            trust: TrustAnchors::bundled(),
            timeouts: policy::messaging_step_timeouts(),
            body_cap: policy::MESSAGING_BODY_CAP,
            app_timeout: policy::APP_TIMEOUT,
            parallelism: policy::MESSAGING_PARALLELISM,
            software: Software::default(),
            network: ProbeNetwork::default(),
        }
    }
}

impl MessagingConfig {
    /// Checks the endpoints and the bounds.
    pub fn validate(&self) -> Result<(), MessagingError> {
        self.endpoints.validate()?;
        if self.apps.is_empty() {
            return Err(MessagingError::InvalidConfig(
                "no app to measure".to_string(),
            ));
        }
        if self.parallelism == 0 || self.app_timeout.is_zero() || self.body_cap == 0 {
            return Err(MessagingError::InvalidConfig(
                "parallelism, app timeout and body cap must be more than 0".to_string(),
            ));
        }
        Ok(())
    }

    /// The most bytes one app can receive, from its step count and caps (a bound, not an
    /// estimate): every hop of a GET (redirects included) and every POST at its body cap plus
    /// room for the handshake and response head.
    pub fn byte_bound(&self, app: App) -> u64 {
        const HANDSHAKE_AND_HEAD: u64 = 64 * 1024;
        let (gets, posts) = match app {
            App::WhatsApp => (2, 0),
            App::Telegram => (1, self.endpoints.telegram.datacenters.len()),
            App::Signal => (self.endpoints.signal.urls.len(), 0),
            App::FacebookMessenger => (0, 0),
        };
        let hop = self.body_cap as u64 + HANDSHAKE_AND_HEAD;
        let hops_per_get = 1 + runner::MAX_REDIRECTS as u64;
        gets as u64 * hop * hops_per_get
            + posts as u64 * (self.body_cap + runner::MAX_POST_HEAD) as u64
    }
}

/// Kuzet's verdict on one app (`x_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppStatus {
    /// Every endpoint answered.
    Ok,
    /// Every essential endpoint failed: the app cannot work here.
    Blocked,
    /// Some endpoints failed: the app may work in part (web version, media, registration).
    PartiallyBlocked,
}

impl AppStatus {
    /// `ok`, `blocked` or `partially_blocked`.
    pub fn as_str(self) -> &'static str {
        match self {
            AppStatus::Ok => "ok",
            AppStatus::Blocked => "blocked",
            AppStatus::PartiallyBlocked => "partially_blocked",
        }
    }
}

/// The step at which endpoints failed (`x_blocked_step`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Enum))]
pub enum BlockedStep {
    /// The name did not resolve, or resolved outside the service's networks.
    Dns,
    /// The TCP connection failed.
    Tcp,
    /// The TLS handshake failed.
    Tls,
    /// The HTTP exchange failed.
    Http,
}

impl BlockedStep {
    /// `dns`, `tcp`, `tls` or `http`.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockedStep::Dns => "dns",
            BlockedStep::Tcp => "tcp",
            BlockedStep::Tls => "tls",
            BlockedStep::Http => "http",
        }
    }

    /// The step of a failed operation.
    pub fn of(operation: Operation) -> BlockedStep {
        match operation {
            Operation::Resolve => BlockedStep::Dns,
            Operation::Connect => BlockedStep::Tcp,
            Operation::TlsHandshake => BlockedStep::Tls,
            Operation::HttpRoundTrip => BlockedStep::Http,
        }
    }
}

/// One endpoint's part in the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointCheck {
    /// The endpoint (`host:port`, a URL or a name).
    pub endpoint: String,
    /// Whether the app needs it to work at all (chat endpoints, data centres, backend).
    pub essential: bool,
    /// Where and how it failed, if it did.
    pub failed: Option<(BlockedStep, Failure)>,
}

/// Kuzet's verdict on one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppVerdict {
    /// Blocked, partially or not.
    pub status: AppStatus,
    /// The step most failing endpoints stopped at (the earliest on a tie); `None` when ok.
    pub step: Option<BlockedStep>,
    /// The most common failure at that step.
    pub failure: Option<Failure>,
    /// The endpoints that failed.
    pub failing: Vec<EndpointCheck>,
    /// How many endpoints were checked.
    pub checked: usize,
}

impl AppVerdict {
    /// The verdict of a set of endpoint checks (see the module docs).
    pub fn from_checks(checks: &[EndpointCheck]) -> AppVerdict {
        let failing: Vec<EndpointCheck> = checks
            .iter()
            .filter(|check| check.failed.is_some())
            .cloned()
            .collect();
        let essential = checks.iter().filter(|c| c.essential).count();
        let essential_failed = failing.iter().filter(|c| c.essential).count();
        let status = if failing.is_empty() {
            AppStatus::Ok
        } else if essential > 0 && essential_failed == essential {
            AppStatus::Blocked
        } else {
            AppStatus::PartiallyBlocked
        };
        // When blocked, the essential endpoints say how; otherwise every failing one does.
        let deciding: Vec<&(BlockedStep, Failure)> = failing
            .iter()
            .filter(|c| status != AppStatus::Blocked || c.essential)
            .filter_map(|c| c.failed.as_ref())
            .collect();
        let step = most_common(deciding.iter().map(|(step, _)| *step));
        let failure = step.and_then(|step| {
            most_common_failure(
                deciding
                    .iter()
                    .filter(|(s, _)| *s == step)
                    .map(|(_, failure)| failure),
            )
        });
        AppVerdict {
            status,
            step,
            failure,
            failing,
            checked: checks.len(),
        }
    }

    /// `ok`, or `blocked (tcp)`, `partially_blocked (tls)`: the short form for tables.
    pub fn detail(&self) -> String {
        match self.step {
            Some(step) => format!("{} ({})", self.status.as_str(), step.as_str()),
            None => self.status.as_str().to_string(),
        }
    }

    /// The app's verdict as a run records, shows and uploads it.
    pub fn verdict(&self) -> MessagingVerdict {
        let failing = u32::try_from(self.failing.len()).unwrap_or(u32::MAX);
        let checked = u32::try_from(self.checked).unwrap_or(u32::MAX);
        let failure = self.failure.as_ref().map(|f| f.as_str().into_owned());
        match self.status {
            AppStatus::Ok => MessagingVerdict::Ok { checked },
            AppStatus::Blocked => MessagingVerdict::Blocked {
                step: self.step,
                failure,
                failing,
                checked,
            },
            AppStatus::PartiallyBlocked => MessagingVerdict::PartiallyBlocked {
                step: self.step,
                failure,
                failing,
                checked,
            },
        }
    }
}

/// Kuzet's verdict on one app: the same word live, stored, listed and in `x_status` (`ok`,
/// `blocked`, `partially_blocked`, `unreachable`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Enum))]
pub enum MessagingVerdict {
    /// Every endpoint tested answered.
    Ok {
        /// Endpoints checked.
        checked: u32,
    },
    /// Every essential endpoint failed: the app cannot work here.
    Blocked {
        /// The step most failing endpoints stopped at.
        step: Option<BlockedStep>,
        /// The most common failure at that step (OONI's string).
        failure: Option<String>,
        /// Endpoints that failed.
        failing: u32,
        /// Endpoints checked.
        checked: u32,
    },
    /// Some endpoints failed: the app may work in part (web version, media, registration).
    PartiallyBlocked {
        /// The step most failing endpoints stopped at.
        step: Option<BlockedStep>,
        /// The most common failure at that step (OONI's string).
        failure: Option<String>,
        /// Endpoints that failed.
        failing: u32,
        /// Endpoints checked.
        checked: u32,
    },
    /// This device's network was down or cut while the app was measured: nothing can be said
    /// about the app (see [`crate::session::NetworkGuard`]).
    Unreachable {
        /// The connectivity status that explains it.
        network: crate::experiment::connectivity::ConnectivityStatus,
    },
}

impl MessagingVerdict {
    /// The verdict's one word: `ok`, `blocked`, `partially_blocked` or `unreachable`.
    pub fn word(&self) -> &'static str {
        match self {
            MessagingVerdict::Ok { .. } => "ok",
            MessagingVerdict::Blocked { .. } => "blocked",
            MessagingVerdict::PartiallyBlocked { .. } => "partially_blocked",
            MessagingVerdict::Unreachable { .. } => "unreachable",
        }
    }
}

/// The most frequent value; the smallest on a tie.
fn most_common<T: Ord + Copy>(values: impl Iterator<Item = T>) -> Option<T> {
    let mut counts = std::collections::BTreeMap::new();
    for value in values {
        *counts.entry(value).or_insert(0usize) += 1;
    }
    let best = counts.values().copied().max()?;
    counts
        .into_iter()
        .find(|(_, count)| *count == best)
        .map(|(value, _)| value)
}

fn most_common_failure<'a>(failures: impl Iterator<Item = &'a Failure>) -> Option<Failure> {
    let texts: Vec<String> = failures.map(|f| f.as_str().into_owned()).collect();
    let mut counts = std::collections::BTreeMap::new();
    for text in &texts {
        *counts.entry(text.as_str()).or_insert(0usize) += 1;
    }
    let best = counts.values().copied().max()?;
    let text = counts
        .into_iter()
        .find(|(_, count)| *count == best)
        .map(|(text, _)| text.to_string())?;
    Some(Failure::parse(&text))
}

/// The outcome of measuring one app.
#[derive(Debug, Clone)]
pub struct AppResult {
    /// The app.
    pub app: App,
    /// The OONI measurement.
    pub measurement: Measurement,
    /// Kuzet's verdict.
    pub verdict: AppVerdict,
    /// Bytes received from the network.
    pub bytes_received: u64,
    /// Wall time spent.
    pub runtime: Duration,
    /// The outcome in plain words.
    pub explanation: String,
}

/// What an app module returns from its step outcomes.
pub(crate) struct Summary {
    /// The app's own test keys (OONI's summary keys and any it adds).
    keys: Map<String, Value>,
    /// Its endpoints, for the verdict.
    checks: Vec<EndpointCheck>,
    /// Whether the measurement carries the full urlgetter-style raw data (`requests`,
    /// `tls_handshakes`, `network_events`, `failed_operation`…), as OONI's does for every app
    /// but facebook_messenger.
    urlgetter_shape: bool,
}

/// The check of an endpoint from its step outcome.
pub(crate) fn check_of(endpoint: String, essential: bool, outcome: &StepOutcome) -> EndpointCheck {
    EndpointCheck {
        endpoint,
        essential,
        failed: outcome
            .failed_operation
            .zip(outcome.failure.clone())
            .map(|(operation, failure)| (BlockedStep::of(operation), failure)),
    }
}

/// Measures one app. An error means the configuration is unusable or the measurement was
/// cancelled; every network failure is a recorded result inside the measurement.
pub async fn measure_app(
    config: &MessagingConfig,
    app: App,
    test_start_time: OffsetDateTime,
    cancel: &CancellationToken,
) -> Result<AppResult, MessagingError> {
    config.validate()?;
    let started_at = OffsetDateTime::now_utc();
    let started = Instant::now();
    let clock = MeasurementClock::start();
    let signal_trust = match &config.endpoints.signal.roots_pem {
        Some(pem) => Some(signal_trust(pem).map_err(MessagingError::InvalidConfig)?),
        None => None,
    };
    let endpoints = &config.endpoints;
    let steps: Vec<Step> = match app {
        App::WhatsApp => whatsapp::steps(&endpoints.whatsapp)?,
        App::Telegram => telegram::steps(&endpoints.telegram)?,
        App::Signal => signal::steps(&endpoints.signal, signal_trust)?,
        App::FacebookMessenger => facebook_messenger::steps(&endpoints.facebook_messenger),
    };
    let settings = Arc::new(StepSettings {
        resolver: config.resolver.clone(),
        dns: DnsOptions {
            timeout: config.timeouts.dns,
            trust: config.trust.clone(),
            ..DnsOptions::default()
        },
        connect_timeout: config.timeouts.connect,
        tls_timeout: config.timeouts.tls,
        http_timeout: config.timeouts.http,
        body_cap: config.body_cap,
        trust: config.trust.clone(),
    });
    let deadline = tokio::time::Instant::now() + config.app_timeout;
    let outcomes = run_steps(
        settings,
        &clock,
        steps.clone(),
        config.parallelism,
        deadline,
        cancel,
    )
    .await
    .map_err(|_| MessagingError::Cancelled)?;
    let summary = match app {
        App::WhatsApp => whatsapp::summarise(&endpoints.whatsapp, &outcomes),
        App::Telegram => telegram::summarise(&endpoints.telegram, &outcomes),
        App::Signal => signal::summarise(&endpoints.signal, &outcomes),
        App::FacebookMessenger => {
            let networks = endpoints.facebook_networks()?;
            facebook_messenger::summarise(&endpoints.facebook_messenger, &networks, &outcomes)
        }
    };
    let runtime = started.elapsed();
    let verdict = AppVerdict::from_checks(&summary.checks);
    let bytes_received = outcomes.iter().map(|o| o.bytes_received).sum();
    let explanation = explain(app, &verdict);

    let mut measurement = Measurement::new(
        app.test_name(),
        app.test_version(),
        None,
        &config.software,
        &config.network,
        test_start_time,
        started_at,
    );
    let extensions: &[(&str, i64)] = if summary.urlgetter_shape {
        &[
            ("dnst", 0),
            ("httpt", 0),
            ("netevents", 0),
            ("tcpconnect", 0),
            ("tlshandshake", 0),
        ]
    } else {
        &[("dnst", 0), ("tcpconnect", 0)]
    };
    measurement.extensions = crate::ordered::extensions(extensions);
    measurement.test_runtime = runtime.as_secs_f64();
    measurement.test_keys = test_keys(summary, &outcomes, &verdict, bytes_received);
    Ok(AppResult {
        app,
        measurement,
        verdict,
        bytes_received,
        runtime,
        explanation,
    })
}

/// Signal's roots, as OONI checks them: the bundled Mozilla roots plus Signal's own (given as
/// PEM; a test gives its own CA here).
fn signal_trust(pem: &str) -> Result<TrustAnchors, String> {
    TrustAnchors::bundled_with_pem(pem.as_bytes())
}

/// Every app's test keys: the raw data in OONI's shapes, the app's summary keys, Kuzet's
/// verdict.
fn test_keys(
    summary: Summary,
    outcomes: &[StepOutcome],
    verdict: &AppVerdict,
    bytes_received: u64,
) -> Value {
    let mut keys = Map::new();
    keys.insert("agent".to_string(), "redirect".into());
    let queries: Vec<_> = outcomes.iter().flat_map(|o| o.queries.clone()).collect();
    let tcp_connect: Vec<_> = outcomes
        .iter()
        .flat_map(|o| o.tcp_connect.clone())
        .collect();
    keys.insert("queries".to_string(), json(&queries));
    keys.insert("tcp_connect".to_string(), json(&tcp_connect));
    if summary.urlgetter_shape {
        let tls: Vec<_> = outcomes
            .iter()
            .flat_map(|o| o.tls_handshakes.clone())
            .collect();
        let requests: Vec<_> = outcomes.iter().flat_map(|o| o.requests.clone()).collect();
        let events: Vec<_> = outcomes
            .iter()
            .flat_map(|o| o.network_events.clone())
            .collect();
        // As probe-cli's IM tests: the per-step failures are in the lists and summary keys;
        // the top-level urlgetter failure stays null.
        keys.insert("failed_operation".to_string(), Value::Null);
        keys.insert("failure".to_string(), Value::Null);
        keys.insert("tls_handshakes".to_string(), json(&tls));
        keys.insert("requests".to_string(), json(&requests));
        keys.insert("network_events".to_string(), json(&events));
    } else {
        keys.insert("socksproxy".to_string(), Value::Null);
    }
    keys.extend(summary.keys);
    keys.insert("x_status".to_string(), verdict.status.as_str().into());
    keys.insert(
        "x_blocked_step".to_string(),
        verdict.step.map(BlockedStep::as_str).into(),
    );
    keys.insert(
        "x_failing_endpoints".to_string(),
        Value::Array(
            verdict
                .failing
                .iter()
                .map(|check| {
                    let (step, failure) = check
                        .failed
                        .as_ref()
                        .map(|(step, failure)| (step.as_str(), failure.as_str().into_owned()))
                        .unwrap_or_default();
                    serde_json::json!({
                        "endpoint": check.endpoint,
                        "step": step,
                        "failure": failure,
                    })
                })
                .collect(),
        ),
    );
    keys.insert("x_endpoints_checked".to_string(), verdict.checked.into());
    keys.insert("x_bytes_received".to_string(), bytes_received.into());
    Value::Object(keys)
}

fn json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|error| {
        tracing::error!("cannot encode messaging observations: {error}");
        Value::Null
    })
}

/// `"ok"`/`"blocked"` and the failure, the way OONI's IM tests write a component's status.
pub(crate) fn status_and_failure(outcome: &StepOutcome) -> (Value, Value) {
    match &outcome.failure {
        None => ("ok".into(), Value::Null),
        Some(failure) => ("blocked".into(), failure.as_str().into_owned().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(essential: bool, failed: Option<(BlockedStep, Failure)>) -> EndpointCheck {
        EndpointCheck {
            endpoint: "e".to_string(),
            essential,
            failed,
        }
    }

    #[test]
    fn verdicts_from_checks() {
        let ok = AppVerdict::from_checks(&[check(true, None), check(false, None)]);
        assert_eq!(ok.status, AppStatus::Ok);
        assert_eq!(ok.step, None);

        let blocked = AppVerdict::from_checks(&[
            check(true, Some((BlockedStep::Tcp, Failure::ConnectionRefused))),
            check(true, Some((BlockedStep::Tcp, Failure::GenericTimeout))),
            check(true, Some((BlockedStep::Tcp, Failure::GenericTimeout))),
            check(false, Some((BlockedStep::Dns, Failure::DnsNxdomain))),
        ]);
        assert_eq!(blocked.status, AppStatus::Blocked);
        assert_eq!(blocked.step, Some(BlockedStep::Tcp));
        assert_eq!(blocked.failure, Some(Failure::GenericTimeout));
        assert_eq!(blocked.failing.len(), 4);
        assert_eq!(blocked.detail(), "blocked (tcp)");

        let partial = AppVerdict::from_checks(&[
            check(true, None),
            check(
                false,
                Some((BlockedStep::Tls, Failure::SslUnknownAuthority)),
            ),
        ]);
        assert_eq!(partial.status, AppStatus::PartiallyBlocked);
        assert_eq!(partial.step, Some(BlockedStep::Tls));
        assert!(explain(App::Telegram, &partial).contains("partially blocked"));
    }

    #[test]
    fn app_names_parse() {
        for app in App::ALL {
            assert_eq!(app.test_name().parse::<App>().unwrap(), app);
        }
        assert!("icq".parse::<App>().is_err());
    }
}
