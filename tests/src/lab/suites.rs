//! Running the measuring suites (`kuzet run web`, `messaging`, `throttling`) in the lab as a
//! user would: the real CLI in the client's namespace with the scenario's anchors (its `outage`
//! section), the messaging apps pointed at lab servers, the real test helper and throughput
//! server in the lab's internet, a store of its own, and short timeouts. Then reading what it
//! printed (`--json` lines) and each measurement's verdict word where the suite writes it.
//!
//! Used by `tests/tests/lab_shutdown.rs` and `tests/tests/lab_cancel.rs` with the `shutdown`
//! scenario (`tests/lab/scenarios/shutdown.json`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use super::process::LabError;
use super::{topology, Lab};
use crate::cli::KuzetOutput;

/// The network the measurements name (known, so that uploads are not held back).
pub const PROBE_CC: &str = "KZ";
/// The network's ASN.
pub const PROBE_ASN: &str = "AS9198";

/// How the CLI measures in the lab: the files it reads and the flags every run gets.
#[derive(Debug, Clone)]
pub struct SuiteSetup {
    /// The scenario's anchors (`--anchors`).
    pub anchors: PathBuf,
    /// The store (`--data-dir`).
    pub data_dir: PathBuf,
    /// The lab CA (`--ca-file`).
    pub ca_file: PathBuf,
    /// `--timeout` (connects, handshakes, HTTP round trips).
    pub timeout: Duration,
    /// `--dns-timeout`.
    pub dns_timeout: Duration,
    /// `--json`: measurements as JSON lines on standard output (else the suite's table).
    pub json: bool,
}

impl SuiteSetup {
    /// A setup with the scenario's anchors written into the lab's directory, the store in
    /// `data_dir` and the given timeouts.
    pub fn new(
        lab: &Lab,
        data_dir: &Path,
        timeout: Duration,
        dns_timeout: Duration,
    ) -> Result<SuiteSetup, LabError> {
        Ok(SuiteSetup {
            anchors: write_anchors(lab)?,
            data_dir: data_dir.to_path_buf(),
            ca_file: lab.ca_file().to_path_buf(),
            timeout,
            dns_timeout,
            json: true,
        })
    }

    /// The flags every measuring run gets: network, anchors, trust, store, timeouts, and
    /// `--json` when asked.
    pub fn common_args(&self) -> Vec<OsString> {
        let secs = |d: Duration| format!("{}", d.as_secs_f64());
        let mut args: Vec<OsString> = [
            "--probe-cc",
            PROBE_CC,
            "--probe-asn",
            PROBE_ASN,
            "--timeout",
            &secs(self.timeout),
            "--dns-timeout",
            &secs(self.dns_timeout),
        ]
        .iter()
        .map(OsString::from)
        .collect();
        if self.json {
            args.push("--json".into());
        }
        for (flag, path) in [
            ("--anchors", &self.anchors),
            ("--ca-file", &self.ca_file),
            ("--data-dir", &self.data_dir),
        ] {
            args.push(flag.into());
            args.push(path.into());
        }
        args
    }

    /// `kuzet run web` over `urls` (written to the list `name` in the lab's directory) with
    /// the scenario's test helper `helper`.
    pub fn web_args(&self, lab: &Lab, name: &str, urls: &[&str], helper: &str) -> Vec<OsString> {
        let list = lab.dir().join(name);
        let text: String = urls.iter().map(|u| format!("{u}\n")).collect();
        std::fs::write(&list, text).expect("write the URL list");
        let th = lab.helper_url(helper).expect("the scenario's test helper");
        let mut args: Vec<OsString> = ["run", "web", "--th", &th, "--public-network"]
            .iter()
            .map(OsString::from)
            .collect();
        // The lab's addresses are private; inside the lab they are the public internet.
        args.push(topology::LAB_NET.into());
        args.push("--list".into());
        args.push(list.into());
        args.extend(self.common_args());
        args
    }

    /// `kuzet run messaging` with every app's endpoints in `endpoints` (see
    /// [`messaging_endpoints`]).
    pub fn messaging_args(&self, lab: &Lab, endpoints: &Value) -> Vec<OsString> {
        let path = lab.dir().join("messaging-endpoints.json");
        std::fs::write(&path, endpoints.to_string()).expect("write the endpoints");
        let mut args: Vec<OsString> = vec!["run".into(), "messaging".into(), "--endpoints".into()];
        args.push(path.into());
        args.extend(self.common_args());
        args
    }

    /// `kuzet run throttling` of `targets` against the scenario's throughput server `server`.
    pub fn throttling_args(&self, lab: &Lab, server: &str, targets: &[&str]) -> Vec<OsString> {
        let addr = lab.throughput_addr(server).expect("the throughput server");
        let pin = lab
            .throughput_pin(server)
            .expect("its pin (helpers started)");
        let mut args: Vec<OsString> = [
            "run",
            "throttling",
            "--server",
            &addr.to_string(),
            "--pin",
            pin,
            "--targets",
            &targets.join(","),
        ]
        .iter()
        .map(OsString::from)
        .collect();
        args.extend(self.common_args());
        args
    }
}

/// Writes the scenario's anchors (its `outage.anchors`, `domestic_networks` included) into the
/// lab's directory as `suite-anchors.json`.
pub fn write_anchors(lab: &Lab) -> Result<PathBuf, LabError> {
    let plan = lab
        .outage()
        .ok_or_else(|| LabError::new("the scenario has no outage section (no anchors)"))?;
    let path = lab.dir().join("suite-anchors.json");
    std::fs::write(&path, plan.anchors.to_string())
        .map_err(|e| LabError::new(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}

/// Every messaging app at lab servers: WhatsApp, Telegram (its web client and one data centre
/// at `chat_ip`:80) and Facebook Messenger at `chat_host`, Signal at `signal_url`; Facebook's
/// addresses expected in `networks`.
pub fn messaging_endpoints(
    chat_host: &str,
    chat_ip: std::net::Ipv4Addr,
    signal_url: &str,
    networks: &str,
) -> Value {
    json!({
        "whatsapp": {
            "endpoints": [{ "host": chat_host, "port": 443 }],
            "registration_url": format!("https://{chat_host}/v2/register"),
            "web_url": format!("https://{chat_host}/"),
        },
        "telegram": {
            "datacenters": [format!("{chat_ip}:80")],
            "web_url": format!("https://{chat_host}/"),
        },
        "signal": { "urls": [signal_url], "dns_only": [] },
        "facebook_messenger": {
            "services": [{ "service": "b_api", "host": chat_host, "port": 443 }],
            "expected_networks": [networks],
        },
    })
}

/// The measurements a `--json` run printed, in order.
pub fn printed(output: &KuzetOutput) -> Vec<Value> {
    output
        .stdout
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {line}\n{output:#?}"))
        })
        .collect()
}

/// What a measurement is about: its `input` (a URL, a throttling target) or, for the
/// messaging apps (no input), its test name.
pub fn target_of(measurement: &Value) -> String {
    match measurement["input"].as_str() {
        Some(input) => input.to_string(),
        None => measurement["test_name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    }
}

/// The verdict word a measurement carries where its suite writes it: `x_verdict.kind` (web),
/// `x_status` (messaging, connectivity), `x_throttling.verdict` (throttling).
pub fn word_of(measurement: &Value) -> Option<&str> {
    let keys = &measurement["test_keys"];
    match measurement["test_name"].as_str()? {
        "web_connectivity" => keys["x_verdict"]["kind"].as_str(),
        "kuzet_throttling" => keys["x_throttling"]["verdict"].as_str(),
        _ => keys["x_status"].as_str(),
    }
}

/// True for measurements of the connectivity check (the run's own checks, not targets).
pub fn is_check(measurement: &Value) -> bool {
    measurement["test_name"] == "kuzet_connectivity"
}
