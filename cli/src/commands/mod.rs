//! One module per subcommand.

pub mod measure;
pub mod queue;
pub mod recover;
pub mod results;
pub mod run;
pub mod store_open;
pub mod upload;
pub mod watch;
pub mod wipe;

use crate::args::Command;
use crate::error::CliError;

/// Runs a subcommand.
pub async fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Measure(args) => measure::execute(args).await,
        Command::Run(args) => run::execute(*args).await,
        Command::Results(args) => results::execute(args).await,
        Command::Queue(args) => queue::execute(args).await,
        Command::Upload(args) => upload::execute(args).await,
        Command::Wipe(args) => wipe::execute(args).await,
        Command::Recover(args) => recover::execute(args).await,
        Command::Watch(args) => watch::execute(args).await,
    }
}
