//! The outbox: each stored measurement's way to a collector.
//!
//! - `record`: recording a measurement ([`Store::record`], the one way in) and reading it
//!   back;
//! - `queue`: listing and counting the outbox ([`Store::queue`], [`Store::queue_stats`]),
//!   releasing held entries and retrying parked ones;
//! - `delivery`: the upload state machine's view ([`Store::due_items`],
//!   [`Store::mark_delivered`], [`Store::record_failure`]);
//! - `collectors`: each collector's failures in a row and persisted backoff
//!   ([`Store::collector_status`]).
//!
//! An outbox entry is in one of four [`DeliveryState`]s:
//!
//! - `pending`: to be submitted when `next_attempt_at` has passed;
//! - `held`: the probe's network (ASN or country) is unknown (`AS0`/`ZZ`); collectors drop such
//!   measurements, so they wait for [`Store::release_held`];
//! - `parked`: rejected by the collector or failed too often; kept, shown with its reason,
//!   retried only when asked ([`Store::retry_parked`]);
//! - `delivered`: a collector accepted it (its `measurement_uid` and report id are kept).
//!
//! The open reports measurements are submitted in are kept apart ([`Store::report_for`]).

mod collectors;
mod delivery;
mod queue;
mod record;

use serde::Serialize;

#[cfg(doc)]
use super::Store;

pub(super) use collectors::collector_success;
pub use collectors::CollectorStatus;
pub use delivery::{DueItem, FailureOutcome, FailureUpdate, MeasurementHeader};
pub use queue::{OutboxItem, QueueStats};
pub use record::Recorded;

/// The country code meaning "unknown".
const UNKNOWN_CC: &str = "ZZ";

/// Where a measurement is on its way to a collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// Waiting for the probe's network to be known (ASN `AS0` or country `ZZ`).
    Held,
    /// Rejected, or failed too often: kept, not retried until asked.
    Parked,
    /// Accepted by a collector.
    Delivered,
}

impl DeliveryState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Held => "held",
            DeliveryState::Parked => "parked",
            DeliveryState::Delivered => "delivered",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(text: &str) -> Option<DeliveryState> {
        Some(match text {
            "pending" => DeliveryState::Pending,
            "held" => DeliveryState::Held,
            "parked" => DeliveryState::Parked,
            "delivered" => DeliveryState::Delivered,
            _ => return None,
        })
    }

    /// Every state.
    pub const ALL: [DeliveryState; 4] = [
        DeliveryState::Pending,
        DeliveryState::Held,
        DeliveryState::Parked,
        DeliveryState::Delivered,
    ];
}

/// Why the last attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastError {
    /// The class of failure, as the uploader spelled it (`timeout`, `rejected`...); the
    /// uploader's `UploadFailureKind::parse` reads it back.
    pub kind: String,
    /// Details for people (no IP addresses).
    pub message: String,
    /// When (ms since the epoch).
    pub at_ms: Option<i64>,
}

/// The [`LastError`] of a row's `last_error_kind`, `last_error` and time columns; `None` when
/// there was no failure.
fn last_error(
    kind: Option<String>,
    message: Option<String>,
    at_ms: Option<i64>,
) -> Option<LastError> {
    Some(LastError {
        kind: kind?,
        message: message.unwrap_or_default(),
        at_ms,
    })
}
