//! The results history the apps show: runs and one verdict per measured target.
//!
//! A run records *which* network it measured as the apps need to show it: the AS number, the
//! country, the AS name and the kind of network (Wi-Fi, mobile). Never an IP address, an SSID
//! or any identifier: [`NewRun`] is checked before it is stored.

use std::net::IpAddr;

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::outbox::DeliveryState;
use super::{Store, StoreError, StoreResult};
use crate::report::ProbeNetwork;

/// A run's id in the store.
pub type RunId = i64;

/// The longest suite name, network name, target or failure text stored.
const MAX_TEXT: usize = 2048;

/// The kind of network a run used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkType {
    /// Wi-Fi.
    Wifi,
    /// Cellular data.
    Mobile,
    /// Ethernet or another wired link.
    Wired,
    /// Not known.
    Unknown,
}

impl NetworkType {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkType::Wifi => "wifi",
            NetworkType::Mobile => "mobile",
            NetworkType::Wired => "wired",
            NetworkType::Unknown => "unknown",
        }
    }

    /// Parses the stored spelling; anything else is [`NetworkType::Unknown`].
    pub fn parse(text: &str) -> NetworkType {
        match text {
            "wifi" => NetworkType::Wifi,
            "mobile" => NetworkType::Mobile,
            "wired" => NetworkType::Wired,
            _ => NetworkType::Unknown,
        }
    }
}

/// What is known about a run when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    /// What was run: `urlgetter`, `web_connectivity`, `websites`...
    pub suite: String,
    /// `AS1234`, or `AS0` when unknown.
    pub probe_asn: String,
    /// Country code, or `ZZ` when unknown.
    pub probe_cc: String,
    /// The AS organisation's name, or empty.
    pub network_name: String,
    /// Wi-Fi, mobile...
    pub network_type: NetworkType,
}

impl NewRun {
    /// A run of `suite` on `network`.
    pub fn new(suite: &str, network: &ProbeNetwork, network_type: NetworkType) -> NewRun {
        NewRun {
            suite: suite.to_string(),
            probe_asn: network.probe_asn.clone(),
            probe_cc: network.probe_cc.clone(),
            network_name: network.probe_network_name.clone(),
            network_type,
        }
    }

    /// Checks the values: ASN and country in OONI's spelling, short texts, and no IP address
    /// anywhere in the network name.
    pub fn validate(&self) -> StoreResult<()> {
        check_asn(&self.probe_asn)?;
        check_cc(&self.probe_cc)?;
        if self.suite.is_empty() || self.suite.len() > 64 {
            return Err(StoreError::Invalid {
                what: "suite",
                reason: "must be 1 to 64 bytes".to_string(),
            });
        }
        if self.network_name.len() > 256 {
            return Err(StoreError::Invalid {
                what: "network name",
                reason: "longer than 256 bytes".to_string(),
            });
        }
        if contains_ip_address(&self.network_name) {
            return Err(StoreError::Invalid {
                what: "network name",
                reason: "it contains an IP address; the history never stores one".to_string(),
            });
        }
        Ok(())
    }
}

/// Checks an ASN in OONI's spelling (`AS0` allowed).
pub(crate) fn check_asn(asn: &str) -> StoreResult<()> {
    let ok = asn.strip_prefix("AS").is_some_and(|digits| {
        !digits.is_empty() && digits.len() <= 10 && digits.bytes().all(|b| b.is_ascii_digit())
    });
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            what: "probe ASN",
            reason: "expected AS followed by digits, e.g. AS9198".to_string(),
        })
    }
}

/// Checks a country code (`ZZ` allowed).
pub(crate) fn check_cc(cc: &str) -> StoreResult<()> {
    if cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            what: "probe country",
            reason: "expected two upper-case letters, e.g. KZ".to_string(),
        })
    }
}

/// True when some word of `text` is an IP address.
fn contains_ip_address(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '.' || c == ':'))
        .any(|word| {
            let word = word.trim_matches(|c| c == '.' || c == ':');
            word.len() >= 3 && word.parse::<IpAddr>().is_ok()
        })
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    /// Its id.
    pub id: RunId,
    /// When it started (ms since the epoch).
    pub started_at_ms: i64,
    /// When it finished; `None` while running, or if the app died during it.
    pub finished_at_ms: Option<i64>,
    /// What was run.
    pub suite: String,
    /// `AS1234` or `AS0`.
    pub probe_asn: String,
    /// Country or `ZZ`.
    pub probe_cc: String,
    /// The AS name.
    pub network_name: String,
    /// Wi-Fi, mobile...
    pub network_type: NetworkType,
}

/// A run with counts of its results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    /// The run.
    pub run: Run,
    /// Results recorded.
    pub results: u64,
    /// Results by verdict.
    pub ok: u64,
    /// Anomalies.
    pub anomaly: u64,
    /// Blocked.
    pub blocked: u64,
    /// Failed to measure a step.
    pub failed: u64,
    /// Not measured.
    pub error: u64,
    /// Of the run's measurements, delivered to a collector.
    pub delivered: u64,
    /// Of the run's measurements, not delivered yet (pending, held or parked).
    pub undelivered: u64,
}

/// The verdict on one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    /// Reachable, nothing suspicious.
    Ok,
    /// Something looked wrong but is not conclusive.
    Anomaly,
    /// Blocked (with evidence in the verdict's detail).
    Blocked,
    /// A step failed (without a control to say whether that is censorship).
    Failed,
    /// Could not be measured.
    Error,
}

impl VerdictKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Ok => "ok",
            VerdictKind::Anomaly => "anomaly",
            VerdictKind::Blocked => "blocked",
            VerdictKind::Failed => "failed",
            VerdictKind::Error => "error",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(text: &str) -> Option<VerdictKind> {
        Some(match text {
            "ok" => VerdictKind::Ok,
            "anomaly" => VerdictKind::Anomaly,
            "blocked" => VerdictKind::Blocked,
            "failed" => VerdictKind::Failed,
            "error" => VerdictKind::Error,
            _ => return None,
        })
    }
}

/// The verdict an experiment gives one target, stored with its measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The kind.
    pub kind: VerdictKind,
    /// What was measured: a URL or a name.
    pub target: String,
    /// The failure string, if a step failed.
    pub failure: Option<String>,
    /// Experiment-specific detail (failed step, blocking type, status code...).
    pub detail: serde_json::Value,
}

/// One result of the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResultRecord {
    /// Its id.
    pub id: i64,
    /// The run it belongs to.
    pub run_id: RunId,
    /// The measurement's id (its `id` field, the idempotency key at the collector).
    pub measurement_id: String,
    /// The experiment.
    pub test_name: String,
    /// What was measured.
    pub target: String,
    /// The verdict.
    pub verdict: VerdictKind,
    /// The verdict's detail.
    pub detail: serde_json::Value,
    /// The failure string, if any.
    pub failure: Option<String>,
    /// When measuring started (ms since the epoch).
    pub started_at_ms: i64,
    /// When it finished.
    pub finished_at_ms: i64,
    /// The measurement's delivery state; `None` once a quota dropped the measurement (the
    /// verdict stays in the history).
    pub delivery: Option<DeliveryState>,
}

impl Store {
    /// Starts a run and returns its id.
    pub fn begin_run(&self, run: &NewRun) -> StoreResult<RunId> {
        run.validate()?;
        let now = self.now_ms();
        self.write("starting a run", |tx| {
            tx.execute(
                "INSERT INTO runs (started_at_ms, suite, probe_asn, probe_cc, network_name, \
                 network_type) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    now,
                    run.suite,
                    run.probe_asn,
                    run.probe_cc,
                    run.network_name,
                    run.network_type.as_str()
                ],
            )?;
            let id = tx.last_insert_rowid();
            super::quota::enforce_history(tx, self.policy(), now)?;
            Ok(id)
        })
    }

    /// Marks a run finished.
    pub fn finish_run(&self, run: RunId) -> StoreResult<()> {
        let now = self.now_ms();
        self.write("finishing a run", |tx| {
            tx.execute(
                "UPDATE runs SET finished_at_ms = ?1 WHERE id = ?2",
                params![now, run],
            )?;
            Ok(())
        })
    }

    /// The most recent runs, newest first, with counts.
    pub fn runs(&self, limit: usize) -> StoreResult<Vec<RunSummary>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read("listing runs", |conn| {
            let mut statement = conn.prepare(
                "SELECT r.id, r.started_at_ms, r.finished_at_ms, r.suite, r.probe_asn, \
                        r.probe_cc, r.network_name, r.network_type,
                        (SELECT count(*) FROM results x WHERE x.run_id = r.id),
                        (SELECT count(*) FROM results x WHERE x.run_id = r.id AND x.verdict = 'ok'),
                        (SELECT count(*) FROM results x WHERE x.run_id = r.id AND x.verdict = 'anomaly'),
                        (SELECT count(*) FROM results x WHERE x.run_id = r.id AND x.verdict = 'blocked'),
                        (SELECT count(*) FROM results x WHERE x.run_id = r.id AND x.verdict = 'failed'),
                        (SELECT count(*) FROM results x WHERE x.run_id = r.id AND x.verdict = 'error'),
                        (SELECT count(*) FROM measurements m JOIN outbox o ON o.measurement_id = m.id
                          WHERE m.run_id = r.id AND o.state = 'delivered'),
                        (SELECT count(*) FROM measurements m JOIN outbox o ON o.measurement_id = m.id
                          WHERE m.run_id = r.id AND o.state != 'delivered')
                 FROM runs r ORDER BY r.started_at_ms DESC, r.id DESC LIMIT ?1",
            )?;
            let rows = statement.query_map([limit], |row| {
                let count = |i: usize| row.get::<_, i64>(i).map(|n| n.max(0) as u64);
                Ok(RunSummary {
                    run: run_from_row(row)?,
                    results: count(8)?,
                    ok: count(9)?,
                    anomaly: count(10)?,
                    blocked: count(11)?,
                    failed: count(12)?,
                    error: count(13)?,
                    delivered: count(14)?,
                    undelivered: count(15)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// One run, if it exists.
    pub fn run(&self, run: RunId) -> StoreResult<Option<Run>> {
        self.read("reading a run", |conn| {
            Ok(conn
                .query_row(
                    "SELECT id, started_at_ms, finished_at_ms, suite, probe_asn, probe_cc, \
                     network_name, network_type FROM runs WHERE id = ?1",
                    [run],
                    run_from_row,
                )
                .optional()?)
        })
    }

    /// The results of a run, in the order they were recorded.
    pub fn results(&self, run: RunId) -> StoreResult<Vec<ResultRecord>> {
        self.read("listing results", |conn| {
            let mut statement = conn.prepare(
                "SELECT x.id, x.run_id, x.measurement_id, x.test_name, x.target, x.verdict, \
                        x.verdict_json, x.failure, x.started_at_ms, x.finished_at_ms, o.state
                 FROM results x LEFT JOIN outbox o ON o.measurement_id = x.measurement_id
                 WHERE x.run_id = ?1 ORDER BY x.id",
            )?;
            let rows = statement.query_map([run], |row| {
                let verdict: String = row.get(5)?;
                let detail: String = row.get(6)?;
                let state: Option<String> = row.get(10)?;
                Ok(ResultRecord {
                    id: row.get(0)?,
                    run_id: row.get(1)?,
                    measurement_id: row.get(2)?,
                    test_name: row.get(3)?,
                    target: row.get(4)?,
                    verdict: VerdictKind::parse(&verdict).unwrap_or(VerdictKind::Error),
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                    failure: row.get(7)?,
                    started_at_ms: row.get(8)?,
                    finished_at_ms: row.get(9)?,
                    delivery: state.as_deref().and_then(DeliveryState::parse),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<Run> {
    let network_type: String = row.get(7)?;
    Ok(Run {
        id: row.get(0)?,
        started_at_ms: row.get(1)?,
        finished_at_ms: row.get(2)?,
        suite: row.get(3)?,
        probe_asn: row.get(4)?,
        probe_cc: row.get(5)?,
        network_name: row.get(6)?,
        network_type: NetworkType::parse(&network_type),
    })
}

/// Clips stored texts to [`MAX_TEXT`] bytes at a character boundary.
pub(crate) fn clip(text: &str) -> &str {
    if text.len() <= MAX_TEXT {
        return text;
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_names_with_addresses_are_refused() {
        assert!(contains_ip_address("JSC Kazakhtelecom 95.56.1.2"));
        assert!(contains_ip_address("gw 2001:db8::1"));
        assert!(!contains_ip_address("JSC Kazakhtelecom"));
        assert!(!contains_ip_address("Beeline KZ 4G"));
        let run = NewRun {
            suite: "websites".to_string(),
            probe_asn: "AS9198".to_string(),
            probe_cc: "KZ".to_string(),
            network_name: "home 10.0.0.1".to_string(),
            network_type: NetworkType::Wifi,
        };
        assert!(run.validate().is_err());
    }

    #[test]
    fn asn_and_cc_spelling() {
        assert!(check_asn("AS0").is_ok() && check_asn("AS9198").is_ok());
        assert!(check_asn("9198").is_err() && check_asn("AS").is_err());
        assert!(check_cc("KZ").is_ok() && check_cc("ZZ").is_ok());
        assert!(check_cc("kz").is_err() && check_cc("KAZ").is_err());
    }

    #[test]
    fn clip_respects_characters() {
        let text = "ж".repeat(MAX_TEXT);
        assert!(clip(&text).len() <= MAX_TEXT);
        assert_eq!(clip("short"), "short");
    }
}
