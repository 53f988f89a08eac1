//! The one tokio runtime the library owns. Every run, and every async call made through the
//! bindings, executes here: apps never need a runtime of their own, and Kotlin or Swift threads
//! only ever wait on it.

use once_cell::sync::Lazy;
use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::runtime::{Builder, Handle, Runtime};

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

/// A blocking job whose result type is erased, so every blocking store call shares one
/// compiled `spawn_blocking` task (the mobile library's size depends on it).
type ErasedJob = Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>;

/// Runs `call` on the blocking threads of the runtime behind `handle` and returns its result.
/// Errors (in words) only when the job stopped unexpectedly: it panicked or the runtime shut
/// down.
pub(crate) async fn run_blocking<T: Send + 'static>(
    handle: &Handle,
    call: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let job: ErasedJob = Box::new(move || Box::new(call()) as Box<dyn Any + Send>);
    let output = handle
        .spawn_blocking(job)
        .await
        .map_err(|e| format!("a store task stopped unexpectedly: {e}"))?;
    output
        .downcast::<T>()
        .map(|value| *value)
        .map_err(|_| "a store task returned an unexpected type".to_string())
}
