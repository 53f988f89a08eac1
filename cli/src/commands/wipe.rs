//! `kuzet wipe`: delete every stored result and measurement, at once.

use std::io::{BufRead, IsTerminal, Write};

use clap::Args;
use kuzet_core::store::{destroy, remove_damaged_copies, Store, StorePolicy, DATABASE_FILE_NAME};

use super::store_open::{blocking, store_error, StoreArgs};
use crate::error::CliError;
use crate::output::write_stdout;

/// Arguments of `kuzet wipe`.
#[derive(Debug, Args)]
#[command(after_help = "\
Deletes the results history, every measurement (uploaded or not), the upload queue, the \
connectivity timeline and any damaged copies kept by `kuzet recover`. It cannot be undone. \
Without --yes it asks first, and refuses when standard input is not a terminal.")]
pub struct WipeArgs {
    /// Where the store is.
    #[command(flatten)]
    pub store: StoreArgs,

    /// Do not ask.
    #[arg(long)]
    pub yes: bool,
}

/// Runs `kuzet wipe`.
pub async fn execute(args: WipeArgs) -> Result<(), CliError> {
    let dir = args.store.dir()?;
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::Usage(
                "refusing to wipe without --yes when standard input is not a terminal".to_string(),
            ));
        }
        eprint!(
            "Delete ALL stored results and measurements in {} (including those not uploaded)? \
             Type yes: ",
            dir.display()
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if answer.trim() != "yes" {
            return Err(CliError::Usage("not wiped".to_string()));
        }
    }
    let text = blocking(move || {
        if !dir.join(DATABASE_FILE_NAME).exists() {
            let copies = remove_damaged_copies(&dir).map_err(store_error)?;
            return Ok(format!(
                "Nothing stored in {}{}.\n",
                dir.display(),
                if copies > 0 {
                    format!("; deleted {copies} damaged copies")
                } else {
                    String::new()
                }
            ));
        }
        match Store::open(&dir, StorePolicy::default()) {
            Ok(store) => {
                let report = store.wipe().map_err(store_error)?;
                drop(store);
                let copies = remove_damaged_copies(&dir).map_err(store_error)?;
                let mut text = format!(
                    "Wiped {} measurements ({} not uploaded), {} runs, {} results, {} timeline \
                     entries",
                    report.measurements,
                    report.undelivered,
                    report.runs,
                    report.results,
                    report.timeline
                );
                if copies > 0 {
                    text.push_str(&format!(", {copies} damaged copies"));
                }
                if !report.compacted {
                    text.push_str(
                        " (the rows are deleted and zeroed, but the file could not be compacted)",
                    );
                }
                text.push_str(".\n");
                Ok(text)
            }
            // A store that cannot be opened is wiped by deleting its files.
            Err(error) if error.needs_recovery() => {
                let removed = destroy(&dir).map_err(store_error)?;
                Ok(format!(
                    "The store could not be opened ({error}); deleted its {removed} files.\n"
                ))
            }
            Err(error) => Err(store_error(error)),
        }
    })
    .await?;
    write_stdout(&text)?;
    Ok(())
}
