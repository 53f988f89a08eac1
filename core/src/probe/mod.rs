//! Measurement primitives. Each is async, has an explicit timeout and byte cap, and returns an
//! observation shaped like OONI's sub-formats, timed against a [`crate::MeasurementClock`].

pub mod dns;
pub mod fetch;
pub mod flow;
pub mod http;
pub mod tcp;
pub mod throughput;
pub mod tls;

pub use flow::Flow;
