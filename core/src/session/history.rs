//! Results as the store keeps them: one typed, versioned record per result
//! ([`StoredDetail`], version [`DETAIL_VERSION`]) written by the run and read back for the
//! history, so the words a person sees later are the words the run reported. No key is
//! guessed on reading; rows of older versions are upgraded once ([`super::legacy`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::result::{NotMeasured, RunStatus, TargetResult};
use super::suite::Suite;
use super::verdict::{Verdict, VerdictGroup};
use crate::store::{DeliveryState, ResultRecord, RunSummary, Store, Verdict as StoredVerdict};

/// The version of [`StoredDetail`] this build writes (version 1 was the free-form JSON of
/// earlier builds).
pub const DETAIL_VERSION: i64 = 2;

/// What the store keeps of a result besides its row (target, word, group, failure, times).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredDetail {
    /// The suite's own verdict.
    pub verdict: Verdict,
    /// The verdict in plain words, as reported.
    pub explanation: String,
    /// The step that failed, if one did.
    pub failed_operation: Option<String>,
    /// The final HTTP status, if any.
    pub status_code: Option<u16>,
    /// Bytes received for the target.
    pub bytes_received: u64,
    /// Time spent, in milliseconds.
    pub runtime_ms: u64,
    /// When the target finished (ms since the epoch), as reported. The row's own time is
    /// when it was recorded, which for a claim held for the check after it is later; absent
    /// from rows written before it was kept, which read the row's time instead.
    #[serde(default)]
    pub measured_at_ms: Option<i64>,
}

/// Why a stored result cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// Its detail is of a version this build does not read.
    #[error(
        "stored result {id} has detail version {version}, which this version of Kuzet cannot read"
    )]
    UnknownVersion {
        /// The measurement id.
        id: String,
        /// The version found.
        version: i64,
    },
    /// Its detail does not decode.
    #[error("stored result {id} cannot be decoded: {reason}")]
    Undecodable {
        /// The measurement id.
        id: String,
        /// Why.
        reason: String,
    },
}

/// The store's record of `result`.
pub(crate) fn stored_verdict(result: &TargetResult) -> StoredVerdict {
    let detail = StoredDetail {
        verdict: result.verdict.clone(),
        explanation: result.explanation.clone(),
        failed_operation: result.failed_operation.clone(),
        status_code: result.status_code,
        bytes_received: result.bytes_received,
        runtime_ms: u64::try_from(result.runtime.as_millis()).unwrap_or(u64::MAX),
        measured_at_ms: Some(super::ms_since_epoch(result.measured_at)),
    };
    StoredVerdict {
        word: result.word.clone(),
        group: result.group.word().to_string(),
        target: result.target.clone(),
        failure: result.failure.clone(),
        detail: serde_json::to_value(&detail).unwrap_or(serde_json::Value::Null),
        detail_version: DETAIL_VERSION,
    }
}

/// A stored result read back, exactly as the run reported it.
pub fn result_of(record: &ResultRecord) -> Result<TargetResult, HistoryError> {
    if record.detail_version != DETAIL_VERSION {
        return Err(HistoryError::UnknownVersion {
            id: record.measurement_id.clone(),
            version: record.detail_version,
        });
    }
    let detail: StoredDetail =
        serde_json::from_value(record.detail.clone()).map_err(|e| HistoryError::Undecodable {
            id: record.measurement_id.clone(),
            reason: e.to_string(),
        })?;
    Ok(TargetResult {
        target: record.target.clone(),
        word: detail.verdict.word().to_string(),
        group: detail.verdict.group(),
        verdict: detail.verdict,
        explanation: detail.explanation,
        failed_operation: detail.failed_operation,
        failure: record.failure.clone(),
        status_code: detail.status_code,
        bytes_received: detail.bytes_received,
        runtime: Duration::from_millis(detail.runtime_ms),
        measured_at: time_of_ms(detail.measured_at_ms.unwrap_or(record.finished_at_ms)),
        measurement_id: record.measurement_id.clone(),
    })
}

/// A store time (ms since the epoch) as a `SystemTime`.
pub fn time_of_ms(ms: i64) -> std::time::SystemTime {
    super::reporter::time_of(ms)
}

/// One entry of the history: a result and where its measurement is on its way to a
/// collector.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryItem {
    /// The result, as reported.
    pub result: TargetResult,
    /// Its measurement's delivery state; `None` once a quota dropped the measurement (the
    /// result stays in the history).
    pub delivery: Option<DeliveryState>,
    /// The run it belongs to (the store's id).
    pub run: i64,
}

/// A stored record as a history entry; rows that cannot be read are logged and skipped.
pub fn history_item(record: &ResultRecord) -> Option<HistoryItem> {
    match result_of(record) {
        Ok(result) => Some(HistoryItem {
            result,
            delivery: record.delivery,
            run: record.run_id,
        }),
        Err(error) => {
            tracing::warn!("{error}");
            None
        }
    }
}

/// A stored record as a history entry, reading a result of an earlier version on the fly (a
/// store opened read-only is never upgraded).
pub fn read_item(store: &Store, record: &ResultRecord) -> Option<HistoryItem> {
    if record.detail_version == DETAIL_VERSION {
        return history_item(record);
    }
    let measurement = store.measurement(&record.measurement_id).unwrap_or(None);
    let detail = super::legacy::convert(record, measurement.as_ref());
    let upgraded = ResultRecord {
        detail: serde_json::to_value(&detail).ok()?,
        detail_version: DETAIL_VERSION,
        ..record.clone()
    };
    history_item(&upgraded)
}

/// A past run as the history lists it: how it ended, how many results it recorded in each
/// group, and what it did not measure.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Record))]
pub struct PastRun {
    /// The store's id of the run (the `run` of its [`HistoryItem`]s).
    pub run: i64,
    /// Its suites, in the order they ran.
    pub suites: Vec<Suite>,
    /// When it started.
    pub started_at: std::time::SystemTime,
    /// When it ended; `None` while it runs, or when the process died during it.
    pub finished_at: Option<std::time::SystemTime>,
    /// How it ended; `None` while it runs, when the process died during it, or for runs of
    /// earlier versions.
    pub status: Option<RunStatus>,
    /// How many targets it planned, when known.
    pub planned: Option<u64>,
    /// Results it recorded.
    pub results: u64,
    /// Its results by group, in the order screens show groups (problems first).
    pub groups: Vec<GroupCount>,
    /// The targets it planned but did not measure (cancelled, over budget or out of time).
    pub not_measured: Vec<NotMeasured>,
    /// Of its measurements, not delivered to a collector yet.
    pub undelivered: u64,
}

/// How many of a run's results fall in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Record))]
pub struct GroupCount {
    /// The group.
    pub group: VerdictGroup,
    /// How many results.
    pub count: u64,
}

/// A stored run as the history lists it. Entries the store holds that this build does not
/// know (a suite, a group or a status word of another version) are left out of their list.
pub fn past_run(summary: &RunSummary) -> PastRun {
    let run = &summary.run;
    PastRun {
        run: run.id,
        suites: run.suite.split(',').filter_map(Suite::from_name).collect(),
        started_at: time_of_ms(run.started_at_ms),
        finished_at: run.finished_at_ms.map(time_of_ms),
        status: run.status.as_deref().and_then(RunStatus::from_word),
        planned: run.planned,
        results: summary.results,
        groups: summary
            .groups
            .iter()
            .filter_map(|(word, count)| {
                let group = VerdictGroup::from_word(word)?;
                Some((
                    group,
                    GroupCount {
                        group,
                        count: *count,
                    },
                ))
            })
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_values()
            .collect(),
        not_measured: serde_json::from_value(run.not_measured.clone()).unwrap_or_default(),
        undelivered: summary.undelivered,
    }
}

/// The group stored with a row, read back.
pub fn stored_group(record: &ResultRecord) -> Option<VerdictGroup> {
    VerdictGroup::from_word(&record.group)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::web_connectivity::Verdict as WebVerdict;

    #[test]
    fn a_result_reads_back_as_reported_even_when_recorded_later() {
        let verdict = Verdict::Web(WebVerdict::SiteDown);
        let measured_at = time_of_ms(1_700_000_000_123);
        let result = TargetResult {
            target: "https://example.org/".to_string(),
            word: verdict.word().to_string(),
            group: verdict.group(),
            verdict,
            explanation: "example.org seems down for everyone.".to_string(),
            failed_operation: Some("connect".to_string()),
            failure: Some("connection_refused".to_string()),
            status_code: None,
            bytes_received: 0,
            runtime: Duration::from_millis(40),
            measured_at,
            measurement_id: "m-1".to_string(),
        };
        let stored = stored_verdict(&result);
        // Recorded 15 s later, once the check after it had run.
        let record = ResultRecord {
            id: 1,
            run_id: 1,
            measurement_id: result.measurement_id.clone(),
            test_name: "web_connectivity".to_string(),
            target: stored.target.clone(),
            word: stored.word.clone(),
            group: stored.group.clone(),
            detail: stored.detail.clone(),
            detail_version: stored.detail_version,
            failure: stored.failure.clone(),
            started_at_ms: 1_700_000_015_083,
            finished_at_ms: 1_700_000_015_123,
            delivery: None,
        };
        assert_eq!(result_of(&record).unwrap(), result);

        // A row written before the time was kept reads the row's time.
        let mut detail = record.detail.clone();
        detail.as_object_mut().unwrap().remove("measured_at_ms");
        let older = ResultRecord { detail, ..record };
        assert_eq!(
            result_of(&older).unwrap().measured_at,
            time_of_ms(1_700_000_015_123)
        );
    }
}
