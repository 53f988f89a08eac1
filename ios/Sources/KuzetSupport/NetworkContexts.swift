// Plain Swift (Foundation and the Kuzet bindings only, no Network or CoreTelephony): what the app
// reads from NWPathMonitor and CTTelephonyNetworkInfo becomes the bindings' NetworkContext here,
// so the mapping is tested on Linux.

import Foundation
import Kuzet

/// An interface type, as `NWInterface.InterfaceType` names them.
public enum InterfaceKind: Sendable, Hashable {
    case wifi, cellular, wiredEthernet, loopback, other
}

/// What iOS says about the current path, as plain values. Deliberately nothing that identifies
/// the device, the subscriber or the place: no SSID, no phone number, no cell id; only the
/// serving network's MCC and MNC.
public struct NetworkFacts: Sendable, Equatable {
    /// `NWPath.status == .satisfied`.
    public var satisfied: Bool
    /// The path's interface types (`NWPath.usesInterfaceType`).
    public var interfaces: Set<InterfaceKind>
    /// `NWPath.isExpensive`: cellular or a personal hotspot.
    public var expensive: Bool
    /// `NWPath.isConstrained`: Low Data Mode.
    public var constrained: Bool
    /// A VPN (a `utun` interface, or `NEVPNManager` connected) carries the traffic.
    public var vpn: Bool
    /// `CTCarrier.mobileCountryCode` of the data SIM, if any.
    public var mobileCountryCode: String?
    /// `CTCarrier.mobileNetworkCode` of the data SIM, if any.
    public var mobileNetworkCode: String?
    /// `CTTelephonyNetworkInfo.serviceCurrentRadioAccessTechnology` of the data service, e.g.
    /// `CTRadioAccessTechnologyLTE` (iOS has no public airplane-mode or data-switch API).
    public var radio: String?

    public init(satisfied: Bool, interfaces: Set<InterfaceKind>, expensive: Bool = false,
                constrained: Bool = false, vpn: Bool = false,
                mobileCountryCode: String? = nil, mobileNetworkCode: String? = nil,
                radio: String? = nil) {
        self.satisfied = satisfied
        self.interfaces = interfaces
        self.expensive = expensive
        self.constrained = constrained
        self.vpn = vpn
        self.mobileCountryCode = mobileCountryCode
        self.mobileNetworkCode = mobileNetworkCode
        self.radio = radio
    }
}

/// Builds the bindings' `NetworkContext` from `NetworkFacts`.
public enum NetworkContexts {
    /// Offline unless the path is satisfied; a VPN first (what is measured is then the VPN's
    /// path); else Wi-Fi, cellular or wired; else unknown.
    public static func kind(of facts: NetworkFacts) -> NetworkKind {
        if !facts.satisfied { return .offline }
        if facts.vpn { return .vpn }
        if facts.interfaces.contains(.wifi) { return .wifi }
        if facts.interfaces.contains(.cellular) { return .cellular }
        if facts.interfaces.contains(.wiredEthernet) { return .ethernet }
        return .unknown
    }

    /// `401` + `02` → `401-02`. Nil unless the MCC is 3 digits and the MNC 2 or 3, and for
    /// iOS 16.4+'s placeholders (`65535`, `--`).
    public static func mccMnc(mcc: String?, mnc: String?) -> String? {
        guard let mcc = mcc?.trimmingCharacters(in: .whitespaces),
              let mnc = mnc?.trimmingCharacters(in: .whitespaces) else { return nil }
        let digits = { (s: String) in !s.isEmpty && s.allSatisfy { ("0"..."9").contains($0) } }
        guard mcc.count == 3, (2...3).contains(mnc.count), digits(mcc), digits(mnc) else { return nil }
        return "\(mcc)-\(mnc)"
    }

    /// `CTRadioAccessTechnologyLTE` → `LTE`, `CTRadioAccessTechnologyNRNSA` → `NRNSA`; nil for
    /// nothing or an empty name; at most 16 characters.
    public static func radioName(_ technology: String?) -> String? {
        guard let technology, !technology.isEmpty else { return nil }
        let prefix = "CTRadioAccessTechnology"
        let name = technology.hasPrefix(prefix) ? String(technology.dropFirst(prefix.count)) : technology
        return name.isEmpty ? nil : String(name.prefix(16))
    }

    /// The context for a run or a background cycle: metered when the path is expensive,
    /// constrained in Low Data Mode, MCC-MNC and the radio technology only on cellular.
    public static func context(of facts: NetworkFacts) -> NetworkContext {
        let kind = kind(of: facts)
        let online = kind != .offline
        return NetworkContext(
            kind: kind,
            metered: online && facts.expensive,
            constrained: online && facts.constrained,
            mccMnc: kind == .cellular ? mccMnc(mcc: facts.mobileCountryCode, mnc: facts.mobileNetworkCode) : nil,
            radio: kind == .cellular ? radioName(facts.radio) : nil
        )
    }
}
