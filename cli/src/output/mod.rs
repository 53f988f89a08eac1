//! What `kuzet` prints: tables and summaries for people, JSON lines for programs, a progress bar
//! while it works.

pub mod progress;
pub mod runs;
pub mod table;

use std::io::{self, Write};

use crate::error::CliError;

/// What became of a line written to standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// It was written.
    Yes,
    /// Standard output is closed (e.g. `kuzet measure --json | head -1`): stop quietly.
    Closed,
}

/// Writes `text` to standard output and flushes it, so lines reach a pipe as they are made.
/// A closed pipe is not an error; any other write failure is.
pub fn write_stdout(text: &str) -> Result<Written, CliError> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(Written::Yes),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(Written::Closed),
        Err(e) => Err(CliError::Run(format!(
            "cannot write to standard output: {e}"
        ))),
    }
}
