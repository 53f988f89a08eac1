//! What a connectivity check probes: anchors (domestic, international, key services), each by
//! name and by pinned IP, a captive-portal / injection check, timeouts and re-checks. Loadable
//! from JSON (`kuzet run connectivity --anchors FILE`) so a lab or a deployment supplies its own.
//!
//! **The pinned IPs of the defaults are configuration: UPDATE BEFORE RELEASE.** Addresses
//! change; check each one (and fill in the domestic ones, left empty here because they could
//! not be verified from where this was written) before shipping. Tests never use the defaults.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::experiment::connectivity::{AnchorGroup, ClassifyRules};
use crate::net::trust::TrustAnchors;
use crate::probe::dns::DnsTransport;
use crate::report::{ProbeNetwork, Software};

/// The most anchors one configuration may have (each costs a few KB and a few sockets).
pub const MAX_ANCHORS: usize = 64;
/// The most pinned addresses per anchor (only the first is probed; the rest are recorded).
pub const MAX_PINNED_IPS: usize = 4;
/// The longest any single timeout or re-check delay may be.
pub const MAX_STEP: Duration = Duration::from_secs(60);
/// The most re-checks.
pub const MAX_RECHECKS: u32 = 10;

/// How an anchor is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AnchorProbe {
    /// A TCP connect only. Cheap, but a middlebox can answer a SYN for anyone.
    TcpConnect,
    /// A TCP connect and a verified TLS handshake with the anchor's name as SNI: only the real
    /// host (or an interception box with a trusted root) completes it.
    #[default]
    TlsHandshake,
    /// A TLS handshake then `GET path` (plain HTTP when the port is 80); any HTTP answer counts.
    HttpGet(String),
}

impl AnchorProbe {
    /// The name used in reports.
    pub fn as_str(&self) -> &'static str {
        match self {
            AnchorProbe::TcpConnect => "tcp_connect",
            AnchorProbe::TlsHandshake => "tls_handshake",
            AnchorProbe::HttpGet(_) => "http_get",
        }
    }
}

/// One host probed by name and by pinned IP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// Its host name (also the TLS SNI).
    pub name: String,
    /// Domestic, international or a key service.
    pub group: AnchorGroup,
    /// Who operates it (AS or company), so that independence can be checked.
    #[serde(default)]
    pub operator: String,
    /// Its known addresses, probed without DNS (configuration: update before release).
    #[serde(default)]
    pub pinned_ips: Vec<IpAddr>,
    /// The port (443 by default).
    #[serde(default = "default_port")]
    pub port: u16,
    /// How it is reached.
    #[serde(default)]
    pub probe: AnchorProbe,
}

fn default_port() -> u16 {
    443
}

/// The captive-portal / injection check: a GET to a known URL with a known answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptiveCheckConfig {
    /// An `http://` URL (cleartext on purpose: portals and injectors rewrite cleartext).
    pub url: String,
    /// The expected status (204 for a `generate_204` endpoint).
    #[serde(default = "default_captive_status")]
    pub expect_status: u16,
    /// Text the body must contain, if any (an empty 204 has none).
    #[serde(default)]
    pub expect_body_contains: Option<String>,
}

fn default_captive_status() -> u16 {
    204
}

/// Per-probe timeouts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckTimeouts {
    /// One name lookup (milliseconds in JSON).
    #[serde(with = "millis", default = "default_dns")]
    pub dns: Duration,
    /// One probe: connect, handshake and request together (milliseconds in JSON).
    #[serde(with = "millis", default = "default_probe")]
    pub probe: Duration,
}

fn default_dns() -> Duration {
    Duration::from_millis(2000)
}

fn default_probe() -> Duration {
    Duration::from_millis(2500)
}

impl Default for CheckTimeouts {
    fn default() -> Self {
        CheckTimeouts {
            dns: default_dns(),
            probe: default_probe(),
        }
    }
}

/// Re-checks before a status beyond local trouble is declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rechecks {
    /// How many more rounds (2 by default).
    #[serde(default = "default_recheck_count")]
    pub count: u32,
    /// The pause before each (5 s by default; milliseconds in JSON).
    #[serde(with = "millis", default = "default_recheck_delay")]
    pub delay: Duration,
}

fn default_recheck_count() -> u32 {
    2
}

fn default_recheck_delay() -> Duration {
    Duration::from_secs(5)
}

impl Default for Rechecks {
    fn default() -> Self {
        Rechecks {
            count: default_recheck_count(),
            delay: default_recheck_delay(),
        }
    }
}

/// Everything a connectivity check needs. The JSON form holds the anchors, the captive check,
/// timeouts, re-checks, the resolver and the decision thresholds; the trust anchors, software
/// and network are set by the caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectivityConfig {
    /// The hosts to probe.
    pub anchors: Vec<Anchor>,
    /// The captive-portal / injection check, if any.
    #[serde(default)]
    pub captive_check: Option<CaptiveCheckConfig>,
    /// Timeouts.
    #[serde(default)]
    pub timeouts: CheckTimeouts,
    /// Re-checks.
    #[serde(default)]
    pub rechecks: Rechecks,
    /// The resolver for names: `system` (the local resolver the network gave), `udp://IP`...
    #[serde(default = "default_resolver")]
    pub resolver: String,
    /// Decision thresholds.
    #[serde(default)]
    pub rules: ClassifyRules,
    /// The networks inside the country (CIDR, e.g. `"10.0.0.0/8"`). During an international
    /// cut, a target whose every address lies in one of them is domestic, and its verdict
    /// stands; any other target's failure is then called unreachable, never blocked. Empty by
    /// default: every target counts as international.
    #[serde(default)]
    pub domestic_networks: Vec<crate::th::IpNet>,
    /// The roots TLS anchors are checked against (not in JSON).
    #[serde(skip, default = "TrustAnchors::bundled")]
    pub trust: TrustAnchors,
    /// Who makes the measurement (not in JSON).
    #[serde(skip)]
    pub software: Software,
    /// The probe's network, as far as known (not in JSON).
    #[serde(skip)]
    pub network: ProbeNetwork,
}

fn default_resolver() -> String {
    "system".to_string()
}

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("connectivity configuration: {0}")]
pub struct ConfigError(pub String);

impl ConnectivityConfig {
    /// Parses and checks a JSON configuration.
    pub fn from_json(text: &str) -> Result<ConnectivityConfig, ConfigError> {
        let config: ConnectivityConfig =
            serde_json::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and checks a JSON configuration file.
    pub fn from_file(path: &Path) -> Result<ConnectivityConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        ConnectivityConfig::from_json(&text)
            .map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))
    }

    /// The resolver, parsed.
    pub fn resolver_transport(&self) -> Result<DnsTransport, ConfigError> {
        DnsTransport::parse(&self.resolver).map_err(|e| ConfigError(e.to_string()))
    }

    /// Checks every value: at least one domestic or international anchor, host names that are
    /// names, sane timeouts, an `http://` captive URL.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |message: String| Err(ConfigError(message));
        if self.anchors.is_empty() {
            return bad("no anchors".to_string());
        }
        if self.anchors.len() > MAX_ANCHORS {
            return bad(format!("more than {MAX_ANCHORS} anchors"));
        }
        if !self
            .anchors
            .iter()
            .any(|a| matches!(a.group, AnchorGroup::Domestic | AnchorGroup::International))
        {
            return bad("at least one domestic or international anchor is needed".to_string());
        }
        for anchor in &self.anchors {
            let name = anchor.name.trim_end_matches('.');
            let valid_name = !name.is_empty()
                && name.len() <= 253
                && name.parse::<IpAddr>().is_err()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !valid_name {
                return bad(format!("anchor {:?} is not a host name", anchor.name));
            }
            if anchor.group == AnchorGroup::LocalResolver {
                return bad(format!(
                    "anchor {}: group local_resolver is measured on its own, not an anchor",
                    anchor.name
                ));
            }
            if anchor.pinned_ips.len() > MAX_PINNED_IPS {
                return bad(format!(
                    "anchor {}: more than {MAX_PINNED_IPS} pinned addresses",
                    anchor.name
                ));
            }
            if anchor.port == 0 {
                return bad(format!("anchor {}: port 0", anchor.name));
            }
            if let AnchorProbe::HttpGet(path) = &anchor.probe {
                if !path.starts_with('/') || path.len() > 512 {
                    return bad(format!(
                        "anchor {}: http_get path must start with /",
                        anchor.name
                    ));
                }
            }
        }
        if let Some(captive) = &self.captive_check {
            let url = Url::parse(&captive.url)
                .map_err(|e| ConfigError(format!("captive_check url: {e}")))?;
            if url.scheme() != "http" || url.host_str().is_none_or(str::is_empty) {
                return bad("captive_check url must be http:// with a host".to_string());
            }
            if !(100..=599).contains(&captive.expect_status) {
                return bad("captive_check expect_status is not an HTTP status".to_string());
            }
        }
        for (what, value) in [
            ("timeouts.dns", self.timeouts.dns),
            ("timeouts.probe", self.timeouts.probe),
        ] {
            if value.is_zero() || value > MAX_STEP {
                return bad(format!("{what} must be more than 0 and at most 60 s"));
            }
        }
        if self.rechecks.count > MAX_RECHECKS || self.rechecks.delay > MAX_STEP {
            return bad(format!(
                "rechecks: at most {MAX_RECHECKS}, at most 60 s apart"
            ));
        }
        if !(0.0..=1.0).contains(&self.rules.domestic_up_share)
            || !(0.0..=1.0).contains(&self.rules.whitelist_max_share)
        {
            return bad("rules: shares must be between 0 and 1".to_string());
        }
        self.resolver_transport()?;
        Ok(())
    }

    /// Kuzet's defaults for Kazakhstan: domestic anchors on several operators, international
    /// anchors on five independent ones, three messaging services, Google's `generate_204`.
    ///
    /// UPDATE BEFORE RELEASE: the pinned addresses. The international ones are long-lived
    /// anycast service addresses; the domestic ones are empty until verified from inside KZ
    /// (a domestic anchor without a pinned address is probed by name only).
    pub fn kazakhstan() -> ConnectivityConfig {
        let anchor = |name: &str, group, operator: &str, ips: &[&str], probe| Anchor {
            name: name.to_string(),
            group,
            operator: operator.to_string(),
            pinned_ips: ips.iter().filter_map(|ip| ip.parse().ok()).collect(),
            port: 443,
            probe,
        };
        use AnchorGroup::{Domestic, International, Service};
        use AnchorProbe::{TcpConnect, TlsHandshake};
        ConnectivityConfig {
            anchors: vec![
                // Domestic: government portal, bank (whitelisted in Jan 2022), the .kz
                // registry, a Kazakhtelecom-hosted site, a large site on another operator.
                anchor(
                    "egov.kz",
                    Domestic,
                    "e-Government of Kazakhstan",
                    &[],
                    TlsHandshake,
                ),
                anchor("kaspi.kz", Domestic, "Kaspi Bank", &[], TlsHandshake),
                anchor("nic.kz", Domestic, "KazNIC", &[], TlsHandshake),
                anchor(
                    "telecom.kz",
                    Domestic,
                    "Kazakhtelecom AS9198",
                    &[],
                    TlsHandshake,
                ),
                anchor("kolesa.kz", Domestic, "Kolesa Group", &[], TlsHandshake),
                // International: five independent operators.
                anchor(
                    "one.one.one.one",
                    International,
                    "Cloudflare AS13335",
                    &["1.1.1.1"],
                    TlsHandshake,
                ),
                anchor(
                    "dns.google",
                    International,
                    "Google AS15169",
                    &["8.8.8.8"],
                    TlsHandshake,
                ),
                anchor(
                    "dns.quad9.net",
                    International,
                    "Quad9 AS19281",
                    &["9.9.9.9"],
                    TlsHandshake,
                ),
                anchor(
                    "www.wikipedia.org",
                    International,
                    "Wikimedia AS14907",
                    &[],
                    TlsHandshake,
                ),
                anchor(
                    "ripe.net",
                    International,
                    "RIPE NCC AS3333",
                    &[],
                    TlsHandshake,
                ),
                // Key services: messengers blocked or degraded in 2019 and 2022.
                anchor(
                    "web.whatsapp.com",
                    Service,
                    "Meta AS32934",
                    &[],
                    TlsHandshake,
                ),
                anchor(
                    "telegram.org",
                    Service,
                    "Telegram AS62041",
                    &["149.154.167.50"],
                    TcpConnect,
                ),
                anchor("signal.org", Service, "Signal", &[], TlsHandshake),
            ],
            captive_check: Some(CaptiveCheckConfig {
                url: "http://connectivitycheck.gstatic.com/generate_204".to_string(),
                expect_status: 204,
                expect_body_contains: None,
            }),
            ..ConnectivityConfig::empty()
        }
    }

    /// No anchors, default timeouts and re-checks, the system resolver: a base for
    /// configurations built in code (not valid until anchors are added).
    pub fn empty() -> ConnectivityConfig {
        ConnectivityConfig {
            anchors: Vec::new(),
            captive_check: None,
            timeouts: CheckTimeouts::default(),
            rechecks: Rechecks::default(),
            resolver: default_resolver(),
            rules: ClassifyRules::default(),
            domestic_networks: Vec::new(),
            trust: TrustAnchors::bundled(),
            software: Software::default(),
            network: ProbeNetwork::default(),
        }
    }
}

impl Default for ConnectivityConfig {
    /// [`ConnectivityConfig::kazakhstan`].
    fn default() -> Self {
        ConnectivityConfig::kazakhstan()
    }
}

/// Durations as whole milliseconds in JSON.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(deserializer)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kazakhstan_defaults_are_valid_and_independent() {
        let config = ConnectivityConfig::kazakhstan();
        config.validate().unwrap();
        let operators = |group| {
            config
                .anchors
                .iter()
                .filter(|a| a.group == group)
                .map(|a| a.operator.as_str())
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        };
        assert!(operators(AnchorGroup::Domestic) >= 4);
        assert!(operators(AnchorGroup::International) >= 5);
        assert!(config.captive_check.is_some());
        assert_eq!(config.rechecks, Rechecks::default());
    }

    #[test]
    fn json_round_trips_with_defaults_filled_in() {
        let text = r#"{"anchors": [
            {"name": "gov.lab.test", "group": "domestic", "operator": "A", "pinned_ips": ["10.77.5.1"]},
            {"name": "cdn.lab.test", "group": "international", "port": 8443, "probe": "tcp_connect"},
            {"name": "bank.lab.test", "group": "service", "probe": {"http_get": "/ping"}}],
          "captive_check": {"url": "http://captive.lab.test/generate_204"},
          "timeouts": {"dns": 500, "probe": 700},
          "rechecks": {"count": 1, "delay": 100},
          "resolver": "udp://10.77.1.1:53"}"#;
        let config = ConnectivityConfig::from_json(text).unwrap();
        assert_eq!(config.anchors[0].port, 443);
        assert_eq!(config.anchors[0].probe, AnchorProbe::TlsHandshake);
        assert_eq!(config.anchors[1].probe, AnchorProbe::TcpConnect);
        assert_eq!(
            config.anchors[2].probe,
            AnchorProbe::HttpGet("/ping".to_string())
        );
        assert_eq!(config.timeouts.probe, Duration::from_millis(700));
        assert_eq!(config.rechecks.delay, Duration::from_millis(100));
        assert_eq!(config.captive_check.as_ref().unwrap().expect_status, 204);
        let again = serde_json::to_string(&config).unwrap();
        let back = ConnectivityConfig::from_json(&again).unwrap();
        assert_eq!(back.anchors, config.anchors);
    }

    #[test]
    fn bad_configurations_say_what_is_wrong() {
        for (text, needle) in [
            (r#"{"anchors": []}"#, "no anchors"),
            (
                r#"{"anchors": [{"name": "a.test", "group": "service"}]}"#,
                "domestic or international",
            ),
            (
                r#"{"anchors": [{"name": "10.0.0.1", "group": "domestic"}]}"#,
                "not a host name",
            ),
            (
                r#"{"anchors": [{"name": "a.test", "group": "domestic"}],
                    "captive_check": {"url": "https://a.test/"}}"#,
                "http://",
            ),
            (
                r#"{"anchors": [{"name": "a.test", "group": "domestic"}], "timeouts": {"dns": 0}}"#,
                "timeouts.dns",
            ),
            (
                r#"{"anchors": [{"name": "a.test", "group": "domestic"}], "resolver": "tcp://x"}"#,
                "resolver",
            ),
            (
                r#"{"anchors": [{"name": "a.test", "group": "domestic", "colour": 1}]}"#,
                "colour",
            ),
        ] {
            let error = ConnectivityConfig::from_json(text).unwrap_err();
            assert!(error.to_string().contains(needle), "{text}: {error}");
        }
    }
}
