//! Finding the workspace's binaries for tests, building them first with cargo (a no-op when
//! fresh), so an edit-then-test cycle never runs a stale binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace root (the parent of the `tests` crate).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The cargo profile directory the running executable belongs to: `debug` for tests built by
/// `cargo test` (`<target>/debug/deps/<test>`), `release` for a binary under
/// `target/release`.
pub fn profile_dir_name() -> String {
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

/// A binary of the workspace: `$ENV_VAR` when set, else what `cargo build -p PACKAGE --bin BIN`
/// reports for the running executable's profile, else (when cargo cannot run at all) an
/// existing `target/<profile>/BIN`.
pub fn workspace_bin(package: &str, bin: &str, env_var: &str) -> Result<PathBuf, String> {
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
    // Cargo sets these for the running test; passed on, they would change the fingerprints of
    // build scripts that watch them (ring watches CARGO_MANIFEST_DIR), and every alternation of
    // this build and a plain one would rebuild ring, rustls and everything above them.
    for (name, _) in std::env::vars_os() {
        if is_set_by_cargo_for_tests(&name.to_string_lossy()) {
            command.env_remove(&name);
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
            .ok_or_else(|| format!("cargo reported no {bin} executable")),
        Ok(output) => Err(format!(
            "cargo build -p {package} --bin {bin} failed: {}",
            output.status
        )),
        Err(error) => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(|dir| workspace_root().join(dir))
                .unwrap_or_else(|| workspace_root().join("target"));
            let path = target
                .join(&profile_dir)
                .join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
            if path.is_file() {
                eprintln!(
                    "warning: cannot run cargo ({error}); using {} as it is",
                    path.display()
                );
                Ok(path)
            } else {
                Err(format!(
                    "cannot run cargo ({error}) and {} does not exist",
                    path.display()
                ))
            }
        }
    }
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
