//! Suites: the kinds of test a run can include, in the order a run measures them.

use std::fmt;

/// A group of tests a run can include.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Enum))]
pub enum Suite {
    /// Connectivity: is the internet up at all, and if not how it fails (the shutdown
    /// timeline). One result, target `connectivity`.
    Connectivity,
    /// Single URLs fetched step by step (urlgetter), as `kuzet measure` does: which step
    /// failed and how, never a verdict on blocking (there is no control to compare with).
    Urls,
    /// Websites: whether each URL loads, compared with a test helper's view from elsewhere,
    /// and if not at which step and how it is blocked.
    Web,
    /// Messaging apps: can WhatsApp, Telegram, Signal and Facebook Messenger reach their
    /// servers, and if not at which step.
    Messaging,
    /// Throttling: the same download from Kuzet's throughput server under the tested site's
    /// name and under a neutral one (and real sites against baselines); a persistent gap is
    /// throttling keyed on the name or the address.
    Throttling,
}

impl Suite {
    /// Every suite, in the order a run measures them.
    pub const ALL: [Suite; 5] = [
        Suite::Connectivity,
        Suite::Urls,
        Suite::Web,
        Suite::Messaging,
        Suite::Throttling,
    ];

    /// The suite's name in settings, logs and the store.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Connectivity => "connectivity",
            Suite::Urls => "urls",
            Suite::Web => "web",
            Suite::Messaging => "messaging",
            Suite::Throttling => "throttling",
        }
    }

    /// The suite of a name from [`Suite::name`].
    pub fn from_name(name: &str) -> Option<Suite> {
        Suite::ALL.into_iter().find(|suite| suite.name() == name)
    }

    /// Whether the suite's verdicts say something about the target only if this device's
    /// network worked, so a run checks the network first and conditions them on it (see
    /// [`crate::session::NetworkGuard`]). urlgetter's verdicts only say which step failed.
    pub fn needs_network_check(self) -> bool {
        matches!(self, Suite::Web | Suite::Messaging | Suite::Throttling)
    }

    /// One sentence on what the suite does, for settings screens.
    pub fn description(self) -> &'static str {
        match self {
            Suite::Connectivity => "A cheap check of whether the internet is reachable at all, for the shutdown timeline.",
            Suite::Urls => "Fetches single URLs step by step and says which step failed, without comparing with another network.",
            Suite::Web => "Checks whether websites load, and at which step (DNS, connection, TLS, HTTP) they fail.",
            Suite::Messaging => "Checks whether WhatsApp, Telegram, Signal and Facebook Messenger can reach their servers, and at which step (DNS, connection, TLS, HTTP) they fail.",
            Suite::Throttling => "Compares download speeds under different site names to detect deliberate slowdowns.",
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for suite in Suite::ALL {
            assert_eq!(Suite::from_name(suite.name()), Some(suite));
        }
        assert_eq!(Suite::from_name("nope"), None);
    }
}
