//! The platform's capabilities, implemented in Kotlin or Swift, and their adapters to core's
//! traits. Callbacks arrive on the library's worker threads, never on the caller's.

use std::sync::Arc;

use kuzet_core::engine as core;

use crate::types::{
    LogLevel, NetworkContext, RunPhase, RunProgress, RunSummary, TargetResult, UploadOutcome,
    UploadRequest,
};

/// Receives a run's progress, on one of Kuzet's worker threads (post to the UI thread
/// yourself). Calls come one at a time and in order: `onPhase(Preparing)`; per suite
/// `onPhase(Measuring)`, then `onTargetResult` and `onProgress` per target;
/// `onPhase(Finished)`; and `onFinished` last. Return quickly: the run waits for each call.
/// An exception thrown here is logged and ignored.
#[uniffi::export(foreign)]
pub trait RunListener: Send + Sync {
    /// The run entered a phase.
    fn on_phase(&self, phase: RunPhase);
    /// One target's result, as soon as it lands.
    fn on_target_result(&self, result: TargetResult);
    /// Counters after each target: done, total, bytes used, estimated time left.
    fn on_progress(&self, progress: RunProgress);
    /// The run ended (completed, cancelled or over budget). Nothing is called after this.
    fn on_finished(&self, summary: RunSummary);
}

/// Tells Kuzet which network the device is on (Android `ConnectivityManager`, iOS
/// `NWPathMonitor`). Asked at the start of each run, on a worker thread.
#[uniffi::export(foreign)]
pub trait NetworkContextProvider: Send + Sync {
    /// The network right now.
    fn current_network(&self) -> NetworkContext;
}

/// Sends an upload with the platform's HTTP stack (for instance an iOS background
/// `URLSession`). Optional: without it Kuzet uploads by itself. Called on a worker thread;
/// may block until the upload ends.
#[uniffi::export(foreign)]
pub trait Uploader: Send + Sync {
    /// Performs one upload and says what happened.
    fn upload(&self, request: UploadRequest) -> UploadOutcome;
}

/// Receives Kuzet's log lines (never containing IP addresses). Called on whichever thread
/// logs; must not block.
#[uniffi::export(foreign)]
pub trait Logger: Send + Sync {
    /// One log line: its level, the Rust module that wrote it, and the text.
    fn log(&self, level: LogLevel, target: String, message: String);
}

/// A foreign listener seen as core's listener. Core contains panics (a thrown exception
/// becomes one) around each call.
pub(crate) struct ListenerAdapter(pub(crate) Arc<dyn RunListener>);

impl core::RunListener for ListenerAdapter {
    fn on_phase(&self, phase: core::RunPhase) {
        self.0.on_phase(phase.into());
    }
    fn on_target_result(&self, result: &core::TargetResult) {
        self.0.on_target_result(result.into());
    }
    fn on_progress(&self, progress: &core::RunProgress) {
        self.0.on_progress(progress.into());
    }
    fn on_finished(&self, summary: &core::RunSummary) {
        self.0.on_finished(summary.into());
    }
}

/// A foreign network provider seen as core's. Core contains panics around the call.
pub(crate) struct NetworkAdapter(pub(crate) Arc<dyn NetworkContextProvider>);

impl core::NetworkContextProvider for NetworkAdapter {
    fn current_network(&self) -> core::NetworkContext {
        self.0.current_network().into()
    }
}
