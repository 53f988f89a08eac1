#!/usr/bin/env bash
# Benchmark: the Kazakhstan test list (553 URLs) measured through the censorship lab.
#
# Every host of the list is served by a few lab site addresses (any path, HTTP and HTTPS,
# certificates from the lab CA); the ISP and honest resolvers answer every host; the test
# helper is the real kuzet-server. Nothing leaves the lab (10.77.0.0/16 in its own network
# namespaces). `kuzet run web` checks the network first, against anchors on the lab's sites
# ($LAB_ANCHORS; a few KB and milliseconds, counted below). Records wall time, peak RSS
# (/usr/bin/time -v) and the bytes that crossed the client's interface.
#
#   bench/web_lab.sh                 kuzet run web (web connectivity, with the test helper)
#   bench/web_lab.sh --measure       kuzet measure (urlgetter only; no test helper needed)
#
# Environment:
#   PROFILE=release|debug   which build to measure (default release)
#   LIST=path.csv           the test list (default ../shared/data/test-lists/kz.csv)
#   SITES=N                 how many site addresses serve the hosts (default 4)
#   KUZET_ARGS="..."        extra arguments for the kuzet command
# As root.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
PROFILE="${PROFILE:-release}"
LIST="${LIST:-$ROOT/../shared/data/test-lists/kz.csv}"
SITES="${SITES:-4}"
MODE=web
case "${1:-}" in
--measure) MODE=measure ;;
"") ;;
*) echo "usage: bench/web_lab.sh [--measure]" >&2; exit 2 ;;
esac

[ "$(id -u)" -eq 0 ] || { echo "web_lab.sh: needs root" >&2; exit 1; }
[ -f "$LIST" ] || { echo "web_lab.sh: no test list at $LIST" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "web_lab.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

if [ "$PROFILE" = debug ]; then cargo_profile=dev; else cargo_profile="$PROFILE"; fi
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE"
echo "==> building ($PROFILE)"
cargo build -q --profile "$cargo_profile" -p kuzet-e2e --bin kuzet-lab --bin kuzet-lab-node
cargo build -q --profile "$cargo_profile" -p kuzet --bin kuzet
lab_args=()
if [ "$MODE" = web ]; then
    cargo build -q --profile "$cargo_profile" -p kuzet-server --bin kuzet-server
else
    lab_args=(--no-helpers)
fi

WORK="$(mktemp -d -t kuzet-bench.XXXXXX)"
LAB_PID=""
cleanup() {
    if [ -n "$LAB_PID" ]; then
        kill -TERM "$LAB_PID" 2>/dev/null || true
        wait "$LAB_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN/kuzet-lab" bench-scenario "$LIST" "$WORK/bench.json" "$SITES"
tail -n +2 "$LIST" | cut -d, -f1 | grep -E '^https?://' >"$WORK/urls.txt"
url_count="$(wc -l <"$WORK/urls.txt")"

echo "==> bringing the lab up"
up_started="$(date +%s%N)"
KUZET_SERVER_BIN="$BIN/kuzet-server" "$BIN/kuzet-lab" up "$WORK/bench.json" "${lab_args[@]}" \
    --state "$WORK/lab.env" >"$WORK/lab.log" 2>&1 &
LAB_PID=$!
for _ in $(seq 1 600); do
    grep -q '^LAB_READY=1' "$WORK/lab.log" 2>/dev/null && break
    kill -0 "$LAB_PID" 2>/dev/null || { cat "$WORK/lab.log" >&2; exit 1; }
    sleep 0.1
done
grep -q '^LAB_READY=1' "$WORK/lab.log" || { cat "$WORK/lab.log" >&2; exit 1; }
up_ms="$((($(date +%s%N) - up_started) / 1000000))"
# shellcheck disable=SC1091
. "$WORK/lab.env"

counter() {
    ip netns exec "$LAB_CLIENT_NS" cat "/sys/class/net/eth0/statistics/$1"
}
rx_before="$(counter rx_bytes)"
tx_before="$(counter tx_bytes)"

if [ "$MODE" = web ]; then
    # shellcheck disable=SC2206
    cmd=(run web --list "$WORK/urls.txt" --th "$LAB_HELPER_TH" --resolver system
        --ca-file "$LAB_CA_FILE" --anchors "$LAB_ANCHORS" --public-network 10.77.0.0/16 --json
        ${KUZET_ARGS:-})
else
    # shellcheck disable=SC2206
    cmd=(measure -f "$WORK/urls.txt" --resolver system --ca-file "$LAB_CA_FILE" --json
        ${KUZET_ARGS:-})
fi
echo "==> kuzet ${cmd[*]}"
/usr/bin/time -v -o "$WORK/time.txt" ip netns exec "$LAB_CLIENT_NS" "$BIN/kuzet" "${cmd[@]}" \
    >"$WORK/out.jsonl" 2>"$WORK/kuzet.err" || {
    echo "kuzet failed:" >&2
    tail -n 20 "$WORK/kuzet.err" >&2
    exit 1
}

rx="$(($(counter rx_bytes) - rx_before))"
tx="$(($(counter tx_bytes) - tx_before))"
wall="$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$WORK/time.txt")"
rss="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time.txt")"
cpu_user="$(sed -n 's/.*User time (seconds): //p' "$WORK/time.txt")"
cpu_sys="$(sed -n 's/.*System time (seconds): //p' "$WORK/time.txt")"
lines="$(grep -c . "$WORK/out.jsonl" || true)"

echo
echo "==> results ($MODE, $PROFILE build, $(nproc) CPUs)"
echo "urls:                 $url_count ($lines measurements)"
echo "lab bring-up:         ${up_ms} ms (building the scenario's certificates included)"
echo "wall time:            $wall"
echo "cpu (user/sys):       ${cpu_user} s / ${cpu_sys} s"
echo "peak RSS:             ${rss} KiB"
echo "bytes received:       $rx (client interface)"
echo "bytes sent:           $tx (client interface)"
echo "outcomes:"
"$BIN/kuzet-lab" tally "$WORK/out.jsonl"
