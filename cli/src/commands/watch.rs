//! `kuzet watch`: keeps checking connectivity on the one run path's watch
//! (`kuzet_core::session::watch`), prints one line per status transition, each recorded in the
//! store's timeline with a measurement queued for upload. Ctrl-C or SIGTERM stops it cleanly (a
//! check in progress is abandoned; what was recorded stays).

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use kuzet_core::experiment::connectivity::{ConnectivityOutcome, Recording};
use kuzet_core::session::watch::{watch, WatchListener, WatchPlan};
use kuzet_core::session::{NetworkContext, NetworkContextProvider};
use kuzet_core::store::format_ms;
use tokio_util::sync::CancellationToken;

use super::store_open::{open, StoreArgs};
use crate::args::{parse_duration, CheckArgs, SettingsArgs, TransportChoice};
use crate::client::stop_on_signals;
use crate::error::CliError;
use crate::output::{write_stdout, Written};
use crate::plan::{connectivity, host_platform};
use crate::settings;

/// Arguments of `kuzet watch`.
#[derive(Debug, Args)]
#[command(after_help = "\
Prints one line per transition: the time it was observed (UTC), from → to, and why. With \
--json, the transition's kuzet_connectivity measurement instead, one per line.

Exit status: 0 when stopped (Ctrl-C, SIGTERM or --count reached), 1 when a check or the store \
failed, 2 for bad arguments or input.")]
pub struct WatchArgs {
    /// Time between the starts of two checks, e.g. 60s, 5m.
    #[arg(long, value_name = "DUR", default_value = "60s", value_parser = parse_every)]
    pub every: Duration,

    /// Stop after this many checks [default: never].
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,

    /// The checks.
    #[command(flatten)]
    pub check: CheckArgs,

    /// Lookups, certificates, the probe's network.
    #[command(flatten)]
    pub settings: SettingsArgs,

    /// Print JSON lines instead of text.
    #[arg(long)]
    pub json: bool,

    /// Where the timeline is kept.
    #[command(flatten)]
    pub store: StoreArgs,
}

fn parse_every(text: &str) -> Result<Duration, String> {
    let every = parse_duration(text)?;
    if every < Duration::from_millis(100) {
        return Err("must be at least 100ms".to_string());
    }
    Ok(every)
}

/// The host's network, read before each check (or the bearer `--transport` gives).
struct Host(TransportChoice);

impl NetworkContextProvider for Host {
    fn current_network(&self) -> NetworkContext {
        NetworkContext::of_transport(self.0 .0.unwrap_or_else(|| host_platform().transport))
    }
}

/// Prints each transition; stops the watch when standard output is closed.
struct Printer {
    json: bool,
    stop: CancellationToken,
}

impl WatchListener for Printer {
    fn on_check(&self, _outcome: &ConnectivityOutcome, recording: Option<&Recording>) {
        let Some(recording) = recording else { return };
        match transition_line(recording, self.json) {
            Ok(Some(line)) => {
                if !matches!(write_stdout(&line), Ok(Written::Yes)) {
                    self.stop.cancel();
                }
            }
            Ok(None) => {}
            Err(error) => eprintln!("kuzet: warning: {error}"),
        }
    }
}

/// Runs `kuzet watch`.
pub async fn execute(args: WatchArgs) -> Result<(), CliError> {
    let mut config = connectivity(&args.check, args.settings.resolver.as_deref())?;
    config.trust = settings::trust(args.settings.ca_file.as_ref())?;
    let store = open(args.store.dir()?).await?;
    let stop = CancellationToken::new();
    stop_on_signals(stop.clone())?;
    let plan = WatchPlan {
        config,
        software: settings::software(),
        probe_network: settings::network(&args.settings.probe_cc, &args.settings.probe_asn),
        network: Arc::new(Host(args.check.transport)),
        store,
        every: args.every,
        count: args.count,
    };
    let printer = Printer {
        json: args.json,
        stop: stop.clone(),
    };
    watch(plan, &printer, &stop).await;
    Ok(())
}

/// The line printed for a recording: `None` when nothing changed.
pub fn transition_line(recording: &Recording, json: bool) -> Result<Option<String>, CliError> {
    let Some(transition) = &recording.transition else {
        return Ok(None);
    };
    if json {
        return match &recording.measurement {
            Some(measurement) => Ok(Some(format!(
                "{}\n",
                serde_json::to_string(measurement)
                    .map_err(|e| CliError::Run(format!("cannot encode the measurement: {e}")))?
            ))),
            None => Ok(None),
        };
    }
    let why = recording
        .measurement
        .as_ref()
        .and_then(|m| m.test_keys.get("x_evidence"))
        .and_then(|e| e.as_array())
        .map(|lines| {
            lines
                .iter()
                .filter_map(|l| l.as_str())
                .take(3)
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    Ok(Some(format!(
        "{}  {} → {}  {}\n",
        format_ms(transition.at_ms),
        transition.from.map_or("none", |s| s.as_str()),
        transition.to,
        why
    )))
}
