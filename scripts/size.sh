#!/usr/bin/env bash
# The mobile library's size: builds kuzet-ffi in release (only that package: building the whole
# workspace would pull uniffi's `cli` feature into it), strips a copy and prints its size and
# its gzip -9 size in bytes. With a limit, fails when the stripped size is over it.
#
# Usage: scripts/size.sh [LIMIT_BYTES]        e.g. scripts/size.sh 5000000
# Output (last line): "size: STRIPPED bytes stripped, GZIP bytes gzip -9 (limit LIMIT: ok|over)"
#
# This is the x86_64 host library, linked like the Android one (packed relocations, see
# bindings/build.rs); BENCHMARKS.md's size section records the figures.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
LIMIT="${1:-}"

if [ -n "$LIMIT" ] && ! [[ "$LIMIT" =~ ^[0-9]+$ ]]; then
    echo "size: the limit must be a number of bytes, got '$LIMIT'" >&2
    exit 2
fi
for tool in strip gzip; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "size: needs $tool (binutils, gzip)" >&2
        exit 2
    fi
done

echo "size: cargo build --release -p kuzet-ffi" >&2
cargo build --release -p kuzet-ffi

# A shared library may link with symbols left undefined, to fail only when loaded: every
# strong undefined symbol must come from a versioned system library (libc, libm...). An
# unversioned one is code left out by mistake (e.g. an SQLITE_OMIT_* the amalgamation's parser
# still calls).
if command -v nm >/dev/null 2>&1; then
    missing="$(nm -D --undefined-only "$TARGET_DIR/release/libkuzet_ffi.so" | awk '$1 == "U" && $2 !~ /@/ {print $2}')"
    if [ -n "$missing" ]; then
        echo "size: the library has undefined symbols no system library provides:" >&2
        echo "$missing" | sed 's/^/  /' >&2
        exit 1
    fi
fi

WORK="$(mktemp -d -t kuzet-size.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
cp "$TARGET_DIR/release/libkuzet_ffi.so" "$WORK/libkuzet_ffi.so"
strip "$WORK/libkuzet_ffi.so"
stripped="$(stat -c %s "$WORK/libkuzet_ffi.so")"
gzipped="$(gzip -9 -c "$WORK/libkuzet_ffi.so" | wc -c)"

if [ -z "$LIMIT" ]; then
    echo "size: $stripped bytes stripped, $gzipped bytes gzip -9"
    exit 0
fi
if [ "$stripped" -le "$LIMIT" ]; then
    echo "size: $stripped bytes stripped, $gzipped bytes gzip -9 (limit $LIMIT: ok)"
else
    echo "size: $stripped bytes stripped, $gzipped bytes gzip -9 (limit $LIMIT: over by $((stripped - LIMIT)))"
    exit 1
fi
