//! Loopback fixtures for Kuzet's tests: a test PKI, TLS, HTTP and DNS servers that misbehave on
//! request. Every server binds to 127.0.0.1 on an ephemeral port and stops when dropped.
//! The end-to-end tests of the `kuzet` CLI live in `tests/`.

pub mod build;
pub mod cli;
pub mod fixtures;
pub mod lab;
pub mod ooni;
pub mod wait;
