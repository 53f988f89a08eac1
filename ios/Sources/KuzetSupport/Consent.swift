// Plain Swift: the informed-consent quiz and the user's choices, turned into the engine's
// Consent and DataBudgets. The same words and rules as the Android app's Consent.kt.

import Foundation
import Kuzet

/// One true/false question of the onboarding quiz, with what to say after a wrong answer.
public struct QuizQuestion: Sendable {
    public let statement: String
    public let answer: Bool
    public let explanation: String
}

/// The onboarding: risks in plain words (after OONI's informed-consent points) and a quiz.
public enum Onboarding {
    /// Bump when the risks or the quiz change: everyone is asked again.
    public static let consentVersion = 1

    /// The points shown before the quiz.
    public static let risks: [String] = [
        "Anyone watching your connection (your operator, the government, an employer) can see that you run Kuzet.",
        "Kuzet connects to sites that may be illegal to open here, such as banned news or VPN sites.",
        "Uploaded measurements are published openly: with your network, country, the time and the results. "
            + "Your IP address is not included, but your operator could still link a measurement to you by its time.",
        "Results kept on this phone show that it measured, for example during a shutdown, if the phone is seized. "
            + "You can delete them at any time.",
        "The risk depends on who you are, the law, and what you test. If in doubt, ask a digital-rights lawyer.",
    ]

    /// The quiz: every answer must be right to go on.
    public static let quiz: [QuizQuestion] = [
        QuizQuestion(statement: "Someone monitoring my internet connection can see that I am running Kuzet.",
                     answer: true,
                     explanation: "Kuzet's traffic to the sites it tests and to the collector is visible to your operator."),
        QuizQuestion(statement: "The measurements I upload stay private.",
                     answer: false,
                     explanation: "They are published openly, with your network, country and the time."),
        QuizQuestion(statement: "If my phone is taken, the results on it can show that I measured during a shutdown.",
                     answer: true,
                     explanation: "Delete them from Settings if that is a risk for you."),
    ]

    /// Whether the onboarding must be shown: never accepted, or accepted in an older version.
    public static func needed(acceptedVersion: Int?) -> Bool {
        guard let acceptedVersion else { return true }
        return acceptedVersion < consentVersion
    }

    /// The explanations of the wrong answers (empty: passed). Unanswered questions are wrong.
    public static func mistakes(_ answers: [Bool?]) -> [String] {
        quiz.enumerated().compactMap { i, q in
            i < answers.count && answers[i] == q.answer ? nil : q.explanation
        }
    }
}

/// What the user chose in onboarding and settings. Budgets in MiB.
public struct UserChoices: Sendable, Equatable, Codable {
    public var uploadAllowed = false
    public var web = true
    public var connectivity = true
    public var throttling = false
    public var messaging = false
    public var runMiB = 50
    public var backgroundMiB = 2
    public var monthlyMiB = 200

    public init() {}
}

/// Turns `UserChoices` into what the engine and the scheduler take.
public enum Choices {
    public static let runRange = 1...500
    public static let backgroundRange = 0...50
    public static let monthlyRange = 10...10_000

    private static func mib(_ value: Int, _ range: ClosedRange<Int>) -> UInt64 {
        UInt64(min(max(value, range.lowerBound), range.upperBound)) * 1_048_576
    }

    /// The engine's consent record; suites in a fixed order.
    public static func consent(_ choices: UserChoices) -> Consent {
        var suites: [Suite] = []
        if choices.web { suites.append(.web) }
        if choices.messaging { suites.append(.messaging) }
        if choices.throttling { suites.append(.throttling) }
        if choices.connectivity { suites.append(.connectivity) }
        return Consent(uploadAllowed: choices.uploadAllowed, allowedSuites: suites)
    }

    /// The engine's budgets, each clamped to its range; a run never above the month.
    public static func budgets(_ choices: UserChoices) -> DataBudgets {
        let monthly = mib(choices.monthlyMiB, monthlyRange)
        return DataBudgets(runBytes: min(mib(choices.runMiB, runRange), monthly),
                           backgroundBytes: min(mib(choices.backgroundMiB, backgroundRange), monthly),
                           monthlyBytes: monthly)
    }
}
