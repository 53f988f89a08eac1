#!/usr/bin/env bash
# Swift binding tests on Linux: generates the bindings from the host-built library (with the
# `test-hooks` feature), then in the Debian trixie chroot of scripts/setup-swift.sh compiles
# the generated Kuzet.swift and KuzetCore.swift as module `Kuzet` (Swift 6 mode, warnings as
# errors) and
# bindings/tests/swift/*.swift against it, and runs the tests against the host-built .so.
# Last line: "swift: N passed, N failed". Needs root (chroot, mount).
# After them, the iOS app's support code (ios/Sources/KuzetSupport) is compiled as module
# KuzetSupport and checked, with the rules both apps share (Rust, through the bindings), by
# ios/Tests/KuzetSupportChecks, with a "swift:" line of its own.
# The tests start the real test helper (`kuzet-server --th --th-allow-private` on loopback): it
# is built here for the debug profile (unless given), copied into the chroot (a host-built
# binary runs there) and passed to them as KUZET_SERVER_BIN.
#
# /proc is mounted in the chroot only while the tests compile and run, and unmounted on every
# exit path (success, failure, interrupt). Runs are serialised with a lock on the chroot.
#
# Environment:
#   KUZET_SERVER_BIN   a kuzet-server executable to use instead of building one
#   KUZET_SKIP_GEN=1   use the bindings already in target/bindings-test (generated with
#                      KUZET_FFI_FEATURES=test-hooks scripts/gen-bindings.sh target/bindings-test)
#   KUZET_TEST_ONLY    run only the binding tests whose name contains this text
#   and as scripts/setup-swift.sh (KUZET_SWIFT_CHROOT, KUZET_DEBIAN_MIRROR).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${CARGO_TARGET_DIR:-target}/bindings-test"

ROOT="$(scripts/setup-swift.sh | tail -n1)"

if [ "${KUZET_SKIP_GEN:-0}" != 1 ]; then
    KUZET_FFI_FEATURES=test-hooks scripts/gen-bindings.sh "$OUT"
fi

# The test helper the tests start: $KUZET_SERVER_BIN when given (scripts/test.sh passes the
# one it built), else built here.
if [ -n "${KUZET_SERVER_BIN:-}" ]; then
    SERVER_BIN="$KUZET_SERVER_BIN"
else
    echo "test-bindings-swift: building kuzet-server (the test helper the tests start)" >&2
    cargo build --quiet -p kuzet-server --bin kuzet-server
    SERVER_BIN="${CARGO_TARGET_DIR:-target}/debug/kuzet-server"
fi

exec 9>"$ROOT/.kuzet-test.lock"
flock 9

WORK=/kuzet-binding-tests
rm -rf --one-file-system "${ROOT:?}$WORK"
mkdir -p "$ROOT$WORK"
mkdir -p "$ROOT$WORK/generated"
cp "$OUT"/swift/Kuzet.swift "$OUT"/swift/KuzetCore.swift "$ROOT$WORK/generated/"
cp "$OUT"/swift/KuzetFFI.h "$OUT"/swift/kuzet_coreFFI.h "$OUT"/swift/KuzetFFI.modulemap \
    "$OUT"/lib/libkuzet_ffi.so "$SERVER_BIN" bindings/tests/swift/*.swift "$ROOT$WORK/"
# The iOS app's plain-Swift support code and its checks (ios/Sources/KuzetSupport, ios/Tests).
mkdir -p "$ROOT$WORK/support" "$ROOT$WORK/support-checks"
cp ios/Sources/KuzetSupport/*.swift "$ROOT$WORK/support/"
cp ios/Tests/KuzetSupportChecks/*.swift "$ROOT$WORK/support-checks/"

PROC_MOUNTED=0
cleanup() {
    if [ "$PROC_MOUNTED" = 1 ]; then
        umount "$ROOT/proc" 2>/dev/null || umount -l "$ROOT/proc" || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if ! mountpoint -q "$ROOT/proc"; then
    mount -t proc proc "$ROOT/proc"
    PROC_MOUNTED=1
fi

# Inside the chroot: the bindings as library module Kuzet, then the tests, then run them.
chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 \
    LD_LIBRARY_PATH="$WORK" KUZET_SERVER_BIN="$WORK/kuzet-server" KUZET_TEST_ONLY="${KUZET_TEST_ONLY:-}" /bin/sh -ec "
cd $WORK
started=\$(date +%s)
common=\"-module-cache-path $WORK/module-cache -Xcc -fmodule-map-file=$WORK/KuzetFFI.modulemap -I $WORK -L $WORK\"
swiftc -module-name Kuzet -parse-as-library -emit-library -emit-module \
    -swift-version 6 -warnings-as-errors \$common -lkuzet_ffi \
    generated/Kuzet.swift generated/KuzetCore.swift -o libKuzet.so
swiftc -module-name KuzetTests -parse-as-library -swift-version 5 -warnings-as-errors \
    \$common -lKuzet -lkuzet_ffi ./*.swift -o kuzet-swift-tests
echo \"test-bindings-swift: compiled in \$((\$(date +%s) - started)) s\" >&2
status=0
./kuzet-swift-tests || status=\$?
swiftc -module-name KuzetSupport -parse-as-library -emit-library -emit-module \
    -swift-version 6 -warnings-as-errors \$common -lKuzet -lkuzet_ffi support/*.swift -o libKuzetSupport.so
swiftc -module-name KuzetSupportChecks -parse-as-library -swift-version 6 -warnings-as-errors \
    \$common -lKuzet -lKuzetSupport -lkuzet_ffi support-checks/*.swift -o kuzet-support-checks
./kuzet-support-checks || status=\$?
exit \$status
"
