//! Who performs the HTTP requests: the platform through the [`Uploader`] trait (an iOS
//! background `URLSession`, Android's HTTP stack), or Kuzet's own [`HttpUploader`].

use std::error::Error as _;
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};

use super::request::{UploadFailureKind, UploadRequest, UploadResult};
use super::UploadError;
use crate::failure::Failure;
use crate::net::http_client::service_client;
use crate::net::trust::TrustAnchors;
use crate::store::policy::UploadPolicy;

/// Performs upload requests. Implemented by the platform (foreign code) or by
/// [`HttpUploader`]. Must be safe to call from any thread.
pub trait Uploader: Send + Sync {
    /// Sends `request` (a `POST`) and reports how it ended: the status, `Retry-After` and at
    /// most the policy's `max_response_bytes` of body, or why there was no answer. Blocking:
    /// call it from a thread that may block, never from inside an async task.
    fn upload(&self, request: UploadRequest) -> UploadResult;
}

/// Kuzet's own uploader: reqwest over rustls, trusting the bundled roots (plus an optional CA
/// file), no proxy, an explicit timeout per request and a cap on response bytes.
pub struct HttpUploader {
    client: reqwest::Client,
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
        let url = match reqwest::Url::parse(&request.url) {
            Ok(url) => url,
            Err(e) => {
                return UploadResult::UnrecoverableFailure {
                    message: format!("invalid upload URL: {e}"),
                }
            }
        };
        let mut builder = self.client.post(url).timeout(self.timeout);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let builder = builder.body(request.body);
        let cap = self.max_response_bytes;
        let exchange = async move {
            let mut response = builder.send().await?;
            let code = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                let room = cap.saturating_sub(body.len());
                if chunk.len() >= room {
                    body.extend_from_slice(&chunk[..room]);
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<_, reqwest::Error>((code, retry_after, body))
        };
        // reqwest enforces the timeout too; this bounds everything else.
        match tokio::time::timeout(self.timeout + Duration::from_secs(1), exchange).await {
            Ok(Ok((code, retry_after, body))) => UploadResult::HttpStatus {
                code,
                retry_after,
                body,
            },
            Ok(Err(error)) => classify_error(&error),
            Err(_) => UploadResult::RecoverableFailure {
                kind: UploadFailureKind::Timeout,
                message: format!("no answer within {} s", self.timeout.as_secs_f64()),
            },
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
pub fn classify_error(error: &reqwest::Error) -> UploadResult {
    if error.is_builder() {
        return UploadResult::UnrecoverableFailure {
            message: "the upload request cannot be built".to_string(),
        };
    }
    let mut texts = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return from_failure(Failure::from_io(io));
        }
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return from_failure(Failure::from_tls(tls));
        }
        texts.push(cause.to_string());
        source = cause.source();
    }
    let text = texts.join(": ");
    if error.is_timeout() {
        return recoverable(
            UploadFailureKind::Timeout,
            "generic_timeout_error".to_string(),
        );
    }
    if text.contains("lookup address") || text.contains("dns error") {
        return recoverable(
            UploadFailureKind::Unreachable,
            "cannot resolve the collector's name".to_string(),
        );
    }
    if text.contains("connection closed") || text.contains("connection reset") {
        return recoverable(
            UploadFailureKind::Blocked,
            "the connection was closed without an answer".to_string(),
        );
    }
    if error.is_connect() {
        return recoverable(UploadFailureKind::Unreachable, "cannot connect".to_string());
    }
    recoverable(UploadFailureKind::Other, text)
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
