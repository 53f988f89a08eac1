// Tests of the apps' plain-Kotlin support code (android/kuzet/src/main/kotlin/org/kuzet/support),
// on the JVM with the generated bindings' types. Run by scripts/test-bindings-kotlin.sh after the
// binding tests; the last line is "kotlin: N passed, N failed".

package org.kuzet.support.tests

import org.kuzet.NetworkKind
import org.kuzet.Suite
import org.kuzet.TargetResult
import org.kuzet.Verdict
import org.kuzet.support.BackgroundSchedule
import org.kuzet.support.Choices
import org.kuzet.support.DataSaver
import org.kuzet.support.Formatting
import org.kuzet.support.NetworkContexts
import org.kuzet.support.NetworkFacts
import org.kuzet.support.Onboarding
import org.kuzet.support.ResultGroups
import org.kuzet.support.Transport
import org.kuzet.support.UrlList
import org.kuzet.support.UserChoices
import java.time.Duration
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
    val noJitter = object : Random() {
        override fun nextBits(bitCount: Int) = 0
    }
    checkEqual(Duration.ofMinutes(15), BackgroundSchedule.nextDelay(Duration.ofSeconds(5), 0, noJitter), "lower bound")
    checkEqual(Duration.ofHours(24), BackgroundSchedule.nextDelay(Duration.ofDays(3), 0, noJitter), "upper bound")
    checkEqual(Duration.ofHours(6), BackgroundSchedule.nextDelay(Duration.ofHours(6), 0, noJitter), "within bounds")
    checkEqual(Duration.ofMinutes(15), BackgroundSchedule.nextDelay(null, 1, noJitter), "first failure")
    checkEqual(Duration.ofMinutes(60), BackgroundSchedule.nextDelay(Duration.ofHours(6), 3, noJitter), "third failure")
    checkEqual(Duration.ofHours(24), BackgroundSchedule.nextDelay(null, 40, noJitter), "backoff cap")
    val random = Random(7)
    repeat(200) {
        val d = BackgroundSchedule.nextDelay(Duration.ofHours(1), 0, random)
        check(d >= Duration.ofHours(1) && d <= Duration.ofMinutes(66), "jitter within 10 %: $d")
    }
    checkEqual(Duration.ofMinutes(9), BackgroundSchedule.timeBudget(), "WorkManager budget")
    checkEqual(Duration.ofSeconds(10), BackgroundSchedule.timeBudget(Duration.ofSeconds(30)), "tiny limit")
}

fun formatting() {
    checkEqual("0 B", Formatting.bytes(0uL), "zero")
    checkEqual("999 B", Formatting.bytes(999uL), "bytes")
    checkEqual("1.5 kB", Formatting.bytes(1_500uL), "kB")
    checkEqual("12 MB", Formatting.bytes(12_345_678uL), "MB")
    checkEqual("1.0 MB", Formatting.bytes(999_999uL), "rounding up a unit")
    checkEqual("18 TB", Formatting.bytes(18_000_000_000_000uL), "largest unit")
    checkEqual("42 s", Formatting.duration(Duration.ofMillis(41_600)), "seconds")
    checkEqual("3 min", Formatting.duration(Duration.ofSeconds(170)), "minutes")
    checkEqual("1 h 05 min", Formatting.duration(Duration.ofMinutes(65)), "hours")
    checkEqual("0 s", Formatting.duration(Duration.ofSeconds(-3)), "negative")
    checkEqual("estimating time left", Formatting.timeLeft(null), "no estimate")
    checkEqual("about 2 min left", Formatting.timeLeft(Duration.ofSeconds(100)), "estimate")
    checkEqual(25, Formatting.percentOf(50uL, 200uL), "percent")
    checkEqual(100, Formatting.percentOf(300uL, 200uL), "over budget")
    checkEqual(0, Formatting.percentOf(0uL, 0uL), "nothing of nothing")
}

fun result(target: String, verdict: Verdict) = TargetResult(
    suite = Suite.WEB,
    target = target,
    verdict = verdict,
    blocking = null,
    verdictDetail = "",
    failedOperation = null,
    failure = null,
    statusCode = null,
    bytesReceived = 0uL,
    runtime = Duration.ZERO,
    explanation = "",
    measurementId = target,
    measurementJson = "{}",
)

fun groupsPutProblemsFirst() {
    val results = listOf(
        result("a", Verdict.ACCESSIBLE),
        result("b", Verdict.BLOCKED),
        result("c", Verdict.ANOMALY),
        result("d", Verdict.ACCESSIBLE),
        result("e", Verdict.BLOCKED),
    )
    val groups = ResultGroups.group(results)
    checkEqual(listOf(Verdict.BLOCKED, Verdict.ANOMALY, Verdict.ACCESSIBLE), groups.map { it.verdict }, "order")
    checkEqual(listOf("b", "e"), groups[0].results.map { it.target }, "arrival order kept")
    checkEqual("Blocked", groups[0].title, "title")
    check(groups.all { it.meaning.isNotEmpty() }, "every group explains itself")
    checkEqual("2 blocked · 1 could not tell · 2 accessible", ResultGroups.summaryLine(groups), "summary")
    checkEqual("no results", ResultGroups.summaryLine(ResultGroups.group(emptyList())), "empty")
    check(Verdict.entries.all { ResultGroups.title(it).isNotBlank() }, "every verdict has a title")
}

fun onboardingAndChoices() {
    check(Onboarding.needed(null), "never accepted")
    check(Onboarding.needed(Onboarding.CONSENT_VERSION - 1), "older consent")
    check(!Onboarding.needed(Onboarding.CONSENT_VERSION), "current consent")
    val right = Onboarding.QUIZ.map { it.answer }
    checkEqual(emptyList<String>(), Onboarding.mistakes(right), "all right")
    val oneWrong = right.toMutableList<Boolean?>().also { it[1] = !right[1] }
    checkEqual(listOf(Onboarding.QUIZ[1].explanation), Onboarding.mistakes(oneWrong), "one wrong")
    checkEqual(Onboarding.QUIZ.size, Onboarding.mistakes(emptyList()).size, "unanswered")

    val defaults = UserChoices()
    val consent = Choices.consentOf(defaults)
    check(!consent.uploadAllowed, "upload is opt-in")
    checkEqual(listOf(Suite.WEB, Suite.CONNECTIVITY), consent.allowedSuites, "suites in enum order")
    val budgets = Choices.budgetsOf(defaults)
    checkEqual(50uL * 1_048_576uL, budgets.runBytes, "run budget")
    checkEqual(2uL * 1_048_576uL, budgets.backgroundBytes, "background budget")
    checkEqual(200uL * 1_048_576uL, budgets.monthlyBytes, "monthly budget")
    val wild = Choices.budgetsOf(UserChoices(runMiB = 100_000, backgroundMiB = -5, monthlyMiB = 20))
    checkEqual(20uL * 1_048_576uL, wild.runBytes, "a run never above the month")
    checkEqual(0uL, wild.backgroundBytes, "background clamped at 0")
}

fun urlLists() {
    val text = """
        # news
        https://adilsoz.kz/

          medianet.ngo/
        ftp://files.example/
        https://adilsoz.kz/
        http://
        https://bad host/
    """.trimIndent()
    checkEqual(listOf("https://adilsoz.kz/", "https://medianet.ngo/"), UrlList.parse(text), "parsed")
    checkEqual(UrlList.MAX, UrlList.parse((1..500).joinToString("\n") { "https://s$it.example/" }).size, "capped")
    checkEqual(UrlList.DEFAULT, UrlList.parse(UrlList.DEFAULT.joinToString("\n")), "defaults parse as they are")
}

fun main() {
    val tests = listOf<Pair<String, () -> Unit>>(
        "support: network kinds" to ::networkKinds,
        "support: metered, constrained and MCC-MNC" to ::meteredConstrainedAndOperator,
        "support: next run bounded, backed off, jittered" to ::nextRunIsBoundedAndBacksOff,
        "support: formatting" to ::formatting,
        "support: groups put problems first" to ::groupsPutProblemsFirst,
        "support: onboarding and choices" to ::onboardingAndChoices,
        "support: URL lists" to ::urlLists,
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
