#!/usr/bin/env bash
# Kuzet's main job on a fresh machine: build the `kuzet` CLI and measure some URLs with it.
#
# These machines have no internet, so the script first starts local sites to measure
# (`kuzet-demo-sites`, from the kuzet-e2e crate): an HTTP and an HTTPS server on 127.0.0.1 with a
# fresh CA, and a port where nothing listens. It then runs `kuzet measure` on a page over HTTP,
# one over HTTPS, an HTTP->HTTPS redirect and the closed port: first as a table, then as OONI
# JSON lines (`--json | head`), and lists the stored results with `kuzet results`, in the same
# words. The results go to a throwaway data directory, never the user's store. The sites are
# stopped on exit, whatever happens.
#
# The debug profile is built on purpose: the release profile is tuned for phone library size
# (fat LTO, opt-level z, one codegen unit) and takes minutes on these 2-core machines, for no gain
# when measuring loopback servers; the debug build also reuses what `cargo test` has built.
#
# Usage: scripts/measure-demo.sh        (honours CARGO and CARGO_TARGET_DIR)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

echo "==> building kuzet and the demo sites (debug profile)" >&2
"${CARGO:-cargo}" build --quiet -p kuzet --bin kuzet -p kuzet-e2e --bin kuzet-demo-sites

target_dir="${CARGO_TARGET_DIR:-target}"
[[ "$target_dir" = /* ]] || target_dir="$root/$target_dir"
kuzet="$target_dir/debug/kuzet"
sites="$target_dir/debug/kuzet-demo-sites"

work="$(mktemp -d)"
sites_pid=""
cleanup() {
    if [[ -n "$sites_pid" ]]; then
        kill "$sites_pid" 2>/dev/null || true
        wait "$sites_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# The demo's results are kept only while it runs.
export KUZET_DATA_DIR="$work/store"

echo "==> starting the local demo sites" >&2
"$sites" "$work/ca.pem" >"$work/sites.env" &
sites_pid=$!

# Wait (at most 10 s) for the three base URLs.
for _ in $(seq 100); do
    [[ "$(grep -c '_BASE=' "$work/sites.env" || true)" -ge 3 ]] && break
    kill -0 "$sites_pid" 2>/dev/null || { echo "demo sites exited early" >&2; exit 1; }
    sleep 0.1
done
base() { sed -n "s/^$1=//p" "$work/sites.env"; }
http_base="$(base HTTP_BASE)"
https_base="$(base HTTPS_BASE)"
closed_base="$(base CLOSED_BASE)"
if [[ -z "$http_base" || -z "$https_base" || -z "$closed_base" ]]; then
    echo "the demo sites did not report their URLs in time" >&2
    exit 1
fi

urls=("$http_base/" "$https_base/" "$http_base/go-secure" "$closed_base/")

echo
echo "\$ kuzet measure --ca-file ca.pem --resolver system --timeout 5 ${urls[*]}"
"$kuzet" measure --ca-file "$work/ca.pem" --resolver system --timeout 5 "${urls[@]}"

echo
echo "\$ kuzet measure --json --ca-file ca.pem ${urls[*]} | head -n 2   (lines cut at 300 characters here)"
"$kuzet" measure --json --ca-file "$work/ca.pem" --timeout 5 "${urls[@]}" | head -n 2 | cut -c 1-300

echo
echo "\$ kuzet results --run 1   (the first run above, as the history keeps it)"
"$kuzet" results --run 1
