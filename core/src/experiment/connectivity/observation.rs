//! What a connectivity check observed: the platform's own view (which the OS knows and core
//! does not) and the outcome of each cheap probe.

use serde::{Deserialize, Serialize};

use crate::failure::Failure;

/// The bearer the device is using.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Wi-Fi.
    Wifi,
    /// Mobile data.
    Cellular,
    /// Wired.
    Ethernet,
    /// The OS reports no usable network path.
    None,
    /// Not known (e.g. the CLI on a host that does not say).
    #[default]
    Unknown,
}

/// The platform's view of the network, passed in from outside as a plain value. Never an
/// identifier: no SSID, no cell id, only coarse facts and the public MCC-MNC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PlatformState {
    /// The bearer in use.
    pub transport: Transport,
    /// Radio technology, e.g. `LTE`, `NR`, `HSPA` (cellular only).
    pub radio: Option<String>,
    /// Whether the modem is in service (voice/SMS registered), when known.
    pub in_service: Option<bool>,
    /// Airplane mode.
    pub airplane_mode: bool,
    /// Whether mobile data is switched on, when known.
    pub data_enabled: Option<bool>,
    /// A VPN is active (results then describe the VPN's path).
    pub vpn: bool,
    /// The network is metered.
    pub metered: Option<bool>,
    /// The serving network's MCC-MNC, e.g. `401-02`.
    pub mcc_mnc: Option<String>,
}

/// Which set an anchor belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnchorGroup {
    /// The resolver the network gave the device.
    LocalResolver,
    /// A host inside the country.
    Domestic,
    /// A host abroad.
    International,
    /// A key service (messaging, banking, news).
    Service,
}

/// One anchor's outcome, reached by name and by pinned IP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnchorResult {
    /// The anchor's name in the configuration (a host name, never the device's data).
    pub name: String,
    /// Its group.
    pub group: AnchorGroup,
    /// The operator (AS or company), so "several independent operators" can be checked.
    pub operator: String,
    /// Reached when looked up by name (None when not tried).
    pub by_name: Option<bool>,
    /// Reached at its pinned IP (None when not tried).
    pub by_ip: Option<bool>,
    /// The failure seen, when it failed.
    pub failure: Option<Failure>,
}

impl AnchorResult {
    /// Reached one way or the other.
    pub fn reachable(&self) -> bool {
        self.by_name == Some(true) || self.by_ip == Some(true)
    }
}

/// The captive-portal / injection check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CaptiveCheck {
    /// The expected empty 204 (or known body) came back.
    Expected,
    /// A redirect to another host: a captive portal or an injected page.
    Redirected {
        /// The host redirected to (a host name only: no path, no body).
        host: String,
    },
    /// An unexpected status or body.
    UnexpectedContent {
        /// The status code received.
        status: u16,
    },
    /// The check could not complete.
    Failed {
        /// Why.
        failure: Failure,
    },
}

/// Everything one connectivity check observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ConnectivityObservation {
    /// The platform's view.
    pub platform: PlatformState,
    /// Captive-portal checks (one per check endpoint).
    pub captive: Vec<CaptiveCheck>,
    /// Every anchor's outcome, all groups.
    pub anchors: Vec<AnchorResult>,
}

impl ConnectivityObservation {
    /// The anchors of one group.
    pub fn group(&self, group: AnchorGroup) -> impl Iterator<Item = &AnchorResult> {
        self.anchors.iter().filter(move |a| a.group == group)
    }
}
