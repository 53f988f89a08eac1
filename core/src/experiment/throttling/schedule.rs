//! The schedule of one SNI target: pairs of trials in ABBA order (T C, C T, T C, C T, ...),
//! four pairs, four more when [`decide`] finds the first round ambiguous, each pair started only
//! if its reserved bytes fit the target's budget.

use std::ops::ControlFlow;
use std::time::Instant;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::clock::MeasurementClock;
use crate::experiment::throttling::decision::{median, paired_rates};
use crate::experiment::throttling::measurement::{sni_measurement, SniRun};
use crate::experiment::throttling::trial::{run_trial, Arm, TrialRecord, TrialSpec};
use crate::experiment::throttling::{
    decide, Decision, DecisionRules, ThrottlingVerdict, TrialMetrics,
};
use crate::experiment::throttling::{
    Evidence, Method, TargetResult, ThrottlingConfig, ThrottlingProgress,
};

/// The bytes reserved for one trial: its body and the overhead cap.
pub fn trial_reserve(config: &ThrottlingConfig) -> u64 {
    config
        .trial_bytes
        .saturating_add(super::trial::TRIAL_OVERHEAD_BYTES)
}

/// The arms of pair `index` (0-based) in ABBA order: even pairs target first, odd control first.
pub fn pair_order(index: usize) -> [Arm; 2] {
    if index.is_multiple_of(2) {
        [Arm::Target, Arm::Control]
    } else {
        [Arm::Control, Arm::Target]
    }
}

/// Measures one SNI target. `None` when `budget` cannot hold even one pair. A throughput
/// server that cannot be used (unreachable, or another key than its pin) ends the target as
/// `inconclusive` with [`Evidence::server_unusable`] set: the run measures no further target.
pub async fn measure_sni_target(
    config: &ThrottlingConfig,
    sni: &str,
    budget: u64,
    test_start: OffsetDateTime,
    cancel: &CancellationToken,
    progress: &(dyn Fn(ThrottlingProgress) + Send + Sync),
) -> Option<TargetResult> {
    let pair_reserve = 2 * trial_reserve(config);
    if budget < pair_reserve {
        return None;
    }
    let started_at = OffsetDateTime::now_utc();
    let started = Instant::now();
    let clock = MeasurementClock::start();
    let rules = &config.rules;
    let mut records: Vec<TrialRecord> = Vec::new();
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut planned = rules.first_round_pairs;
    let mut evidence = Evidence::with_budget(budget);

    let verdict = 'schedule: loop {
        while pairs.len() < planned {
            if evidence.bytes_used + pair_reserve > budget {
                evidence.budget_stopped = true;
                break;
            }
            let pair_index = pairs.len();
            let mut pair = [0usize; 2];
            for (slot, arm) in pair_order(pair_index).into_iter().enumerate() {
                let trial_number = records.len() + 1;
                progress(ThrottlingProgress::Trial {
                    target: sni.to_string(),
                    trial: trial_number,
                    planned: planned * 2,
                });
                let spec = TrialSpec {
                    server: config.server,
                    pin: config.pin,
                    sni: match arm {
                        Arm::Target => sni.to_string(),
                        Arm::Control => config.control_sni.clone(),
                    },
                    arm,
                    bytes: config.trial_bytes,
                    connect_timeout: config.connect_timeout,
                    handshake_timeout: config.handshake_timeout,
                    transfer_timeout: config.trial_timeout,
                    stall_gap: config.stall_gap,
                    tags: vec![
                        format!("trial={trial_number}"),
                        format!("pair={}", pair_index + 1),
                        format!("arm={}", arm.as_str()),
                    ],
                };
                let Some(record) = run_trial(&clock, &spec, cancel).await else {
                    evidence.cancelled = true;
                    break 'schedule ThrottlingVerdict::Inconclusive {
                        why: "cancelled".to_string(),
                    };
                };
                evidence.bytes_used += record.bytes_received;
                if arm == Arm::Control && record.pin_mismatch {
                    let presented = record
                        .presented_pin
                        .map(|pin| pin.to_string())
                        .unwrap_or_else(|| "an unreadable certificate".to_string());
                    records.push(record);
                    evidence.server_unusable = true;
                    break 'schedule ThrottlingVerdict::Inconclusive {
                        why: format!(
                            "its throughput server presented another key than the one \
                             configured (expected {}, presented {presented}): a wrong pin, or \
                             someone intercepting the connection",
                            config.pin
                        ),
                    };
                }
                pair[slot] = records.len();
                records.push(record);
            }
            // Keep (target, control) order in the pair.
            let (a, b) = (pair[0], pair[1]);
            pairs.push(if records[a].arm == Arm::Target {
                (a, b)
            } else {
                (b, a)
            });
        }
        evidence.pairs = pairs.len();

        let controls: Vec<&TrialRecord> = pairs.iter().map(|(_, c)| &records[*c]).collect();
        let targets: Vec<&TrialRecord> = pairs.iter().map(|(t, _)| &records[*t]).collect();
        if !controls.is_empty() && controls.iter().all(|c| c.failed_before_data()) {
            let failure = controls
                .last()
                .and_then(|c| c.failure.as_ref())
                .map(|f| f.as_str().into_owned())
                .unwrap_or_else(|| "unknown".to_string());
            evidence.server_unusable = true;
            break ThrottlingVerdict::Inconclusive {
                why: format!(
                    "its throughput server could not be reached: every control trial failed \
                     ({failure})"
                ),
            };
        }
        if let Some(verdict) = blocked_or_intercepted(&targets, &controls, &mut evidence) {
            break verdict;
        }
        let metrics: Vec<(TrialMetrics, TrialMetrics)> = pairs
            .iter()
            .map(|(t, c)| (records[*t].metrics.clone(), records[*c].metrics.clone()))
            .collect();
        match follow(
            decide(&metrics, rules),
            &metrics,
            rules,
            &mut evidence,
            pair_reserve,
        ) {
            ControlFlow::Break(verdict) => break verdict,
            ControlFlow::Continue(more) => planned += more,
        }
    };
    evidence.pairs = pairs.len();
    let measurement = sni_measurement(&SniRun {
        config,
        target: sni,
        records: &records,
        pairs: &pairs,
        verdict: &verdict,
        evidence: &evidence,
        test_start,
        started_at,
        runtime: started.elapsed(),
    });
    Some(TargetResult {
        input: sni.to_string(),
        method: Method::SniSwap,
        verdict,
        evidence,
        measurement,
    })
}

/// A target whose trials mostly failed before any data while the control's did not is blocked
/// (or, when it presented another key, intercepted): not a throttling question.
pub(crate) fn blocked_or_intercepted(
    targets: &[&TrialRecord],
    controls: &[&TrialRecord],
    _evidence: &mut Evidence,
) -> Option<ThrottlingVerdict> {
    let n = targets.len();
    if n == 0 {
        return None;
    }
    if targets.iter().any(|t| t.pin_mismatch) {
        return Some(ThrottlingVerdict::Intercepted);
    }
    let failed: Vec<&&TrialRecord> = targets.iter().filter(|t| t.failed_before_data()).collect();
    let controls_ok = controls.iter().filter(|c| !c.failed_before_data()).count();
    if failed.len() * 4 >= n * 3 && controls_ok * 4 >= controls.len() * 3 {
        let failure = failed
            .iter()
            .filter_map(|t| t.failure.as_ref())
            .map(|f| f.as_str().into_owned())
            .next_back()
            .unwrap_or_else(|| "unknown".to_string());
        let step = failed
            .last()
            .and_then(|t| t.failed_step)
            .map(|s| s.as_str())
            .unwrap_or("tls_handshake");
        return Some(ThrottlingVerdict::Blocked {
            step: step.to_string(),
            failure,
        });
    }
    None
}

/// What a schedule does after [`decide`]: stop with a verdict, or plan `more` pairs, with
/// `evidence` updated. A second escalation, or pairs the budget cannot hold at `pair_cost`
/// bytes each, stop it with [`undecided`]. Both methods (SNI swap and passive) follow this.
pub(crate) fn follow(
    decision: Decision,
    metrics: &[(TrialMetrics, TrialMetrics)],
    rules: &DecisionRules,
    evidence: &mut Evidence,
    pair_cost: u64,
) -> ControlFlow<ThrottlingVerdict, usize> {
    let (more, escalation) = match decision {
        Decision::Final(verdict) => return ControlFlow::Break(verdict),
        Decision::MorePairs(more) => (more, true),
        Decision::ReplacePairs(more) => (more, false),
    };
    if evidence.budget_stopped || (escalation && evidence.escalated) {
        return ControlFlow::Break(undecided(metrics, rules));
    }
    if evidence.bytes_used + more as u64 * pair_cost > evidence.budget_bytes {
        evidence.budget_stopped = true;
        return ControlFlow::Break(undecided(metrics, rules));
    }
    if escalation {
        evidence.escalated = true;
    } else {
        evidence.replaced_pairs += more;
    }
    ControlFlow::Continue(more)
}

/// The verdict when the decision asks for more pairs than the budget allows: suspected when
/// the target's median rate was at most the suspicious ratio of the control's, else not
/// throttled. A median above that ratio is above what a throttled or suspected verdict needs;
/// the pairs not run would only have checked that it stays there (the evidence records that the
/// budget stopped them).
pub(crate) fn undecided(
    pairs: &[(TrialMetrics, TrialMetrics)],
    rules: &DecisionRules,
) -> ThrottlingVerdict {
    let mut log_ratios: Vec<f64> = paired_rates(pairs)
        .into_iter()
        .map(|(t, c)| (t / c).ln())
        .collect();
    let median_ratio = median(&mut log_ratios).map(f64::exp);
    match median_ratio {
        Some(median_ratio) if median_ratio <= rules.suspicious_ratio => {
            ThrottlingVerdict::Suspected { median_ratio }
        }
        Some(median_ratio) => ThrottlingVerdict::NotThrottled { median_ratio },
        None => ThrottlingVerdict::Inconclusive {
            why: "no pair had a rate on both sides".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(target_bps: f64, control_bps: f64) -> (TrialMetrics, TrialMetrics) {
        let metrics = |rate: f64| TrialMetrics {
            rate_bps: Some(rate),
            average_bps: rate,
            first_byte_seconds: Some(0.01),
            longest_gap_seconds: 0.0,
            stalled: false,
            bytes: 300_000,
            completed: true,
            failed: false,
        };
        (metrics(target_bps), metrics(control_bps))
    }

    #[test]
    fn a_budget_stopped_target_gets_the_verdict_its_median_supports() {
        let rules = DecisionRules::default();
        // Slightly but consistently slower (every pair negative): the first round escalates,
        // and without budget for it the 0.95 median is not throttling.
        let close = [
            pair(17.2e6, 18.0e6),
            pair(16.4e6, 17.2e6),
            pair(14.5e6, 17.5e6),
        ];
        assert!(matches!(decide(&close, &rules), Decision::MorePairs(_)));
        match undecided(&close, &rules) {
            ThrottlingVerdict::NotThrottled { median_ratio } => {
                assert!((0.94..0.96).contains(&median_ratio), "{median_ratio}")
            }
            other => panic!("{other:?}"),
        }
        // Clearly slower, but not decisively: suspected.
        let slow = [pair(6e6, 10e6), pair(5e6, 10e6), pair(7e6, 10e6)];
        assert!(matches!(
            undecided(&slow, &rules),
            ThrottlingVerdict::Suspected { .. }
        ));
        // No rate on the target's side (its fetch failed): nothing to say.
        let mut none = pair(1e6, 1e6);
        none.0.failed = true;
        assert!(matches!(
            undecided(&[none], &rules),
            ThrottlingVerdict::Inconclusive { .. }
        ));
    }

    #[test]
    fn pairs_follow_abba() {
        let order: Vec<Arm> = (0..4).flat_map(pair_order).collect();
        use Arm::{Control as C, Target as T};
        assert_eq!(order, vec![T, C, C, T, T, C, C, T]);
    }

    #[test]
    fn an_escalated_target_fits_the_default_budget() {
        let config = crate::experiment::throttling::ThrottlingConfig::new(
            "127.0.0.1:1".parse().unwrap(),
            crate::experiment::throttling::SpkiPin::of_spki(b"k"),
            vec!["a.example".to_string()],
        );
        let escalated = config.rules.escalated_pairs as u64 * 2 * trial_reserve(&config);
        assert!(escalated <= config.target_budget, "{escalated}");
    }
}
