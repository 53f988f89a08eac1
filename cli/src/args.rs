//! The command line: `kuzet <COMMAND> ...`, parsed with clap's derive API.
//!
//! Values that can be checked on their own (timeouts, country code, ASN, parallelism) are checked
//! here by clap value parsers; checks that need the file system or core (URLs, URL files,
//! resolver specifications, CA files) happen in the command before anything is measured.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// The longest timeout accepted for one step: an hour is already far beyond any useful value.
pub const MAX_TIMEOUT_SECS: f64 = 3600.0;
/// The default number of URLs measured at the same time.
pub const DEFAULT_PARALLEL: usize = 4;
/// The most URLs measured at the same time.
pub const MAX_PARALLEL: usize = 256;

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
    /// Run a test suite now (web: is each site reachable, and if not, how is it blocked).
    Run(RunArgs),
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
pub struct RunArgs {
    /// The suite to run.
    #[command(subcommand)]
    pub suite: Suite,
}

/// The suites `kuzet run` knows.
#[derive(Debug, Subcommand)]
pub enum Suite {
    /// Web connectivity: every URL of a test list, compared with a test helper's view, with a
    /// verdict per URL (ok, site down, DNS/TCP/TLS blocking, interception, blockpage).
    Web(RunWebArgs),
    /// Throttling: is each name slowed down on this network? Target and control names against
    /// a Kuzet throughput server (and real sites against baselines with --passive).
    Throttling(RunThrottlingArgs),
    /// Connectivity: is this device's network up, cut (fully or internationally), whitelisted
    /// or behind a portal? Prints the status, why, and the evidence per anchor.
    Connectivity(crate::commands::run_connectivity::RunConnectivityArgs),
    /// Messaging: can WhatsApp, Telegram, Signal and Facebook Messenger reach their servers?
    /// A verdict per app (ok, blocked, partially blocked) and the step that failed.
    Messaging(crate::commands::run_messaging::RunMessagingArgs),
}

/// Arguments of `kuzet run throttling`.
#[derive(Debug, Args)]
#[command(after_help = "\
Without --targets, tests www.azattyq.org, rus.azattyq.org and www.currenttime.tv. There is no \
public Kuzet throughput server yet: --server and --pin are needed for SNI targets (kuzet-server \
--throughput ADDR prints its pin). --passive URL=BASELINE_URL compares a real site with a \
baseline on comparable infrastructure and needs no server.

Exit status: 0 when the test ran (whatever the verdicts), 1 when it could not run (server \
unreachable, wrong pin), 2 for bad arguments (nothing is measured).")]
pub struct RunThrottlingArgs {
    /// The Kuzet throughput server, HOST:PORT (looked up once, before any timing).
    #[arg(long, value_name = "HOST:PORT")]
    pub server: Option<String>,

    /// The server's pinned key, sha256/BASE64.
    #[arg(long, value_name = "sha256/KEY")]
    pub pin: Option<String>,

    /// The names (SNIs) to test, comma-separated.
    #[arg(long, value_name = "SNI,...", value_delimiter = ',')]
    pub targets: Vec<String>,

    /// The control name [default: a random name under kuzet-control.invalid].
    #[arg(long, value_name = "SNI")]
    pub control: Option<String>,

    /// Also compare a real site with a baseline URL (https). May be repeated.
    #[arg(long = "passive", value_name = "URL=BASELINE_URL")]
    pub passive: Vec<String>,

    /// Also trust the CA certificates in this PEM file (passive fetches in labs).
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// The resolver for passive fetches.
    #[arg(long, value_name = "SPEC", default_value = "system")]
    pub resolver: String,

    /// The run's data budget in MB (each target also stops at 2.5 MB) [default: 12.5].
    #[arg(long = "budget-mb", value_name = "MB", value_parser = parse_budget_mb)]
    pub budget_mb: Option<f64>,

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
    pub store: crate::commands::store_open::StoreArgs,

    /// Keep nothing: the measurements are printed only, never stored nor queued for upload.
    #[arg(long = "no-store")]
    pub no_store: bool,
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
not complete, 2 for bad arguments or input (nothing is measured).")]
pub struct RunWebArgs {
    /// The test list: `kz`, `global` or a file.
    #[arg(long, value_name = "LIST", default_value = "kz")]
    pub list: String,

    /// Only URLs in these categories (comma-separated codes, e.g. NEWS,HUMR,ANON).
    #[arg(long = "category", value_name = "CODES", value_delimiter = ',')]
    pub categories: Vec<String>,

    /// Measure at most N URLs (the first N after filtering).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// The web-connectivity test helper (OONI's protocol), e.g. https://th.example/.
    /// Without one most verdicts are `undetermined`.
    #[arg(long = "th", value_name = "URL")]
    pub th: Option<String>,

    /// The probe's resolver, whose answers decide DNS verdicts.
    #[arg(long, value_name = "SPEC", default_value = "system")]
    pub resolver: String,

    /// An extra DNS-over-UDP resolver recorded beside the main one (e.g. udp://8.8.8.8).
    #[arg(long = "udp-resolver", value_name = "SPEC")]
    pub udp_resolver: Option<String>,

    /// An extra DoH resolver recorded beside the main one.
    #[arg(long = "doh-resolver", value_name = "SPEC")]
    pub doh_resolver: Option<String>,

    /// Timeout in seconds of each TCP connect, TLS handshake and HTTP round trip [default: 10].
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,

    /// Timeout in seconds of each DNS lookup [default: 4].
    #[arg(long = "dns-timeout", value_name = "SECS", value_parser = parse_timeout)]
    pub dns_timeout: Option<Duration>,

    /// Also trust the CA certificates in this PEM file (lab and self-hosted servers).
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// The probe's country (ISO 3166 alpha-2, e.g. KZ); ZZ means unknown.
    #[arg(long = "probe-cc", value_name = "CC", default_value = "ZZ", value_parser = parse_probe_cc)]
    pub probe_cc: String,

    /// The probe's network (e.g. AS9198); AS0 means unknown.
    #[arg(long = "probe-asn", value_name = "ASN", default_value = "AS0", value_parser = parse_probe_asn)]
    pub probe_asn: String,

    /// How many URLs to measure at the same time.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_WEB_PARALLEL, value_parser = parse_parallel)]
    pub parallel: usize,

    /// Start no URL after this many seconds.
    #[arg(long = "max-time", value_name = "SECS", default_value = "3600", value_parser = parse_budget_seconds)]
    pub max_time: Duration,

    /// Start no URL after this many MiB have been received.
    #[arg(long = "max-mib", value_name = "MIB", default_value_t = 100)]
    pub max_mib: u64,

    /// Treat addresses in this network as public, not bogons (labs and private deployments).
    /// May be repeated.
    #[arg(long = "public-network", value_name = "CIDR")]
    pub public_networks: Vec<String>,

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

/// The default number of websites measured at the same time.
pub const DEFAULT_WEB_PARALLEL: usize = 8;

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
error), 1 when the run could not complete, 2 for bad arguments or input (nothing is measured).")]
pub struct MeasureArgs {
    /// URLs to measure (http or https), measured before those read from files.
    #[arg(value_name = "URL")]
    pub urls: Vec<String>,

    /// Read URLs from FILE, one per line; blank lines and lines starting with '#' are ignored.
    /// '-' reads standard input. May be repeated.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Print one OONI measurement per line (JSON) instead of a table.
    #[arg(long)]
    pub json: bool,

    /// The resolver used for every lookup.
    #[arg(long, value_name = "SPEC", default_value = "system")]
    pub resolver: String,

    /// Timeout in seconds of each TCP connect, TLS handshake and HTTP round trip [default: 10].
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,

    /// Timeout in seconds of each DNS lookup [default: 4].
    #[arg(long = "dns-timeout", value_name = "SECS", value_parser = parse_timeout)]
    pub dns_timeout: Option<Duration>,

    /// Also trust the CA certificates in this PEM file (lab and self-hosted servers).
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// The probe's country (ISO 3166 alpha-2, e.g. KZ); ZZ means unknown.
    #[arg(long = "probe-cc", value_name = "CC", default_value = "ZZ", value_parser = parse_probe_cc)]
    pub probe_cc: String,

    /// The probe's network (e.g. AS9198); AS0 means unknown.
    #[arg(long = "probe-asn", value_name = "ASN", default_value = "AS0", value_parser = parse_probe_asn)]
    pub probe_asn: String,

    /// How many URLs to measure at the same time.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PARALLEL, value_parser = parse_parallel)]
    pub parallel: usize,

    /// Where results and measurements are kept.
    #[command(flatten)]
    pub store: crate::commands::store_open::StoreArgs,

    /// Keep nothing: the measurements are printed only, never stored nor uploaded.
    #[arg(long = "no-store", conflicts_with = "upload")]
    pub no_store: bool,

    /// After measuring, upload the stored measurements to the collector (measurements of an
    /// unknown network, without --probe-cc and --probe-asn, stay held).
    #[arg(long)]
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

/// Parses the parallelism: an integer from 1 to [`MAX_PARALLEL`].
pub fn parse_parallel(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_PARALLEL).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from 1 to {MAX_PARALLEL}")),
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
        assert!(!args.json);
        assert_eq!(args.resolver, "system");
        assert_eq!(args.timeout, None);
        assert_eq!(args.dns_timeout, None);
        assert_eq!(args.ca_file, None);
        assert_eq!(args.probe_cc, "ZZ");
        assert_eq!(args.probe_asn, "AS0");
        assert_eq!(args.parallel, DEFAULT_PARALLEL);
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
        assert!(args.json);
        assert_eq!(args.resolver, "udp://9.9.9.9");
        assert_eq!(args.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(args.dns_timeout, Some(Duration::from_secs(1)));
        assert_eq!(args.ca_file, Some(PathBuf::from("lab.pem")));
        assert_eq!(args.probe_cc, "KZ");
        assert_eq!(args.probe_asn, "AS9198");
        assert_eq!(args.parallel, 16);
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
        assert_eq!(parse_parallel("256"), Ok(256));
        for bad in ["0", "257", "-1", "two", ""] {
            assert!(parse_parallel(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_subcommand_is_required() {
        assert!(Cli::try_parse_from(["kuzet"]).is_err());
        assert!(parse(&["measure", "--no-such-flag"]).is_err());
    }
}
