//! Throttling detection, the statistics half: pure functions over measured transfers, so the
//! decision can be tested (and its power simulated) without a network.
//!
//! Method (see `../shared/docs/detection.md` §1, "paired SNI swap"): trials alternate a target
//! SNI and a control SNI against the same server in ABBA order, each on a fresh connection;
//! each trial's rate is measured after its first 64 KiB; pairs are compared on a log scale;
//! stalls are their own class.

pub mod decision;
pub mod trial;

pub use decision::{decide, Decision, DecisionRules, ThrottlingVerdict};
pub use trial::{analyse_trial, analyse_trial_with_gap, TrialMetrics, TrialSample, TrialTransfer};
