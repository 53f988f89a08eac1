//! `kuzet run`: every suite as the apps' "Test now" does it, or one suite (`web`,
//! `messaging`, `throttling`, `connectivity`). Each builds a plan from its flags and runs it on
//! the one run path; this module only prints what the run reported.

use kuzet_core::session::Suite;

use crate::args::{
    RunAllArgs, RunArgs, RunConnectivityArgs, RunMessagingArgs, RunThrottlingArgs, RunWebArgs,
    Suite as SuiteArgs,
};
use crate::client::{self, Finished};
use crate::error::CliError;
use crate::output::{runs, write_stdout};
use crate::plan::Draft;

/// Runs `kuzet run`.
pub async fn execute(args: RunArgs) -> Result<(), CliError> {
    match args.suite {
        None => all(args.all).await,
        Some(SuiteArgs::Web(args)) => web(args).await,
        Some(SuiteArgs::Messaging(args)) => messaging(args).await,
        Some(SuiteArgs::Throttling(args)) => throttling(args).await,
        Some(SuiteArgs::Connectivity(args)) => connectivity(args).await,
    }
}

/// Every suite: the connectivity check, websites, messaging apps, and throttling when a
/// server (or passive targets) is given.
async fn all(args: RunAllArgs) -> Result<(), CliError> {
    let mut draft = Draft::new(&args.settings, &args.check)?;
    draft.budget(&args.budget);
    draft.targets.connectivity = true;
    let source = draft.websites(&args.web)?;
    draft.apps(&args.messaging)?;
    draft.throttling(&args.throttling, false).await?;
    warn_about(&source, &draft);
    let plan = draft.plan(&args.output).await?;
    let finished = client::run(plan, args.output.json).await?;
    print(&finished, args.output.json, |reported| {
        let mut text = String::new();
        if let Some(check) = finished.checks.first() {
            text.push_str(&format!(
                "network: {} — {}\n\n",
                check.status, check.explanation
            ));
        }
        text.push_str(&runs::all_table(reported));
        text
    })
}

async fn web(args: RunWebArgs) -> Result<(), CliError> {
    let mut draft = Draft::new(&args.settings, &args.check)?;
    draft.budget(&args.budget);
    let source = draft.websites(&args.web)?;
    warn_about(&source, &draft);
    let plan = draft.plan(&args.output).await?;
    let finished = client::run(plan, args.output.json).await?;
    print(&finished, args.output.json, runs::web_table)
}

async fn messaging(args: RunMessagingArgs) -> Result<(), CliError> {
    let mut draft = Draft::new(&args.settings, &args.check)?;
    draft.budget(&args.budget);
    draft.apps(&args.messaging)?;
    let plan = draft.plan(&args.output).await?;
    let finished = client::run(plan, args.output.json).await?;
    print(&finished, args.output.json, runs::messaging_table)
}

async fn throttling(args: RunThrottlingArgs) -> Result<(), CliError> {
    let mut draft = Draft::new(&args.settings, &args.check)?;
    draft.budget(&args.budget);
    draft.throttling(&args.throttling, true).await?;
    let plan = draft.plan(&args.output).await?;
    let finished = client::run(plan, args.output.json).await?;
    print(&finished, args.output.json, runs::throttling_table)
}

/// One connectivity check: the status, why, the evidence per anchor, and the recorded
/// transition.
async fn connectivity(args: RunConnectivityArgs) -> Result<(), CliError> {
    let mut draft = Draft::new(&args.settings, &args.check)?;
    draft.targets.connectivity = true;
    let plan = draft.plan(&args.output).await?;
    let finished = client::run(plan, args.output.json).await?;
    if !args.output.json {
        let Some(outcome) = finished.checks.first() else {
            return finished.ending();
        };
        let transition = finished
            .reported
            .iter()
            .find(|r| r.result.suite() == Suite::Connectivity)
            .and_then(|r| transition_words(&r.measurement));
        write_stdout(&runs::connectivity_outcome(outcome, transition.as_deref()))?;
    }
    finished.ending()
}

/// `from → to at TIME UTC`, from a check's stored measurement (`x_transition`).
pub fn transition_words(measurement: &kuzet_core::report::Measurement) -> Option<String> {
    let transition = measurement.test_keys.get("x_transition")?;
    let to = transition.get("to")?.as_str()?;
    let from = transition
        .get("from")
        .and_then(|f| f.as_str())
        .unwrap_or("none");
    let at = transition.get("at").and_then(|a| a.as_str()).unwrap_or("");
    Some(format!("{from} → {to} at {at} UTC"))
}

/// Prints the table (or, with JSON lines already printed, the summary on standard error),
/// then ends as the run did.
fn print(
    finished: &Finished,
    json: bool,
    table: impl FnOnce(&[client::Reported]) -> String,
) -> Result<(), CliError> {
    if finished.output_closed {
        return Ok(());
    }
    let summary = runs::summary_line(&finished.summary);
    if json {
        eprintln!("{summary}");
    } else {
        write_stdout(&format!("{}\n{summary}\n", table(&finished.reported)))?;
    }
    if !finished.summary.not_measured.is_empty() && !json {
        eprintln!(
            "{}",
            runs::not_measured_line(&finished.summary.not_measured)
        );
    }
    // The problems are the command's error (`ending`), unless it was stopped: then they would
    // go unsaid.
    if finished.summary.status == kuzet_core::session::RunStatus::Cancelled {
        for problem in &finished.summary.problems {
            eprintln!("kuzet: warning: {problem}");
        }
    }
    finished.ending()
}

/// Says where bundled lists come from, and that verdicts need a test helper.
fn warn_about(list_source: &str, draft: &Draft) {
    if list_source.starts_with("bundled:") {
        eprintln!("{}", kuzet_core::testlists::bundled::ATTRIBUTION);
    }
    if draft.setup.test_helpers.is_empty() {
        eprintln!("kuzet: warning: no --th test helper: most verdicts will be `undetermined`");
    }
}
