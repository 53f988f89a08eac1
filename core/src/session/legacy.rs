//! Results stored by earlier builds (detail version 1: a verdict kind `ok`/`anomaly`/
//! `blocked`/`failed`/`error` and free-form JSON that differed by front end), read once into
//! today's typed record ([`StoredDetail`]) when a store is opened for writing ([`upgrade`]),
//! or on the fly when it can only be read.
//!
//! The measurement kept with a result is the first source: its `x_` keys hold the experiment's
//! own verdict. When a quota dropped it, the old detail is read as each front end wrote it:
//! the CLI's web verdict, `x_throttling`, messaging's `x_status` keys, urlgetter's step and
//! failure; the engine's suite, verdict words and explanation; the connectivity monitor's
//! status. A verdict that cannot be rebuilt is kept honestly as web's `undetermined` (or the
//! suite's inconclusive) naming what the earlier version recorded; nothing is made up.

use serde_json::Value;

use super::history::{StoredDetail, DETAIL_VERSION};
use super::verdict::Verdict;
use super::SessionError;
use crate::experiment::connectivity::{self, ConnectivityStatus};
use crate::experiment::messaging::{App, MessagingVerdict};
use crate::experiment::throttling::{self, ThrottlingVerdict};
use crate::experiment::urlgetter::{self, UrlVerdict};
use crate::experiment::web_connectivity::{self, Verdict as WebVerdict};
use crate::report::Measurement;
use crate::store::{ResultRecord, Store};

/// Rows converted in one transaction.
const BATCH: usize = 200;

/// Today's record of a version-1 row, from its measurement when kept, else its old detail.
pub fn convert(record: &ResultRecord, measurement: Option<&Measurement>) -> StoredDetail {
    let detail = &record.detail;
    let from_measurement = measurement.and_then(|m| verdict_of_measurement(&record.test_name, m));
    let verdict = from_measurement
        .or_else(|| verdict_of_detail(record))
        .unwrap_or_else(|| unknown_verdict(record));
    let text = |key: &str| detail.get(key).and_then(Value::as_str).map(str::to_string);
    let explanation = text("explanation")
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| default_explanation(&record.target, &verdict));
    let bytes_received = detail
        .get("bytes_received")
        .or_else(|| detail.get("bytes"))
        .or_else(|| detail.get("bytes_used"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let runtime_ms = detail
        .get("runtime_ms")
        .and_then(Value::as_u64)
        .unwrap_or_else(|| {
            u64::try_from(record.finished_at_ms.saturating_sub(record.started_at_ms)).unwrap_or(0)
        });
    let failed_operation = text("failed_operation").or_else(|| {
        measurement
            .and_then(|m| m.test_keys.get("failed_operation")?.as_str())
            .map(str::to_string)
    });
    StoredDetail {
        verdict,
        explanation,
        failed_operation,
        status_code: detail
            .get("status_code")
            .and_then(Value::as_u64)
            .and_then(|code| u16::try_from(code).ok()),
        bytes_received,
        runtime_ms,
        measured_at_ms: None,
    }
}

/// The verdict an earlier build's measurement carries.
fn verdict_of_measurement(test_name: &str, measurement: &Measurement) -> Option<Verdict> {
    let keys = &measurement.test_keys;
    match test_name {
        throttling::TEST_NAME => keys.get("x_throttling").and_then(throttling_of_old),
        urlgetter::TEST_NAME => Some(Verdict::Urls(url_verdict(
            keys.get("failed_operation").and_then(Value::as_str),
            keys.get("failure").and_then(Value::as_str),
        ))),
        _ => Verdict::from_test_keys(test_name, keys),
    }
}

/// A throttling verdict as earlier builds wrote `x_throttling`: blocked and intercepted
/// targets were `inconclusive` with `blocked`/`intercepted` flags.
fn throttling_of_old(x: &Value) -> Option<Verdict> {
    let flag = |key: &str| x.get(key).and_then(Value::as_bool).unwrap_or(false);
    let text = |key: &str| x.get(key).and_then(Value::as_str).map(str::to_string);
    let verdict = if flag("intercepted") {
        ThrottlingVerdict::Intercepted
    } else if flag("blocked") {
        ThrottlingVerdict::Blocked {
            step: text("blocked_step").unwrap_or_else(|| "tls_handshake".to_string()),
            failure: text("blocked_failure").unwrap_or_else(|| "unknown".to_string()),
        }
    } else {
        throttling::verdict_from_x_throttling(x)?
    };
    Some(Verdict::Throttling(verdict))
}

fn url_verdict(operation: Option<&str>, failure: Option<&str>) -> UrlVerdict {
    match (operation, failure) {
        (None, None) => UrlVerdict::Ok,
        (operation, failure) => UrlVerdict::Failed {
            operation: operation.unwrap_or("unknown").to_string(),
            failure: failure.unwrap_or("unknown_failure").to_string(),
        },
    }
}

/// The verdict an earlier build's detail holds, as each front end wrote it.
fn verdict_of_detail(record: &ResultRecord) -> Option<Verdict> {
    let detail = &record.detail;
    let text = |key: &str| detail.get(key).and_then(Value::as_str);
    match record.test_name.as_str() {
        connectivity::TEST_NAME => text("status")
            .or_else(|| text("verdict_detail"))
            .and_then(ConnectivityStatus::parse)
            .map(Verdict::Connectivity),
        urlgetter::TEST_NAME => Some(Verdict::Urls(url_verdict(
            text("failed_operation"),
            record.failure.as_deref(),
        ))),
        web_connectivity::TEST_NAME => {
            // The CLI stored the verdict itself; the engine its own words.
            serde_json::from_value::<WebVerdict>(detail.clone())
                .ok()
                .map(Verdict::Web)
        }
        throttling::TEST_NAME => {
            if detail.get("verdict").and_then(Value::as_str).is_some()
                && detail.get("method").is_some()
            {
                throttling_of_old(detail)
            } else {
                // The engine kept the verdict's word only.
                match text("verdict_detail") {
                    Some("blocked") | Some("intercepted") | None => None,
                    Some(word) => throttling::verdict_from_x_throttling(&serde_json::json!({
                        "verdict": word,
                        "why": "recorded by an earlier version of Kuzet",
                    }))
                    .map(Verdict::Throttling),
                }
            }
        }
        name if App::ALL.iter().any(|app| app.test_name() == name) => {
            if detail.get("x_status").is_some() {
                Verdict::from_test_keys(name, detail)
            } else {
                // The engine kept "blocked (tcp)"-style words.
                let words = text("verdict_detail")?;
                let status = words.split(' ').next()?;
                let keys = serde_json::json!({ "x_status": status });
                Verdict::from_test_keys(name, &keys)
            }
        }
        _ => None,
    }
}

/// What is left when the verdict cannot be rebuilt: the suite's "no conclusion", naming what
/// the earlier version recorded.
fn unknown_verdict(record: &ResultRecord) -> Verdict {
    let recorded = record
        .detail
        .get("verdict_detail")
        .and_then(Value::as_str)
        .unwrap_or(record.word.as_str());
    let why = format!("recorded by an earlier version of Kuzet as {recorded}");
    match record.test_name.as_str() {
        connectivity::TEST_NAME => Verdict::Connectivity(ConnectivityStatus::Ok),
        throttling::TEST_NAME => Verdict::Throttling(ThrottlingVerdict::Inconclusive { why }),
        name if App::ALL.iter().any(|app| app.test_name() == name) => {
            Verdict::Messaging(MessagingVerdict::PartiallyBlocked {
                step: None,
                failure: record.failure.clone(),
                failing: 0,
                checked: 0,
            })
        }
        _ => Verdict::Web(WebVerdict::Undetermined { why, failed: false }),
    }
}

fn default_explanation(target: &str, verdict: &Verdict) -> String {
    match verdict {
        Verdict::Connectivity(status) => connectivity::explain(*status),
        Verdict::Throttling(verdict) => throttling::explain(verdict),
        Verdict::Web(verdict) => format!("{target}: {verdict}."),
        other => format!("{target}: {}.", other.word()),
    }
}

/// Rewrites every version-1 result of `store` as today's record, in batches; returns how
/// many were upgraded. Rows whose measurement was dropped are read from their old detail.
pub fn upgrade(store: &Store) -> Result<usize, SessionError> {
    let mut upgraded = 0;
    loop {
        let rows = store.results_of_version(1, BATCH)?;
        if rows.is_empty() {
            return Ok(upgraded);
        }
        let mut rewrites = Vec::with_capacity(rows.len());
        for record in &rows {
            let measurement = store.measurement(&record.measurement_id).unwrap_or(None);
            let detail = convert(record, measurement.as_ref());
            rewrites.push(crate::store::ResultRewrite {
                measurement_id: record.measurement_id.clone(),
                word: detail.verdict.word().to_string(),
                group: detail.verdict.group().word().to_string(),
                detail: serde_json::to_value(&detail)?,
                detail_version: DETAIL_VERSION,
            });
        }
        upgraded += rows.len();
        store.rewrite_results(&rewrites)?;
    }
}
