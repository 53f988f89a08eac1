#!/usr/bin/env bash
# Builds the Rust side of the Swift package (on a Mac with Xcode and rustup):
#   KuzetFFI.xcframework      libkuzet_ffi.a (release: fat LTO, opt-level z) for
#                              ios-arm64 (aarch64-apple-ios),
#                              ios-arm64_x86_64-simulator (aarch64-apple-ios-sim + x86_64-apple-ios),
#                              macos-arm64_x86_64 (for `swift run KuzetSupportChecks` on the Mac),
#                              with KuzetFFI.h, kuzet_coreFFI.h and their module map
#   Sources/Kuzet/Kuzet.swift, KuzetCore.swift  the generated Swift bindings (one module)
# Then open Package.swift in Xcode, or add this folder as a local package to an app.
#
# Environment:
#   IPHONEOS_DEPLOYMENT_TARGET   default 15.0 (as Package.swift)
#   KUZET_SKIP_MACOS=1           leave the macOS slice out
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
export IPHONEOS_DEPLOYMENT_TARGET="${IPHONEOS_DEPLOYMENT_TARGET:-15.0}"
export MACOSX_DEPLOYMENT_TARGET="${MACOSX_DEPLOYMENT_TARGET:-12.0}"

for tool in xcodebuild lipo cargo rustup; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "build-xcframework: needs $tool (Xcode command line tools, rustup)" >&2
        exit 1
    fi
done

IOS=aarch64-apple-ios
SIM=(aarch64-apple-ios-sim x86_64-apple-ios)
MAC=(aarch64-apple-darwin x86_64-apple-darwin)
targets=("$IOS" "${SIM[@]}")
if [ "${KUZET_SKIP_MACOS:-0}" != 1 ]; then
    targets+=("${MAC[@]}")
fi

cd "$REPO"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
for target in "${targets[@]}"; do
    rustup target add "$target" >/dev/null
    # Only kuzet-ffi (-p): the workspace would bring uniffi's `cli` feature in.
    cargo build --release -p kuzet-ffi --target "$target"
done

# The Swift bindings, the C header and the module map (the same for every platform).
scripts/gen-bindings.sh target/bindings
mkdir -p "$HERE/Sources/Kuzet"
cp target/bindings/swift/Kuzet.swift target/bindings/swift/KuzetCore.swift "$HERE/Sources/Kuzet/"

WORK="$(mktemp -d -t kuzet-xcframework.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
# Headers in a folder of their own, so the module map does not clash with other frameworks'.
mkdir -p "$WORK/headers/KuzetFFI"
cp target/bindings/swift/KuzetFFI.h target/bindings/swift/kuzet_coreFFI.h "$WORK/headers/KuzetFFI/"
cp target/bindings/swift/KuzetFFI.modulemap "$WORK/headers/KuzetFFI/module.modulemap"

lib() { echo "$TARGET_DIR/$1/release/libkuzet_ffi.a"; }
mkdir -p "$WORK/ios-sim" "$WORK/macos"
lipo -create "$(lib "${SIM[0]}")" "$(lib "${SIM[1]}")" -output "$WORK/ios-sim/libkuzet_ffi.a"
args=(-library "$(lib "$IOS")" -headers "$WORK/headers"
      -library "$WORK/ios-sim/libkuzet_ffi.a" -headers "$WORK/headers")
if [ "${KUZET_SKIP_MACOS:-0}" != 1 ]; then
    lipo -create "$(lib "${MAC[0]}")" "$(lib "${MAC[1]}")" -output "$WORK/macos/libkuzet_ffi.a"
    args+=(-library "$WORK/macos/libkuzet_ffi.a" -headers "$WORK/headers")
fi

rm -rf "$HERE/KuzetFFI.xcframework"
xcodebuild -create-xcframework "${args[@]}" -output "$HERE/KuzetFFI.xcframework"
echo "build-xcframework: wrote $HERE/KuzetFFI.xcframework and Sources/Kuzet/{Kuzet,KuzetCore}.swift"
