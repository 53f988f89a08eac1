//! Running commands for the lab: short setup commands (`ip`, `nft`, `iptables`), long-lived
//! processes that must die with the test process, commands with a deadline, and finding (or
//! building) the workspace's binaries.

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A lab failure, with a message that says what to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabError {
    message: String,
}

impl LabError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> LabError {
        LabError {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LabError {}

/// Runs a setup command to completion; its standard output on success, an error naming the
/// command and quoting its standard error otherwise.
pub fn run<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Result<String, LabError> {
    run_with_stdin(program, args, None)
}

/// Like [`run`], feeding `stdin` to the command.
pub fn run_with_stdin<S: AsRef<OsStr>>(
    program: &str,
    args: &[S],
    stdin: Option<&str>,
) -> Result<String, LabError> {
    let shown = || {
        let args: Vec<String> = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        format!("{program} {}", args.join(" "))
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| LabError::new(format!("cannot run {}: {e}", shown())))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(text.as_bytes())
            .map_err(|e| LabError::new(format!("{}: writing its input: {e}", shown())))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| LabError::new(format!("{}: {e}", shown())))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(LabError::new(format!(
            "{} failed ({}): {}",
            shown(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

type Job = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `command` from one long-lived thread, with `PR_SET_PDEATHSIG` = SIGKILL: the child
/// dies when the test process dies, however it dies. (The death signal follows the *thread*
/// that forked, which is why one thread that lives as long as the process does every spawn.)
pub fn spawn_bound(mut command: Command) -> io::Result<Child> {
    static KEEPER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    // SAFETY: the closure only calls prctl(2) (async-signal-safe) between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let keeper = KEEPER.get_or_init(|| {
        let (jobs, incoming) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("kuzet-lab-keeper".to_string())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("start the lab's process keeper thread");
        Mutex::new(jobs)
    });
    let (reply, result) = mpsc::channel();
    keeper
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .send((command, reply))
        .map_err(|_| io::Error::other("the lab's process keeper is gone"))?;
    result
        .recv()
        .map_err(|_| io::Error::other("the lab's process keeper is gone"))?
}

/// Runs `command` (standard input closed, both outputs captured) and waits at most `timeout`;
/// on timeout it is killed and an error returned with what it printed so far.
pub fn output_within(mut command: Command, timeout: Duration) -> Result<Output, LabError> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let shown = format!("{command:?}");
    let mut child =
        spawn_bound(command).map_err(|e| LabError::new(format!("cannot run {shown}: {e}")))?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
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
    let deadline = Instant::now() + timeout;
    let status: ExitStatus = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let out = String::from_utf8_lossy(&stdout.join().unwrap_or_default()).into_owned();
                let err = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
                return Err(LabError::new(format!(
                    "{shown} did not finish within {timeout:?}\n--- stdout\n{out}\n--- stderr\n{err}"
                )));
            }
            Err(e) => return Err(LabError::new(format!("cannot wait for {shown}: {e}"))),
        }
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// The workspace root (the parent of the `tests` crate).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The cargo profile directory the running executable belongs to (`debug` for tests built by
/// `cargo test`; `release` for a binary under `target/release`).
fn profile_dir_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let mut dir = exe.parent()?;
            if dir.file_name()? == "deps" {
                dir = dir.parent()?;
            }
            Some(dir.file_name()?.to_string_lossy().into_owned())
        })
        .filter(|name| name == "debug" || name == "release")
        .unwrap_or_else(|| "debug".to_string())
}

/// A binary of the workspace: `$ENV_VAR` when set, else `cargo build -p PACKAGE --bin BIN` for
/// the profile of the running executable (a no-op when fresh), else an existing
/// `target/<profile>/BIN`.
pub fn workspace_bin(package: &str, bin: &str, env_var: &str) -> Result<PathBuf, LabError> {
    if let Some(path) = std::env::var_os(env_var) {
        return Ok(PathBuf::from(path));
    }
    let profile_dir = profile_dir_name();
    let profile = if profile_dir == "debug" {
        "dev"
    } else {
        profile_dir.as_str()
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    // Variables cargo sets for the running test would change build-script fingerprints (see
    // `crate::cli`), so they are not passed on.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if matches!(
            name.as_ref(),
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
        {
            command.env_remove(name.as_ref());
        }
    }
    let built = command
        .args(["build", "-p", package, "--bin", bin, "--profile", profile])
        .arg("--message-format=json-render-diagnostics")
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output();
    match built {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == bin)
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .ok_or_else(|| LabError::new(format!("cargo reported no {bin} executable"))),
        Ok(output) => Err(LabError::new(format!(
            "cargo build -p {package} --bin {bin} failed: {}",
            output.status
        ))),
        Err(e) => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(|dir| workspace_root().join(dir))
                .unwrap_or_else(|| workspace_root().join("target"));
            let path = target.join(&profile_dir).join(bin);
            if path.is_file() {
                Ok(path)
            } else {
                Err(LabError::new(format!(
                    "cannot run cargo ({e}) and {} does not exist",
                    path.display()
                )))
            }
        }
    }
}
