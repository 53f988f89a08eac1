//! Kuzet's embedding API. A later step exports it through uniffi; for now it only re-exports the
//! core's version so the crate builds and links.

/// The version of the Kuzet library, as the embedding API will report it.
pub fn version() -> &'static str {
    kuzet_core::VERSION
}
