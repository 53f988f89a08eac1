//! Background cycles (Android's WorkManager, iOS's BGTaskScheduler): when the next one may
//! run, and how much of the time the platform grants one the engine may use.

use std::time::Duration;

/// The shortest delay between cycles: WorkManager's shortest periodic interval, and the
/// engine's own while it watches trouble on the network.
pub const MIN_DELAY: Duration = Duration::from_secs(15 * 60);

/// The longest delay between cycles: a day, so even a long shutdown gets a daily check.
pub const MAX_DELAY: Duration = Duration::from_secs(24 * 60 * 60);

/// At most this fraction of a delay is added at random, so phones do not all upload at the
/// same moment.
pub const JITTER_FRACTION: f64 = 0.1;

/// The smallest part of a platform's limit [`time_budget`] keeps back for stopping.
pub const MIN_STOP_RESERVE: Duration = Duration::from_secs(5);

/// The largest part of a platform's limit [`time_budget`] keeps back for stopping.
pub const MAX_STOP_RESERVE: Duration = Duration::from_secs(60);

/// The share of a platform's limit [`time_budget`] keeps back, between [`MIN_STOP_RESERVE`]
/// and [`MAX_STOP_RESERVE`]: one part in this many (a fifth).
pub const STOP_RESERVE_DIVISOR: u32 = 5;

/// `delay` within [`MIN_DELAY`]..=[`MAX_DELAY`].
pub fn clamp(delay: Duration) -> Duration {
    delay.clamp(MIN_DELAY, MAX_DELAY)
}

/// The delay after `failures` cycles in a row that failed: [`MIN_DELAY`] doubled for each
/// failure after the first, at most [`MAX_DELAY`]. No failure counts as one.
pub fn backoff(failures: u32) -> Duration {
    // 2^7 × 15 min is already past a day.
    let doublings = failures.saturating_sub(1).min(7);
    clamp(MIN_DELAY * (1 << doublings))
}

/// The delay before the next cycle, with `random` a number drawn uniformly from `[0, 1)` by
/// the caller (outside `[0, 1]`, or NaN, counts as 0 or 1).
///
/// After a cycle that ran (`failures` 0), the delay the engine asked for (`next_run_in`,
/// `BackgroundSummary.next_run_in`) within [`MIN_DELAY`]..=[`MAX_DELAY`]; after `failures`
/// cycles in a row that failed, or without the engine's answer, the [`backoff`]. Then up to
/// [`JITTER_FRACTION`] of that delay is added: `random` × 10 %.
pub fn next_delay(next_run_in: Option<Duration>, failures: u32, random: f64) -> Duration {
    let base = match next_run_in {
        Some(asked) if failures == 0 => clamp(asked),
        _ => backoff(failures),
    };
    let draw = if random.is_nan() {
        0.0
    } else {
        random.clamp(0.0, 1.0)
    };
    // At most a day, so in f64 exactly; the cast back rounds down.
    let jitter_ms = (base.as_millis() as f64 * JITTER_FRACTION * draw) as u64;
    base + Duration::from_millis(jitter_ms)
}

/// What [`time_budget`] keeps back of `platform_limit` for stopping: a fifth of it, at least
/// [`MIN_STOP_RESERVE`], at most [`MAX_STOP_RESERVE`], and never more than the limit itself.
pub fn stop_reserve(platform_limit: Duration) -> Duration {
    (platform_limit / STOP_RESERVE_DIVISOR)
        .clamp(MIN_STOP_RESERVE, MAX_STOP_RESERVE)
        .min(platform_limit)
}

/// The time budget to give the engine's background cycle when the platform lets the task run
/// for `platform_limit`: the limit minus its [`stop_reserve`] (a fifth of it, at least 5 s, at
/// most 60 s). Never more than the limit, and zero for a limit of 5 s or less.
///
/// | platform limit | kept back | budget |
/// |---|---:|---:|
/// | 30 s (an iOS app refresh) | 6 s | 24 s |
/// | 2 min | 24 s | 96 s |
/// | 5 min and up | 60 s | the limit − 60 s |
/// | 10 min (an Android worker) | 60 s | 9 min |
/// | 5 s or less | all of it | 0 |
///
/// Why this rule: after the budget the cycle still has to stop, and the platform must not
/// kill it first. What remains to do then takes about the same time whatever the window: work
/// the engine cannot cut mid-way (an upload in flight, a store write), the app's rescheduling
/// and its "task completed" call, and on iOS the expiration warning that comes some seconds
/// before the hard end. So the reserve has a floor (5 s), below which no window is worth
/// measuring in: with a 5 s limit or less the engine gets nothing and only answers when to run
/// next. A share of the window (a fifth) keeps a short window's margin in proportion (iOS gives
/// an app refresh about 30 s, so 6 s), and a cap (60 s) keeps a long window from wasting
/// minutes. No platform limit is assumed: the app passes what its platform grants this task,
/// and the budget is never above it. (A fixed margin, such as "limit − 60 s", leaves nothing
/// in 30 s; a plain share, such as "80 %", wastes 2 minutes of Android's 10; and a minimum
/// budget, such as "at least 10 s", overruns any limit below it.)
pub fn time_budget(platform_limit: Duration) -> Duration {
    platform_limit.saturating_sub(stop_reserve(platform_limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn delays_are_clamped_to_the_bounds() {
        assert_eq!(clamp(Duration::ZERO), MIN_DELAY);
        assert_eq!(clamp(Duration::from_secs(5)), MIN_DELAY);
        assert_eq!(clamp(6 * HOUR), 6 * HOUR);
        assert_eq!(clamp(72 * HOUR), MAX_DELAY);
        assert_eq!(clamp(Duration::MAX), MAX_DELAY);
    }

    #[test]
    fn backoff_doubles_from_the_minimum_up_to_a_day() {
        assert_eq!(backoff(0), MIN_DELAY);
        assert_eq!(backoff(1), 15 * MINUTE);
        assert_eq!(backoff(2), 30 * MINUTE);
        assert_eq!(backoff(3), HOUR);
        assert_eq!(backoff(7), 16 * HOUR);
        assert_eq!(backoff(8), MAX_DELAY);
        assert_eq!(backoff(40), MAX_DELAY);
        assert_eq!(backoff(u32::MAX), MAX_DELAY);
    }

    #[test]
    fn the_next_delay_follows_the_engine_or_backs_off() {
        assert_eq!(next_delay(Some(Duration::from_secs(5)), 0, 0.0), MIN_DELAY);
        assert_eq!(next_delay(Some(72 * HOUR), 0, 0.0), MAX_DELAY);
        assert_eq!(next_delay(Some(6 * HOUR), 0, 0.0), 6 * HOUR);
        assert_eq!(
            next_delay(None, 0, 0.0),
            MIN_DELAY,
            "no answer: as one failure"
        );
        assert_eq!(next_delay(None, 1, 0.0), MIN_DELAY);
        assert_eq!(next_delay(Some(6 * HOUR), 3, 0.0), HOUR, "failures win");
        assert_eq!(next_delay(None, 40, 0.0), MAX_DELAY);
    }

    #[test]
    fn jitter_adds_up_to_a_tenth() {
        assert_eq!(next_delay(Some(HOUR), 0, 0.5), HOUR + 3 * MINUTE);
        assert_eq!(
            next_delay(Some(HOUR), 0, 0.999_999),
            HOUR + Duration::from_millis(359_999)
        );
        assert_eq!(next_delay(Some(HOUR), 0, 1.0), HOUR + 6 * MINUTE);
        assert_eq!(next_delay(None, 40, 0.5), MAX_DELAY + 72 * MINUTE);
        let mut draw = 0.0;
        while draw < 1.0 {
            let delay = next_delay(Some(HOUR), 0, draw);
            assert!(
                delay >= HOUR && delay < HOUR + 6 * MINUTE,
                "{draw}: {delay:?}"
            );
            draw += 0.01;
        }
    }

    #[test]
    fn odd_draws_stay_in_bounds() {
        assert_eq!(next_delay(Some(HOUR), 0, -3.0), HOUR);
        assert_eq!(next_delay(Some(HOUR), 0, f64::NAN), HOUR);
        assert_eq!(next_delay(Some(HOUR), 0, f64::NEG_INFINITY), HOUR);
        assert_eq!(next_delay(Some(HOUR), 0, 7.0), HOUR + 6 * MINUTE);
        assert_eq!(next_delay(Some(HOUR), 0, f64::INFINITY), HOUR + 6 * MINUTE);
    }

    #[test]
    fn the_time_budget_for_the_platforms_windows() {
        assert_eq!(
            time_budget(Duration::from_secs(30)),
            Duration::from_secs(24)
        );
        assert_eq!(time_budget(2 * MINUTE), Duration::from_secs(96));
        assert_eq!(time_budget(5 * MINUTE), 4 * MINUTE);
        assert_eq!(time_budget(10 * MINUTE), 9 * MINUTE);
        assert_eq!(time_budget(HOUR), 59 * MINUTE);
    }

    #[test]
    fn the_time_budget_always_leaves_time_to_stop() {
        assert_eq!(time_budget(Duration::from_secs(10)), Duration::from_secs(5));
        assert_eq!(time_budget(Duration::from_secs(6)), Duration::from_secs(1));
        assert_eq!(time_budget(Duration::from_secs(5)), Duration::ZERO);
        assert_eq!(time_budget(Duration::from_secs(1)), Duration::ZERO);
        assert_eq!(time_budget(Duration::ZERO), Duration::ZERO);
        assert_eq!(time_budget(Duration::MAX), Duration::MAX - MAX_STOP_RESERVE);
        for seconds in 0..2000 {
            let limit = Duration::from_millis(seconds * 500);
            let budget = time_budget(limit);
            let reserve = limit - budget;
            assert!(budget <= limit, "{limit:?}");
            assert!(
                reserve >= MIN_STOP_RESERVE.min(limit) && reserve <= MAX_STOP_RESERVE,
                "{limit:?}: {reserve:?}"
            );
            assert!(
                budget >= time_budget(limit.saturating_sub(Duration::from_millis(500))),
                "a longer window never gets less: {limit:?}"
            );
        }
    }
}
