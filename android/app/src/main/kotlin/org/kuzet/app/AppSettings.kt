package org.kuzet.app

import android.content.Context
import org.kuzet.Suite
import org.kuzet.support.Onboarding
import org.kuzet.support.UrlList
import org.kuzet.support.UserChoices

/** The user's choices, kept in SharedPreferences. Plain storage: the rules are in org.kuzet.support. */
class AppSettings(context: Context) {
    private val prefs = context.getSharedPreferences("kuzet", Context.MODE_PRIVATE)

    fun consentAccepted(): Boolean = !Onboarding.needed(
        if (prefs.contains(KEY_CONSENT)) prefs.getInt(KEY_CONSENT, 0) else null,
    )

    fun acceptConsent() = prefs.edit().putInt(KEY_CONSENT, Onboarding.CONSENT_VERSION).apply()

    fun choices(): UserChoices = UserChoices(
        uploadAllowed = prefs.getBoolean("upload", false),
        suites = prefs.getStringSet("suites", null)
            ?.mapNotNull { name -> Suite.entries.firstOrNull { it.name == name } }?.toSet()
            ?: UserChoices().suites,
        runMiB = prefs.getInt("run_mib", UserChoices().runMiB),
        backgroundMiB = prefs.getInt("background_mib", UserChoices().backgroundMiB),
        monthlyMiB = prefs.getInt("monthly_mib", UserChoices().monthlyMiB),
    )

    fun saveChoices(choices: UserChoices) = prefs.edit()
        .putBoolean("upload", choices.uploadAllowed)
        .putStringSet("suites", choices.suites.map { it.name }.toSet())
        .putInt("run_mib", choices.runMiB)
        .putInt("background_mib", choices.backgroundMiB)
        .putInt("monthly_mib", choices.monthlyMiB)
        .apply()

    fun urlText(): String = prefs.getString("urls", null) ?: UrlList.DEFAULT.joinToString("\n")

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
