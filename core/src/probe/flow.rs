//! A flow: the context one chain of observations (DNS, connect, handshake, request) shares.

use crate::clock::MeasurementClock;

/// The clock, transaction id and tags that every observation of one flow carries.
#[derive(Debug, Clone)]
pub struct Flow {
    /// The measurement's zero time.
    pub clock: MeasurementClock,
    /// The id shared by this flow's observations.
    pub transaction_id: i64,
    /// Tags copied into each observation (`depth=0`, ...).
    pub tags: Vec<String>,
}

impl Flow {
    /// A new flow with a fresh transaction id from the clock.
    pub fn new(clock: &MeasurementClock, tags: Vec<String>) -> Self {
        Flow {
            clock: clock.clone(),
            transaction_id: clock.next_transaction_id(),
            tags,
        }
    }
}
