//! The collectors as the uploader sees them: failures in a row and the persisted backoff, so
//! that a restart does not hammer a failing collector.

use std::time::Duration;

use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::Serialize;

use super::{last_error, LastError};
use crate::store::results::clip;
use crate::store::{Store, StoreResult};

/// The state of a collector as the uploader sees it (persisted backoff).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CollectorStatus {
    /// The collector's base URL.
    pub collector: String,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// No request before this time (ms since the epoch; 0 when not backing off).
    pub next_attempt_at_ms: i64,
    /// The last failure.
    pub last_error: Option<LastError>,
    /// The last success.
    pub last_success_at_ms: Option<i64>,
}

impl Store {
    /// The persisted backoff state of `collector`.
    pub fn collector_status(&self, collector: &str) -> StoreResult<CollectorStatus> {
        self.read("reading the collector state", |conn| {
            Ok(conn
                .query_row(
                    "SELECT collector, consecutive_failures, next_attempt_at_ms, \
                     last_error_kind, last_error, last_failure_at_ms, last_success_at_ms \
                     FROM collectors WHERE collector = ?1",
                    [collector],
                    collector_from_row,
                )
                .optional()?
                .unwrap_or_else(|| CollectorStatus {
                    collector: collector.to_string(),
                    ..CollectorStatus::default()
                }))
        })
    }

    /// Records a failed request to `collector`: one more failure in a row, and no request
    /// before `delay(failures in a row)` has passed. `kind` is the class of failure as the
    /// uploader spells it; it is stored as given.
    pub fn record_collector_failure(
        &self,
        collector: &str,
        kind: &str,
        message: &str,
        delay: impl FnOnce(u32) -> Duration,
    ) -> StoreResult<CollectorStatus> {
        let now = self.now_ms();
        self.write("recording a collector failure", |tx| {
            tx.execute(
                "INSERT INTO collectors (collector) VALUES (?1) ON CONFLICT (collector) DO NOTHING",
                [collector],
            )?;
            let failures: i64 = tx.query_row(
                "UPDATE collectors SET consecutive_failures = consecutive_failures + 1 \
                 WHERE collector = ?1 RETURNING consecutive_failures",
                [collector],
                |row| row.get(0),
            )?;
            let failures = failures.clamp(0, i64::from(u32::MAX)) as u32;
            let wait = i64::try_from(delay(failures).as_millis()).unwrap_or(i64::MAX / 2);
            tx.execute(
                "UPDATE collectors SET next_attempt_at_ms = ?2, last_error_kind = ?3, \
                 last_error = ?4, last_failure_at_ms = ?5 WHERE collector = ?1",
                params![
                    collector,
                    now.saturating_add(wait),
                    kind,
                    clip(message),
                    now
                ],
            )?;
            Ok(tx.query_row(
                "SELECT collector, consecutive_failures, next_attempt_at_ms, last_error_kind, \
                 last_error, last_failure_at_ms, last_success_at_ms FROM collectors \
                 WHERE collector = ?1",
                [collector],
                collector_from_row,
            )?)
        })
    }
}

/// Records a success at `collector` in `tx`: its failure streak and backoff are cleared.
pub(in crate::store) fn collector_success(
    tx: &Transaction<'_>,
    collector: &str,
    now: i64,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO collectors (collector, last_success_at_ms) VALUES (?1, ?2) \
         ON CONFLICT (collector) DO UPDATE SET consecutive_failures = 0, \
         next_attempt_at_ms = 0, last_success_at_ms = excluded.last_success_at_ms",
        params![collector, now],
    )?;
    Ok(())
}

/// A [`CollectorStatus`] of a row of the `collectors` columns, in the order the queries here
/// select them.
pub(super) fn collector_from_row(row: &Row<'_>) -> rusqlite::Result<CollectorStatus> {
    Ok(CollectorStatus {
        collector: row.get(0)?,
        consecutive_failures: row.get::<_, i64>(1)?.clamp(0, i64::from(u32::MAX)) as u32,
        next_attempt_at_ms: row.get(2)?,
        last_error: last_error(row.get(3)?, row.get(4)?, row.get(5)?),
        last_success_at_ms: row.get(6)?,
    })
}
