//! Where each messaging app's servers are: configuration, with defaults taken from OONI's
//! probe-cli, and a JSON form (`kuzet run messaging --endpoints FILE`, the bindings' setting)
//! so that tests and self-hosted setups can point every endpoint elsewhere (loopback).
//!
//! Source of the defaults: ooni/probe-cli at commit 7cb22410c98d (2026-08-14),
//! `internal/experiment/{whatsapp,telegram,signal,fbmessenger}` (whatsapp 0.11.0, telegram
//! 0.3.1, signal 0.2.5, facebook_messenger 0.2.1; see `docs/ooni-interop.md`, "The
//! experiments Kuzet writes"). probe-cli is GPL-3.0: only the endpoint facts (names,
//! addresses, ports) are used here, no code. Endpoints change over time: re-check them against
//! a newer probe-cli and the services' own documentation before a release.

use std::net::SocketAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::experiment::urlgetter::parse_target_url;
use crate::th::IpNet;

/// One TCP endpoint by name (or IP literal) and port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostPort {
    /// A host name or an IP literal.
    pub host: String,
    /// The port.
    pub port: u16,
}

/// WhatsApp's endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsAppEndpoints {
    /// The chat endpoints (e1…e16.whatsapp.net on 443 and 5222), TCP connect only.
    pub endpoints: Vec<HostPort>,
    /// The registration service, fetched over HTTPS (its HTTP status is ignored).
    pub registration_url: String,
    /// WhatsApp Web, fetched over HTTPS (its HTTP status is ignored).
    pub web_url: String,
}

impl Default for WhatsAppEndpoints {
    fn default() -> Self {
        WhatsAppEndpoints {
            endpoints: (1..=16)
                .flat_map(|n| {
                    [443, 5222].map(|port| HostPort {
                        host: format!("e{n}.whatsapp.net"),
                        port,
                    })
                })
                .collect(),
            registration_url: "https://v.whatsapp.net/v2/register".to_string(),
            web_url: "https://web.whatsapp.com/".to_string(),
        }
    }
}

/// Telegram's endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramEndpoints {
    /// The data centres by address: each gets a cleartext HTTP POST (also on port 443: the
    /// data centres speak plain HTTP there, not TLS).
    pub datacenters: Vec<SocketAddr>,
    /// Telegram Web, fetched over HTTPS.
    pub web_url: String,
}

/// Telegram's data centre addresses (probe-cli's list).
const TELEGRAM_DCS: [&str; 6] = [
    "149.154.175.50",
    "149.154.167.51",
    "149.154.175.100",
    "149.154.167.91",
    "149.154.171.5",
    "95.161.76.100",
];

impl Default for TelegramEndpoints {
    fn default() -> Self {
        TelegramEndpoints {
            datacenters: TELEGRAM_DCS
                .iter()
                .filter_map(|ip| ip.parse::<std::net::IpAddr>().ok())
                .flat_map(|ip| [80, 443].map(|port| SocketAddr::new(ip, port)))
                .collect(),
            web_url: "https://web.telegram.org/".to_string(),
        }
    }
}

/// Signal's endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalEndpoints {
    /// The backend URLs, fetched over HTTPS (HTTP status ignored).
    pub urls: Vec<String>,
    /// Names only resolved (recorded, not part of the verdict).
    #[serde(default)]
    pub dns_only: Vec<String>,
    /// Signal's own root certificates (PEM), trusted for the backend besides the bundled
    /// roots. OONI pins two (the "TextSecure" and the 2022 "Signal Messenger" CAs); their PEM
    /// text is not in Kuzet's endpoint data yet, so the default is none and Signal's servers
    /// are checked against the bundled roots only (a possible source of spurious
    /// `ssl_unknown_authority` if a server presents a chain to Signal's private root).
    #[serde(default)]
    pub roots_pem: Option<String>,
}

impl Default for SignalEndpoints {
    fn default() -> Self {
        SignalEndpoints {
            urls: [
                "https://cdsi.signal.org/",
                "https://chat.signal.org/",
                "https://sfu.voip.signal.org/",
                "https://storage.signal.org/",
            ]
            .map(str::to_string)
            .to_vec(),
            dns_only: vec!["uptime.signal.org".to_string()],
            roots_pem: None,
        }
    }
}

/// One Facebook Messenger service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacebookService {
    /// The service's short name in OONI's keys (`facebook_<service>_reachable`).
    pub service: String,
    /// Its host name (or IP literal).
    pub host: String,
    /// Its TCP port; `None` for a service only resolved (STUN).
    #[serde(default)]
    pub port: Option<u16>,
}

/// Facebook Messenger's endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacebookEndpoints {
    /// The services, in OONI's order.
    pub services: Vec<FacebookService>,
    /// The networks Facebook's addresses are in (CIDR). OONI calls a lookup consistent when
    /// every address is in Facebook's AS32934, which needs an IP-to-AS database; Kuzet checks
    /// the addresses against these prefixes instead.
    pub expected_networks: Vec<String>,
}

/// AS32934's (Facebook/Meta) main announced prefixes, from public routing data (2024).
/// Re-check before a release: a missing prefix makes an honest answer look like DNS tampering.
const FACEBOOK_NETWORKS: [&str; 21] = [
    "31.13.24.0/21",
    "31.13.64.0/18",
    "45.64.40.0/22",
    "57.144.0.0/14",
    "66.220.144.0/20",
    "69.63.176.0/20",
    "69.171.224.0/19",
    "74.119.76.0/22",
    "102.132.96.0/20",
    "103.4.96.0/22",
    "129.134.0.0/16",
    "157.240.0.0/16",
    "163.70.128.0/17",
    "163.77.128.0/17",
    "173.252.64.0/18",
    "179.60.192.0/22",
    "185.60.216.0/22",
    "185.89.216.0/22",
    "204.15.20.0/22",
    "2620:0:1c00::/40",
    "2a03:2880::/32",
];

impl Default for FacebookEndpoints {
    fn default() -> Self {
        let service = |service: &str, host: &str, port: Option<u16>| FacebookService {
            service: service.to_string(),
            host: host.to_string(),
            port,
        };
        FacebookEndpoints {
            services: vec![
                service("stun", "stun.fbsbx.com", None),
                service("b_api", "b-api.facebook.com", Some(443)),
                service("b_graph", "b-graph.facebook.com", Some(443)),
                service("edge", "edge-mqtt.facebook.com", Some(443)),
                service("external_cdn", "external.xx.fbcdn.net", Some(443)),
                service("scontent_cdn", "scontent.xx.fbcdn.net", Some(443)),
                service("star", "star.c10r.facebook.com", Some(443)),
            ],
            expected_networks: FACEBOOK_NETWORKS.map(str::to_string).to_vec(),
        }
    }
}

/// Every app's endpoints. Missing apps in JSON keep their defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagingEndpoints {
    /// WhatsApp.
    #[serde(default)]
    pub whatsapp: WhatsAppEndpoints,
    /// Telegram.
    #[serde(default)]
    pub telegram: TelegramEndpoints,
    /// Signal.
    #[serde(default)]
    pub signal: SignalEndpoints,
    /// Facebook Messenger.
    #[serde(default)]
    pub facebook_messenger: FacebookEndpoints,
}

/// Why an endpoint configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid messaging endpoints: {0}")]
pub struct EndpointsError(pub String);

impl MessagingEndpoints {
    /// Reads endpoints from JSON (the shape of this type's fields) and checks them.
    pub fn from_json(text: &str) -> Result<Self, EndpointsError> {
        let endpoints: MessagingEndpoints =
            serde_json::from_str(text).map_err(|e| EndpointsError(e.to_string()))?;
        endpoints.validate()?;
        Ok(endpoints)
    }

    /// Checks that every URL is usable, every list the verdicts need is non-empty and every
    /// network parses.
    pub fn validate(&self) -> Result<(), EndpointsError> {
        let https = |what: &str, text: &str| -> Result<(), EndpointsError> {
            parse_target_url(text).map_err(|e| EndpointsError(format!("{what}: {e}")))?;
            Ok(())
        };
        if self.whatsapp.endpoints.is_empty() {
            return Err(EndpointsError("whatsapp.endpoints is empty".to_string()));
        }
        https("whatsapp.registration_url", &self.whatsapp.registration_url)?;
        https("whatsapp.web_url", &self.whatsapp.web_url)?;
        if self.telegram.datacenters.is_empty() {
            return Err(EndpointsError("telegram.datacenters is empty".to_string()));
        }
        https("telegram.web_url", &self.telegram.web_url)?;
        if self.signal.urls.is_empty() {
            return Err(EndpointsError("signal.urls is empty".to_string()));
        }
        for url in &self.signal.urls {
            https("signal.urls", url)?;
        }
        if let Some(pem) = &self.signal.roots_pem {
            crate::net::trust::TrustAnchors::only_pem(pem.as_bytes())
                .map_err(|e| EndpointsError(format!("signal.roots_pem: {e}")))?;
        }
        if !self
            .facebook_messenger
            .services
            .iter()
            .any(|s| s.port.is_some())
        {
            return Err(EndpointsError(
                "facebook_messenger.services has no TCP service".to_string(),
            ));
        }
        for service in &self.facebook_messenger.services {
            let valid = !service.service.is_empty()
                && service
                    .service
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !valid {
                return Err(EndpointsError(format!(
                    "facebook_messenger service name {:?} must use a-z, 0-9 and _",
                    service.service
                )));
            }
        }
        self.facebook_networks()?;
        Ok(())
    }

    /// Every endpoint of every app at one address (by IP, so nothing is resolved), with the
    /// defaults' shape: for tests and demos that must not reach the real services.
    pub fn all_at(address: SocketAddr) -> Self {
        let host = address.ip().to_string();
        let url = format!("https://{address}/");
        let mut endpoints = MessagingEndpoints::default();
        for endpoint in &mut endpoints.whatsapp.endpoints {
            endpoint.host = host.clone();
            endpoint.port = address.port();
        }
        endpoints.whatsapp.registration_url = format!("{url}v2/register");
        endpoints.whatsapp.web_url = url.clone();
        endpoints.telegram.datacenters = vec![address];
        endpoints.telegram.web_url = url.clone();
        endpoints.signal.urls = vec![url];
        endpoints.signal.dns_only = Vec::new();
        for service in &mut endpoints.facebook_messenger.services {
            service.host = host.clone();
            service.port = service.port.map(|_| address.port());
        }
        endpoints.facebook_messenger.expected_networks = vec![address.ip().to_string()];
        endpoints
    }

    /// Facebook's expected networks, parsed.
    pub fn facebook_networks(&self) -> Result<Vec<IpNet>, EndpointsError> {
        self.facebook_messenger
            .expected_networks
            .iter()
            .map(|text| IpNet::from_str(text).map_err(|e| EndpointsError(e.to_string())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_complete() {
        let endpoints = MessagingEndpoints::default();
        endpoints.validate().unwrap();
        assert_eq!(endpoints.whatsapp.endpoints.len(), 32);
        assert_eq!(endpoints.telegram.datacenters.len(), 12);
        assert_eq!(endpoints.signal.urls.len(), 4);
        assert_eq!(endpoints.facebook_messenger.services.len(), 7);
        let networks = endpoints.facebook_networks().unwrap();
        assert!(networks
            .iter()
            .any(|net| net.contains("157.240.1.35".parse().unwrap())));
    }

    #[test]
    fn json_round_trips_and_partial_json_keeps_defaults() {
        let endpoints = MessagingEndpoints::default();
        let text = serde_json::to_string(&endpoints).unwrap();
        assert_eq!(MessagingEndpoints::from_json(&text).unwrap(), endpoints);
        let partial = r#"{"telegram": {"datacenters": ["127.0.0.1:8080"], "web_url": "https://127.0.0.1:8443/"}}"#;
        let parsed = MessagingEndpoints::from_json(partial).unwrap();
        assert_eq!(parsed.telegram.datacenters.len(), 1);
        assert_eq!(parsed.whatsapp, WhatsAppEndpoints::default());
    }

    #[test]
    fn all_at_points_everything_at_one_address() {
        let address: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let endpoints = MessagingEndpoints::all_at(address);
        endpoints.validate().unwrap();
        let text = serde_json::to_string(&endpoints).unwrap();
        assert!(!text.contains(".net") && !text.contains(".org") && !text.contains(".com"));
        assert!(!text.contains("149.154."), "{text}");
    }

    #[test]
    fn bad_json_is_refused_with_the_reason() {
        let error = MessagingEndpoints::from_json(r#"{"signal": {"urls": []}}"#).unwrap_err();
        assert!(
            error.to_string().contains("signal.urls is empty"),
            "{error}"
        );
        let error = MessagingEndpoints::from_json(r#"{"whatsap": {}}"#).unwrap_err();
        assert!(error.to_string().contains("unknown field"), "{error}");
        let error = MessagingEndpoints::from_json(
            r#"{"telegram": {"datacenters": ["127.0.0.1:80"], "web_url": "ftp://x/"}}"#,
        )
        .unwrap_err();
        assert!(error.to_string().contains("telegram.web_url"), "{error}");
    }
}
