//! Kuzet's measurement engine: primitives that observe the network the way OONI does, the
//! experiments built from them, and OONI-format measurements. No FFI here: the `kuzet-ffi`
//! crate wraps this for Kotlin and Swift.

pub mod app;
pub mod clock;
pub mod engine;
pub mod error;
pub mod experiment;
pub mod failure;
pub mod net;
mod ordered;
pub mod probe;
pub mod random;
pub mod report;
pub mod runtime;
pub mod session;
pub mod store;
pub mod testlists;
pub mod th;
pub mod upload;

pub use clock::MeasurementClock;
pub use error::{Error, Result};
pub use failure::Failure;

// The uniffi derives are left out of this crate's own unit-test build (`not(test)` on every
// one): those tests use kuzet-e2e's fixtures, which link this crate's library too, and uniffi's
// metadata symbols would then be defined twice. The bindings build the library as it ships.
#[cfg(all(feature = "uniffi", not(test)))]
uniffi::setup_scaffolding!("kuzet_core");

/// The version of this library.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
