#!/usr/bin/env bash
# Memory under hostile input (issues #11.3 and #12.5): the gateway's RSS while
#   list     4 clients x 3 rounds of GET /messages?limit=1000 on an inbox of
#            300 DMs of 190,000 control characters (342 MB of JSON unbounded);
#   streams  10 SSE clients that never read, on an inbox of 100 DMs of ~800 KB;
#   nonread  50 clients that ask the list's 4 MiB pages and never read;
#   drip     50 clients that send all but the last bytes of 4 MiB bodies.
# Each scenario runs on a fresh gateway (release build, SQLite); RSS is
# sampled from /proc (bench/memory.py).
#
#   bench/memory.sh [OUTDIR]
#
# SCENARIOS="nonread drip" runs only those. BEFORE_BIN=/path/to/meshgate also measures another build (e.g. the commit
# before the fix) the same way; AFTER_BIN=/path/to/meshgate measures that binary instead of building this tree. MESHGATE_BENCH_PG_URL=postgres://.../DB runs
# on PostgreSQL instead: each run gets a fresh database on that server
# (created and dropped with createdb/dropdb).
set -euo pipefail
# One sender and one pair at full speed: the send rate limit and the loop
# breaker would refuse most of it, so they are off unless the caller sets them.
export MESHGATE_SEND_RATE=${MESHGATE_SEND_RATE:-off} MESHGATE_LOOP_LIMIT=${MESHGATE_LOOP_LIMIT:-off}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/bench/out/memory-$(date +%Y%m%d-%H%M%S)}
TOKEN=benchtoken-0123456789abcdef
PORT=${PORT:-18795}; URL=http://127.0.0.1:$PORT
mkdir -p "$OUT"
AFTER=${AFTER_BIN:-$ROOT/target/release/meshgate}
[ -n "${AFTER_BIN:-}" ] || (cd "$ROOT" && cargo build --release -p meshgate-cli --quiet)
WORK=$(mktemp -d); PID=""
stop() { if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi; PID=""; }
trap 'stop; rm -rf "$WORK"' EXIT

run() {  # label binary scenario
  local dir="$WORK/$1-$3" db=()
  if [ -n "${MESHGATE_BENCH_PG_URL:-}" ]; then
    local name="meshgate_memory_$1_$3"
    dropdb --if-exists --maintenance-db="$MESHGATE_BENCH_PG_URL" "$name"
    createdb --maintenance-db="$MESHGATE_BENCH_PG_URL" "$name"
    db=(--db "${MESHGATE_BENCH_PG_URL%/*}/$name")
  fi
  MESH_GATEWAY_TOKEN=$TOKEN RUST_LOG=warn "$2" serve --listen "127.0.0.1:$PORT" --data-dir "$dir" "${db[@]}" \
    >/dev/null 2>"$OUT/server-$1-$3.log" &
  PID=$!
  for _ in $(seq 100); do curl -fs "$URL/health" >/dev/null 2>&1 && break; sleep 0.1; done
  python3 "$ROOT/bench/memory.py" "$3" --url "$URL" --token "$TOKEN" --pid "$PID" \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); d["build"]=sys.argv[1]; print(json.dumps(d))' "$1" \
    | tee -a "$OUT/memory.jsonl"
  stop
  if [ -n "${MESHGATE_BENCH_PG_URL:-}" ]; then dropdb --maintenance-db="$MESHGATE_BENCH_PG_URL" "meshgate_memory_$1_$3"; fi
}

for scenario in ${SCENARIOS:-list streams nonread drip}; do
  [ -n "${BEFORE_BIN:-}" ] && run before "$BEFORE_BIN" "$scenario"
  run after "$AFTER" "$scenario"
done
echo "results: $OUT/memory.jsonl"
