#!/usr/bin/env bash
# Kotlin binding tests on the JVM: generates the bindings from the host-built library (with the
# `test-hooks` feature), compiles them together with bindings/tests/kotlin/*.kt with -Werror,
# and runs the tests against the library through JNA. Last line: "kotlin: N passed, N failed".
# Before them, the Android app's support code (android/kuzet/.../support) and the rules both
# apps share (Rust, through the bindings) are checked by bindings/tests/kotlin/SupportTests.kt,
# which prints a "kotlin:" line of its own.
# The tests start the real test helper (`kuzet-server --th --th-allow-private` on loopback),
# built here for the debug profile (unless given) and passed to them as KUZET_SERVER_BIN.
#
# Environment:
#   KUZET_SERVER_BIN   a kuzet-server executable to use instead of building one
#   KUZET_SKIP_GEN=1   use the bindings already in target/bindings-test (generated with
#                      KUZET_FFI_FEATURES=test-hooks scripts/gen-bindings.sh target/bindings-test)
#   KUZET_TEST_ONLY    run only the binding tests whose name contains this text
#   and as scripts/setup-kotlin.sh (KUZET_CACHE_DIR).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${CARGO_TARGET_DIR:-target}/bindings-test"

KOTLIN_HOME="$(scripts/setup-kotlin.sh | tail -n1)"
JNA_JAR=/usr/share/java/jna.jar
COROUTINES_JAR="$KOTLIN_HOME/lib/kotlinx-coroutines-core-jvm.jar"
STDLIB_JAR="$KOTLIN_HOME/lib/kotlin-stdlib.jar"

if [ "${KUZET_SKIP_GEN:-0}" != 1 ]; then
    KUZET_FFI_FEATURES=test-hooks scripts/gen-bindings.sh "$OUT"
fi

# The test helper the tests start: $KUZET_SERVER_BIN when given (scripts/test.sh passes the
# one it built), else built here.
if [ -z "${KUZET_SERVER_BIN:-}" ]; then
    echo "test-bindings-kotlin: building kuzet-server (the test helper the tests start)" >&2
    cargo build --quiet -p kuzet-server --bin kuzet-server
    export KUZET_SERVER_BIN="$PWD/${CARGO_TARGET_DIR:-target}/debug/kuzet-server"
    case "${CARGO_TARGET_DIR:-}" in /*) KUZET_SERVER_BIN="$CARGO_TARGET_DIR/debug/kuzet-server" ;; esac
fi

echo "test-bindings-kotlin: compiling with -Werror" >&2
mkdir -p "$OUT/kotlin-build"
started=$SECONDS
"$KOTLIN_HOME/bin/kotlinc" -Werror \
    -classpath "$JNA_JAR:$COROUTINES_JAR" \
    -d "$OUT/kotlin-build/kuzet-tests.jar" \
    "$OUT"/kotlin/org/kuzet/*.kt "$OUT"/kotlin/org/kuzet/core/*.kt bindings/tests/kotlin/*.kt \
    android/kuzet/src/main/kotlin/org/kuzet/support/*.kt
echo "test-bindings-kotlin: compiled in $((SECONDS - started)) s" >&2

# The Android app's plain-Kotlin support code first (its own runner, its own "kotlin:" line).
support_status=0
java -ea -Djna.library.path="$OUT/lib" \
    -classpath "$OUT/kotlin-build/kuzet-tests.jar:$JNA_JAR:$COROUTINES_JAR:$STDLIB_JAR" \
    org.kuzet.support.tests.SupportTestsKt || support_status=$?

RUST_BACKTRACE=0 java -ea \
    -Djna.library.path="$OUT/lib" \
    -classpath "$OUT/kotlin-build/kuzet-tests.jar:$JNA_JAR:$COROUTINES_JAR:$STDLIB_JAR" \
    org.kuzet.tests.KuzetTestsKt
exit "$support_status"
