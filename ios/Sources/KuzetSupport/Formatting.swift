// Plain Swift: numbers and durations as the screens show them.

import Foundation

/// Formats sizes and durations for people.
public enum Formatting {
    private static let units = ["kB", "MB", "GB", "TB"]

    /// Bytes in decimal units: `512 B`, `1.5 kB`, `12 MB`.
    public static func bytes(_ count: UInt64) -> String {
        if count < 1000 { return "\(count) B" }
        var value = Double(count) / 1000
        var unit = 0
        while value >= 999.95 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        let text = value < 10 ? String(format: "%.1f", value) : String(format: "%.0f", value)
        return "\(text) \(units[unit])"
    }

    /// A duration, rounded: `0 s`, `42 s`, `3 min`, `1 h 05 min`. Negative counts as zero.
    public static func duration(_ d: TimeInterval) -> String {
        let seconds = d.isNaN || d < 0 ? 0 : Int((d).rounded())
        if seconds < 60 { return "\(seconds) s" }
        let minutes = (seconds + 30) / 60
        if seconds < 3600 { return "\(minutes) min" }
        return String(format: "%d h %02d min", minutes / 60, minutes % 60)
    }

    /// The progress line's estimate: `about 3 min left`, or `estimating time left`.
    public static func timeLeft(_ estimate: TimeInterval?) -> String {
        guard let estimate else { return "estimating time left" }
        return "about \(duration(estimate)) left"
    }

    /// `used` as a whole percentage of `budget`, 0 to 100.
    public static func percent(_ used: UInt64, of budget: UInt64) -> Int {
        if budget == 0 { return used == 0 ? 0 : 100 }
        if used >= budget { return 100 }
        return Int(Double(used) * 100 / Double(budget))
    }
}
