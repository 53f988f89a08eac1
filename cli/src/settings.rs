//! Turning the measuring options every command shares (resolver, CA file, timeouts, probe
//! network) into core's configuration values, with errors that name the flag.

use std::path::PathBuf;
use std::time::Duration;

use kuzet_core::experiment::urlgetter::Timeouts;
use kuzet_core::net::trust::TrustAnchors;
use kuzet_core::probe::dns::DnsTransport;
use kuzet_core::report::{ProbeNetwork, Software};

use crate::error::CliError;

/// The `software_name` of measurements made by the CLI.
pub const SOFTWARE_NAME: &str = "kuzet-cli";

/// Parses a resolver spec given to `flag`.
pub fn resolver(flag: &str, spec: &str) -> Result<DnsTransport, CliError> {
    DnsTransport::parse(spec).map_err(|e| CliError::Usage(format!("{flag}: {e}")))
}

/// The bundled roots, plus the CA file when one is given.
pub fn trust(ca_file: Option<&PathBuf>) -> Result<TrustAnchors, CliError> {
    match ca_file {
        Some(path) => TrustAnchors::bundled_with_ca_file(path)
            .map_err(|e| CliError::Usage(format!("--ca-file: {e}"))),
        None => Ok(TrustAnchors::bundled()),
    }
}

/// Step timeouts: `step` for connect, TLS and HTTP; `dns` for lookups; defaults otherwise.
pub fn timeouts(step: Option<Duration>, dns: Option<Duration>) -> Timeouts {
    let defaults = Timeouts::default();
    Timeouts {
        dns: dns.unwrap_or(defaults.dns),
        connect: step.unwrap_or(defaults.connect),
        tls: step.unwrap_or(defaults.tls),
        http: step.unwrap_or(defaults.http),
    }
}

/// The probe's network as given on the command line (already validated by clap).
pub fn network(probe_cc: &str, probe_asn: &str) -> ProbeNetwork {
    ProbeNetwork {
        probe_cc: probe_cc.to_string(),
        probe_asn: probe_asn.to_string(),
        ..ProbeNetwork::default()
    }
}

/// The CLI's identity in measurements.
pub fn software() -> Software {
    Software {
        name: SOFTWARE_NAME.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    }
}
