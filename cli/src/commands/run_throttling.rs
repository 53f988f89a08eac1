//! `kuzet run throttling`: is a name throttled here? Target and control SNIs against a Kuzet
//! throughput server pinned by its key (and, with `--passive`, real sites against baselines),
//! with a verdict per target, printed as a table or as OONI JSON lines, and stored.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use kuzet_core::experiment::throttling::ThrottlingVerdict;
use kuzet_core::experiment::throttling::{
    explain, run_throttling, verdict_kind, PassiveOptions, PassiveTarget, SpkiPin, TargetResult,
    ThrottlingConfig, ThrottlingError, ThrottlingProgress, ThrottlingReport, DEFAULT_RUN_BUDGET,
};
use kuzet_core::store::{Verdict, VerdictKind};
use tokio_util::sync::CancellationToken;

use crate::args::RunThrottlingArgs;
use crate::commands::store_open::{columns, Recorder};
use crate::error::CliError;
use crate::output::progress::Progress;
use crate::output::table::{format_bytes, truncate};
use crate::output::{write_stdout, Written};
use crate::settings;

/// Names tested when `--targets` is not given: sites Kazakhstan throttled (OONI, 2023).
pub const DEFAULT_TARGETS: [&str; 3] = ["www.azattyq.org", "rus.azattyq.org", "www.currenttime.tv"];

/// The widest target column.
const MAX_TARGET_WIDTH: usize = 40;

/// A checked invocation.
#[derive(Debug, Clone)]
pub struct ThrottlingPlan {
    /// The test's configuration (the server already resolved).
    pub config: ThrottlingConfig,
    /// JSON lines instead of a table.
    pub json: bool,
    /// Where results are stored, unless `--no-store`.
    pub store_dir: Option<PathBuf>,
}

/// Checks every argument and resolves the server; nothing is measured on error.
pub async fn plan(args: &RunThrottlingArgs) -> Result<ThrottlingPlan, CliError> {
    let passive = args
        .passive
        .iter()
        .map(|text| {
            PassiveTarget::parse(text).map_err(|e| CliError::Usage(format!("--passive: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let targets: Vec<String> = if !args.targets.is_empty() {
        args.targets
            .iter()
            .map(|t| t.trim().to_ascii_lowercase())
            .collect()
    } else if passive.is_empty() {
        DEFAULT_TARGETS.iter().map(|t| t.to_string()).collect()
    } else {
        Vec::new()
    };
    let (server, pin) = match (&args.server, &args.pin) {
        (Some(server), Some(pin)) => (Some(server), Some(pin)),
        (None, None) if targets.is_empty() => (None, None),
        (None, None) => {
            return Err(CliError::Usage(
                "no Kuzet throughput server is configured (there is no public one yet): pass \
                 --server HOST:PORT and --pin sha256/KEY (kuzet-server prints its pin at start), \
                 or measure only --passive URL=BASELINE_URL"
                    .to_string(),
            ))
        }
        (Some(_), None) => {
            return Err(CliError::Usage(
                "--server needs --pin sha256/KEY".to_string(),
            ))
        }
        (None, Some(_)) => {
            return Err(CliError::Usage(
                "--pin needs --server HOST:PORT".to_string(),
            ))
        }
    };
    let pin: SpkiPin = match pin {
        Some(text) => text
            .parse()
            .map_err(|e| CliError::Usage(format!("--pin: {e}")))?,
        // Passive only: the pin is never used.
        None => SpkiPin::of_spki(&[]),
    };
    let server: SocketAddr = match server {
        Some(text) => resolve_server(text).await?,
        None => SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    let mut config = ThrottlingConfig::new(server, pin, targets);
    if let Some(control) = &args.control {
        config.control_sni = control.trim().to_ascii_lowercase();
    }
    config.passive = passive;
    config.passive_options = PassiveOptions {
        resolver: settings::resolver("--resolver", &args.resolver)?,
        trust: settings::trust(args.ca_file.as_ref())?,
        ..PassiveOptions::default()
    };
    config.run_budget = match args.budget_mb {
        Some(mb) => (mb * 1e6) as u64,
        None => DEFAULT_RUN_BUDGET,
    };
    config.software = settings::software();
    config.network = settings::network(&args.probe_cc, &args.probe_asn);
    Ok(ThrottlingPlan {
        config,
        json: args.json,
        store_dir: if args.no_store {
            None
        } else {
            Some(args.store.dir()?)
        },
    })
}

/// `HOST:PORT` to one address, looked up once before anything is timed.
async fn resolve_server(text: &str) -> Result<SocketAddr, CliError> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if !text.contains(':') {
        return Err(CliError::Usage(format!(
            "--server: {text:?} is not HOST:PORT"
        )));
    }
    let lookup = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::net::lookup_host(text.to_string()),
    )
    .await
    .map_err(|_| CliError::Run(format!("--server: looking up {text:?} timed out")))?
    .map_err(|e| CliError::Usage(format!("--server: cannot resolve {text:?}: {e}")))?;
    let addresses: Vec<SocketAddr> = lookup.collect();
    addresses
        .iter()
        .find(|a| a.is_ipv4())
        .or(addresses.first())
        .copied()
        .ok_or_else(|| CliError::Usage(format!("--server: {text:?} has no address")))
}

/// Runs `kuzet run throttling`.
pub async fn execute(args: RunThrottlingArgs) -> Result<(), CliError> {
    let plan = plan(&args).await?;
    let recorder = match &plan.store_dir {
        Some(dir) => Some(Recorder::start(dir.clone(), "throttling", &plan.config.network).await?),
        None => None,
    };
    let total = plan.config.targets.len() + plan.config.passive.len();
    let progress = Progress::new(total);
    let cancel = CancellationToken::new();
    let report = {
        let bar = Arc::new(progress.clone());
        let on_progress = move |event: ThrottlingProgress| match event {
            ThrottlingProgress::Trial {
                target,
                trial,
                planned,
            } => bar.started(&format!("{target}: trial {trial}/{planned}")),
            ThrottlingProgress::Finished { .. } => bar.finished_one(),
        };
        run_throttling(&plan.config, &cancel, &on_progress).await
    };
    progress.clear();
    let report = report.map_err(|error| match error {
        ThrottlingError::InvalidConfig(message) => CliError::Usage(message),
        other => CliError::Run(other.to_string()),
    })?;
    if let Some(recorder) = &recorder {
        for result in &report.results {
            recorder
                .record_measurement(result.measurement.clone(), stored_verdict(result))
                .await?;
        }
        recorder.finish().await?;
    }
    if plan.json {
        for result in &report.results {
            let line = serde_json::to_string(&result.measurement)
                .map_err(|e| CliError::Run(format!("cannot encode a measurement: {e}")))?;
            if write_stdout(&format!("{line}\n"))? == Written::Closed {
                return Ok(());
            }
        }
        eprintln!("{}", format_summary(&report));
    } else {
        write_stdout(&format!(
            "{}\n{}\n",
            format_table(&report.results),
            format_summary(&report)
        ))?;
    }
    Ok(())
}

/// One row per target: verdict, rate against the control, pairs, data, and a sentence.
pub fn format_table(results: &[TargetResult]) -> String {
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|result| {
            let evidence = &result.evidence;
            let kind = match &result.verdict {
                ThrottlingVerdict::Inconclusive { .. } if evidence.blocked.is_some() => "blocked",
                ThrottlingVerdict::Inconclusive { .. } if evidence.intercepted => "intercepted",
                verdict => verdict_kind(verdict),
            };
            vec![
                truncate(&result.input, MAX_TARGET_WIDTH),
                kind.to_string(),
                rate_cell(&result.verdict),
                format!(
                    "{}{}",
                    evidence.pairs,
                    if evidence.escalated {
                        " (escalated)"
                    } else {
                        ""
                    }
                ),
                format_bytes(evidence.bytes_used),
                explain(&result.verdict),
            ]
        })
        .collect();
    columns(
        &[
            "TARGET",
            "VERDICT",
            "RATE (TARGET VS CONTROL)",
            "PAIRS",
            "DATA",
            "EXPLANATION",
        ],
        &rows,
        &[4],
    )
}

fn rate_cell(verdict: &ThrottlingVerdict) -> String {
    match verdict {
        ThrottlingVerdict::Throttled {
            target_kbps,
            control_kbps,
            ..
        } => format!("{target_kbps} vs {control_kbps} kbit/s"),
        ThrottlingVerdict::NotThrottled { median_ratio }
        | ThrottlingVerdict::Suspected { median_ratio } => {
            format!("{:.0}% of control", median_ratio * 100.0)
        }
        ThrottlingVerdict::Stalled { after_bytes } => {
            format!("froze after {}", format_bytes(*after_bytes))
        }
        ThrottlingVerdict::Inconclusive { .. } => "-".to_string(),
    }
}

/// Counts per verdict and the data used.
pub fn format_summary(report: &ThrottlingReport) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for result in &report.results {
        *counts.entry(verdict_kind(&result.verdict)).or_default() += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let mut text = format!(
        "{} measured: {}; {} used",
        report.results.len(),
        if parts.is_empty() {
            "nothing".to_string()
        } else {
            parts.join(", ")
        },
        format_bytes(report.bytes_used)
    );
    if !report.skipped.is_empty() {
        text.push_str(&format!(
            "; {} not measured (data budget used up): {}",
            report.skipped.len(),
            report.skipped.join(", ")
        ));
    }
    if report.cancelled {
        text.push_str("; cancelled");
    }
    text
}

/// The stored verdict: throttled, stalled and blocked are `blocked`; suspected and
/// inconclusive an `anomaly`; not throttled `ok`. The detail is `x_throttling`.
pub fn stored_verdict(result: &TargetResult) -> Verdict {
    let kind = match &result.verdict {
        ThrottlingVerdict::NotThrottled { .. } => VerdictKind::Ok,
        ThrottlingVerdict::Throttled { .. } | ThrottlingVerdict::Stalled { .. } => {
            VerdictKind::Blocked
        }
        ThrottlingVerdict::Inconclusive { .. } if result.evidence.blocked.is_some() => {
            VerdictKind::Blocked
        }
        ThrottlingVerdict::Suspected { .. } | ThrottlingVerdict::Inconclusive { .. } => {
            VerdictKind::Anomaly
        }
    };
    Verdict {
        kind,
        target: result.input.clone(),
        failure: result.evidence.blocked.clone(),
        detail: result.measurement.test_keys["x_throttling"].clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> RunThrottlingArgs {
        let mut argv = vec!["kuzet", "run", "throttling", "--no-store"];
        argv.extend_from_slice(extra);
        match crate::args::Cli::try_parse_from(argv).unwrap().command {
            crate::args::Command::Run(run) => match run.suite {
                crate::args::Suite::Throttling(args) => args,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn without_a_server_it_says_what_is_needed() {
        let error = plan(&args(&[])).await.unwrap_err();
        assert!(matches!(error, CliError::Usage(_)));
        assert!(error.to_string().contains("--server") && error.to_string().contains("--pin"));
        let error = plan(&args(&["--server", "127.0.0.1:1"])).await.unwrap_err();
        assert!(error.to_string().contains("--pin"), "{error}");
        let error = plan(&args(&["--server", "127.0.0.1:1", "--pin", "sha256/x"]))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("--pin"), "{error}");
    }

    #[tokio::test]
    async fn a_full_invocation_plans() {
        let pin = SpkiPin::of_spki(b"k").to_string();
        let plan = plan(&args(&[
            "--server",
            "127.0.0.1:4443",
            "--pin",
            &pin,
            "--targets",
            "a.example,B.example",
            "--control",
            "c.example",
            "--budget-mb",
            "3",
        ]))
        .await
        .unwrap();
        assert_eq!(plan.config.targets, vec!["a.example", "b.example"]);
        assert_eq!(plan.config.control_sni, "c.example");
        assert_eq!(plan.config.run_budget, 3_000_000);
        assert_eq!(plan.config.server.port(), 4443);
        // Passive only needs no server.
        let plan = super::plan(&args(&[
            "--passive",
            "https://a.example/=https://b.example/",
        ]))
        .await
        .unwrap();
        assert!(plan.config.targets.is_empty());
        assert_eq!(plan.config.passive.len(), 1);
    }
}
