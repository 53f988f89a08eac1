//! Connectivity and shutdown detection. This module holds the decision half: a pure function
//! from what the cheap probes and the platform observed to a status with its evidence, so every
//! rule is tested without a network. A single device never claims a national shutdown: the
//! statuses describe what this device observed.

pub mod classify;
pub mod explain;
pub mod observation;

pub use classify::{classify, Classification, ClassifyRules, ConnectivityStatus};
pub use explain::explain;
pub use observation::{
    AnchorGroup, AnchorResult, CaptiveCheck, ConnectivityObservation, PlatformState, Transport,
};
