//! Who performs the HTTP requests: the platform through the [`Uploader`] trait (an iOS
//! background `URLSession`, Android's HTTP stack), or Kuzet's own [`HttpUploader`].

use std::time::Duration;

use tokio::runtime::{Handle, Runtime};

use super::policy::UploadPolicy;
use super::request::{UploadFailureKind, UploadRequest, UploadResult};
use super::UploadError;
use crate::failure::Failure;
use crate::net::http_client::{service_client, ServiceClient, ServiceError};
use crate::net::trust::TrustAnchors;

/// Performs upload requests. Implemented by the platform (foreign code) or by
/// [`HttpUploader`]. Must be safe to call from any thread.
pub trait Uploader: Send + Sync {
    /// Sends `request` (a `POST`) and reports how it ended: the status, `Retry-After` and at
    /// most the policy's `max_response_bytes` of body, or why there was no answer. Blocking:
    /// call it from a thread that may block, never from inside an async task.
    fn upload(&self, request: UploadRequest) -> UploadResult;
}

/// Kuzet's own uploader: the service HTTP client over rustls, trusting the bundled roots (plus
/// an optional CA file), no proxy, an explicit timeout per request and a cap on response bytes.
pub struct HttpUploader {
    client: ServiceClient,
    handle: Handle,
    owned: Option<Runtime>,
    timeout: Duration,
    max_response_bytes: usize,
}

impl std::fmt::Debug for HttpUploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpUploader")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpUploader {
    /// An uploader trusting `trust`, with the policy's timeout and response cap. Inside a tokio
    /// runtime it uses that runtime (call [`Uploader::upload`] from `spawn_blocking`; on a
    /// current-thread runtime, its thread must be driving the runtime meanwhile, as
    /// `block_on` does); outside one it runs its own single-threaded runtime.
    pub fn new(trust: &TrustAnchors, policy: &UploadPolicy) -> Result<Self, UploadError> {
        let (handle, owned) = match Handle::try_current() {
            Ok(handle) => (handle, None),
            Err(_) => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| UploadError::Client(format!("cannot start a runtime: {e}")))?;
                (runtime.handle().clone(), Some(runtime))
            }
        };
        let client = {
            let _entered = handle.enter();
            service_client(trust, policy.request_timeout)
                .map_err(|e| UploadError::Client(e.to_string()))?
        };
        Ok(HttpUploader {
            client,
            handle,
            owned,
            timeout: policy.request_timeout,
            max_response_bytes: policy.max_response_bytes,
        })
    }

    async fn send(&self, request: UploadRequest) -> UploadResult {
        let url = match url::Url::parse(&request.url) {
            Ok(url) => url,
            Err(e) => {
                return UploadResult::UnrecoverableFailure {
                    message: format!("invalid upload URL: {e}"),
                }
            }
        };
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        // The client bounds the whole exchange by the policy's timeout.
        match self
            .client
            .post(&url, &headers, request.body, self.max_response_bytes)
            .await
        {
            Ok(response) => UploadResult::HttpStatus {
                code: response.status,
                retry_after: response.header("retry-after").map(str::to_string),
                body: response.body,
            },
            Err(error) => classify_error(&error),
        }
    }
}

impl Uploader for HttpUploader {
    fn upload(&self, request: UploadRequest) -> UploadResult {
        match &self.owned {
            Some(runtime) => runtime.block_on(self.send(request)),
            None => self.handle.block_on(self.send(request)),
        }
    }
}

impl Drop for HttpUploader {
    fn drop(&mut self) {
        // Dropping a runtime inside another one panics; shutting it down in the background
        // never does.
        if let Some(runtime) = self.owned.take() {
            runtime.shutdown_background();
        }
    }
}

/// Maps a failed request to the failure a person can understand. Messages use OONI's failure
/// strings and never include addresses.
pub fn classify_error(error: &ServiceError) -> UploadResult {
    match error {
        ServiceError::InvalidRequest(reason) => UploadResult::UnrecoverableFailure {
            message: format!("the upload request cannot be built: {reason}"),
        },
        ServiceError::Resolve(_) => recoverable(
            UploadFailureKind::Unreachable,
            "cannot resolve the collector's name".to_string(),
        ),
        ServiceError::Timeout(timeout) => recoverable(
            UploadFailureKind::Timeout,
            format!("no answer within {} s", timeout.as_secs_f64()),
        ),
        ServiceError::Http(http) if http.is_incomplete_message() => recoverable(
            UploadFailureKind::Blocked,
            "the connection was closed without an answer".to_string(),
        ),
        other => match other.failure() {
            Failure::Unknown(text) => recoverable(UploadFailureKind::Other, text),
            failure => from_failure(failure),
        },
    }
}

fn recoverable(kind: UploadFailureKind, message: String) -> UploadResult {
    UploadResult::RecoverableFailure { kind, message }
}

/// The upload failure class of an OONI failure.
fn from_failure(failure: Failure) -> UploadResult {
    let kind = match &failure {
        Failure::GenericTimeout => UploadFailureKind::Timeout,
        Failure::ConnectionReset
        | Failure::ConnectionAborted
        | Failure::Eof
        | Failure::NetworkReset
        | Failure::SslInvalidHostname
        | Failure::SslUnknownAuthority
        | Failure::SslInvalidCertificate
        | Failure::SslFailedHandshake => UploadFailureKind::Blocked,
        _ => UploadFailureKind::Unreachable,
    };
    let message = match kind {
        UploadFailureKind::Blocked if failure.as_str().starts_with("ssl_") => {
            format!("{failure}: TLS to the collector failed; it may be intercepted")
        }
        UploadFailureKind::Blocked => format!("{failure}: the collector may be blocked"),
        _ => failure.to_string(),
    };
    recoverable(kind, message)
}
