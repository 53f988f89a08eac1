//! Experiments: each measures one input with the primitives and emits one OONI measurement.

pub mod connectivity;
pub mod messaging;
pub mod policy;
pub mod throttling;
pub mod urlgetter;
pub mod web_connectivity;
