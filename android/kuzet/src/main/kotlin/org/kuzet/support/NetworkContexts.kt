// Plain Kotlin (no Android imports): what the app reads from ConnectivityManager and
// TelephonyManager becomes the bindings' NetworkContext here, so the mapping is tested on the JVM.

package org.kuzet.support

import org.kuzet.core.NetworkContext
import org.kuzet.core.NetworkKind

/** A network transport, as `NetworkCapabilities.TRANSPORT_*` numbers them. */
enum class Transport(val androidId: Int) {
    CELLULAR(0),
    WIFI(1),
    BLUETOOTH(2),
    ETHERNET(3),
    VPN(4),
    WIFI_AWARE(5),
    LOWPAN(6),
    USB(8),
    THREAD(9),
    SATELLITE(10),
    ;

    companion object {
        /** The transport of a `NetworkCapabilities.TRANSPORT_*` number, or null if unknown. */
        fun ofAndroidId(id: Int): Transport? = entries.firstOrNull { it.androidId == id }
    }
}

/** Data Saver for this app: `ConnectivityManager.getRestrictBackgroundStatus()`. */
enum class DataSaver(val androidStatus: Int) {
    /** Data Saver is off. */
    DISABLED(1),

    /** Data Saver is on, but the user exempted this app. */
    ALLOWLISTED(2),

    /** Data Saver is on for this app: background data on metered networks is blocked. */
    ENABLED(3),
    ;

    companion object {
        /** The state of a `RESTRICT_BACKGROUND_STATUS_*` value; unknown values count as off. */
        fun ofAndroidStatus(status: Int): DataSaver = entries.firstOrNull { it.androidStatus == status } ?: DISABLED
    }
}

/**
 * What Android says about the active network, as plain values. Deliberately nothing that
 * identifies the device, the subscriber or the place: no SSID/BSSID, no IMEI/IMSI, no phone
 * number, no cell id — only the serving network's MCC-MNC.
 */
data class NetworkFacts(
    /** There is an active network with `NET_CAPABILITY_INTERNET`. */
    val connected: Boolean,
    /** Its transports (`NetworkCapabilities.hasTransport`). */
    val transports: Set<Transport>,
    /** `NET_CAPABILITY_NOT_METERED` or `NET_CAPABILITY_TEMPORARILY_NOT_METERED`. */
    val notMetered: Boolean,
    /** Data Saver for this app. */
    val dataSaver: DataSaver,
    /** `TelephonyManager.getNetworkOperator()`: MCC and MNC digits, e.g. `40102`; empty or null without one. */
    val networkOperator: String?,
    /** `Settings.Global.AIRPLANE_MODE_ON`. */
    val airplaneMode: Boolean = false,
    /** `TelephonyManager.isDataEnabled()` where the app may ask; null when unknown. */
    val dataEnabled: Boolean? = null,
    /** `ServiceState.getState() == STATE_IN_SERVICE` where known; null when unknown. */
    val inService: Boolean? = null,
    /** The data radio, e.g. `LTE`, `NR`, `HSPA` (from `TelephonyDisplayInfo`); null when unknown. */
    val radio: String? = null,
)

/** Builds the bindings' [NetworkContext] from [NetworkFacts]. */
object NetworkContexts {
    /**
     * The kind: offline without a network; VPN when one carries the traffic (what is measured is
     * then the VPN's path); else Wi-Fi, mobile data or Ethernet; else unknown.
     */
    fun kindOf(facts: NetworkFacts): NetworkKind = when {
        !facts.connected -> NetworkKind.OFFLINE
        Transport.VPN in facts.transports -> NetworkKind.VPN
        Transport.WIFI in facts.transports -> NetworkKind.WIFI
        Transport.CELLULAR in facts.transports -> NetworkKind.CELLULAR
        Transport.ETHERNET in facts.transports || Transport.USB in facts.transports -> NetworkKind.ETHERNET
        else -> NetworkKind.UNKNOWN
    }

    /**
     * `40102` → `401-02`, `310260` → `310-260`; null for anything that is not 5 or 6 digits
     * (no SIM, CDMA phones, airplane mode).
     */
    fun mccMncOf(networkOperator: String?): String? {
        val digits = networkOperator?.trim() ?: return null
        if (digits.length !in 5..6 || !digits.all { it in '0'..'9' }) return null
        return digits.substring(0, 3) + "-" + digits.substring(3)
    }

    /**
     * The context for a run or a background cycle. Metered unless Android says otherwise;
     * constrained when Data Saver applies to this app on a metered network; MCC-MNC only on
     * mobile data (on Wi-Fi the SIM's network says nothing about the path measured), and the
     * radio technology likewise; airplane mode, service and the data switch as Android says,
     * so the connectivity check can tell the device's own state from the network's.
     */
    fun contextOf(facts: NetworkFacts): NetworkContext {
        val kind = kindOf(facts)
        val online = kind != NetworkKind.OFFLINE
        val metered = online && !facts.notMetered
        return NetworkContext(
            kind = kind,
            metered = metered,
            constrained = metered && facts.dataSaver == DataSaver.ENABLED,
            mccMnc = if (kind == NetworkKind.CELLULAR) mccMncOf(facts.networkOperator) else null,
            radio = if (kind == NetworkKind.CELLULAR) facts.radio?.takeIf { it.isNotBlank() }?.take(16) else null,
            inService = facts.inService,
            airplaneMode = facts.airplaneMode,
            dataEnabled = facts.dataEnabled,
        )
    }
}
