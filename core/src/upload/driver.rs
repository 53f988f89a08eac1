//! A ready-made platform loop for Rust callers (the CLI, tests, benchmarks): pulls tasks from
//! an [`UploadManager`], performs them with an [`Uploader`], sleeps when told to.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::manager::UploadManager;
use super::request::{UploadFailureKind, UploadTask, UploadTaskAction};
use super::uploader::Uploader;
use super::UploadError;

/// How long one flush may run by default: under Android WorkManager's ten minutes.
pub const DEFAULT_FLUSH_DURATION: Duration = Duration::from_secs(9 * 60);

/// Options of a flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlushOptions {
    /// Stop after this long, even with work left.
    pub max_duration: Duration,
}

impl Default for FlushOptions {
    fn default() -> Self {
        FlushOptions {
            max_duration: DEFAULT_FLUSH_DURATION,
        }
    }
}

/// Why a flush stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlushStop {
    /// The manager said `Done`.
    Done,
    /// [`FlushOptions::max_duration`] passed.
    Deadline,
    /// The uploader asked to stop.
    UploaderStopped,
}

/// What a flush did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlushReport {
    /// Measurements delivered.
    pub delivered: u64,
    /// Reports opened.
    pub reports_opened: u64,
    /// Failed requests.
    pub failures: u64,
    /// Items parked.
    pub parked: u64,
    /// Items held because their network is unknown.
    pub held: u64,
    /// Every `Wait` handed out, in order (the backoff and rate limit, observable).
    pub waits: Vec<Duration>,
    /// The last failure, if any.
    pub last_failure: Option<(UploadFailureKind, String)>,
    /// Why it stopped.
    pub stop: FlushStop,
    /// How long it ran.
    pub elapsed: Duration,
}

/// Runs the upload loop on this thread until `Done`, the deadline, or the uploader stops.
/// Blocking: never call it from inside an async task (use [`flush`]).
pub fn flush_blocking(
    manager: &UploadManager,
    uploader: &dyn Uploader,
    options: &FlushOptions,
) -> Result<FlushReport, UploadError> {
    let start = Instant::now();
    let before = manager.stats();
    let mut waits = Vec::new();
    let stop = loop {
        let remaining = options.max_duration.saturating_sub(start.elapsed());
        if remaining.is_zero() {
            break FlushStop::Deadline;
        }
        match manager.next_upload_task()? {
            UploadTask::Upload(request) => {
                let id = request.id.clone();
                let result = uploader.upload(request);
                if manager.process_upload_result(&id, result)? == UploadTaskAction::End {
                    break FlushStop::UploaderStopped;
                }
            }
            UploadTask::Wait(pause) => {
                waits.push(pause);
                if pause >= remaining {
                    std::thread::sleep(remaining);
                    break FlushStop::Deadline;
                }
                std::thread::sleep(pause);
            }
            UploadTask::Done => break FlushStop::Done,
        }
    };
    let after = manager.stats();
    Ok(FlushReport {
        delivered: after.delivered - before.delivered,
        reports_opened: after.reports_opened - before.reports_opened,
        failures: after.failures - before.failures,
        parked: after.parked - before.parked,
        held: after.held - before.held,
        waits,
        last_failure: if after.failures > before.failures {
            after.last_failure
        } else {
            None
        },
        stop,
        elapsed: start.elapsed(),
    })
}

/// [`flush_blocking`] on tokio's blocking pool.
pub async fn flush(
    manager: Arc<UploadManager>,
    uploader: Arc<dyn Uploader>,
    options: FlushOptions,
) -> Result<FlushReport, UploadError> {
    tokio::task::spawn_blocking(move || flush_blocking(&manager, uploader.as_ref(), &options))
        .await
        .map_err(|e| UploadError::Task(e.to_string()))?
}
