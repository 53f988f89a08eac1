//! Runs the `kuzet` binary from end-to-end tests.
//!
//! `env!("CARGO_BIN_EXE_kuzet")` only works inside the `kuzet` package, so the binary is found
//! here: the first call in a test process runs `cargo build -p kuzet` for the profile the tests
//! were built with (a no-op when the binary is fresh; it never runs a stale one) and takes the
//! executable's path from cargo's own report. Set `KUZET_BIN` to run a given binary instead.
//! If cargo cannot be run at all, an existing `target/<profile>/kuzet` is used (honouring
//! `CARGO_TARGET_DIR`).

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

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
    // Read both pipes while waiting, so a chatty child never blocks on a full pipe.
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("kuzet {args:?} did not finish within {RUN_TIMEOUT:?}");
            }
            Err(e) => panic!("cannot wait for kuzet: {e}"),
        }
    };
    KuzetOutput {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}
