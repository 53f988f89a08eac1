//! The platform's capabilities, implemented in Kotlin or Swift, and their adapters to core's
//! traits. Callbacks arrive on the library's worker threads, never on the caller's.

use std::sync::Arc;

use std::panic::{catch_unwind, AssertUnwindSafe};

use kuzet_core::report::Measurement;
use kuzet_core::session::{self, NetworkContext, RunPhase, RunProgress, RunSummary, TargetResult};
use kuzet_core::upload;

use crate::types::{LogLevel, UploadOutcome, UploadRequest};

/// Receives a run's progress, on one of Kuzet's worker threads (post to the UI thread
/// yourself). Calls come one at a time and in order: `onPhase(Preparing)`, then
/// `onPhase(CheckingNetwork)` when the run checks the network first; per suite
/// `onPhase(Measuring)`, then `onTargetResult` and `onProgress` per target (each result is
/// stored before it is reported); `onPhase(Finished)`; and `onFinished` last. Return quickly:
/// the run waits for each call. An exception thrown here is logged and ignored.
#[uniffi::export(foreign)]
pub trait RunListener: Send + Sync {
    /// The run entered a phase.
    fn on_phase(&self, phase: RunPhase);
    /// One target's result, as soon as it is stored, with its OONI measurement as JSON (the
    /// only time the measurement crosses: `resultDetail` reads it again later).
    fn on_target_result(&self, result: TargetResult, measurement_json: String);
    /// Counters after each target: done, total, bytes used, estimated time left.
    fn on_progress(&self, progress: RunProgress);
    /// The run ended (completed, cancelled, out of budget or time). Nothing is called after
    /// this. Its results carry no measurement.
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

impl session::RunListener for ListenerAdapter {
    fn on_phase(&self, phase: RunPhase) {
        self.0.on_phase(phase);
    }
    fn on_target_result(&self, result: &TargetResult, measurement: &Measurement) {
        let json = serde_json::to_string(measurement).unwrap_or_else(|error| {
            tracing::error!("cannot encode a measurement: {error}");
            String::new()
        });
        self.0.on_target_result(result.clone(), json);
    }
    fn on_progress(&self, progress: &RunProgress) {
        self.0.on_progress(progress.clone());
    }
    fn on_finished(&self, summary: &RunSummary) {
        self.0.on_finished(summary.clone());
    }
}

/// A foreign network provider seen as core's. Core contains panics around the call.
pub(crate) struct NetworkAdapter(pub(crate) Arc<dyn NetworkContextProvider>);

impl session::NetworkContextProvider for NetworkAdapter {
    fn current_network(&self) -> NetworkContext {
        self.0.current_network()
    }
}

/// A foreign uploader seen as core's: one `POST` with a `Content-Type` per request. The engine
/// hands it uncompressed bodies; a request needing any other header is refused as `Incapable`.
/// A thrown exception is a failed attempt, retried later.
pub(crate) struct UploaderAdapter(pub(crate) Arc<dyn Uploader>);

impl upload::Uploader for UploaderAdapter {
    fn upload(&self, request: upload::UploadRequest) -> upload::UploadResult {
        let mut content_type = None;
        for (name, value) in &request.headers {
            if name.eq_ignore_ascii_case("content-type") {
                content_type = Some(value.clone());
            } else {
                return upload::UploadResult::Incapable {
                    message: format!("the platform uploader cannot send the {name} header"),
                };
            }
        }
        let foreign = UploadRequest {
            url: request.url,
            method: "POST".to_string(),
            content_type: content_type.unwrap_or_else(|| "application/json".to_string()),
            body: request.body,
        };
        match catch_unwind(AssertUnwindSafe(|| self.0.upload(foreign))) {
            Ok(UploadOutcome::Response { status, body }) => upload::UploadResult::HttpStatus {
                code: status,
                retry_after: None,
                body,
            },
            Ok(UploadOutcome::Failed { message }) => upload::UploadResult::RecoverableFailure {
                kind: upload::UploadFailureKind::Unreachable,
                message,
            },
            Err(_) => upload::UploadResult::RecoverableFailure {
                kind: upload::UploadFailureKind::Other,
                message: "the platform uploader failed unexpectedly".to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use kuzet_core::upload::Uploader as _;

    struct Fake {
        seen: Mutex<Vec<UploadRequest>>,
        outcome: Option<UploadOutcome>,
    }

    impl Uploader for Fake {
        fn upload(&self, request: UploadRequest) -> UploadOutcome {
            self.seen.lock().unwrap().push(request);
            match &self.outcome {
                Some(outcome) => outcome.clone(),
                None => panic!("the platform threw"),
            }
        }
    }

    fn adapter(outcome: Option<UploadOutcome>) -> (Arc<Fake>, UploaderAdapter) {
        let fake = Arc::new(Fake {
            seen: Mutex::new(Vec::new()),
            outcome,
        });
        (fake.clone(), UploaderAdapter(fake))
    }

    fn request(headers: &[(&str, &str)]) -> upload::UploadRequest {
        upload::UploadRequest {
            id: "r1".to_string(),
            url: "http://127.0.0.1:1/report".to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: b"{}".to_vec(),
        }
    }

    #[test]
    fn the_adapter_posts_and_maps_the_outcome() {
        let (fake, adapter) = adapter(Some(UploadOutcome::Response {
            status: 200,
            body: b"ok".to_vec(),
        }));
        let result = adapter.upload(request(&[("Content-Type", "application/json")]));
        assert_eq!(
            result,
            upload::UploadResult::HttpStatus {
                code: 200,
                retry_after: None,
                body: b"ok".to_vec()
            }
        );
        let seen = fake.seen.lock().unwrap();
        assert_eq!(seen[0].method, "POST");
        assert_eq!(seen[0].content_type, "application/json");
        assert_eq!(seen[0].body, b"{}");

        let (_, failing) = self::adapter(Some(UploadOutcome::Failed {
            message: "offline".to_string(),
        }));
        assert!(matches!(
            failing.upload(request(&[])),
            upload::UploadResult::RecoverableFailure { ref message, .. } if message == "offline"
        ));
    }

    #[test]
    fn other_headers_are_refused_and_a_throw_is_a_failed_attempt() {
        let (fake, adapter) = adapter(None);
        assert!(matches!(
            adapter.upload(request(&[("Content-Encoding", "gzip")])),
            upload::UploadResult::Incapable { .. }
        ));
        assert!(fake.seen.lock().unwrap().is_empty());
        assert!(matches!(
            adapter.upload(request(&[])),
            upload::UploadResult::RecoverableFailure { .. }
        ));
    }
}
