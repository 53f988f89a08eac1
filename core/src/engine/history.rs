//! What the engine keeps: opening the results store, recording each target's result in it, and
//! reading back the history, the upload queue, the timeline and the month's data use.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use time::OffsetDateTime;

use super::connectivity::connectivity_verdict;
use super::error::EngineError;
use super::progress::{BlockingMethod, TargetResult, Verdict};
use super::suite::Suite;
use crate::experiment::connectivity::ConnectivityStatus;
use crate::report::Measurement;
use crate::store::{
    DeliveryState, OutboxItem, ResultRecord, RunId, Store, StorePolicy, Transition,
    Verdict as StoredVerdict, VerdictKind,
};

/// The most entries one history page or queue listing returns.
pub const MAX_PAGE: usize = 500;

/// The most timeline entries one call returns.
pub const MAX_TIMELINE: usize = 10_000;

/// One page of the results history, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPage {
    /// The entries.
    pub items: Vec<ResultRecord>,
    /// The offset of the next page; `None` on the last one.
    pub next_offset: Option<usize>,
}

/// One stored result in full.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResultDetail {
    /// The history entry.
    pub record: ResultRecord,
    /// The outcome in plain words, as recorded.
    pub explanation: String,
    /// The stored OONI measurement as JSON (scrubbed), if still kept.
    pub measurement_json: Option<String>,
}

/// Bytes used by measuring in the current calendar month (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataUsage {
    /// The month, `YYYY-MM`.
    pub month: String,
    /// Bytes received by the month's recorded results.
    pub bytes_used: u64,
    /// The monthly budget.
    pub monthly_budget: u64,
}

/// Runs a blocking store call off the async runtime's worker threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    super::runtime::run_blocking(&tokio::runtime::Handle::current(), f).await
}

/// Opens (or creates) the store in `dir`.
pub(crate) fn open_store(dir: &Path) -> Result<Arc<Store>, EngineError> {
    Store::open(dir, StorePolicy::default())
        .map(Arc::new)
        .map_err(EngineError::from)
}

/// The stored verdict of a target's result: accessible is `ok`, an anomaly or undetermined an
/// `anomaly` (as the CLI stores web_connectivity's `undetermined`), blocked `blocked`, down for
/// everyone `failed`. The detail keeps the engine's own verdict and what the history shows.
pub(crate) fn stored_verdict(result: &TargetResult) -> StoredVerdict {
    let kind = match result.verdict {
        Verdict::Accessible => VerdictKind::Ok,
        Verdict::Anomaly | Verdict::Undetermined => VerdictKind::Anomaly,
        Verdict::Blocked => VerdictKind::Blocked,
        Verdict::Down => VerdictKind::Failed,
    };
    StoredVerdict {
        kind,
        target: result.target.clone(),
        failure: result.failure.clone(),
        detail: serde_json::json!({
            "suite": result.suite.name(),
            "verdict": result.verdict.name(),
            "blocking": result.blocking.map(BlockingMethod::name),
            "verdict_detail": result.verdict_detail,
            "failed_operation": result.failed_operation,
            "status_code": result.status_code,
            "bytes_received": result.bytes_received,
            "runtime_ms": u64::try_from(result.runtime.as_millis()).unwrap_or(u64::MAX),
            "explanation": result.explanation,
        }),
    }
}

/// Records one target's measurement and verdict in `run`, durably, before the caller tells the
/// listener. A store failure is logged: the result is still reported.
pub(crate) async fn record(
    store: &Arc<Store>,
    run: RunId,
    measurement: Measurement,
    result: &TargetResult,
) {
    let verdict = stored_verdict(result);
    let store = store.clone();
    let recorded = blocking(move || {
        store
            .record(run, &measurement, &verdict, None)
            .map_err(EngineError::from)
    })
    .await;
    if let Err(error) = recorded {
        tracing::error!("cannot store a measurement: {error}");
    }
}

/// The bytes a stored result received, from its detail (`bytes_received`, or a connectivity
/// check's `bytes`; 0 when not recorded).
pub fn result_bytes(record: &ResultRecord) -> u64 {
    record
        .detail
        .get("bytes_received")
        .or_else(|| record.detail.get("bytes"))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
}

/// The suite that measured a stored result: from its detail, else from its experiment
/// (`kuzet_connectivity`, `kuzet_throttling`; web otherwise).
pub fn result_suite(record: &ResultRecord) -> Suite {
    record
        .detail
        .get("suite")
        .and_then(serde_json::Value::as_str)
        .and_then(|name| Suite::ALL.into_iter().find(|s| s.name() == name))
        .unwrap_or(match record.test_name.as_str() {
            crate::experiment::connectivity::TEST_NAME => Suite::Connectivity,
            crate::experiment::throttling::TEST_NAME => Suite::Throttling,
            _ => Suite::Web,
        })
}

/// The engine's verdict of a stored result: as recorded in its detail, else from the stored
/// kind (`ok` accessible, `blocked` blocked, `failed` down, anything else an anomaly).
pub fn result_verdict(record: &ResultRecord) -> Verdict {
    let detail = |key: &str| record.detail.get(key).and_then(serde_json::Value::as_str);
    if let Some(verdict) = detail("verdict").and_then(Verdict::from_name) {
        return verdict;
    }
    // A connectivity check's detail (written by its monitor) keeps its status.
    if let Some(status) = detail("status").and_then(ConnectivityStatus::parse) {
        return connectivity_verdict(status);
    }
    match record.verdict {
        VerdictKind::Ok => Verdict::Accessible,
        VerdictKind::Blocked => Verdict::Blocked,
        VerdictKind::Failed => Verdict::Down,
        VerdictKind::Anomaly | VerdictKind::Error => Verdict::Anomaly,
    }
}

/// How a stored result was blocked, if it was and the detail says how.
pub fn result_blocking(record: &ResultRecord) -> Option<BlockingMethod> {
    record
        .detail
        .get("blocking")
        .and_then(serde_json::Value::as_str)
        .and_then(BlockingMethod::from_name)
}

/// The explanation a stored result carries, or an empty string.
pub fn result_explanation(record: &ResultRecord) -> String {
    record
        .detail
        .get("explanation")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Every stored result, newest first.
fn all_results(store: &Store) -> Result<Vec<ResultRecord>, EngineError> {
    let mut items = Vec::new();
    for run in store.runs(usize::MAX)? {
        let mut results = store.results(run.run.id)?;
        results.reverse();
        items.extend(results);
    }
    Ok(items)
}

/// One page of the history from `store`.
pub(crate) fn history_page(
    store: &Store,
    offset: usize,
    limit: usize,
) -> Result<HistoryPage, EngineError> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(EngineError::InvalidInput(format!(
            "a history page holds 1 to {MAX_PAGE} entries, not {limit}"
        )));
    }
    let all = all_results(store)?;
    let end = offset.saturating_add(limit).min(all.len());
    let items = all.get(offset..end).map(<[_]>::to_vec).unwrap_or_default();
    let next_offset = (end < all.len()).then_some(end);
    Ok(HistoryPage { items, next_offset })
}

/// One stored result, by measurement id.
pub(crate) fn result_detail(store: &Store, id: &str) -> Result<StoredResultDetail, EngineError> {
    let record = all_results(store)?
        .into_iter()
        .find(|r| r.measurement_id == id)
        .ok_or_else(|| EngineError::InvalidInput(format!("no stored result has id {id:?}")))?;
    let measurement_json = store
        .measurement_json(id)?
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    Ok(StoredResultDetail {
        explanation: result_explanation(&record),
        record,
        measurement_json,
    })
}

/// Measurements not yet delivered: pending, held and parked.
pub(crate) fn pending_uploads(store: &Store) -> Result<Vec<OutboxItem>, EngineError> {
    Ok(store.queue(
        &[
            DeliveryState::Pending,
            DeliveryState::Held,
            DeliveryState::Parked,
        ],
        MAX_PAGE,
    )?)
}

/// Connectivity transitions at or after `since`, oldest first (entries whose status is not a
/// connectivity status are left out).
pub(crate) fn timeline(store: &Store, since: SystemTime) -> Result<Vec<Transition>, EngineError> {
    let since_ms = match since.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis())
            .map(|ms| -ms)
            .unwrap_or(i64::MIN),
    };
    Ok(store
        .transitions(Some(since_ms), MAX_TIMELINE)?
        .into_iter()
        .filter(|t| ConnectivityStatus::parse(&t.status).is_some())
        .collect())
}

/// The current month's data use: the bytes received by every result recorded since the month
/// began (UTC), by the store's clock.
pub(crate) fn data_used_this_month(
    store: &Store,
    monthly_budget: u64,
) -> Result<DataUsage, EngineError> {
    let now = OffsetDateTime::from_unix_timestamp_nanos(i128::from(store.now_ms()) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let month_start = now
        .date()
        .replace_day(1)
        .map(|day| day.midnight().assume_utc())
        .unwrap_or(now);
    let start_ms = i64::try_from(month_start.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let mut bytes_used = 0u64;
    for run in store.runs(usize::MAX)? {
        if run.run.finished_at_ms.is_some_and(|at| at < start_ms) {
            continue;
        }
        for record in store.results(run.run.id)? {
            if record.finished_at_ms >= start_ms {
                bytes_used = bytes_used.saturating_add(result_bytes(&record));
            }
        }
    }
    Ok(DataUsage {
        month: format!("{:04}-{:02}", now.year(), u8::from(now.month())),
        bytes_used,
        monthly_budget,
    })
}
