//! Recording measurements and reading them back.
//!
//! [`Store::record`] is the one way in. In a single transaction it stores the measurement
//! (scrubbed of the probe's IP, gzip-compressed), its verdict in the history, and its outbox
//! entry, then applies the quotas. When it returns, all of that is on disk.

use std::net::IpAddr;

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{DeliveryState, UNKNOWN_CC};
use crate::report::measurement::{Measurement, UNKNOWN_ASN};
use crate::report::scrub::{scrub_measurement, Scrubber};
use crate::store::codec;
use crate::store::quota::{self, QuotaReport};
use crate::store::results::{check_asn, check_cc, clip, RunId, Verdict};
use crate::store::{Store, StoreError, StoreResult};

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

    /// The largest decompressed body read back: the policy's measurement cap, or the codec's.
    pub(super) fn body_cap(&self) -> usize {
        self.policy()
            .max_measurement_bytes
            .unwrap_or(codec::MAX_DECOMPRESSED)
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
