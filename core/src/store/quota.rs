//! Quotas: count, bytes and age, applied in the transaction that stores each measurement.
//!
//! Order of sacrifice: delivered measurements first (oldest first), then parked ones, then
//! undelivered evidence (oldest first) only if the quota still cannot be met. Every drop is
//! counted by class and reason in the `counters` table, so the apps can say what was lost.
//! The verdicts of dropped measurements stay in the results history (which has its own run
//! count and age limits).

use rusqlite::{params, Connection, Transaction};
use serde::Serialize;

use super::policy::StorePolicy;
use super::{Store, StoreResult};

const DELIVERED_AGE: &str = "dropped_delivered_age";
const DELIVERED_COUNT: &str = "dropped_delivered_count";
const DELIVERED_BYTES: &str = "dropped_delivered_bytes";
const UNDELIVERED_AGE: &str = "dropped_undelivered_age";
const UNDELIVERED_COUNT: &str = "dropped_undelivered_count";
const UNDELIVERED_BYTES: &str = "dropped_undelivered_bytes";
const RUNS: &str = "dropped_runs";
/// Counter of measurements refused for being larger than the policy allows.
pub(crate) const REFUSED_TOO_LARGE: &str = "refused_too_large";

/// Measurements dropped (or refused), by class and reason. As a running total it is
/// [`DropCounters`]; as the result of one enforcement it is a [`QuotaReport`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DropCounters {
    /// Delivered measurements dropped for their age.
    pub delivered_age: u64,
    /// Delivered measurements dropped by the count quota.
    pub delivered_count: u64,
    /// Delivered measurements dropped by the bytes quota.
    pub delivered_bytes: u64,
    /// Undelivered measurements dropped for their age.
    pub undelivered_age: u64,
    /// Undelivered measurements dropped by the count quota.
    pub undelivered_count: u64,
    /// Undelivered measurements dropped by the bytes quota.
    pub undelivered_bytes: u64,
    /// Runs that left the history (count or age).
    pub runs: u64,
    /// Measurements refused for their size.
    pub refused_too_large: u64,
}

/// What one quota enforcement dropped.
pub type QuotaReport = DropCounters;

impl DropCounters {
    /// Undelivered evidence lost (dropped undelivered measurements plus refused ones).
    pub fn undelivered(&self) -> u64 {
        self.undelivered_age
            + self.undelivered_count
            + self.undelivered_bytes
            + self.refused_too_large
    }

    /// Delivered measurements dropped.
    pub fn delivered(&self) -> u64 {
        self.delivered_age + self.delivered_count + self.delivered_bytes
    }

    /// True when nothing was dropped.
    pub fn is_empty(&self) -> bool {
        *self == DropCounters::default()
    }

    /// The running totals stored in the database.
    pub(crate) fn read(conn: &Connection) -> StoreResult<DropCounters> {
        let mut counters = DropCounters::default();
        let mut statement = conn.prepare("SELECT name, value FROM counters")?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for (name, value) in rows {
            let value = value.max(0) as u64;
            match name.as_str() {
                DELIVERED_AGE => counters.delivered_age = value,
                DELIVERED_COUNT => counters.delivered_count = value,
                DELIVERED_BYTES => counters.delivered_bytes = value,
                UNDELIVERED_AGE => counters.undelivered_age = value,
                UNDELIVERED_COUNT => counters.undelivered_count = value,
                UNDELIVERED_BYTES => counters.undelivered_bytes = value,
                RUNS => counters.runs = value,
                REFUSED_TOO_LARGE => counters.refused_too_large = value,
                _ => {}
            }
        }
        Ok(counters)
    }
}

/// Adds `by` to the counter `name`.
pub(crate) fn bump(tx: &Transaction<'_>, name: &str, by: u64) -> StoreResult<()> {
    if by == 0 {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO counters (name, value) VALUES (?1, ?2) \
         ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
        params![name, i64::try_from(by).unwrap_or(i64::MAX)],
    )?;
    Ok(())
}

fn age_cutoff(now: i64, age: std::time::Duration) -> i64 {
    now.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX))
}

/// Applies the measurement quotas inside `tx`; returns what was dropped.
pub(crate) fn enforce(
    tx: &Transaction<'_>,
    policy: &StorePolicy,
    now: i64,
) -> StoreResult<QuotaReport> {
    let mut report = QuotaReport::default();
    if let Some(age) = policy.max_delivered_age {
        report.delivered_age = tx.execute(
            "DELETE FROM measurements WHERE created_at_ms < ?1 AND EXISTS (SELECT 1 FROM outbox o \
             WHERE o.measurement_id = measurements.id AND o.state = 'delivered')",
            [age_cutoff(now, age)],
        )? as u64;
    }
    if let Some(age) = policy.max_undelivered_age {
        report.undelivered_age = tx.execute(
            "DELETE FROM measurements WHERE created_at_ms < ?1 AND NOT EXISTS (SELECT 1 FROM \
             outbox o WHERE o.measurement_id = measurements.id AND o.state = 'delivered')",
            [age_cutoff(now, age)],
        )? as u64;
    }
    let (count, bytes): (i64, i64) = tx.query_row(
        "SELECT measurements, bytes FROM totals WHERE id = 1",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let max_count = policy
        .max_measurements
        .map(|m| i64::try_from(m).unwrap_or(i64::MAX));
    let max_bytes = policy
        .max_bytes
        .map(|m| i64::try_from(m).unwrap_or(i64::MAX));
    let over = |count: i64, bytes: i64| {
        max_count.is_some_and(|max| count > max) || max_bytes.is_some_and(|max| bytes > max)
    };
    if over(count, bytes) {
        let mut victims: Vec<(String, bool, bool)> = Vec::new();
        {
            let mut statement = tx.prepare(
                "SELECT m.id, m.stored_size, coalesce(o.state, 'pending') FROM measurements m \
                 LEFT JOIN outbox o ON o.measurement_id = m.id \
                 ORDER BY CASE o.state WHEN 'delivered' THEN 0 WHEN 'parked' THEN 1 ELSE 2 END, \
                          m.created_at_ms, m.rowid",
            )?;
            let mut rows = statement.query([])?;
            let (mut count, mut bytes) = (count, bytes);
            while over(count, bytes) {
                let Some(row) = rows.next()? else { break };
                let id: String = row.get(0)?;
                let size: i64 = row.get(1)?;
                let state: String = row.get(2)?;
                let by_count = max_count.is_some_and(|max| count > max);
                victims.push((id, state == "delivered", by_count));
                count -= 1;
                bytes -= size;
            }
        }
        for (id, delivered, by_count) in victims {
            tx.execute("DELETE FROM measurements WHERE id = ?1", [&id])?;
            match (delivered, by_count) {
                (true, true) => report.delivered_count += 1,
                (true, false) => report.delivered_bytes += 1,
                (false, true) => report.undelivered_count += 1,
                (false, false) => report.undelivered_bytes += 1,
            }
        }
    }
    bump(tx, DELIVERED_AGE, report.delivered_age)?;
    bump(tx, DELIVERED_COUNT, report.delivered_count)?;
    bump(tx, DELIVERED_BYTES, report.delivered_bytes)?;
    bump(tx, UNDELIVERED_AGE, report.undelivered_age)?;
    bump(tx, UNDELIVERED_COUNT, report.undelivered_count)?;
    bump(tx, UNDELIVERED_BYTES, report.undelivered_bytes)?;
    if report.undelivered() > 0 {
        tracing::warn!(
            dropped = report.undelivered(),
            "store quota reached: undelivered measurements were dropped"
        );
    }
    Ok(report)
}

/// Applies the history limits (run count and age) inside `tx`; returns the runs removed.
pub(crate) fn enforce_history(
    tx: &Transaction<'_>,
    policy: &StorePolicy,
    now: i64,
) -> StoreResult<u64> {
    let mut removed = 0u64;
    if let Some(age) = policy.max_history_age {
        removed += tx.execute(
            "DELETE FROM runs WHERE started_at_ms < ?1",
            [age_cutoff(now, age)],
        )? as u64;
    }
    if let Some(max) = policy.max_runs {
        let count: i64 = tx.query_row("SELECT count(*) FROM runs", [], |row| row.get(0))?;
        let excess = count - i64::try_from(max).unwrap_or(i64::MAX);
        if excess > 0 {
            removed += tx.execute(
                "DELETE FROM runs WHERE id IN (SELECT id FROM runs \
                 ORDER BY started_at_ms, id LIMIT ?1)",
                [excess],
            )? as u64;
        }
    }
    bump(tx, RUNS, removed)?;
    Ok(removed)
}

impl Store {
    /// Applies every quota now (they are also applied each time a measurement is stored):
    /// for apps that lowered a limit, or after a long time without recording.
    pub fn enforce_quotas(&self) -> StoreResult<QuotaReport> {
        let now = self.now_ms();
        self.write("applying the quotas", |tx| {
            let mut report = enforce(tx, self.policy(), now)?;
            report.runs = enforce_history(tx, self.policy(), now)?;
            Ok(report)
        })
    }
}
