//! `kuzet`: Kuzet's command line. `kuzet measure URL...` measures URLs now and prints what is
//! blocked and how.
//!
//! Errors are one line on standard error, `kuzet: error: ...`; the exit status is 0 on success,
//! 1 when a run could not complete and 2 for bad arguments or input. Logs go to standard error,
//! filtered by `RUST_LOG` (default `warn`).

mod args;
mod client;
mod commands;
mod error;
mod input;
mod output;
mod plan;
mod settings;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;
use tracing::Level;
use tracing_subscriber::filter::{filter_fn, FilterExt};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::args::Cli;
use crate::error::CliError;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return clap_exit(&err),
    };
    init_logging();
    // The library's one runtime: runs started here and the command's own waiting share it.
    let result = kuzet_core::runtime::runtime().block_on(commands::run(cli.command));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Prints `kuzet: error: ...` and returns the error's exit status.
fn fail(error: &CliError) -> ExitCode {
    match error {
        CliError::Interrupted(message) => eprintln!("kuzet: {message}"),
        other => eprintln!("kuzet: error: {other}"),
    }
    error.exit_code()
}

/// Help and version go out as clap prints them; argument errors become one line, exit 2.
fn clap_exit(err: &clap::Error) -> ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2))
        }
        _ => fail(&CliError::Usage(one_line(&err.render().to_string()))),
    }
}

/// Folds clap's multi-line error into one line: the message, then any tip, then a pointer to
/// `--help` (the usage block is dropped).
fn one_line(rendered: &str) -> String {
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid arguments");
    let mut text = first.strip_prefix("error: ").unwrap_or(first).to_string();
    for tip in lines.filter_map(|line| line.strip_prefix("tip: ")) {
        text.push_str("; ");
        text.push_str(tip);
    }
    text.push_str(" (see --help)");
    text
}

/// Logs to standard error, filtered by `RUST_LOG`, `warn` by default.
///
/// `RUST_LOG` can make Kuzet's own crates verbose, but other crates never log below `warn`:
/// their debug logs carry peer addresses (rustls logs the server's IP, for instance), and
/// Kuzet never logs IP addresses.
fn init_logging() {
    let from_env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let own_or_warning =
        filter_fn(|meta| is_own_target(meta.target()) || *meta.level() <= Level::WARN);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(from_env.and(own_or_warning));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// True for log targets of Kuzet's own crates (`kuzet`, `kuzet_core`, ...).
fn is_own_target(target: &str) -> bool {
    target == "kuzet" || target.starts_with("kuzet::") || target.starts_with("kuzet_")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(args: &[&str]) -> String {
        match Cli::try_parse_from(args) {
            Ok(_) => panic!("{args:?} parsed"),
            Err(err) => one_line(&err.render().to_string()),
        }
    }

    #[test]
    fn clap_errors_fold_into_one_line() {
        let text = rendered(&["kuzet", "measure", "--jsn", "http://a.example/"]);
        assert!(!text.contains('\n'), "{text}");
        assert!(
            text.starts_with("unexpected argument '--jsn' found"),
            "{text}"
        );
        assert!(text.contains("--json"), "the tip survives: {text}");
        assert!(text.ends_with("(see --help)"), "{text}");

        let text = rendered(&["kuzet", "measure", "--probe-cc", "KAZ", "http://a.example/"]);
        assert!(!text.contains('\n'), "{text}");
        assert!(
            text.contains("--probe-cc") && text.contains("KAZ"),
            "{text}"
        );
        assert!(text.contains("two ASCII letters"), "{text}");
    }

    #[test]
    fn own_log_targets() {
        for own in [
            "kuzet",
            "kuzet::commands::measure",
            "kuzet_core::probe::dns",
            "kuzet_core",
        ] {
            assert!(is_own_target(own), "{own}");
        }
        for other in [
            "rustls::client::hs",
            "h2",
            "hyper_util::client",
            "kuzetx",
            "tokio",
        ] {
            assert!(!is_own_target(other), "{other}");
        }
    }

    #[test]
    fn one_line_without_input() {
        assert_eq!(one_line(""), "invalid arguments (see --help)");
    }
}
