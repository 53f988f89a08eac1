//! OONI-format measurements: the envelope (df-000) and the sub-formats (df-001..008).

pub mod measurement;
pub mod observations;
pub mod scrub;

pub use measurement::{Measurement, ProbeNetwork, Software};
