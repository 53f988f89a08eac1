//! What the user chose in onboarding and settings (uploads, suites, data budgets in MiB), and
//! the engine's [`Consent`] and [`DataBudgets`] made from it.

use std::ops::RangeInclusive;

use crate::engine::{Consent, DataBudgets, Suite};
use crate::experiment::policy::{BACKGROUND_BYTES, MONTHLY_BYTES, RUN_BYTES};

/// Bytes in a MiB: the unit of the budgets people choose.
pub const MIB: u64 = 1 << 20;

/// The budgets one "test now" run may be given, in MiB.
pub const RUN_MIB: RangeInclusive<u32> = 1..=500;

/// The budgets one background cycle may be given, in MiB (0: no tests in the background).
pub const BACKGROUND_MIB: RangeInclusive<u32> = 0..=50;

/// The budgets a calendar month may be given, in MiB.
pub const MONTHLY_MIB: RangeInclusive<u32> = 10..=10_000;

/// What the user chose. Budgets in MiB; anything out of its range is clamped when turned into
/// [`DataBudgets`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Record))]
pub struct UserChoices {
    /// Measurements may be uploaded (and so published).
    pub upload_allowed: bool,
    /// The suites the user allows, in any order; duplicates are ignored.
    pub suites: Vec<Suite>,
    /// The most one "test now" run may use, in MiB.
    pub run_mib: u32,
    /// The most one background cycle may use, in MiB.
    pub background_mib: u32,
    /// The most all measuring may use in a calendar month, in MiB.
    pub monthly_mib: u32,
}

impl Default for UserChoices {
    /// Before the user chooses: nothing uploaded, websites and the connectivity check allowed,
    /// and the engine's default budgets.
    fn default() -> Self {
        UserChoices {
            upload_allowed: false,
            suites: vec![Suite::Web, Suite::Connectivity],
            run_mib: whole_mib(RUN_BYTES),
            background_mib: whole_mib(BACKGROUND_BYTES),
            monthly_mib: whole_mib(MONTHLY_BYTES),
        }
    }
}

/// `bytes` in whole MiB (rounded down).
fn whole_mib(bytes: u64) -> u32 {
    u32::try_from(bytes / MIB).unwrap_or(u32::MAX)
}

/// `value` MiB within `range`, in bytes.
fn clamped_bytes(value: u32, range: &RangeInclusive<u32>) -> u64 {
    u64::from(value.clamp(*range.start(), *range.end())) * MIB
}

/// The engine's consent: uploads as chosen, the allowed suites each once, in the order the
/// suites are declared and a run measures them (connectivity, urls, web, messaging,
/// throttling).
pub fn consent_of(choices: &UserChoices) -> Consent {
    let mut suites = choices.suites.clone();
    suites.sort_unstable();
    suites.dedup();
    Consent {
        upload_allowed: choices.upload_allowed,
        allowed_suites: suites,
    }
}

/// The engine's budgets: each chosen value clamped to its range ([`RUN_MIB`],
/// [`BACKGROUND_MIB`], [`MONTHLY_MIB`]), and neither a run nor a background cycle above the
/// month.
pub fn budgets_of(choices: &UserChoices) -> DataBudgets {
    let monthly = clamped_bytes(choices.monthly_mib, &MONTHLY_MIB);
    DataBudgets {
        run_bytes: clamped_bytes(choices.run_mib, &RUN_MIB).min(monthly),
        background_bytes: clamped_bytes(choices.background_mib, &BACKGROUND_MIB).min(monthly),
        monthly_bytes: monthly,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_engines() {
        let choices = UserChoices::default();
        assert!(!choices.upload_allowed, "upload is opt-in");
        assert_eq!(budgets_of(&choices), DataBudgets::default());
        for (value, range) in [
            (choices.run_mib, RUN_MIB),
            (choices.background_mib, BACKGROUND_MIB),
            (choices.monthly_mib, MONTHLY_MIB),
        ] {
            assert!(range.contains(&value), "{value} in {range:?}");
        }
    }

    #[test]
    fn consent_lists_each_allowed_suite_once_in_declaration_order() {
        let consent = consent_of(&UserChoices::default());
        assert!(!consent.upload_allowed);
        assert_eq!(
            consent.allowed_suites,
            vec![Suite::Connectivity, Suite::Web]
        );

        let choices = UserChoices {
            upload_allowed: true,
            suites: vec![
                Suite::Connectivity,
                Suite::Throttling,
                Suite::Web,
                Suite::Connectivity,
                Suite::Messaging,
            ],
            ..UserChoices::default()
        };
        let consent = consent_of(&choices);
        assert!(consent.upload_allowed);
        assert_eq!(
            consent.allowed_suites,
            vec![
                Suite::Connectivity,
                Suite::Web,
                Suite::Messaging,
                Suite::Throttling
            ]
        );
        let none = UserChoices {
            suites: Vec::new(),
            ..UserChoices::default()
        };
        assert!(consent_of(&none).allowed_suites.is_empty());
    }

    #[test]
    fn budgets_are_clamped_to_their_ranges() {
        let low = budgets_of(&UserChoices {
            run_mib: 0,
            background_mib: 0,
            monthly_mib: 0,
            ..UserChoices::default()
        });
        assert_eq!(low.run_bytes, MIB);
        assert_eq!(low.background_bytes, 0);
        assert_eq!(low.monthly_bytes, 10 * MIB);

        let high = budgets_of(&UserChoices {
            run_mib: u32::MAX,
            background_mib: u32::MAX,
            monthly_mib: u32::MAX,
            ..UserChoices::default()
        });
        assert_eq!(high.run_bytes, 500 * MIB);
        assert_eq!(high.background_bytes, 50 * MIB);
        assert_eq!(high.monthly_bytes, 10_000 * MIB);
    }

    #[test]
    fn a_run_or_a_cycle_is_never_above_the_month() {
        let budgets = budgets_of(&UserChoices {
            run_mib: 100_000,
            background_mib: 40,
            monthly_mib: 20,
            ..UserChoices::default()
        });
        assert_eq!(budgets.monthly_bytes, 20 * MIB);
        assert_eq!(budgets.run_bytes, 20 * MIB);
        assert_eq!(budgets.background_bytes, 20 * MIB);
    }

    #[test]
    fn values_in_range_are_kept() {
        let budgets = budgets_of(&UserChoices {
            run_mib: 25,
            background_mib: 3,
            monthly_mib: 1_000,
            ..UserChoices::default()
        });
        assert_eq!(
            budgets,
            DataBudgets {
                run_bytes: 25 * MIB,
                background_bytes: 3 * MIB,
                monthly_bytes: 1_000 * MIB,
            }
        );
    }
}
