//! One module per subcommand.

pub mod measure;
pub mod run_web;

use crate::args::{Command, Suite};
use crate::error::CliError;

/// Runs a subcommand.
pub async fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Measure(args) => measure::execute(args).await,
        Command::Run(run) => match run.suite {
            Suite::Web(args) => run_web::execute(args).await,
        },
    }
}
