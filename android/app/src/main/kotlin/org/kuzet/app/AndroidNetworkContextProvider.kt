package org.kuzet.app

import android.content.Context
import android.net.ConnectivityManager
import android.net.NetworkCapabilities
import android.os.Build
import android.provider.Settings
import android.telephony.TelephonyManager
import org.kuzet.NetworkContextProvider
import org.kuzet.core.NetworkContext
import org.kuzet.support.DataSaver
import org.kuzet.support.NetworkContexts
import org.kuzet.support.NetworkFacts
import org.kuzet.support.Transport

/**
 * Reads the active network from ConnectivityManager and the serving network's MCC-MNC from
 * TelephonyManager; the mapping is org.kuzet.support.NetworkContexts. Never reads an SSID,
 * IMEI, phone number or cell id (and the app has no permission that would allow it).
 */
class AndroidNetworkContextProvider(context: Context) : NetworkContextProvider {
    private val connectivity = context.getSystemService(ConnectivityManager::class.java)
    private val telephony = context.getSystemService(TelephonyManager::class.java)
    private val resolver = context.contentResolver

    fun facts(): NetworkFacts {
        val network = connectivity.activeNetwork
        val caps = network?.let { connectivity.getNetworkCapabilities(it) }
        val connected = caps?.hasCapability(NetworkCapabilities.NET_CAPABILITY_INTERNET) == true
        val transports = Transport.entries.filter { caps?.hasTransport(it.androidId) == true }.toSet()
        val notMetered = caps != null && (
            caps.hasCapability(NetworkCapabilities.NET_CAPABILITY_NOT_METERED) ||
                (Build.VERSION.SDK_INT >= 30 && caps.hasCapability(NetworkCapabilities.NET_CAPABILITY_TEMPORARILY_NOT_METERED))
            )
        return NetworkFacts(
            connected = connected,
            transports = transports,
            notMetered = notMetered,
            dataSaver = DataSaver.ofAndroidStatus(connectivity.restrictBackgroundStatus),
            networkOperator = telephony?.networkOperator,
            airplaneMode = Settings.Global.getInt(resolver, Settings.Global.AIRPLANE_MODE_ON, 0) != 0,
        )
    }

    override fun currentNetwork(): NetworkContext = NetworkContexts.contextOf(facts())
}
