//! The throttling-detection benchmark, in the censorship lab: how often `kuzet run throttling`
//! calls a capped name throttled (detection), how often it calls an uncapped one throttled or
//! suspected (false positives), and what each target costs in bytes and time.
//!
//! Conditions, on a 20 Mbit/s access link (an HTB class on the censor, see
//! `kuzet_e2e::lab::shaping`), each target name capped by its SNI:
//! - `cap 1/3`: the target name at 6,667 kbit/s;
//! - `cap 1/2`: the target name at 10,000 kbit/s;
//! - `no cap`: no rule;
//! - `no cap, loss`: no rule, 3 % of packets dropped at random both ways (a second lab).
//!
//! Every repetition is a fresh `kuzet run throttling --json --no-store` process with one target
//! (and the default random control name) against the real `kuzet-server --throughput`, after
//! the connectivity check every run makes first (anchors on an uncapped lab site, `--anchors`;
//! its time is in the wall time, not in the bytes per target); the capped and uncapped
//! conditions of one lab take turns, so slow drift of the machine hits them alike. Rates are
//! Wilson 95 % intervals.
//!
//! Run (as root): `cargo bench -p kuzet-e2e --bench throttling_lab -- [N] [N_CAPPED]`:
//! N repetitions of each uncapped condition (default 100), N_CAPPED of each capped one (default
//! N). `KUZET_BIN`, `KUZET_SERVER_BIN`, `KUZET_LAB_NODE` choose other binaries.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use kuzet_e2e::lab::censor::Rule;
use kuzet_e2e::lab::{self, Lab, LabOptions, Scenario};
use serde_json::Value;

/// The access link's capacity.
const CAPACITY_KBPS: u32 = 20_000;
/// The random loss of the lossy condition.
const LOSS_PERCENT: u8 = 3;
/// The throughput server's address.
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 3, 90);
/// The address of the site the connectivity check's anchors are on (no rule touches it).
const ANCHOR_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 4, 40);

/// One benchmark condition: a target name and whether a cap applies to it.
struct Condition {
    label: &'static str,
    target: &'static str,
    capped: bool,
    runs: usize,
}

/// What the repetitions of one condition gave.
#[derive(Default)]
struct Tally {
    verdicts: BTreeMap<String, usize>,
    errors: Vec<String>,
    bytes: Vec<u64>,
    seconds: Vec<f64>,
    ratios: Vec<f64>,
}

impl Tally {
    fn runs(&self) -> usize {
        self.verdicts.values().sum::<usize>() + self.errors.len()
    }

    fn count(&self, verdict: &str) -> usize {
        self.verdicts.get(verdict).copied().unwrap_or(0)
    }
}

fn scenario(name: &str, censor: Vec<Rule>) -> Scenario {
    // From JSON, as the scenario files are: fields added later keep their defaults.
    let scenario: Scenario = serde_json::from_value(serde_json::json!({
        "name": name,
        "description": format!("throttling benchmark: {censor:?}"),
        "sites": [{ "name": "anchor.kuzet.test", "ip": ANCHOR_IP, "https": true }],
        "link": { "capacity_kbps": CAPACITY_KBPS },
        "throughput_servers": [{ "name": "d", "ip": SERVER_IP, "port": 443 }],
        "censor": censor,
    }))
    .unwrap_or_else(|e| panic!("benchmark scenario: {e}"));
    scenario.check().unwrap_or_else(|e| panic!("{e}"));
    scenario
}

/// One repetition: `kuzet run throttling` for `target`; its verdict, bytes, time and ratio.
fn run_once(lab: &Lab, target: &str, tally: &mut Tally) {
    let addr = lab.throughput_addr("d").expect("server d").to_string();
    let pin = lab
        .throughput_pin("d")
        .expect("the pin of server d")
        .to_string();
    let anchors = lab.anchors_file().expect("the lab's anchors");
    let anchors = anchors.display().to_string();
    let started = Instant::now();
    let output = lab.run_kuzet([
        "run",
        "throttling",
        "--json",
        "--no-store",
        "--anchors",
        &anchors,
        "--server",
        &addr,
        "--pin",
        &pin,
        "--targets",
        target,
    ]);
    let seconds = started.elapsed().as_secs_f64();
    let measurement = output
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|m| m["input"] == target);
    let Some(m) = measurement.filter(|_| output.code() == Some(0)) else {
        let last = output.stderr.lines().last().unwrap_or_default().to_string();
        tally
            .errors
            .push(format!("exit {:?}: {last}", output.code()));
        return;
    };
    let x = &m["test_keys"]["x_throttling"];
    let verdict = x["verdict"].as_str().unwrap_or("(none)").to_string();
    *tally.verdicts.entry(verdict).or_default() += 1;
    tally.bytes.push(x["bytes_used"].as_u64().unwrap_or(0));
    tally.seconds.push(seconds);
    if let Some(ratio) = x["median_ratio"].as_f64() {
        tally.ratios.push(ratio);
    }
}

/// Runs the conditions of one lab, taking turns, and returns their tallies by label.
fn run_lab(scenario: &Scenario, conditions: &[Condition]) -> Vec<Tally> {
    let options = LabOptions {
        test_helpers: true,
        node_bin: None,
        server_bin: None,
    };
    let lab =
        Lab::up_with(scenario, &options).unwrap_or_else(|e| panic!("the lab did not come up: {e}"));
    let mut tallies: Vec<Tally> = conditions.iter().map(|_| Tally::default()).collect();
    let most = conditions.iter().map(|c| c.runs).max().unwrap_or(0);
    let started = Instant::now();
    for round in 0..most {
        for (condition, tally) in conditions.iter().zip(tallies.iter_mut()) {
            if round < condition.runs {
                run_once(&lab, condition.target, tally);
            }
        }
        if (round + 1) % 10 == 0 || round + 1 == most {
            let progress: Vec<String> = conditions
                .iter()
                .zip(&tallies)
                .map(|(c, t)| format!("{}: {:?}", c.label, t.verdicts))
                .collect();
            eprintln!(
                "[{:>6.0?}] round {}/{most}: {}",
                Duration::from_secs(started.elapsed().as_secs()),
                round + 1,
                progress.join("; ")
            );
        }
    }
    tallies
}

/// The Wilson score interval (95 %) of `k` successes in `n` trials.
fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_964_f64;
    let n = n as f64;
    let p = k as f64 / n;
    let denominator = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denominator;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

fn rate(k: usize, n: usize) -> String {
    let (low, high) = wilson(k, n);
    let p = if n == 0 { 0.0 } else { k as f64 / n as f64 };
    format!(
        "{k}/{n} = {:.1} % [{:.1}, {:.1}]",
        p * 100.0,
        low * 100.0,
        high * 100.0
    )
}

fn median<T: Copy + PartialOrd>(values: &[T]) -> Option<T> {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    sorted.get(sorted.len() / 2).copied()
}

fn main() {
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = numbers.first().copied().unwrap_or(100);
    let n_capped = numbers.get(1).copied().unwrap_or(n);
    lab::require();
    // Built (or found fresh) before any timing.
    kuzet_e2e::cli::kuzet_bin();
    let cap = |name: &str, rate_kbps: u32| Rule::SniThrottle {
        name: name.to_string(),
        rate_kbps,
    };
    let shaped = scenario(
        "bench-throttling",
        vec![
            cap("cap-third.kuzet.test", CAPACITY_KBPS / 3),
            cap("cap-half.kuzet.test", CAPACITY_KBPS / 2),
        ],
    );
    let lossy = scenario(
        "bench-throttling-loss",
        vec![Rule::RandomLoss {
            percent: LOSS_PERCENT,
        }],
    );
    let shaped_conditions = [
        Condition {
            label: "cap 1/3",
            target: "cap-third.kuzet.test",
            capped: true,
            runs: n_capped,
        },
        Condition {
            label: "cap 1/2",
            target: "cap-half.kuzet.test",
            capped: true,
            runs: n_capped,
        },
        Condition {
            label: "no cap",
            target: "free.kuzet.test",
            capped: false,
            runs: n,
        },
    ];
    let lossy_conditions = [Condition {
        label: "no cap, 3 % loss",
        target: "free.kuzet.test",
        capped: false,
        runs: n,
    }];
    let started = Instant::now();
    let mut results = Vec::new();
    for (scenario, conditions) in [
        (&shaped, &shaped_conditions[..]),
        (&lossy, &lossy_conditions[..]),
    ] {
        let tallies = run_lab(scenario, conditions);
        results.extend(conditions.iter().zip(tallies));
    }

    println!(
        "\nthrottling benchmark: {CAPACITY_KBPS} kbit/s link, {} s in all, kuzet {}",
        started.elapsed().as_secs(),
        kuzet_e2e::cli::kuzet_bin().display()
    );
    println!(
        "| condition | runs | verdicts | detection (throttled) | false positives (throttled or \
         suspected) | median ratio | bytes per target, median / max | wall time per target, \
         median / max |"
    );
    println!("|---|---:|---|---|---|---:|---:|---:|");
    for (condition, tally) in &results {
        let runs = tally.runs();
        let verdicts: Vec<String> = tally
            .verdicts
            .iter()
            .map(|(v, k)| format!("{v} {k}"))
            .chain((!tally.errors.is_empty()).then(|| format!("error {}", tally.errors.len())))
            .collect();
        let throttled = tally.count("throttled");
        let (detection, false_positives) = if condition.capped {
            (rate(throttled, runs), "—".to_string())
        } else {
            (
                "—".to_string(),
                rate(throttled + tally.count("suspected"), runs),
            )
        };
        let max_seconds = tally.seconds.iter().copied().fold(0.0, f64::max);
        println!(
            "| {} | {runs} | {} | {detection} | {false_positives} | {} | {} / {} B | {:.1} / \
             {max_seconds:.1} s |",
            condition.label,
            verdicts.join(", "),
            median(&tally.ratios).map_or("—".to_string(), |r| format!("{r:.3}")),
            median(&tally.bytes).unwrap_or(0),
            tally.bytes.iter().max().copied().unwrap_or(0),
            median(&tally.seconds).unwrap_or(0.0),
        );
    }
    for (condition, tally) in &results {
        for error in tally.errors.iter().take(5) {
            println!("{}: {error}", condition.label);
        }
    }
}
