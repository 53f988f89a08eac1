//! One vocabulary for every front end: each suite's own verdict type, gathered in
//! [`Verdict`], with one word per verdict ([`Verdict::word`]) that is printed live, stored,
//! listed by `kuzet results` and the apps' history, and written in the uploaded measurement's
//! `x_` keys; and the coarse [`VerdictGroup`] screens sort results by.

use serde::{Deserialize, Serialize};

use super::suite::Suite;
use crate::experiment::connectivity::ConnectivityStatus;
use crate::experiment::messaging::MessagingVerdict;
use crate::experiment::throttling::ThrottlingVerdict;
use crate::experiment::urlgetter::UrlVerdict;
use crate::experiment::web_connectivity::Verdict as WebVerdict;

/// One target's verdict: the suite's own verdict type. Its word ([`Verdict::word`]) is the same
/// everywhere it appears.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "suite", content = "verdict", rename_all = "snake_case")]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Enum))]
pub enum Verdict {
    /// The connectivity check's status (`x_status`).
    Connectivity(ConnectivityStatus),
    /// urlgetter's verdict (`x_verdict`).
    Urls(UrlVerdict),
    /// web_connectivity's verdict (`x_verdict`).
    Web(WebVerdict),
    /// A messaging app's verdict (`x_status`).
    Messaging(MessagingVerdict),
    /// A throttling verdict (`x_throttling.verdict`).
    Throttling(ThrottlingVerdict),
}

/// How screens group results: problems first, then the unclear, then what worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Enum))]
pub enum VerdictGroup {
    /// Blocked or tampered with: DNS, TCP/IP, TLS, interception, a block page, a failed
    /// exchange, an app's servers; confirmed against a comparison.
    Blocked,
    /// Held to a much lower speed than a comparison, or cut off after a few bytes.
    Throttled,
    /// The network itself as this device saw it: no host answering, international traffic
    /// cut, only approved hosts reachable, a portal answering, key services failing.
    NetworkDisrupted,
    /// Something failed or looked wrong, but one measurement cannot tell interference from an
    /// outage (partially blocked, possibly throttled, a failure without a comparison).
    Unclear,
    /// Down for everyone: it failed the same way from elsewhere.
    Down,
    /// Not judged: this device's network was down or cut while it was measured, or the device
    /// was offline by itself.
    Unreachable,
    /// It worked, with nothing to prove it genuine (a plain-http page without a comparison),
    /// or a test that could not conclude.
    Unverified,
    /// It worked as expected.
    Ok,
}

impl VerdictGroup {
    /// Every group, in the order screens show them.
    pub const ALL: [VerdictGroup; 8] = [
        VerdictGroup::Blocked,
        VerdictGroup::Throttled,
        VerdictGroup::NetworkDisrupted,
        VerdictGroup::Unclear,
        VerdictGroup::Down,
        VerdictGroup::Unreachable,
        VerdictGroup::Unverified,
        VerdictGroup::Ok,
    ];

    /// The group's one word: `blocked`, `throttled`, `network_disrupted`, `unclear`, `down`,
    /// `unreachable`, `unverified`, `ok`.
    pub fn word(self) -> &'static str {
        match self {
            VerdictGroup::Blocked => "blocked",
            VerdictGroup::Throttled => "throttled",
            VerdictGroup::NetworkDisrupted => "network_disrupted",
            VerdictGroup::Unclear => "unclear",
            VerdictGroup::Down => "down",
            VerdictGroup::Unreachable => "unreachable",
            VerdictGroup::Unverified => "unverified",
            VerdictGroup::Ok => "ok",
        }
    }

    /// The group of a word from [`VerdictGroup::word`].
    pub fn from_word(word: &str) -> Option<VerdictGroup> {
        VerdictGroup::ALL.into_iter().find(|g| g.word() == word)
    }
}

impl Verdict {
    /// The suite the verdict belongs to.
    pub fn suite(&self) -> Suite {
        match self {
            Verdict::Connectivity(_) => Suite::Connectivity,
            Verdict::Urls(_) => Suite::Urls,
            Verdict::Web(_) => Suite::Web,
            Verdict::Messaging(_) => Suite::Messaging,
            Verdict::Throttling(_) => Suite::Throttling,
        }
    }

    /// The verdict's one word, e.g. `dns_tampered`, `throttled`, `partially_blocked`,
    /// `data_blackout`, `unreachable`: the same live, stored, listed and uploaded.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Connectivity(status) => status.as_str(),
            Verdict::Urls(verdict) => verdict.word(),
            Verdict::Web(verdict) => verdict.kind(),
            Verdict::Messaging(verdict) => verdict.word(),
            Verdict::Throttling(verdict) => verdict.word(),
        }
    }

    /// The group screens put it in.
    pub fn group(&self) -> VerdictGroup {
        use VerdictGroup as G;
        match self {
            Verdict::Connectivity(status) => match status {
                ConnectivityStatus::Ok => G::Ok,
                ConnectivityStatus::LocalDevice | ConnectivityStatus::LocalLink => G::Unreachable,
                ConnectivityStatus::CaptiveOrInjection
                | ConnectivityStatus::DataBlackout
                | ConnectivityStatus::InternationalCut
                | ConnectivityStatus::WhitelistMode
                | ConnectivityStatus::ServiceBlock => G::NetworkDisrupted,
            },
            Verdict::Urls(UrlVerdict::Ok) => G::Ok,
            Verdict::Urls(UrlVerdict::Failed { .. }) => G::Unclear,
            Verdict::Web(verdict) => match verdict {
                WebVerdict::Ok => G::Ok,
                WebVerdict::SiteDown => G::Down,
                WebVerdict::DnsTampered { .. }
                | WebVerdict::TcpBlocked { .. }
                | WebVerdict::TlsBlocked { .. }
                | WebVerdict::TlsMitm { .. }
                | WebVerdict::HttpBlockpage
                | WebVerdict::HttpFailure { .. } => G::Blocked,
                WebVerdict::Undetermined { failed: true, .. } => G::Unclear,
                WebVerdict::Undetermined { failed: false, .. } => G::Unverified,
                WebVerdict::Unreachable { .. } => G::Unreachable,
            },
            Verdict::Messaging(verdict) => match verdict {
                MessagingVerdict::Ok { .. } => G::Ok,
                MessagingVerdict::Blocked { .. } => G::Blocked,
                MessagingVerdict::PartiallyBlocked { .. } => G::Unclear,
                MessagingVerdict::Unreachable { .. } => G::Unreachable,
            },
            Verdict::Throttling(verdict) => match verdict {
                ThrottlingVerdict::NotThrottled { .. } => G::Ok,
                ThrottlingVerdict::Throttled { .. } | ThrottlingVerdict::Stalled { .. } => {
                    G::Throttled
                }
                ThrottlingVerdict::Suspected { .. } => G::Unclear,
                ThrottlingVerdict::Inconclusive { .. } => G::Unverified,
                ThrottlingVerdict::Blocked { .. } | ThrottlingVerdict::Intercepted => G::Blocked,
                ThrottlingVerdict::Unreachable { .. } => G::Unreachable,
            },
        }
    }

    /// True when the verdict says something about the target only if this device's network
    /// worked while it was measured: anything but a success (a page that loaded, even without
    /// a comparison, proves the network worked). Such verdicts are conditioned on the
    /// connectivity checks around them ([`crate::session::NetworkGuard`]).
    pub fn needs_network(&self) -> bool {
        match self {
            Verdict::Connectivity(_) | Verdict::Urls(_) => false,
            Verdict::Web(WebVerdict::Undetermined { failed: false, .. }) => false,
            other => !matches!(other.group(), VerdictGroup::Ok | VerdictGroup::Unreachable),
        }
    }

    /// The same suite's verdict for a target that could not be judged because the network
    /// was down or cut (`network`); `None` for suites without one (connectivity, urlgetter).
    pub fn unreachable(&self, network: ConnectivityStatus) -> Option<Verdict> {
        match self {
            Verdict::Connectivity(_) | Verdict::Urls(_) => None,
            Verdict::Web(_) => Some(Verdict::Web(WebVerdict::Unreachable { network })),
            Verdict::Messaging(_) => Some(Verdict::Messaging(MessagingVerdict::Unreachable {
                network,
            })),
            Verdict::Throttling(_) => Some(Verdict::Throttling(ThrottlingVerdict::Unreachable {
                network,
            })),
        }
    }

    /// Writes the verdict into a measurement's test keys, where the suite keeps it:
    /// `x_verdict` (web, urlgetter), `x_status` (messaging, connectivity) or
    /// `x_throttling.verdict` with its details. The experiments write their own verdicts as
    /// they build the measurement; this is for a verdict that changes afterwards (a result the
    /// network guard relabels `unreachable`).
    pub fn write_test_keys(&self, keys: &mut serde_json::Value) {
        let Some(keys) = keys.as_object_mut() else {
            return;
        };
        match self {
            Verdict::Connectivity(status) => {
                keys.insert("x_status".to_string(), serde_json::json!(status));
            }
            Verdict::Urls(verdict) => {
                keys.insert("x_verdict".to_string(), serde_json::json!(verdict));
            }
            Verdict::Web(verdict) => {
                keys.insert("x_verdict".to_string(), serde_json::json!(verdict));
            }
            Verdict::Messaging(verdict) => {
                keys.insert("x_status".to_string(), verdict.word().into());
                if let MessagingVerdict::Unreachable { network } = verdict {
                    keys.insert("x_blocked_step".to_string(), serde_json::Value::Null);
                    keys.insert("x_network_status".to_string(), serde_json::json!(network));
                }
            }
            Verdict::Throttling(verdict) => {
                if let Some(x) = keys.get_mut("x_throttling").and_then(|x| x.as_object_mut()) {
                    x.insert("verdict".to_string(), verdict.word().into());
                    if let ThrottlingVerdict::Unreachable { network } = verdict {
                        x.insert("network".to_string(), serde_json::json!(network));
                    }
                }
            }
        }
    }

    /// The verdict a measurement's test keys carry, read back from where
    /// [`Verdict::write_test_keys`] (and the experiments) put it; `None` when the keys do not
    /// hold a verdict Kuzet can read.
    pub fn from_test_keys(test_name: &str, keys: &serde_json::Value) -> Option<Verdict> {
        use crate::experiment::{connectivity, messaging::App, throttling, urlgetter};
        let text = |key: &str| keys.get(key).and_then(serde_json::Value::as_str);
        match test_name {
            connectivity::TEST_NAME => text("x_status")
                .and_then(ConnectivityStatus::parse)
                .map(Verdict::Connectivity),
            urlgetter::TEST_NAME => serde_json::from_value(keys.get("x_verdict")?.clone())
                .ok()
                .map(Verdict::Urls),
            crate::experiment::web_connectivity::TEST_NAME => {
                serde_json::from_value(keys.get("x_verdict")?.clone())
                    .ok()
                    .map(Verdict::Web)
            }
            throttling::TEST_NAME => {
                let x = keys.get("x_throttling")?;
                throttling::verdict_from_x_throttling(x).map(Verdict::Throttling)
            }
            name if App::ALL.iter().any(|app| app.test_name() == name) => {
                messaging_from_keys(keys).map(Verdict::Messaging)
            }
            _ => None,
        }
    }
}

/// A messaging verdict from an app's test keys (`x_status`, `x_blocked_step`,
/// `x_failing_endpoints`, `x_endpoints_checked`).
fn messaging_from_keys(keys: &serde_json::Value) -> Option<MessagingVerdict> {
    let count = |key: &str| {
        keys.get(key)
            .and_then(serde_json::Value::as_u64)
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
    };
    let failing_list = keys
        .get("x_failing_endpoints")
        .and_then(serde_json::Value::as_array);
    let failing = failing_list.map_or(0, |list| u32::try_from(list.len()).unwrap_or(u32::MAX));
    let checked = count("x_endpoints_checked");
    let step = keys
        .get("x_blocked_step")
        .and_then(|step| serde_json::from_value(step.clone()).ok());
    // The most common failure at the step, as the verdict computed it, is not kept on its
    // own: the failing endpoints' failures at that step are.
    let failure = failing_list.and_then(|list| {
        let step = keys.get("x_blocked_step")?.as_str()?;
        list.iter()
            .filter(|e| e.get("step").and_then(serde_json::Value::as_str) == Some(step))
            .filter_map(|e| e.get("failure").and_then(serde_json::Value::as_str))
            .map(str::to_string)
            .next()
    });
    Some(
        match keys.get("x_status").and_then(serde_json::Value::as_str)? {
            "ok" => MessagingVerdict::Ok { checked },
            "blocked" => MessagingVerdict::Blocked {
                step,
                failure,
                failing,
                checked,
            },
            "partially_blocked" => MessagingVerdict::PartiallyBlocked {
                step,
                failure,
                failing,
                checked,
            },
            "unreachable" => MessagingVerdict::Unreachable {
                network: keys
                    .get("x_network_status")
                    .and_then(serde_json::Value::as_str)
                    .and_then(ConnectivityStatus::parse)?,
            },
            _ => return None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_have_unique_words() {
        for group in VerdictGroup::ALL {
            assert_eq!(VerdictGroup::from_word(group.word()), Some(group));
        }
    }

    #[test]
    fn a_failure_needs_the_network_and_a_success_does_not() {
        let blocked = Verdict::Web(WebVerdict::HttpBlockpage);
        assert!(blocked.needs_network());
        assert!(!Verdict::Web(WebVerdict::Ok).needs_network());
        let unreachable = blocked
            .unreachable(ConnectivityStatus::DataBlackout)
            .unwrap();
        assert_eq!(unreachable.word(), "unreachable");
        assert_eq!(unreachable.group(), VerdictGroup::Unreachable);
        assert!(!unreachable.needs_network());
        assert!(!Verdict::Connectivity(ConnectivityStatus::DataBlackout).needs_network());
        assert!(Verdict::Urls(UrlVerdict::Ok)
            .unreachable(ConnectivityStatus::DataBlackout)
            .is_none());
    }

    #[test]
    fn verdicts_round_trip_through_the_store_encoding() {
        let verdicts = [
            Verdict::Connectivity(ConnectivityStatus::InternationalCut),
            Verdict::Urls(UrlVerdict::Failed {
                operation: "connect".into(),
                failure: "connection_refused".into(),
            }),
            Verdict::Web(WebVerdict::Unreachable {
                network: ConnectivityStatus::DataBlackout,
            }),
            Verdict::Messaging(MessagingVerdict::PartiallyBlocked {
                step: Some(crate::experiment::messaging::BlockedStep::Tls),
                failure: Some("connection_reset".into()),
                failing: 1,
                checked: 4,
            }),
            Verdict::Throttling(ThrottlingVerdict::Throttled {
                median_ratio: 0.1,
                target_kbps: 128,
                control_kbps: 8000,
                fixed_rate: true,
            }),
        ];
        for verdict in verdicts {
            let json = serde_json::to_string(&verdict).unwrap();
            let back: Verdict = serde_json::from_str(&json).unwrap();
            assert_eq!(back, verdict, "{json}");
        }
    }
}
