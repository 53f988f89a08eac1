// Checks of the iOS app's plain-Swift support code (ios/Sources/KuzetSupport) and of the rules the
// apps share, which live in Rust (kuzet_core::app) and are called here through the Kuzet module,
// as the app calls them. Run on Linux by scripts/test-bindings-swift.sh and on a Mac with
// `swift run KuzetSupportChecks` (ios/). A tiny runner like the binding tests': the last line is
// "swift: N passed, N failed".

import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Kuzet
import KuzetSupport

struct CheckFailure: Error, CustomStringConvertible {
    let description: String
}

func check(_ condition: Bool, _ what: @autoclosure () -> String) throws {
    if !condition { throw CheckFailure(description: what()) }
}

func checkEqual<T: Equatable>(_ expected: T, _ actual: T, _ what: String) throws {
    if expected != actual { throw CheckFailure(description: "\(what): expected <\(expected)>, got <\(actual)>") }
}

/// A small deterministic generator (SplitMix64).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A web result as a run reports it: its word and group are the verdict's (core computes them; a
/// fixture has to spell them out).
func result(_ target: String, _ verdict: WebVerdict, _ word: String, _ group: VerdictGroup) -> TargetResult {
    TargetResult(target: target, verdict: .web(verdict), word: word, group: group, explanation: "",
                 failedOperation: nil, failure: nil, statusCode: nil, bytesReceived: 0, runtime: 0,
                 measuredAt: Date(timeIntervalSince1970: 0), measurementId: target)
}

enum Checks {
    static func networkKinds() throws {
        try checkEqual(NetworkKind.offline, NetworkContexts.kind(of: NetworkFacts(satisfied: false, interfaces: [.wifi])), "unsatisfied")
        try checkEqual(NetworkKind.wifi, NetworkContexts.kind(of: NetworkFacts(satisfied: true, interfaces: [.wifi])), "wifi")
        try checkEqual(NetworkKind.cellular, NetworkContexts.kind(of: NetworkFacts(satisfied: true, interfaces: [.cellular])), "cellular")
        try checkEqual(NetworkKind.ethernet, NetworkContexts.kind(of: NetworkFacts(satisfied: true, interfaces: [.wiredEthernet])), "wired")
        try checkEqual(NetworkKind.vpn, NetworkContexts.kind(of: NetworkFacts(satisfied: true, interfaces: [.wifi], vpn: true)), "vpn wins")
        try checkEqual(NetworkKind.unknown, NetworkContexts.kind(of: NetworkFacts(satisfied: true, interfaces: [.loopback])), "loopback")
    }

    static func meteredConstrainedAndOperator() throws {
        let cellular = NetworkContexts.context(of: NetworkFacts(satisfied: true, interfaces: [.cellular], expensive: true,
                                                                constrained: true, mobileCountryCode: "401", mobileNetworkCode: "02"))
        try checkEqual(NetworkKind.cellular, cellular.kind, "kind")
        try check(cellular.metered && cellular.constrained, "expensive and Low Data Mode: \(cellular)")
        try checkEqual("401-02", cellular.mccMnc, "MCC-MNC")
        let wifi = NetworkContexts.context(of: NetworkFacts(satisfied: true, interfaces: [.wifi],
                                                            mobileCountryCode: "401", mobileNetworkCode: "02"))
        try check(!wifi.metered && !wifi.constrained, "plain Wi-Fi: \(wifi)")
        try checkEqual(nil, wifi.mccMnc, "no MCC-MNC on Wi-Fi")
        let offline = NetworkContexts.context(of: NetworkFacts(satisfied: false, interfaces: [], expensive: true, constrained: true))
        try check(!offline.metered && !offline.constrained, "offline: \(offline)")
        let lte = NetworkContexts.context(of: NetworkFacts(satisfied: true, interfaces: [.cellular], expensive: true,
                                                           radio: "CTRadioAccessTechnologyLTE"))
        try checkEqual("LTE", lte.radio, "radio on cellular")
        try checkEqual(nil, NetworkContexts.context(of: NetworkFacts(satisfied: true, interfaces: [.wifi],
                                                                     radio: "CTRadioAccessTechnologyLTE")).radio, "no radio on Wi-Fi")
        try checkEqual(nil, NetworkContexts.radioName(""), "empty radio")
        try checkEqual("310-260", NetworkContexts.mccMnc(mcc: "310", mnc: "260"), "3-digit MNC")
        for (mcc, mnc) in [("65535", "65535"), ("--", "--"), ("401", "2"), ("40", "02"), ("4O1", "02"), ("401", nil), (nil, "02")] {
            try checkEqual(nil, NetworkContexts.mccMnc(mcc: mcc, mnc: mnc), "\(String(describing: mcc))/\(String(describing: mnc))")
        }
    }

    static func nextRunIsBoundedAndBacksOff() throws {
        let bounds = backgroundBounds()
        try checkEqual(15 * 60, bounds.minDelay, "shortest delay")
        try checkEqual(24 * 3600, bounds.maxDelay, "longest delay")
        try checkEqual(0.1, bounds.jitterFraction, "jitter fraction")
        try checkEqual(15 * 60, nextBackgroundDelay(nextRunIn: 5, failures: 0, random: 0), "lower bound")
        try checkEqual(24 * 3600, nextBackgroundDelay(nextRunIn: 3 * 86400, failures: 0, random: 0), "upper bound")
        try checkEqual(6 * 3600, nextBackgroundDelay(nextRunIn: 6 * 3600, failures: 0, random: 0), "within")
        try checkEqual(15 * 60, nextBackgroundDelay(nextRunIn: nil, failures: 1, random: 0), "first failure")
        try checkEqual(60 * 60, nextBackgroundDelay(nextRunIn: 6 * 3600, failures: 3, random: 0), "third failure")
        try checkEqual(24 * 3600, nextBackgroundDelay(nextRunIn: nil, failures: 40, random: 0), "backoff cap")
        try checkEqual(63 * 60, nextBackgroundDelay(nextRunIn: 3600, failures: 0, random: 0.5), "half the jitter")
        try checkEqual(3600, nextBackgroundDelay(nextRunIn: 3600, failures: 0, random: .nan), "NaN draws no jitter")
        var random = SplitMix(state: 7)
        for _ in 0..<200 {
            let d = nextBackgroundDelay(nextRunIn: 3600, failures: 0, random: Double.random(in: 0..<1, using: &random))
            try check(d >= 3600 && d < 3960, "jitter within 10 %: \(d)")
        }
    }

    static func timeBudgetLeavesTimeToStop() throws {
        try checkEqual(24, backgroundTimeBudget(platformLimit: 30), "an app refresh's 30 s")
        try checkEqual(9 * 60, backgroundTimeBudget(platformLimit: 10 * 60), "WorkManager's 10 minutes")
        try checkEqual(96, backgroundTimeBudget(platformLimit: 120), "a fifth kept back")
        try checkEqual(0, backgroundTimeBudget(platformLimit: 3), "tiny limit: nothing")
        for seconds in 0...1200 {
            let limit = TimeInterval(seconds)
            let budget = backgroundTimeBudget(platformLimit: limit)
            try check(budget <= limit - 5 || budget == 0, "5 s kept of \(limit): \(budget)")
        }
    }

    static func formatting() throws {
        try checkEqual("0 B", formatBytes(count: 0), "zero")
        try checkEqual("999 B", formatBytes(count: 999), "bytes")
        try checkEqual("1.5 kB", formatBytes(count: 1_500), "kB")
        try checkEqual("12 MB", formatBytes(count: 12_345_678), "MB")
        try checkEqual("1.0 MB", formatBytes(count: 999_999), "rounding up a unit")
        try checkEqual("1.0 MB", formatBytes(count: 999_600), "never 1000 kB")
        try checkEqual("18 TB", formatBytes(count: 18_000_000_000_000), "largest unit")
        try checkEqual("42 s", formatDuration(duration: 41.6), "seconds")
        try checkEqual("3 min", formatDuration(duration: 170), "minutes")
        try checkEqual("1 h 05 min", formatDuration(duration: 65 * 60), "hours")
        try checkEqual("estimating time left", formatTimeLeft(estimate: nil), "no estimate")
        try checkEqual("about 2 min left", formatTimeLeft(estimate: 100), "estimate")
        try checkEqual(25, percentOf(used: 50, budget: 200), "percent")
        try checkEqual(100, percentOf(used: 300, budget: 200), "over budget")
        try checkEqual(0, percentOf(used: 0, budget: 0), "nothing of nothing")
    }

    static func groupsPutProblemsFirst() throws {
        let ok = { (target: String) in result(target, .ok, "ok", .ok) }
        let results = [ok("a"), result("b", .dnsTampered(how: .nxdomain), "dns_tampered", .blocked),
                       result("c", .undetermined(why: "no test helper", failed: true), "undetermined", .unclear),
                       ok("d"), result("e", .httpBlockpage, "http_blockpage", .blocked)]
        let groups = groupResults(results: results)
        try checkEqual([VerdictGroup.blocked, .unclear, .ok], groups.map(\.group), "order")
        try checkEqual(["b", "e"], groups[0].results.map(\.target), "arrival order kept")
        try checkEqual("Blocked", groups[0].title, "title")
        try checkEqual(verdictGroupWords(group: .blocked).meaning, groups[0].meaning, "the group's own words")
        try check(groups.allSatisfy { !$0.meaning.isEmpty }, "every group explains itself")
        try checkEqual("2 blocked · 1 could not tell · 2 accessible", resultsSummaryLine(results: results), "summary")
        try checkEqual("no results", resultsSummaryLine(results: []), "empty")
        try checkEqual([], groupResults(results: []), "no groups")
        let all: [VerdictGroup] = [.blocked, .throttled, .networkDisrupted, .unclear, .down, .unreachable, .unverified, .ok]
        for group in all {
            let words = verdictGroupWords(group: group)
            try check(!words.title.isEmpty && words.meaning.hasSuffix("."), "words of \(group): \(words)")
        }
        try checkEqual(all.count, Set(all.map { verdictGroupWords(group: $0).title }).count, "distinct titles")
        try checkEqual("Not tested: no connection", verdictGroupWords(group: .unreachable).title, "unreachable is not a problem's title")
    }

    static func onboardingAndConsent() throws {
        let texts = onboarding()
        try check(texts.consentVersion >= 1, "a consent version")
        try check(consentNeeded(acceptedVersion: nil), "never accepted")
        try check(consentNeeded(acceptedVersion: texts.consentVersion - 1), "older consent")
        try check(!consentNeeded(acceptedVersion: texts.consentVersion), "current consent")
        try check(texts.risks.count >= 3 && texts.risks.allSatisfy { !$0.isEmpty }, "risks: \(texts.risks)")
        try check(texts.quiz.allSatisfy { !$0.statement.isEmpty && !$0.explanation.isEmpty }, "quiz: \(texts.quiz)")
        let right: [Bool?] = texts.quiz.map(\.answer)
        try checkEqual([], quizMistakes(answers: right), "all right")
        var oneWrong = right
        oneWrong[1] = !texts.quiz[1].answer
        try checkEqual([texts.quiz[1].explanation], quizMistakes(answers: oneWrong), "one wrong")
        try checkEqual(texts.quiz.count, quizMistakes(answers: []).count, "unanswered")
        var oneUnanswered = right
        oneUnanswered[0] = nil
        try checkEqual(1, quizMistakes(answers: oneUnanswered).count, "one unanswered")
    }

    static func choicesBecomeConsentAndBudgets() throws {
        let mib: UInt64 = 1_048_576
        let defaults = defaultUserChoices()
        try check(!defaults.uploadAllowed, "upload is opt-in")
        let consent = consentOf(choices: defaults)
        try check(!consent.uploadAllowed, "no upload consent by default")
        try checkEqual([Suite.connectivity, .web], consent.allowedSuites, "default suites")
        try checkEqual(defaultDataBudgets(), budgetsOf(choices: defaults), "the default choices are the engine's budgets")
        var mixed = defaults
        mixed.suites = [.connectivity, .web, .throttling, .web]
        try checkEqual([Suite.connectivity, .web, .throttling], consentOf(choices: mixed).allowedSuites,
                       "each suite once, in declaration order")

        let ranges = budgetRanges()
        try checkEqual(MibRange(min: 1, max: 500), ranges.run, "run range")
        try checkEqual(MibRange(min: 0, max: 50), ranges.background, "background range")
        try checkEqual(MibRange(min: 10, max: 10_000), ranges.monthly, "monthly range")
        var chosen = defaults
        chosen.runMib = 25
        chosen.backgroundMib = 3
        chosen.monthlyMib = 1_000
        try checkEqual(DataBudgets(runBytes: 25 * mib, backgroundBytes: 3 * mib, monthlyBytes: 1_000 * mib),
                       budgetsOf(choices: chosen), "in range: kept")
        var wild = defaults
        wild.runMib = 100_000
        wild.backgroundMib = 40
        wild.monthlyMib = 20
        let clamped = budgetsOf(choices: wild)
        try checkEqual(20 * mib, clamped.monthlyBytes, "monthly")
        try checkEqual(20 * mib, clamped.runBytes, "a run never above the month")
        try checkEqual(20 * mib, clamped.backgroundBytes, "a cycle never above the month")
        var low = defaults
        low.runMib = 0
        low.backgroundMib = 0
        low.monthlyMib = 0
        try checkEqual(DataBudgets(runBytes: mib, backgroundBytes: 0, monthlyBytes: 10 * mib), budgetsOf(choices: low),
                       "clamped up to the ranges")
    }

    static func urlLists() throws {
        let text = """
            # news
            https://adilsoz.kz/

              medianet.ngo/
            ftp://files.example/
            https://adilsoz.kz/
            HTTPS://ADILSOZ.KZ
            http://
            https://bad host/
            """
        try checkEqual(["https://adilsoz.kz/", "https://medianet.ngo/"], parseUrlList(text: text), "parsed")
        try checkEqual(100, urlListMax(), "maximum")
        let many = (1...500).map { "https://s\($0).example/" }.joined(separator: "\n")
        try checkEqual(Int(urlListMax()), parseUrlList(text: many).count, "capped")
        try checkEqual(defaultUrlList(), parseUrlList(text: defaultUrlList().joined(separator: "\n")), "defaults parse as they are")
        try check(!defaultUrlList().isEmpty, "a starting list")
    }
}

@main
struct SupportRunner {
    static func main() {
        let checks: [(String, () throws -> Void)] = [
            ("support: network kinds", Checks.networkKinds),
            ("support: metered, constrained and MCC-MNC", Checks.meteredConstrainedAndOperator),
            ("rules: groups put problems first", Checks.groupsPutProblemsFirst),
            ("rules: next run bounded, backed off, jittered", Checks.nextRunIsBoundedAndBacksOff),
            ("rules: the time budget leaves time to stop", Checks.timeBudgetLeavesTimeToStop),
            ("rules: formatting", Checks.formatting),
            ("rules: onboarding and consent", Checks.onboardingAndConsent),
            ("rules: choices become consent and budgets", Checks.choicesBecomeConsentAndBudgets),
            ("rules: URL lists", Checks.urlLists),
        ]
        var passed = 0
        var failed = 0
        for (name, body) in checks {
            do {
                try body()
                passed += 1
                print("ok   \(name)")
            } catch {
                failed += 1
                print("FAIL \(name): \(error)")
            }
        }
        print("")
        print("swift: \(passed) passed, \(failed) failed")
        exit(failed == 0 ? 0 : 1)
    }
}
