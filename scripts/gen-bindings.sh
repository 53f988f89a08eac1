#!/usr/bin/env bash
# Generates the Kotlin and Swift bindings (plus the C header and the modulemap) of kuzet-ffi
# with the bindgen pinned in the workspace, from the unstripped debug library.
#
# Usage: scripts/gen-bindings.sh [OUT_DIR]        (default: target/bindings)
# Output (two uniffi crates: kuzet-ffi, and kuzet-core's records and enums):
#   OUT_DIR/kotlin/org/kuzet/kuzet_ffi.kt, OUT_DIR/kotlin/org/kuzet/core/kuzet_core.kt
#   OUT_DIR/swift/Kuzet.swift, KuzetCore.swift   both compiled into the Swift module Kuzet
#   OUT_DIR/swift/KuzetFFI.h, kuzet_coreFFI.h, KuzetFFI.modulemap   the C module KuzetFFI
#   OUT_DIR/lib/libkuzet_ffi.so   the library the bindings were generated from
#
# Environment:
#   KUZET_FFI_FEATURES   cargo features of kuzet-ffi to build with (the binding tests use
#                        `test-hooks`; leave empty for what apps ship)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${1:-target/bindings}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
FEATURES="${KUZET_FFI_FEATURES:-}"

feature_args=()
if [ -n "$FEATURES" ]; then
    feature_args=(--features "$FEATURES")
fi

# The library first, copied aside: building the bindgen next rebuilds kuzet-ffi with uniffi's
# `cli` feature, which apps must never get. Each is built on its own (-p), never the workspace.
echo "gen-bindings: building kuzet-ffi (debug${FEATURES:+, features: $FEATURES})" >&2
cargo build --quiet -p kuzet-ffi --lib "${feature_args[@]}"
rm -rf "$OUT"
mkdir -p "$OUT/lib" "$OUT/kotlin" "$OUT/swift"
cp "$TARGET_DIR/debug/libkuzet_ffi.so" "$OUT/lib/libkuzet_ffi.so"

echo "gen-bindings: building the pinned uniffi-bindgen" >&2
cargo build --quiet -p kuzet-ffi --features bindgen-cli --bin uniffi-bindgen
BINDGEN="$TARGET_DIR/debug/uniffi-bindgen"

for language in kotlin swift; do
    "$BINDGEN" generate \
        --library "$OUT/lib/libkuzet_ffi.so" \
        --language "$language" \
        --config uniffi.toml \
        --no-format \
        --out-dir "$OUT/$language" >&2
done

# One C module for both crates' headers (core's first: the shared definitions are guarded, so
# whichever comes first declares them).
cat >"$OUT/swift/KuzetFFI.modulemap" <<'MODULEMAP'
module KuzetFFI {
    header "kuzet_coreFFI.h"
    header "KuzetFFI.h"
    export *
    use "Darwin"
    use "_Builtin_stdbool"
    use "_Builtin_stdint"
}
MODULEMAP

echo "gen-bindings: wrote $OUT" >&2
find "$OUT" -type f | sort >&2
