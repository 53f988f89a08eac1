//! What can go wrong when driving the engine (as opposed to a failed measurement, which is a
//! result).

use std::path::PathBuf;

/// Errors of the engine's API.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The caller passed something unusable: a bad configuration, an empty run, a bad URL.
    #[error("{0}")]
    InvalidInput(String),
    /// The user's consent or a data budget does not allow this.
    #[error("{0}")]
    NotAllowed(String),
    /// This build does not have the feature yet (a suite, the results store...).
    #[error("{0}")]
    Unavailable(String),
    /// The data directory could not be used.
    #[error("{what} {path}: {source}")]
    Storage {
        /// What was being done, e.g. "cannot create the data directory".
        what: String,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The results store failed (disk full, a damaged file, a value it refuses).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A bug: a task panicked or stopped unexpectedly.
    #[error("{0}")]
    Internal(String),
    /// An error from the rest of core (bad URL, resolver, CA...).
    #[error(transparent)]
    Core(#[from] crate::Error),
}

impl From<crate::session::SessionError> for EngineError {
    fn from(error: crate::session::SessionError) -> Self {
        use crate::session::SessionError;
        match error {
            SessionError::Plan(plan) => EngineError::InvalidInput(plan.to_string()),
            SessionError::Store(store) => EngineError::Store(store),
            SessionError::Json(json) => EngineError::Internal(json.to_string()),
            SessionError::Internal(message) => EngineError::Internal(message),
        }
    }
}

impl From<crate::upload::UploadError> for EngineError {
    fn from(error: crate::upload::UploadError) -> Self {
        use crate::upload::UploadError;
        match error {
            UploadError::Store(store) => EngineError::Store(store),
            UploadError::InvalidCollector { .. } => EngineError::InvalidInput(error.to_string()),
            other => EngineError::Internal(other.to_string()),
        }
    }
}

impl EngineError {
    pub(crate) fn storage(what: &str, path: &std::path::Path, source: std::io::Error) -> Self {
        EngineError::Storage {
            what: what.to_string(),
            path: path.to_path_buf(),
            source,
        }
    }

    /// Turns a run task's join error into an engine error (panics keep their message).
    pub(crate) fn from_join(error: tokio::task::JoinError) -> Self {
        crate::session::from_join(error).into()
    }
}
