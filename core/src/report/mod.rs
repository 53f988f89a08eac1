//! OONI-format measurements: the envelope (df-000) and the sub-formats (df-001..008).

pub mod measurement;
pub mod observations;
pub mod scrub;

pub use measurement::{format_ooni_time, Measurement, ProbeNetwork, Software};
pub use observations::{
    BinaryData, DnsAnswer, DnsQuery, HttpBody, HttpRequest, HttpResponse, HttpTransaction,
    NetworkEvent, TcpConnect, TcpConnectStatus, TlsHandshake, TorInfo,
};
pub use scrub::{scrub_measurement, Scrubber, SCRUBBED};
