package org.kuzet.app

import android.content.Context
import org.kuzet.consentNeeded
import org.kuzet.core.Suite
import org.kuzet.core.UserChoices
import org.kuzet.defaultUrlList
import org.kuzet.defaultUserChoices
import org.kuzet.onboarding

/** The user's choices, kept in SharedPreferences. Plain storage: the rules are in Kuzet's library. */
class AppSettings(context: Context) {
    private val prefs = context.getSharedPreferences("kuzet", Context.MODE_PRIVATE)

    fun consentAccepted(): Boolean = !consentNeeded(
        if (prefs.contains(KEY_CONSENT)) prefs.getInt(KEY_CONSENT, 0).coerceAtLeast(0).toUInt() else null,
    )

    fun acceptConsent() = prefs.edit().putInt(KEY_CONSENT, onboarding().consentVersion.toInt()).apply()

    fun choices(): UserChoices {
        val defaults = defaultUserChoices()
        return UserChoices(
            uploadAllowed = prefs.getBoolean("upload", defaults.uploadAllowed),
            suites = prefs.getStringSet("suites", null)
                ?.mapNotNull { name -> Suite.entries.firstOrNull { it.name == name } }
                ?: defaults.suites,
            runMib = mib("run_mib", defaults.runMib),
            backgroundMib = mib("background_mib", defaults.backgroundMib),
            monthlyMib = mib("monthly_mib", defaults.monthlyMib),
        )
    }

    fun saveChoices(choices: UserChoices) = prefs.edit()
        .putBoolean("upload", choices.uploadAllowed)
        .putStringSet("suites", choices.suites.map { it.name }.toSet())
        .putInt("run_mib", choices.runMib.toInt())
        .putInt("background_mib", choices.backgroundMib.toInt())
        .putInt("monthly_mib", choices.monthlyMib.toInt())
        .apply()

    /** A budget in MiB as saved (an Int in SharedPreferences), or [default]. */
    private fun mib(key: String, default: UInt): UInt = prefs.getInt(key, default.toInt()).coerceAtLeast(0).toUInt()

    fun urlText(): String = prefs.getString("urls", null) ?: defaultUrlList().joinToString("\n")

    fun saveUrlText(text: String) = prefs.edit().putString("urls", text).apply()

    /** The collector; none until the app is configured for one (nothing is uploaded then). */
    fun collectorUrl(): String? = prefs.getString("collector", null)?.takeIf { it.isNotBlank() }

    fun testHelperUrls(): List<String> = prefs.getString("test_helpers", null)
        ?.lines()?.map { it.trim() }?.filter { it.isNotEmpty() } ?: emptyList()

    fun saveServices(collector: String, testHelpers: String) = prefs.edit()
        .putString("collector", collector.trim())
        .putString("test_helpers", testHelpers)
        .apply()

    /** Background cycles that threw in a row (for the backoff). */
    var backgroundFailures: Int
        get() = prefs.getInt("bg_failures", 0)
        set(value) = prefs.edit().putInt("bg_failures", value).apply()

    private companion object {
        const val KEY_CONSENT = "consent_version"
    }
}
