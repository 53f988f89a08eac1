#!/usr/bin/env bash
# Writes the CLI part of the schema-version-1 store fixture (see README.md next to this file):
# every kind of row today's `kuzet` CLI writes, into ONE data directory, using only loopback
# servers started here (no internet is needed or reached).
#
#   1. `kuzet measure`, `run web`, `run connectivity` (anchor up), `run messaging` and
#      `run throttling`, all with a known network (KZ, AS9198): queued `pending`;
#   2. `kuzet upload` to a loopback collector: all of them become `delivered`;
#   3. `run connectivity` with the anchor down (an outage), then up again (the timeline gets
#      ok -> outage -> ok), `run messaging` and `measure` with a known network (left `pending`);
#   4. `kuzet upload` to a port where nothing listens: those stay `pending`, with a failed
#      attempt and the collector's failure recorded;
#   5. `kuzet measure` and `run web` WITHOUT a known network: `held`.
#
# Usage: tests/data/store-v1/make.sh OUT_DIR    (OUT_DIR must not hold a store yet)
# Honours CARGO and CARGO_TARGET_DIR. The engine's rows are added afterwards by the test shown
# in README.md, on the same OUT_DIR.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$root"

out="${1:?usage: make.sh OUT_DIR}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
if [[ -e "$out/kuzet.db" ]]; then
    echo "make.sh: $out already holds a store" >&2
    exit 2
fi

echo "==> building kuzet, kuzet-server and the demo sites (debug profile)" >&2
"${CARGO:-cargo}" build --quiet -p kuzet -p kuzet-server -p kuzet-e2e --bins

target_dir="${CARGO_TARGET_DIR:-target}"
[[ "$target_dir" = /* ]] || target_dir="$root/$target_dir"
kuzet="$target_dir/debug/kuzet"
server="$target_dir/debug/kuzet-server"
sites="$target_dir/debug/kuzet-demo-sites"

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for FILE PATTERN: waits (at most 20 s) for a line matching PATTERN in FILE, prints it.
wait_for() {
    for _ in $(seq 200); do
        if grep -q "$2" "$1" 2>/dev/null; then
            grep -m1 "$2" "$1"
            return 0
        fi
        sleep 0.1
    done
    echo "make.sh: no '$2' in $1:" >&2
    cat "$1" >&2
    return 1
}

# start_server NAME ARGS...: starts kuzet-server in the background, logging to $work/NAME.log.
start_server() {
    local name="$1"
    shift
    "$server" "$@" 2>"$work/$name.log" &
    pids+=("$!")
    last_pid=$!
}

# The address after "PREFIX " on a kuzet-server log line.
addr_of() { wait_for "$1" "$2" | sed "s/.*$2 //"; }

echo "==> starting the loopback services" >&2
"$sites" "$work/ca.pem" >"$work/sites.env" &
pids+=("$!")
wait_for "$work/sites.env" '^CLOSED_BASE=' >/dev/null
base() { sed -n "s/^$1=//p" "$work/sites.env"; }
http_base="$(base HTTP_BASE)"
https_base="$(base HTTPS_BASE)"
closed_base="$(base CLOSED_BASE)"
https_addr="${https_base#https://}"
http_addr="${http_base#http://}"
closed_port="${closed_base##*:}"

start_server th --listen 127.0.0.1:0 --th --th-allow-private --th-resolver system \
    --th-ca-file "$work/ca.pem"
th_url="http://$(addr_of "$work/th.log" 'listening on')/"

mkdir -p "$work/collector"
start_server collector --listen 127.0.0.1:0 --collector --data-dir "$work/collector"
collector_url="http://$(addr_of "$work/collector.log" 'listening on')/"

start_server throughput --throughput 127.0.0.1:0 --throughput-key "$work/throughput-key.pem" \
    --throughput-per-client-per-minute 0
throughput_addr="$(addr_of "$work/throughput.log" 'throughput listening on')"
pin="$(wait_for "$work/throughput.log" 'throughput pin' | sed 's/.*throughput pin //')"

# The connectivity anchor: any port that accepts TCP connections (the anchors are probed with
# a TCP connect only). A second kuzet-server test helper serves as one; stopped, it is the outage.
start_server anchor --listen 127.0.0.1:0 --th --th-resolver system
anchor_pid=$last_pid
anchor_port="$(addr_of "$work/anchor.log" 'listening on')"
anchor_port="${anchor_port##*:}"

# Inputs: the test list, the anchors and the messaging endpoints.
cat >"$work/list.csv" <<EOF
url,category_code,category_description,date_added,source,notes
$http_base/,NEWS,News Media,2024-01-15,kuzet-fixture,loads over HTTP
$https_base/,HUMR,Human Rights Issues,2024-01-15,kuzet-fixture,loads over HTTPS
$http_base/go-secure,POLR,Political Criticism,2024-01-15,kuzet-fixture,redirects to HTTPS
$http_base/missing,ANON,Anonymization and circumvention tools,2024-01-15,kuzet-fixture,HTTP 404
$closed_base/,COMT,Communication Tools,2024-01-15,kuzet-fixture,nothing listens
EOF

cat >"$work/anchors.json" <<EOF
{"anchors": [
    {"name": "localhost", "group": "domestic", "operator": "fixture", "pinned_ips": ["127.0.0.1"], "port": $anchor_port, "probe": "tcp_connect"},
    {"name": "localhost", "group": "international", "operator": "fixture", "pinned_ips": ["127.0.0.1"], "port": $anchor_port, "probe": "tcp_connect"}
 ],
 "rechecks": {"count": 0, "delay": 0},
 "timeouts": {"dns": 1000, "probe": 1000}}
EOF

# WhatsApp and Signal on the HTTPS site, Telegram's data centre on the HTTP one, Facebook
# Messenger on the closed port: ok and blocked apps. Every app is given, so no real address
# of the defaults is used.
cat >"$work/endpoints.json" <<EOF
{
  "whatsapp": {
    "endpoints": [{"host": "127.0.0.1", "port": ${https_addr##*:}}],
    "registration_url": "$https_base/v2/register",
    "web_url": "$https_base/"
  },
  "telegram": {"datacenters": ["$http_addr"], "web_url": "$https_base/"},
  "signal": {"urls": ["$https_base/"], "dns_only": []},
  "facebook_messenger": {
    "services": [
      {"service": "stun", "host": "127.0.0.1"},
      {"service": "b_api", "host": "127.0.0.1", "port": $closed_port},
      {"service": "edge", "host": "127.0.0.1", "port": $closed_port}
    ],
    "expected_networks": ["127.0.0.0/8"]
  }
}
EOF

known=(--probe-cc KZ --probe-asn AS9198)
data=(--data-dir "$out")

# run ARGS...: runs kuzet, showing the command (paths shortened) and its output.
run() {
    echo
    echo "\$ kuzet $*" | sed -e "s#$work/#WORK/#g" -e "s#$out#OUT#g"
    "$kuzet" "$@"
}

echo "==> 1. known network: rows queued pending" >&2
run measure "${data[@]}" "${known[@]}" --ca-file "$work/ca.pem" --timeout 5 \
    "$https_base/" "$closed_base/"
run run web "${data[@]}" "${known[@]}" --list "$work/list.csv" --th "$th_url" \
    --ca-file "$work/ca.pem" --public-network 127.0.0.0/8 --timeout 5 --parallel 2
run run connectivity "${data[@]}" "${known[@]}" --anchors "$work/anchors.json" --transport wifi
run run messaging "${data[@]}" "${known[@]}" --endpoints "$work/endpoints.json" \
    --ca-file "$work/ca.pem" --timeout 5
run run throttling "${data[@]}" "${known[@]}" --server "$throughput_addr" --pin "$pin" \
    --targets a.example,b.example --control control.kuzet-control.invalid --budget-mb 4

echo "==> 2. upload to the loopback collector: delivered" >&2
run upload "${data[@]}" --collector "$collector_url" --max-time 60

echo "==> 3. an outage and back, then more rows left pending" >&2
kill "$anchor_pid"
wait "$anchor_pid" 2>/dev/null || true
run run connectivity "${data[@]}" "${known[@]}" --anchors "$work/anchors.json" --transport wifi
# The anchor's port again, now as the port a fresh test helper listens on.
start_server anchor2 --listen "127.0.0.1:$anchor_port" --th --th-resolver system
wait_for "$work/anchor2.log" 'listening on' >/dev/null
run run connectivity "${data[@]}" "${known[@]}" --anchors "$work/anchors.json" --transport wifi
run run messaging "${data[@]}" "${known[@]}" --endpoints "$work/endpoints.json" \
    --ca-file "$work/ca.pem" --timeout 5 --apps signal,facebook_messenger
run measure "${data[@]}" "${known[@]}" --ca-file "$work/ca.pem" --timeout 5 \
    "$http_base/go-secure"

echo "==> 4. upload to a port where nothing listens: a failed attempt, still pending" >&2
run upload "${data[@]}" --collector "$closed_base/" --max-time 5 || true

echo "==> 5. unknown network: rows held" >&2
run measure "${data[@]}" --ca-file "$work/ca.pem" --timeout 5 "$http_base/" "$closed_base/"
run run web "${data[@]}" --list "$work/list.csv" --th "$th_url" --ca-file "$work/ca.pem" \
    --public-network 127.0.0.0/8 --timeout 5 --parallel 2 --limit 2

echo
run results "${data[@]}"
run queue "${data[@]}"
echo >&2
if [[ -s "$out/kuzet.db-wal" ]]; then
    echo "make.sh: $out/kuzet.db-wal still holds data: a kuzet process did not close the store" >&2
    exit 1
fi
echo "==> CLI rows written to $out/kuzet.db" >&2
