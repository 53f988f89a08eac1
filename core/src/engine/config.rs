//! How an engine measures and where it keeps its data: the configuration the apps build once,
//! the user's consent and the data budgets, each checked before the engine starts.

use std::path::PathBuf;

use url::Url;

use super::error::EngineError;
use crate::experiment::connectivity::ConnectivityConfig;
use crate::experiment::messaging::MessagingConfig;
use crate::experiment::policy;
use crate::experiment::throttling::SpkiPin;
use crate::experiment::urlgetter::{parse_target_url, Timeouts};
use crate::net::trust::TrustAnchors;
use crate::probe::dns::DnsTransport;
use crate::report::{ProbeNetwork, Software};
use crate::session::Suite;
use crate::th::BogonPolicy;

/// The user's consent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Record))]
pub struct Consent {
    /// Measurements may be uploaded to the collector.
    pub upload_allowed: bool,
    /// The suites the user allows. A run asking for another is refused.
    pub allowed_suites: Vec<Suite>,
}

impl Default for Consent {
    /// Nothing uploaded; every suite allowed (measuring stays on the device).
    fn default() -> Self {
        Consent {
            upload_allowed: false,
            allowed_suites: Suite::ALL.to_vec(),
        }
    }
}

/// Data budgets, in bytes received. (The uniffi defaults repeat [`policy::RUN_BYTES`],
/// [`policy::BACKGROUND_BYTES`] and [`policy::MONTHLY_BYTES`] for Kotlin and Swift, which need
/// literals; the binding tests check that they agree.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Record))]
pub struct DataBudgets {
    /// The most one "test now" run may use (default 50 MiB).
    #[cfg_attr(all(feature = "uniffi", not(test)), uniffi(default = 52428800))]
    pub run_bytes: u64,
    /// The most one background cycle may use (default 2 MiB).
    #[cfg_attr(all(feature = "uniffi", not(test)), uniffi(default = 2097152))]
    pub background_bytes: u64,
    /// The most all measuring may use in a calendar month (default 200 MiB).
    #[cfg_attr(all(feature = "uniffi", not(test)), uniffi(default = 209715200))]
    pub monthly_bytes: u64,
}

impl Default for DataBudgets {
    fn default() -> Self {
        DataBudgets {
            run_bytes: policy::RUN_BYTES,
            background_bytes: policy::BACKGROUND_BYTES,
            monthly_bytes: policy::MONTHLY_BYTES,
        }
    }
}

/// Kuzet's throughput server: where throttling trials download from, and the key it must
/// present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThroughputServer {
    /// Its address and port.
    pub addr: std::net::SocketAddr,
    /// Its key's pin (`sha256/...`).
    pub pin: SpkiPin,
}

/// How an engine measures and where it keeps its data.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// A directory the engine owns (created if missing; [`super::Engine::wipe`] empties it).
    pub data_dir: PathBuf,
    /// The embedding app, as named in every measurement.
    pub software: Software,
    /// Where measurements are uploaded (OONI's collector or a private one).
    pub collector_url: Option<Url>,
    /// Web-connectivity test helpers, tried in order.
    pub test_helper_urls: Vec<Url>,
    /// What the user agreed to.
    pub consent: Consent,
    /// Data budgets.
    pub budgets: DataBudgets,
    /// The resolver every lookup uses.
    pub resolver: DnsTransport,
    /// The roots certificates are checked against.
    pub trust: TrustAnchors,
    /// Per-step timeouts.
    pub timeouts: Timeouts,
    /// Targets measured at the same time (1 to [`policy::APP_MAX_PARALLELISM`]).
    pub parallelism: usize,
    /// The probe's network as far as the configuration knows (AS0/ZZ by default). Each run
    /// refines it with the platform's network context.
    pub probe_network: ProbeNetwork,
    /// Which addresses web_connectivity calls bogons (on by default; loopback and lab tests
    /// turn it off or list their "public" networks).
    pub bogons: BogonPolicy,
    /// The connectivity check's anchors, captive check, timeouts, re-checks, rules and
    /// domestic networks ([`ConnectivityConfig::kazakhstan`] by default). Every run with web,
    /// messaging or throttling checks the network with it first. Its trust, software and
    /// network are the engine's.
    pub connectivity: ConnectivityConfig,
    /// URLs a background cycle may sample from ([`super::BACKGROUND_SAMPLE_SIZE`] at a time,
    /// at random); empty (the default) runs no tests in the background.
    pub background_sample_urls: Vec<String>,
    /// Kuzet's throughput server, which the throttling suite needs (none by default: runs of
    /// that suite are refused until one is set).
    pub throughput_server: Option<ThroughputServer>,
    /// The messaging suite's endpoints, apps and bounds ([`MessagingConfig::default`]: the real
    /// services). Its resolver, trust, software and network are the engine's.
    pub messaging: MessagingConfig,
}

impl EngineConfig {
    /// A configuration with every default, for `data_dir` and the given app.
    pub fn new(data_dir: impl Into<PathBuf>, software: Software) -> Self {
        EngineConfig {
            data_dir: data_dir.into(),
            software,
            collector_url: None,
            test_helper_urls: Vec::new(),
            consent: Consent::default(),
            budgets: DataBudgets::default(),
            resolver: DnsTransport::System,
            trust: TrustAnchors::bundled(),
            timeouts: Timeouts::default(),
            parallelism: policy::PARALLELISM,
            probe_network: ProbeNetwork::default(),
            bogons: BogonPolicy::default(),
            connectivity: ConnectivityConfig::kazakhstan(),
            background_sample_urls: Vec::new(),
            throughput_server: None,
            messaging: MessagingConfig::default(),
        }
    }

    /// Checks every value; the engine refuses to start with an unusable one.
    pub(crate) fn validate(&self) -> Result<(), EngineError> {
        let invalid = |message: String| Err(EngineError::InvalidInput(message));
        let name = &self.software.name;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.+-".contains(&b))
        {
            return invalid(format!(
                "software name {name:?} must be non-empty and use only letters, digits and _ . + -"
            ));
        }
        if self.software.version.trim().is_empty() {
            return invalid("software version must not be empty".to_string());
        }
        if self.data_dir.as_os_str().is_empty() || !self.data_dir.is_absolute() {
            return invalid(format!(
                "data directory {:?} must be an absolute path",
                self.data_dir
            ));
        }
        if !(1..=policy::APP_MAX_PARALLELISM).contains(&self.parallelism) {
            return invalid(format!(
                "parallelism {} must be from 1 to {}",
                self.parallelism,
                policy::APP_MAX_PARALLELISM
            ));
        }
        if self.budgets.run_bytes == 0 {
            return invalid("the run data budget must be more than 0 bytes".to_string());
        }
        self.connectivity
            .validate()
            .and_then(|()| self.connectivity.resolver_transport().map(drop))
            .map_err(|e| EngineError::InvalidInput(e.to_string()))?;
        for url in &self.background_sample_urls {
            parse_target_url(url)?;
        }
        Ok(())
    }
}

/// Parses a collector or test-helper URL: `https`, or `http` for loopback test servers.
pub fn parse_service_url(what: &str, text: &str) -> Result<Url, EngineError> {
    let url = Url::parse(text)
        .map_err(|e| EngineError::InvalidInput(format!("{what} {text:?} is not a URL: {e}")))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(EngineError::InvalidInput(format!(
            "{what} {text:?} must be an https URL (http only for loopback test servers)"
        ))),
    }
}
