//! The rules the Android and iOS apps share, so both follow them in the same words and
//! numbers: the informed consent and its quiz ([`consent`]), the user's choices turned into the
//! engine's consent and budgets ([`choices`]), sizes and durations as the screens show them
//! ([`format`](mod@format)), the list of websites the user types ([`url_list`]), the bounds of
//! background cycles ([`schedule`]) and results grouped by verdict group ([`groups`]).
//!
//! Plain functions and constants, no I/O and no clock: the `kuzet-ffi` crate exports them, and
//! the apps only map platform facts in and show what comes out.

pub mod choices;
pub mod consent;
pub mod format;
pub mod groups;
pub mod schedule;
pub mod url_list;
