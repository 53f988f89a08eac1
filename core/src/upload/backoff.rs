//! Exponential backoff with jitter, and `Retry-After`.

use std::time::Duration;

use crate::random::FastRng;
use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;

/// The pause after the `failures`-th failure in a row: `base × 2^(failures − 1)`, at most
/// `max`, then shortened by a random fraction of at most `jitter` (0 to 1), so that phones that
/// failed together spread their retries. No failures, no pause.
pub fn backoff_delay(
    failures: u32,
    base: Duration,
    max: Duration,
    jitter: f64,
    rng: &mut FastRng,
) -> Duration {
    if failures == 0 || base.is_zero() {
        return Duration::ZERO;
    }
    let exponent = (failures - 1).min(40);
    let full = base
        .checked_mul(1u32.checked_shl(exponent.min(31)).unwrap_or(u32::MAX))
        .unwrap_or(max)
        .min(max);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let factor = 1.0 - jitter * rng.next_f64();
    full.mul_f64(factor)
}

/// Parses a `Retry-After` value: delay-seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`), relative to `now`, clamped to `max`. A date in the
/// past means no pause; an unreadable value is ignored.
pub fn parse_retry_after(value: &str, now: OffsetDateTime, max: Duration) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let seconds: u64 = value.parse().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(seconds).min(max));
    }
    let at = OffsetDateTime::parse(value, &Rfc2822).ok()?;
    let delta = at - now;
    if delta.is_negative() {
        return Some(Duration::ZERO);
    }
    Some(Duration::try_from(delta).unwrap_or(max).min(max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_maximum() {
        let mut rng = FastRng::seed(1);
        let base = Duration::from_secs(10);
        let max = Duration::from_secs(100);
        let delays: Vec<Duration> = (0..8)
            .map(|n| backoff_delay(n, base, max, 0.0, &mut rng))
            .collect();
        assert_eq!(
            delays,
            [0, 10, 20, 40, 80, 100, 100, 100].map(Duration::from_secs)
        );
        assert_eq!(backoff_delay(u32::MAX, base, max, 0.0, &mut rng), max);
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let mut rng = FastRng::seed(2);
        let base = Duration::from_secs(8);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..1000 {
            let d = backoff_delay(1, base, base, 0.5, &mut rng);
            assert!(d >= Duration::from_secs(4) && d <= base, "{d:?}");
            seen.insert(d.as_millis() / 500);
        }
        assert!(seen.len() > 4, "jitter spreads delays: {seen:?}");
    }

    #[test]
    fn retry_after_forms() {
        let now = OffsetDateTime::parse("Wed, 21 Oct 2015 07:28:00 GMT", &Rfc2822).unwrap();
        let max = Duration::from_secs(3600);
        assert_eq!(
            parse_retry_after("120", now, max),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after(" 7 ", now, max),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("99999999999999999999", now, max),
            Some(max)
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now, max),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now, max),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now, max), None);
        assert_eq!(parse_retry_after("-5", now, max), None);
    }
}
