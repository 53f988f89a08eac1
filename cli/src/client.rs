//! The command line as a client of the one run path (`kuzet_core::session`), as the apps are:
//! it starts a plan, shows progress, prints JSON lines in plan order as results land, stops on
//! Ctrl-C or SIGTERM keeping everything that finished, and hands back what the run reported.
//! It keeps no loop, verdict mapping or store write of its own.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use kuzet_core::experiment::connectivity::ConnectivityOutcome;
use kuzet_core::report::Measurement;
use kuzet_core::session::{self, RunListener, RunPlan, RunStatus, RunSummary, Suite, TargetResult};
use tokio_util::sync::CancellationToken;

use crate::error::CliError;
use crate::output::progress::Progress;
use crate::output::{write_stdout, Written};

/// One result as the run reported it, with its measurement as stored.
#[derive(Debug, Clone)]
pub struct Reported {
    /// The result.
    pub result: TargetResult,
    /// Its measurement.
    pub measurement: Measurement,
}

/// What a run gave the command line.
#[derive(Debug)]
pub struct Finished {
    /// Every result, in plan order.
    pub reported: Vec<Reported>,
    /// Every connectivity check the run made, in order.
    pub checks: Vec<ConnectivityOutcome>,
    /// The run's summary.
    pub summary: RunSummary,
    /// Standard output was closed while printing JSON lines (the run was stopped).
    pub output_closed: bool,
}

impl Finished {
    /// The error the command ends with, after printing, when the run did not complete: 130
    /// when interrupted, 1 when a suite could not run.
    pub fn ending(&self) -> Result<(), CliError> {
        if self.output_closed {
            return Ok(());
        }
        if self.summary.status == RunStatus::Cancelled {
            return Err(CliError::Interrupted(format!(
                "stopped: {} finished result(s) kept, {} target(s) not measured",
                self.summary.results.len(),
                self.summary.not_measured.len()
            )));
        }
        if !self.summary.problems.is_empty() {
            return Err(CliError::Run(self.summary.problems.join("; ")));
        }
        Ok(())
    }
}

/// Runs `plan` to its end (or until Ctrl-C / SIGTERM), printing each measurement as a JSON
/// line in plan order when `json`.
pub async fn run(plan: RunPlan, json: bool) -> Result<Finished, CliError> {
    let order: Vec<(Suite, String)> = plan
        .targets
        .suites()
        .into_iter()
        .flat_map(|suite| {
            plan.targets
                .names(suite)
                .into_iter()
                .map(move |name| (suite, name))
        })
        .collect();
    let cancel = CancellationToken::new();
    let printer = Arc::new(Printer::new(&order, json, cancel.clone()));
    stop_on_signals(cancel.clone())?;
    let handle = session::start(plan, printer.clone(), cancel)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let summary = handle
        .wait()
        .await
        .map_err(|e| CliError::Run(e.to_string()))?;
    printer.progress.clear();
    let mut state = printer.state();
    if json {
        state.print_ready(true);
    }
    let reported = std::mem::take(&mut state.slots)
        .into_iter()
        .flatten()
        .chain(std::mem::take(&mut state.extra))
        .collect();
    Ok(Finished {
        reported,
        checks: std::mem::take(&mut state.checks),
        summary,
        output_closed: printer.closed.load(Ordering::Acquire),
    })
}

/// The listener: progress on standard error, JSON lines on standard output.
struct Printer {
    progress: Progress,
    json: bool,
    closed: Arc<AtomicBool>,
    state: Mutex<PrintState>,
}

struct PrintState {
    /// Each planned target's result, once reported.
    slots: Vec<Option<Reported>>,
    /// Where each target's next result goes.
    positions: BTreeMap<(Suite, String), VecDeque<usize>>,
    /// Results of targets not in the plan.
    extra: Vec<Reported>,
    /// The first slot not yet printed.
    next: usize,
    checks: Vec<ConnectivityOutcome>,
    closed: Arc<AtomicBool>,
    cancel: CancellationToken,
}

impl Printer {
    fn new(order: &[(Suite, String)], json: bool, cancel: CancellationToken) -> Printer {
        let mut positions: BTreeMap<(Suite, String), VecDeque<usize>> = BTreeMap::new();
        for (index, key) in order.iter().enumerate() {
            positions.entry(key.clone()).or_default().push_back(index);
        }
        let closed = Arc::new(AtomicBool::new(false));
        Printer {
            progress: Progress::new(order.len()),
            json,
            closed: closed.clone(),
            state: Mutex::new(PrintState {
                slots: vec![None; order.len()],
                positions,
                extra: Vec::new(),
                next: 0,
                checks: Vec::new(),
                closed,
                cancel,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PrintState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl PrintState {
    /// Prints every result whose turn has come (all that are left, at the end).
    fn print_ready(&mut self, at_end: bool) {
        while self.next < self.slots.len() && !self.closed.load(Ordering::Acquire) {
            match &self.slots[self.next] {
                Some(reported) => {
                    let line = match serde_json::to_string(&reported.measurement) {
                        Ok(line) => line,
                        Err(error) => {
                            eprintln!("kuzet: warning: cannot encode a measurement: {error}");
                            self.next += 1;
                            continue;
                        }
                    };
                    if matches!(
                        write_stdout(&format!("{line}\n")),
                        Ok(Written::Closed) | Err(_)
                    ) {
                        self.closed.store(true, Ordering::Release);
                        self.cancel.cancel();
                    }
                }
                None if at_end => {}
                None => return,
            }
            self.next += 1;
        }
        if at_end {
            for reported in &self.extra {
                if let Ok(line) = serde_json::to_string(&reported.measurement) {
                    let _ = write_stdout(&format!("{line}\n"));
                }
            }
        }
    }
}

impl RunListener for Printer {
    fn on_target_started(&self, _suite: Suite, target: &str) {
        self.progress.started(target);
    }

    fn on_target_step(&self, _suite: Suite, target: &str, step: &str) {
        self.progress.started(&format!("{target}: {step}"));
    }

    fn on_network_check(&self, outcome: &ConnectivityOutcome) {
        self.state().checks.push(outcome.clone());
    }

    fn on_target_result(&self, result: &TargetResult, measurement: &Measurement) {
        self.progress.finished_one();
        let reported = Reported {
            result: result.clone(),
            measurement: measurement.clone(),
        };
        let mut state = self.state();
        let key = (result.suite(), result.target.clone());
        match state.positions.get_mut(&key).and_then(VecDeque::pop_front) {
            Some(index) => state.slots[index] = Some(reported),
            None => state.extra.push(reported),
        }
        if self.json {
            self.progress.suspend(|| state.print_ready(false));
        }
    }
}

/// Cancels `cancel` on the first Ctrl-C or SIGTERM (the run then keeps what finished); a
/// second one ends the process at once.
pub fn stop_on_signals(cancel: CancellationToken) -> Result<(), CliError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())
        .map_err(|e| CliError::Run(format!("cannot watch for SIGTERM: {e}")))?;
    let mut interrupt = signal(SignalKind::interrupt())
        .map_err(|e| CliError::Run(format!("cannot watch for Ctrl-C: {e}")))?;
    tokio::spawn(async move {
        for _ in 0..2 {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
            if cancel.is_cancelled() {
                eprintln!("kuzet: stopped at once");
                std::process::exit(130);
            }
            eprintln!(
                "kuzet: stopping: finished results are kept (press Ctrl-C again to stop at once)"
            );
            cancel.cancel();
        }
    });
    Ok(())
}
