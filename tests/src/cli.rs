//! Runs the `kuzet` binary from end-to-end tests.
//!
//! `env!("CARGO_BIN_EXE_kuzet")` only works inside the `kuzet` package, so the binary is found
//! here: the first call in a test process runs `cargo build -p kuzet` for the profile the tests
//! were built with (a no-op when the binary is fresh; it never runs a stale one) and takes the
//! executable's path from cargo's own report. Set `KUZET_BIN` to run a given binary instead.
//! If cargo cannot be run at all, an existing `target/<profile>/kuzet` is used (honouring
//! `CARGO_TARGET_DIR`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::build::workspace_bin;
pub use crate::build::workspace_root;

/// How long one run of the binary may take before it is killed and the test fails.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// A data directory for the CLI runs of this test process, in the system's temporary directory,
/// so tests never write into the user's own Kuzet store. Tests may override it with `env`.
pub fn test_data_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("kuzet-test-data-")
            .tempdir()
            .expect("a temporary data directory")
    })
    .path()
}

/// The path of a fresh `kuzet` binary, built at most once per test process.
pub fn kuzet_bin() -> &'static Path {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(|| workspace_bin("kuzet", "kuzet", "KUZET_BIN")) {
        Ok(path) => path,
        Err(message) => panic!("cannot get the kuzet binary: {message}"),
    }
}

/// What a run of `kuzet` produced.
#[derive(Debug)]
pub struct KuzetOutput {
    /// The exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl KuzetOutput {
    /// The exit code (`None` if killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Runs `kuzet ARGS...` with no standard input and `RUST_LOG` unset, and waits for it (at most
/// [`RUN_TIMEOUT`]). Blocking: from async tests, call it inside `spawn_blocking`.
pub fn run_kuzet<I, S>(args: I) -> KuzetOutput
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_kuzet_with_stdin(args, None)
}

/// Like [`run_kuzet`], with `stdin` as standard input.
pub fn run_kuzet_with_stdin<I, S>(args: I, stdin: Option<&str>) -> KuzetOutput
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_kuzet_with(args, stdin, &[])
}

/// Like [`run_kuzet`], with `stdin` as standard input and `env` added to the environment
/// (after `RUST_LOG` is removed, so `env` may set it).
pub fn run_kuzet_with<I, S>(args: I, stdin: Option<&str>, env: &[(&str, &str)]) -> KuzetOutput
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args
        .into_iter()
        .map(|a| a.as_ref().to_os_string())
        .collect();
    let mut child = Command::new(kuzet_bin())
        .args(&args)
        .env_remove("RUST_LOG")
        .env("KUZET_DATA_DIR", test_data_dir())
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", kuzet_bin().display()));
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        let text = text.to_string();
        std::thread::spawn(move || {
            let _ = pipe.write_all(text.as_bytes());
        });
    }
    match crate::wait::wait_with_output(child, RUN_TIMEOUT) {
        Ok(output) => KuzetOutput {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        },
        Err(crate::wait::WaitError::TimedOut { .. }) => {
            panic!("kuzet {args:?} did not finish within {RUN_TIMEOUT:?}")
        }
        Err(crate::wait::WaitError::Wait(e)) => panic!("cannot wait for kuzet: {e}"),
    }
}
