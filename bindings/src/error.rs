//! The public error, and the one place core's errors become it.

use kuzet_core::engine::EngineError;

/// Why a Kuzet call failed. Each case carries `message`, a sentence to show or log (Kotlin:
/// the exception's `message`; Swift: the case's associated `message`).
///
/// A failed measurement is not an error: it is a result (see `TargetResult`).
// Flat: the foreign side gets each case with the `Display` text as its message, which makes
// Kotlin's `Exception.message` the sentence itself rather than a field dump.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum KuzetError {
    /// The call's input was unusable: a bad configuration, URL or request. Fix the input.
    #[error("{message}")]
    InvalidInput {
        /// What is wrong, naming the culprit.
        message: String,
    },
    /// The user's consent or a data budget does not allow this. Ask the user, or wait.
    #[error("{message}")]
    NotAllowed {
        /// What is not allowed.
        message: String,
    },
    /// This version of Kuzet cannot do it yet (a suite or feature still being built).
    #[error("{message}")]
    Unavailable {
        /// What is missing.
        message: String,
    },
    /// The data directory could not be read or written (disk full, permissions).
    #[error("{message}")]
    Storage {
        /// What failed, with the path.
        message: String,
    },
    /// A bug in Kuzet, or a platform callback failed unexpectedly. Worth a bug report.
    #[error("{message}")]
    Internal {
        /// What went wrong.
        message: String,
    },
}

/// The crate's result alias.
pub type ApiResult<T> = Result<T, KuzetError>;

impl From<EngineError> for KuzetError {
    fn from(error: EngineError) -> Self {
        let message = error.to_string();
        match error {
            EngineError::InvalidInput(_) => KuzetError::InvalidInput { message },
            EngineError::NotAllowed(_) => KuzetError::NotAllowed { message },
            EngineError::Unavailable(_) => KuzetError::Unavailable { message },
            EngineError::Storage { .. } | EngineError::Store(_) => KuzetError::Storage { message },
            EngineError::Internal(_) => KuzetError::Internal { message },
            EngineError::Core(core) => core.into(),
        }
    }
}

impl From<kuzet_core::Error> for KuzetError {
    fn from(error: kuzet_core::Error) -> Self {
        use kuzet_core::Error;
        let message = error.to_string();
        match error {
            Error::InvalidUrl { .. }
            | Error::InvalidResolver { .. }
            | Error::InvalidCaFile { .. }
            | Error::TlsConfig(_) => KuzetError::InvalidInput { message },
            Error::ReadFile { .. } => KuzetError::Storage { message },
            Error::Json(_) => KuzetError::Internal { message },
            // Core's error is not exhaustive from here on; anything new is reported as is.
            #[allow(unreachable_patterns)]
            _ => KuzetError::Internal { message },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_keep_their_words() {
        let error: KuzetError = EngineError::Unavailable("no suite".to_string()).into();
        assert!(matches!(error, KuzetError::Unavailable { ref message } if message == "no suite"));
        let error: KuzetError = EngineError::Core(kuzet_core::Error::InvalidUrl {
            url: "x".to_string(),
            reason: "bad".to_string(),
        })
        .into();
        assert!(matches!(error, KuzetError::InvalidInput { .. }));
        assert_eq!(error.to_string(), "invalid URL \"x\": bad");
    }
}
