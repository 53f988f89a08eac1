//! The HTTP layer: OONI's comparison of the final response with the helper's (the http-diff
//! keys), rule 7 (the fetch failed at a later step) and rule 8 (a cleartext page came back).

use std::collections::BTreeSet;

use super::dns::dns_failure_verdict;
use super::{Facts, Observations};
use crate::experiment::web_connectivity::verdict::{TcpBlock, Verdict};
use crate::ordered::btree_set;
use crate::probe::fetch::Operation;
use crate::report::observations::HttpTransaction;
use crate::th::{html_title, ThResponse};

/// The body-length ratio above which two bodies match (OONI's 0.7).
pub const BODY_PROPORTION_FACTOR: f64 = 0.7;

/// The shortest title word compared, in characters (OONI's 5).
pub const MIN_TITLE_WORD_CHARS: usize = 5;

/// Header names too common to tell two servers apart (OONI's list).
pub const COMMON_HEADERS: [&str; 25] = [
    "date",
    "content-type",
    "server",
    "cache-control",
    "vary",
    "set-cookie",
    "location",
    "expires",
    "x-powered-by",
    "content-encoding",
    "last-modified",
    "accept-ranges",
    "pragma",
    "x-frame-options",
    "etag",
    "x-content-type-options",
    "age",
    "via",
    "p3p",
    "x-xss-protection",
    "content-language",
    "cf-ray",
    "strict-transport-security",
    "link",
    "x-varnish",
];

impl Facts<'_> {
    /// The final response, when it succeeded.
    pub(super) fn final_success(&self) -> Option<&HttpTransaction> {
        let observations = self.observations;
        let first = observations.requests.first()?;
        (first.failure.is_none()
            && first.response.code > 0
            && observations.http_experiment_failure.is_none())
        .then_some(first)
    }

    /// Rule 7: the fetch failed at a later step (a redirect's DNS, connect or TLS, or the HTTP
    /// exchange) → `site_down` if the helper's fetch failed too, else the matching blocked
    /// verdict; `None` when the fetch did not fail.
    pub(super) fn fetch_failure_verdict(&self, control: &ThResponse) -> Option<Verdict> {
        let observations = self.observations;
        if let Some(failure) = &observations.http_experiment_failure {
            if !control.http_request.succeeded() {
                return Some(Verdict::SiteDown);
            }
            return Some(match observations.http_failed_operation {
                Some(Operation::Resolve) => dns_failure_verdict(failure),
                Some(Operation::Connect) => Verdict::TcpBlocked {
                    how: TcpBlock::from_failure(failure),
                },
                Some(Operation::TlsHandshake) => self.later_tls_verdict(failure),
                Some(Operation::HttpRoundTrip) | None => Verdict::HttpFailure {
                    failure: failure.clone(),
                },
            });
        }
        None
    }

    /// Rule 8: a cleartext page came back → `ok` if it matches the helper's by OONI's
    /// http-diff rule, `http_blockpage` if not, `undetermined` if the helper has no page to
    /// compare; `None` without a page.
    pub(super) fn page_verdict(&self, control: &ThResponse, diff: &HttpDiff) -> Option<Verdict> {
        if self.final_success().is_some() {
            if !control.http_request.succeeded() {
                return Some(Verdict::Undetermined {
                    why: "the control could not fetch the page".to_string(),
                    failed: false,
                });
            }
            return Some(if diff.page_matches() {
                Verdict::Ok
            } else {
                Verdict::HttpBlockpage
            });
        }
        None
    }
}

/// OONI's comparison of the final response with the helper's.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct HttpDiff {
    /// `body_proportion`.
    pub(super) body_proportion: f64,
    /// `body_length_match`.
    pub(super) body_length_match: Option<bool>,
    /// `status_code_match`.
    pub(super) status_code_match: Option<bool>,
    /// `headers_match`.
    pub(super) headers_match: Option<bool>,
    /// `title_match`.
    pub(super) title_match: Option<bool>,
}

impl HttpDiff {
    /// The comparison of `observations`' final response with `control`'s (every key `None`,
    /// and `body_proportion` 0, without either).
    pub(super) fn compute(observations: &Observations, control: Option<&ThResponse>) -> Self {
        let mut diff = HttpDiff::default();
        let (Some(control), Some(last)) = (control, observations.requests.first()) else {
            return diff;
        };
        let expected = &control.http_request;
        let response = &last.response;

        // body_length_match / body_proportion: both bodies known and non-empty, ours whole.
        let ours = response.body.len() as i64;
        if expected.body_length > 0 && !response.body_is_truncated && ours > 0 {
            let (small, large) = if ours >= expected.body_length {
                (expected.body_length, ours)
            } else {
                (ours, expected.body_length)
            };
            diff.body_proportion = small as f64 / large as f64;
            diff.body_length_match = Some(diff.body_proportion > BODY_PROPORTION_FACTOR);
        }

        // status_code_match: equal codes match; a different code is a mismatch only when the
        // helper's is 2xx (a helper error page proves nothing).
        if expected.status_code > 0 && response.code > 0 {
            diff.status_code_match = if expected.status_code == response.code {
                Some(true)
            } else if expected.status_code / 100 == 2 {
                Some(false)
            } else {
                None
            };
        }

        // headers_match: the same header names, or a shared uncommon one.
        if expected.status_code > 0 && response.code > 0 {
            let names = |keys: &mut dyn Iterator<Item = &String>| -> BTreeSet<String> {
                btree_set(keys.map(|key| key.to_ascii_lowercase()))
            };
            let ours = names(
                &mut response
                    .headers
                    .keys()
                    .chain(response.headers_list.iter().map(|(name, _)| name)),
            );
            let theirs = names(&mut expected.headers.keys());
            let uncommon = |set: &BTreeSet<String>| -> BTreeSet<String> {
                btree_set(
                    set.iter()
                        .filter(|name| !COMMON_HEADERS.contains(&name.as_str()))
                        .cloned(),
                )
            };
            diff.headers_match =
                Some(ours == theirs || !uncommon(&ours).is_disjoint(&uncommon(&theirs)));
        }

        // title_match: the titles share a long word; null when either has none.
        if expected.status_code > 0 && response.code > 0 && !response.body_is_truncated {
            let ours = title_words(&html_title(&response.body.to_bytes()));
            let theirs = title_words(&expected.title);
            if !ours.is_empty() && !theirs.is_empty() {
                diff.title_match = Some(!ours.is_disjoint(&theirs));
            }
        }
        diff
    }

    /// OONI's http-diff rule: status codes match and (bodies, headers or titles match).
    pub(super) fn page_matches(&self) -> bool {
        self.status_code_match == Some(true)
            && (self.body_length_match == Some(true)
                || self.headers_match == Some(true)
                || self.title_match == Some(true))
    }
}

/// The lowercase words of at least [`MIN_TITLE_WORD_CHARS`] characters.
fn title_words(title: &str) -> BTreeSet<String> {
    btree_set(
        title
            .split_whitespace()
            .filter(|word| word.chars().count() >= MIN_TITLE_WORD_CHARS)
            .map(str::to_lowercase),
    )
}
