//! Kuzet's embedding API for Kotlin (package `org.kuzet`) and Swift (module `Kuzet`).
//!
//! A thin layer over `kuzet_core::engine`: the [`Engine`] object, the [`TaskHandle`] of a
//! running test, the platform's capabilities as foreign traits, the app's configuration as
//! plain strings, [`KuzetError`], and the apps' shared rules (consent, choices, formatting,
//! the URL list, background scheduling: `rules`). Everything a run reports (results, verdicts,
//! progress, summaries) and the network context are core's own types, which carry uniffi
//! derives behind core's `uniffi` feature: nothing is mirrored. Policy lives in core; this
//! crate only converts the configuration and errors.
//!
//! Every async export runs on the library's one tokio runtime (core's
//! `runtime::runtime()`): the future the foreign side polls only awaits a task spawned
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
