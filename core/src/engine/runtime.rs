//! The one tokio runtime the library owns. Every run, and every async call made through the
//! bindings, executes here: apps never need a runtime of their own, and Kotlin or Swift threads
//! only ever wait on it.

use once_cell::sync::Lazy;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::runtime::{Builder, Runtime};

/// Worker threads: two is plenty for network-bound work on a phone.
pub const WORKER_THREADS: usize = 2;
/// Threads for blocking calls (getaddrinfo goes through `spawn_blocking`).
pub const MAX_BLOCKING_THREADS: usize = 16;
/// The prefix of every thread the runtime starts (`kuzet-worker-1`, ...), as shown in crash
/// reports and thread dumps.
pub const THREAD_NAME_PREFIX: &str = "kuzet-worker";

static RUNTIME: Lazy<Runtime> = Lazy::new(|| {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .thread_name_fn(|| {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            format!("{THREAD_NAME_PREFIX}-{n}")
        })
        .enable_all()
        .build()
        // Only fails when the process cannot start threads or create an epoll instance; the
        // panic surfaces to the app as an exception through the bindings.
        .unwrap_or_else(|error| panic!("cannot start Kuzet's runtime: {error}"))
});

/// The library's runtime, started on first use.
pub fn runtime() -> &'static Runtime {
    &RUNTIME
}
