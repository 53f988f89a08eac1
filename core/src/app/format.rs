//! Sizes, durations and shares of a budget as the screens show them. English, fixed formats
//! (no locale): the same text on every phone and in every test.

use std::time::Duration;

/// The units above bytes, each 1000 times the one before (decimal, as phones' own data-usage
/// screens count).
const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];

/// `numerator / denominator` rounded to the nearest whole number, halves up.
fn rounded_div(numerator: u128, denominator: u128) -> u128 {
    (numerator + denominator / 2) / denominator
}

/// A byte count in decimal units: `999 B`, `1.5 kB`, `12 MB`, `18 TB`.
///
/// Below 1000 the exact count in bytes; above, the smallest unit that keeps the shown number
/// under 1000 (TB at most), with one decimal while it is under 10 and none from 10 on.
/// Rounded to the nearest, halves up (`1250` is `1.3 kB`; `999 999` is `1.0 MB`, never
/// `1000 kB`).
pub fn bytes(count: u64) -> String {
    if count < 1000 {
        return format!("{count} B");
    }
    let count = u128::from(count);
    let mut divisor: u128 = 1000;
    let mut unit = 0;
    loop {
        let tenths = rounded_div(count * 10, divisor);
        if tenths < 100 {
            return format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit]);
        }
        let whole = rounded_div(count, divisor);
        if whole < 1000 || unit == UNITS.len() - 1 {
            return format!("{whole} {}", UNITS[unit]);
        }
        divisor *= 1000;
        unit += 1;
    }
}

/// A duration rounded for people: `0 s`, `42 s`, `3 min`, `1 h 05 min`.
///
/// Whole seconds (to the nearest, halves up) under a minute; from 60 s on, whole minutes (to
/// the nearest, halves up); from 60 minutes on, hours and two-digit minutes.
pub fn duration(duration: Duration) -> String {
    let seconds = rounded_div(duration.as_millis(), 1000);
    if seconds < 60 {
        return format!("{seconds} s");
    }
    let minutes = rounded_div(seconds, 60);
    if minutes < 60 {
        return format!("{minutes} min");
    }
    format!("{} h {:02} min", minutes / 60, minutes % 60)
}

/// The progress line's estimate: `about 3 min left`, or `estimating time left` while there is
/// no estimate yet (before the first result).
pub fn time_left(estimate: Option<Duration>) -> String {
    match estimate {
        Some(estimate) => format!("about {} left", duration(estimate)),
        None => "estimating time left".to_string(),
    }
}

/// `used` as a whole percentage of `budget`, rounded down, from 0 to 100: 100 once the budget
/// is used up or exceeded, and for a zero budget 0 while nothing is used, else 100.
pub fn percent_of(used: u64, budget: u64) -> u32 {
    if used >= budget {
        return if budget == 0 && used == 0 { 0 } else { 100 };
    }
    let percent = u128::from(used) * 100 / u128::from(budget);
    u32::try_from(percent).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_below_a_kilobyte_are_exact() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1), "1 B");
        assert_eq!(bytes(999), "999 B");
    }

    #[test]
    fn bytes_in_decimal_units() {
        assert_eq!(bytes(1_000), "1.0 kB");
        assert_eq!(bytes(1_500), "1.5 kB");
        assert_eq!(bytes(1_250), "1.3 kB", "halves up");
        assert_eq!(bytes(9_949), "9.9 kB");
        assert_eq!(bytes(9_950), "10 kB", "9.95 rounds to 10: no decimal");
        assert_eq!(bytes(12_345), "12 kB");
        assert_eq!(bytes(999_499), "999 kB");
        assert_eq!(bytes(999_500), "1.0 MB", "never 1000 kB");
        assert_eq!(bytes(999_999), "1.0 MB");
        assert_eq!(bytes(12_345_678), "12 MB");
        assert_eq!(bytes(52_428_800), "52 MB");
        assert_eq!(bytes(1_500_000_000), "1.5 GB");
        assert_eq!(bytes(18_000_000_000_000), "18 TB");
        assert_eq!(
            bytes(999_600_000_000_000),
            "1000 TB",
            "the largest unit grows"
        );
        assert_eq!(bytes(u64::MAX), "18446744 TB");
    }

    #[test]
    fn durations_round_to_seconds_minutes_and_hours() {
        assert_eq!(duration(Duration::ZERO), "0 s");
        assert_eq!(duration(Duration::from_millis(499)), "0 s");
        assert_eq!(duration(Duration::from_millis(500)), "1 s");
        assert_eq!(duration(Duration::from_millis(41_600)), "42 s");
        assert_eq!(duration(Duration::from_millis(59_499)), "59 s");
        assert_eq!(duration(Duration::from_millis(59_500)), "1 min");
        assert_eq!(duration(Duration::from_secs(89)), "1 min");
        assert_eq!(duration(Duration::from_secs(90)), "2 min");
        assert_eq!(duration(Duration::from_secs(170)), "3 min");
        assert_eq!(duration(Duration::from_secs(3_569)), "59 min");
        assert_eq!(duration(Duration::from_secs(3_570)), "1 h 00 min");
        assert_eq!(duration(Duration::from_secs(65 * 60)), "1 h 05 min");
        assert_eq!(
            duration(Duration::from_secs(26 * 3600 + 40 * 60)),
            "26 h 40 min"
        );
        assert!(duration(Duration::MAX).ends_with(" min"));
    }

    #[test]
    fn time_left_with_and_without_an_estimate() {
        assert_eq!(time_left(None), "estimating time left");
        assert_eq!(
            time_left(Some(Duration::from_secs(100))),
            "about 2 min left"
        );
        assert_eq!(time_left(Some(Duration::from_secs(7))), "about 7 s left");
    }

    #[test]
    fn percent_of_a_budget() {
        assert_eq!(percent_of(0, 200), 0);
        assert_eq!(percent_of(50, 200), 25);
        assert_eq!(percent_of(199, 200), 99, "rounded down");
        assert_eq!(percent_of(200, 200), 100);
        assert_eq!(percent_of(300, 200), 100, "over budget");
        assert_eq!(percent_of(0, 0), 0, "nothing of nothing");
        assert_eq!(percent_of(1, 0), 100, "something of nothing");
        assert_eq!(percent_of(u64::MAX - 1, u64::MAX), 99, "no overflow");
    }
}
