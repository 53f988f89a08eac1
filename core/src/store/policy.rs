//! Every limit of the device store, in one place.
//!
//! Each limit is a named constant and a field of [`StorePolicy`]. A field that is an `Option`
//! is a limit that can be switched off: `None` means "no limit" (as in Glean's upload policy),
//! and [`StorePolicy::no_limits`] switches off all of them for tests.

use std::time::Duration;

const DAY: u64 = 24 * 60 * 60;

/// The most measurements kept (delivered or not).
pub const MAX_STORED_MEASUREMENTS: u64 = 5_000;
/// The most bytes of stored (compressed) measurement bodies: sized to survive a multi-day
/// outage with hourly runs of a hundred URLs.
pub const MAX_STORED_BYTES: u64 = 100 * 1024 * 1024;
/// How long a delivered measurement is kept (its verdict stays in the history longer).
pub const MAX_DELIVERED_AGE: Duration = Duration::from_secs(30 * DAY);
/// How long an undelivered measurement is kept: long outages must not cost evidence.
pub const MAX_UNDELIVERED_AGE: Duration = Duration::from_secs(365 * DAY);
/// The largest measurement accepted, serialised (uncompressed) JSON.
pub const MAX_MEASUREMENT_BYTES: usize = 8 * 1024 * 1024;
/// The most runs kept in the results history.
pub const MAX_RUNS: u64 = 10_000;
/// How long a run stays in the results history.
pub const MAX_HISTORY_AGE: Duration = Duration::from_secs(365 * DAY);

/// Limits of the device store. `Default` gives the named constants.
#[derive(Debug, Clone, PartialEq)]
pub struct StorePolicy {
    /// The most measurements kept ([`MAX_STORED_MEASUREMENTS`]).
    pub max_measurements: Option<u64>,
    /// The most bytes of stored measurement bodies ([`MAX_STORED_BYTES`]).
    pub max_bytes: Option<u64>,
    /// Delivered measurements older than this are dropped ([`MAX_DELIVERED_AGE`]).
    pub max_delivered_age: Option<Duration>,
    /// Undelivered measurements older than this are dropped ([`MAX_UNDELIVERED_AGE`]).
    pub max_undelivered_age: Option<Duration>,
    /// Larger measurements are refused with [`super::StoreError::TooLarge`]
    /// ([`MAX_MEASUREMENT_BYTES`]).
    pub max_measurement_bytes: Option<usize>,
    /// The most runs in the history ([`MAX_RUNS`]).
    pub max_runs: Option<u64>,
    /// Runs older than this leave the history ([`MAX_HISTORY_AGE`]).
    pub max_history_age: Option<Duration>,
    /// Run SQLite's `quick_check` when opening, so a damaged file is found at once rather than
    /// at the first unlucky read. On by default; it reads the whole file (see BENCHMARKS.md).
    pub verify_on_open: bool,
}

impl Default for StorePolicy {
    fn default() -> Self {
        StorePolicy {
            max_measurements: Some(MAX_STORED_MEASUREMENTS),
            max_bytes: Some(MAX_STORED_BYTES),
            max_delivered_age: Some(MAX_DELIVERED_AGE),
            max_undelivered_age: Some(MAX_UNDELIVERED_AGE),
            max_measurement_bytes: Some(MAX_MEASUREMENT_BYTES),
            max_runs: Some(MAX_RUNS),
            max_history_age: Some(MAX_HISTORY_AGE),
            verify_on_open: true,
        }
    }
}

impl StorePolicy {
    /// No quota at all (the integrity check stays on): for tests.
    pub fn no_limits() -> Self {
        StorePolicy {
            max_measurements: None,
            max_bytes: None,
            max_delivered_age: None,
            max_undelivered_age: None,
            max_measurement_bytes: None,
            max_runs: None,
            max_history_age: None,
            verify_on_open: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_constants() {
        let store = StorePolicy::default();
        assert_eq!(store.max_measurements, Some(MAX_STORED_MEASUREMENTS));
        assert_eq!(store.max_bytes, Some(MAX_STORED_BYTES));
    }

    #[test]
    fn no_limits_switches_off_every_optional_limit() {
        let store = StorePolicy::no_limits();
        assert!(store.max_measurements.is_none() && store.max_bytes.is_none());
        assert!(store.max_delivered_age.is_none() && store.max_undelivered_age.is_none());
    }
}
