//! Waiting for a child process with a deadline while reading both of its output pipes (so a
//! chatty child never blocks on a full pipe).

use std::io::Read;
use std::process::{Child, Output};
use std::time::{Duration, Instant};

/// Why a child did not finish properly.
#[derive(Debug)]
pub enum WaitError {
    /// It ran past the deadline and was killed; what it printed until then.
    TimedOut {
        /// Its standard output so far.
        stdout: Vec<u8>,
        /// Its standard error so far.
        stderr: Vec<u8>,
    },
    /// Waiting for it failed.
    Wait(std::io::Error),
}

/// Reads the child's piped stdout and stderr in threads and waits at most `timeout` for it to
/// exit; on timeout it is killed.
pub fn wait_with_output(mut child: Child, timeout: Duration) -> Result<Output, WaitError> {
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
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(WaitError::TimedOut {
                    stdout: stdout.join().unwrap_or_default(),
                    stderr: stderr.join().unwrap_or_default(),
                });
            }
            Err(error) => return Err(WaitError::Wait(error)),
        }
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}
