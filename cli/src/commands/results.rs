//! `kuzet results`: the results history: past runs, or the verdict on each target of a run,
//! with the same words the run printed and uploaded (read back from the store's typed records,
//! `kuzet_core::session::history`).

use clap::Args;
use kuzet_core::session::history::read_item;
use kuzet_core::session::{NotMeasured, VerdictGroup};
use kuzet_core::store::{format_ms, NetworkType, RunSummary};

use super::store_open::{blocking, columns, open_existing, state_label, store_error, StoreArgs};
use crate::error::CliError;
use crate::output::runs::not_measured_line;
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

/// How a run ended, as recorded.
fn status(run: &kuzet_core::store::Run) -> String {
    match (&run.status, run.finished_at_ms) {
        (Some(status), _) => status.clone(),
        (None, Some(_)) => "finished".to_string(),
        (None, None) => "not finished".to_string(),
    }
}

/// `2 blocked, 5 ok`: the run's results by verdict group, problems first (the order every
/// screen shows groups in).
fn groups(summary: &RunSummary) -> String {
    if summary.groups.is_empty() {
        return "-".to_string();
    }
    let mut groups: Vec<&(String, u64)> = summary.groups.iter().collect();
    // Words of another version's groups, if any, go last.
    groups.sort_by_key(|(word, _)| {
        let group = VerdictGroup::from_word(word);
        (group.is_none(), group)
    });
    groups
        .iter()
        .map(|(group, n)| format!("{n} {group}"))
        .collect::<Vec<_>>()
        .join(", ")
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
                            status(&s.run),
                            s.results.to_string(),
                            groups(s),
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
                        "STATUS",
                        "RESULTS",
                        "GROUPS",
                        "UPLOADED",
                    ],
                    &rows,
                    &[0, 5, 7],
                ) + "Details of a run: kuzet results --run ID\n"
            }
        }
        Some(id) => {
            let (run, results) = blocking(move || {
                let run = store.run(id).map_err(store_error)?;
                let results = store
                    .results(id)
                    .map_err(store_error)?
                    .iter()
                    .filter_map(|record| read_item(&store, record))
                    .collect::<Vec<_>>();
                Ok((run, results))
            })
            .await?;
            let Some(run) = run else {
                return Err(CliError::Usage(format!(
                    "--run: no run {id} in the history"
                )));
            };
            if args.json {
                let items: Vec<serde_json::Value> = results
                    .iter()
                    .map(|item| {
                        let r = &item.result;
                        serde_json::json!({
                            "measurement_id": r.measurement_id,
                            "suite": r.suite(),
                            "target": r.target,
                            "verdict": r.word,
                            "group": r.group,
                            "detail": r.verdict,
                            "explanation": r.explanation,
                            "failed_operation": r.failed_operation,
                            "failure": r.failure,
                            "status_code": r.status_code,
                            "bytes_received": r.bytes_received,
                            "runtime_ms": r.runtime.as_millis() as u64,
                            "upload": state_label(item.delivery),
                        })
                    })
                    .collect();
                let value = serde_json::json!({ "run": run, "results": items });
                serde_json::to_string_pretty(&value).map_err(|e| CliError::Run(e.to_string()))?
                    + "\n"
            } else {
                let ended = match (&run.status, run.finished_at_ms) {
                    (Some(status), Some(at)) => format!("{status} {} UTC", format_ms(at)),
                    (None, Some(at)) => format!("finished {} UTC", format_ms(at)),
                    (_, None) => "not finished (still running, or stopped before it could \
                                  record its end)"
                        .to_string(),
                };
                let mut text = format!(
                    "Run {}: {} on {} {} ({}), started {} UTC, {}\n",
                    run.id,
                    run.suite,
                    run.probe_asn,
                    run.probe_cc,
                    run.network_type.as_str(),
                    format_ms(run.started_at_ms),
                    ended,
                );
                let rows: Vec<Vec<String>> = results
                    .iter()
                    .map(|item| {
                        let r = &item.result;
                        vec![
                            truncate(&r.target, 60),
                            r.word.clone(),
                            r.failure
                                .as_deref()
                                .map(|f| truncate(f, 50))
                                .unwrap_or_else(|| "-".into()),
                            state_label(item.delivery).to_string(),
                            r.measurement_id.clone(),
                            r.explanation.clone(),
                        ]
                    })
                    .collect();
                text.push_str(&columns(
                    &[
                        "TARGET",
                        "VERDICT",
                        "FAILURE",
                        "UPLOAD",
                        "MEASUREMENT",
                        "EXPLANATION",
                    ],
                    &rows,
                    &[],
                ));
                let not_measured: Vec<NotMeasured> =
                    serde_json::from_value(run.not_measured.clone()).unwrap_or_default();
                if !not_measured.is_empty() {
                    text.push_str(&not_measured_line(&not_measured));
                    text.push('\n');
                }
                text
            }
        }
    };
    if write_stdout(&text)? == Written::Closed {
        return Ok(());
    }
    Ok(())
}
