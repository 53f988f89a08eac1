//! What the engine reads back from its store: the history (the same records the runs
//! reported), past runs (how each ended, what it did not measure), one result with its
//! measurement, the upload queue, the connectivity timeline and
//! the month's data use. Every read is `async` and runs on the library runtime's blocking
//! threads; the bindings add the blocking forms.

use std::time::SystemTime;

use time::OffsetDateTime;

use super::error::EngineError;
use super::Engine;
use crate::experiment::connectivity::ConnectivityStatus;
use crate::session::{history_item, past_run, HistoryItem, PastRun};
use crate::store::{DeliveryState, OutboxItem, ResultRecord, Store, Transition};

/// The most entries one history page or queue listing returns.
pub const MAX_PAGE: usize = 500;

/// The most timeline entries one call returns.
pub const MAX_TIMELINE: usize = 10_000;

/// One page of the results history, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPage {
    /// The entries.
    pub items: Vec<HistoryItem>,
    /// The offset of the next page; `None` on the last one.
    pub next_offset: Option<usize>,
}

/// One stored result in full.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResultDetail {
    /// The history entry.
    pub item: HistoryItem,
    /// The stored OONI measurement as JSON (scrubbed), if still kept.
    pub measurement_json: Option<String>,
}

/// Bytes used by measuring in the current calendar month (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Record))]
pub struct DataUsage {
    /// The month, `YYYY-MM`.
    pub month: String,
    /// Bytes received by the month's recorded results.
    pub bytes_used: u64,
    /// The monthly budget.
    pub monthly_budget: u64,
}

impl Engine {
    /// One page of past results, newest first: `limit` (1 to [`MAX_PAGE`]) entries from
    /// `offset`.
    pub async fn results_history(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<HistoryPage, EngineError> {
        if limit == 0 || limit > MAX_PAGE {
            return Err(EngineError::InvalidInput(format!(
                "a history page holds 1 to {MAX_PAGE} entries, not {limit}"
            )));
        }
        let store = self.store()?;
        super::blocking(move || {
            let all = all_results(&store)?;
            let end = offset.saturating_add(limit).min(all.len());
            let items = all
                .get(offset..end)
                .unwrap_or_default()
                .iter()
                .filter_map(history_item)
                .collect();
            let next_offset = (end < all.len()).then_some(end);
            Ok(HistoryPage { items, next_offset })
        })
        .await
    }

    /// The most recent runs, newest first (at most `limit`, 1 to [`MAX_PAGE`]): how each
    /// ended, its results by group, and the targets it did not measure.
    pub async fn past_runs(&self, limit: usize) -> Result<Vec<PastRun>, EngineError> {
        if limit == 0 || limit > MAX_PAGE {
            return Err(EngineError::InvalidInput(format!(
                "a run listing holds 1 to {MAX_PAGE} runs, not {limit}"
            )));
        }
        let store = self.store()?;
        super::blocking(move || Ok(store.runs(limit)?.iter().map(past_run).collect())).await
    }

    /// One stored result by its measurement id, with its measurement.
    pub async fn result_detail(&self, id: String) -> Result<StoredResultDetail, EngineError> {
        let store = self.store()?;
        super::blocking(move || {
            let record = store.result(&id)?.ok_or_else(|| {
                EngineError::InvalidInput(format!("no stored result has id {id:?}"))
            })?;
            let item = history_item(&record).ok_or_else(|| {
                EngineError::Internal(format!("the stored result {id:?} cannot be read"))
            })?;
            let measurement_json = store
                .measurement_json(&id)?
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
            Ok(StoredResultDetail {
                item,
                measurement_json,
            })
        })
        .await
    }

    /// Measurements not yet uploaded (pending, held or parked), with state and last error.
    pub async fn pending_uploads(&self) -> Result<Vec<OutboxItem>, EngineError> {
        let store = self.store()?;
        super::blocking(move || {
            Ok(store.queue(
                &[
                    DeliveryState::Pending,
                    DeliveryState::Held,
                    DeliveryState::Parked,
                ],
                MAX_PAGE,
            )?)
        })
        .await
    }

    /// Connectivity transitions at or after `since`, oldest first (at most [`MAX_TIMELINE`];
    /// entries whose status is not a connectivity status are left out).
    pub async fn connectivity_timeline(
        &self,
        since: SystemTime,
    ) -> Result<Vec<Transition>, EngineError> {
        let store = self.store()?;
        let since_ms = crate::session::ms_since_epoch(since);
        super::blocking(move || {
            Ok(store
                .transitions(Some(since_ms), MAX_TIMELINE)?
                .into_iter()
                .filter(|t| ConnectivityStatus::parse(&t.status).is_some())
                .collect())
        })
        .await
    }

    /// Bytes received by this calendar month's recorded results (by the store's clock), and
    /// the monthly budget.
    pub async fn data_used_this_month(&self) -> Result<DataUsage, EngineError> {
        let store = self.store()?;
        let monthly_budget = self.config().budgets.monthly_bytes;
        super::blocking(move || data_used_this_month(&store, monthly_budget)).await
    }
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

/// The current month's data use: the bytes received by every result recorded since the month
/// began (UTC).
fn data_used_this_month(store: &Store, monthly_budget: u64) -> Result<DataUsage, EngineError> {
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
                let bytes = history_item(&record).map_or(0, |item| item.result.bytes_received);
                bytes_used = bytes_used.saturating_add(bytes);
            }
        }
    }
    Ok(DataUsage {
        month: format!("{:04}-{:02}", now.year(), u8::from(now.month())),
        bytes_used,
        monthly_budget,
    })
}
