//! `kuzet recover`: keep a damaged store aside, salvage what is readable into a new one.

use clap::Args;
use kuzet_core::store::{recover, StorePolicy, DATABASE_FILE_NAME};

use super::store_open::{blocking, store_error, StoreArgs};
use crate::error::CliError;
use crate::output::write_stdout;

/// Arguments of `kuzet recover`.
#[derive(Debug, Args)]
#[command(after_help = "\
When the store cannot be opened because its file is damaged or is not Kuzet's, this keeps \
the file aside (renamed, never deleted), creates a new store, and copies into it every run, \
result, measurement and queue entry that can still be read. A healthy store is left as it is.")]
pub struct RecoverArgs {
    /// Where the store is.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Runs `kuzet recover`.
pub async fn execute(args: RecoverArgs) -> Result<(), CliError> {
    let dir = args.store.dir()?;
    let text = blocking(move || {
        if !dir.join(DATABASE_FILE_NAME).exists() {
            return Ok(format!(
                "Nothing to recover (no store in {}).\n",
                dir.display()
            ));
        }
        let (_store, report) = recover(&dir, StorePolicy::default()).map_err(store_error)?;
        let Some(moved_to) = &report.moved_to else {
            return Ok("The store is healthy; nothing was changed.\n".to_string());
        };
        let mut text = format!(
            "The store was damaged: {}\nThe old file is kept as {}\n",
            report.problem.as_deref().unwrap_or("unknown problem"),
            moved_to.display()
        );
        if report.foreign {
            text.push_str("It is not a Kuzet database: nothing was copied from it.\n");
        } else {
            let salvaged: Vec<String> = report
                .salvaged
                .iter()
                .map(|(table, n)| format!("{n} {table}"))
                .collect();
            text.push_str(&format!(
                "Salvaged: {}\n",
                if salvaged.is_empty() {
                    "nothing".to_string()
                } else {
                    salvaged.join(", ")
                }
            ));
            if report.unreadable > 0 || !report.unreadable_tables.is_empty() {
                text.push_str(&format!(
                    "Unreadable: {} rows or damaged stretches{}\n",
                    report.unreadable,
                    if report.unreadable_tables.is_empty() {
                        String::new()
                    } else {
                        format!("; whole tables: {}", report.unreadable_tables.join(", "))
                    }
                ));
            }
            if report.requeued > 0 {
                text.push_str(&format!(
                    "{} salvaged measurements were queued for upload again\n",
                    report.requeued
                ));
            }
        }
        text.push_str("A new store is in place.\n");
        Ok(text)
    })
    .await?;
    write_stdout(&text)?;
    Ok(())
}
