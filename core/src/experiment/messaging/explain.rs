//! A messaging app's verdict in plain words: what works, what does not, at which step, and
//! how sure one measurement can be.

use super::{App, AppStatus, AppVerdict, BlockedStep};
use crate::failure::Failure;

/// One app's verdict in plain words: what works, what does not, at which step, and how sure
/// one measurement can be.
pub fn explain(app: App, verdict: &AppVerdict) -> String {
    let name = app.display_name();
    let count = verdict.failing.len();
    let how = |step: Option<BlockedStep>, failure: &Option<Failure>| {
        let step_words = match step {
            Some(BlockedStep::Dns) => "their names did not resolve correctly (DNS)",
            Some(BlockedStep::Tcp) => "connections to them failed (TCP)",
            Some(BlockedStep::Tls) => "secure connections to them failed (TLS)",
            Some(BlockedStep::Http) => "their web requests failed (HTTP)",
            None => "they failed",
        };
        match failure {
            Some(failure) => format!("{step_words}, mostly with {failure}"),
            None => step_words.to_string(),
        }
    };
    match verdict.status {
        AppStatus::Ok => format!(
            "{name} reached all {} of its servers tested from this network.",
            verdict.checked
        ),
        AppStatus::Blocked => format!(
            "{name} appears blocked on this network: none of its essential servers could be reached; {}. One measurement from one device: repeat it to confirm.",
            how(verdict.step, &verdict.failure)
        ),
        AppStatus::PartiallyBlocked => format!(
            "{name} appears partially blocked: {count} of {} servers tested failed; {}. The app may work in part (for instance messages but not the web version).",
            verdict.checked,
            how(verdict.step, &verdict.failure)
        ),
    }
}
