//! The handle of a running test.

use std::sync::Mutex;

use kuzet_core::session::RunHandle;

/// A running test. `cancel()` stops it at once (measurements in flight are dropped, the
/// listener still gets `onFinished` with status `CANCELLED`). Keep a reference while the test
/// should go on: closing the handle, or letting it be garbage-collected, cancels the test.
#[derive(Debug, uniffi::Object)]
pub struct TaskHandle {
    run_id: String,
    run: Mutex<RunHandle>,
}

impl TaskHandle {
    pub(crate) fn new(run: RunHandle) -> Self {
        TaskHandle {
            run_id: run.run_id().to_string(),
            run: Mutex::new(run),
        }
    }
}

#[uniffi::export]
impl TaskHandle {
    /// Stops the test now. Safe to call more than once, and after it finished. Does not wait.
    pub fn cancel(&self) {
        self.run.lock().unwrap_or_else(|e| e.into_inner()).cancel();
    }

    /// Whether the test has ended (completed, cancelled or over budget) and all its work has
    /// stopped.
    pub fn is_finished(&self) -> bool {
        self.run
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_finished()
    }

    /// The run's id, as in its summary.
    pub fn run_id(&self) -> String {
        self.run_id.clone()
    }
}
