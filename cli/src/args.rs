//! The command line: `kuzet <COMMAND> ...`, parsed with clap's derive API.
//!
//! Values that can be checked on their own (timeouts, country code, ASN, parallelism) are checked
//! here by clap value parsers; checks that need the file system or core (URLs, URL files,
//! resolver specifications, CA files) happen in the command before anything is measured.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use kuzet_core::experiment::policy::MAX_PARALLELISM;

/// The longest timeout accepted for one step: an hour is already far beyond any useful value.
pub const MAX_TIMEOUT_SECS: f64 = 3600.0;

/// Kuzet: measure internet censorship and emit OONI-format measurements.
#[derive(Debug, Parser)]
#[command(
    name = "kuzet",
    version,
    propagate_version = true,
    arg_required_else_help = true,
    max_term_width = 100
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Measure URLs now (DNS, TCP, TLS, HTTP with redirects) and print what failed and where.
    Measure(MeasureArgs),
    /// Run tests now: every suite (as the apps' "Test now"), or one (web, messaging,
    /// throttling, connectivity), each verdict conditioned on a network check.
    Run(Box<RunArgs>),
    /// Show the results history: past runs, or the verdict on each target of a run.
    Results(crate::commands::results::ResultsArgs),
    /// Show the upload queue: pending, held and parked measurements, and why uploads failed.
    Queue(crate::commands::queue::QueueArgs),
    /// Upload the stored measurements to a collector now.
    Upload(crate::commands::upload::UploadArgs),
    /// Delete every stored result and measurement, uploaded or not. Cannot be undone.
    Wipe(crate::commands::wipe::WipeArgs),
    /// Recover a damaged store: keep the file aside, salvage what is readable, start anew.
    Recover(crate::commands::recover::RecoverArgs),
    /// Keep checking connectivity and print each status transition (recorded and queued).
    Watch(crate::commands::watch::WatchArgs),
}

/// Arguments of `kuzet run`.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "\
Without a suite, does what the apps' \"Test now\" does: the connectivity check, then the web \
suite (--list, --th), the messaging suite, and the throttling suite when a throughput server \
(--server, --pin) or --passive targets are given. Every verdict is conditioned on the network: \
a failure while this device had no way out is `unreachable`, never `blocked`.

Exit status: 0 when the run completed (blocked sites are results, not errors), 1 when a suite \
could not run, 130 when stopped by Ctrl-C or SIGTERM (finished results are kept), 2 for bad \
arguments or input (nothing is measured)."
)]
pub struct RunArgs {
    /// One suite only.
    #[command(subcommand)]
    pub suite: Option<Suite>,

    /// Without a suite: every suite, as the apps' "Test now".
    #[command(flatten)]
    pub all: RunAllArgs,
}

/// The suites `kuzet run` knows.
#[derive(Debug, Subcommand)]
pub enum Suite {
    /// Web connectivity: every URL of a test list, compared with a test helper's view, with a
    /// verdict per URL (ok, site down, DNS/TCP/TLS blocking, interception, blockpage,
    /// unreachable).
    Web(RunWebArgs),
    /// Throttling: is each name slowed down on this network? Target and control names against
    /// a Kuzet throughput server (and real sites against baselines with --passive).
    Throttling(RunThrottlingArgs),
    /// Connectivity: is this device's network up, cut (fully or internationally), whitelisted
    /// or behind a portal? Prints the status, why, and the evidence per anchor.
    Connectivity(RunConnectivityArgs),
    /// Messaging: can WhatsApp, Telegram, Signal and Facebook Messenger reach their servers?
    /// A verdict per app (ok, blocked, partially blocked, unreachable) and the step that
    /// failed.
    Messaging(RunMessagingArgs),
}

/// How lookups, certificates and timeouts work, and which network measurements name: shared
/// by every measuring command.
#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    /// The resolver every lookup uses (the probe's; DNS verdicts are decided on its answers),
    /// also the connectivity check's local resolver [default: system].
    #[arg(long, value_name = "SPEC")]
    pub resolver: Option<String>,

    /// Timeout in seconds of each TCP connect, TLS handshake and HTTP round trip [default:
    /// each suite's, e.g. 10 for websites, 5 for messaging].
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,

    /// Timeout in seconds of each DNS lookup [default: 4].
    #[arg(long = "dns-timeout", value_name = "SECS", value_parser = parse_timeout)]
    pub dns_timeout: Option<Duration>,

    /// Also trust the CA certificates in this PEM file (lab and self-hosted servers).
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// The probe's country (ISO 3166 alpha-2, e.g. KZ); ZZ means unknown (and uploads wait).
    #[arg(long = "probe-cc", value_name = "CC", default_value = "ZZ", value_parser = parse_probe_cc)]
    pub probe_cc: String,

    /// The probe's network (e.g. AS9198); AS0 means unknown (and uploads wait).
    #[arg(long = "probe-asn", value_name = "ASN", default_value = "AS0", value_parser = parse_probe_asn)]
    pub probe_asn: String,
}

/// A run's budgets.
#[derive(Debug, Clone, Args)]
pub struct BudgetArgs {
    /// How many websites or URLs to measure at the same time, 1 to 64 [default: 4, as the
    /// apps].
    #[arg(long, value_name = "N", value_parser = parse_parallel)]
    pub parallel: Option<usize>,

    /// Start no target after this many seconds.
    #[arg(long = "max-time", value_name = "SECS", value_parser = parse_budget_seconds)]
    pub max_time: Option<Duration>,

    /// Start no target after this many MiB have been received [default: 50].
    #[arg(long = "max-mib", value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_mib: Option<u64>,
}

/// Where results go.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Print one OONI measurement per line (JSON) instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Where results and measurements are kept.
    #[command(flatten)]
    pub store: crate::commands::store_open::StoreArgs,

    /// Keep nothing: the measurements are printed only, never stored nor queued for upload.
    #[arg(long = "no-store")]
    pub no_store: bool,
}

/// The connectivity check every run with websites, messaging or throttling makes first, and
/// conditions its verdicts on (also `run connectivity` and `watch`).
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The anchors and checks, as JSON (see the README) [default: Kuzet's Kazakhstan set].
    #[arg(long, value_name = "FILE")]
    pub anchors: Option<PathBuf>,

    /// Re-checks before a status beyond the device is declared [default: the file's, else 2].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=10))]
    pub rechecks: Option<u32>,

    /// The pause before each re-check, e.g. 5s, 500ms [default: the file's, else 5s].
    #[arg(long = "recheck-delay", value_name = "DUR", value_parser = parse_duration)]
    pub recheck_delay: Option<Duration>,

    /// The bearer: auto (from the host's interfaces and routes), wifi, cellular, ethernet, or
    /// none (no network path: nothing is probed).
    #[arg(long, value_name = "KIND", default_value = "auto", value_parser = parse_transport)]
    pub transport: TransportChoice,
}

impl Default for CheckArgs {
    /// The built-in anchors, their re-checks, the host's bearer.
    fn default() -> Self {
        CheckArgs {
            anchors: None,
            rechecks: None,
            recheck_delay: None,
            transport: TransportChoice(None),
        }
    }
}

/// `--transport`: a given bearer, or `None` to read the host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportChoice(pub Option<kuzet_core::experiment::connectivity::Transport>);

/// Parses `--transport`.
pub fn parse_transport(text: &str) -> Result<TransportChoice, String> {
    use kuzet_core::experiment::connectivity::Transport;
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

/// Which websites to measure, and how to compare them.
#[derive(Debug, Clone, Args)]
pub struct WebTargetArgs {
    /// The test list: `kz`, `global` or a file.
    #[arg(long, value_name = "LIST", default_value = "kz")]
    pub list: String,

    /// Only URLs in these categories (comma-separated codes, e.g. NEWS,HUMR,ANON).
    #[arg(long = "category", value_name = "CODES", value_delimiter = ',')]
    pub categories: Vec<String>,

    /// Measure at most N URLs (the first N after filtering).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// A web-connectivity test helper (OONI's protocol), e.g. https://th.example/; may be
    /// repeated, tried in order. Without one most verdicts are `undetermined`.
    #[arg(long = "th", value_name = "URL")]
    pub th: Vec<String>,

    /// An extra DNS-over-UDP resolver recorded beside the main one (e.g. udp://8.8.8.8).
    #[arg(long = "udp-resolver", value_name = "SPEC")]
    pub udp_resolver: Option<String>,

    /// An extra DoH resolver recorded beside the main one.
    #[arg(long = "doh-resolver", value_name = "SPEC")]
    pub doh_resolver: Option<String>,

    /// Treat addresses in this network as public, not bogons (labs and private deployments).
    /// May be repeated.
    #[arg(long = "public-network", value_name = "CIDR")]
    pub public_networks: Vec<String>,
}

/// Which messaging apps to measure.
#[derive(Debug, Clone, Args)]
pub struct MessagingTargetArgs {
    /// The apps to test, comma-separated: whatsapp, telegram, signal, facebook_messenger
    /// [default: all].
    #[arg(long, value_name = "APP,...", value_delimiter = ',')]
    pub apps: Vec<String>,

    /// The apps' endpoints as JSON (tests, self-hosted mirrors) instead of the real ones.
    #[arg(long, value_name = "FILE")]
    pub endpoints: Option<PathBuf>,
}

/// Which names and sites to test for throttling, and against which server.
#[derive(Debug, Clone, Args)]
pub struct ThrottlingTargetArgs {
    /// The Kuzet throughput server, HOST:PORT (looked up once, before any timing).
    #[arg(long, value_name = "HOST:PORT")]
    pub server: Option<String>,

    /// The server's pinned key, sha256/BASE64.
    #[arg(long, value_name = "sha256/KEY")]
    pub pin: Option<String>,

    /// The names (SNIs) to test, comma-separated [default: www.azattyq.org, rus.azattyq.org,
    /// www.currenttime.tv, twitter.com].
    #[arg(long, value_name = "SNI,...", value_delimiter = ',')]
    pub targets: Vec<String>,

    /// The control name [default: a random name under kuzet-control.invalid].
    #[arg(long, value_name = "SNI")]
    pub control: Option<String>,

    /// Also compare a real site with a baseline URL (https). May be repeated.
    #[arg(long = "passive", value_name = "URL=BASELINE_URL")]
    pub passive: Vec<String>,

    /// The throttling test's data budget in MB (each target also stops at 2.5 MB) [default:
    /// 12.5].
    #[arg(long = "budget-mb", value_name = "MB", value_parser = parse_budget_mb)]
    pub budget_mb: Option<f64>,
}

/// Arguments of `kuzet run` without a suite.
#[derive(Debug, Args)]
pub struct RunAllArgs {
    /// Lookups, certificates, timeouts, the probe's network.
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// The network check.
    #[command(flatten)]
    pub check: CheckArgs,
    /// Budgets.
    #[command(flatten)]
    pub budget: BudgetArgs,
    /// Output and store.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Websites.
    #[command(flatten)]
    pub web: WebTargetArgs,
    /// Messaging apps.
    #[command(flatten)]
    pub messaging: MessagingTargetArgs,
    /// Throttling.
    #[command(flatten)]
    pub throttling: ThrottlingTargetArgs,
}

/// Arguments of `kuzet run throttling`.
#[derive(Debug, Args)]
#[command(after_help = "\
Without --targets, tests www.azattyq.org, rus.azattyq.org, www.currenttime.tv and \
twitter.com. There is no public Kuzet throughput server yet: --server and --pin are needed for \
SNI targets (kuzet-server --throughput ADDR prints its pin). --passive URL=BASELINE_URL compares \
a real site with a baseline on comparable infrastructure and needs no server.

Exit status: 0 when the test ran (whatever the verdicts), 1 when it could not run (server \
unreachable, wrong pin), 130 when stopped by Ctrl-C or SIGTERM, 2 for bad arguments (nothing is \
measured).")]
pub struct RunThrottlingArgs {
    /// What to test.
    #[command(flatten)]
    pub throttling: ThrottlingTargetArgs,
    /// Lookups, certificates, timeouts, the probe's network.
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// The network check.
    #[command(flatten)]
    pub check: CheckArgs,
    /// Budgets.
    #[command(flatten)]
    pub budget: BudgetArgs,
    /// Output and store.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Parses a data budget in MB: more than 0, at most 1000.
pub fn parse_budget_mb(text: &str) -> Result<f64, String> {
    let mb: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of MB"))?;
    if !mb.is_finite() || mb <= 0.0 || mb > 1000.0 {
        return Err(format!("{text:?} must be more than 0 and at most 1000 MB"));
    }
    Ok(mb)
}

/// Arguments of `kuzet run web`.
#[derive(Debug, Args)]
#[command(after_help = "\
LIST: kz | global (Citizen Lab's lists, bundled; CC BY-NC-SA 4.0, Citizen Lab and Others) \
or a FILE (Citizen Lab CSV, or one URL per line).

Exit status: 0 when the run completed (blocked sites are results, not errors), 1 when it could \
not complete, 130 when stopped by Ctrl-C or SIGTERM (finished results are kept), 2 for bad \
arguments or input (nothing is measured).")]
pub struct RunWebArgs {
    /// What to measure.
    #[command(flatten)]
    pub web: WebTargetArgs,
    /// Lookups, certificates, timeouts, the probe's network.
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// The network check.
    #[command(flatten)]
    pub check: CheckArgs,
    /// Budgets.
    #[command(flatten)]
    pub budget: BudgetArgs,
    /// Output and store.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Arguments of `kuzet run messaging`.
#[derive(Debug, Args)]
#[command(after_help = "\
APPS: whatsapp, telegram, signal, facebook_messenger (all by default). Endpoints default to the \
real services' (from OONI's probe-cli); --endpoints FILE takes JSON with any of the keys \
whatsapp, telegram, signal, facebook_messenger (see core/src/experiment/messaging/endpoints.rs).

Exit status: 0 when every app was measured (blocked apps are results, not errors), 1 when the \
run could not complete, 130 when stopped by Ctrl-C or SIGTERM, 2 for bad arguments (nothing is \
measured).")]
pub struct RunMessagingArgs {
    /// What to measure.
    #[command(flatten)]
    pub messaging: MessagingTargetArgs,
    /// Lookups, certificates, timeouts, the probe's network.
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// The network check.
    #[command(flatten)]
    pub check: CheckArgs,
    /// Budgets.
    #[command(flatten)]
    pub budget: BudgetArgs,
    /// Output and store.
    #[command(flatten)]
    pub output: OutputArgs,
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
    /// The check.
    #[command(flatten)]
    pub check: CheckArgs,
    /// Lookups, certificates, timeouts, the probe's network.
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Output and store.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Parses a run's time budget: whole or fractional seconds, more than 0, at most a day.
pub fn parse_budget_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !seconds.is_finite() || seconds <= 0.0 || seconds > 86_400.0 {
        return Err(format!(
            "{text:?} must be more than 0 and at most 86400 seconds"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Arguments of `kuzet measure`.
#[derive(Debug, Args)]
#[command(after_help = "\
Resolver SPEC: system | udp://IP[:PORT] | https://HOST/PATH (DoH) | dot://IP[:PORT][?sni=NAME]

Exit status: 0 when every URL was measured (a URL that failed to load is a result, not an \
error), 1 when the run could not complete, 130 when stopped by Ctrl-C or SIGTERM (finished \
results are kept), 2 for bad arguments or input (nothing is measured).")]
pub struct MeasureArgs {
    /// URLs to measure (http or https), measured before those read from files.
    #[arg(value_name = "URL")]
    pub urls: Vec<String>,

    /// Read URLs from FILE, one per line; blank lines and lines starting with '#' are ignored.
    /// '-' reads standard input. May be repeated.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Lookups, certificates, timeouts, the probe's network.
    #[command(flatten)]
    pub settings: SettingsArgs,

    /// Budgets.
    #[command(flatten)]
    pub budget: BudgetArgs,

    /// Output and store.
    #[command(flatten)]
    pub output: OutputArgs,

    /// After measuring, upload the stored measurements to the collector (measurements of an
    /// unknown network, without --probe-cc and --probe-asn, stay held).
    #[arg(long, conflicts_with = "no_store")]
    pub upload: bool,

    /// The collector for --upload [default: https://api.ooni.io/].
    #[arg(long, value_name = "URL", requires = "upload")]
    pub collector: Option<String>,
}

/// Parses a positive number of seconds (fractions allowed), at most [`MAX_TIMEOUT_SECS`].
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| "expected a number of seconds, e.g. 5 or 0.5".to_string())?;
    if !secs.is_finite() || secs <= 0.0 {
        return Err("must be more than 0 seconds".to_string());
    }
    if secs > MAX_TIMEOUT_SECS {
        return Err(format!("must be at most {MAX_TIMEOUT_SECS} seconds"));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
}

/// Parses a country code: two ASCII letters, returned in upper case (`kz` gives `KZ`).
pub fn parse_probe_cc(text: &str) -> Result<String, String> {
    if text.len() == 2 && text.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(text.to_ascii_uppercase())
    } else {
        Err("expected two ASCII letters (ISO 3166 alpha-2), e.g. KZ".to_string())
    }
}

/// Parses an autonomous system number written `AS<digits>` (the prefix in any case), returned
/// as `AS<number>` without leading zeros.
pub fn parse_probe_asn(text: &str) -> Result<String, String> {
    const EXPECTED: &str = "expected AS followed by a number, e.g. AS9198";
    let digits = text
        .get(..2)
        .filter(|prefix| prefix.eq_ignore_ascii_case("AS"))
        .map(|_| &text[2..])
        .ok_or_else(|| EXPECTED.to_string())?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EXPECTED.to_string());
    }
    let number: u32 = digits
        .parse()
        .map_err(|_| "AS number is larger than 4294967295".to_string())?;
    Ok(format!("AS{number}"))
}

/// Parses the parallelism: an integer from 1 to [`MAX_PARALLELISM`].
pub fn parse_parallel(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_PARALLELISM).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a whole number from 1 to {MAX_PARALLELISM}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<MeasureArgs, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("kuzet").chain(args.iter().copied()))?;
        match cli.command {
            Command::Measure(args) => Ok(args),
            other => panic!("not `measure`: {other:?}"),
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let args = parse(&["measure", "https://example.org/"]).expect("parses");
        assert_eq!(args.urls, ["https://example.org/"]);
        assert!(args.files.is_empty());
        assert!(!args.output.json);
        assert_eq!(args.settings.resolver, None);
        assert_eq!(args.settings.timeout, None);
        assert_eq!(args.settings.dns_timeout, None);
        assert_eq!(args.settings.ca_file, None);
        assert_eq!(args.settings.probe_cc, "ZZ");
        assert_eq!(args.settings.probe_asn, "AS0");
        assert_eq!(args.budget.parallel, None);
    }

    #[test]
    fn every_option() {
        let args = parse(&[
            "measure",
            "-f",
            "a.txt",
            "--file",
            "b.txt",
            "--json",
            "--resolver",
            "udp://9.9.9.9",
            "--timeout",
            "2.5",
            "--dns-timeout",
            "1",
            "--ca-file",
            "lab.pem",
            "--probe-cc",
            "kz",
            "--probe-asn",
            "as9198",
            "--parallel",
            "16",
            "http://a.example/",
            "http://b.example/",
        ])
        .expect("parses");
        assert_eq!(args.urls, ["http://a.example/", "http://b.example/"]);
        assert_eq!(args.files, [PathBuf::from("a.txt"), PathBuf::from("b.txt")]);
        assert!(args.output.json);
        assert_eq!(args.settings.resolver.as_deref(), Some("udp://9.9.9.9"));
        assert_eq!(args.settings.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(args.settings.dns_timeout, Some(Duration::from_secs(1)));
        assert_eq!(args.settings.ca_file, Some(PathBuf::from("lab.pem")));
        assert_eq!(args.settings.probe_cc, "KZ");
        assert_eq!(args.settings.probe_asn, "AS9198");
        assert_eq!(args.budget.parallel, Some(16));
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_timeout("0.25"), Ok(Duration::from_millis(250)));
        for bad in ["0", "-1", "abc", "", "NaN", "inf", "3601"] {
            assert!(parse_timeout(bad).is_err(), "{bad:?} accepted");
        }
        let err = parse(&["measure", "--timeout", "0", "http://a.example/"]).unwrap_err();
        assert!(err.to_string().contains("--timeout"), "{err}");
    }

    #[test]
    fn country_codes() {
        assert_eq!(parse_probe_cc("KZ").as_deref(), Ok("KZ"));
        assert_eq!(parse_probe_cc("kz").as_deref(), Ok("KZ"));
        for bad in ["", "K", "KAZ", "K1", "К Z", "ÄÖ", "  "] {
            assert!(parse_probe_cc(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn asns() {
        assert_eq!(parse_probe_asn("AS9198").as_deref(), Ok("AS9198"));
        assert_eq!(parse_probe_asn("as9198").as_deref(), Ok("AS9198"));
        assert_eq!(parse_probe_asn("AS0").as_deref(), Ok("AS0"));
        assert_eq!(parse_probe_asn("AS007").as_deref(), Ok("AS7"));
        assert_eq!(
            parse_probe_asn("AS4294967295").as_deref(),
            Ok("AS4294967295")
        );
        for bad in [
            "",
            "AS",
            "9198",
            "AS-1",
            "AS 1",
            "AS1x",
            "ASN1",
            "AS4294967296",
            "ЖS1",
        ] {
            assert!(parse_probe_asn(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn parallelism() {
        assert_eq!(parse_parallel("1"), Ok(1));
        assert_eq!(parse_parallel("64"), Ok(64));
        for bad in ["0", "65", "-1", "two", ""] {
            assert!(parse_parallel(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_subcommand_is_required() {
        assert!(Cli::try_parse_from(["kuzet"]).is_err());
        assert!(parse(&["measure", "--no-such-flag"]).is_err());
    }
}
