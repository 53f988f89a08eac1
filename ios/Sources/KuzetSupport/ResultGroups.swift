// Plain Swift: a run's results grouped by verdict, problems first, with plain-words titles.

import Foundation
import Kuzet

/// The results with one verdict.
public struct VerdictGroup {
    /// The verdict.
    public let verdict: Verdict
    /// Its title in plain words, e.g. `Blocked`.
    public let title: String
    /// What it means, one sentence.
    public let meaning: String
    /// The results, in the order they arrived.
    public let results: [TargetResult]
}

/// Groups results for the "Test now" and history screens.
public enum ResultGroups {
    private static let words: [Verdict: (title: String, meaning: String)] = [
        .blocked: ("Blocked", "Confirmed against a measurement from outside your network."),
        .anomaly: ("Could not tell", "Something failed, but nothing could tell blocking from an outage."),
        .down: ("Down for everyone", "It failed the same way from outside your network."),
        .undetermined: ("Loaded, not verified", "It loaded, with nothing to compare it with."),
        .accessible: ("Accessible", "It worked as expected."),
    ]

    /// Problems first, then the unclear, then what worked.
    private static let order: [Verdict] = [.blocked, .anomaly, .down, .undetermined, .accessible]

    /// The title of a verdict.
    public static func title(_ verdict: Verdict) -> String {
        words[verdict]?.title ?? "\(verdict)"
    }

    /// Non-empty groups in `order`; a verdict this version does not know comes last.
    public static func group(_ results: [TargetResult]) -> [VerdictGroup] {
        var seen: [Verdict] = []
        var byVerdict: [Verdict: [TargetResult]] = [:]
        for result in results {
            if byVerdict[result.verdict] == nil { seen.append(result.verdict) }
            byVerdict[result.verdict, default: []].append(result)
        }
        let verdicts = order + seen.filter { !order.contains($0) }
        return verdicts.compactMap { verdict in
            guard let list = byVerdict[verdict] else { return nil }
            return VerdictGroup(verdict: verdict, title: title(verdict), meaning: words[verdict]?.meaning ?? "",
                                results: list)
        }
    }

    /// One line for a notification or a header: `2 blocked · 1 could not tell · 9 accessible`.
    public static func summaryLine(_ groups: [VerdictGroup]) -> String {
        groups.isEmpty ? "no results" : groups.map { "\($0.results.count) \($0.title.lowercased())" }.joined(separator: " · ")
    }
}
