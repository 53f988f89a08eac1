package org.kuzet.app

import android.app.Application
import org.kuzet.Engine
import org.kuzet.EngineConfig
import org.kuzet.budgetsOf
import org.kuzet.consentOf
import java.io.File

/** Holds the one [Engine] of the app and its settings; rebuilds the engine when consent changes. */
class KuzetApplication : Application() {
    lateinit var settings: AppSettings
        private set

    @Volatile
    private var current: Engine? = null

    override fun onCreate() {
        super.onCreate()
        settings = AppSettings(this)
        if (settings.consentAccepted()) BackgroundWorker.ensureScheduled(this)
    }

    /** The engine for the current settings (made on first use, off the main thread). */
    @Synchronized
    fun engine(): Engine {
        current?.let { return it }
        val choices = settings.choices()
        val engine = Engine(
            EngineConfig(
                dataDir = File(filesDir, "kuzet").absolutePath,
                softwareName = "kuzet-android",
                softwareVersion = BuildConfig.VERSION_NAME,
                collectorUrl = settings.collectorUrl(),
                testHelperUrls = settings.testHelperUrls(),
                consent = consentOf(choices),
                budgets = budgetsOf(choices),
            ),
        )
        engine.setNetworkProvider(AndroidNetworkContextProvider(this))
        current = engine
        return engine
    }

    /** Drops the engine so the next [engine] call applies changed settings. */
    @Synchronized
    fun settingsChanged() {
        current?.close()
        current = null
    }
}
