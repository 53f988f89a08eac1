//! Listing the outbox and the changes people ask for: counts and entries for `kuzet queue`
//! and the apps' queue screen, releasing held measurements, retrying parked ones.

use rusqlite::{params, Row};
use serde::Serialize;

use super::collectors::{collector_from_row, CollectorStatus};
use super::{last_error, DeliveryState, LastError, UNKNOWN_CC};
use crate::report::measurement::UNKNOWN_ASN;
use crate::store::codec;
use crate::store::results::{check_asn, check_cc, RunId};
use crate::store::{DropCounters, Store, StoreError, StoreResult};

/// One outbox entry, for `kuzet queue` and the apps' queue screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxItem {
    /// The measurement's id.
    pub measurement_id: String,
    /// The delivery state.
    pub state: DeliveryState,
    /// The run it belongs to, if any.
    pub run_id: Option<RunId>,
    /// The experiment.
    pub test_name: String,
    /// What was measured.
    pub input: Option<String>,
    /// `AS1234` or `AS0`.
    pub probe_asn: String,
    /// Country or `ZZ`.
    pub probe_cc: String,
    /// When it was stored.
    pub created_at_ms: i64,
    /// Failed attempts that count towards the attempt cap.
    pub attempts: u32,
    /// Attempts that could not reach the collector (offline, blocked, timeout).
    pub network_failures: u32,
    /// When it may be tried next (pending items).
    pub next_attempt_at_ms: i64,
    /// The last attempt's failure, if it failed.
    pub last_error: Option<LastError>,
    /// When it was delivered.
    pub delivered_at_ms: Option<i64>,
    /// The collector that accepted it.
    pub collector: Option<String>,
    /// The report it was submitted in.
    pub report_id: Option<String>,
    /// The collector's id for it.
    pub measurement_uid: Option<String>,
    /// Serialised size.
    pub raw_size: u64,
    /// Stored size.
    pub stored_size: u64,
}

/// Counts over the outbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    /// Waiting for an attempt.
    pub pending: u64,
    /// Waiting for the network to be known.
    pub held: u64,
    /// Parked.
    pub parked: u64,
    /// Delivered (and still stored).
    pub delivered: u64,
    /// When the oldest undelivered measurement was stored.
    pub oldest_undelivered_at_ms: Option<i64>,
    /// The earliest next attempt of a pending item.
    pub next_attempt_at_ms: Option<i64>,
    /// The collectors' persisted backoff state.
    pub collectors: Vec<CollectorStatus>,
    /// What the quotas dropped so far.
    pub dropped: DropCounters,
}

impl Store {
    /// Outbox entries in the given states (all states if empty): undelivered ones by next
    /// attempt, then delivered ones, newest first; at most `limit`.
    pub fn queue(&self, states: &[DeliveryState], limit: usize) -> StoreResult<Vec<OutboxItem>> {
        let states: Vec<DeliveryState> = if states.is_empty() {
            DeliveryState::ALL.to_vec()
        } else {
            states.to_vec()
        };
        let list = states
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read("listing the outbox", |conn| {
            let mut statement = conn.prepare(&format!(
                "SELECT o.measurement_id, o.state, m.run_id, m.test_name, m.input, m.probe_asn, \
                        m.probe_cc, m.created_at_ms, o.attempts, o.network_failures, \
                        o.next_attempt_at_ms, o.last_error_kind, o.last_error, \
                        o.last_attempt_at_ms, o.delivered_at_ms, o.collector, o.report_id, \
                        o.measurement_uid, m.raw_size, m.stored_size
                 FROM outbox o JOIN measurements m ON m.id = o.measurement_id
                 WHERE o.state IN ({list})
                 ORDER BY o.state = 'delivered', \
                          CASE WHEN o.state = 'delivered' THEN -o.delivered_at_ms \
                               ELSE o.next_attempt_at_ms END, m.created_at_ms, m.rowid
                 LIMIT ?1"
            ))?;
            let rows = statement.query_map([limit], item_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Counts over the outbox, the collectors' backoff state and the drop counters.
    pub fn queue_stats(&self) -> StoreResult<QueueStats> {
        self.read("counting the outbox", |conn| {
            let mut stats = QueueStats::default();
            let mut statement =
                conn.prepare("SELECT state, count(*) FROM outbox GROUP BY state")?;
            let counts = statement
                .query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for (state, count) in counts {
                let count = count.max(0) as u64;
                match DeliveryState::parse(&state) {
                    Some(DeliveryState::Pending) => stats.pending = count,
                    Some(DeliveryState::Held) => stats.held = count,
                    Some(DeliveryState::Parked) => stats.parked = count,
                    Some(DeliveryState::Delivered) => stats.delivered = count,
                    None => {}
                }
            }
            stats.oldest_undelivered_at_ms = conn.query_row(
                "SELECT min(m.created_at_ms) FROM outbox o JOIN measurements m \
                 ON m.id = o.measurement_id WHERE o.state != 'delivered'",
                [],
                |row| row.get(0),
            )?;
            stats.next_attempt_at_ms = conn.query_row(
                "SELECT min(next_attempt_at_ms) FROM outbox WHERE state = 'pending'",
                [],
                |row| row.get(0),
            )?;
            let mut statement = conn.prepare(
                "SELECT collector, consecutive_failures, next_attempt_at_ms, last_error_kind, \
                 last_error, last_failure_at_ms, last_success_at_ms FROM collectors \
                 ORDER BY collector",
            )?;
            stats.collectors = statement
                .query_map([], collector_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            stats.dropped = DropCounters::read(conn)?;
            Ok(stats)
        })
    }

    /// Releases measurements held because the network was unknown: their unknown ASN or
    /// country is replaced by `probe_asn` / `probe_cc` (in the stored measurement and its
    /// metadata) and they become pending. Limited to `run` when given (the network the app
    /// learned belongs to that run); the run's own network summary is updated too. Returns
    /// how many were released.
    pub fn release_held(
        &self,
        run: Option<RunId>,
        probe_asn: &str,
        probe_cc: &str,
    ) -> StoreResult<usize> {
        check_asn(probe_asn)?;
        check_cc(probe_cc)?;
        if probe_asn == UNKNOWN_ASN || probe_cc == UNKNOWN_CC {
            return Err(StoreError::Invalid {
                what: "network",
                reason: "releasing held measurements needs a known ASN and country".to_string(),
            });
        }
        let now = self.now_ms();
        let cap = self.body_cap();
        self.write("releasing held measurements", |tx| {
            let mut statement = tx.prepare(
                "SELECT m.id, m.body, m.probe_asn, m.probe_cc FROM measurements m \
                 JOIN outbox o ON o.measurement_id = m.id \
                 WHERE o.state = 'held' AND (?1 IS NULL OR m.run_id = ?1)",
            )?;
            let held = statement
                .query_map([run], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, Vec<u8>>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            drop(statement);
            let mut released = 0;
            for (id, body, asn, cc) in held {
                let json = codec::gunzip(&body, cap).map_err(StoreError::BadBody)?;
                let mut value: serde_json::Value = serde_json::from_slice(&json)?;
                let asn = if asn == UNKNOWN_ASN { probe_asn } else { asn.as_str() }.to_string();
                let cc = if cc == UNKNOWN_CC { probe_cc } else { cc.as_str() }.to_string();
                value["probe_asn"] = asn.clone().into();
                value["probe_cc"] = cc.clone().into();
                let json = serde_json::to_vec(&value)?;
                let body = codec::gzip(&json).map_err(|e| StoreError::BadBody(e.to_string()))?;
                tx.execute(
                    "UPDATE measurements SET probe_asn = ?2, probe_cc = ?3, body = ?4, \
                     raw_size = ?5, stored_size = ?6 WHERE id = ?1",
                    params![id, asn, cc, body, json.len() as i64, body.len() as i64],
                )?;
                tx.execute(
                    "UPDATE outbox SET state = 'pending', next_attempt_at_ms = ?2 \
                     WHERE measurement_id = ?1",
                    params![id, now],
                )?;
                released += 1;
            }
            if let Some(run) = run {
                tx.execute(
                    "UPDATE runs SET probe_asn = CASE probe_asn WHEN 'AS0' THEN ?2 ELSE probe_asn END, \
                     probe_cc = CASE probe_cc WHEN 'ZZ' THEN ?3 ELSE probe_cc END WHERE id = ?1",
                    params![run, probe_asn, probe_cc],
                )?;
            }
            Ok(released)
        })
    }

    /// Makes every parked measurement pending again with a fresh attempt count (the user asked
    /// to retry, or the app learned the collector is fixed). Returns how many.
    pub fn retry_parked(&self) -> StoreResult<usize> {
        let now = self.now_ms();
        self.write("retrying parked measurements", |tx| {
            Ok(tx.execute(
                "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at_ms = ?1 \
                 WHERE state = 'parked'",
                [now],
            )?)
        })
    }
}

/// An [`OutboxItem`] of a row of the listing query in [`Store::queue`].
fn item_from_row(row: &Row<'_>) -> rusqlite::Result<OutboxItem> {
    let state: String = row.get(1)?;
    let count = |i: usize| -> rusqlite::Result<u32> {
        Ok(row.get::<_, i64>(i)?.clamp(0, i64::from(u32::MAX)) as u32)
    };
    Ok(OutboxItem {
        measurement_id: row.get(0)?,
        state: DeliveryState::parse(&state).unwrap_or(DeliveryState::Pending),
        run_id: row.get(2)?,
        test_name: row.get(3)?,
        input: row.get(4)?,
        probe_asn: row.get(5)?,
        probe_cc: row.get(6)?,
        created_at_ms: row.get(7)?,
        attempts: count(8)?,
        network_failures: count(9)?,
        next_attempt_at_ms: row.get(10)?,
        last_error: last_error(row.get(11)?, row.get(12)?, row.get(13)?),
        delivered_at_ms: row.get(14)?,
        collector: row.get(15)?,
        report_id: row.get(16)?,
        measurement_uid: row.get(17)?,
        raw_size: row.get::<_, i64>(18)?.max(0) as u64,
        stored_size: row.get::<_, i64>(19)?.max(0) as u64,
    })
}
