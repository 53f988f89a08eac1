#!/usr/bin/env bash
# Builds the Rust side of the `kuzet` Android library:
#   kuzet/src/main/jniLibs/<abi>/libkuzet_ffi.so   for arm64-v8a, armeabi-v7a and x86_64
#                                                  (cargo-ndk, release profile, stripped)
#   kuzet/src/main/kotlin/org/kuzet/kuzet_ffi.kt   the generated Kotlin bindings (org.kuzet)
#   kuzet/src/main/kotlin/org/kuzet/core/kuzet_core.kt   core's records and enums (org.kuzet.core)
# Then: ./gradlew :kuzet:assembleRelease (or :kuzet:publishToMavenLocal, :app:installDebug).
#
# Needs: the Android NDK (ANDROID_NDK_HOME, r27 or newer), rustup, and cargo-ndk
# (`cargo install cargo-ndk --version ^4`). Link options for Android (packed relocations,
# 16 KB pages) come from bindings/build.rs; SQLite's compile options from .cargo/config.toml.
#
# Environment:
#   KUZET_ABIS       space-separated ABIs (default: "arm64-v8a armeabi-v7a x86_64")
#   KUZET_MIN_SDK    the API level to link against (default 24, as the library's minSdk)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
ABIS="${KUZET_ABIS:-arm64-v8a armeabi-v7a x86_64}"
MIN_SDK="${KUZET_MIN_SDK:-24}"
JNI_DIR="$HERE/kuzet/src/main/jniLibs"
KOTLIN_DIR="$HERE/kuzet/src/main/kotlin/org/kuzet"

if [ -z "${ANDROID_NDK_HOME:-}" ] || [ ! -d "$ANDROID_NDK_HOME" ]; then
    echo "build-rust: set ANDROID_NDK_HOME to an installed NDK (r27 or newer)" >&2
    exit 1
fi
if ! cargo ndk --version >/dev/null 2>&1; then
    echo "build-rust: needs cargo-ndk: cargo install cargo-ndk --version ^4" >&2
    exit 1
fi

targets=()
for abi in $ABIS; do
    case "$abi" in
        arm64-v8a) triple=aarch64-linux-android ;;
        armeabi-v7a) triple=armv7-linux-androideabi ;;
        x86_64) triple=x86_64-linux-android ;;
        x86) triple=i686-linux-android ;;
        *) echo "build-rust: unknown ABI $abi" >&2; exit 1 ;;
    esac
    rustup target add "$triple" >/dev/null
    targets+=(-t "$abi")
done

cd "$REPO"
# Only the kuzet-ffi package (-p): building the workspace would bring uniffi's `cli` feature in.
rm -rf "$JNI_DIR"
cargo ndk "${targets[@]}" --platform "$MIN_SDK" -o "$JNI_DIR" build --release -p kuzet-ffi

# The bindings come from the host build (an unstripped library has uniffi's metadata; the
# Android .so files are stripped). They are the same for every ABI.
scripts/gen-bindings.sh target/bindings
mkdir -p "$KOTLIN_DIR"
cp target/bindings/kotlin/org/kuzet/kuzet_ffi.kt "$KOTLIN_DIR/kuzet_ffi.kt"
mkdir -p "$KOTLIN_DIR/core"
cp target/bindings/kotlin/org/kuzet/core/kuzet_core.kt "$KOTLIN_DIR/core/kuzet_core.kt"

for abi in $ABIS; do
    so="$JNI_DIR/$abi/libkuzet_ffi.so"
    if [ ! -f "$so" ]; then
        echo "build-rust: $so was not produced" >&2
        exit 1
    fi
    echo "build-rust: $abi $(stat -c %s "$so") bytes"
done
echo "build-rust: bindings in $KOTLIN_DIR/kuzet_ffi.kt and $KOTLIN_DIR/core/kuzet_core.kt"
