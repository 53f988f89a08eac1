// Checks of the iOS app's plain-Swift support code (ios/Sources/KuzetSupport), run on Linux by
// scripts/test-bindings-swift.sh and on a Mac with `swift run KuzetSupportChecks` (ios/). A tiny
// runner like the binding tests': the last line is "swift: N passed, N failed".

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

/// Always the same "random" numbers: zero jitter.
struct ZeroRandom: RandomNumberGenerator {
    mutating func next() -> UInt64 { 0 }
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

func result(_ target: String, _ verdict: Verdict) -> TargetResult {
    TargetResult(suite: .web, target: target, verdict: verdict, blocking: nil, verdictDetail: "",
                 failedOperation: nil, failure: nil, statusCode: nil, bytesReceived: 0, runtime: 0,
                 explanation: "", measurementId: target, measurementJson: "{}")
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
        var zero = ZeroRandom()
        try checkEqual(15 * 60, BackgroundSchedule.nextDelay(nextRunIn: 5, failures: 0, using: &zero), "lower bound")
        try checkEqual(24 * 3600, BackgroundSchedule.nextDelay(nextRunIn: 3 * 86400, failures: 0, using: &zero), "upper bound")
        try checkEqual(6 * 3600, BackgroundSchedule.nextDelay(nextRunIn: 6 * 3600, failures: 0, using: &zero), "within")
        try checkEqual(15 * 60, BackgroundSchedule.nextDelay(nextRunIn: nil, failures: 1, using: &zero), "first failure")
        try checkEqual(60 * 60, BackgroundSchedule.nextDelay(nextRunIn: 6 * 3600, failures: 3, using: &zero), "third failure")
        try checkEqual(24 * 3600, BackgroundSchedule.nextDelay(nextRunIn: nil, failures: 40, using: &zero), "backoff cap")
        try checkEqual(15 * 60, BackgroundSchedule.clamp(.nan), "NaN")
        var random = SplitMix(state: 7)
        for _ in 0..<200 {
            let d = BackgroundSchedule.nextDelay(nextRunIn: 3600, failures: 0, using: &random)
            try check(d >= 3600 && d < 3960, "jitter within 10 %: \(d)")
        }
        try checkEqual(24, BackgroundSchedule.timeBudget(platformLimit: BackgroundSchedule.refreshLimit), "refresh budget")
        try checkEqual(5, BackgroundSchedule.timeBudget(platformLimit: 1), "tiny limit")
    }

    static func formatting() throws {
        try checkEqual("0 B", Formatting.bytes(0), "zero")
        try checkEqual("999 B", Formatting.bytes(999), "bytes")
        try checkEqual("1.5 kB", Formatting.bytes(1_500), "kB")
        try checkEqual("12 MB", Formatting.bytes(12_345_678), "MB")
        try checkEqual("1.0 MB", Formatting.bytes(999_999), "rounding up a unit")
        try checkEqual("18 TB", Formatting.bytes(18_000_000_000_000), "largest unit")
        try checkEqual("42 s", Formatting.duration(41.6), "seconds")
        try checkEqual("3 min", Formatting.duration(170), "minutes")
        try checkEqual("1 h 05 min", Formatting.duration(65 * 60), "hours")
        try checkEqual("0 s", Formatting.duration(-3), "negative")
        try checkEqual("estimating time left", Formatting.timeLeft(nil), "no estimate")
        try checkEqual("about 2 min left", Formatting.timeLeft(100), "estimate")
        try checkEqual(25, Formatting.percent(50, of: 200), "percent")
        try checkEqual(100, Formatting.percent(300, of: 200), "over budget")
        try checkEqual(0, Formatting.percent(0, of: 0), "nothing of nothing")
    }

    static func groupsPutProblemsFirst() throws {
        let groups = ResultGroups.group([result("a", .accessible), result("b", .blocked), result("c", .anomaly),
                                         result("d", .accessible), result("e", .blocked)])
        try checkEqual([Verdict.blocked, .anomaly, .accessible], groups.map(\.verdict), "order")
        try checkEqual(["b", "e"], groups[0].results.map(\.target), "arrival order kept")
        try checkEqual("Blocked", groups[0].title, "title")
        try check(groups.allSatisfy { !$0.meaning.isEmpty }, "every group explains itself")
        try checkEqual("2 blocked · 1 could not tell · 2 accessible", ResultGroups.summaryLine(groups), "summary")
        try checkEqual("no results", ResultGroups.summaryLine(ResultGroups.group([])), "empty")
    }

    static func onboardingAndChoices() throws {
        try check(Onboarding.needed(acceptedVersion: nil), "never accepted")
        try check(Onboarding.needed(acceptedVersion: Onboarding.consentVersion - 1), "older consent")
        try check(!Onboarding.needed(acceptedVersion: Onboarding.consentVersion), "current consent")
        let right: [Bool?] = Onboarding.quiz.map(\.answer)
        try checkEqual([], Onboarding.mistakes(right), "all right")
        var oneWrong = right
        oneWrong[1] = !(right[1] ?? false)
        try checkEqual([Onboarding.quiz[1].explanation], Onboarding.mistakes(oneWrong), "one wrong")
        try checkEqual(Onboarding.quiz.count, Onboarding.mistakes([]).count, "unanswered")

        let defaults = UserChoices()
        let consent = Choices.consent(defaults)
        try check(!consent.uploadAllowed, "upload is opt-in")
        try checkEqual([Suite.web, .connectivity], consent.allowedSuites, "suites")
        let budgets = Choices.budgets(defaults)
        try checkEqual(50 * 1_048_576, budgets.runBytes, "run budget")
        try checkEqual(2 * 1_048_576, budgets.backgroundBytes, "background budget")
        try checkEqual(200 * 1_048_576, budgets.monthlyBytes, "monthly budget")
        var wild = UserChoices()
        wild.runMiB = 100_000
        wild.backgroundMiB = -5
        wild.monthlyMiB = 20
        let clamped = Choices.budgets(wild)
        try checkEqual(20 * 1_048_576, clamped.runBytes, "a run never above the month")
        try checkEqual(0, clamped.backgroundBytes, "background clamped at 0")
    }

    static func urlLists() throws {
        let text = """
            # news
            https://adilsoz.kz/

              medianet.ngo/
            ftp://files.example/
            https://adilsoz.kz/
            http://
            https://bad host/
            """
        try checkEqual(["https://adilsoz.kz/", "https://medianet.ngo/"], UrlList.parse(text), "parsed")
        let many = (1...500).map { "https://s\($0).example/" }.joined(separator: "\n")
        try checkEqual(UrlList.max, UrlList.parse(many).count, "capped")
        try checkEqual(UrlList.defaults, UrlList.parse(UrlList.defaults.joined(separator: "\n")), "defaults parse as they are")
    }
}

@main
struct SupportRunner {
    static func main() {
        let checks: [(String, () throws -> Void)] = [
            ("support: network kinds", Checks.networkKinds),
            ("support: metered, constrained and MCC-MNC", Checks.meteredConstrainedAndOperator),
            ("support: next run bounded, backed off, jittered", Checks.nextRunIsBoundedAndBacksOff),
            ("support: formatting", Checks.formatting),
            ("support: groups put problems first", Checks.groupsPutProblemsFirst),
            ("support: onboarding and choices", Checks.onboardingAndChoices),
            ("support: URL lists", Checks.urlLists),
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
