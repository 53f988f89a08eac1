//! The apps' shared rules (`kuzet_core::app`), exported as plain functions and records: the
//! informed consent, the user's choices, verdict groups, formatting, the URL list and the
//! bounds of background cycles; and the engine's default settings, which the records' literal
//! defaults (core's `DataBudgets`, `EngineConfig` in `types`) must equal (the Kotlin and Swift
//! tests check it).

use std::time::Duration;

use kuzet_core::app::choices::{self, UserChoices};
use kuzet_core::app::groups::{self, ResultGroup};
use kuzet_core::app::{consent, format, schedule, url_list};
use kuzet_core::engine::{Consent, DataBudgets};
use kuzet_core::session::{TargetResult, Verdict, VerdictGroup};

/// One true/false question of the onboarding quiz.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct QuizQuestion {
    /// The statement the user marks true or false.
    pub statement: String,
    /// The right answer.
    pub answer: bool,
    /// What to show when the answer is wrong.
    pub explanation: String,
}

/// The informed-consent onboarding: the risks in plain words, then a quiz.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Onboarding {
    /// The version of the risks and the quiz: store it once the user accepts, and pass it to
    /// `consentNeeded`. It grows when they change, so everyone is asked again.
    pub consent_version: u32,
    /// The points shown before the quiz, in order.
    pub risks: Vec<String>,
    /// The quiz: every answer must be right to go on (`quizMistakes`).
    pub quiz: Vec<QuizQuestion>,
}

/// The onboarding's texts and version.
#[uniffi::export]
pub fn onboarding() -> Onboarding {
    Onboarding {
        consent_version: consent::CONSENT_VERSION,
        risks: consent::RISKS.iter().map(|risk| risk.to_string()).collect(),
        quiz: consent::QUIZ
            .iter()
            .map(|question| QuizQuestion {
                statement: question.statement.to_string(),
                answer: question.answer,
                explanation: question.explanation.to_string(),
            })
            .collect(),
    }
}

/// Whether the onboarding must be shown: never accepted (null), or accepted in an older
/// version than `Onboarding.consentVersion`.
#[uniffi::export]
pub fn consent_needed(accepted_version: Option<u32>) -> bool {
    consent::needed(accepted_version)
}

/// The explanations of the wrong answers, in quiz order; empty when all are right.
/// `answers[i]` answers `quiz[i]`; null or missing answers are wrong.
#[uniffi::export]
pub fn quiz_mistakes(answers: Vec<Option<bool>>) -> Vec<String> {
    consent::mistakes(&answers)
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// An allowed range of MiB, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct MibRange {
    /// The smallest value.
    pub min: u32,
    /// The largest value.
    pub max: u32,
}

/// The allowed budgets, in MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct BudgetRanges {
    /// One "test now" run.
    pub run: MibRange,
    /// One background cycle (0: no tests in the background).
    pub background: MibRange,
    /// A calendar month.
    pub monthly: MibRange,
}

/// The choices before the user chooses: no uploads, websites and connectivity allowed, and
/// the engine's default budgets.
#[uniffi::export]
pub fn default_user_choices() -> UserChoices {
    UserChoices::default()
}

/// The ranges the budgets are clamped to.
#[uniffi::export]
pub fn budget_ranges() -> BudgetRanges {
    let range = |r: std::ops::RangeInclusive<u32>| MibRange {
        min: *r.start(),
        max: *r.end(),
    };
    BudgetRanges {
        run: range(choices::RUN_MIB),
        background: range(choices::BACKGROUND_MIB),
        monthly: range(choices::MONTHLY_MIB),
    }
}

/// The engine's consent from the choices: the allowed suites each once, in declaration order.
#[uniffi::export]
pub fn consent_of(choices: UserChoices) -> Consent {
    choices::consent_of(&choices)
}

/// The engine's budgets from the choices: each clamped to its range, and neither a run nor a
/// background cycle above the month.
#[uniffi::export]
pub fn budgets_of(choices: UserChoices) -> DataBudgets {
    choices::budgets_of(&choices)
}

/// Bytes in decimal units: `999 B`, `1.5 kB`, `12 MB` (one decimal under 10).
#[uniffi::export]
pub fn format_bytes(count: u64) -> String {
    format::bytes(count)
}

/// A duration rounded for people: `42 s`, `3 min`, `1 h 05 min`.
#[uniffi::export]
pub fn format_duration(duration: Duration) -> String {
    format::duration(duration)
}

/// The progress line's estimate: `about 3 min left`, or `estimating time left` when null.
#[uniffi::export]
pub fn format_time_left(estimate: Option<Duration>) -> String {
    format::time_left(estimate)
}

/// `used` as a whole percentage of `budget` (rounded down), 0 to 100; 100 once used up.
#[uniffi::export]
pub fn percent_of(used: u64, budget: u64) -> u32 {
    format::percent_of(used, budget)
}

/// The starting list of websites to test (a few from Citizen Lab's Kazakhstan list).
#[uniffi::export]
pub fn default_url_list() -> Vec<String> {
    url_list::DEFAULT_URLS.map(str::to_string).to_vec()
}

/// The most URLs `parseUrlList` returns.
#[uniffi::export]
pub fn url_list_max() -> u32 {
    u32::try_from(url_list::MAX_URLS).unwrap_or(u32::MAX)
}

/// The URLs in the user's text, one per line, in order: space trimmed, blank and `#` lines
/// skipped, `https://` added to a bare host, lines the engine would refuse dropped,
/// duplicates dropped, at most `urlListMax()`.
#[uniffi::export]
pub fn parse_url_list(text: String) -> Vec<String> {
    url_list::parse(&text)
}

/// The bounds of background cycles.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct BackgroundBounds {
    /// The shortest delay between cycles (15 minutes).
    pub min_delay: Duration,
    /// The longest delay between cycles (a day).
    pub max_delay: Duration,
    /// At most this fraction of a delay is added at random (0.1).
    pub jitter_fraction: f64,
}

/// The bounds `nextBackgroundDelay` keeps to.
#[uniffi::export]
pub fn background_bounds() -> BackgroundBounds {
    BackgroundBounds {
        min_delay: schedule::MIN_DELAY,
        max_delay: schedule::MAX_DELAY,
        jitter_fraction: schedule::JITTER_FRACTION,
    }
}

/// The delay before the next background cycle. After a cycle that ran, pass its
/// `BackgroundSummary.nextRunIn` and 0 failures: it is kept within the bounds. After
/// `failures` cycles in a row that threw (`nextRunIn` null): the shortest delay, doubled per
/// failure after the first, at most a day. Then `random` × `jitterFraction` of it is added;
/// `random` is drawn uniformly from [0, 1) by the caller.
#[uniffi::export]
pub fn next_background_delay(
    next_run_in: Option<Duration>,
    failures: u32,
    random: f64,
) -> Duration {
    schedule::next_delay(next_run_in, failures, random)
}

/// The engine's time budget (`BackgroundRequest.timeBudget`) for a task the platform lets run
/// for `platformLimit`: the limit less a fifth of it kept for stopping, at least 5 s and at
/// most 60 s kept (30 s gives 24 s; 10 min gives 9 min; 5 s or less gives 0).
#[uniffi::export]
pub fn background_time_budget(platform_limit: Duration) -> Duration {
    schedule::time_budget(platform_limit)
}

/// The engine's default data budgets: what `DataBudgets()` with its defaults must equal.
#[uniffi::export]
pub fn default_data_budgets() -> DataBudgets {
    DataBudgets::default()
}

/// The engine's default parallelism: what `EngineConfig.parallelism` defaults to.
#[uniffi::export]
pub fn default_parallelism() -> u32 {
    u32::try_from(kuzet_core::experiment::policy::PARALLELISM).unwrap_or(u32::MAX)
}

/// A verdict group's title, e.g. `Blocked`, and what it means in one sentence.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct GroupWords {
    /// The title.
    pub title: String,
    /// What it means.
    pub meaning: String,
}

/// The title and meaning of `group`.
#[uniffi::export]
pub fn verdict_group_words(group: VerdictGroup) -> GroupWords {
    let (title, meaning) = groups::words(group);
    GroupWords {
        title: title.to_string(),
        meaning: meaning.to_string(),
    }
}

/// A verdict's one word, e.g. `dns_tampered`: what a `TargetResult` built from it carries as
/// `word` (for previews and fixtures; results from a run carry it already).
#[uniffi::export]
pub fn verdict_word(verdict: Verdict) -> String {
    verdict.word().to_string()
}

/// The group a verdict is shown in: what a `TargetResult` built from it carries as `group`.
#[uniffi::export]
pub fn verdict_group(verdict: Verdict) -> VerdictGroup {
    verdict.group()
}

/// `results` grouped by verdict group, problems first, empty groups left out.
#[uniffi::export]
pub fn group_results(results: Vec<TargetResult>) -> Vec<ResultGroup> {
    groups::group(&results)
}

/// One line for a notification or a header: `2 blocked · 1 could not tell · 9 accessible`.
#[uniffi::export]
pub fn results_summary_line(results: Vec<TargetResult>) -> String {
    groups::summary_line(&results)
}
