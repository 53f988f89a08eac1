//! Delivering the outbox to an OONI collector.
//!
//! - [`protocol`]: the collector protocol (report templates, report reuse, bodies, answers);
//! - [`manager`]: the pull-based state machine ([`UploadManager::next_upload_task`] →
//!   [`UploadTask::Upload`] / [`UploadTask::Wait`] / [`UploadTask::Done`], then
//!   [`UploadManager::process_upload_result`]) with the rate limiter, persisted backoff and
//!   attempt cap;
//! - [`uploader`]: the [`Uploader`] trait the platform may implement, and [`HttpUploader`];
//! - [`driver`]: a ready-made loop ([`flush`]) for Rust callers.
//!
//! All limits are in [`policy::UploadPolicy`].

pub mod backoff;
pub mod driver;
pub mod manager;
pub mod policy;
pub mod protocol;
pub mod rate_limit;
pub mod request;
pub mod uploader;

pub use driver::{flush, flush_blocking, FlushOptions, FlushReport, FlushStop};
pub use manager::{UploadManager, UploadStats};
pub use policy::UploadPolicy;
pub use protocol::{ReportTemplate, DEFAULT_COLLECTOR};
pub use request::{UploadFailureKind, UploadRequest, UploadResult, UploadTask, UploadTaskAction};
pub use uploader::{HttpUploader, Uploader};

use crate::store::StoreError;

/// Errors of the uploader (not of one upload: those are recorded with the item).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The collector URL cannot be used.
    #[error("invalid collector URL {url:?}: {reason}")]
    InvalidCollector {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A result was reported for a request id this manager cannot read.
    #[error("unknown upload request {0:?}")]
    UnknownRequest(String),
    /// The HTTP uploader could not be built.
    #[error("cannot build the HTTP uploader: {0}")]
    Client(String),
    /// The upload task panicked or was cancelled.
    #[error("the upload task stopped: {0}")]
    Task(String),
}
