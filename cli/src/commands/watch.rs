//! `kuzet watch`: keeps checking connectivity, prints one line per status transition and
//! records each in the store's timeline with a measurement queued for upload. Ctrl-C or
//! SIGTERM stops it cleanly (a check in progress is abandoned; what was recorded stays).

use std::time::Duration;

use clap::Args;
use kuzet_core::experiment::connectivity::{RecordPolicy, Recording};
use kuzet_core::store::format_ms;
use tokio_util::sync::CancellationToken;

use super::run_connectivity::{
    config, measurement_line, parse_duration, record, run_check, ConnectivityOptions,
};
use super::store_open::open;
use crate::error::CliError;
use crate::output::{write_stdout, Written};

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

    /// The checks' options.
    #[command(flatten)]
    pub options: ConnectivityOptions,
}

fn parse_every(text: &str) -> Result<Duration, String> {
    let every = parse_duration(text)?;
    if every < Duration::from_millis(100) {
        return Err("must be at least 100ms".to_string());
    }
    Ok(every)
}

/// Runs `kuzet watch`.
pub async fn execute(args: WatchArgs) -> Result<(), CliError> {
    let config = config(&args.options)?;
    let store = open(args.options.store.dir()?).await?;
    let stop = CancellationToken::new();
    spawn_signal_watcher(stop.clone())?;
    let mut checks = 0u64;
    loop {
        let started = tokio::time::Instant::now();
        let outcome = match run_check(&config, args.options.transport.0, &stop).await {
            Ok(outcome) => outcome,
            Err(_) if stop.is_cancelled() => break,
            Err(e) => return Err(e),
        };
        let (_, recording) =
            record(store.clone(), outcome, RecordPolicy::Transitions, false).await?;
        if let Some(line) = transition_line(&recording, args.options.json)? {
            if write_stdout(&line)? == Written::Closed {
                break;
            }
        }
        checks += 1;
        if args.count.is_some_and(|count| checks >= count) {
            break;
        }
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            () = tokio::time::sleep_until(started + args.every) => {}
        }
    }
    Ok(())
}

/// The line printed for a recording: `None` when nothing changed.
pub fn transition_line(recording: &Recording, json: bool) -> Result<Option<String>, CliError> {
    let Some(transition) = &recording.transition else {
        return Ok(None);
    };
    if json {
        return match &recording.measurement {
            Some(measurement) => Ok(Some(format!("{}\n", measurement_line(measurement)?))),
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

/// Cancels `stop` on Ctrl-C or SIGTERM.
fn spawn_signal_watcher(stop: CancellationToken) -> Result<(), CliError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())
        .map_err(|e| CliError::Run(format!("cannot watch for SIGTERM: {e}")))?;
    let mut interrupt = signal(SignalKind::interrupt())
        .map_err(|e| CliError::Run(format!("cannot watch for Ctrl-C: {e}")))?;
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        eprintln!("kuzet: stopping");
        stop.cancel();
    });
    Ok(())
}
