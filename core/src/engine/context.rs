//! The platform's view of the network (from Android's ConnectivityManager or iOS's
//! NWPathMonitor), used to tag measurements and to decide what a background cycle may do.

/// The kind of network the device is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkKind {
    /// No network at all.
    Offline,
    /// Wi-Fi.
    Wifi,
    /// Mobile data.
    Cellular,
    /// Wired Ethernet.
    Ethernet,
    /// A VPN is active (measurements then describe the VPN's network).
    Vpn,
    /// Something else, or the platform could not tell.
    #[default]
    Unknown,
}

impl NetworkKind {
    /// The value of OONI's `network_type` annotation.
    pub fn ooni_network_type(self) -> &'static str {
        match self {
            NetworkKind::Offline => "no_internet",
            NetworkKind::Wifi => "wifi",
            NetworkKind::Cellular => "mobile",
            NetworkKind::Ethernet => "wired_ethernet",
            NetworkKind::Vpn => "vpn",
            NetworkKind::Unknown => "unknown",
        }
    }
}

/// What the platform knows about the current network.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkContext {
    /// The kind of network.
    pub kind: NetworkKind,
    /// Data is paid per byte (mobile data, a hotspot): budgets should be stricter.
    pub metered: bool,
    /// The user asked to save data (Android Data Saver, iOS Low Data Mode).
    pub constrained: bool,
}

/// Supplies the current [`NetworkContext`] on demand (asked at the start of each run).
pub trait NetworkContextProvider: Send + Sync {
    /// The network right now.
    fn current_network(&self) -> NetworkContext;
}
