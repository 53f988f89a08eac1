//! Recording measurements and the outbox: each measurement's delivery state.
//!
//! [`Store::record`] is the one way in. In a single transaction it stores the measurement
//! (scrubbed of the probe's IP, gzip-compressed), its verdict in the history, and its outbox
//! entry, then applies the quotas. When it returns, all of that is on disk.
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
//! The lower-level methods at the end are the upload state machine's view of the outbox.

use std::net::IpAddr;
use std::time::Duration;

use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::Serialize;

use super::codec;
use super::quota::{self, QuotaReport};
use super::results::{check_asn, check_cc, clip, RunId, Verdict};
use super::{Store, StoreError, StoreResult};
use crate::report::measurement::{Measurement, UNKNOWN_ASN};
use crate::report::scrub::{scrub_measurement, Scrubber};
use crate::upload::protocol::ReportTemplate;
use crate::upload::UploadFailureKind;

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

/// What [`Store::record`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recorded {
    /// The measurement's id (its own `id`, or a new UUID v4 if it had none).
    pub measurement_id: String,
    /// Its delivery state: `pending`, or `held` when the network is unknown.
    pub state: DeliveryState,
    /// Serialised size.
    pub raw_size: usize,
    /// Stored (compressed) size.
    pub stored_size: usize,
    /// True when a measurement with this id was already stored (nothing was changed).
    pub duplicate: bool,
    /// What the quotas dropped to make room.
    pub dropped: QuotaReport,
}

/// Why the last attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastError {
    /// The class of failure.
    pub kind: UploadFailureKind,
    /// Details for people (no IP addresses).
    pub message: String,
    /// When (ms since the epoch).
    pub at_ms: Option<i64>,
}

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
    pub dropped: super::DropCounters,
}

/// A pending measurement due for an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueItem {
    /// The measurement's id.
    pub measurement_id: String,
    /// The report template its metadata gives.
    pub template: ReportTemplate,
    /// Counted failed attempts so far.
    pub attempts: u32,
}

/// How a failed attempt changes an outbox entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureUpdate {
    /// The class of failure.
    pub kind: UploadFailureKind,
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
    /// Stores a measurement of `run` with its verdict, and enqueues it for upload: one
    /// transaction, durable when this returns.
    ///
    /// The measurement is scrubbed first ([`scrub_measurement`] with `probe_ip`, so every
    /// spelling of the probe's address becomes `[scrubbed]`), and so are the verdict's texts.
    /// A measurement without an `id` gets a new UUID v4; the id is the idempotency key, and
    /// recording an id already stored changes nothing (`duplicate` is set). A measurement whose
    /// ASN is `AS0` or country `ZZ` is stored `held`.
    pub fn record(
        &self,
        run: RunId,
        measurement: &Measurement,
        verdict: &Verdict,
        probe_ip: Option<IpAddr>,
    ) -> StoreResult<Recorded> {
        self.insert(Some(run), measurement, Some(verdict), probe_ip)
    }

    /// Stores and enqueues a measurement that belongs to no run and has no verdict (e.g. a
    /// measurement made elsewhere). Same guarantees as [`Store::record`].
    pub fn enqueue(
        &self,
        measurement: &Measurement,
        probe_ip: Option<IpAddr>,
    ) -> StoreResult<Recorded> {
        self.insert(None, measurement, None, probe_ip)
    }

    fn insert(
        &self,
        run: Option<RunId>,
        measurement: &Measurement,
        verdict: Option<&Verdict>,
        probe_ip: Option<IpAddr>,
    ) -> StoreResult<Recorded> {
        let mut scrubbed = scrub_measurement(measurement, probe_ip)
            .map_err(|e| StoreError::Scrub(e.to_string()))?;
        let id = match scrubbed.id.as_deref() {
            Some(id) if !id.is_empty() => {
                check_measurement_id(id)?;
                id.to_string()
            }
            _ => crate::random::uuid_v4().to_string(),
        };
        scrubbed.id = Some(id.clone());
        // Stored measurements belong to no report yet.
        scrubbed.report_id = String::new();
        check_asn(&scrubbed.probe_asn)?;
        check_cc(&scrubbed.probe_cc)?;
        let json = serde_json::to_vec(&scrubbed)?;
        if let Some(max) = self.policy().max_measurement_bytes {
            if json.len() > max {
                let _ = self.write("counting a refused measurement", |tx| {
                    quota::bump(tx, quota::REFUSED_TOO_LARGE, 1)
                });
                return Err(StoreError::TooLarge {
                    size: json.len(),
                    max,
                });
            }
        }
        let body = codec::gzip(&json).map_err(|e| StoreError::BadBody(e.to_string()))?;
        let verdict = verdict.map(|v| scrub_verdict(v, measurement, probe_ip));
        let held = scrubbed.probe_asn == UNKNOWN_ASN || scrubbed.probe_cc == UNKNOWN_CC;
        let state = if held {
            DeliveryState::Held
        } else {
            DeliveryState::Pending
        };
        let now = self.now_ms();
        let runtime_ms = (scrubbed.test_runtime.max(0.0) * 1000.0) as i64;
        let (raw_size, stored_size) = (json.len(), body.len());
        self.write("storing a measurement", |tx| {
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO measurements (id, run_id, created_at_ms, \
                 data_format_version, test_name, test_version, software_name, software_version, \
                 probe_asn, probe_cc, test_start_time, input, raw_size, stored_size, encoding, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 'gzip', ?15)",
                params![
                    id,
                    run,
                    now,
                    scrubbed.data_format_version,
                    scrubbed.test_name,
                    scrubbed.test_version,
                    scrubbed.software_name,
                    scrubbed.software_version,
                    scrubbed.probe_asn,
                    scrubbed.probe_cc,
                    scrubbed.test_start_time,
                    scrubbed.input,
                    raw_size as i64,
                    stored_size as i64,
                    body,
                ],
            )?;
            if inserted == 0 {
                let state: Option<String> = tx
                    .query_row(
                        "SELECT state FROM outbox WHERE measurement_id = ?1",
                        [&id],
                        |row| row.get(0),
                    )
                    .optional()?;
                return Ok(Recorded {
                    measurement_id: id.clone(),
                    state: state
                        .as_deref()
                        .and_then(DeliveryState::parse)
                        .unwrap_or(DeliveryState::Pending),
                    raw_size,
                    stored_size,
                    duplicate: true,
                    dropped: QuotaReport::default(),
                });
            }
            tx.execute(
                "INSERT INTO outbox (measurement_id, state, enqueued_at_ms, next_attempt_at_ms) \
                 VALUES (?1, ?2, ?3, ?3)",
                params![id, state.as_str(), now],
            )?;
            if let (Some(run), Some(verdict)) = (run, &verdict) {
                tx.execute(
                    "INSERT OR IGNORE INTO results (run_id, measurement_id, test_name, target, \
                     verdict, verdict_json, failure, started_at_ms, finished_at_ms, \
                     verdict_group, detail_version) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        run,
                        id,
                        scrubbed.test_name,
                        clip(&verdict.target),
                        clip(&verdict.word),
                        verdict.detail.to_string(),
                        verdict.failure.as_deref().map(clip),
                        now - runtime_ms,
                        now,
                        clip(&verdict.group),
                        verdict.detail_version,
                    ],
                )?;
            }
            let dropped = quota::enforce(tx, self.policy(), now)?;
            Ok(Recorded {
                measurement_id: id.clone(),
                state,
                raw_size,
                stored_size,
                duplicate: false,
                dropped,
            })
        })
    }

    /// The stored (scrubbed) measurement with this id.
    pub fn measurement(&self, id: &str) -> StoreResult<Option<Measurement>> {
        match self.measurement_json(id)? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// The stored measurement's JSON bytes (decompressed), as recorded.
    pub fn measurement_json(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
        let body: Option<Vec<u8>> = self.read("reading a measurement", |conn| {
            Ok(conn
                .query_row("SELECT body FROM measurements WHERE id = ?1", [id], |row| {
                    row.get(0)
                })
                .optional()?)
        })?;
        match body {
            Some(body) => codec::gunzip(&body, self.body_cap())
                .map(Some)
                .map_err(StoreError::BadBody),
            None => Ok(None),
        }
    }

    /// The ids of every stored measurement, oldest first.
    pub fn measurement_ids(&self) -> StoreResult<Vec<String>> {
        self.read("listing measurements", |conn| {
            let mut statement =
                conn.prepare("SELECT id FROM measurements ORDER BY created_at_ms, rowid")?;
            let ids = statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(ids)
        })
    }

    fn body_cap(&self) -> usize {
        self.policy()
            .max_measurement_bytes
            .unwrap_or(codec::MAX_DECOMPRESSED)
    }

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
            stats.dropped = super::DropCounters::read(conn)?;
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

    // ---- The upload state machine's view of the outbox. ----

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
            let rows = statement.query_map(params![now_ms, limit], |row| {
                Ok(DueItem {
                    measurement_id: row.get(0)?,
                    attempts: row.get::<_, i64>(1)?.clamp(0, i64::from(u32::MAX)) as u32,
                    template: ReportTemplate {
                        data_format_version: row.get(2)?,
                        format: "json".to_string(),
                        probe_asn: row.get(3)?,
                        probe_cc: row.get(4)?,
                        software_name: row.get(5)?,
                        software_version: row.get(6)?,
                        test_name: row.get(7)?,
                        test_start_time: row.get(8)?,
                        test_version: row.get(9)?,
                    },
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The report template of a stored measurement and its counted attempts.
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
                    |row| {
                        Ok(DueItem {
                            measurement_id: row.get(0)?,
                            attempts: row.get::<_, i64>(1)?.clamp(0, i64::from(u32::MAX)) as u32,
                            template: ReportTemplate {
                                data_format_version: row.get(2)?,
                                format: "json".to_string(),
                                probe_asn: row.get(3)?,
                                probe_cc: row.get(4)?,
                                software_name: row.get(5)?,
                                software_version: row.get(6)?,
                                test_name: row.get(7)?,
                                test_start_time: row.get(8)?,
                                test_version: row.get(9)?,
                            },
                        })
                    },
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
                    update.kind.as_str(),
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
    /// before `delay(failures in a row)` has passed.
    pub fn record_collector_failure(
        &self,
        collector: &str,
        kind: UploadFailureKind,
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
                    kind.as_str(),
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

    /// The open report for `template_key` at `collector`, if one was opened after
    /// `opened_after_ms`.
    pub fn report_for(
        &self,
        collector: &str,
        template_key: &str,
        opened_after_ms: i64,
    ) -> StoreResult<Option<String>> {
        self.read("finding an open report", |conn| {
            Ok(conn
                .query_row(
                    "SELECT report_id FROM reports WHERE collector = ?1 AND template_key = ?2 \
                     AND opened_at_ms > ?3",
                    params![collector, template_key, opened_after_ms],
                    |row| row.get(0),
                )
                .optional()?)
        })
    }

    /// Remembers the report opened at `collector` for `template_key` (reused while the
    /// template matches), and clears the collector's failure streak. Reports older than
    /// `forget_before_ms` are forgotten at the same time.
    pub fn save_report(
        &self,
        collector: &str,
        template_key: &str,
        report_id: &str,
        forget_before_ms: i64,
    ) -> StoreResult<()> {
        let now = self.now_ms();
        self.write("saving an open report", |tx| {
            tx.execute(
                "INSERT INTO reports (collector, template_key, report_id, opened_at_ms) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (collector, template_key) \
                 DO UPDATE SET report_id = excluded.report_id, opened_at_ms = excluded.opened_at_ms",
                params![collector, template_key, report_id, now],
            )?;
            tx.execute(
                "DELETE FROM reports WHERE opened_at_ms < ?1",
                [forget_before_ms],
            )?;
            collector_success(tx, collector, now)
        })
    }

    /// Forgets the report for `template_key` at `collector` (the collector no longer knows
    /// it), so the next attempt opens a new one.
    pub fn forget_report(&self, collector: &str, template_key: &str) -> StoreResult<()> {
        self.write("forgetting a report", |tx| {
            tx.execute(
                "DELETE FROM reports WHERE collector = ?1 AND template_key = ?2",
                params![collector, template_key],
            )?;
            Ok(())
        })
    }
}

/// A measurement id usable as an idempotency key and in request ids: 1 to 64 characters of
/// `[A-Za-z0-9_-]` (a UUID, as Kuzet makes them).
fn check_measurement_id(id: &str) -> StoreResult<()> {
    if !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            what: "measurement id",
            reason: "expected 1 to 64 letters, digits, '-' or '_' (a UUID)".to_string(),
        })
    }
}

/// The verdict with the probe's address scrubbed from its texts.
fn scrub_verdict(
    verdict: &Verdict,
    measurement: &Measurement,
    probe_ip: Option<IpAddr>,
) -> Verdict {
    let mut addresses: Vec<IpAddr> = probe_ip.into_iter().collect();
    if let Ok(recorded) = measurement.probe_ip.parse::<IpAddr>() {
        addresses.push(recorded);
    }
    addresses.retain(|ip| !ip.is_loopback() && !ip.is_unspecified());
    let scrubber = Scrubber::new(addresses);
    if scrubber.is_empty() {
        return verdict.clone();
    }
    let mut detail = verdict.detail.clone();
    scrubber.scrub_value(&mut detail);
    Verdict {
        word: verdict.word.clone(),
        group: verdict.group.clone(),
        detail_version: verdict.detail_version,
        target: scrubber.scrub_str(&verdict.target).into_owned(),
        failure: verdict
            .failure
            .as_deref()
            .map(|f| scrubber.scrub_str(f).into_owned()),
        detail,
    }
}

fn collector_success(tx: &Transaction<'_>, collector: &str, now: i64) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO collectors (collector, last_success_at_ms) VALUES (?1, ?2) \
         ON CONFLICT (collector) DO UPDATE SET consecutive_failures = 0, \
         next_attempt_at_ms = 0, last_success_at_ms = excluded.last_success_at_ms",
        params![collector, now],
    )?;
    Ok(())
}

fn last_error(
    kind: Option<String>,
    message: Option<String>,
    at_ms: Option<i64>,
) -> Option<LastError> {
    let kind = kind?;
    Some(LastError {
        kind: UploadFailureKind::parse(&kind),
        message: message.unwrap_or_default(),
        at_ms,
    })
}

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

fn collector_from_row(row: &Row<'_>) -> rusqlite::Result<CollectorStatus> {
    Ok(CollectorStatus {
        collector: row.get(0)?,
        consecutive_failures: row.get::<_, i64>(1)?.clamp(0, i64::from(u32::MAX)) as u32,
        next_attempt_at_ms: row.get(2)?,
        last_error: last_error(row.get(3)?, row.get(4)?, row.get(5)?),
        last_success_at_ms: row.get(6)?,
    })
}
