//! `kuzet measure`: measure URLs now with `urlgetter` and print a table or OONI JSON lines.
//!
//! Everything the user gave is checked first ([`plan`]); if anything is wrong, nothing is
//! measured. Then URLs are measured `--parallel` at a time and printed in input order, each
//! JSON line as soon as it and every URL before it are done.

use std::sync::Arc;

use kuzet_core::experiment::urlgetter::{measure_url, UrlGetterConfig, UrlGetterResult};
use time::OffsetDateTime;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::{AbortHandle, JoinError, JoinHandle};
use tracing::{debug, info};

use crate::args::MeasureArgs;
use crate::commands::store_open::{upload_after_measure, Recorder, UploadTarget};
use crate::error::CliError;
use crate::input::{gather_urls, InputUrl};
use crate::output::progress::Progress;
use crate::output::table::{format_summary, format_table, Outcome, Row, Totals};
use crate::output::{write_stdout, Written};
use crate::settings;

/// A checked `kuzet measure` invocation, ready to run.
#[derive(Debug, Clone)]
pub struct MeasurePlan {
    /// The URLs, in the order they are reported.
    pub urls: Vec<InputUrl>,
    /// How each URL is measured.
    pub config: UrlGetterConfig,
    /// How many URLs are measured at the same time.
    pub parallel: usize,
    /// JSON lines instead of a table.
    pub json: bool,
    /// Where to store the measurements (`None` with `--no-store`).
    pub store_dir: Option<std::path::PathBuf>,
    /// Where to upload them afterwards (`--upload`).
    pub upload: Option<UploadTarget>,
}

/// How long `kuzet measure --upload` spends uploading at most.
pub const UPLOAD_MAX_TIME: std::time::Duration = std::time::Duration::from_secs(120);

/// Checks every argument and input (URLs, URL files, resolver, CA file) and builds the plan.
/// The error names the culprit; nothing has been measured when it is returned.
pub fn plan(args: &MeasureArgs) -> Result<MeasurePlan, CliError> {
    let urls = gather_urls(&args.urls, &args.files)?;
    let resolver = settings::resolver("--resolver", &args.resolver)?;
    let trust = settings::trust(args.ca_file.as_ref())?;
    let timeouts = settings::timeouts(args.timeout, args.dns_timeout);
    let network = settings::network(&args.probe_cc, &args.probe_asn);
    let software = settings::software();
    let store_dir = if args.no_store {
        None
    } else {
        Some(args.store.dir()?)
    };
    let upload = match args.upload {
        false => None,
        true => {
            let collector = args
                .collector
                .clone()
                .unwrap_or_else(|| kuzet_core::upload::DEFAULT_COLLECTOR.to_string());
            kuzet_core::upload::protocol::collector_base(&collector)
                .map_err(|e| CliError::Usage(format!("--collector: {e}")))?;
            Some(UploadTarget {
                collector,
                trust: trust.clone(),
                max_time: UPLOAD_MAX_TIME,
            })
        }
    };
    Ok(MeasurePlan {
        urls,
        config: UrlGetterConfig {
            resolver,
            timeouts,
            trust,
            software,
            network,
            ..UrlGetterConfig::default()
        },
        parallel: args.parallel,
        json: args.json,
        store_dir,
        upload,
    })
}

/// Runs `kuzet measure`: checks, measures, prints.
pub async fn execute(args: MeasureArgs) -> Result<(), CliError> {
    let plan = plan(&args)?;
    let progress = Progress::new(plan.urls.len());
    run(plan, progress).await
}

type Task = JoinHandle<kuzet_core::Result<UrlGetterResult>>;

/// The measurements of one run, started in input order at most `parallel` at a time, handed
/// over in the same order. Dropping it (when the run stops early: closed output, an error)
/// aborts every measurement not yet collected.
struct Launcher {
    launcher: JoinHandle<()>,
    tasks: mpsc::UnboundedReceiver<Task>,
    running: Option<AbortHandle>,
}

impl Launcher {
    /// Starts measuring `urls` with `config`.
    fn start(
        urls: Vec<String>,
        config: Arc<UrlGetterConfig>,
        parallel: usize,
        progress: Progress,
    ) -> Launcher {
        let test_start_time = OffsetDateTime::now_utc();
        let permits = Arc::new(Semaphore::new(parallel));
        let (sender, tasks) = mpsc::unbounded_channel();
        // Permits are taken here, before each spawn, so URLs start in input order (a slow URL
        // does not hold back later ones beyond its own slot).
        let launcher = tokio::spawn(async move {
            for url in urls {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let (config, progress) = (config.clone(), progress.clone());
                let task = tokio::spawn(async move {
                    progress.started(&url);
                    let result = measure_url(&config, &url, test_start_time).await;
                    progress.finished_one();
                    drop(permit);
                    result
                });
                if sender.send(task).is_err() {
                    return;
                }
            }
        });
        Launcher {
            launcher,
            tasks,
            running: None,
        }
    }

    /// The next URL's measurement, in input order; `None` once all were handed over.
    async fn next(&mut self) -> Option<Result<kuzet_core::Result<UrlGetterResult>, JoinError>> {
        let task = self.tasks.recv().await?;
        self.running = Some(task.abort_handle());
        let result = task.await;
        self.running = None;
        Some(result)
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        self.launcher.abort();
        if let Some(running) = &self.running {
            running.abort();
        }
        self.tasks.close();
        while let Ok(task) = self.tasks.try_recv() {
            task.abort();
        }
    }
}

/// Measures the plan's URLs and prints them, driving `progress`. A URL that failed to load is
/// a result; `Err` means the run did not complete (output failed, or some URL could not be
/// measured at all).
pub async fn run(plan: MeasurePlan, progress: Progress) -> Result<(), CliError> {
    let total = plan.urls.len();
    info!(
        urls = total,
        parallel = plan.parallel,
        resolver = plan.config.resolver.engine(),
        "measuring"
    );
    // Each measurement is stored (durably) before it is printed: what was reported as done is
    // never lost, whenever the process dies.
    let recorder = match &plan.store_dir {
        Some(dir) => Some(
            Recorder::start(
                dir.clone(),
                kuzet_core::experiment::urlgetter::TEST_NAME,
                &plan.config.network,
            )
            .await?,
        ),
        None => None,
    };
    let texts = plan.urls.iter().map(|url| url.text.clone()).collect();
    let mut launcher = Launcher::start(
        texts,
        Arc::new(plan.config),
        plan.parallel,
        progress.clone(),
    );

    let mut rows = Vec::with_capacity(total);
    for (index, url) in plan.urls.iter().enumerate() {
        let Some(outcome) = launcher.next().await else {
            return Err(CliError::Run(
                "the measurements stopped unexpectedly".to_string(),
            ));
        };
        let row = match outcome {
            Ok(Ok(result)) => {
                if let Some(recorder) = &recorder {
                    recorder.record(&result).await?;
                }
                if plan.json {
                    let line = serde_json::to_string(&result.measurement).map_err(|e| {
                        CliError::Run(format!(
                            "cannot encode the measurement of {}: {e}",
                            url.text
                        ))
                    })?;
                    if progress.suspend(|| write_stdout(&format!("{line}\n")))? == Written::Closed {
                        debug!("standard output closed; stopping");
                        progress.clear();
                        return Ok(());
                    }
                }
                Row::from_summary(&result.summary)
            }
            Ok(Err(e)) => Row::error(&url.text, &e.to_string()),
            Err(e) => Row::error(
                &url.text,
                if e.is_panic() {
                    "the measurement crashed"
                } else {
                    "the measurement was cancelled"
                },
            ),
        };
        // Neither the URL nor the failure text is logged: both may hold IP addresses.
        debug!(
            index,
            result = row.outcome.as_str(),
            step = row.failed_step.as_deref().unwrap_or("-"),
            "measured"
        );
        if plan.json && row.outcome == Outcome::Error {
            let message = row.failure.clone().unwrap_or_default();
            progress.suspend(|| eprintln!("kuzet: warning: not measured: {message}"));
        }
        rows.push(row);
    }
    progress.clear();

    let totals = Totals::of(&rows);
    let summary = format_summary(&totals);
    if plan.json {
        eprintln!("{summary}");
    } else if write_stdout(&format!("{}{summary}\n", format_table(&rows)))? == Written::Closed {
        return Ok(());
    }
    if let Some(recorder) = &recorder {
        recorder.finish().await?;
        if let Some(target) = &plan.upload {
            upload_after_measure(recorder.store().clone(), target).await?;
        }
    }
    if totals.errors > 0 {
        return Err(CliError::Run(format!(
            "{} of {total} URLs could not be measured",
            totals.errors
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
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_become_the_config() {
        let plan = plan(&measure_args(&["https://a.example/"])).expect("valid");
        assert_eq!(plan.urls.len(), 1);
        assert_eq!(plan.config.resolver, DnsTransport::System);
        assert_eq!(plan.config.timeouts, Timeouts::default());
        assert_eq!(plan.config.network, ProbeNetwork::default());
        assert_eq!(plan.config.software.name, "kuzet-cli");
        assert_eq!(plan.parallel, 4);
        assert!(!plan.json);
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
        let t = &plan.config.timeouts;
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
            plan.config.resolver,
            DnsTransport::Udp {
                server: "9.9.9.9:5353".parse().expect("addr")
            }
        );
        assert_eq!(plan.config.network.probe_cc, "KZ");
        assert_eq!(plan.config.network.probe_asn, "AS9198");
        assert_eq!(plan.config.network.resolver_asn, "AS0");
        assert_eq!(plan.parallel, 2);
        assert!(plan.json);
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
