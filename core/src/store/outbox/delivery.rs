//! The upload state machine's view of the outbox: which items are due, and what an attempt
//! did to an item (delivered, failed, held).

use std::time::Duration;

use rusqlite::{params, OptionalExtension, Row};

use super::collectors::collector_success;
use crate::store::results::clip;
use crate::store::{Store, StoreResult};

/// The header fields of a stored measurement, kept in their own columns beside its body:
/// what the uploader builds a measurement's report template from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasurementHeader {
    /// `0.2.0`.
    pub data_format_version: String,
    /// `AS1234`, or `AS0` when unknown.
    pub probe_asn: String,
    /// Country code, or `ZZ` when unknown.
    pub probe_cc: String,
    /// The software that measured.
    pub software_name: String,
    /// Its version.
    pub software_version: String,
    /// The experiment.
    pub test_name: String,
    /// When the run started (`YYYY-MM-DD hh:mm:ss`).
    pub test_start_time: String,
    /// The experiment's version.
    pub test_version: String,
}

/// A pending measurement due for an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueItem {
    /// The measurement's id.
    pub measurement_id: String,
    /// Its header fields (the uploader's report template comes from them).
    pub header: MeasurementHeader,
    /// Counted failed attempts so far.
    pub attempts: u32,
}

/// How a failed attempt changes an outbox entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureUpdate {
    /// The class of failure, as the uploader spells it; stored as given.
    pub kind: String,
    /// Details for people.
    pub message: String,
    /// True when it counts towards the attempt cap (the collector answered); false for
    /// failures to reach the collector.
    pub counts: bool,
    /// The attempt cap; reaching it parks the item.
    pub max_attempts: Option<u32>,
    /// Park the item now, whatever the count (the collector rejected it).
    pub park: bool,
}

/// What a failed attempt did to an outbox entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureOutcome {
    /// Counted attempts after this one.
    pub attempts: u32,
    /// True when the item is now parked.
    pub parked: bool,
    /// When it will be tried next (if not parked).
    pub next_attempt_at_ms: i64,
}

impl Store {
    /// Pending items due at `now_ms`, earliest first, at most `limit`.
    pub fn due_items(&self, now_ms: i64, limit: usize) -> StoreResult<Vec<DueItem>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read("finding due measurements", |conn| {
            let mut statement = conn.prepare(
                "SELECT o.measurement_id, o.attempts, m.data_format_version, m.probe_asn, \
                        m.probe_cc, m.software_name, m.software_version, m.test_name, \
                        m.test_start_time, m.test_version
                 FROM outbox o JOIN measurements m ON m.id = o.measurement_id
                 WHERE o.state = 'pending' AND o.next_attempt_at_ms <= ?1
                 ORDER BY o.next_attempt_at_ms, o.enqueued_at_ms, m.rowid LIMIT ?2",
            )?;
            let rows = statement.query_map(params![now_ms, limit], due_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The header fields of a stored measurement and its counted attempts.
    pub fn due_item(&self, measurement_id: &str) -> StoreResult<Option<DueItem>> {
        self.read("reading an outbox entry", |conn| {
            Ok(conn
                .query_row(
                    "SELECT o.measurement_id, o.attempts, m.data_format_version, m.probe_asn, \
                            m.probe_cc, m.software_name, m.software_version, m.test_name, \
                            m.test_start_time, m.test_version
                     FROM outbox o JOIN measurements m ON m.id = o.measurement_id
                     WHERE o.measurement_id = ?1",
                    [measurement_id],
                    due_from_row,
                )
                .optional()?)
        })
    }

    /// The earliest `next_attempt_at` of the pending items, if any.
    pub fn next_pending_at(&self) -> StoreResult<Option<i64>> {
        self.read("finding the next attempt", |conn| {
            Ok(conn.query_row(
                "SELECT min(next_attempt_at_ms) FROM outbox WHERE state = 'pending'",
                [],
                |row| row.get(0),
            )?)
        })
    }

    /// Marks a measurement held (the network turned out unknown).
    pub fn hold(&self, measurement_id: &str) -> StoreResult<()> {
        self.write("holding a measurement", |tx| {
            tx.execute(
                "UPDATE outbox SET state = 'held' WHERE measurement_id = ?1 AND state = 'pending'",
                [measurement_id],
            )?;
            Ok(())
        })
    }

    /// Marks a measurement delivered (a collector accepted it) and clears the collector's
    /// failure streak, in one transaction. Delivering an already delivered item keeps the
    /// first delivery's record.
    pub fn mark_delivered(
        &self,
        measurement_id: &str,
        collector: &str,
        report_id: &str,
        measurement_uid: Option<&str>,
    ) -> StoreResult<()> {
        let now = self.now_ms();
        self.write("recording a delivery", |tx| {
            tx.execute(
                "UPDATE outbox SET state = 'delivered', delivered_at_ms = ?2, collector = ?3, \
                 report_id = ?4, measurement_uid = ?5, last_attempt_at_ms = ?2 \
                 WHERE measurement_id = ?1 AND state != 'delivered'",
                params![
                    measurement_id,
                    now,
                    collector,
                    clip(report_id),
                    measurement_uid.map(clip)
                ],
            )?;
            collector_success(tx, collector, now)
        })
    }

    /// Records a failed attempt on an item; `delay(attempts)` gives the pause before the next
    /// one. Parks the item when the update says so or when the counted attempts reach the
    /// cap. The item is never deleted.
    pub fn record_failure(
        &self,
        measurement_id: &str,
        update: &FailureUpdate,
        delay: impl FnOnce(u32) -> Duration,
    ) -> StoreResult<FailureOutcome> {
        let now = self.now_ms();
        self.write("recording a failed attempt", |tx| {
            let row: Option<(i64, String)> = tx
                .query_row(
                    "SELECT attempts, state FROM outbox WHERE measurement_id = ?1",
                    [measurement_id],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let Some((attempts, state)) = row else {
                return Ok(FailureOutcome {
                    attempts: 0,
                    parked: false,
                    next_attempt_at_ms: now,
                });
            };
            let mut attempts = attempts.clamp(0, i64::from(u32::MAX)) as u32;
            if state == "delivered" {
                // A late failure of a duplicate attempt: the delivery stands.
                return Ok(FailureOutcome {
                    attempts,
                    parked: false,
                    next_attempt_at_ms: now,
                });
            }
            if update.counts {
                attempts = attempts.saturating_add(1);
            }
            let parked = update.park || update.max_attempts.is_some_and(|max| attempts >= max);
            let wait = i64::try_from(delay(attempts).as_millis()).unwrap_or(i64::MAX / 2);
            let next = now.saturating_add(wait);
            tx.execute(
                "UPDATE outbox SET state = ?2, attempts = ?3, \
                 network_failures = network_failures + ?4, next_attempt_at_ms = ?5, \
                 last_attempt_at_ms = ?6, last_error_kind = ?7, last_error = ?8 \
                 WHERE measurement_id = ?1",
                params![
                    measurement_id,
                    if parked { "parked" } else { "pending" },
                    i64::from(attempts),
                    i64::from(!update.counts),
                    next,
                    now,
                    update.kind,
                    clip(&update.message),
                ],
            )?;
            Ok(FailureOutcome {
                attempts,
                parked,
                next_attempt_at_ms: next,
            })
        })
    }

    /// Brings back to `now` every next attempt later than `latest_ms` (pending items and
    /// collectors): after the device clock jumped backwards, a backoff computed with the old
    /// time would otherwise hold evidence for as long as the jump. Returns how many changed.
    pub fn clamp_next_attempts(&self, latest_ms: i64) -> StoreResult<usize> {
        let now = self.now_ms();
        self.write("correcting next attempts", |tx| {
            let items = tx.execute(
                "UPDATE outbox SET next_attempt_at_ms = ?1 \
                 WHERE state = 'pending' AND next_attempt_at_ms > ?2",
                params![now, latest_ms],
            )?;
            let collectors = tx.execute(
                "UPDATE collectors SET next_attempt_at_ms = ?1 WHERE next_attempt_at_ms > ?2",
                params![now, latest_ms],
            )?;
            Ok(items + collectors)
        })
    }
}

/// A [`DueItem`] of a row of `o.measurement_id, o.attempts` and the header columns, in
/// [`MeasurementHeader`]'s order.
fn due_from_row(row: &Row<'_>) -> rusqlite::Result<DueItem> {
    Ok(DueItem {
        measurement_id: row.get(0)?,
        attempts: row.get::<_, i64>(1)?.clamp(0, i64::from(u32::MAX)) as u32,
        header: MeasurementHeader {
            data_format_version: row.get(2)?,
            probe_asn: row.get(3)?,
            probe_cc: row.get(4)?,
            software_name: row.get(5)?,
            software_version: row.get(6)?,
            test_name: row.get(7)?,
            test_start_time: row.get(8)?,
            test_version: row.get(9)?,
        },
    })
}
