//! The web suite: web_connectivity on every URL, several at a time, with the configured test
//! helpers tried in order. The run starts with the first helper; once a URL's control fails
//! through one helper, the URLs that start after it use the next (the URL keeps its verdict,
//! usually `undetermined`; it is not measured twice). Without a test helper web_connectivity
//! still runs: an https page that loads is `ok` (its certificate proves it), a failure is
//! `undetermined`, and so is a plain-http page that loads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::urls::host_of;
use super::{now_ms, Finished, Measured, Measuring, SuiteRun};
use crate::experiment::urlgetter::parse_target_url;
use crate::experiment::web_connectivity::{
    explain_website, measure_target, th_client, TargetUrl, WebConnectivityConfig,
};
use crate::failure::Failure;
use crate::net::http_client::ServiceClient;
use crate::session::suite::Suite;
use crate::session::tracker::Tracker;
use crate::session::verdict::Verdict;

/// The websites of a run, how each is measured, and the test helpers in turn.
pub(crate) struct WebsitesRun {
    targets: Vec<TargetUrl>,
    helpers: Helpers,
    /// One client for every helper call of the run (it depends only on trust and timeouts).
    client: Result<ServiceClient, Failure>,
    parallelism: usize,
    test_start_time: OffsetDateTime,
}

impl WebsitesRun {
    /// Measures `targets` with `base` and each of `test_helpers` in turn.
    pub(crate) fn new(
        targets: Vec<TargetUrl>,
        base: WebConnectivityConfig,
        test_helpers: &[Url],
        parallelism: usize,
        test_start_time: OffsetDateTime,
    ) -> WebsitesRun {
        let helpers = Helpers::new(base, test_helpers);
        let client = th_client(&helpers.configs[0]);
        WebsitesRun {
            targets,
            helpers,
            client,
            parallelism,
            test_start_time,
        }
    }
}

impl SuiteRun for WebsitesRun {
    fn suite(&self) -> Suite {
        Suite::Web
    }

    fn names(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.url.clone()).collect()
    }

    fn parallelism(&self) -> usize {
        self.parallelism
    }

    fn measure(
        self: Arc<Self>,
        index: usize,
        _bytes_left: u64,
        _cancel: CancellationToken,
        _tracker: Arc<Tracker>,
    ) -> Measuring {
        Box::pin(async move {
            let Some(input) = self.targets.get(index) else {
                return Measured::NotMeasured;
            };
            // URLs were checked when the run was planned.
            let Ok(url) = parse_target_url(&input.url) else {
                return Measured::NotMeasured;
            };
            let (helper, config) = self.helpers.pick();
            let started_ms = now_ms();
            let result = measure_target(
                &config,
                self.client.as_ref(),
                input,
                url,
                self.test_start_time,
            )
            .await;
            if result.summary.control_failure.is_some() {
                self.helpers.control_failed(helper);
            }
            let summary = &result.summary;
            let failed_operation = result
                .measurement
                .test_keys
                .get("x_failed_operation")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string);
            let failure = summary
                .http_experiment_failure
                .as_ref()
                .or(summary.dns_experiment_failure.as_ref());
            let explanation = explain_website(
                &result.verdict,
                summary,
                failed_operation.as_deref(),
                config.th_url.is_some(),
            );
            Measured::Done(Box::new(Finished {
                target: input.url.clone(),
                subject: host_of(&input.url),
                explanation,
                failed_operation,
                failure: failure.map(|f| f.as_str().into_owned()),
                status_code: summary.status_code,
                bytes_received: result.bytes_received,
                runtime: summary.runtime,
                started_ms,
                ended_ms: now_ms(),
                verdict: Verdict::Web(result.verdict),
                measurement: result.measurement,
                problem: None,
            }))
        })
    }
}

/// The test helpers of a run, tried in order.
struct Helpers {
    /// One configuration per helper, or one without a helper.
    configs: Vec<Arc<WebConnectivityConfig>>,
    /// The helper URLs start with.
    current: AtomicUsize,
}

impl Helpers {
    fn new(base: WebConnectivityConfig, test_helpers: &[Url]) -> Helpers {
        let configs = if test_helpers.is_empty() {
            vec![Arc::new(base)]
        } else {
            test_helpers
                .iter()
                .map(|url| {
                    Arc::new(WebConnectivityConfig {
                        th_url: Some(url.clone()),
                        ..base.clone()
                    })
                })
                .collect()
        };
        Helpers {
            configs,
            current: AtomicUsize::new(0),
        }
    }

    /// The helper for the next URL, and its index.
    fn pick(&self) -> (usize, Arc<WebConnectivityConfig>) {
        let last = self.configs.len() - 1;
        let index = self.current.load(Ordering::Acquire).min(last);
        (index, self.configs[index].clone())
    }

    /// Moves on from helper `index` when its control failed and another is left.
    fn control_failed(&self, index: usize) {
        if index + 1 < self.configs.len()
            && self
                .current
                .compare_exchange(index, index + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            tracing::warn!(
                helper = index + 1,
                "the test helper did not answer; the next URLs use the next one"
            );
        }
    }
}
