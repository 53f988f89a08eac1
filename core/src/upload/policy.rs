//! Every limit of the uploader, in one place.
//!
//! Each limit is a named constant and a field of [`UploadPolicy`]. A field that is an `Option`
//! is a limit that can be switched off: `None` means "no limit" (as in Glean's upload policy),
//! and [`UploadPolicy::no_limits`] switches off all of them for tests. Timeouts and byte caps
//! on network I/O are never optional.

use std::time::Duration;

/// The most upload requests per [`RATE_LIMIT_INTERVAL`].
pub const RATE_LIMIT_REQUESTS: u32 = 120;
/// The rate limiter's fixed window.
pub const RATE_LIMIT_INTERVAL: Duration = Duration::from_secs(60);
/// Failed attempts the collector answered (5xx, bad answers, unknown report) before an item is
/// parked. Failures to reach the collector at all (offline, blocked, timeouts) and 429s do not
/// count: during a shutdown every attempt fails, and that says nothing about the item.
pub const MAX_ATTEMPTS: u32 = 10;
/// The first retry delay; each further failure doubles it.
pub const BACKOFF_BASE: Duration = Duration::from_secs(15);
/// The longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(6 * 60 * 60);
/// Each delay is shortened by a random fraction of at most this much, so that phones that
/// failed together do not retry together.
pub const BACKOFF_JITTER: f64 = 0.5;
/// The longest `Retry-After` honoured; longer values are clamped to it.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest `Wait` handed to the platform; a longer pause ends the loop with `Done`, and
/// the platform schedules the next run for [`super::UploadManager::next_wakeup`].
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// `Wait`s in a row before the answer becomes `Done` (a guard against endless loops).
pub const MAX_WAIT_ATTEMPTS: u32 = 3;
/// Recoverable failures in one uploading window before the answer becomes `Done`.
pub const MAX_RECOVERABLE_FAILURES: u32 = 3;
/// The timeout of one upload request, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The most response bytes read from the collector.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// The largest request body sent (after compression); larger items are parked.
pub const MAX_UPLOAD_BYTES: usize = 4 * 1024 * 1024;
/// How long an open report is reused for measurements with the same template.
pub const REPORT_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// Limits of the uploader. `Default` gives the named constants.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadPolicy {
    /// Requests per [`UploadPolicy::rate_interval`] ([`RATE_LIMIT_REQUESTS`]).
    pub max_requests_per_interval: Option<u32>,
    /// The rate limiter's window ([`RATE_LIMIT_INTERVAL`]).
    pub rate_interval: Duration,
    /// Counted failures before an item is parked ([`MAX_ATTEMPTS`]).
    pub max_attempts: Option<u32>,
    /// The first retry delay ([`BACKOFF_BASE`]); `None` retries at once.
    pub backoff_base: Option<Duration>,
    /// The longest retry delay ([`BACKOFF_MAX`]).
    pub backoff_max: Duration,
    /// The jitter fraction, 0 to 1 ([`BACKOFF_JITTER`]).
    pub backoff_jitter: f64,
    /// The longest `Retry-After` honoured ([`MAX_RETRY_AFTER`]).
    pub max_retry_after: Duration,
    /// The longest `Wait` handed out ([`MAX_WAIT`]); `None` hands out any wait.
    pub max_wait: Option<Duration>,
    /// `Wait`s in a row before `Done` ([`MAX_WAIT_ATTEMPTS`]).
    pub max_wait_attempts: Option<u32>,
    /// Recoverable failures per uploading window before `Done`
    /// ([`MAX_RECOVERABLE_FAILURES`]).
    pub max_recoverable_failures: Option<u32>,
    /// The timeout of one request ([`REQUEST_TIMEOUT`]).
    pub request_timeout: Duration,
    /// The most response bytes read ([`MAX_RESPONSE_BYTES`]).
    pub max_response_bytes: usize,
    /// The largest request body ([`MAX_UPLOAD_BYTES`]).
    pub max_upload_bytes: Option<usize>,
    /// How long an open report is reused ([`REPORT_MAX_AGE`]).
    pub report_max_age: Option<Duration>,
    /// Send bodies gzip-compressed (`Content-Encoding: gzip`, which collectors must accept).
    pub compress: bool,
}

impl Default for UploadPolicy {
    fn default() -> Self {
        UploadPolicy {
            max_requests_per_interval: Some(RATE_LIMIT_REQUESTS),
            rate_interval: RATE_LIMIT_INTERVAL,
            max_attempts: Some(MAX_ATTEMPTS),
            backoff_base: Some(BACKOFF_BASE),
            backoff_max: BACKOFF_MAX,
            backoff_jitter: BACKOFF_JITTER,
            max_retry_after: MAX_RETRY_AFTER,
            max_wait: Some(MAX_WAIT),
            max_wait_attempts: Some(MAX_WAIT_ATTEMPTS),
            max_recoverable_failures: Some(MAX_RECOVERABLE_FAILURES),
            request_timeout: REQUEST_TIMEOUT,
            max_response_bytes: MAX_RESPONSE_BYTES,
            max_upload_bytes: Some(MAX_UPLOAD_BYTES),
            report_max_age: Some(REPORT_MAX_AGE),
            compress: true,
        }
    }
}

impl UploadPolicy {
    /// No rate limit, no attempt cap, no backoff, no loop guards (timeouts and byte caps stay):
    /// for tests.
    pub fn no_limits() -> Self {
        UploadPolicy {
            max_requests_per_interval: None,
            max_attempts: None,
            backoff_base: None,
            max_wait: None,
            max_wait_attempts: None,
            max_recoverable_failures: None,
            max_upload_bytes: None,
            report_max_age: None,
            ..UploadPolicy::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_constants() {
        let upload = UploadPolicy::default();
        assert_eq!(upload.max_attempts, Some(MAX_ATTEMPTS));
        assert_eq!(upload.backoff_base, Some(BACKOFF_BASE));
        assert!(upload.compress);
    }

    #[test]
    fn no_limits_switches_off_every_optional_limit() {
        let upload = UploadPolicy::no_limits();
        assert!(upload.max_attempts.is_none() && upload.backoff_base.is_none());
        assert!(upload.max_requests_per_interval.is_none());
        assert_eq!(upload.request_timeout, REQUEST_TIMEOUT);
    }
}
