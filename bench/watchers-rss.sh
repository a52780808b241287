#!/usr/bin/env bash
# Server RSS with N idle SSE watchers, for one meshgate binary: starts it on a
# fresh SQLite store, opens the watchers with meshgate-bench, prints one JSON
# line {"bin", "watchers_open", "watchers_failed", "rss_idle_kib", "rss_kib"}.
#
#   bench/watchers-rss.sh MESHGATE_BIN [COUNT (10000)]
#
# Needs target/release/meshgate-bench (cargo build --release -p meshgate-bench).
set -euo pipefail
# One sender and one pair at full speed: the send rate limit and the loop
# breaker would refuse most of it, so they are off unless the caller sets them.
export MESHGATE_SEND_RATE=${MESHGATE_SEND_RATE:-off} MESHGATE_LOOP_LIMIT=${MESHGATE_LOOP_LIMIT:-off}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:?usage: watchers-rss.sh MESHGATE_BIN [COUNT]}
COUNT=${2:-10000}
PORT=${PORT:-18792}; URL=http://127.0.0.1:$PORT
TOKEN=benchtoken-0123456789abcdef
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"   # the watchers' side
WORK=$(mktemp -d); PID=""; WPID=""
stop() { for p in $WPID $PID; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap stop EXIT
MESH_GATEWAY_TOKEN=$TOKEN RUST_LOG=warn "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" \
  >/dev/null 2>"$WORK/server.log" &
PID=$!
for _ in $(seq 100); do curl -fs "$URL/health" >/dev/null 2>&1 && break; sleep 0.1; done
rss() { awk '/VmRSS/{print $2}' /proc/"$PID"/status; }
idle=$(rss)
"$ROOT/target/release/meshgate-bench" --url "$URL" --token "$TOKEN" watchers --count "$COUNT" 2>"$WORK/watchers.log" &
WPID=$!
until grep -q "holding" "$WORK/watchers.log" 2>/dev/null; do sleep 0.5; kill -0 "$WPID"; done
sleep 2
line=$(grep holding "$WORK/watchers.log")
open=$(sed -E 's/watchers: ([0-9]+) open.*/\1/' <<<"$line"); failed=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
echo "{\"bin\": \"$BIN\", \"watchers_open\": $open, \"watchers_failed\": $failed, \"rss_idle_kib\": $idle, \"rss_kib\": $(rss)}"
