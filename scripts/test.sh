#!/usr/bin/env bash
# The one test command: prepares a fresh Debian 12 machine (run as root, or with passwordless
# sudo) and runs formatting, lints and the whole test suite. Safe to run again: it installs only
# what is missing. The OONI conformance tests read ../shared/data/ooni-samples (beside the
# checkout) and fail if it is missing.
#
# Environment:
#   KUZET_SKIP_SETUP=1   skip the apt/rustup steps (the toolchain is already there)
#   KUZET_SKIP_BINDINGS=1  skip the Kotlin and Swift binding tests
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

STEP=0
step() {
    STEP=$((STEP + 1))
    printf '\n==> [%d] %s\n' "$STEP" "$*"
}

LOG="$(mktemp -t kuzet-setup.XXXXXX.log)"
trap 'rm -f "$LOG"' EXIT

# Runs a setup command quietly; on failure prints its output and stops.
quietly() {
    if ! "$@" >>"$LOG" 2>&1; then
        echo "FAILED: $*" >&2
        echo "---- output ----" >&2
        cat "$LOG" >&2
        exit 1
    fi
}

# As root, or through sudo when there is one.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        echo "need root to run: $*" >&2
        return 1
    fi
}

DEBIAN_PACKAGES=(
    build-essential
    ca-certificates
    curl
    ethtool
    iproute2
    iptables
    nftables
    pkg-config
)

if [ "${KUZET_SKIP_SETUP:-0}" != 1 ]; then
    step "Debian packages"
    if command -v apt-get >/dev/null 2>&1; then
        missing=()
        for package in "${DEBIAN_PACKAGES[@]}"; do
            if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
                missing+=("$package")
            fi
        done
        if [ "${#missing[@]}" -gt 0 ]; then
            echo "installing: ${missing[*]}"
            export DEBIAN_FRONTEND=noninteractive
            quietly as_root apt-get update
            quietly as_root apt-get install -y --no-install-recommends "${missing[@]}"
        else
            echo "all present: ${DEBIAN_PACKAGES[*]}"
        fi
    else
        echo "no apt-get: assuming ${DEBIAN_PACKAGES[*]} (or equivalents) are installed"
    fi

    step "Rust toolchain"
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    if ! command -v cargo >/dev/null 2>&1; then
        echo "installing rustup (stable, minimal profile)"
        installer="$(mktemp -t rustup-init.XXXXXX.sh)"
        quietly curl --proto '=https' --tlsv1.2 -sSf -o "$installer" https://sh.rustup.rs
        quietly sh "$installer" -y --no-modify-path --profile minimal --default-toolchain stable
        rm -f "$installer"
    fi
    if command -v rustup >/dev/null 2>&1; then
        installed="$(rustup component list --installed 2>/dev/null || true)"
        for component in rustfmt clippy; do
            if ! grep -q "^${component}" <<<"$installed"; then
                echo "adding rustup component $component"
                quietly rustup component add "$component"
            fi
        done
    fi
    for tool in fmt clippy; do
        if ! cargo "$tool" --version >/dev/null 2>&1; then
            echo "cargo $tool is not available and there is no rustup to add it" >&2
            exit 1
        fi
    done
    cargo --version
fi

# Disk: CI machines have little of it, and a full debug build of this workspace with
# incremental caches was over 12 GB. Incremental caches only help an edit-build loop, never a
# one-shot run. (Cargo.toml keeps only line tables in dev builds.)
export CARGO_INCREMENTAL=0

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
# kuzet-core as the mobile library builds it: without the `http2` feature.
cargo clippy -p kuzet-core --no-default-features --all-targets -- -D warnings

# The full-disk and read-only tests mount file systems (root only); here they must run, never
# skip.
export KUZET_REQUIRE_MOUNTS=1

step "cargo test --workspace"
TEST_LOG="$(mktemp -t kuzet-tests.XXXXXX.log)"
trap 'rm -f "$LOG" "$TEST_LOG"' EXIT
# Build every test and the workspace's executables in one build first, then hand those
# executables to the end-to-end tests. Otherwise each would run `cargo build -p <package>`,
# which resolves other features and compiles kuzet-core and its dependencies again per package.
cargo test --workspace --no-run
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$PWD/$TARGET_DIR" ;; esac
for bin in kuzet kuzet-server kuzet-lab-node; do
    if [ ! -x "$TARGET_DIR/debug/$bin" ]; then
        echo "cargo test --workspace --no-run did not build $TARGET_DIR/debug/$bin" >&2
        exit 1
    fi
done
export KUZET_BIN="$TARGET_DIR/debug/kuzet"
export KUZET_SERVER_BIN="$TARGET_DIR/debug/kuzet-server"
export KUZET_LAB_NODE="$TARGET_DIR/debug/kuzet-lab-node"
cargo test --workspace 2>&1 | tee "$TEST_LOG"

step "kuzet-core without default features (HTTP/1.1 only, as in the mobile library)"
cargo test -p kuzet-core --no-default-features --lib --test service_client --test dns \
    --test th_protocol --test web_connectivity_samples 2>&1 | tee -a "$TEST_LOG"

BINDINGS_LOG="$(mktemp -t kuzet-bindings.XXXXXX.log)"
trap 'rm -f "$LOG" "$TEST_LOG" "$BINDINGS_LOG"' EXIT
if [ "${KUZET_SKIP_BINDINGS:-0}" != 1 ]; then
    # Kotlin (JVM + JNA, kotlinc from npm) and Swift (Debian trixie chroot) against the
    # host-built kuzet-ffi; each script installs what it needs and prints "lang: N passed, N failed".
    step "generate the Kotlin and Swift bindings (kuzet-ffi, test hooks)"
    KUZET_FFI_FEATURES=test-hooks scripts/gen-bindings.sh target/bindings-test
    step "Kotlin binding tests (JVM)"
    KUZET_SKIP_GEN=1 scripts/test-bindings-kotlin.sh 2>&1 | tee -a "$BINDINGS_LOG"
    step "Swift binding tests (Swift 6 in a Debian trixie chroot)"
    KUZET_SKIP_GEN=1 scripts/test-bindings-swift.sh 2>&1 | tee -a "$BINDINGS_LOG"
fi

# The mobile library's size guard: fails above 5,000,000 bytes stripped. A guard against
# bloat, not a target: OONI's engine library for the same job (org.ooni:oonimkall,
# libgojni.so) ships at 52-61 MB per ABI (58,565,096 B arm64-v8a, 52,682,000 B armeabi-v7a,
# 61,357,856 B x86_64). Below the guard, clarity, correctness and well-kept crates are never
# traded for bytes. Figures: BENCHMARKS.md; background: docs/toolchain.md.
step "mobile library size guard (scripts/size.sh 5000000)"
scripts/size.sh 5000000

# One closing line for the whole run (cargo prints one per test binary, the last often a
# doc-test binary with nothing in it).
read -r passed failed < <(awk '/^test result:/ {
    for (i = 1; i <= NF; i++) {
        if ($(i + 1) ~ /^passed/) p += $i
        if ($(i + 1) ~ /^failed/) f += $i
    }
} END { print p + 0, f + 0 }' "$TEST_LOG")
read -r bindings_passed bindings_failed < <(awk '/^(kotlin|swift): [0-9]+ passed, [0-9]+ failed$/ {
    p += $2; f += $4
} END { print p + 0, f + 0 }' "$BINDINGS_LOG")
passed=$((passed + bindings_passed))
failed=$((failed + bindings_failed))
printf '\n==> all checks passed\n'
echo "${passed} passed, ${failed} failed"
