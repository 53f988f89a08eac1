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
    match BIN.get_or_init(find_or_build) {
        Ok(path) => path,
        Err(message) => panic!("cannot get the kuzet binary: {message}"),
    }
}

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The cargo profile the running test was built with, from its path
/// (`<target>/<profile dir>/deps/<test>`): `dev` for `debug`, else the directory's name.
fn profile_dir_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let deps = exe.parent()?;
            if deps.file_name()? != "deps" {
                return None;
            }
            Some(deps.parent()?.file_name()?.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "debug".to_string())
}

fn find_or_build() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("KUZET_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let profile_dir = profile_dir_name();
    match build(&profile_dir) {
        Ok(path) => Ok(path),
        Err(BuildError::CannotRun(reason)) => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(|dir| workspace_root().join(dir))
                .unwrap_or_else(|| workspace_root().join("target"));
            let path = target
                .join(&profile_dir)
                .join(format!("kuzet{}", std::env::consts::EXE_SUFFIX));
            if path.is_file() {
                eprintln!(
                    "warning: cannot run cargo ({reason}); using {} as it is",
                    path.display()
                );
                Ok(path)
            } else {
                Err(format!(
                    "cannot run cargo ({reason}) and {} does not exist",
                    path.display()
                ))
            }
        }
        Err(BuildError::Failed(reason)) => Err(reason),
    }
}

enum BuildError {
    /// cargo itself could not be started.
    CannotRun(String),
    /// cargo ran and failed, or reported no executable.
    Failed(String),
}

/// Runs `cargo build -p kuzet` and returns the executable cargo reports.
fn build(profile_dir: &str) -> Result<PathBuf, BuildError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let profile = if profile_dir == "debug" {
        "dev"
    } else {
        profile_dir
    };
    let mut command = Command::new(&cargo);
    // Cargo sets these for the running test; passed on, they would change the fingerprints of
    // build scripts that watch them (ring watches CARGO_MANIFEST_DIR), and every alternation of
    // this build and a plain one would rebuild ring, rustls and everything above them.
    for (name, _) in std::env::vars_os() {
        if is_set_by_cargo_for_tests(&name.to_string_lossy()) {
            command.env_remove(&name);
        }
    }
    let output = command
        .args([
            "build",
            "-p",
            "kuzet",
            "--bin",
            "kuzet",
            "--profile",
            profile,
        ])
        .arg("--message-format=json-render-diagnostics")
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| BuildError::CannotRun(format!("{}: {e}", Path::new(&cargo).display())))?;
    if !output.status.success() {
        return Err(BuildError::Failed(format!(
            "cargo build -p kuzet failed: {}",
            output.status
        )));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact" && message["target"]["name"] == "kuzet"
        })
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| BuildError::Failed("cargo reported no kuzet executable".to_string()))
}

/// The variables cargo sets for a crate under test (not the user's configuration).
fn is_set_by_cargo_for_tests(name: &str) -> bool {
    matches!(
        name,
        "CARGO_MANIFEST_DIR"
            | "CARGO_MANIFEST_PATH"
            | "CARGO_CRATE_NAME"
            | "CARGO_BIN_NAME"
            | "CARGO_PRIMARY_PACKAGE"
            | "CARGO_TARGET_TMPDIR"
            | "CARGO_RUSTC_CURRENT_DIR"
            | "OUT_DIR"
    ) || name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_BIN_EXE_")
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
