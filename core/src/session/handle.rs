//! The handle of a running run: cancel it, ask whether it ended, wait for its summary.

use std::any::Any;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::listener::RunListener;
use super::plan::RunPlan;
use super::result::RunSummary;
use super::SessionError;
use crate::runtime::runtime;

/// A running (or finished) run. Dropping it cancels the run: keep it while the run should go
/// on. Cancelling stops every measurement in flight at once; what finished is kept, and the
/// listener still receives `on_phase(Finished)` and `on_finished` with status `cancelled`.
#[derive(Debug)]
pub struct RunHandle {
    run_id: String,
    token: CancellationToken,
    task: Option<JoinHandle<RunSummary>>,
}

/// Starts `plan` on the library's runtime (checked by the caller). `keep_alive` is dropped
/// when the run's task ends, however it ends (the engine counts active runs with it).
pub(crate) fn spawn(
    plan: RunPlan,
    listener: Arc<dyn RunListener>,
    token: CancellationToken,
    keep_alive: Option<Box<dyn Any + Send>>,
) -> RunHandle {
    let run_id = plan.run_id.clone();
    let task_token = token.clone();
    let task = runtime().spawn(async move {
        let _keep_alive = keep_alive;
        super::orchestrate(plan, listener, task_token).await
    });
    RunHandle {
        run_id,
        token,
        task: Some(task),
    }
}

impl RunHandle {
    /// The run's id (also in its summary).
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Asks the run to stop now. Idempotent; does not wait.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Whether the run's task has ended (completed, cancelled or failed).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for the run to end and returns its summary. Dropping this future cancels the run.
    pub async fn wait(mut self) -> Result<RunSummary, SessionError> {
        let Some(task) = self.task.take() else {
            return Err(SessionError::Internal(
                "the run was already awaited".to_string(),
            ));
        };
        // `self` lives in this future: if the future is dropped, Drop cancels the run.
        task.await.map_err(from_join)
    }

    /// Blocks the calling thread until the run ends. Must not be called from the library's
    /// own threads (a listener callback, for instance).
    pub fn wait_blocking(self) -> Result<RunSummary, SessionError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(SessionError::Internal(
                "a blocking wait cannot be made from Kuzet's own threads (such as inside a \
                 listener callback); use the async form"
                    .to_string(),
            ));
        }
        runtime().block_on(self.wait())
    }
}

impl Drop for RunHandle {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// A run task's join error in words (a panic keeps its message).
pub(crate) fn from_join(error: tokio::task::JoinError) -> SessionError {
    if error.is_panic() {
        let payload = error.into_panic();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        SessionError::Internal(format!("the run stopped on a bug: {message}"))
    } else {
        SessionError::Internal("the run was stopped before it finished".to_string())
    }
}
