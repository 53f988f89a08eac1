//! `kuzet run web`: web connectivity over a test list, with a verdict per URL, printed as a
//! table grouped by verdict or as OONI JSON lines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kuzet_core::experiment::web_connectivity::{
    measure_websites, ProgressEvent, RunLimits, RunReport, SkipReason, TargetUrl, Timeouts,
    WebConnectivityConfig, WebConnectivityResult,
};
use kuzet_core::testlists::TestList;
use kuzet_core::th::{BogonPolicy, IpNet};
use url::Url;

use crate::args::RunWebArgs;
use crate::commands::store_open::{web_verdict, Recorder};
use crate::error::CliError;
use crate::output::progress::Progress;
use crate::output::table::{format_bytes, truncate};
use crate::output::{write_stdout, Written};
use crate::settings;

/// The widest URL column before URLs are cut with an ellipsis.
const MAX_URL_WIDTH: usize = 48;

/// A checked `kuzet run web` invocation.
#[derive(Debug, Clone)]
pub struct WebPlan {
    /// The URLs, in list order.
    pub targets: Vec<TargetUrl>,
    /// Where they came from, with attribution for bundled lists.
    pub list_source: String,
    /// How each URL is measured.
    pub config: WebConnectivityConfig,
    /// Concurrency and budgets.
    pub limits: RunLimits,
    /// JSON lines instead of a table.
    pub json: bool,
    /// Where results are stored, unless `--no-store`.
    pub store_dir: Option<PathBuf>,
}

/// Checks every argument and input and builds the plan; nothing is measured on error.
pub fn plan(args: &RunWebArgs) -> Result<WebPlan, CliError> {
    let list = load_list(&args.list)?.filter_categories(&args.categories);
    let list = match args.limit {
        Some(limit) => list.truncate(limit),
        None => list,
    };
    if list.entries.is_empty() {
        return Err(CliError::Usage(format!(
            "no URL to measure in {} with the categories given",
            list.source
        )));
    }
    let th_url = args
        .th
        .as_deref()
        .map(|text| {
            Url::parse(text)
                .ok()
                .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
                .ok_or_else(|| CliError::Usage(format!("--th: {text:?} is not an http(s) URL")))
        })
        .transpose()?;
    let public_networks = args
        .public_networks
        .iter()
        .map(|text| {
            text.parse::<IpNet>()
                .map_err(|e| CliError::Usage(format!("--public-network {text:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bogons = BogonPolicy {
        public_networks,
        ..BogonPolicy::default()
    };
    let config = WebConnectivityConfig {
        resolver: settings::resolver("--resolver", &args.resolver)?,
        udp_resolver: args
            .udp_resolver
            .as_deref()
            .map(|spec| settings::resolver("--udp-resolver", spec))
            .transpose()?,
        doh_resolver: args
            .doh_resolver
            .as_deref()
            .map(|spec| settings::resolver("--doh-resolver", spec))
            .transpose()?,
        th_url,
        timeouts: Timeouts::from_steps(settings::timeouts(args.timeout, args.dns_timeout)),
        trust: settings::trust(args.ca_file.as_ref())?,
        software: settings::software(),
        network: settings::network(&args.probe_cc, &args.probe_asn),
        bogons,
        ..WebConnectivityConfig::default()
    };
    Ok(WebPlan {
        targets: list
            .entries
            .into_iter()
            .map(|entry| TargetUrl {
                url: entry.url,
                category_code: (!entry.category_code.is_empty()).then_some(entry.category_code),
            })
            .collect(),
        list_source: list.source,
        config,
        limits: RunLimits {
            concurrency: args.parallel,
            total_time: args.max_time,
            byte_budget: args.max_mib.saturating_mul(1024 * 1024),
        },
        json: args.json,
        store_dir: if args.no_store {
            None
        } else {
            Some(args.store.dir()?)
        },
    })
}

fn load_list(name: &str) -> Result<TestList, CliError> {
    let loaded = match name {
        "kz" | "global" => TestList::bundled(name),
        path => TestList::from_file(Path::new(path)),
    };
    loaded.map_err(|e| CliError::Usage(format!("--list: {e}")))
}

/// Runs `kuzet run web`.
pub async fn execute(args: RunWebArgs) -> Result<(), CliError> {
    let plan = plan(&args)?;
    if plan.list_source.starts_with("bundled:") {
        eprintln!("{}", kuzet_core::testlists::bundled::ATTRIBUTION);
    }
    if plan.config.th_url.is_none() {
        eprintln!("kuzet: warning: no --th test helper: most verdicts will be `undetermined`");
    }
    // The store is opened before measuring, so a damaged or unwritable store stops the run
    // before any traffic.
    let recorder = match &plan.store_dir {
        Some(dir) => {
            Some(Recorder::start(dir.clone(), "web_connectivity", &plan.config.network).await?)
        }
        None => None,
    };
    let progress = Progress::new(plan.targets.len());
    let report = {
        let progress = Arc::new(progress.clone());
        measure_websites(
            &plan.config,
            plan.targets,
            plan.limits,
            move |event| match event {
                ProgressEvent::Started { url, .. } => progress.started(&url),
                ProgressEvent::Finished { .. }
                | ProgressEvent::Invalid { .. }
                | ProgressEvent::Skipped { .. } => progress.finished_one(),
            },
        )
        .await
    };
    progress.clear();
    if let Some(recorder) = &recorder {
        for result in &report.results {
            recorder
                .record_measurement(result.measurement.clone(), web_verdict(result))
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
        eprintln!("{}", format_web_summary(&report));
    } else {
        let text = format!(
            "{}\n{}\n",
            format_web_table(&report.results),
            format_web_summary(&report)
        );
        write_stdout(&text)?;
    }
    if !report.invalid.is_empty() {
        return Err(CliError::Run(format!(
            "{} URL(s) could not be measured: {}",
            report.invalid.len(),
            report
                .invalid
                .iter()
                .map(|e| format!("{} ({})", e.target.url, e.error))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

/// One line per URL, grouped by verdict (blocked kinds first, then the rest), URLs in list
/// order within a group.
pub fn format_web_table(results: &[WebConnectivityResult]) -> String {
    let mut rows: Vec<(usize, &str, String, String, String)> = results
        .iter()
        .map(|result| {
            let kind = result.verdict.kind();
            (
                group_rank(kind),
                kind,
                truncate(&result.summary.url, MAX_URL_WIDTH),
                result.verdict.to_string(),
                format!("{:.0} ms", result.measurement.test_runtime * 1000.0),
            )
        })
        .collect();
    rows.sort_by_key(|row| row.0);
    let headers = ("VERDICT", "URL", "DETAIL", "TIME");
    let width = |pick: fn(&(usize, &str, String, String, String)) -> usize, header: &str| {
        rows.iter()
            .map(pick)
            .max()
            .unwrap_or(0)
            .max(header.chars().count())
    };
    let w_kind = width(|r| r.1.chars().count(), headers.0);
    let w_url = width(|r| r.2.chars().count(), headers.1);
    let w_detail = width(|r| r.3.chars().count(), headers.2);
    let mut out = format!(
        "{:<w_kind$}  {:<w_url$}  {:<w_detail$}  {:>8}",
        headers.0, headers.1, headers.2, headers.3
    );
    for (_, kind, url, detail, time) in &rows {
        out.push_str(&format!(
            "\n{kind:<w_kind$}  {url:<w_url$}  {detail:<w_detail$}  {time:>8}"
        ));
    }
    out
}

/// Counts per verdict, what was skipped and why, and the data used.
pub fn format_web_summary(report: &RunReport) -> String {
    let mut counts: BTreeMap<(usize, &str), usize> = BTreeMap::new();
    for result in &report.results {
        let kind = result.verdict.kind();
        *counts.entry((group_rank(kind), kind)).or_default() += 1;
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|((_, kind), n)| format!("{n} {kind}"))
        .collect();
    let mut text = format!(
        "{} measured: {}; {} used in {:.1} s",
        report.results.len(),
        if parts.is_empty() {
            "nothing".to_string()
        } else {
            parts.join(", ")
        },
        format_bytes(report.bytes_used),
        report.elapsed.as_secs_f64()
    );
    if !report.skipped.is_empty() {
        let why = match report.stopped_by {
            Some(SkipReason::TimeBudget) => "time budget used up",
            Some(SkipReason::ByteBudget) => "data budget used up",
            None => "budget used up",
        };
        text.push_str(&format!("; {} not started ({why})", report.skipped.len()));
    }
    text
}

/// Blocked kinds first, then undetermined, site down, ok.
fn group_rank(kind: &str) -> usize {
    match kind {
        "dns_tampered" => 0,
        "tcp_blocked" => 1,
        "tls_blocked" => 2,
        "tls_mitm" => 3,
        "http_blockpage" => 4,
        "http_failure" => 5,
        "undetermined" => 6,
        "site_down" => 7,
        "ok" => 8,
        _ => 9,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> RunWebArgs {
        let mut argv = vec!["kuzet", "run", "web"];
        argv.extend_from_slice(extra);
        match crate::args::Cli::try_parse_from(argv).unwrap().command {
            crate::args::Command::Run(run) => match run.suite {
                crate::args::Suite::Web(args) => args,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_bundled_kz_list_is_the_default_and_filters_apply() {
        let plan = plan(&args(&["--category", "NEWS,HUMR", "--limit", "5"])).unwrap();
        assert_eq!(plan.targets.len(), 5);
        assert!(plan
            .targets
            .iter()
            .all(|t| matches!(t.category_code.as_deref(), Some("NEWS") | Some("HUMR"))));
        assert_eq!(plan.list_source, "bundled:kz");
        assert_eq!(plan.limits.concurrency, crate::args::DEFAULT_WEB_PARALLEL);
    }

    #[test]
    fn bad_inputs_name_their_flag() {
        for (argv, flag) in [
            (vec!["--th", "ftp://x/"], "--th"),
            (vec!["--resolver", "udp://name"], "--resolver"),
            (vec!["--public-network", "10.0.0.0/99"], "--public-network"),
            (vec!["--list", "/no/such/file"], "--list"),
            (vec!["--category", "NOPE"], "no URL"),
        ] {
            let error = plan(&args(&argv)).unwrap_err();
            assert!(matches!(error, CliError::Usage(_)));
            assert!(error.to_string().contains(flag), "{error}");
        }
    }

    #[test]
    fn budgets_parse() {
        let plan = plan(&args(&["--max-time", "30", "--max-mib", "2"])).unwrap();
        assert_eq!(plan.limits.total_time.as_secs(), 30);
        assert_eq!(plan.limits.byte_budget, 2 * 1024 * 1024);
        assert!(crate::args::parse_budget_seconds("0").is_err());
    }

    #[test]
    fn groups_put_blocking_first() {
        assert!(group_rank("dns_tampered") < group_rank("undetermined"));
        assert!(group_rank("undetermined") < group_rank("ok"));
    }
}
