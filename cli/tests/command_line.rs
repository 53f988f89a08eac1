//! The `kuzet` executable's command-line contract: version, help and usage errors.
//!
//! This integration test also makes `cargo test --workspace` build the `kuzet` executable in
//! the same build as every other test, so `scripts/test.sh` hands that one binary to the
//! end-to-end tests (`KUZET_BIN`) instead of building it again with other features.

use std::process::{Command, Output};

fn kuzet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kuzet"))
        .args(args)
        .env(
            "KUZET_DATA_DIR",
            std::env::temp_dir().join("kuzet-cli-usage-never-written"),
        )
        .output()
        .expect("the kuzet executable runs")
}

#[test]
fn version_names_the_package_version() {
    let output = kuzet(&["--version"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("kuzet {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_lists_every_command() {
    let output = kuzet(&["--help"]);
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8_lossy(&output.stdout);
    for command in [
        "measure", "run", "watch", "results", "queue", "upload", "wipe", "recover",
    ] {
        assert!(
            help.lines()
                .any(|line| line.trim_start().starts_with(&format!("{command} "))),
            "`{command}` missing from --help:\n{help}"
        );
    }
}

#[test]
fn an_unknown_command_is_a_one_line_usage_error_with_status_2() {
    let output = kuzet(&["no-such-command"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("kuzet: error: "), "{stderr}");
    assert!(lines[0].contains("no-such-command"), "{stderr}");
    assert!(lines[0].ends_with("(see --help)"), "{stderr}");
}
