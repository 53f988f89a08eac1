//! Measurement primitives. Each is async, has an explicit timeout and byte cap, and returns an
//! observation shaped like OONI's sub-formats, timed against a [`crate::MeasurementClock`].

pub mod flow;
pub mod dns;
pub mod tcp;

pub use flow::Flow;
