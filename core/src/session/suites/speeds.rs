//! The throttling suite: every SNI target (paired SNI swap against Kuzet's throughput server),
//! then every passive target (a real site against a baseline), one at a time, each within its
//! own budget, the experiment's run budget and the run's bytes left. A throughput server that
//! cannot be used ends the suite after the target that found it out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::{now_ms, Finished, Measured, Measuring, SuiteRun};
use crate::experiment::throttling::passive::measure_passive_target;
use crate::experiment::throttling::schedule::{measure_sni_target, trial_reserve};
use crate::experiment::throttling::{
    explain, PassiveTarget, ThrottlingConfig, ThrottlingProgress, ThrottlingVerdict,
};
use crate::session::suite::Suite;
use crate::session::tracker::Tracker;
use crate::session::verdict::Verdict;

/// The throttling targets of a run and how each is measured.
pub(crate) struct SpeedsRun {
    pub(crate) names: Vec<String>,
    pub(crate) passive: Vec<PassiveTarget>,
    pub(crate) config: ThrottlingConfig,
    pub(crate) test_start_time: OffsetDateTime,
    /// Bytes the suite has used, against the experiment's run budget.
    pub(crate) used: AtomicU64,
}

impl SuiteRun for SpeedsRun {
    fn suite(&self) -> Suite {
        Suite::Throttling
    }

    fn names(&self) -> Vec<String> {
        self.names
            .iter()
            .cloned()
            .chain(self.passive.iter().map(|p| p.url.clone()))
            .collect()
    }

    fn min_bytes(&self, index: usize) -> u64 {
        // The SNI swap's smallest step is a pair of trials; the passive method decides its
        // own (it stops when its budget cannot hold a pair).
        if index < self.names.len() {
            2 * trial_reserve(&self.config)
        } else {
            1
        }
    }

    fn measure(
        self: Arc<Self>,
        index: usize,
        bytes_left: u64,
        cancel: CancellationToken,
        tracker: Arc<Tracker>,
    ) -> Measuring {
        Box::pin(async move {
            let config = &self.config;
            let run_left = config
                .run_budget
                .saturating_sub(self.used.load(Ordering::Acquire));
            let budget = config.target_budget.min(run_left).min(bytes_left);
            let started_ms = now_ms();
            let Some(target_name) = self.names().get(index).cloned() else {
                return Measured::NotMeasured;
            };
            let progress = |event: ThrottlingProgress| {
                if let ThrottlingProgress::Trial {
                    target,
                    trial,
                    planned,
                } = event
                {
                    tracker.notify("on_target_step", |l| {
                        l.on_target_step(
                            Suite::Throttling,
                            &target,
                            &format!("trial {trial}/{planned}"),
                        )
                    });
                }
            };
            let result = match self.names.get(index) {
                Some(sni) => {
                    measure_sni_target(
                        config,
                        sni,
                        budget,
                        self.test_start_time,
                        &cancel,
                        &progress,
                    )
                    .await
                }
                None => match self.passive.get(index.saturating_sub(self.names.len())) {
                    Some(target) => {
                        measure_passive_target(
                            config,
                            target,
                            budget,
                            self.test_start_time,
                            &cancel,
                            &progress,
                        )
                        .await
                    }
                    None => None,
                },
            };
            let Some(result) = result else {
                return Measured::NotMeasured;
            };
            if result.evidence.cancelled {
                return Measured::NotMeasured;
            }
            self.used
                .fetch_add(result.evidence.bytes_used, Ordering::AcqRel);
            let explanation = explain(&result.verdict);
            let (failed_operation, failure) = match &result.verdict {
                ThrottlingVerdict::Blocked { step, failure } => {
                    (Some(step.clone()), Some(failure.clone()))
                }
                _ => (None, None),
            };
            let problem = result
                .evidence
                .server_unusable
                .then(|| format!("throttling could not be measured: {explanation}"));
            Measured::Done(Box::new(Finished {
                target: target_name.clone(),
                subject: target_name,
                verdict: Verdict::Throttling(result.verdict),
                explanation,
                failed_operation,
                failure,
                status_code: None,
                bytes_received: result.evidence.bytes_used,
                runtime: std::time::Duration::from_secs_f64(
                    result.measurement.test_runtime.max(0.0),
                ),
                started_ms,
                ended_ms: now_ms(),
                measurement: result.measurement,
                problem,
            }))
        })
    }
}
