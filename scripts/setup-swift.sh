#!/usr/bin/env bash
# Prepares a Debian 13 (trixie) chroot with Swift 6 (Debian's `swiftlang`) for the Swift binding
# tests, idempotently. The host (Debian 12) has no Swift; trixie's package runs in a chroot
# built by debootstrap from the mirror the host already uses. Needs root.
#
# Nothing stays mounted: /proc is mounted only while apt runs in the chroot and unmounted on
# every exit path. A half-built chroot is removed only after checking nothing is mounted in it.
# Prints the chroot's path on the last line of standard output.
#
# Environment:
#   KUZET_SWIFT_CHROOT    the chroot (default /var/cache/kuzet/swift-chroot)
#   KUZET_DEBIAN_MIRROR   the Debian mirror (default: the host's own, from /etc/apt)
set -euo pipefail

ROOT="${KUZET_SWIFT_CHROOT:-/var/cache/kuzet/swift-chroot}"
SUITE=trixie
MARKER="$ROOT/.kuzet-swift-ready"

if [ "$(id -u)" -ne 0 ]; then
    echo "setup-swift: needs root (debootstrap, chroot, mount)" >&2
    exit 1
fi

# Is anything mounted at or under $1?
mounted_under() {
    awk -v root="$1" '$2 == root || index($2, root "/") == 1 { found = 1 } END { exit !found }' /proc/mounts
}

if [ -f "$MARKER" ] && [ -x "$ROOT/usr/bin/swiftc" ]; then
    echo "$ROOT"
    exit 0
fi

# The host's Debian mirror: the first non-security URI in its deb822 or one-line sources.
host_mirror() {
    local uri
    uri="$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{ print $2 }' | grep -v -- '-security' | grep -i debian | head -n1 || true)"
    if [ -z "$uri" ]; then
        uri="$(grep -hsE '^deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
            | grep -v -- '-security' | head -n1 || true)"
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR="${KUZET_DEBIAN_MIRROR:-$(host_mirror)}"

if ! command -v debootstrap >/dev/null 2>&1; then
    echo "setup-swift: installing debootstrap" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends debootstrap >&2
fi

# A chroot without the marker is a leftover of an interrupted set-up: start it again, but
# never delete through a mount point.
if [ -e "$ROOT" ]; then
    if mounted_under "$ROOT"; then
        echo "setup-swift: something is mounted under $ROOT; unmount it first:" >&2
        awk -v root="$ROOT" '$2 == root || index($2, root "/") == 1 { print "  " $2 }' /proc/mounts >&2
        exit 1
    fi
    if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
        echo "setup-swift: removing an incomplete chroot at $ROOT" >&2
        rm -rf --one-file-system "$ROOT"
    fi
fi

if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
    echo "setup-swift: debootstrap $SUITE into $ROOT from $MIRROR" >&2
    mkdir -p "$(dirname "$ROOT")"
    debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >&2
fi

# /proc only for the duration of apt, unmounted on every exit path.
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

echo "setup-swift: installing swiftlang in the chroot" >&2
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    apt-get update -qq >&2
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends swiftlang libc6-dev ca-certificates >&2
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin apt-get clean >&2
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin swiftc --version >&2

touch "$MARKER"
echo "$ROOT"
