//! A fixed-window rate limiter (as Glean's): at most N requests per window.

use std::time::Duration;

/// What the limiter says about one more request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// Go ahead (the request was counted).
    Allowed,
    /// Wait this long, until the window ends.
    Wait(Duration),
}

/// At most `max` requests per `interval`, counted in fixed windows.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    interval_ms: i64,
    max: Option<u32>,
    window_start_ms: Option<i64>,
    count: u32,
}

impl RateLimiter {
    /// A limiter of `max` requests per `interval`; `None` never throttles.
    pub fn new(max: Option<u32>, interval: Duration) -> Self {
        RateLimiter {
            interval_ms: i64::try_from(interval.as_millis())
                .unwrap_or(i64::MAX)
                .max(1),
            max,
            window_start_ms: None,
            count: 0,
        }
    }

    /// Counts one request at `now_ms`, or says how long to wait.
    pub fn check(&mut self, now_ms: i64) -> Throttle {
        let Some(max) = self.max else {
            return Throttle::Allowed;
        };
        let start = match self.window_start_ms {
            Some(start) if now_ms >= start && now_ms - start < self.interval_ms => start,
            // A new window (or the clock went backwards).
            _ => {
                self.window_start_ms = Some(now_ms);
                self.count = 0;
                now_ms
            }
        };
        if self.count < max {
            self.count += 1;
            Throttle::Allowed
        } else {
            let remaining = (start + self.interval_ms - now_ms).max(1);
            Throttle::Wait(Duration::from_millis(remaining as u64))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_within_a_window_and_resets_after() {
        let mut limiter = RateLimiter::new(Some(2), Duration::from_secs(60));
        assert_eq!(limiter.check(0), Throttle::Allowed);
        assert_eq!(limiter.check(1_000), Throttle::Allowed);
        assert_eq!(
            limiter.check(10_000),
            Throttle::Wait(Duration::from_secs(50))
        );
        assert_eq!(limiter.check(60_000), Throttle::Allowed);
        let mut unlimited = RateLimiter::new(None, Duration::from_secs(1));
        assert!((0..1000).all(|_| unlimited.check(0) == Throttle::Allowed));
    }
}
