//! The platform's view of the network (from Android's ConnectivityManager and TelephonyManager,
//! iOS's NWPathMonitor and CoreTelephony, or what the CLI reads from the host), used to tag
//! measurements, to name the probe's network (ASN, country), to give the connectivity check
//! the device's own state, and to decide what a background cycle may do.

use crate::experiment::connectivity::{PlatformState, Transport};

/// The kind of network the device is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Enum))]
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
///
/// The probe's network (ASN, country, network name) comes, in this order, from the app's own
/// `probe_asn` / `probe_cc` / `network_name` (for instance from a check-in with a server it
/// trusts), else from the serving mobile network's `mcc_mnc` (see
/// [`super::operators`]), else from the engine's configuration. Measurements whose ASN or
/// country stays unknown (`AS0` / `ZZ`) are kept on the device and never uploaded.
///
/// `mcc_mnc` is used only to derive those values: it is never written into a measurement, the
/// store or a log line (OONI reports only ASN, country and network name).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Record))]
pub struct NetworkContext {
    /// The kind of network.
    pub kind: NetworkKind,
    /// Data is paid per byte (mobile data, a hotspot): budgets should be stricter.
    #[cfg_attr(all(feature = "uniffi", not(test)), uniffi(default = false))]
    pub metered: bool,
    /// The user asked to save data (Android Data Saver, iOS Low Data Mode).
    #[cfg_attr(all(feature = "uniffi", not(test)), uniffi(default = false))]
    pub constrained: bool,
    /// The network's autonomous system as the app learned it, `AS1234` (or `1234`).
    #[cfg_attr(all(feature = "uniffi", not(test)), uniffi(default = None))]
    pub probe_asn: Option<String>,
    /// The country as the app learned it: ISO 3166 alpha-2, e.g. `KZ`.
    #[cfg_attr(all(feature = "uniffi", not(test)), uniffi(default = None))]
    pub probe_cc: Option<String>,
    /// The network's (AS organisation's) name as the app learned it, e.g. `Kcell JSC`.
    #[cfg_attr(all(feature = "uniffi", not(test)), uniffi(default = None))]
    pub network_name: Option<String>,
    /// The serving mobile network's MCC and MNC (`401-02`, `401 02` or `40102`), as the
    /// platform reports it (Android `TelephonyManager.getNetworkOperator()`, iOS
    /// `CTCarrier`); absent on Wi-Fi-only devices.
    #[cfg_attr(all(feature = "uniffi", not(test)), uniffi(default = None))]
    pub mcc_mnc: Option<String>,
    /// The radio technology in use on mobile data, e.g. `LTE`, `NR`, `HSPA` (Android
    /// `TelephonyDisplayInfo`, iOS `serviceCurrentRadioAccessTechnology`).
    #[cfg_attr(all(feature = "uniffi", not(test)), uniffi(default = None))]
    pub radio: Option<String>,
    /// Whether the modem is registered for service (voice/SMS), when the platform says: a
    /// phone in service whose data goes nowhere is a different story from one out of coverage.
    #[cfg_attr(all(feature = "uniffi", not(test)), uniffi(default = None))]
    pub in_service: Option<bool>,
    /// Airplane mode is on.
    #[cfg_attr(all(feature = "uniffi", not(test)), uniffi(default = false))]
    pub airplane_mode: bool,
    /// Whether the user has mobile data switched on, when the platform says.
    #[cfg_attr(all(feature = "uniffi", not(test)), uniffi(default = None))]
    pub data_enabled: Option<bool>,
}

/// Supplies the current [`NetworkContext`] on demand (asked at the start of each run).
pub trait NetworkContextProvider: Send + Sync {
    /// The network right now.
    fn current_network(&self) -> NetworkContext;
}

impl NetworkContext {
    /// The connectivity check's view of the platform. The MCC-MNC is left out: the check's
    /// measurement records its platform state, and MCC-MNC is never recorded.
    pub fn platform_state(&self) -> PlatformState {
        PlatformState {
            transport: match self.kind {
                NetworkKind::Wifi => Transport::Wifi,
                NetworkKind::Cellular => Transport::Cellular,
                NetworkKind::Ethernet => Transport::Ethernet,
                NetworkKind::Offline => Transport::None,
                NetworkKind::Vpn | NetworkKind::Unknown => Transport::Unknown,
            },
            radio: self.radio.clone(),
            in_service: self.in_service,
            airplane_mode: self.airplane_mode,
            data_enabled: self.data_enabled,
            vpn: self.kind == NetworkKind::Vpn,
            metered: Some(self.metered),
            mcc_mnc: None,
        }
    }

    /// A context with only the bearer known, as the CLI tells it from the host's routes.
    pub fn of_transport(transport: Transport) -> NetworkContext {
        NetworkContext {
            kind: match transport {
                Transport::Wifi => NetworkKind::Wifi,
                Transport::Cellular => NetworkKind::Cellular,
                Transport::Ethernet => NetworkKind::Ethernet,
                Transport::None => NetworkKind::Offline,
                Transport::Unknown => NetworkKind::Unknown,
            },
            ..NetworkContext::default()
        }
    }
}
