//! The URL suite: single URLs fetched step by step with urlgetter (`kuzet measure`), several at
//! a time.

use std::sync::Arc;
use std::time::SystemTime;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::{ms_of, now_ms, Finished, Measured, Measuring, SuiteRun};
use crate::experiment::urlgetter::{explain_web, measure_url, UrlGetterConfig};
use crate::session::suite::Suite;
use crate::session::tracker::Tracker;
use crate::session::verdict::Verdict;

/// The URLs of a run and how each is fetched.
pub(crate) struct UrlsRun {
    pub(crate) urls: Vec<String>,
    pub(crate) config: Arc<UrlGetterConfig>,
    pub(crate) parallelism: usize,
    pub(crate) test_start_time: OffsetDateTime,
}

impl SuiteRun for UrlsRun {
    fn suite(&self) -> Suite {
        Suite::Urls
    }

    fn names(&self) -> Vec<String> {
        self.urls.clone()
    }

    fn parallelism(&self) -> usize {
        self.parallelism
    }

    fn measure(
        self: Arc<Self>,
        index: usize,
        _bytes_left: u64,
        cancel: CancellationToken,
        _tracker: Arc<Tracker>,
    ) -> Measuring {
        Box::pin(async move {
            let Some(url) = self.urls.get(index) else {
                return Measured::NotMeasured;
            };
            let started_ms = now_ms();
            let measuring = measure_url(&self.config, url, self.test_start_time);
            let result = tokio::select! {
                biased;
                () = cancel.cancelled() => return Measured::NotMeasured,
                result = measuring => result,
            };
            let result = match result {
                Ok(result) => result,
                Err(error) => {
                    // URLs were checked when the run was planned; the error names the URL,
                    // which stays out of logs.
                    drop(error);
                    tracing::error!("a URL could not be measured");
                    return Measured::NotMeasured;
                }
            };
            let summary = &result.summary;
            Measured::Done(Box::new(Finished {
                target: url.clone(),
                subject: host_of(url),
                verdict: Verdict::Urls(summary.verdict()),
                explanation: explain_web(summary),
                failed_operation: summary.failed_operation.clone(),
                failure: summary.failure.as_ref().map(|f| f.as_str().into_owned()),
                status_code: summary.status_code,
                bytes_received: summary.bytes_received,
                runtime: summary.runtime,
                started_ms,
                ended_ms: ms_of(SystemTime::now()),
                measurement: result.measurement,
                problem: None,
            }))
        })
    }
}

/// The host of a URL, for sentences (the URL itself when it has none).
pub(crate) fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| url.to_string())
}
