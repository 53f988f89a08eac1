//! The messaging suite: the WhatsApp, Telegram, Signal and Facebook Messenger experiments, one
//! app at a time; an app starts only while the run's budget covers its byte bound.

use std::sync::Arc;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::{now_ms, Finished, Measured, Measuring, SuiteRun};
use crate::experiment::messaging::{measure_app, App, BlockedStep, MessagingConfig};
use crate::session::suite::Suite;
use crate::session::tracker::Tracker;
use crate::session::verdict::Verdict;

/// The apps of a run and how each is measured.
pub(crate) struct AppsRun {
    pub(crate) apps: Vec<App>,
    pub(crate) config: MessagingConfig,
    pub(crate) test_start_time: OffsetDateTime,
}

impl SuiteRun for AppsRun {
    fn suite(&self) -> Suite {
        Suite::Messaging
    }

    fn names(&self) -> Vec<String> {
        self.apps
            .iter()
            .map(|app| app.test_name().to_string())
            .collect()
    }

    fn min_bytes(&self, index: usize) -> u64 {
        self.apps
            .get(index)
            .map_or(1, |app| self.config.byte_bound(*app))
    }

    fn measure(
        self: Arc<Self>,
        index: usize,
        _bytes_left: u64,
        cancel: CancellationToken,
        _tracker: Arc<Tracker>,
    ) -> Measuring {
        Box::pin(async move {
            let Some(&app) = self.apps.get(index) else {
                return Measured::NotMeasured;
            };
            let started_ms = now_ms();
            let result = match measure_app(&self.config, app, self.test_start_time, &cancel).await {
                Ok(result) => result,
                Err(error) => {
                    // Cancelled, or a configuration checked when the run was planned.
                    tracing::debug!("messaging: {error}");
                    return Measured::NotMeasured;
                }
            };
            Measured::Done(Box::new(Finished {
                target: app.test_name().to_string(),
                subject: app.display_name().to_string(),
                verdict: Verdict::Messaging(result.verdict.verdict()),
                explanation: result.explanation,
                failed_operation: result
                    .verdict
                    .step
                    .map(|step| operation_name(step).to_string()),
                failure: result
                    .verdict
                    .failure
                    .as_ref()
                    .map(|f| f.as_str().into_owned()),
                status_code: None,
                bytes_received: result.bytes_received,
                runtime: result.runtime,
                started_ms,
                ended_ms: now_ms(),
                measurement: result.measurement,
                problem: None,
            }))
        })
    }
}

/// urlgetter's name of the operation at a step.
fn operation_name(step: BlockedStep) -> &'static str {
    match step {
        BlockedStep::Dns => "resolve",
        BlockedStep::Tcp => "connect",
        BlockedStep::Tls => "tls_handshake",
        BlockedStep::Http => "http_round_trip",
    }
}
