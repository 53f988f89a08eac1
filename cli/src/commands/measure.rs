//! `kuzet measure`: single URLs fetched step by step (urlgetter), printed as a table or as OONI
//! JSON lines in input order, each as soon as it and every URL before it are done. A client of
//! the one run path: the run records each result before it is printed, and Ctrl-C keeps what
//! finished.
//!
//! Everything the user gave is checked first ([`plan`]); if anything is wrong, nothing is
//! measured.

use std::time::Duration;

use kuzet_core::session::Suite;

use crate::args::{CheckArgs, MeasureArgs};
use crate::client;
use crate::commands::store_open::{upload_after_measure, UploadTarget};
use crate::error::CliError;
use crate::input::gather_urls;
use crate::output::table::{format_summary, format_table, Row, Totals};
use crate::output::{write_stdout, Written};
use crate::plan::Draft;
use crate::settings;

/// How long `kuzet measure --upload` spends uploading at most.
pub const UPLOAD_MAX_TIME: Duration = Duration::from_secs(120);

/// Checks every argument and input (URLs, URL files, resolver, CA file) and builds the plan's
/// draft. The error names the culprit; nothing has been measured when it is returned.
pub fn plan(args: &MeasureArgs) -> Result<Draft, CliError> {
    let urls = gather_urls(&args.urls, &args.files)?;
    let mut draft = Draft::new(&args.settings, &CheckArgs::default())?;
    draft.budget(&args.budget);
    draft.targets.urls = urls.into_iter().map(|url| url.text).collect();
    Ok(draft)
}

/// The collector `--upload` delivers to, checked.
fn upload_target(args: &MeasureArgs) -> Result<Option<UploadTarget>, CliError> {
    if !args.upload {
        return Ok(None);
    }
    let collector = args
        .collector
        .clone()
        .unwrap_or_else(|| kuzet_core::upload::DEFAULT_COLLECTOR.to_string());
    kuzet_core::upload::protocol::collector_base(&collector)
        .map_err(|e| CliError::Usage(format!("--collector: {e}")))?;
    Ok(Some(UploadTarget {
        collector,
        trust: settings::trust(args.settings.ca_file.as_ref())?,
        max_time: UPLOAD_MAX_TIME,
    }))
}

/// Runs `kuzet measure`: checks, measures, prints.
pub async fn execute(args: MeasureArgs) -> Result<(), CliError> {
    let draft = plan(&args)?;
    let upload = upload_target(&args)?;
    let plan = draft.plan(&args.output).await?;
    let store = plan.store.clone();
    let json = args.output.json;
    let finished = client::run(plan, json).await?;
    if finished.output_closed {
        return Ok(());
    }
    let rows: Vec<Row> = finished
        .reported
        .iter()
        .filter(|r| r.result.suite() == Suite::Urls)
        .map(|r| Row::from_result(&r.result))
        .chain(
            finished
                .summary
                .not_measured
                .iter()
                .map(|n| Row::not_measured(&n.target)),
        )
        .collect();
    let totals = Totals::of(&rows);
    let summary = format_summary(&totals);
    if json {
        eprintln!("{summary}");
    } else if write_stdout(&format!("{}{summary}\n", format_table(&rows)))? == Written::Closed {
        return Ok(());
    }
    finished.ending()?;
    if let (Some(store), Some(target)) = (store, &upload) {
        upload_after_measure(store, target).await?;
    }
    if totals.errors > 0 {
        return Err(CliError::Run(format!(
            "{} of {} URLs could not be measured",
            totals.errors,
            rows.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;
    use kuzet_core::experiment::urlgetter::Timeouts;
    use kuzet_core::probe::dns::DnsTransport;
    use kuzet_core::report::ProbeNetwork;
    use std::io::Write;
    use std::time::Duration;

    fn measure_args(args: &[&str]) -> MeasureArgs {
        let cli = Cli::try_parse_from(["kuzet", "measure"].iter().chain(args)).expect("parses");
        match cli.command {
            Command::Measure(args) => args,
            other => panic!("not `measure`: {other:?}"),
        }
    }

    fn usage_error(args: &[&str]) -> String {
        match plan(&measure_args(args)) {
            Err(CliError::Usage(message)) => message,
            Err(other) => panic!("expected a usage error, got {other:?}"),
            Ok(_) => panic!("expected a usage error, got a plan"),
        }
    }

    #[test]
    fn defaults_become_the_config() {
        let draft = plan(&measure_args(&["https://a.example/"])).expect("valid");
        assert_eq!(draft.targets.urls.len(), 1);
        assert_eq!(draft.setup.urls.resolver, DnsTransport::System);
        assert_eq!(draft.setup.urls.timeouts, Timeouts::default());
        assert_eq!(draft.setup.probe_network, ProbeNetwork::default());
        assert_eq!(draft.setup.software.name, "kuzet-cli");
        assert_eq!(draft.limits.parallelism, 4);
        assert!(!draft.targets.needs_network_check());
    }

    #[test]
    fn options_become_the_config() {
        let plan = plan(&measure_args(&[
            "--timeout",
            "3",
            "--dns-timeout",
            "1.5",
            "--resolver",
            "udp://9.9.9.9:5353",
            "--probe-cc",
            "KZ",
            "--probe-asn",
            "AS9198",
            "--parallel",
            "2",
            "--json",
            "http://a.example/",
        ]))
        .expect("valid");
        let t = &plan.setup.urls.timeouts;
        assert_eq!(t.dns, Duration::from_millis(1500));
        assert_eq!(
            (t.connect, t.tls, t.http),
            (
                Duration::from_secs(3),
                Duration::from_secs(3),
                Duration::from_secs(3)
            )
        );
        assert_eq!(
            plan.setup.urls.resolver,
            DnsTransport::Udp {
                server: "9.9.9.9:5353".parse().expect("addr")
            }
        );
        assert_eq!(plan.setup.probe_network.probe_cc, "KZ");
        assert_eq!(plan.setup.probe_network.probe_asn, "AS9198");
        assert_eq!(plan.setup.probe_network.resolver_asn, "AS0");
        assert_eq!(plan.limits.parallelism, 2);
    }

    #[test]
    fn bad_resolver_is_named() {
        let message = usage_error(&["--resolver", "pigeon://coop", "http://a.example/"]);
        assert!(message.starts_with("--resolver:"), "{message}");
        assert!(message.contains("pigeon://coop"), "{message}");
    }

    #[test]
    fn bad_ca_files_are_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("missing.pem");
        let missing = missing.to_str().expect("utf-8 path");
        let message = usage_error(&["--ca-file", missing, "http://a.example/"]);
        assert!(
            message.starts_with("--ca-file:") && message.contains(missing),
            "{message}"
        );

        let mut garbage = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(garbage, "this is not a certificate").expect("write");
        let path = garbage.path().to_str().expect("utf-8 path");
        let message = usage_error(&["--ca-file", path, "http://a.example/"]);
        assert!(
            message.starts_with("--ca-file:") && message.contains(path),
            "{message}"
        );
    }

    #[test]
    fn urls_are_checked_before_the_rest() {
        let message = usage_error(&[
            "--resolver",
            "pigeon://coop",
            "http://a.example/",
            "ftp://x",
        ]);
        assert!(message.contains("ftp://x"), "{message}");
        let message = usage_error(&[]);
        assert!(message.contains("no URL"), "{message}");
    }
}
