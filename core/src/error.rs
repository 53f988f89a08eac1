//! Core's error type: what can go wrong outside a measurement (bad configuration, unreadable
//! files, malformed input). A failed measurement step is not an error: it is recorded as a
//! [`crate::failure::Failure`] inside the observation.

use std::path::PathBuf;

/// Errors raised by Kuzet's core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A URL given to measure could not be used.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The text that was given.
        url: String,
        /// Why it cannot be measured.
        reason: String,
    },
    /// A resolver specification could not be parsed.
    #[error("invalid resolver {spec:?}: {reason}")]
    InvalidResolver {
        /// The text that was given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A CA file held no usable certificate.
    #[error("no usable certificate in {path}: {reason}")]
    InvalidCaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A test list could not be used.
    #[error("invalid test list {source_name}: {reason}")]
    InvalidTestList {
        /// The list's file name or bundled name.
        source_name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// TLS could not be configured.
    #[error("TLS configuration failed: {0}")]
    TlsConfig(String),
    /// A JSON document could not be encoded or decoded.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
}

/// Core's result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
