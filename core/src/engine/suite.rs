//! Suites: what a run can measure. Every suite the API names is listed here; those not built yet
//! are refused before a run starts, with a message that says so.

use std::fmt;

/// A group of tests a run can include.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Suite {
    /// Websites: is each URL reachable, and if not, at which step did it fail.
    Web,
    /// Messaging apps (WhatsApp, Telegram, Signal, Facebook Messenger).
    Messaging,
    /// Throttling: download speed to reference servers over time.
    Throttling,
    /// Connectivity: a cheap is-the-internet-up check for the shutdown timeline.
    Connectivity,
}

impl Suite {
    /// Every suite, in the order a run measures them.
    pub const ALL: [Suite; 4] = [
        Suite::Connectivity,
        Suite::Web,
        Suite::Messaging,
        Suite::Throttling,
    ];

    /// The suite's name in settings and logs.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Web => "web",
            Suite::Messaging => "messaging",
            Suite::Throttling => "throttling",
            Suite::Connectivity => "connectivity",
        }
    }

    /// Whether this build can run the suite (throttling also needs a throughput server in
    /// the configuration).
    pub fn is_available(self) -> bool {
        matches!(
            self,
            Suite::Web | Suite::Connectivity | Suite::Throttling | Suite::Messaging
        )
    }

    /// One sentence on what the suite does, for settings screens.
    pub fn description(self) -> &'static str {
        match self {
            Suite::Web => "Checks whether websites load, and at which step (DNS, connection, TLS, HTTP) they fail.",
            Suite::Messaging => "Checks whether WhatsApp, Telegram, Signal and Facebook Messenger can reach their servers, and at which step (DNS, connection, TLS, HTTP) they fail.",
            Suite::Throttling => "Compares download speeds under different site names to detect deliberate slowdowns.",
            Suite::Connectivity => "A cheap check of whether the internet is reachable at all, for the shutdown timeline.",
        }
    }

    /// Why the suite cannot run in this build, if it cannot.
    pub fn unavailable_reason(self) -> Option<String> {
        if self.is_available() {
            None
        } else {
            Some(format!(
                "the {} suite is not available yet in this version of Kuzet",
                self.name()
            ))
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
