// Plain Swift: when the next background task may start, and how long a cycle may take.

import Foundation

/// Bounds for background cycles (BGTaskScheduler).
public enum BackgroundSchedule {
    /// The shortest delay between cycles.
    public static let minDelay: TimeInterval = 15 * 60
    /// The longest: a day, so a long shutdown still gets a daily check.
    public static let maxDelay: TimeInterval = 24 * 3600
    /// Up to this fraction is added at random, so uploads do not line up in time across phones.
    public static let jitterFraction = 0.1
    /// What iOS gives a `BGAppRefreshTask` (about 30 s) and, in practice, a `BGProcessingTask`.
    public static let refreshLimit: TimeInterval = 30
    public static let processingLimit: TimeInterval = 5 * 60

    /// The delay before the next cycle: the engine's `nextRunIn` within the bounds after a
    /// cycle that ran; `minDelay` doubled per failure in a row (capped) after cycles that threw;
    /// plus up to `jitterFraction` of it at random.
    public static func nextDelay<R: RandomNumberGenerator>(nextRunIn: TimeInterval?, failures: Int,
                                                           using random: inout R) -> TimeInterval {
        let base: TimeInterval
        if failures > 0 || nextRunIn == nil {
            base = backoff(failures: max(failures, 1))
        } else {
            base = clamp(nextRunIn ?? minDelay)
        }
        return base + base * jitterFraction * Double.random(in: 0..<1, using: &random)
    }

    /// `nextDelay` with the system's random numbers.
    public static func nextDelay(nextRunIn: TimeInterval?, failures: Int) -> TimeInterval {
        var random = SystemRandomNumberGenerator()
        return nextDelay(nextRunIn: nextRunIn, failures: failures, using: &random)
    }

    /// `d` within `minDelay...maxDelay` (NaN counts as `minDelay`).
    public static func clamp(_ d: TimeInterval) -> TimeInterval {
        if d.isNaN || d < minDelay { return minDelay }
        return min(d, maxDelay)
    }

    /// `minDelay` × 2^(failures − 1), at most `maxDelay`.
    public static func backoff(failures: Int) -> TimeInterval {
        let doublings = min(max(failures - 1, 0), 16)
        return clamp(minDelay * pow(2, Double(doublings)))
    }

    /// The engine's time budget for a platform limit: 80 % of it (the rest for stopping,
    /// saving and rescheduling), at least 5 s.
    public static func timeBudget(platformLimit: TimeInterval) -> TimeInterval {
        max(platformLimit * 0.8, 5)
    }
}
