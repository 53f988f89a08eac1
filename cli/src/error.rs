//! The CLI's errors and the exit status each maps to.

use std::fmt;
use std::process::ExitCode;

/// Why a command stopped. Printed as one line, `kuzet: error: <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// Bad arguments or input (a URL, a file, a resolver, a CA file): nothing was measured.
    Usage(String),
    /// The run started but could not complete.
    Run(String),
    /// The run was stopped by Ctrl-C or SIGTERM; what finished is kept.
    Interrupted(String),
}

impl CliError {
    /// The exit status: 2 for usage and input errors, 130 when interrupted (as shells report
    /// SIGINT), 1 otherwise.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Run(_) => ExitCode::from(1),
            CliError::Interrupted(_) => ExitCode::from(130),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(message) | CliError::Run(message) | CliError::Interrupted(message) => {
                f.write_str(message)
            }
        }
    }
}

impl std::error::Error for CliError {}
