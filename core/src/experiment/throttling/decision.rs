//! The decision over paired trials. For each pair i, `r_i = ln(x_target / x_control)`;
//! four pairs decide alone only when they are decisive (every target trial slower than every
//! control trial, and by a wide margin); anything short of that, including a first round that
//! merely passes the 4-of-4 sign test, is confirmed with four more pairs. A target that stalls
//! while the control completes is a stall, not a rate.
//!
//! Why confirm: on a lossy link with a short round-trip time one retransmission timeout
//! (200 ms or more) in a trial of about 100 ms quarters its rate. In the lab (3 % random loss,
//! no cap) the bare 4-of-4 rule called 5 of 300 untouched targets throttled; requiring the
//! confirmation round still did (5 of 300: 7 of 8 slower pairs happen by chance with
//! p = 0.035), so after it throttled also needs the target's rates as a set to lie below the
//! control's (exact Mann-Whitney p <= 0.01). See BENCHMARKS.md, "Throttling detection".

use serde::{Deserialize, Serialize};

use crate::experiment::throttling::rate::TrialMetrics;

/// The thresholds of the decision, as one policy with named defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRules {
    /// Throttled needs the median ratio at or below this (0.5: at most half the control).
    pub throttled_ratio: f64,
    /// Escalate (or call it suspected) at or below this median ratio.
    pub suspicious_ratio: f64,
    /// The first round alone says throttled only at or below this median ratio, and only when
    /// every target trial was slower than every control trial; otherwise the throttled
    /// verdict waits for the confirmation round.
    pub decisive_ratio: f64,
    /// Pairs in the first round.
    pub first_round_pairs: usize,
    /// Pairs after escalation, in all.
    pub escalated_pairs: usize,
    /// Negative pairs needed out of `escalated_pairs` for a throttled verdict (7 of 8:
    /// one-sided sign test p = 9/256).
    pub escalated_negatives_for_throttled: usize,
    /// Negative pairs out of `escalated_pairs` for "suspected".
    pub escalated_negatives_for_suspected: usize,
    /// A coefficient of variation of the target's rate below this, with the control's above
    /// it, looks like a fixed-rate policer.
    pub plateau_cv: f64,
    /// After the confirmation round, throttled also needs the target's rates to be lower than
    /// the control's as a whole: the exact one-sided Mann-Whitney p-value of the two sets of
    /// rates at or below this. The sign test on pairs alone (7 of 8, p = 0.035) let 1.7 % of
    /// untouched targets through on a lossy link, where a retransmission timeout can quarter a
    /// short trial's rate; this bounds that chance by the p-value whatever the noise.
    pub max_rank_p: f64,
}

impl Default for DecisionRules {
    fn default() -> Self {
        DecisionRules {
            throttled_ratio: 0.5,
            suspicious_ratio: 0.7,
            decisive_ratio: 0.25,
            first_round_pairs: 4,
            escalated_pairs: 8,
            escalated_negatives_for_throttled: 7,
            escalated_negatives_for_suspected: 6,
            plateau_cv: 0.2,
            max_rank_p: 0.01,
        }
    }
}

/// The verdict for one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Enum))]
pub enum ThrottlingVerdict {
    /// The target got about the control's rate.
    NotThrottled {
        /// Median of `target/control` rate ratios.
        median_ratio: f64,
    },
    /// The target was consistently much slower than the control.
    Throttled {
        /// Median of `target/control` rate ratios.
        median_ratio: f64,
        /// The target's median rate, rounded to 16 kbit/s.
        target_kbps: u64,
        /// The control's median rate, rounded to 16 kbit/s.
        control_kbps: u64,
        /// True when the target's rate is flat across trials while the control's varies: the
        /// signature of a fixed-rate policer or shaper.
        fixed_rate: bool,
    },
    /// The target froze after a few bytes while the control completed.
    Stalled {
        /// Median bytes received by stalled target trials.
        after_bytes: u64,
    },
    /// Slower, but not consistently enough to say throttled.
    Suspected {
        /// Median of `target/control` rate ratios.
        median_ratio: f64,
    },
    /// The trials could not support any conclusion (failures, too few valid pairs, a throughput
    /// server that could not be used).
    Inconclusive {
        /// Why.
        why: String,
    },
    /// The target's connects or handshakes failed while the control's worked: blocked by its
    /// name (or its address, for the passive method), not throttled.
    Blocked {
        /// The failing step, e.g. `tls_handshake`.
        step: String,
        /// OONI's failure string, e.g. `connection_reset`.
        failure: String,
    },
    /// The target's handshake presented another key than the server's: something on the path
    /// answered in the server's place.
    Intercepted,
    /// This device's network was down or cut while the target was measured: nothing can be
    /// said about the target (see [`crate::session::NetworkGuard`]).
    Unreachable {
        /// The connectivity status that explains it.
        network: crate::experiment::connectivity::ConnectivityStatus,
    },
}

impl ThrottlingVerdict {
    /// The verdict's one word, the same live, stored and in `x_throttling.verdict`:
    /// `not_throttled`, `throttled`, `stalled`, `suspected`, `inconclusive`, `blocked`,
    /// `intercepted` or `unreachable`.
    pub fn word(&self) -> &'static str {
        match self {
            ThrottlingVerdict::NotThrottled { .. } => "not_throttled",
            ThrottlingVerdict::Throttled { .. } => "throttled",
            ThrottlingVerdict::Stalled { .. } => "stalled",
            ThrottlingVerdict::Suspected { .. } => "suspected",
            ThrottlingVerdict::Inconclusive { .. } => "inconclusive",
            ThrottlingVerdict::Blocked { .. } => "blocked",
            ThrottlingVerdict::Intercepted => "intercepted",
            ThrottlingVerdict::Unreachable { .. } => "unreachable",
        }
    }
}

/// What to do after looking at the pairs so far.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// A final verdict.
    Final(ThrottlingVerdict),
    /// Run this many more pairs, then decide again with all of them.
    MorePairs(usize),
    /// The first round is decisive so far, but this many of its pairs had no rate on both
    /// sides (a fetch that failed or timed out before any data): run as many again to replace
    /// them, then decide again. Not an escalation: a lost pair is not evidence either way.
    ReplacePairs(usize),
}

/// Decides from paired trials: `pairs[i] = (target, control)`.
pub fn decide(pairs: &[(TrialMetrics, TrialMetrics)], rules: &DecisionRules) -> Decision {
    let n = pairs.len();
    if n == 0 {
        return Decision::Final(inconclusive("no trials"));
    }
    let target_stalls = pairs.iter().filter(|(t, _)| t.stalled).count();
    let control_completes = pairs.iter().filter(|(_, c)| c.completed).count();
    if target_stalls * 4 >= n * 3 && control_completes * 4 >= n * 3 {
        let mut stalled_bytes: Vec<f64> = pairs
            .iter()
            .filter(|(t, _)| t.stalled)
            .map(|(t, _)| t.bytes as f64)
            .collect();
        return Decision::Final(ThrottlingVerdict::Stalled {
            after_bytes: median(&mut stalled_bytes).unwrap_or(0.0) as u64,
        });
    }

    let rates = paired_rates(pairs);
    if rates.len() * 4 < n * 3 {
        return Decision::Final(inconclusive(&format!(
            "only {} of {n} pairs had a rate on both sides",
            rates.len()
        )));
    }
    let mut log_ratios: Vec<f64> = rates.iter().map(|(t, c)| (t / c).ln()).collect();
    let negatives = log_ratios.iter().filter(|r| **r < 0.0).count();
    let median_log = median(&mut log_ratios).unwrap_or(0.0);
    let median_ratio = median_log.exp();
    let valid = rates.len();

    let throttled = || {
        let mut targets: Vec<f64> = rates.iter().map(|(t, _)| *t).collect();
        let mut controls: Vec<f64> = rates.iter().map(|(_, c)| *c).collect();
        let fixed_rate = coefficient_of_variation(&targets) < rules.plateau_cv
            && coefficient_of_variation(&controls) >= rules.plateau_cv;
        ThrottlingVerdict::Throttled {
            median_ratio,
            target_kbps: round_kbps(median(&mut targets).unwrap_or(0.0)),
            control_kbps: round_kbps(median(&mut controls).unwrap_or(0.0)),
            fixed_rate,
        }
    };

    if n < rules.escalated_pairs {
        let all_negative = negatives == valid;
        if median_ratio <= rules.throttled_ratio && all_negative {
            let slowest_control = rates.iter().map(|(_, c)| *c).fold(f64::INFINITY, f64::min);
            let separated = rates.iter().all(|(t, _)| *t < slowest_control);
            let decisive = median_ratio <= rules.decisive_ratio && separated;
            if decisive && valid >= rules.first_round_pairs {
                return Decision::Final(throttled());
            }
            if decisive {
                // Decisive so far, with a pair lost (the guard above allows one in four):
                // replace it rather than escalate, as a phone would on a flaky connection.
                return Decision::ReplacePairs(rules.first_round_pairs - valid);
            }
            if valid >= rules.first_round_pairs {
                // Passed the sign test but not decisively: confirm with the second round.
                return Decision::MorePairs(rules.escalated_pairs - n);
            }
        }
        let ambiguous = negatives * 4 >= valid * 3 || median_ratio <= rules.suspicious_ratio;
        if ambiguous {
            return Decision::MorePairs(rules.escalated_pairs - n);
        }
        return Decision::Final(ThrottlingVerdict::NotThrottled { median_ratio });
    }

    // Scale the 8-pair thresholds to the valid pairs actually measured.
    let needed = |k: usize| (k * valid).div_ceil(rules.escalated_pairs);
    let targets: Vec<f64> = rates.iter().map(|(t, _)| *t).collect();
    let controls: Vec<f64> = rates.iter().map(|(_, c)| *c).collect();
    if median_ratio <= rules.throttled_ratio
        && negatives >= needed(rules.escalated_negatives_for_throttled)
        && rank_sum_p_lower(&targets, &controls) <= rules.max_rank_p
    {
        return Decision::Final(throttled());
    }
    if negatives >= needed(rules.escalated_negatives_for_suspected)
        && median_ratio <= rules.suspicious_ratio
    {
        return Decision::Final(ThrottlingVerdict::Suspected { median_ratio });
    }
    Decision::Final(ThrottlingVerdict::NotThrottled { median_ratio })
}

/// The exact one-sided p-value of the Mann-Whitney test that `lower` tends to be smaller than
/// `higher`: the chance, if all values came from one distribution, of at most as few
/// (`lower` > `higher`) orderings as observed (ties count one half, rounded up). Exact by
/// counting arrangements, so valid for the few trials a phone can afford.
pub fn rank_sum_p_lower(lower: &[f64], higher: &[f64]) -> f64 {
    let (m, n) = (lower.len(), higher.len());
    if m == 0 || n == 0 {
        return 1.0;
    }
    let mut twice_u = 0usize;
    for a in lower {
        for b in higher {
            if a > b {
                twice_u += 2;
            } else if a == b {
                twice_u += 1;
            }
        }
    }
    let u = twice_u.div_ceil(2);
    // counts[i][j][k]: arrangements of i lower and j higher values with U = k.
    let max_u = m * n;
    let mut previous: Vec<Vec<f64>> = vec![vec![0.0; max_u + 1]; n + 1];
    for row in previous.iter_mut() {
        row[0] = 1.0; // zero lower values: U = 0 in exactly one way
    }
    for _ in 0..m {
        let mut current: Vec<Vec<f64>> = vec![vec![0.0; max_u + 1]; n + 1];
        current[0][0] = 1.0; // zero higher values: U = 0
        for j in 1..=n {
            for k in 0..=max_u {
                // The largest value is a lower one (it beats all j higher ones) or a higher one.
                let from_lower = if k >= j { previous[j][k - j] } else { 0.0 };
                current[j][k] = from_lower + current[j - 1][k];
            }
        }
        previous = current;
    }
    let total: f64 = previous[n].iter().sum();
    let at_most: f64 = previous[n].iter().take(u + 1).sum();
    (at_most / total).min(1.0)
}

fn inconclusive(why: &str) -> ThrottlingVerdict {
    ThrottlingVerdict::Inconclusive {
        why: why.to_string(),
    }
}

/// The `(target, control)` rates of the pairs that have a positive rate on both sides.
pub(crate) fn paired_rates(pairs: &[(TrialMetrics, TrialMetrics)]) -> Vec<(f64, f64)> {
    pairs
        .iter()
        .filter_map(|(t, c)| Some((t.effective_bps()?, c.effective_bps()?)))
        .filter(|(t, c)| *t > 0.0 && *c > 0.0)
        .collect()
}

/// The median of `values` (sorted in place); `None` when empty.
pub(crate) fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    crate::ordered::sort_f64(values);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

fn coefficient_of_variation(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return f64::INFINITY;
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    if mean <= 0.0 {
        return f64::INFINITY;
    }
    let variance =
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64;
    variance.sqrt() / mean
}

/// bit/s to kbit/s, rounded to a multiple of 16 (policy rates like 128 kbit/s are evidence).
fn round_kbps(bps: f64) -> u64 {
    ((bps / 1000.0 / 16.0).round() as u64) * 16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(bps: f64) -> TrialMetrics {
        TrialMetrics {
            rate_bps: Some(bps),
            average_bps: bps,
            first_byte_seconds: Some(0.05),
            longest_gap_seconds: 0.1,
            stalled: false,
            bytes: 256 * 1024,
            completed: true,
            failed: false,
        }
    }

    fn stalled_trial(bytes: u64) -> TrialMetrics {
        TrialMetrics {
            rate_bps: None,
            average_bps: 1000.0,
            stalled: true,
            completed: false,
            bytes,
            ..trial(0.0)
        }
    }

    fn pairs(targets: &[f64], controls: &[f64]) -> Vec<(TrialMetrics, TrialMetrics)> {
        targets
            .iter()
            .zip(controls)
            .map(|(t, c)| (trial(*t), trial(*c)))
            .collect()
    }

    #[test]
    fn a_flat_128_kbps_cap_is_throttled_at_a_fixed_rate() {
        let p = pairs(&[128e3, 131e3, 126e3, 129e3], &[8e6, 5e6, 11e6, 6.5e6]);
        match decide(&p, &DecisionRules::default()) {
            Decision::Final(ThrottlingVerdict::Throttled {
                target_kbps,
                fixed_rate,
                ..
            }) => {
                assert_eq!(target_kbps, 128);
                assert!(fixed_rate);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_first_round_that_is_not_decisive_is_confirmed_before_throttled() {
        // 4 of 4 slower with median ratio 0.4: the sign test passes, but not decisively.
        let p = pairs(&[2e6, 2.1e6, 1.9e6, 2e6], &[5e6, 5e6, 5e6, 5e6]);
        assert_eq!(
            decide(&p, &DecisionRules::default()),
            Decision::MorePairs(4)
        );
        // Every pair slower and a median ratio of 0.16, but one target trial (3 Mbit/s) beat
        // a slow control trial (2 Mbit/s): not separated, so confirm.
        let p = pairs(&[0.5e6, 0.5e6, 0.5e6, 3e6], &[5e6, 5e6, 2e6, 5e6]);
        assert_eq!(
            decide(&p, &DecisionRules::default()),
            Decision::MorePairs(4)
        );
        // Four slow target trials (retransmission timeouts) that the confirmation round does
        // not repeat: not throttled.
        let eight = pairs(
            &[1e6, 1.2e6, 1e6, 1.1e6, 5.2e6, 4.8e6, 5.1e6, 5e6],
            &[5e6; 8],
        );
        assert!(matches!(
            decide(&eight, &DecisionRules::default()),
            Decision::Final(ThrottlingVerdict::NotThrottled { .. })
        ));
    }

    #[test]
    fn equal_rates_are_not_throttled() {
        let p = pairs(&[5e6, 6e6, 4.5e6, 7e6], &[5.5e6, 5e6, 5e6, 6e6]);
        assert!(matches!(
            decide(&p, &DecisionRules::default()),
            Decision::Final(ThrottlingVerdict::NotThrottled { .. })
        ));
    }

    #[test]
    fn three_of_four_slower_asks_for_more_pairs() {
        let p = pairs(&[2e6, 2.5e6, 6e6, 2e6], &[5e6, 5e6, 5e6, 5e6]);
        assert_eq!(
            decide(&p, &DecisionRules::default()),
            Decision::MorePairs(4)
        );
    }

    #[test]
    fn after_escalation_seven_of_eight_is_throttled_six_is_suspected() {
        let controls = [5e6; 8];
        let seven = pairs(&[2e6, 2e6, 2e6, 6e6, 2e6, 2e6, 2e6, 2e6], &controls);
        assert!(matches!(
            decide(&seven, &DecisionRules::default()),
            Decision::Final(ThrottlingVerdict::Throttled { .. })
        ));
        let six = pairs(&[3e6, 3e6, 3e6, 6e6, 6e6, 3e6, 3e6, 3e6], &controls);
        assert!(matches!(
            decide(&six, &DecisionRules::default()),
            Decision::Final(ThrottlingVerdict::Suspected { .. })
        ));
    }

    #[test]
    fn a_target_that_freezes_is_stalled_not_slow() {
        let p: Vec<_> = (0..4)
            .map(|_| (stalled_trial(18_000), trial(5e6)))
            .collect();
        assert_eq!(
            decide(&p, &DecisionRules::default()),
            Decision::Final(ThrottlingVerdict::Stalled {
                after_bytes: 18_000
            })
        );
    }

    #[test]
    fn a_lost_pair_in_a_decisive_first_round_is_replaced_not_escalated() {
        // Three decisive pairs and a target fetch that timed out before any data (seen in the
        // lab behind an address-keyed policer): one more pair, not the confirmation round.
        let mut p = pairs(
            &[130e3, 137e3, 127e3, 0.0],
            &[12.6e6, 12.9e6, 18.8e6, 11.8e6],
        );
        p[3].0 = TrialMetrics {
            failed: true,
            bytes: 0,
            completed: false,
            ..trial(0.0)
        };
        let rules = DecisionRules::default();
        assert_eq!(decide(&p, &rules), Decision::ReplacePairs(1));
        // The replacement is decisive too: throttled, from four pairs with a rate.
        p.push((trial(129e3), trial(12.1e6)));
        assert!(matches!(
            decide(&p, &rules),
            Decision::Final(ThrottlingVerdict::Throttled { .. })
        ));
        // A replacement that is not decisive (its target beat a control trial of another
        // pair) leads to the confirmation round as usual.
        p[4] = (trial(13e6), trial(14e6));
        assert_eq!(decide(&p, &rules), Decision::MorePairs(3));
        // A lost pair beside pairs that are not decisive changes nothing: confirm.
        let mut close = pairs(&[2e6, 2.1e6, 1.9e6, 0.0], &[5e6; 4]);
        close[3].0.failed = true;
        assert_eq!(decide(&close, &rules), Decision::MorePairs(4));
    }

    #[test]
    fn failed_trials_make_it_inconclusive() {
        let mut p = pairs(&[1e6; 4], &[1e6; 4]);
        for pair in p.iter_mut().take(2) {
            pair.1.failed = true;
        }
        assert!(matches!(
            decide(&p, &DecisionRules::default()),
            Decision::Final(ThrottlingVerdict::Inconclusive { .. })
        ));
    }

    #[test]
    fn rank_sum_p_values_are_exact() {
        // Complete separation of 4 and 4: one arrangement in C(8,4) = 70.
        let p = rank_sum_p_lower(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0]);
        assert!((p - 1.0 / 70.0).abs() < 1e-12, "{p}");
        // 8 and 8 separated: 1 / C(16,8) = 1 / 12870.
        let low: Vec<f64> = (0..8).map(f64::from).collect();
        let high: Vec<f64> = (8..16).map(f64::from).collect();
        assert!((rank_sum_p_lower(&low, &high) - 1.0 / 12870.0).abs() < 1e-12);
        // The other way round every arrangement is at least as extreme.
        assert_eq!(rank_sum_p_lower(&high, &low), 1.0);
        // One inversion out of 4x4: U = 1, two arrangements have U <= 1.
        let p = rank_sum_p_lower(&[1.0, 2.0, 3.0, 5.5], &[5.0, 6.0, 7.0, 8.0]);
        assert!((p - 2.0 / 70.0).abs() < 1e-12, "{p}");
        assert_eq!(rank_sum_p_lower(&[], &[1.0]), 1.0);
    }

    #[test]
    fn seven_slower_pairs_are_not_enough_when_the_rates_overlap() {
        // Seven of eight pairs slower and a median ratio of 0.44, but half the control trials
        // were as slow as a retransmission timeout makes them, and three target trials beat
        // them: the two sets of rates overlap too much to call it throttling.
        let targets = [0.5e6, 4e6, 0.6e6, 4e6, 0.7e6, 4e6, 0.8e6, 11e6];
        let controls = [1.2e6, 10e6, 1.3e6, 10e6, 1.4e6, 10e6, 1.5e6, 10e6];
        let p = pairs(&targets, &controls);
        assert!(matches!(
            decide(&p, &DecisionRules::default()),
            Decision::Final(ThrottlingVerdict::Suspected { .. })
        ));
        // The same pairs without the rank test would have been called throttled.
        let sign_test_only = DecisionRules {
            max_rank_p: 1.0,
            ..DecisionRules::default()
        };
        assert!(matches!(
            decide(&p, &sign_test_only),
            Decision::Final(ThrottlingVerdict::Throttled { .. })
        ));
    }

    #[test]
    fn kbps_rounds_to_sixteen() {
        assert_eq!(round_kbps(130_000.0), 128);
        assert_eq!(round_kbps(150_000.0), 144);
    }
}
