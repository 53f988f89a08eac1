//! The censorship lab for people (as root; `scripts/lab.sh` wraps it):
//!
//! - `kuzet-lab up SCENARIO [--no-helpers] [--state FILE]`: brings up the scenario (a name in
//!   `tests/lab/scenarios/` or a path to a `.json` file), prints `KEY=VALUE` lines describing
//!   it (also written to FILE), then `LAB_READY=1`, and keeps it up until SIGINT, SIGTERM or
//!   SIGHUP, when it tears everything down.
//! - `kuzet-lab status`: the lab namespaces that exist.
//! - `kuzet-lab sweep [--all]`: removes the leftovers of crashed labs (with `--all`, every lab).
//! - `kuzet-lab list`: the scenarios, with their ground truth.
//! - `kuzet-lab bench-scenario LIST.csv OUT.json [SITES]`: writes a benchmark scenario that
//!   serves every host of a test list from SITES (default 4) site addresses.
//! - `kuzet-lab tally OUT.jsonl`: counts the verdicts (`test_keys.x_verdict.kind`) or, for
//!   urlgetter, the failures (`failed_operation/failure`) of a file of measurements.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use kuzet_e2e::lab::{self, topology, Lab, LabOptions, Scenario};

const USAGE: &str = "usage: kuzet-lab up SCENARIO [--no-helpers] [--state FILE]
       kuzet-lab status
       kuzet-lab sweep [--all]
       kuzet-lab list
       kuzet-lab bench-scenario LIST.csv OUT.json [SITES]
       kuzet-lab tally OUT.jsonl";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match words.as_slice() {
        ["up", scenario, rest @ ..] => up(scenario, rest),
        ["status"] => status(),
        ["sweep"] => sweep(false),
        ["sweep", "--all"] => sweep(true),
        ["list"] => list(),
        ["bench-scenario", csv, out] => bench_scenario(csv, out, "4"),
        ["bench-scenario", csv, out, sites] => bench_scenario(csv, out, sites),
        ["tally", file] => tally(file),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kuzet-lab: {message}");
            ExitCode::from(1)
        }
    }
}

/// Blocks the termination signals in this thread (before any other thread exists, so every
/// thread inherits the mask) and returns the set to wait on.
fn block_termination_signals() -> libc::sigset_t {
    // SAFETY: plain libc signal-set calls on a local, zero-initialised sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // A background job or nohup may have inherited "ignore", which would discard the
            // signal before sigwait could see it.
            libc::signal(signal, libc::SIG_DFL);
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn up(name: &str, rest: &[&str]) -> Result<(), String> {
    let signals = block_termination_signals();
    let mut test_helpers = true;
    let mut state = None;
    let mut rest = rest.iter();
    while let Some(arg) = rest.next() {
        match *arg {
            "--no-helpers" => test_helpers = false,
            "--state" => state = Some(PathBuf::from(rest.next().ok_or(USAGE)?)),
            _ => return Err(USAGE.to_string()),
        }
    }
    lab::preflight()?;
    let scenario = Scenario::load(name)?;
    // The node binary sits beside this one when both were built by cargo.
    let node_bin = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("kuzet-lab-node")))
        .filter(|path| path.is_file());
    let options = LabOptions {
        test_helpers,
        node_bin,
        server_bin: None,
    };
    let lab = Lab::up_with(&scenario, &options).map_err(|e| e.to_string())?;
    let description = format!("{}LAB_PID={}\n", lab.describe(), std::process::id());
    if let Some(path) = &state {
        std::fs::write(path, &description)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{description}LAB_READY=1");
    let _ = out.flush();
    drop(out);
    let mut received = 0;
    // SAFETY: waits for one of the blocked signals in `signals`.
    unsafe {
        libc::sigwait(&signals, &mut received);
    }
    eprintln!("kuzet-lab: signal {received}, tearing down");
    drop(lab);
    if let Some(path) = &state {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

fn status() -> Result<(), String> {
    let namespaces = topology::list_lab_namespaces().map_err(|e| e.to_string())?;
    if namespaces.is_empty() {
        println!("no lab namespaces");
    }
    for namespace in namespaces {
        println!("{namespace}");
    }
    Ok(())
}

fn sweep(everything: bool) -> Result<(), String> {
    for removed in topology::sweep(everything) {
        println!("removed {removed}");
    }
    Ok(())
}

fn list() -> Result<(), String> {
    for name in Scenario::list() {
        let scenario = Scenario::load(&name)?;
        println!("{name}: {}", scenario.description);
        for truth in &scenario.urls {
            let expect = serde_json::to_string(&truth.expect).map_err(|e| e.to_string())?;
            println!("  {} [{}] {expect}", truth.url, truth.helper);
        }
        for truth in &scenario.throttling {
            let via = truth.server.as_deref().or(truth.baseline.as_deref());
            println!(
                "  {} [{}] throttling: {}",
                truth.target,
                via.unwrap_or_default(),
                truth.expect.as_str()
            );
        }
    }
    Ok(())
}

fn bench_scenario(csv: &str, out: &str, sites: &str) -> Result<(), String> {
    let sites: u8 = sites
        .parse()
        .map_err(|_| format!("bad site count {sites:?}"))?;
    let text = std::fs::read_to_string(csv).map_err(|e| format!("cannot read {csv}: {e}"))?;
    let urls = lab::scenario::urls_of_csv(&text);
    let scenario = Scenario::bench("bench", &urls, sites)?;
    let json = serde_json::to_string_pretty(&scenario).map_err(|e| e.to_string())?;
    std::fs::write(out, json).map_err(|e| format!("cannot write {out}: {e}"))?;
    eprintln!(
        "kuzet-lab: {} URLs, {} hosts on {} sites → {out}",
        urls.len(),
        scenario.honest_names().len(),
        scenario.sites.len()
    );
    Ok(())
}

fn tally(file: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?;
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let m: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{file}: not JSON: {e}"))?;
        let keys = &m["test_keys"];
        // urlgetter's `x_verdict` is only ok or failed: its failures say more.
        let urlgetter = m["test_name"] == "urlgetter";
        let key = if let Some(kind) = keys["x_verdict"]["kind"].as_str().filter(|_| !urlgetter) {
            kind.to_string()
        } else if let Some(failure) = keys["failure"].as_str() {
            format!(
                "{}/{failure}",
                keys["failed_operation"].as_str().unwrap_or("?")
            )
        } else {
            "ok (no failure)".to_string()
        };
        *counts.entry(key).or_default() += 1;
    }
    for (key, count) in counts {
        println!("{count:6}  {key}");
    }
    Ok(())
}
