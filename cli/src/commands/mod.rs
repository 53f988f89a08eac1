//! One module per subcommand.

pub mod measure;

use crate::args::Command;
use crate::error::CliError;

/// Runs a subcommand.
pub async fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Measure(args) => measure::execute(args).await,
    }
}
