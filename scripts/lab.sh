#!/usr/bin/env bash
# The censorship lab by hand (as root): a small internet in network namespaces with a censor.
#
#   scripts/lab.sh up [SCENARIO] [--no-helpers]   build, bring the lab up in the background, print it
#   scripts/lab.sh exec [SCENARIO] -- CMD...      run CMD in the lab's client namespace
#   scripts/lab.sh kuzet [SCENARIO] -- ARGS...    run the kuzet CLI (target/debug) in the client namespace
#   scripts/lab.sh status [SCENARIO]              the running lab(s) and their namespaces
#   scripts/lab.sh down [SCENARIO]                tear the lab down (and sweep leftovers of crashed runs)
#   scripts/lab.sh list                           the scenarios and their ground truth
#
# SCENARIO is a name in tests/lab/scenarios/ (default: web) or a path to a scenario .json file.
# Every address is in 10.77.0.0/16 inside the lab's own namespaces; the host's interfaces,
# routes and firewall are never touched.
#
# Example:
#   scripts/lab.sh up web && . /run/kuzet-lab/web.env
#   scripts/lab.sh kuzet web -- measure --ca-file "$LAB_CA_FILE" https://sni-drop.kuzet.test/
#   scripts/lab.sh kuzet web -- run web --list urls.txt --th "$LAB_HELPER_TH" \
#       --ca-file "$LAB_CA_FILE" --anchors "$LAB_ANCHORS" --public-network 10.77.0.0/16
#   scripts/lab.sh down web
#
# `kuzet run` (every suite, or web, messaging, throttling) checks the network first and calls
# failures `unreachable` when the check fails: give it the lab's anchors, --anchors
# "$LAB_ANCHORS" (the state file's; the scenario's outage anchors, else its uncensored sites).
#
# Throttling (tests/lab/scenarios/throttling.json; the state file also gives each throughput
# server's address and pin, LAB_THROUGHPUT_<NAME> and LAB_THROUGHPUT_<NAME>_PIN):
#   scripts/lab.sh up throttling && . /run/kuzet-lab/throttling.env
#   scripts/lab.sh kuzet throttling -- run throttling --server "$LAB_THROUGHPUT_D" \
#       --pin "$LAB_THROUGHPUT_D_PIN" --anchors "$LAB_ANCHORS" \
#       --targets sni-capped.kuzet.test,free-sni.kuzet.test
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
STATE_DIR="${KUZET_LAB_STATE_DIR:-/run/kuzet-lab}"
PROFILE_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/debug"

die() {
    echo "lab.sh: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "the lab needs root (network namespaces, nftables)"

command="${1:-}"
[ -n "$command" ] || die "usage: scripts/lab.sh up|exec|kuzet|status|down|list [SCENARIO]"
shift
scenario="web"
if [ $# -gt 0 ] && [ "$1" != "--" ] && [ "${1#--}" = "$1" ]; then
    scenario="$1"
    shift
fi
state_file="$STATE_DIR/$(basename "$scenario" .json).env"

build() {
    cargo build -q -p kuzet-e2e --bin kuzet-lab --bin kuzet-lab-node
    cargo build -q -p kuzet --bin kuzet
}

load_state() {
    [ -f "$state_file" ] || die "no running lab for '$scenario' (scripts/lab.sh up $scenario)"
    # shellcheck disable=SC1090
    . "$state_file"
}

case "$command" in
up)
    helpers=()
    for arg in "$@"; do
        case "$arg" in
        --no-helpers) helpers=(--no-helpers) ;;
        *) die "unknown option $arg" ;;
        esac
    done
    if [ -f "$state_file" ]; then
        die "a lab for '$scenario' is already up ($state_file); scripts/lab.sh down $scenario"
    fi
    build
    if [ "${#helpers[@]}" -eq 0 ]; then
        cargo build -q -p kuzet-server --bin kuzet-server
    fi
    mkdir -p "$STATE_DIR"
    log="$STATE_DIR/$(basename "$scenario" .json).log"
    KUZET_SERVER_BIN="${KUZET_SERVER_BIN:-$PROFILE_DIR/kuzet-server}" \
        nohup "$PROFILE_DIR/kuzet-lab" up "$scenario" "${helpers[@]}" --state "$state_file" \
        >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 1 300); do
        if grep -q '^LAB_READY=1' "$log" 2>/dev/null; then
            cat "$state_file"
            echo "log: $log"
            echo "try: scripts/lab.sh kuzet $scenario -- measure --ca-file \"\$LAB_CA_FILE\" URL..."
            echo "     (kuzet run ... also needs --anchors \"\$LAB_ANCHORS\")"
            echo "     (. $state_file sets LAB_* in your shell)"
            exit 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$log" >&2
            die "the lab did not come up"
        fi
        sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    cat "$log" >&2
    die "the lab did not come up within 30 s"
    ;;
exec)
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || die "usage: scripts/lab.sh exec [SCENARIO] -- CMD..."
    load_state
    exec ip netns exec "$LAB_CLIENT_NS" env LAB_CA_FILE="$LAB_CA_FILE" "$@"
    ;;
kuzet)
    [ "${1:-}" = "--" ] && shift
    load_state
    exec ip netns exec "$LAB_CLIENT_NS" env LAB_CA_FILE="$LAB_CA_FILE" "$PROFILE_DIR/kuzet" "$@"
    ;;
status)
    found=0
    for file in "$STATE_DIR"/*.env; do
        [ -f "$file" ] || continue
        found=1
        echo "== $file"
        cat "$file"
    done
    [ "$found" -eq 1 ] || echo "no lab started by lab.sh is up"
    "$PROFILE_DIR/kuzet-lab" status 2>/dev/null || ip netns list | grep '^kzlab-' || true
    ;;
down)
    if [ -f "$state_file" ]; then
        load_state
        kill -TERM "$LAB_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$LAB_PID" 2>/dev/null || break
            sleep 0.1
        done
        rm -f "$state_file"
        echo "lab '$scenario' is down"
    else
        echo "no running lab for '$scenario'"
    fi
    [ -x "$PROFILE_DIR/kuzet-lab" ] && "$PROFILE_DIR/kuzet-lab" sweep
    ;;
list)
    build
    "$PROFILE_DIR/kuzet-lab" list
    ;;
*)
    die "unknown command $command (up, exec, kuzet, status, down, list)"
    ;;
esac
