//! What flows between the upload state machine and the platform: tasks, requests, results.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What the platform should do next ([`super::UploadManager::next_upload_task`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadTask {
    /// Send this request, then report the result with
    /// [`super::UploadManager::process_upload_result`].
    Upload(UploadRequest),
    /// Sleep this long, then ask again (rate limit or a short backoff).
    Wait(Duration),
    /// Nothing more to do now: the outbox is empty, everything left waits for a later time
    /// ([`super::UploadManager::next_wakeup`] says when), or a loop guard tripped.
    Done,
}

/// One HTTP request to a collector: always a `POST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRequest {
    /// Identifies the request in [`super::UploadManager::process_upload_result`]. Opaque to the
    /// platform, and self-describing, so a result can be processed even by a new process (an
    /// iOS background upload finishing after the app was relaunched).
    pub id: String,
    /// The full URL.
    pub url: String,
    /// Headers to send (`Content-Type`, and `Content-Encoding` for compressed bodies).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// How a request ended, as the platform saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadResult {
    /// The collector answered.
    HttpStatus {
        /// The status code.
        code: u16,
        /// The `Retry-After` header, if any (seconds or an HTTP date).
        retry_after: Option<String>,
        /// The response body (at most the policy's `max_response_bytes`).
        body: Vec<u8>,
    },
    /// No answer, but trying again later may work (offline, refused, reset, timeout...).
    RecoverableFailure {
        /// The class of failure.
        kind: UploadFailureKind,
        /// Details for people (no IP addresses).
        message: String,
    },
    /// The request itself cannot work (e.g. a malformed URL): the item is parked.
    UnrecoverableFailure {
        /// Details for people.
        message: String,
    },
    /// The uploader cannot perform this kind of request: the item is parked.
    Incapable {
        /// Details for people.
        message: String,
    },
    /// The uploader must stop (e.g. the OS is ending the background task).
    Done,
}

/// What the platform should do after reporting a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadTaskAction {
    /// Ask for the next task.
    Next,
    /// Stop the loop.
    End,
}

/// Why an upload failed, as shown to people and stored with the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadFailureKind {
    /// The collector could not be reached (offline, refused, no route, name not resolved).
    Unreachable,
    /// The collector did not answer in time.
    Timeout,
    /// The connection was reset or TLS was interfered with: the collector may be blocked.
    Blocked,
    /// The collector failed (5xx).
    ServerError,
    /// The collector asked to slow down (429, or 503 with `Retry-After`).
    RateLimited,
    /// The collector rejected the request (4xx).
    Rejected,
    /// The collector's answer made no sense.
    Protocol,
    /// The measurement is too large to upload.
    TooLarge,
    /// The uploader cannot send this request.
    Incapable,
    /// Anything else.
    Other,
}

impl UploadFailureKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            UploadFailureKind::Unreachable => "unreachable",
            UploadFailureKind::Timeout => "timeout",
            UploadFailureKind::Blocked => "blocked",
            UploadFailureKind::ServerError => "server_error",
            UploadFailureKind::RateLimited => "rate_limited",
            UploadFailureKind::Rejected => "rejected",
            UploadFailureKind::Protocol => "protocol",
            UploadFailureKind::TooLarge => "too_large",
            UploadFailureKind::Incapable => "incapable",
            UploadFailureKind::Other => "other",
        }
    }

    /// Parses the stored spelling, as the store keeps it
    /// ([`crate::store::outbox::LastError::kind`]); unknown spellings are
    /// [`UploadFailureKind::Other`].
    pub fn parse(text: &str) -> UploadFailureKind {
        match text {
            "unreachable" => UploadFailureKind::Unreachable,
            "timeout" => UploadFailureKind::Timeout,
            "blocked" => UploadFailureKind::Blocked,
            "server_error" => UploadFailureKind::ServerError,
            "rate_limited" => UploadFailureKind::RateLimited,
            "rejected" => UploadFailureKind::Rejected,
            "protocol" => UploadFailureKind::Protocol,
            "too_large" => UploadFailureKind::TooLarge,
            "incapable" => UploadFailureKind::Incapable,
            _ => UploadFailureKind::Other,
        }
    }

    /// A short explanation for people.
    pub fn describe(self) -> &'static str {
        match self {
            UploadFailureKind::Unreachable => "collector unreachable",
            UploadFailureKind::Timeout => "collector did not answer in time",
            UploadFailureKind::Blocked => {
                "connection reset or tampered with: collector may be blocked"
            }
            UploadFailureKind::ServerError => "collector error",
            UploadFailureKind::RateLimited => "collector asked to slow down",
            UploadFailureKind::Rejected => "rejected by the collector",
            UploadFailureKind::Protocol => "unexpected answer from the collector",
            UploadFailureKind::TooLarge => "too large to upload",
            UploadFailureKind::Incapable => "the uploader cannot send it",
            UploadFailureKind::Other => "upload failed",
        }
    }

    /// True when a failure of this kind counts towards an item's attempt cap: the collector
    /// answered (or something unknown happened). Failing to reach the collector, or being
    /// asked to slow down, says nothing about the item and does not count.
    pub fn counts_as_attempt(self) -> bool {
        !matches!(
            self,
            UploadFailureKind::Unreachable
                | UploadFailureKind::Timeout
                | UploadFailureKind::Blocked
                | UploadFailureKind::RateLimited
        )
    }
}

impl std::fmt::Display for UploadFailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
