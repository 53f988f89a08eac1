//! Each suite's part in a run, and the one loop that runs any of them: targets start in plan
//! order, at most the suite's parallelism at a time, while the run has bytes and time left and
//! is not cancelled; each finished target goes through the network guard, then is recorded and
//! reported. What the loop never started (or dropped when cancelled) is listed as not measured.
//!
//! The suites: [`urls`] (urlgetter), [`websites`] (web_connectivity with test-helper failover),
//! [`apps`] (the messaging experiments) and [`speeds`] (throttling: SNI swap and passive).

pub(crate) mod apps;
pub(crate) mod speeds;
pub(crate) mod urls;
pub(crate) mod websites;

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::guard::NetworkGuard;
use super::reporter::Reporter;
use super::result::{NotMeasured, RunStatus};
use super::suite::Suite;
use super::tracker::Tracker;
use super::verdict::Verdict;
use crate::report::Measurement;

/// One target's measurement, before the network guard labels it.
#[derive(Debug)]
pub(crate) struct Finished {
    /// The target as planned (a URL, `whatsapp`, a site name).
    pub(crate) target: String,
    /// How explanations name it (a host, `WhatsApp`).
    pub(crate) subject: String,
    /// The suite's verdict.
    pub(crate) verdict: Verdict,
    /// The verdict in plain words.
    pub(crate) explanation: String,
    /// The step that failed, if one did.
    pub(crate) failed_operation: Option<String>,
    /// OONI's failure string for that step.
    pub(crate) failure: Option<String>,
    /// The final HTTP status, if any.
    pub(crate) status_code: Option<u16>,
    /// Bytes received for it.
    pub(crate) bytes_received: u64,
    /// Time spent.
    pub(crate) runtime: Duration,
    /// When it started (ms since the epoch).
    pub(crate) started_ms: i64,
    /// When it ended.
    pub(crate) ended_ms: i64,
    /// The OONI measurement (its verdict keys kept in step with `verdict`).
    pub(crate) measurement: Measurement,
    /// A problem that ends the suite after this target (a throughput server that cannot be
    /// used), in plain words.
    pub(crate) problem: Option<String>,
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> i64 {
    ms_of(SystemTime::now())
}

/// Milliseconds since the epoch of `time`.
pub(crate) fn ms_of(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// What measuring one target gave.
pub(crate) enum Measured {
    /// A result.
    Done(Box<Finished>),
    /// Not measured: cancelled, or its budget could not hold even its smallest step.
    NotMeasured,
}

/// A boxed measurement future.
pub(crate) type Measuring = Pin<Box<dyn Future<Output = Measured> + Send>>;

/// One suite's targets and how one is measured.
pub(crate) trait SuiteRun: Send + Sync + 'static {
    /// The suite.
    fn suite(&self) -> Suite;
    /// Its targets' names, in plan order.
    fn names(&self) -> Vec<String>;
    /// Targets measured at the same time.
    fn parallelism(&self) -> usize {
        1
    }
    /// The bytes the run must have left before target `index` may start.
    fn min_bytes(&self, _index: usize) -> u64 {
        1
    }
    /// Measures target `index` with at most `bytes_left` bytes; `tracker` carries step
    /// events to the listener.
    fn measure(
        self: Arc<Self>,
        index: usize,
        bytes_left: u64,
        cancel: CancellationToken,
        tracker: Arc<Tracker>,
    ) -> Measuring;
}

/// What a suite loop works with.
pub(crate) struct Loop<'a> {
    pub(crate) tracker: &'a Arc<Tracker>,
    pub(crate) guard: &'a mut NetworkGuard,
    pub(crate) reporter: &'a Reporter,
    pub(crate) cancel: &'a CancellationToken,
}

impl Loop<'_> {
    /// Runs `suite` to its end; returns why it stopped early, if it did.
    pub(crate) async fn run(&mut self, suite: Arc<dyn SuiteRun>) -> Option<RunStatus> {
        let names = suite.names();
        let mut next = 0;
        let mut tasks: JoinSet<(usize, Measured)> = JoinSet::new();
        let mut in_flight: BTreeSet<usize> = BTreeSet::new();
        let mut skipped: Vec<usize> = Vec::new();
        let mut stop: Option<RunStatus> = None;
        let mut ended_by_problem = false;
        loop {
            while stop.is_none()
                && !ended_by_problem
                && tasks.len() < suite.parallelism().max(1)
                && next < names.len()
            {
                if self.cancel.is_cancelled() {
                    stop = Some(RunStatus::Cancelled);
                    break;
                }
                if let Some(exhausted) = self.tracker.exhausted() {
                    stop = Some(exhausted);
                    break;
                }
                let bytes_left = self.tracker.bytes_left();
                if bytes_left < suite.min_bytes(next) {
                    stop = Some(RunStatus::BudgetExhausted);
                    break;
                }
                let name = &names[next];
                self.tracker.notify("on_target_started", |l| {
                    l.on_target_started(suite.suite(), name)
                });
                let measuring = suite.clone().measure(
                    next,
                    bytes_left,
                    self.cancel.child_token(),
                    self.tracker.clone(),
                );
                let index = next;
                tasks.spawn(async move { (index, measuring.await) });
                in_flight.insert(next);
                next += 1;
            }
            if tasks.is_empty() {
                break;
            }
            let due = self.guard.confirmation_due();
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => {
                    tasks.abort_all();
                    stop = Some(RunStatus::Cancelled);
                    break;
                }
                joined = tasks.join_next() => match joined {
                    Some(Ok((index, Measured::Done(finished)))) => {
                        in_flight.remove(&index);
                        ended_by_problem |= finished.problem.is_some();
                        if let Some(labelled) = self.guard.admit(*finished) {
                            self.reporter.deliver(labelled).await;
                        }
                    }
                    Some(Ok((index, Measured::NotMeasured))) => {
                        in_flight.remove(&index);
                        skipped.push(index);
                        if !self.cancel.is_cancelled() {
                            stop.get_or_insert(RunStatus::BudgetExhausted);
                        }
                    }
                    Some(Err(error)) => {
                        // A bug in one measurement must not take the run down: the target is
                        // listed as not measured.
                        tracing::error!("a measurement stopped unexpectedly: {error}");
                    }
                    None => break,
                },
                () = sleep_until(due), if due.is_some() => {
                    let (checked, released) = self.guard.confirm(self.cancel).await;
                    self.reporter.checked(checked);
                    for finished in released {
                        self.reporter.deliver(finished).await;
                    }
                }
            }
        }
        let not_measured = skipped
            .into_iter()
            .chain(in_flight)
            .chain(next..names.len())
            .collect::<BTreeSet<usize>>()
            .into_iter()
            .map(|index| NotMeasured {
                suite: suite.suite(),
                target: names[index].clone(),
            });
        self.tracker.not_measured(not_measured);
        stop
    }
}

async fn sleep_until(due: Option<tokio::time::Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
