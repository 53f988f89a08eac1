//! `kuzet results`: the results history: past runs, or the verdict on each target of a run.

use clap::Args;
use kuzet_core::store::{format_ms, NetworkType, RunSummary};

use super::store_open::{blocking, columns, open_existing, state_label, store_error, StoreArgs};
use crate::error::CliError;
use crate::output::table::truncate;
use crate::output::{write_stdout, Written};

/// Arguments of `kuzet results`.
#[derive(Debug, Args)]
pub struct ResultsArgs {
    /// Where the store is.
    #[command(flatten)]
    pub store: StoreArgs,

    /// Show the verdict on each target of this run.
    #[arg(long, value_name = "ID")]
    pub run: Option<i64>,

    /// Show at most N runs, newest first.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn network(summary: &RunSummary) -> String {
    let run = &summary.run;
    let mut text = format!("{} {}", run.probe_asn, run.probe_cc);
    if run.network_type != NetworkType::Unknown {
        text.push(' ');
        text.push_str(run.network_type.as_str());
    }
    text
}

/// Runs `kuzet results`.
pub async fn execute(args: ResultsArgs) -> Result<(), CliError> {
    let dir = args.store.dir()?;
    let Some(store) = open_existing(dir.clone()).await? else {
        if args.json {
            write_stdout("[]\n")?;
        } else {
            write_stdout(&format!(
                "No results yet (nothing stored in {}).\n",
                dir.display()
            ))?;
        }
        return Ok(());
    };
    let text = match args.run {
        None => {
            let limit = args.limit;
            let runs = blocking(move || store.runs(limit).map_err(store_error)).await?;
            if args.json {
                serde_json::to_string_pretty(&runs).map_err(|e| CliError::Run(e.to_string()))?
                    + "\n"
            } else if runs.is_empty() {
                "No results yet.\n".to_string()
            } else {
                let rows: Vec<Vec<String>> = runs
                    .iter()
                    .map(|s| {
                        vec![
                            s.run.id.to_string(),
                            format_ms(s.run.started_at_ms),
                            s.run.suite.clone(),
                            network(s),
                            s.results.to_string(),
                            s.ok.to_string(),
                            s.anomaly.to_string(),
                            s.blocked.to_string(),
                            s.failed.to_string(),
                            format!("{}/{}", s.delivered, s.delivered + s.undelivered),
                        ]
                    })
                    .collect();
                columns(
                    &[
                        "RUN",
                        "STARTED (UTC)",
                        "SUITE",
                        "NETWORK",
                        "RESULTS",
                        "OK",
                        "ANOMALY",
                        "BLOCKED",
                        "FAILED",
                        "UPLOADED",
                    ],
                    &rows,
                    &[0, 4, 5, 6, 7, 8, 9],
                ) + "Details of a run: kuzet results --run ID\n"
            }
        }
        Some(id) => {
            let (run, results) = blocking(move || {
                let run = store.run(id).map_err(store_error)?;
                let results = store.results(id).map_err(store_error)?;
                Ok((run, results))
            })
            .await?;
            let Some(run) = run else {
                return Err(CliError::Usage(format!(
                    "--run: no run {id} in the history"
                )));
            };
            if args.json {
                let value = serde_json::json!({ "run": run, "results": results });
                serde_json::to_string_pretty(&value).map_err(|e| CliError::Run(e.to_string()))?
                    + "\n"
            } else {
                let finished = run
                    .finished_at_ms
                    .map(format_ms)
                    .unwrap_or_else(|| "not finished".to_string());
                let mut text = format!(
                    "Run {}: {} on {} {} ({}), started {} UTC, finished {}\n",
                    run.id,
                    run.suite,
                    run.probe_asn,
                    run.probe_cc,
                    run.network_type.as_str(),
                    format_ms(run.started_at_ms),
                    finished,
                );
                let rows: Vec<Vec<String>> = results
                    .iter()
                    .map(|r| {
                        vec![
                            truncate(&r.target, 60),
                            r.verdict.as_str().to_string(),
                            r.failure
                                .as_deref()
                                .map(|f| truncate(f, 50))
                                .unwrap_or_else(|| "-".into()),
                            state_label(r.delivery).to_string(),
                            r.measurement_id.clone(),
                        ]
                    })
                    .collect();
                text.push_str(&columns(
                    &["TARGET", "VERDICT", "FAILURE", "UPLOAD", "MEASUREMENT"],
                    &rows,
                    &[],
                ));
                text
            }
        }
    };
    if write_stdout(&text)? == Written::Closed {
        return Ok(());
    }
    Ok(())
}
