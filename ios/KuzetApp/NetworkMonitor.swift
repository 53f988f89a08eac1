import CoreTelephony
import Foundation
import Kuzet
import KuzetSupport
import Network

/// The network context from NWPathMonitor (interface, expensive, Low Data Mode) and the data
/// SIM's MCC and MNC and the data radio technology from CTTelephonyNetworkInfo; the mapping is KuzetSupport.NetworkContexts.
/// Reads no SSID, phone number or cell id.
final class NetworkMonitor: NetworkContextProvider, @unchecked Sendable {
    private let monitor = NWPathMonitor()
    private let telephony = CTTelephonyNetworkInfo()
    private let lock = NSLock()
    private var facts = NetworkFacts(satisfied: false, interfaces: [])

    func start() {
        monitor.pathUpdateHandler = { [weak self] path in self?.update(path) }
        monitor.start(queue: DispatchQueue(label: "org.kuzet.network"))
    }

    private func update(_ path: NWPath) {
        var interfaces = Set<InterfaceKind>()
        if path.usesInterfaceType(.wifi) { interfaces.insert(.wifi) }
        if path.usesInterfaceType(.cellular) { interfaces.insert(.cellular) }
        if path.usesInterfaceType(.wiredEthernet) { interfaces.insert(.wiredEthernet) }
        if path.usesInterfaceType(.loopback) { interfaces.insert(.loopback) }
        if path.usesInterfaceType(.other) { interfaces.insert(.other) }
        // A VPN shows as an `other` (utun) interface carrying the path.
        let vpn = path.availableInterfaces.first.map { $0.type == .other && $0.name.hasPrefix("utun") } ?? false
        let service = telephony.dataServiceIdentifier
        let carrier = service.flatMap { telephony.serviceSubscriberCellularProviders?[$0] }
        let radio = service.flatMap { telephony.serviceCurrentRadioAccessTechnology?[$0] }
        let next = NetworkFacts(satisfied: path.status == .satisfied, interfaces: interfaces,
                                expensive: path.isExpensive, constrained: path.isConstrained, vpn: vpn,
                                mobileCountryCode: carrier?.mobileCountryCode,
                                mobileNetworkCode: carrier?.mobileNetworkCode,
                                radio: radio)
        lock.lock()
        facts = next
        lock.unlock()
    }

    func currentNetwork() -> NetworkContext {
        lock.lock()
        defer { lock.unlock() }
        return NetworkContexts.context(of: facts)
    }
}
