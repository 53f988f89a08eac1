//! `kuzet run connectivity`: one connectivity check (is the network up, cut, whitelisted or
//! behind a portal?), printed as the status, its one-sentence explanation and the evidence
//! table, stored with its transition in the timeline. Also the pieces `kuzet watch` shares:
//! the options, the host's platform state and the output.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use kuzet_core::experiment::connectivity::{
    check_connectivity, AnchorReport, ConnectivityConfig, ConnectivityError, ConnectivityMonitor,
    ConnectivityOutcome, RecordPolicy, Recording,
};
use kuzet_core::experiment::connectivity::{CaptiveCheck, PlatformState, Transport};
use kuzet_core::report::Measurement;
use kuzet_core::store::{format_ms, NewRun, Store};
use tokio_util::sync::CancellationToken;

use super::store_open::{blocking, columns, open, store_error, StoreArgs};
use crate::args::{parse_probe_asn, parse_probe_cc};
use crate::error::CliError;
use crate::output::table::format_bytes;
use crate::output::write_stdout;
use crate::settings;

/// Options shared by `kuzet run connectivity` and `kuzet watch`.
#[derive(Debug, Clone, Args)]
pub struct ConnectivityOptions {
    /// The anchors and checks, as JSON (see the README) [default: Kuzet's Kazakhstan set].
    #[arg(long, value_name = "FILE")]
    pub anchors: Option<PathBuf>,

    /// Re-checks before a status beyond the device is declared [default: the file's, else 2].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=10))]
    pub rechecks: Option<u32>,

    /// The pause before each re-check, e.g. 5s, 500ms [default: the file's, else 5s].
    #[arg(long = "recheck-delay", value_name = "DUR", value_parser = parse_duration)]
    pub recheck_delay: Option<Duration>,

    /// The resolver for anchor names [default: the file's, else system].
    #[arg(long, value_name = "SPEC")]
    pub resolver: Option<String>,

    /// Also trust the CA certificates in this PEM file (lab and self-hosted anchors).
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// The probe's country (ISO 3166 alpha-2, e.g. KZ); ZZ means unknown (and uploads wait).
    #[arg(long = "probe-cc", value_name = "CC", default_value = "ZZ", value_parser = parse_probe_cc)]
    pub probe_cc: String,

    /// The probe's network (e.g. AS9198); AS0 means unknown (and uploads wait).
    #[arg(long = "probe-asn", value_name = "ASN", default_value = "AS0", value_parser = parse_probe_asn)]
    pub probe_asn: String,

    /// The bearer: auto (from the host's interfaces and routes), wifi, cellular, ethernet, or
    /// none (no network path: nothing is probed).
    #[arg(long, value_name = "KIND", default_value = "auto", value_parser = parse_transport)]
    pub transport: TransportChoice,

    /// Print JSON lines instead of text.
    #[arg(long)]
    pub json: bool,

    /// Where results and the timeline are kept.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Arguments of `kuzet run connectivity`.
#[derive(Debug, Args)]
#[command(after_help = "\
Statuses: ok, local_device, local_link, captive_or_injection, data_blackout, \
international_cut, whitelist_mode, service_block. Each describes what this device observed, \
never the whole network.

Exit status: 0 when the check completed (an outage is a result, not an error), 1 when it \
could not, 2 for bad arguments or input.")]
pub struct RunConnectivityArgs {
    /// The check's options.
    #[command(flatten)]
    pub options: ConnectivityOptions,

    /// Keep nothing: print only, store neither the result nor the transition.
    #[arg(long = "no-store")]
    pub no_store: bool,
}

/// `--transport`: a given bearer, or `None` to read the host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportChoice(pub Option<Transport>);

/// Parses `--transport`.
pub fn parse_transport(text: &str) -> Result<TransportChoice, String> {
    Ok(TransportChoice(Some(match text {
        "auto" => return Ok(TransportChoice(None)),
        "wifi" => Transport::Wifi,
        "cellular" => Transport::Cellular,
        "ethernet" => Transport::Ethernet,
        "none" => Transport::None,
        _ => return Err("expected auto, wifi, cellular, ethernet or none".to_string()),
    })))
}

/// Parses a duration: `500ms`, `5s`, `2m`, `1h`, or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 500ms, 5s, 2m)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m, h)")),
    };
    if !seconds.is_finite() || !(0.0..=86_400.0).contains(&seconds) {
        return Err(format!("{text:?} must be between 0 and 24 h"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// The configuration the options describe, checked.
pub fn config(options: &ConnectivityOptions) -> Result<ConnectivityConfig, CliError> {
    let mut config = match &options.anchors {
        Some(path) => ConnectivityConfig::from_file(path)
            .map_err(|e| CliError::Usage(format!("--anchors: {e}")))?,
        None => ConnectivityConfig::kazakhstan(),
    };
    if let Some(count) = options.rechecks {
        config.rechecks.count = count;
    }
    if let Some(delay) = options.recheck_delay {
        config.rechecks.delay = delay;
    }
    if let Some(resolver) = &options.resolver {
        settings::resolver("--resolver", resolver)?;
        config.resolver = resolver.clone();
    }
    config.trust = settings::trust(options.ca_file.as_ref())?;
    config.software = settings::software();
    config.network = settings::network(&options.probe_cc, &options.probe_asn);
    config
        .validate()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    Ok(config)
}

/// What the CLI can tell from the host: a non-loopback interface that is up and carries a
/// default route means a link is present (Wi-Fi when the kernel says it is wireless, wired
/// otherwise); no such route means no network path. Nothing here is recorded but the
/// transport: no interface name, address or identifier.
pub fn host_platform() -> PlatformState {
    let v4 = std::fs::read_to_string("/proc/net/route").ok();
    let v6 = std::fs::read_to_string("/proc/net/ipv6_route").ok();
    if v4.is_none() && v6.is_none() {
        return PlatformState::default();
    }
    let mut interfaces = default_route_interfaces_v4(v4.as_deref().unwrap_or(""));
    interfaces.extend(default_route_interfaces_v6(v6.as_deref().unwrap_or("")));
    let up: Vec<&String> = interfaces
        .iter()
        .filter(|name| interface_is_up(name))
        .collect();
    let transport = match up.first() {
        None => Transport::None,
        Some(name) if std::path::Path::new(&format!("/sys/class/net/{name}/wireless")).exists() => {
            Transport::Wifi
        }
        Some(name) if name.starts_with("ww") || name.starts_with("rmnet") => Transport::Cellular,
        Some(_) => Transport::Ethernet,
    };
    PlatformState {
        transport,
        ..PlatformState::default()
    }
}

/// Interfaces with an IPv4 default route that is up (`/proc/net/route`).
pub fn default_route_interfaces_v4(table: &str) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (iface, destination, flags, mask) = (
                fields.first()?,
                fields.get(1)?,
                fields.get(3)?,
                fields.get(7)?,
            );
            let flags = u32::from_str_radix(flags, 16).ok()?;
            (*destination == "00000000" && *mask == "00000000" && flags & 1 == 1 && *iface != "lo")
                .then(|| iface.to_string())
        })
        .collect()
}

/// Interfaces with an IPv6 default route that is up (`/proc/net/ipv6_route`).
pub fn default_route_interfaces_v6(table: &str) -> Vec<String> {
    table
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (destination, prefix, flags, iface) = (
                fields.first()?,
                fields.get(1)?,
                fields.get(8)?,
                fields.get(9)?,
            );
            let flags = u32::from_str_radix(flags, 16).ok()?;
            // RTF_UP set, RTF_REJECT (0x200) not: unreachable defaults do not count.
            (destination.bytes().all(|b| b == b'0')
                && *prefix == "00"
                && flags & 1 == 1
                && flags & 0x200 == 0
                && *iface != "lo")
                .then(|| iface.to_string())
        })
        .collect()
}

fn interface_is_up(name: &str) -> bool {
    if name.contains('/') || name.starts_with('.') {
        return false;
    }
    let flags = std::fs::read_to_string(format!("/sys/class/net/{name}/flags"))
        .ok()
        .and_then(|text| u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok());
    // IFF_UP, and a carrier: the operational state is `up` (or `unknown`, as for tunnels).
    let operstate =
        std::fs::read_to_string(format!("/sys/class/net/{name}/operstate")).unwrap_or_default();
    flags.is_some_and(|f| f & 0x1 == 0x1) && matches!(operstate.trim(), "up" | "unknown")
}

/// Runs the check, cancellable, with the platform state `--transport` gives (or the host's).
pub async fn run_check(
    config: &ConnectivityConfig,
    transport: Option<Transport>,
    cancel: &CancellationToken,
) -> Result<ConnectivityOutcome, CliError> {
    let platform = match transport {
        Some(transport) => PlatformState {
            transport,
            ..PlatformState::default()
        },
        None => host_platform(),
    };
    check_connectivity(config, &platform, cancel)
        .await
        .map_err(|e| match e {
            ConnectivityError::Config(e) => CliError::Usage(e.to_string()),
            ConnectivityError::Cancelled => CliError::Run("cancelled".to_string()),
        })
}

/// Stores the outcome as the monitor says (`run` starts a run of suite `connectivity` so the
/// history shows it).
pub async fn record(
    store: Arc<Store>,
    outcome: ConnectivityOutcome,
    policy: RecordPolicy,
    with_run: bool,
) -> Result<(ConnectivityOutcome, Recording), CliError> {
    blocking(move || {
        let run = if with_run {
            let new_run = NewRun::new(
                "connectivity",
                &outcome.measurement_network(),
                outcome.network_type(),
            );
            Some(store.begin_run(&new_run).map_err(store_error)?)
        } else {
            None
        };
        let recording = ConnectivityMonitor::new(&store)
            .record(&outcome, policy, run)
            .map_err(|e| CliError::Run(format!("cannot record the check: {e}")))?;
        if let Some(run) = run {
            store.finish_run(run).map_err(store_error)?;
        }
        Ok((outcome, recording))
    })
    .await
}

/// The probe network of an outcome's measurement.
trait MeasurementNetwork {
    fn measurement_network(&self) -> kuzet_core::report::ProbeNetwork;
}

impl MeasurementNetwork for ConnectivityOutcome {
    fn measurement_network(&self) -> kuzet_core::report::ProbeNetwork {
        kuzet_core::report::ProbeNetwork {
            probe_asn: self.measurement.probe_asn.clone(),
            probe_cc: self.measurement.probe_cc.clone(),
            ..kuzet_core::report::ProbeNetwork::default()
        }
    }
}

/// Runs `kuzet run connectivity`.
pub async fn execute(args: RunConnectivityArgs) -> Result<(), CliError> {
    let config = config(&args.options)?;
    // Open the store first: a damaged store stops the check before any traffic.
    let store = if args.no_store {
        None
    } else {
        Some(open(args.options.store.dir()?).await?)
    };
    let outcome = run_check(&config, args.options.transport.0, &CancellationToken::new()).await?;
    let (outcome, recording) = match store {
        Some(store) => {
            let (outcome, recording) = record(store, outcome, RecordPolicy::Always, true).await?;
            (outcome, Some(recording))
        }
        None => (outcome, None),
    };
    if args.options.json {
        let measurement = recording
            .as_ref()
            .and_then(|r| r.measurement.clone())
            .unwrap_or_else(|| outcome.measurement.clone());
        write_stdout(&format!("{}\n", measurement_line(&measurement)?))?;
    } else {
        write_stdout(&format_outcome(&outcome, recording.as_ref()))?;
    }
    Ok(())
}

/// One measurement as a JSON line (without the newline).
pub fn measurement_line(measurement: &Measurement) -> Result<String, CliError> {
    serde_json::to_string(measurement)
        .map_err(|e| CliError::Run(format!("cannot encode the measurement: {e}")))
}

/// The status, its explanation, the evidence table, the captive check, the facts, the cost.
pub fn format_outcome(outcome: &ConnectivityOutcome, recording: Option<&Recording>) -> String {
    let mut text = format!("status: {}\n{}\n\n", outcome.status, outcome.explanation);
    if let Some(round) = &outcome.last_round {
        let rows: Vec<Vec<String>> = round.anchors.iter().map(anchor_row).collect();
        text.push_str(&columns(
            &["ANCHOR", "GROUP", "OPERATOR", "BY NAME", "BY IP", "FAILURE"],
            &rows,
            &[],
        ));
        text.push_str(&format!(
            "local resolver ({}): {} of {} names answered\n",
            round.resolver.engine, round.resolver.answered, round.resolver.lookups
        ));
        if let Some(captive) = &round.captive {
            let result = match &captive.result {
                CaptiveCheck::Expected => "the expected answer".to_string(),
                CaptiveCheck::Redirected { host } => format!("redirected to {host}"),
                CaptiveCheck::UnexpectedContent { status } => {
                    format!("an unexpected answer (status {status})")
                }
                CaptiveCheck::Failed { failure } => format!("failed ({failure})"),
            };
            text.push_str(&format!("captive check: {result}\n"));
        }
        text.push('\n');
    }
    text.push_str("evidence:\n");
    for line in &outcome.evidence {
        text.push_str(&format!("  - {line}\n"));
    }
    text.push_str(&format!(
        "{} re-check(s); {} in {:.1} s\n",
        outcome.rechecks(),
        format_bytes(outcome.bytes.total),
        outcome.runtime.as_secs_f64()
    ));
    if let Some(recording) = recording {
        match &recording.transition {
            Some(t) => text.push_str(&format!(
                "recorded: {} → {} at {} UTC\n",
                t.from.map_or("none", |s| s.as_str()),
                t.to,
                format_ms(t.at_ms)
            )),
            None => text.push_str("recorded: no change since the last check\n"),
        }
    }
    text
}

fn anchor_row(anchor: &AnchorReport) -> Vec<String> {
    let result = anchor.result();
    let path =
        |outcome: Option<&kuzet_core::experiment::connectivity::probes::PathOutcome>| match outcome
        {
            None => "-".to_string(),
            Some(p) if p.ok && p.handshake_skipped => "ok (connect)".to_string(),
            Some(p) if p.ok => "ok".to_string(),
            Some(p) => match p.failed_step {
                Some(step) => format!("failed ({})", step_name(step)),
                None => "failed".to_string(),
            },
        };
    vec![
        anchor.name.clone(),
        group_name(anchor.group).to_string(),
        anchor.operator.clone(),
        path(Some(&anchor.by_name)),
        path(anchor.by_ip.as_ref()),
        result
            .failure
            .map(|f| f.to_string())
            .unwrap_or_else(|| "-".to_string()),
    ]
}

fn step_name(step: kuzet_core::experiment::connectivity::probes::Step) -> &'static str {
    use kuzet_core::experiment::connectivity::probes::Step;
    match step {
        Step::Resolve => "resolve",
        Step::Connect => "connect",
        Step::TlsHandshake => "tls",
        Step::HttpRequest => "http",
    }
}

fn group_name(group: kuzet_core::experiment::connectivity::AnchorGroup) -> &'static str {
    use kuzet_core::experiment::connectivity::AnchorGroup;
    match group {
        AnchorGroup::LocalResolver => "resolver",
        AnchorGroup::Domestic => "domestic",
        AnchorGroup::International => "international",
        AnchorGroup::Service => "service",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        for bad in ["", "x", "5d", "-1s", "25h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn default_routes_are_found_and_unreachable_ones_ignored() {
        let v4 =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                  eth0\t00000000\t01014D0A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                  eth0\t00014D0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(default_route_interfaces_v4(v4), vec!["eth0".to_string()]);
        let no_default = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
                          eth0\t00014D0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n";
        assert!(default_route_interfaces_v4(no_default).is_empty());
        let v6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 \
                  fe800000000000000000000000000001 00000400 00000001 00000000 00000003 wlan0\n\
                  00000000000000000000000000000000 00 00000000000000000000000000000000 00 \
                  00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo\n";
        assert_eq!(default_route_interfaces_v6(v6), vec!["wlan0".to_string()]);
    }
}
