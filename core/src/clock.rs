//! A measurement's zero time. Every observation carries `t0`/`t` in seconds relative to it, as
//! OONI's sub-formats require, and a transaction id that groups the steps of one flow.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The zero time of one measurement and the source of its transaction ids. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MeasurementClock {
    zero: Instant,
    next_transaction: Arc<AtomicI64>,
}

impl MeasurementClock {
    /// Starts a clock at this instant.
    pub fn start() -> Self {
        MeasurementClock {
            zero: Instant::now(),
            next_transaction: Arc::new(AtomicI64::new(1)),
        }
    }

    /// Seconds since zero time, rounded to the microsecond as OONI's Go engine does.
    pub fn now(&self) -> f64 {
        self.seconds_at(Instant::now())
    }

    /// Seconds from zero time to `instant`.
    pub fn seconds_at(&self, instant: Instant) -> f64 {
        let seconds = instant.saturating_duration_since(self.zero).as_secs_f64();
        (seconds * 1e6).round() / 1e6
    }

    /// The instant that is zero time.
    pub fn zero(&self) -> Instant {
        self.zero
    }

    /// A fresh transaction id, unique within this measurement.
    pub fn next_transaction_id(&self) -> i64 {
        self.next_transaction.fetch_add(1, Ordering::Relaxed)
    }
}

impl Default for MeasurementClock {
    fn default() -> Self {
        Self::start()
    }
}
