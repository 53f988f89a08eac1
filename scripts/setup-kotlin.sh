#!/usr/bin/env bash
# Installs what the Kotlin binding tests need, idempotently:
#   - JNA from Debian (libjna-java: /usr/share/java/jna.jar);
#   - the Kotlin compiler distribution from the npm registry (package `kotlin-compiler`, pinned),
#     unpacked into a cache folder; it also carries kotlinx-coroutines-core-jvm.
# Prints the compiler's home on the last line of standard output.
#
# Environment:
#   KUZET_CACHE_DIR   where tools are unpacked (default /var/cache/kuzet as root, else
#                     ~/.cache/kuzet)
set -euo pipefail

KOTLIN_VERSION=2.4.20

if [ -z "${KUZET_CACHE_DIR:-}" ]; then
    if [ "$(id -u)" -eq 0 ]; then
        KUZET_CACHE_DIR=/var/cache/kuzet
    else
        KUZET_CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/kuzet"
    fi
fi
KOTLIN_HOME="$KUZET_CACHE_DIR/kotlin-compiler-$KOTLIN_VERSION"

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

# A JDK, npm (to fetch the compiler) and JNA.
need=()
command -v java >/dev/null 2>&1 || need+=(default-jdk-headless)
command -v npm >/dev/null 2>&1 || need+=(npm)
[ -f /usr/share/java/jna.jar ] || need+=(libjna-java)
if [ "${#need[@]}" -gt 0 ]; then
    echo "setup-kotlin: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq >&2
    as_root apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

if [ ! -x "$KOTLIN_HOME/bin/kotlinc" ] || [ ! -f "$KOTLIN_HOME/lib/kotlinx-coroutines-core-jvm.jar" ]; then
    echo "setup-kotlin: fetching kotlin-compiler@$KOTLIN_VERSION from the npm registry" >&2
    mkdir -p "$KUZET_CACHE_DIR"
    work="$(mktemp -d "$KUZET_CACHE_DIR/.kotlin.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && npm pack --silent "kotlin-compiler@$KOTLIN_VERSION" >/dev/null)
    tar -xzf "$work"/kotlin-compiler-*.tgz -C "$work"
    chmod +x "$work"/package/bin/*
    rm -rf "$KOTLIN_HOME"
    mv "$work/package" "$KOTLIN_HOME"
fi

echo "$KOTLIN_HOME"
