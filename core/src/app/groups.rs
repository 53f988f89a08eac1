//! Results grouped the way both apps show them: by verdict group, problems first, each group
//! with a title and one sentence on what it means, and a one-line count for notifications and
//! headers. The groups themselves are the session's ([`VerdictGroup`]): the same for every
//! suite, derived from each result's verdict in one place.

use crate::session::{TargetResult, VerdictGroup};

/// A group's title and what it means, for people.
pub fn words(group: VerdictGroup) -> (&'static str, &'static str) {
    match group {
        VerdictGroup::Blocked => (
            "Blocked",
            "Blocked or tampered with, confirmed against a comparison from outside your network.",
        ),
        VerdictGroup::Throttled => (
            "Slowed down",
            "Held to a much lower speed than a comparison on the same path, or cut off.",
        ),
        VerdictGroup::NetworkDisrupted => (
            "Network disrupted",
            "This device saw its network cut, limited or answered by something else.",
        ),
        VerdictGroup::Unclear => (
            "Could not tell",
            "Something failed, but nothing could tell blocking from an outage.",
        ),
        VerdictGroup::Down => (
            "Down for everyone",
            "It failed the same way from outside your network.",
        ),
        VerdictGroup::Unreachable => (
            "Not tested: no connection",
            "This device's connection was down or cut at the time, so nothing is known about it.",
        ),
        VerdictGroup::Unverified => (
            "Loaded, not verified",
            "It loaded, or the test ran, with nothing to compare it with.",
        ),
        VerdictGroup::Ok => ("Accessible", "It worked as expected."),
    }
}

/// The results of one group.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Record))]
pub struct ResultGroup {
    /// The group.
    pub group: VerdictGroup,
    /// Its title, e.g. `Blocked`.
    pub title: String,
    /// What it means, one sentence.
    pub meaning: String,
    /// Its results, in the order given.
    pub results: Vec<TargetResult>,
}

/// The non-empty groups of `results`, in [`VerdictGroup::ALL`] order (problems first).
pub fn group(results: &[TargetResult]) -> Vec<ResultGroup> {
    VerdictGroup::ALL
        .into_iter()
        .filter_map(|group| {
            let members: Vec<TargetResult> = results
                .iter()
                .filter(|r| r.group == group)
                .cloned()
                .collect();
            if members.is_empty() {
                return None;
            }
            let (title, meaning) = words(group);
            Some(ResultGroup {
                group,
                title: title.to_string(),
                meaning: meaning.to_string(),
                results: members,
            })
        })
        .collect()
}

/// One line for a notification or a header: `2 blocked · 1 could not tell · 9 accessible`, or
/// `no results`.
pub fn summary_line(results: &[TargetResult]) -> String {
    let groups = group(results);
    if groups.is_empty() {
        return "no results".to_string();
    }
    groups
        .iter()
        .map(|g| format!("{} {}", g.results.len(), g.title.to_lowercase()))
        .collect::<Vec<_>>()
        .join(" · ")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::experiment::web_connectivity::{DnsTamper, Verdict as WebVerdict};
    use crate::session::Verdict;

    fn result(target: &str, verdict: WebVerdict) -> TargetResult {
        let verdict = Verdict::Web(verdict);
        TargetResult {
            target: target.to_string(),
            word: verdict.word().to_string(),
            group: verdict.group(),
            verdict,
            explanation: String::new(),
            failed_operation: None,
            failure: None,
            status_code: None,
            bytes_received: 0,
            runtime: Duration::ZERO,
            measured_at: SystemTime::UNIX_EPOCH,
            measurement_id: target.to_string(),
        }
    }

    #[test]
    fn problems_come_first_and_empty_groups_are_left_out() {
        let results = [
            result("a", WebVerdict::Ok),
            result(
                "b",
                WebVerdict::DnsTampered {
                    how: DnsTamper::Nxdomain,
                },
            ),
            result("c", WebVerdict::Ok),
        ];
        let groups = group(&results);
        let order: Vec<VerdictGroup> = groups.iter().map(|g| g.group).collect();
        assert_eq!(order, vec![VerdictGroup::Blocked, VerdictGroup::Ok]);
        assert_eq!(groups[1].results.len(), 2);
        assert_eq!(summary_line(&results), "1 blocked · 2 accessible");
        assert_eq!(summary_line(&[]), "no results");
    }

    #[test]
    fn every_group_has_words() {
        for group in VerdictGroup::ALL {
            let (title, meaning) = words(group);
            assert!(!title.is_empty() && meaning.ends_with('.'), "{group:?}");
        }
    }
}
