//! Exports used only by the Kotlin and Swift test suites (feature `test-hooks`, never in
//! release builds).

use crate::error::ApiResult;

/// Panics with `message`, to prove a Rust panic reaches the app as an exception. Declared
/// fallible like every export that does real work: Swift traps on a panic in a non-throwing
/// function, and throws in a throwing one.
#[uniffi::export]
pub fn test_panic(message: String) -> ApiResult<()> {
    panic!("{message}");
}

/// Panics with `message` inside an async call.
#[uniffi::export]
pub async fn test_panic_async(message: String) -> ApiResult<()> {
    panic!("{message}");
}
