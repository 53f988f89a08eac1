//! Running commands for the lab: short setup commands (`ip`, `nft`, `iptables`), long-lived
//! processes that must die with the test process, commands with a deadline, and finding (or
//! building) the workspace's binaries.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

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
    let child =
        spawn_bound(command).map_err(|e| LabError::new(format!("cannot run {shown}: {e}")))?;
    match crate::wait::wait_with_output(child, timeout) {
        Ok(output) => Ok(output),
        Err(crate::wait::WaitError::TimedOut { stdout, stderr }) => Err(LabError::new(format!(
            "{shown} did not finish within {timeout:?}\n--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        ))),
        Err(crate::wait::WaitError::Wait(e)) => {
            Err(LabError::new(format!("cannot wait for {shown}: {e}")))
        }
    }
}

/// A binary of the workspace (see [`crate::build::workspace_bin`]).
pub fn workspace_bin(package: &str, bin: &str, env_var: &str) -> Result<PathBuf, LabError> {
    crate::build::workspace_bin(package, bin, env_var).map_err(LabError::new)
}
