//! Kuzet's embedding API for Kotlin (package `org.kuzet`) and Swift (module `Kuzet`).
//!
//! A thin layer over `kuzet_core::engine`: records and enums that mirror core's types, the
//! [`Engine`] object, the [`TaskHandle`] of a running test, the platform's capabilities as
//! foreign traits, [`KuzetError`], and the apps' shared rules (consent, choices, formatting,
//! the URL list, background scheduling: `rules`). Policy lives in core; this crate only
//! converts.
//!
//! Every async export runs on the library's one tokio runtime (core's
//! `engine::runtime::runtime()`): the future the foreign side polls only awaits a task spawned
//! there, so no second runtime is started and dropping the future (a cancelled Kotlin
//! coroutine) cancels the work.

mod engine;
mod error;
mod logging;
mod platform;
mod rules;
mod task;
#[cfg(feature = "test-hooks")]
mod testing;
mod types;

pub use engine::Engine;
pub use error::KuzetError;
pub use logging::{clear_logger, set_logger};
pub use platform::{Logger, NetworkContextProvider, RunListener, Uploader};
pub use rules::*;
pub use task::TaskHandle;
pub use types::*;

uniffi::setup_scaffolding!();

/// The version of the Kuzet library, e.g. `0.1.0`.
#[uniffi::export]
pub fn kuzet_version() -> String {
    kuzet_core::VERSION.to_string()
}
