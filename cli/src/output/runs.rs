//! What `kuzet run` prints: a table per suite with each result's verdict word (the word that
//! is stored and uploaded), the connectivity check's evidence, and one summary line with what
//! was not measured and why.

use std::collections::BTreeMap;

use kuzet_core::experiment::connectivity::{
    probes::{PathOutcome, Step},
    AnchorGroup, AnchorReport, CaptiveCheck, ConnectivityOutcome,
};
use kuzet_core::experiment::messaging::MessagingVerdict;
use kuzet_core::experiment::throttling::ThrottlingVerdict;
use kuzet_core::session::{NotMeasured, RunStatus, RunSummary, Suite, Verdict, VerdictGroup};

use super::table::{format_bytes, truncate};
use crate::client::Reported;
use crate::commands::store_open::columns;

/// The widest URL column before URLs are cut with an ellipsis.
const MAX_URL_WIDTH: usize = 48;
/// The widest throttling target column.
const MAX_TARGET_WIDTH: usize = 40;

/// The results of `suite`, problems first (by verdict group), plan order within a group.
fn of_suite(reported: &[Reported], suite: Suite) -> Vec<&Reported> {
    let mut rows: Vec<&Reported> = reported
        .iter()
        .filter(|r| r.result.suite() == suite)
        .collect();
    rows.sort_by_key(|r| r.result.group);
    rows
}

/// One line per website: its verdict word, the URL, the verdict in short, the time.
pub fn web_table(reported: &[Reported]) -> String {
    let rows: Vec<Vec<String>> = of_suite(reported, Suite::Web)
        .into_iter()
        .map(|r| {
            let detail = match &r.result.verdict {
                Verdict::Web(verdict) => verdict.to_string(),
                other => other.word().to_string(),
            };
            vec![
                r.result.word.clone(),
                truncate(&r.result.target, MAX_URL_WIDTH),
                detail,
                format!("{} ms", r.result.runtime.as_millis()),
            ]
        })
        .collect();
    columns(&["VERDICT", "URL", "DETAIL", "TIME"], &rows, &[3])
}

/// One row per app: its verdict word, the blocked step, failing endpoints, data, a sentence.
pub fn messaging_table(reported: &[Reported]) -> String {
    let rows: Vec<Vec<String>> = of_suite(reported, Suite::Messaging)
        .into_iter()
        .map(|r| {
            let (step, failing) = match &r.result.verdict {
                Verdict::Messaging(
                    MessagingVerdict::Blocked {
                        step,
                        failing,
                        checked,
                        ..
                    }
                    | MessagingVerdict::PartiallyBlocked {
                        step,
                        failing,
                        checked,
                        ..
                    },
                ) => (
                    step.map_or("-".to_string(), |s| s.as_str().to_string()),
                    format!("{failing}/{checked}"),
                ),
                Verdict::Messaging(MessagingVerdict::Ok { checked }) => {
                    ("-".to_string(), format!("0/{checked}"))
                }
                _ => ("-".to_string(), "-".to_string()),
            };
            vec![
                r.result.target.clone(),
                r.result.word.clone(),
                step,
                failing,
                format_bytes(r.result.bytes_received),
                r.result.explanation.clone(),
            ]
        })
        .collect();
    columns(
        &[
            "APP",
            "VERDICT",
            "BLOCKED AT",
            "FAILING",
            "DATA",
            "EXPLANATION",
        ],
        &rows,
        &[3, 4],
    )
}

/// One row per throttling target: verdict word, rate against the control, pairs, data, a
/// sentence.
pub fn throttling_table(reported: &[Reported]) -> String {
    let rows: Vec<Vec<String>> = of_suite(reported, Suite::Throttling)
        .into_iter()
        .map(|r| {
            let x = &r.measurement.test_keys["x_throttling"];
            let pairs = x.get("pairs").and_then(|p| p.as_u64()).unwrap_or(0);
            let escalated = x
                .get("escalated")
                .and_then(|e| e.as_bool())
                .unwrap_or(false);
            vec![
                truncate(&r.result.target, MAX_TARGET_WIDTH),
                r.result.word.clone(),
                rate_cell(&r.result.verdict),
                format!("{pairs}{}", if escalated { " (escalated)" } else { "" }),
                format_bytes(r.result.bytes_received),
                r.result.explanation.clone(),
            ]
        })
        .collect();
    columns(
        &[
            "TARGET",
            "VERDICT",
            "RATE (TARGET VS CONTROL)",
            "PAIRS",
            "DATA",
            "EXPLANATION",
        ],
        &rows,
        &[4],
    )
}

fn rate_cell(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Throttling(ThrottlingVerdict::Throttled {
            target_kbps,
            control_kbps,
            ..
        }) => format!("{target_kbps} vs {control_kbps} kbit/s"),
        Verdict::Throttling(
            ThrottlingVerdict::NotThrottled { median_ratio }
            | ThrottlingVerdict::Suspected { median_ratio },
        ) => format!("{:.0}% of control", median_ratio * 100.0),
        Verdict::Throttling(ThrottlingVerdict::Stalled { after_bytes }) => {
            format!("froze after {}", format_bytes(*after_bytes))
        }
        _ => "-".to_string(),
    }
}

/// Every result of a whole run (`kuzet run`), problems first: group, suite, target, verdict
/// word and explanation.
pub fn all_table(reported: &[Reported]) -> String {
    let mut rows: Vec<&Reported> = reported.iter().collect();
    rows.sort_by_key(|r| r.result.group);
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|r| {
            vec![
                r.result.group.word().to_string(),
                r.result.suite().name().to_string(),
                truncate(&r.result.target, MAX_URL_WIDTH),
                r.result.word.clone(),
                r.result.explanation.clone(),
            ]
        })
        .collect();
    columns(
        &["GROUP", "SUITE", "TARGET", "VERDICT", "EXPLANATION"],
        &rows,
        &[],
    )
}

/// Counts per verdict word, the network the run started under, the data and time used, what
/// was not measured and why, and any problem.
pub fn summary_line(summary: &RunSummary) -> String {
    let mut counts: BTreeMap<(VerdictGroup, &str), usize> = BTreeMap::new();
    for result in &summary.results {
        *counts
            .entry((result.group, result.word.as_str()))
            .or_default() += 1;
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|((_, word), n)| format!("{n} {word}"))
        .collect();
    let mut text = format!(
        "{} measured: {}; {} used in {:.1} s",
        summary.results.len(),
        if parts.is_empty() {
            "nothing".to_string()
        } else {
            parts.join(", ")
        },
        format_bytes(summary.bytes_used),
        summary.duration.as_secs_f64()
    );
    if let Some(network) = summary.network {
        text.push_str(&format!("; network at the start: {network}"));
    }
    if !summary.not_measured.is_empty() {
        let why = match summary.status {
            RunStatus::Cancelled => "stopped",
            RunStatus::BudgetExhausted => "data budget used up",
            RunStatus::OutOfTime => "time budget used up",
            RunStatus::Completed if !summary.problems.is_empty() => "a suite could not run",
            RunStatus::Completed => "not started",
        };
        text.push_str(&format!(
            "; {} not measured ({why})",
            summary.not_measured.len()
        ));
    }
    text
}

/// The most targets [`not_measured_line`] names before it counts the rest.
const NOT_MEASURED_NAMED: usize = 20;

/// `not measured (3): a, b, c`: the targets a run did not measure, the same in `kuzet run` and
/// `kuzet results --run N` (at most [`NOT_MEASURED_NAMED`] named, then `and N more`).
pub fn not_measured_line(not_measured: &[NotMeasured]) -> String {
    let names: Vec<&str> = not_measured
        .iter()
        .take(NOT_MEASURED_NAMED)
        .map(|n| n.target.as_str())
        .collect();
    let more = not_measured.len() - names.len();
    format!(
        "not measured ({}): {}{}",
        not_measured.len(),
        names.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

/// The check's status, its explanation, the evidence table, the captive check, the facts and
/// the cost; `transition` is the recorded change, when the check changed the timeline.
pub fn connectivity_outcome(outcome: &ConnectivityOutcome, transition: Option<&str>) -> String {
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
    match transition {
        Some(transition) => text.push_str(&format!("recorded: {transition}\n")),
        None => text.push_str("recorded: no change since the last check\n"),
    }
    text
}

fn anchor_row(anchor: &AnchorReport) -> Vec<String> {
    let result = anchor.result();
    let path = |outcome: Option<&PathOutcome>| match outcome {
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

fn step_name(step: Step) -> &'static str {
    match step {
        Step::Resolve => "resolve",
        Step::Connect => "connect",
        Step::TlsHandshake => "tls",
        Step::HttpRequest => "http",
    }
}

fn group_name(group: AnchorGroup) -> &'static str {
    match group {
        AnchorGroup::LocalResolver => "resolver",
        AnchorGroup::Domestic => "domestic",
        AnchorGroup::International => "international",
        AnchorGroup::Service => "service",
    }
}
