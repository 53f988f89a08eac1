//! `kuzet run messaging`: can WhatsApp, Telegram, Signal and Facebook Messenger reach their
//! servers from here? One OONI measurement per app (`whatsapp`, `telegram`, `signal`,
//! `facebook_messenger`), printed as a table or as JSON lines, and stored.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use kuzet_core::experiment::messaging::{
    measure_app, App, AppResult, AppStatus, MessagingConfig, MessagingEndpoints, MessagingError,
};
use kuzet_core::store::{Verdict, VerdictKind};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::store_open::{columns, Recorder, StoreArgs};
use crate::args::{parse_probe_asn, parse_probe_cc, parse_timeout};
use crate::error::CliError;
use crate::output::progress::Progress;
use crate::output::table::format_bytes;
use crate::output::{write_stdout, Written};
use crate::settings;

/// Arguments of `kuzet run messaging`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
APPS: whatsapp, telegram, signal, facebook_messenger (all by default). Endpoints default to the \
real services' (from OONI's probe-cli); --endpoints FILE takes JSON with any of the keys \
whatsapp, telegram, signal, facebook_messenger (see core/src/experiment/messaging/endpoints.rs).

Exit status: 0 when every app was measured (blocked apps are results, not errors), 1 when the \
run could not complete, 2 for bad arguments (nothing is measured).")]
pub struct RunMessagingArgs {
    /// The apps to test, comma-separated.
    #[arg(long, value_name = "APP,...", value_delimiter = ',')]
    pub apps: Vec<String>,

    /// The apps' endpoints as JSON (tests, self-hosted mirrors) instead of the real ones.
    #[arg(long, value_name = "FILE")]
    pub endpoints: Option<PathBuf>,

    /// The resolver for every lookup.
    #[arg(long, value_name = "SPEC", default_value = "system")]
    pub resolver: String,

    /// Also trust the CA certificates in this PEM file (lab and self-hosted servers).
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// Timeout in seconds of each TCP connect, TLS handshake and HTTP round trip [default: 5].
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,

    /// The probe's country (ISO 3166 alpha-2, e.g. KZ); ZZ means unknown.
    #[arg(long = "probe-cc", value_name = "CC", default_value = "ZZ", value_parser = parse_probe_cc)]
    pub probe_cc: String,

    /// The probe's network (e.g. AS9198); AS0 means unknown.
    #[arg(long = "probe-asn", value_name = "ASN", default_value = "AS0", value_parser = parse_probe_asn)]
    pub probe_asn: String,

    /// Print one OONI measurement per line (JSON) instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Where results and measurements are kept.
    #[command(flatten)]
    pub store: StoreArgs,

    /// Keep nothing: the measurements are printed only, never stored nor queued for upload.
    #[arg(long = "no-store")]
    pub no_store: bool,
}

/// A checked invocation.
#[derive(Debug, Clone)]
pub struct MessagingPlan {
    /// The experiments' configuration.
    pub config: MessagingConfig,
    /// JSON lines instead of a table.
    pub json: bool,
    /// Where results are stored, unless `--no-store`.
    pub store_dir: Option<PathBuf>,
}

/// Checks the arguments and reads the endpoints file; nothing is measured.
pub fn plan(args: &RunMessagingArgs) -> Result<MessagingPlan, CliError> {
    let mut config = MessagingConfig::default();
    if !args.apps.is_empty() {
        let mut apps = Vec::new();
        for name in &args.apps {
            let app: App = name
                .parse()
                .map_err(|e: MessagingError| CliError::Usage(format!("--apps: {e}")))?;
            if !apps.contains(&app) {
                apps.push(app);
            }
        }
        config.apps = apps;
    }
    if let Some(path) = &args.endpoints {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::Usage(format!("--endpoints: cannot read {}: {e}", path.display()))
        })?;
        config.endpoints = MessagingEndpoints::from_json(&text)
            .map_err(|e| CliError::Usage(format!("--endpoints {}: {e}", path.display())))?;
    }
    config.resolver = settings::resolver("--resolver", &args.resolver)?;
    config.trust = settings::trust(args.ca_file.as_ref())?;
    if let Some(timeout) = args.timeout {
        config.timeouts.connect = timeout;
        config.timeouts.tls = timeout;
        config.timeouts.http = timeout;
    }
    config.software = settings::software();
    config.network = settings::network(&args.probe_cc, &args.probe_asn);
    config
        .validate()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    Ok(MessagingPlan {
        config,
        json: args.json,
        store_dir: if args.no_store {
            None
        } else {
            Some(args.store.dir()?)
        },
    })
}

/// Runs `kuzet run messaging`.
pub async fn execute(args: RunMessagingArgs) -> Result<(), CliError> {
    let plan = plan(&args)?;
    let recorder = match &plan.store_dir {
        Some(dir) => Some(Recorder::start(dir.clone(), "messaging", &plan.config.network).await?),
        None => None,
    };
    let progress = Progress::new(plan.config.apps.len());
    let cancel = CancellationToken::new();
    let test_start_time = OffsetDateTime::now_utc();
    let mut results = Vec::new();
    for &app in &plan.config.apps {
        progress.started(app.display_name());
        let result = measure_app(&plan.config, app, test_start_time, &cancel).await;
        progress.finished_one();
        let result = result.map_err(|error| match error {
            MessagingError::InvalidConfig(message) => CliError::Usage(message),
            other => CliError::Run(other.to_string()),
        })?;
        if let Some(recorder) = &recorder {
            recorder
                .record_measurement(result.measurement.clone(), stored_verdict(&result))
                .await?;
        }
        results.push(result);
    }
    progress.clear();
    if let Some(recorder) = &recorder {
        recorder.finish().await?;
    }
    if plan.json {
        for result in &results {
            let line = serde_json::to_string(&result.measurement)
                .map_err(|e| CliError::Run(format!("cannot encode a measurement: {e}")))?;
            if write_stdout(&format!("{line}\n"))? == Written::Closed {
                return Ok(());
            }
        }
    } else {
        write_stdout(&format!("{}\n", format_table(&results)))?;
    }
    Ok(())
}

/// One row per app: status, blocked step, failing endpoints, data, and a sentence.
pub fn format_table(results: &[AppResult]) -> String {
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|result| {
            vec![
                result.app.test_name().to_string(),
                result.verdict.status.as_str().to_string(),
                result
                    .verdict
                    .step
                    .map_or("-".to_string(), |step| step.as_str().to_string()),
                format!(
                    "{}/{}",
                    result.verdict.failing.len(),
                    result.verdict.checked
                ),
                format_bytes(result.bytes_received),
                result.explanation.clone(),
            ]
        })
        .collect();
    columns(
        &[
            "APP",
            "STATUS",
            "BLOCKED AT",
            "FAILING",
            "DATA",
            "EXPLANATION",
        ],
        &rows,
        &[3, 4],
    )
}

/// The stored verdict: blocked is `blocked`, partially blocked an `anomaly`, ok `ok`; the
/// detail is Kuzet's verdict keys.
pub fn stored_verdict(result: &AppResult) -> Verdict {
    let kind = match result.verdict.status {
        AppStatus::Ok => VerdictKind::Ok,
        AppStatus::Blocked => VerdictKind::Blocked,
        AppStatus::PartiallyBlocked => VerdictKind::Anomaly,
    };
    let keys = &result.measurement.test_keys;
    Verdict {
        kind,
        target: result.app.test_name().to_string(),
        failure: result.verdict.failure.as_ref().map(ToString::to_string),
        detail: serde_json::json!({
            "x_status": keys["x_status"],
            "x_blocked_step": keys["x_blocked_step"],
            "x_failing_endpoints": keys["x_failing_endpoints"],
            "explanation": result.explanation,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> RunMessagingArgs {
        let mut argv = vec!["kuzet", "run", "messaging", "--no-store"];
        argv.extend_from_slice(extra);
        match crate::args::Cli::try_parse_from(argv).unwrap().command {
            crate::args::Command::Run(run) => match run.suite {
                crate::args::Suite::Messaging(args) => args,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn apps_parse_and_unknown_ones_are_refused() {
        let plan = plan(&args(&["--apps", "signal,whatsapp,signal"])).unwrap();
        assert_eq!(plan.config.apps, vec![App::Signal, App::WhatsApp]);
        assert_eq!(plan.config.endpoints, MessagingEndpoints::default());
        let error = super::plan(&args(&["--apps", "icq"])).unwrap_err();
        assert!(matches!(error, CliError::Usage(_)));
        assert!(error.to_string().contains("icq"), "{error}");
    }

    #[test]
    fn a_bad_endpoints_file_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("endpoints.json");
        std::fs::write(&path, r#"{"signal": {"urls": []}}"#).unwrap();
        let error = plan(&args(&["--endpoints", path.to_str().unwrap()])).unwrap_err();
        assert!(matches!(error, CliError::Usage(_)));
        assert!(error.to_string().contains("signal.urls"), "{error}");
    }
}
