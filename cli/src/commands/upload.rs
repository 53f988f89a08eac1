//! `kuzet upload`: upload the stored measurements to a collector now.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use kuzet_core::upload::protocol::collector_base;
use kuzet_core::upload::DEFAULT_COLLECTOR;

use super::store_open::{
    blocking, open_existing, store_error, upload, upload_summary, StoreArgs, UploadTarget,
};
use crate::args::parse_budget_seconds;
use crate::error::CliError;
use crate::output::write_stdout;
use crate::settings;

/// Arguments of `kuzet upload`.
#[derive(Debug, Args)]
#[command(after_help = "\
Exit status: 0 when nothing deliverable is left waiting (measurements held because their \
network is unknown do not count), 1 when some could not be uploaded (they stay queued: see \
`kuzet queue`), 2 for bad arguments.")]
pub struct UploadArgs {
    /// Where the store is.
    #[command(flatten)]
    pub store: StoreArgs,

    /// The collector (OONI's collector protocol).
    #[arg(long, value_name = "URL", default_value = DEFAULT_COLLECTOR)]
    pub collector: String,

    /// Also trust the CA certificates in this PEM file (self-hosted collectors).
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// Give up after this many seconds (what is left stays queued).
    #[arg(long = "max-time", value_name = "SECS", default_value = "120", value_parser = parse_budget_seconds)]
    pub max_time: Duration,

    /// First make parked measurements (rejected, or failed too often) pending again.
    #[arg(long = "retry-parked")]
    pub retry_parked: bool,
}

/// Runs `kuzet upload`.
pub async fn execute(args: UploadArgs) -> Result<(), CliError> {
    collector_base(&args.collector).map_err(|e| CliError::Usage(format!("--collector: {e}")))?;
    let trust = settings::trust(args.ca_file.as_ref())?;
    let dir = args.store.dir()?;
    let Some(store) = open_existing(dir.clone()).await? else {
        write_stdout(&format!(
            "Nothing to upload (nothing stored in {}).\n",
            dir.display()
        ))?;
        return Ok(());
    };
    if store.is_read_only() {
        return Err(CliError::Run(format!(
            "the store in {} is read-only: uploads cannot be recorded",
            dir.display()
        )));
    }
    if args.retry_parked {
        let store = store.clone();
        let retried = blocking(move || store.retry_parked().map_err(store_error)).await?;
        if retried > 0 {
            write_stdout(&format!("retrying {retried} parked measurement(s)\n"))?;
        }
    }
    let target = UploadTarget {
        collector: args.collector.clone(),
        trust,
        max_time: args.max_time,
    };
    let report = upload(store.clone(), &target).await?;
    let (text, waiting) = upload_summary(store, &report).await?;
    write_stdout(&text)?;
    if waiting {
        return Err(CliError::Run(
            "not everything could be uploaded; it stays queued (see `kuzet queue`)".to_string(),
        ));
    }
    Ok(())
}
