// Tests of the apps' plain-Kotlin support code (android/kuzet/src/main/kotlin/org/kuzet/support)
// and of the rules the apps share, which live in Rust (kuzet_core::app) and are called here
// through the generated bindings, as the app calls them. Run by scripts/test-bindings-kotlin.sh
// before the binding tests; the last line is "kotlin: N passed, N failed".

package org.kuzet.support.tests

import org.kuzet.MibRange
import org.kuzet.backgroundBounds
import org.kuzet.backgroundTimeBudget
import org.kuzet.budgetRanges
import org.kuzet.budgetsOf
import org.kuzet.consentNeeded
import org.kuzet.consentOf
import org.kuzet.core.DataBudgets
import org.kuzet.core.DnsTamper
import org.kuzet.core.NetworkKind
import org.kuzet.core.Suite
import org.kuzet.core.TargetResult
import org.kuzet.core.Verdict
import org.kuzet.core.VerdictGroup
import org.kuzet.core.WebVerdict
import org.kuzet.defaultDataBudgets
import org.kuzet.defaultUrlList
import org.kuzet.defaultUserChoices
import org.kuzet.formatBytes
import org.kuzet.formatDuration
import org.kuzet.formatTimeLeft
import org.kuzet.groupResults
import org.kuzet.nextBackgroundDelay
import org.kuzet.onboarding
import org.kuzet.parseUrlList
import org.kuzet.percentOf
import org.kuzet.quizMistakes
import org.kuzet.resultsSummaryLine
import org.kuzet.support.DataSaver
import org.kuzet.support.NetworkContexts
import org.kuzet.support.NetworkFacts
import org.kuzet.support.Transport
import org.kuzet.urlListMax
import org.kuzet.verdictGroupWords
import java.time.Duration
import java.time.Instant
import kotlin.random.Random
import kotlin.system.exitProcess

class Failure(message: String) : Exception(message)

fun <T> checkEqual(expected: T, actual: T, what: String) {
    if (expected != actual) throw Failure("$what: expected <$expected>, got <$actual>")
}

fun check(condition: Boolean, what: String) {
    if (!condition) throw Failure(what)
}

fun facts(
    connected: Boolean = true,
    transports: Set<Transport> = setOf(Transport.WIFI),
    notMetered: Boolean = true,
    dataSaver: DataSaver = DataSaver.DISABLED,
    networkOperator: String? = null,
) = NetworkFacts(connected, transports, notMetered, dataSaver, networkOperator)

fun networkKinds() {
    checkEqual(NetworkKind.OFFLINE, NetworkContexts.kindOf(facts(connected = false)), "no network")
    checkEqual(NetworkKind.WIFI, NetworkContexts.kindOf(facts()), "wifi")
    checkEqual(NetworkKind.CELLULAR, NetworkContexts.kindOf(facts(transports = setOf(Transport.CELLULAR))), "cellular")
    checkEqual(NetworkKind.ETHERNET, NetworkContexts.kindOf(facts(transports = setOf(Transport.USB))), "usb tethering")
    checkEqual(NetworkKind.VPN, NetworkContexts.kindOf(facts(transports = setOf(Transport.VPN, Transport.CELLULAR))), "vpn wins")
    checkEqual(NetworkKind.UNKNOWN, NetworkContexts.kindOf(facts(transports = setOf(Transport.BLUETOOTH))), "bluetooth")
    checkEqual(NetworkKind.UNKNOWN, NetworkContexts.kindOf(facts(transports = emptySet())), "no transport")
    checkEqual(Transport.VPN, Transport.ofAndroidId(4), "TRANSPORT_VPN")
    checkEqual(null, Transport.ofAndroidId(7), "TRANSPORT_7 (unused)")
    checkEqual(DataSaver.ENABLED, DataSaver.ofAndroidStatus(3), "RESTRICT_BACKGROUND_STATUS_ENABLED")
    checkEqual(DataSaver.DISABLED, DataSaver.ofAndroidStatus(42), "unknown status")
}

fun meteredConstrainedAndOperator() {
    val mobile = NetworkContexts.contextOf(
        facts(transports = setOf(Transport.CELLULAR), notMetered = false, dataSaver = DataSaver.ENABLED, networkOperator = "40102"),
    )
    checkEqual(NetworkKind.CELLULAR, mobile.kind, "kind")
    check(mobile.metered, "mobile data is metered")
    check(mobile.constrained, "Data Saver on a metered network constrains")
    checkEqual("401-02", mobile.mccMnc, "MCC-MNC")

    val allowlisted = NetworkContexts.contextOf(
        facts(transports = setOf(Transport.CELLULAR), notMetered = false, dataSaver = DataSaver.ALLOWLISTED),
    )
    check(!allowlisted.constrained, "an allowlisted app is not constrained")

    val wifi = NetworkContexts.contextOf(facts(dataSaver = DataSaver.ENABLED, networkOperator = "40102"))
    check(!wifi.metered && !wifi.constrained, "unmetered Wi-Fi: $wifi")
    checkEqual(null, wifi.mccMnc, "no MCC-MNC on Wi-Fi")

    val offline = NetworkContexts.contextOf(facts(connected = false, notMetered = false))
    check(!offline.metered, "offline is not metered")

    val airplane = NetworkContexts.contextOf(
        facts(connected = false, notMetered = false).copy(airplaneMode = true, inService = false, dataEnabled = true),
    )
    check(airplane.airplaneMode, "airplane mode is passed on")
    checkEqual(false, airplane.inService, "out of service")
    checkEqual(true, airplane.dataEnabled, "data switch")
    val lte = NetworkContexts.contextOf(facts(transports = setOf(Transport.CELLULAR), notMetered = false).copy(radio = "LTE"))
    checkEqual("LTE", lte.radio, "radio on mobile data")
    checkEqual(null, NetworkContexts.contextOf(facts().copy(radio = "LTE")).radio, "no radio on Wi-Fi")

    checkEqual("310-260", NetworkContexts.mccMncOf("310260"), "3-digit MNC")
    for (bad in listOf(null, "", "4010", "4010234", "40a02", "  ")) {
        checkEqual(null, NetworkContexts.mccMncOf(bad), "operator <$bad>")
    }
}

fun nextRunIsBoundedAndBacksOff() {
    val bounds = backgroundBounds()
    checkEqual(Duration.ofMinutes(15), bounds.minDelay, "shortest delay")
    checkEqual(Duration.ofHours(24), bounds.maxDelay, "longest delay")
    checkEqual(0.1, bounds.jitterFraction, "jitter fraction")
    checkEqual(Duration.ofMinutes(15), nextBackgroundDelay(Duration.ofSeconds(5), 0u, 0.0), "lower bound")
    checkEqual(Duration.ofHours(24), nextBackgroundDelay(Duration.ofDays(3), 0u, 0.0), "upper bound")
    checkEqual(Duration.ofHours(6), nextBackgroundDelay(Duration.ofHours(6), 0u, 0.0), "within bounds")
    checkEqual(Duration.ofMinutes(15), nextBackgroundDelay(null, 1u, 0.0), "first failure")
    checkEqual(Duration.ofMinutes(60), nextBackgroundDelay(Duration.ofHours(6), 3u, 0.0), "third failure")
    checkEqual(Duration.ofHours(24), nextBackgroundDelay(null, 40u, 0.0), "backoff cap")
    checkEqual(Duration.ofMinutes(63), nextBackgroundDelay(Duration.ofHours(1), 0u, 0.5), "half the jitter")
    checkEqual(Duration.ofHours(1), nextBackgroundDelay(Duration.ofHours(1), 0u, Double.NaN), "NaN draws no jitter")
    val random = Random(7)
    repeat(200) {
        val d = nextBackgroundDelay(Duration.ofHours(1), 0u, random.nextDouble())
        check(d >= Duration.ofHours(1) && d < Duration.ofMinutes(66), "jitter within 10 %: $d")
    }
}

fun timeBudgetLeavesTimeToStop() {
    checkEqual(Duration.ofMinutes(9), backgroundTimeBudget(Duration.ofMinutes(10)), "WorkManager's 10 minutes")
    checkEqual(Duration.ofSeconds(24), backgroundTimeBudget(Duration.ofSeconds(30)), "an iOS app refresh")
    checkEqual(Duration.ofSeconds(96), backgroundTimeBudget(Duration.ofMinutes(2)), "a fifth kept back")
    checkEqual(Duration.ZERO, backgroundTimeBudget(Duration.ofSeconds(3)), "tiny limit: nothing")
    for (seconds in 0L..1200L) {
        val limit = Duration.ofSeconds(seconds)
        val budget = backgroundTimeBudget(limit)
        check(budget <= limit.minusSeconds(5) || budget == Duration.ZERO, "5 s kept of $limit: $budget")
    }
}

fun formatting() {
    checkEqual("0 B", formatBytes(0uL), "zero")
    checkEqual("999 B", formatBytes(999uL), "bytes")
    checkEqual("1.5 kB", formatBytes(1_500uL), "kB")
    checkEqual("12 MB", formatBytes(12_345_678uL), "MB")
    checkEqual("1.0 MB", formatBytes(999_999uL), "rounding up a unit")
    checkEqual("1.0 MB", formatBytes(999_600uL), "never 1000 kB")
    checkEqual("18 TB", formatBytes(18_000_000_000_000uL), "largest unit")
    checkEqual("42 s", formatDuration(Duration.ofMillis(41_600)), "seconds")
    checkEqual("3 min", formatDuration(Duration.ofSeconds(170)), "minutes")
    checkEqual("1 h 05 min", formatDuration(Duration.ofMinutes(65)), "hours")
    checkEqual("estimating time left", formatTimeLeft(null), "no estimate")
    checkEqual("about 2 min left", formatTimeLeft(Duration.ofSeconds(100)), "estimate")
    checkEqual(25u, percentOf(50uL, 200uL), "percent")
    checkEqual(100u, percentOf(300uL, 200uL), "over budget")
    checkEqual(0u, percentOf(0uL, 0uL), "nothing of nothing")
}

/** A web result as a run reports it: its word and group are the verdict's (core computes them;
 *  a fixture has to spell them out). */
fun result(target: String, verdict: WebVerdict, word: String, group: VerdictGroup) = TargetResult(
    target = target,
    verdict = Verdict.Web(verdict),
    word = word,
    group = group,
    explanation = "",
    failedOperation = null,
    failure = null,
    statusCode = null,
    bytesReceived = 0uL,
    runtime = Duration.ZERO,
    measuredAt = Instant.EPOCH,
    measurementId = target,
)

fun groupsPutProblemsFirst() {
    val ok = { t: String -> result(t, WebVerdict.Ok, "ok", VerdictGroup.OK) }
    val results = listOf(
        ok("a"),
        result("b", WebVerdict.DnsTampered(DnsTamper.NXDOMAIN), "dns_tampered", VerdictGroup.BLOCKED),
        result("c", WebVerdict.Undetermined("no test helper", true), "undetermined", VerdictGroup.UNCLEAR),
        ok("d"),
        result("e", WebVerdict.HttpBlockpage, "http_blockpage", VerdictGroup.BLOCKED),
    )
    val groups = groupResults(results)
    checkEqual(listOf(VerdictGroup.BLOCKED, VerdictGroup.UNCLEAR, VerdictGroup.OK), groups.map { it.group }, "order")
    checkEqual(listOf("b", "e"), groups[0].results.map { it.target }, "arrival order kept")
    checkEqual("Blocked", groups[0].title, "title")
    checkEqual(verdictGroupWords(VerdictGroup.BLOCKED).meaning, groups[0].meaning, "the group's own words")
    check(groups.all { it.meaning.isNotEmpty() }, "every group explains itself")
    checkEqual("2 blocked · 1 could not tell · 2 accessible", resultsSummaryLine(results), "summary")
    checkEqual("no results", resultsSummaryLine(emptyList()), "empty")
    checkEqual(emptyList<Any>(), groupResults(emptyList()), "no groups")
    for (group in VerdictGroup.entries) {
        val words = verdictGroupWords(group)
        check(words.title.isNotBlank() && words.meaning.endsWith("."), "words of $group: $words")
    }
    checkEqual(VerdictGroup.entries.size, VerdictGroup.entries.map { verdictGroupWords(it).title }.toSet().size, "distinct titles")
    checkEqual("Not tested: no connection", verdictGroupWords(VerdictGroup.UNREACHABLE).title, "unreachable is not a problem's title")
}

fun onboardingAndConsent() {
    val texts = onboarding()
    check(texts.consentVersion >= 1u, "a consent version")
    check(consentNeeded(null), "never accepted")
    check(consentNeeded(texts.consentVersion - 1u), "older consent")
    check(!consentNeeded(texts.consentVersion), "current consent")
    check(texts.risks.size >= 3 && texts.risks.all { it.isNotBlank() }, "risks: ${texts.risks}")
    check(texts.quiz.all { it.statement.isNotBlank() && it.explanation.isNotBlank() }, "quiz: ${texts.quiz}")
    val right = texts.quiz.map { it.answer }
    checkEqual(emptyList<String>(), quizMistakes(right), "all right")
    val oneWrong = right.toMutableList<Boolean?>().also { it[1] = !right[1] }
    checkEqual(listOf(texts.quiz[1].explanation), quizMistakes(oneWrong), "one wrong")
    checkEqual(texts.quiz.size, quizMistakes(emptyList()).size, "unanswered")
    checkEqual(1, quizMistakes(right.toMutableList<Boolean?>().also { it[0] = null }).size, "one unanswered")
}

fun choicesBecomeConsentAndBudgets() {
    val mib = 1_048_576uL
    val defaults = defaultUserChoices()
    check(!defaults.uploadAllowed, "upload is opt-in")
    val consent = consentOf(defaults)
    check(!consent.uploadAllowed, "no upload consent by default")
    checkEqual(listOf(Suite.CONNECTIVITY, Suite.WEB), consent.allowedSuites, "default suites")
    checkEqual(defaultDataBudgets(), budgetsOf(defaults), "the default choices are the engine's budgets")
    checkEqual(
        listOf(Suite.CONNECTIVITY, Suite.WEB, Suite.THROTTLING),
        consentOf(defaults.copy(suites = listOf(Suite.CONNECTIVITY, Suite.WEB, Suite.THROTTLING, Suite.WEB))).allowedSuites,
        "each suite once, in declaration order",
    )

    val ranges = budgetRanges()
    checkEqual(MibRange(1u, 500u), ranges.run, "run range")
    checkEqual(MibRange(0u, 50u), ranges.background, "background range")
    checkEqual(MibRange(10u, 10_000u), ranges.monthly, "monthly range")
    val budgets = budgetsOf(defaults.copy(runMib = 25u, backgroundMib = 3u, monthlyMib = 1_000u))
    checkEqual(DataBudgets(25uL * mib, 3uL * mib, 1_000uL * mib), budgets, "in range: kept")
    val wild = budgetsOf(defaults.copy(runMib = 100_000u, backgroundMib = 40u, monthlyMib = 20u))
    checkEqual(20uL * mib, wild.monthlyBytes, "monthly")
    checkEqual(20uL * mib, wild.runBytes, "a run never above the month")
    checkEqual(20uL * mib, wild.backgroundBytes, "a cycle never above the month")
    val low = budgetsOf(defaults.copy(runMib = 0u, backgroundMib = 0u, monthlyMib = 0u))
    checkEqual(DataBudgets(mib, 0uL, 10uL * mib), low, "clamped up to the ranges")
}

fun urlLists() {
    val text = """
        # news
        https://adilsoz.kz/

          medianet.ngo/
        ftp://files.example/
        https://adilsoz.kz/
        HTTPS://ADILSOZ.KZ
        http://
        https://bad host/
    """.trimIndent()
    checkEqual(listOf("https://adilsoz.kz/", "https://medianet.ngo/"), parseUrlList(text), "parsed")
    checkEqual(100u, urlListMax(), "maximum")
    checkEqual(urlListMax().toInt(), parseUrlList((1..500).joinToString("\n") { "https://s$it.example/" }).size, "capped")
    checkEqual(defaultUrlList(), parseUrlList(defaultUrlList().joinToString("\n")), "defaults parse as they are")
    check(defaultUrlList().isNotEmpty(), "a starting list")
}

fun main() {
    val tests = listOf<Pair<String, () -> Unit>>(
        "support: network kinds" to ::networkKinds,
        "support: metered, constrained and MCC-MNC" to ::meteredConstrainedAndOperator,
        "rules: groups put problems first" to ::groupsPutProblemsFirst,
        "rules: next run bounded, backed off, jittered" to ::nextRunIsBoundedAndBacksOff,
        "rules: the time budget leaves time to stop" to ::timeBudgetLeavesTimeToStop,
        "rules: formatting" to ::formatting,
        "rules: onboarding and consent" to ::onboardingAndConsent,
        "rules: choices become consent and budgets" to ::choicesBecomeConsentAndBudgets,
        "rules: URL lists" to ::urlLists,
    )
    var passed = 0
    var failed = 0
    for ((name, test) in tests) {
        try {
            test()
            passed++
            println("ok   $name")
        } catch (e: Throwable) {
            failed++
            println("FAIL $name: ${e::class.simpleName}: ${e.message}")
        }
    }
    println()
    println("kotlin: $passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}
