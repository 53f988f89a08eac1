// Plain Kotlin: the informed-consent quiz and the user's choices, turned into the engine's
// Consent and DataBudgets.

package org.kuzet.support

import org.kuzet.Consent
import org.kuzet.DataBudgets
import org.kuzet.Suite

/** One true/false question of the onboarding quiz, with what to say after a wrong answer. */
data class QuizQuestion(val statement: String, val answer: Boolean, val explanation: String)

/** The onboarding: risks in plain words (after OONI's informed-consent points) and a quiz. */
object Onboarding {
    /** Bump when the risks or the quiz change: everyone is asked again. */
    const val CONSENT_VERSION = 1

    /** The points shown before the quiz. */
    val RISKS: List<String> = listOf(
        "Anyone watching your connection (your operator, the government, an employer) can see that you run Kuzet.",
        "Kuzet connects to sites that may be illegal to open here, such as banned news or VPN sites.",
        "Uploaded measurements are published openly: with your network, country, the time and the results. " +
            "Your IP address is not included, but your operator could still link a measurement to you by its time.",
        "Results kept on this phone show that it measured, for example during a shutdown, if the phone is seized. " +
            "You can delete them at any time.",
        "The risk depends on who you are, the law, and what you test. If in doubt, ask a digital-rights lawyer.",
    )

    /** The quiz: every answer must be right to go on. */
    val QUIZ: List<QuizQuestion> = listOf(
        QuizQuestion(
            "Someone monitoring my internet connection can see that I am running Kuzet.",
            true,
            "Kuzet's traffic to the sites it tests and to the collector is visible to your operator.",
        ),
        QuizQuestion(
            "The measurements I upload stay private.",
            false,
            "They are published openly, with your network, country and the time.",
        ),
        QuizQuestion(
            "If my phone is taken, the results on it can show that I measured during a shutdown.",
            true,
            "Delete them from Settings if that is a risk for you.",
        ),
    )

    /** Whether the onboarding must be shown: never accepted, or accepted in an older version. */
    fun needed(acceptedVersion: Int?): Boolean = acceptedVersion == null || acceptedVersion < CONSENT_VERSION

    /** The explanations of the wrong answers (empty: passed). Unanswered questions are wrong. */
    fun mistakes(answers: List<Boolean?>): List<String> =
        QUIZ.mapIndexedNotNull { i, q -> if (answers.getOrNull(i) == q.answer) null else q.explanation }
}

/** What the user chose in onboarding and settings. Budgets in MiB. */
data class UserChoices(
    val uploadAllowed: Boolean = false,
    val suites: Set<Suite> = setOf(Suite.WEB, Suite.CONNECTIVITY),
    val runMiB: Int = 50,
    val backgroundMiB: Int = 2,
    val monthlyMiB: Int = 200,
)

/** Turns [UserChoices] into what the engine and the scheduler take. */
object Choices {
    /** Allowed budget ranges in MiB: a run, a background cycle, a month. */
    val RUN_RANGE = 1..500
    val BACKGROUND_RANGE = 0..50
    val MONTHLY_RANGE = 10..10_000

    private fun mib(value: Int, range: IntRange): ULong = value.coerceIn(range).toULong() * 1_048_576uL

    /** The engine's consent record; suites in enum order. */
    fun consentOf(choices: UserChoices): Consent =
        Consent(uploadAllowed = choices.uploadAllowed, allowedSuites = Suite.entries.filter { it in choices.suites })

    /** The engine's budgets, each clamped to its range; a run never above the month. */
    fun budgetsOf(choices: UserChoices): DataBudgets {
        val monthly = mib(choices.monthlyMiB, MONTHLY_RANGE)
        return DataBudgets(
            runBytes = minOf(mib(choices.runMiB, RUN_RANGE), monthly),
            backgroundBytes = minOf(mib(choices.backgroundMiB, BACKGROUND_RANGE), monthly),
            monthlyBytes = monthly,
        )
    }
}
