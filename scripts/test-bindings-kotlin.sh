#!/usr/bin/env bash
# Kotlin binding tests on the JVM: generates the bindings from the host-built library (with the
# `test-hooks` feature), compiles them together with bindings/tests/kotlin/*.kt with -Werror,
# and runs the tests against the library through JNA. Last line: "kotlin: N passed, N failed".
#
# Environment:
#   KUZET_SKIP_GEN=1   use the bindings already in target/bindings-test (generated with
#                      KUZET_FFI_FEATURES=test-hooks scripts/gen-bindings.sh target/bindings-test)
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

echo "test-bindings-kotlin: compiling with -Werror" >&2
mkdir -p "$OUT/kotlin-build"
started=$SECONDS
"$KOTLIN_HOME/bin/kotlinc" -Werror \
    -classpath "$JNA_JAR:$COROUTINES_JAR" \
    -d "$OUT/kotlin-build/kuzet-tests.jar" \
    "$OUT"/kotlin/org/kuzet/*.kt bindings/tests/kotlin/*.kt
echo "test-bindings-kotlin: compiled in $((SECONDS - started)) s" >&2

RUST_BACKTRACE=0 exec java -ea \
    -Djna.library.path="$OUT/lib" \
    -classpath "$OUT/kotlin-build/kuzet-tests.jar:$JNA_JAR:$COROUTINES_JAR:$STDLIB_JAR" \
    org.kuzet.tests.KuzetTestsKt
