//! Experiments: each measures one input with the primitives and emits one OONI measurement.

pub mod urlgetter;
pub mod web_connectivity;
