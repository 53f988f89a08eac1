//! Shared helpers of the store and upload tests: sample measurements, verdicts, mounts.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use kuzet_core::report::{Measurement, ProbeNetwork, Software};
use kuzet_core::store::{NetworkType, NewRun, Verdict};
use time::OffsetDateTime;

/// A network in Kazakhstan.
pub fn kz() -> ProbeNetwork {
    ProbeNetwork {
        probe_asn: "AS9198".to_string(),
        probe_cc: "KZ".to_string(),
        probe_network_name: "JSC Kazakhtelecom".to_string(),
        ..ProbeNetwork::default()
    }
}

/// A urlgetter-like measurement of `url` on `network`, with `padding` bytes of body text.
pub fn measurement(url: &str, network: &ProbeNetwork, padding: usize) -> Measurement {
    let start = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time");
    let mut m = Measurement::new(
        "urlgetter",
        "0.2.0",
        Some(url.to_string()),
        &Software {
            name: "kuzet-test".to_string(),
            version: "0.1.0".to_string(),
        },
        network,
        start,
        start,
    );
    m.test_runtime = 0.25;
    m.test_keys = serde_json::json!({
        "failure": null,
        "requests": [{"request": {"url": url}, "response": {"code": 200, "body": "x".repeat(padding)}}],
    });
    m
}

/// A measurement whose body is `len` bytes of incompressible text.
pub fn incompressible(url: &str, network: &ProbeNetwork, len: usize, seed: u64) -> Measurement {
    let mut m = measurement(url, network, 0);
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let text: String = (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = (state >> 33) % 62;
            (match n {
                0..=9 => b'0' + n as u8,
                10..=35 => b'a' + (n - 10) as u8,
                _ => b'A' + (n - 36) as u8,
            }) as char
        })
        .collect();
    m.test_keys["requests"][0]["response"]["body"] = text.into();
    m
}

/// An `ok` verdict on `target`.
pub fn ok(target: &str) -> Verdict {
    Verdict {
        word: "ok".to_string(),
        group: "ok".to_string(),
        target: target.to_string(),
        failure: None,
        detail: serde_json::json!({"status_code": 200}),
        detail_version: 2,
    }
}

/// A run on `network`.
pub fn run(network: &ProbeNetwork) -> NewRun {
    NewRun::new("urlgetter", network, NetworkType::Wifi)
}

/// Every byte of every file in `dir` (database, WAL, index), concatenated.
pub fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.path().is_file() {
                bytes.extend(std::fs::read(entry.path()).unwrap_or_default());
            }
        }
    }
    bytes
}

/// True when `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A mount that is undone when dropped (even when the test panics).
pub struct Mount {
    path: PathBuf,
}

impl Mount {
    /// Runs `mount ARGS... PATH`; `None` (with a note) when mounting is not permitted here.
    pub fn new(args: &[&str], path: &Path) -> Option<Mount> {
        let status = Command::new("mount").args(args).arg(path).status();
        match status {
            Ok(status) if status.success() => Some(Mount {
                path: path.to_path_buf(),
            }),
            other => {
                assert!(
                    std::env::var_os("KUZET_REQUIRE_MOUNTS").is_none(),
                    "mount {args:?} failed: {other:?}"
                );
                eprintln!("SKIPPED: cannot mount here ({other:?}); run as root to test this");
                None
            }
        }
    }

    /// A tmpfs of `size` (e.g. `1m`) on `path`.
    pub fn tmpfs(path: &Path, size: &str) -> Option<Mount> {
        Mount::new(
            &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"],
            path,
        )
    }

    /// `source` bind-mounted read-only on `path`.
    pub fn read_only_bind(source: &Path, path: &Path) -> Option<Mount> {
        let source = source.to_str().expect("utf-8 path");
        let mount = Mount::new(&["--bind", source], path)?;
        let status = Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(status.success(), "remount read-only failed");
        Some(mount)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Busy (a file SQLite keeps open for its locks): detach it now, it goes when freed.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}
