//! The connectivity timeline: status transitions (`ok`, `data_blackout`,
//! `international_cut`...) with the evidence behind each, and the newest checks' times and
//! statuses ([`CheckRecord`]), which a run reuses instead of checking again.

use rusqlite::params;
use serde::Serialize;

use super::results::{check_asn, check_cc, clip, NetworkType};
use super::{Store, StoreError, StoreResult};

/// The most evidence bytes kept per transition.
pub const MAX_EVIDENCE_BYTES: usize = 64 * 1024;

/// A transition to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTransition {
    /// When it happened (ms since the epoch); `None` means now.
    pub at_ms: Option<i64>,
    /// The new status, e.g. `online`, `offline`, `limited`, `shutdown`.
    pub status: String,
    /// The network in use.
    pub network_type: NetworkType,
    /// The network's AS, if known (`AS1234`).
    pub probe_asn: Option<String>,
    /// The country, if known.
    pub probe_cc: Option<String>,
    /// Why the status changed (probe results, OS signals), as JSON. No IP addresses.
    pub evidence: serde_json::Value,
}

/// A recorded transition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    /// Its id (increasing).
    pub id: i64,
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// The new status.
    pub status: String,
    /// The network in use.
    pub network_type: NetworkType,
    /// The AS, if known.
    pub probe_asn: Option<String>,
    /// The country, if known.
    pub probe_cc: Option<String>,
    /// The evidence.
    pub evidence: serde_json::Value,
}

/// The most checks kept: older ones are dropped as new ones are recorded.
pub const MAX_CHECKS: i64 = 1000;

/// One connectivity check: when it ran and the status it gave (a connectivity status's
/// word). No evidence: that lives in the timeline's transitions and the measurements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRecord {
    /// When it started (ms since the epoch).
    pub started_at_ms: i64,
    /// When it ended.
    pub ended_at_ms: i64,
    /// The status it gave, e.g. `ok`.
    pub status: String,
}

impl Store {
    /// Keeps a check's time and status (the newest [`MAX_CHECKS`]).
    pub fn record_check(&self, check: &CheckRecord) -> StoreResult<()> {
        if check.status.is_empty() || check.status.len() > 64 {
            return Err(StoreError::Invalid {
                what: "check status",
                reason: "must be 1 to 64 bytes".to_string(),
            });
        }
        self.write("recording a check", |tx| {
            tx.execute(
                "INSERT INTO checks (started_at_ms, ended_at_ms, status) VALUES (?1, ?2, ?3)",
                params![check.started_at_ms, check.ended_at_ms, check.status],
            )?;
            tx.execute(
                "DELETE FROM checks WHERE id <= (SELECT max(id) FROM checks) - ?1",
                [MAX_CHECKS],
            )?;
            Ok(())
        })
    }

    /// The check that ended last, if any.
    pub fn last_check(&self) -> StoreResult<Option<CheckRecord>> {
        self.read("reading the last check", |conn| {
            let mut statement = conn.prepare(
                "SELECT started_at_ms, ended_at_ms, status FROM checks \
                 ORDER BY ended_at_ms DESC, id DESC LIMIT 1",
            )?;
            let mut rows = statement.query([])?;
            Ok(match rows.next()? {
                Some(row) => Some(CheckRecord {
                    started_at_ms: row.get(0)?,
                    ended_at_ms: row.get(1)?,
                    status: row.get(2)?,
                }),
                None => None,
            })
        })
    }

    /// Appends a transition; returns its id.
    pub fn append_transition(&self, transition: &NewTransition) -> StoreResult<i64> {
        if transition.status.is_empty() || transition.status.len() > 64 {
            return Err(StoreError::Invalid {
                what: "timeline status",
                reason: "must be 1 to 64 bytes".to_string(),
            });
        }
        if let Some(asn) = &transition.probe_asn {
            check_asn(asn)?;
        }
        if let Some(cc) = &transition.probe_cc {
            check_cc(cc)?;
        }
        let evidence = transition.evidence.to_string();
        if evidence.len() > MAX_EVIDENCE_BYTES {
            return Err(StoreError::Invalid {
                what: "timeline evidence",
                reason: format!("larger than {MAX_EVIDENCE_BYTES} bytes"),
            });
        }
        let at = transition.at_ms.unwrap_or_else(|| self.now_ms());
        self.write("appending to the timeline", |tx| {
            tx.execute(
                "INSERT INTO timeline (at_ms, status, network_type, probe_asn, probe_cc, \
                 evidence_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    at,
                    clip(&transition.status),
                    transition.network_type.as_str(),
                    transition.probe_asn,
                    transition.probe_cc,
                    evidence
                ],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// The latest transition (by time, then id), if any.
    pub fn last_transition(&self) -> StoreResult<Option<Transition>> {
        let at: Option<(i64, i64)> = self.read("reading the timeline", |conn| {
            let mut statement = conn
                .prepare("SELECT at_ms, id FROM timeline ORDER BY at_ms DESC, id DESC LIMIT 1")?;
            let mut rows = statement.query([])?;
            Ok(match rows.next()? {
                Some(row) => Some((row.get(0)?, row.get(1)?)),
                None => None,
            })
        })?;
        let Some((at_ms, id)) = at else {
            return Ok(None);
        };
        Ok(self
            .transitions(Some(at_ms), usize::MAX)?
            .into_iter()
            .find(|t| t.id == id))
    }

    /// Transitions at or after `since_ms` (all if `None`), oldest first, at most `limit`.
    pub fn transitions(&self, since_ms: Option<i64>, limit: usize) -> StoreResult<Vec<Transition>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read("reading the timeline", |conn| {
            let mut statement = conn.prepare(
                "SELECT id, at_ms, status, network_type, probe_asn, probe_cc, evidence_json \
                 FROM timeline WHERE at_ms >= ?1 ORDER BY at_ms, id LIMIT ?2",
            )?;
            let rows =
                statement.query_map(params![since_ms.unwrap_or(i64::MIN), limit], |row| {
                    let network_type: String = row.get(3)?;
                    let evidence: String = row.get(6)?;
                    Ok(Transition {
                        id: row.get(0)?,
                        at_ms: row.get(1)?,
                        status: row.get(2)?,
                        network_type: NetworkType::parse(&network_type),
                        probe_asn: row.get(4)?,
                        probe_cc: row.get(5)?,
                        evidence: serde_json::from_str(&evidence)
                            .unwrap_or(serde_json::Value::Null),
                    })
                })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}
