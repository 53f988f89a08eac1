//! The results history the apps show: runs and one verdict per measured target.
//!
//! The store keeps each result's verdict word and group as text, and its detail as a typed
//! record whose encoding and version kuzet-core's session owns (`session::history`); the store
//! never interprets it.
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
    /// How many targets the run plans to measure, when known.
    pub planned: Option<u64>,
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
            planned: None,
        }
    }

    /// The run, planning `targets` targets.
    pub fn planning(mut self, targets: u64) -> NewRun {
        self.planned = Some(targets);
        self
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
    /// How it ended (`completed`, `cancelled`, `budget_exhausted`, `out_of_time`); `None`
    /// while running, if the process died during it, or for runs of earlier versions.
    pub status: Option<String>,
    /// How many targets it planned, when recorded.
    pub planned: Option<u64>,
    /// The targets it did not measure (as its front end listed them).
    pub not_measured: serde_json::Value,
}

/// A run with counts of its results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    /// The run.
    pub run: Run,
    /// Results recorded.
    pub results: u64,
    /// Results by verdict group (the group's word and how many), most first.
    pub groups: Vec<(String, u64)>,
    /// Of the run's measurements, delivered to a collector.
    pub delivered: u64,
    /// Of the run's measurements, not delivered yet (pending, held or parked).
    pub undelivered: u64,
}

/// The verdict a run gives one target, stored with its measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The verdict's word, as shown everywhere (e.g. `dns_tampered`).
    pub word: String,
    /// Its group's word (e.g. `blocked`).
    pub group: String,
    /// What was measured: a URL or a name.
    pub target: String,
    /// The failure string, if a step failed.
    pub failure: Option<String>,
    /// The typed record of the result (see the module docs), as JSON.
    pub detail: serde_json::Value,
    /// The record's version.
    pub detail_version: i64,
}

/// A stored result's new word, group and detail (an upgrade of an older record).
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRewrite {
    /// The result's measurement id.
    pub measurement_id: String,
    /// The verdict's word.
    pub word: String,
    /// Its group's word.
    pub group: String,
    /// The typed record, as JSON.
    pub detail: serde_json::Value,
    /// The record's version.
    pub detail_version: i64,
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
    /// The verdict's word.
    pub word: String,
    /// Its group's word (empty for rows of version 1).
    pub group: String,
    /// The typed record (or, for version 1, the free-form detail earlier builds wrote).
    pub detail: serde_json::Value,
    /// The record's version.
    pub detail_version: i64,
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
        let planned = run.planned.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        self.write("starting a run", |tx| {
            tx.execute(
                "INSERT INTO runs (started_at_ms, suite, probe_asn, probe_cc, network_name, \
                 network_type, planned) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    now,
                    run.suite,
                    run.probe_asn,
                    run.probe_cc,
                    run.network_name,
                    run.network_type.as_str(),
                    planned
                ],
            )?;
            let id = tx.last_insert_rowid();
            super::quota::enforce_history(tx, self.policy(), now)?;
            Ok(id)
        })
    }

    /// Marks a run finished: how it ended (`status`, a short word) and the targets it did not
    /// measure (a JSON list, clipped to [`MAX_NOT_MEASURED`] entries).
    pub fn finish_run(
        &self,
        run: RunId,
        status: &str,
        not_measured: &serde_json::Value,
    ) -> StoreResult<()> {
        let now = self.now_ms();
        let not_measured = match not_measured.as_array() {
            Some(list) if list.len() > MAX_NOT_MEASURED => {
                serde_json::Value::Array(list[..MAX_NOT_MEASURED].to_vec())
            }
            Some(_) => not_measured.clone(),
            None => serde_json::Value::Array(Vec::new()),
        };
        self.write("finishing a run", |tx| {
            tx.execute(
                "UPDATE runs SET finished_at_ms = ?1, status = ?2, not_measured_json = ?3 \
                 WHERE id = ?4",
                params![now, clip(status), not_measured.to_string(), run],
            )?;
            Ok(())
        })
    }

    /// Results whose detail is of `version`, oldest first, at most `limit`.
    pub fn results_of_version(&self, version: i64, limit: usize) -> StoreResult<Vec<ResultRecord>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read("listing results by version", |conn| {
            let mut statement = conn.prepare(&format!(
                "{RESULT_COLUMNS} WHERE x.detail_version = ?1 ORDER BY x.id LIMIT ?2"
            ))?;
            let rows = statement.query_map(params![version, limit], result_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Rewrites stored results' words and details, in one transaction.
    pub fn rewrite_results(&self, rewrites: &[ResultRewrite]) -> StoreResult<()> {
        self.write("upgrading results", |tx| {
            for rewrite in rewrites {
                tx.execute(
                    "UPDATE results SET verdict = ?1, verdict_group = ?2, verdict_json = ?3, \
                     detail_version = ?4 WHERE measurement_id = ?5",
                    params![
                        clip(&rewrite.word),
                        clip(&rewrite.group),
                        rewrite.detail.to_string(),
                        rewrite.detail_version,
                        rewrite.measurement_id
                    ],
                )?;
            }
            Ok(())
        })
    }

    /// The most recent runs, newest first, with counts.
    pub fn runs(&self, limit: usize) -> StoreResult<Vec<RunSummary>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read("listing runs", |conn| {
            let mut statement = conn.prepare(&format!(
                "SELECT {RUN_COLUMNS},
                        (SELECT count(*) FROM results x WHERE x.run_id = r.id),
                        (SELECT count(*) FROM measurements m JOIN outbox o ON o.measurement_id = m.id
                          WHERE m.run_id = r.id AND o.state = 'delivered'),
                        (SELECT count(*) FROM measurements m JOIN outbox o ON o.measurement_id = m.id
                          WHERE m.run_id = r.id AND o.state != 'delivered')
                 FROM runs r ORDER BY r.started_at_ms DESC, r.id DESC LIMIT ?1"
            ))?;
            let rows = statement.query_map([limit], |row| {
                let count = |i: usize| row.get::<_, i64>(i).map(|n| n.max(0) as u64);
                Ok(RunSummary {
                    run: run_from_row(row)?,
                    results: count(11)?,
                    groups: Vec::new(),
                    delivered: count(12)?,
                    undelivered: count(13)?,
                })
            })?;
            let mut runs = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            let mut statement = conn.prepare(
                "SELECT verdict_group, count(*) FROM results WHERE run_id = ?1 \
                 GROUP BY verdict_group ORDER BY count(*) DESC, verdict_group",
            )?;
            for summary in &mut runs {
                summary.groups = statement
                    .query_map([summary.run.id], |row| {
                        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?.max(0) as u64))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
            }
            Ok(runs)
        })
    }

    /// One run, if it exists.
    pub fn run(&self, run: RunId) -> StoreResult<Option<Run>> {
        self.read("reading a run", |conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {RUN_COLUMNS} FROM runs r WHERE r.id = ?1"),
                    [run],
                    run_from_row,
                )
                .optional()?)
        })
    }

    /// The results of a run, in the order they were recorded.
    pub fn results(&self, run: RunId) -> StoreResult<Vec<ResultRecord>> {
        self.read("listing results", |conn| {
            let mut statement = conn.prepare(&format!(
                "{RESULT_COLUMNS} WHERE x.run_id = ?1 ORDER BY x.id"
            ))?;
            let rows = statement.query_map([run], result_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The result recorded with measurement `id`, if any.
    pub fn result(&self, id: &str) -> StoreResult<Option<ResultRecord>> {
        self.read("reading a result", |conn| {
            Ok(conn
                .query_row(
                    &format!("{RESULT_COLUMNS} WHERE x.measurement_id = ?1"),
                    [id],
                    result_from_row,
                )
                .optional()?)
        })
    }
}

/// The most targets a run lists as not measured.
pub const MAX_NOT_MEASURED: usize = 10_000;

/// The columns [`run_from_row`] reads, from `runs r`.
const RUN_COLUMNS: &str = "r.id, r.started_at_ms, r.finished_at_ms, r.suite, r.probe_asn, \
     r.probe_cc, r.network_name, r.network_type, r.status, r.planned, r.not_measured_json";

/// The query [`result_from_row`] reads, from `results x` with its outbox state.
const RESULT_COLUMNS: &str = "SELECT x.id, x.run_id, x.measurement_id, x.test_name, x.target, \
     x.verdict, x.verdict_json, x.failure, x.started_at_ms, x.finished_at_ms, o.state, \
     x.verdict_group, x.detail_version \
     FROM results x LEFT JOIN outbox o ON o.measurement_id = x.measurement_id";

fn result_from_row(row: &Row<'_>) -> rusqlite::Result<ResultRecord> {
    let detail: String = row.get(6)?;
    let state: Option<String> = row.get(10)?;
    Ok(ResultRecord {
        id: row.get(0)?,
        run_id: row.get(1)?,
        measurement_id: row.get(2)?,
        test_name: row.get(3)?,
        target: row.get(4)?,
        word: row.get(5)?,
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
        failure: row.get(7)?,
        started_at_ms: row.get(8)?,
        finished_at_ms: row.get(9)?,
        delivery: state.as_deref().and_then(DeliveryState::parse),
        group: row.get(11)?,
        detail_version: row.get(12)?,
    })
}

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<Run> {
    let network_type: String = row.get(7)?;
    let not_measured: String = row.get(10)?;
    Ok(Run {
        id: row.get(0)?,
        started_at_ms: row.get(1)?,
        finished_at_ms: row.get(2)?,
        suite: row.get(3)?,
        probe_asn: row.get(4)?,
        probe_cc: row.get(5)?,
        network_name: row.get(6)?,
        network_type: NetworkType::parse(&network_type),
        status: row.get(8)?,
        planned: row
            .get::<_, Option<i64>>(9)?
            .map(|n| u64::try_from(n).unwrap_or(0)),
        not_measured: serde_json::from_str(&not_measured)
            .unwrap_or(serde_json::Value::Array(Vec::new())),
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
            planned: None,
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
