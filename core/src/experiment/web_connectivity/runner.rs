//! Many URLs: [`measure_websites`] measures a list concurrently, within a time and a byte
//! budget, reporting progress as it goes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use time::OffsetDateTime;

use super::{
    measure_target, th_client, TargetUrl, Verdict, WebConnectivityConfig, WebConnectivityResult,
};
use crate::experiment::urlgetter::parse_target_url;

/// Limits of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLimits {
    /// URLs measured at once (at least 1).
    pub concurrency: usize,
    /// No URL starts once this much time has passed since the run started.
    pub total_time: Duration,
    /// No URL starts once this many bytes have been received (see the module docs of
    /// `web_connectivity` for what is counted).
    pub byte_budget: u64,
}

impl Default for RunLimits {
    /// 4 at once, 1 hour, 100 MiB.
    fn default() -> Self {
        RunLimits {
            concurrency: 4,
            total_time: Duration::from_secs(3600),
            byte_budget: 100 * 1024 * 1024,
        }
    }
}

/// Why URLs were not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// [`RunLimits::total_time`] had passed.
    TimeBudget,
    /// [`RunLimits::byte_budget`] was used up.
    ByteBudget,
}

/// What happens during a run, in order, from the task that called [`measure_websites`].
#[derive(Debug, Clone, PartialEq)]
pub enum ProgressEvent {
    /// A URL started.
    Started {
        /// Its position in the input list.
        index: usize,
        /// The input list's length.
        total: usize,
        /// The URL.
        url: String,
    },
    /// A URL was measured.
    Finished {
        /// Its position in the input list.
        index: usize,
        /// The input list's length.
        total: usize,
        /// The URL.
        url: String,
        /// Its verdict.
        verdict: Verdict,
        /// Bytes received for it.
        bytes_received: u64,
        /// Bytes received by the run so far.
        bytes_used: u64,
    },
    /// A URL could not be measured at all (not an http(s) URL, or an internal error).
    Invalid {
        /// Its position in the input list.
        index: usize,
        /// The URL.
        url: String,
        /// Why.
        error: String,
    },
    /// A URL was not started because a budget ran out.
    Skipped {
        /// Its position in the input list.
        index: usize,
        /// The URL.
        url: String,
        /// Which budget.
        reason: SkipReason,
    },
}

/// A URL that could not be measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError {
    /// The URL as given.
    pub target: TargetUrl,
    /// Why.
    pub error: String,
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// One result per URL measured, in input order.
    pub results: Vec<WebConnectivityResult>,
    /// URLs that could not be measured.
    pub invalid: Vec<UrlError>,
    /// URLs not started because a budget ran out, in input order.
    pub skipped: Vec<TargetUrl>,
    /// The budget that stopped the run early, if one did.
    pub stopped_by: Option<SkipReason>,
    /// Bytes received by the whole run (the sum of the results' `bytes_received`).
    pub bytes_used: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Measures `urls`, `limits.concurrency` at a time. Before each URL starts, the time and byte
/// budgets are checked; once one is exhausted no further URL starts and the rest are
/// `skipped`. URLs already running finish (each is bounded by its own timeouts), so a run can
/// overshoot the byte budget by what those URLs receive. All measurements share one
/// `test_start_time` (they form one report) and one test helper client.
pub async fn measure_websites(
    config: &WebConnectivityConfig,
    urls: Vec<TargetUrl>,
    limits: RunLimits,
    progress: impl Fn(ProgressEvent) + Send + Sync,
) -> RunReport {
    let started = Instant::now();
    let test_start_time = OffsetDateTime::now_utc();
    let config = Arc::new(config.clone());
    let client = Arc::new(th_client(&config));
    let concurrency = limits.concurrency.max(1);
    let total = urls.len();
    let mut queue = urls.into_iter().enumerate();
    let mut tasks = tokio::task::JoinSet::new();
    let mut in_flight: HashMap<tokio::task::Id, (usize, TargetUrl)> = HashMap::new();
    let mut results: Vec<(usize, WebConnectivityResult)> = Vec::new();
    let mut invalid: Vec<(usize, UrlError)> = Vec::new();
    let mut skipped = Vec::new();
    let mut stopped_by = None;
    let mut bytes_used: u64 = 0;

    loop {
        while stopped_by.is_none() && tasks.len() < concurrency {
            let Some((index, target)) = queue.next() else {
                break;
            };
            let exhausted = if started.elapsed() >= limits.total_time {
                Some(SkipReason::TimeBudget)
            } else if bytes_used >= limits.byte_budget {
                Some(SkipReason::ByteBudget)
            } else {
                None
            };
            if let Some(reason) = exhausted {
                stopped_by = Some(reason);
                progress(ProgressEvent::Skipped {
                    index,
                    url: target.url.clone(),
                    reason,
                });
                skipped.push(target);
                break;
            }
            let url = match parse_target_url(&target.url) {
                Ok(url) => url,
                Err(error) => {
                    progress(ProgressEvent::Invalid {
                        index,
                        url: target.url.clone(),
                        error: error.to_string(),
                    });
                    invalid.push((
                        index,
                        UrlError {
                            target,
                            error: error.to_string(),
                        },
                    ));
                    continue;
                }
            };
            progress(ProgressEvent::Started {
                index,
                total,
                url: target.url.clone(),
            });
            let config = config.clone();
            let client = client.clone();
            let task_target = target.clone();
            let handle = tasks.spawn(async move {
                let client = client.as_ref().as_ref();
                measure_target(&config, client, &task_target, url, test_start_time).await
            });
            in_flight.insert(handle.id(), (index, target));
        }
        let Some(joined) = tasks.join_next_with_id().await else {
            break;
        };
        match joined {
            Ok((id, result)) => {
                let Some((index, target)) = in_flight.remove(&id) else {
                    continue;
                };
                bytes_used = bytes_used.saturating_add(result.bytes_received);
                progress(ProgressEvent::Finished {
                    index,
                    total,
                    url: target.url,
                    verdict: result.verdict.clone(),
                    bytes_received: result.bytes_received,
                    bytes_used,
                });
                results.push((index, result));
            }
            Err(error) => {
                let Some((index, target)) = in_flight.remove(&error.id()) else {
                    continue;
                };
                let message = format!("internal error: {error}");
                tracing::error!("web_connectivity: {message}");
                progress(ProgressEvent::Invalid {
                    index,
                    url: target.url.clone(),
                    error: message.clone(),
                });
                invalid.push((
                    index,
                    UrlError {
                        target,
                        error: message,
                    },
                ));
            }
        }
    }
    if let Some(reason) = stopped_by {
        for (index, target) in queue {
            progress(ProgressEvent::Skipped {
                index,
                url: target.url.clone(),
                reason,
            });
            skipped.push(target);
        }
    }
    crate::ordered::sort_by_f64_key(&mut results, |(index, _)| *index as f64);
    crate::ordered::sort_by_f64_key(&mut invalid, |(index, _)| *index as f64);
    RunReport {
        results: results.into_iter().map(|(_, result)| result).collect(),
        invalid: invalid.into_iter().map(|(_, error)| error).collect(),
        skipped,
        stopped_by,
        bytes_used,
        elapsed: started.elapsed(),
    }
}
