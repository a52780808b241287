#!/usr/bin/env bash
# Load benchmark of a gateway on loopback: durable sends and inbox reads.
#
#   bench/gateway.sh meshgate|reference|postgres [OUTDIR]
#
# Starts the gateway itself on a fresh store (meshgate: release build, SQLite;
# postgres: meshgate on MESHGATE_BENCH_PG_URL; reference: the Python gateway
# from PyPI under uvicorn, from $MESHGATE_VENV), registers bench-sender and
# bench-r000..099, seeds READ_ROWS messages through the API, then measures
# with oha (keep-alive, closed loop, -w):
#   send:  POST /messages {~200-byte fyi} at SEND_CONC
#   inbox: GET /messages?to=bench-rNNN&unread_only=true&limit=50 at READ_CONC
# and samples the server's RSS. Results: OUTDIR/results.jsonl; render with
# bench/report.py OUTDIR... Needs oha (cargo install oha --locked).
#
# Environment: DURATION (10s), RUNS (3), SEND_CONC ("1 16 64"),
# READ_CONC ("16 64"), READ_ROWS (100000), PORT (18790), REPLICAS (1).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KIND=${1:?usage: gateway.sh meshgate|reference|postgres [OUTDIR]}
OUT=${2:-$ROOT/bench/out/$KIND-$(date +%Y%m%d-%H%M%S)}
DURATION=${DURATION:-10s}; RUNS=${RUNS:-3}
SEND_CONC=${SEND_CONC:-"1 16 64"}; READ_CONC=${READ_CONC:-"16 64"}
READ_ROWS=${READ_ROWS:-100000}; PORT=${PORT:-18790}
VENV=${MESHGATE_VENV:-$ROOT/.venv}
OHA=${OHA:-oha}
TOKEN=benchtoken-0123456789abcdef
URL=http://127.0.0.1:$PORT
WORK=$(mktemp -d)
mkdir -p "$OUT/raw"
echo "$KIND" > "$OUT/label"
command -v "$OHA" >/dev/null || { echo "oha not found: cargo install oha --locked" >&2; exit 1; }

PID=""
stop() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap stop EXIT

case "$KIND" in
  meshgate|postgres)
    (cd "$ROOT" && cargo build --release -p meshgate-cli --quiet)
    DB_ARGS=()
    [ "$KIND" = postgres ] && DB_ARGS=(--db "${MESHGATE_BENCH_PG_URL:?set MESHGATE_BENCH_PG_URL}")
    MESH_GATEWAY_TOKEN=$TOKEN RUST_LOG=warn "$ROOT/target/release/meshgate" serve \
      --listen "127.0.0.1:$PORT" --data-dir "$WORK" "${DB_ARGS[@]}" 2>"$OUT/server.log" &
    PID=$! ;;
  reference)
    MESH_GATEWAY_TOKEN=$TOKEN MESH_DB_PATH=$WORK/mesh.db "$VENV/bin/python" -m uvicorn \
      swarph_cli.gateway.server:app --host 127.0.0.1 --port "$PORT" --log-level warning 2>"$OUT/server.log" &
    PID=$! ;;
  *) echo "unknown gateway kind $KIND" >&2; exit 2 ;;
esac
for _ in $(seq 100); do curl -fs "$URL/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$URL/health" >/dev/null

{
  echo "date: $(date -Is)"; echo "gateway: $KIND"
  echo "cpus: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
  echo "loadavg at start: $(cat /proc/loadavg)"
  echo "oha: $($OHA --version)"; echo "duration: $DURATION x $RUNS runs"
} > "$OUT/machine.txt"

names=(bench-sender); for i in $(seq 0 99); do names+=("$(printf 'bench-r%03d' "$i")"); done
python3 "$ROOT/bench/seed.py" register "$URL" "$TOKEN" "${names[@]}"
echo "seeding $READ_ROWS messages..."
if [ "$KIND" = reference ] && [ -f "$ROOT/../shared/bench/seed.py" ]; then
  # The reference sends ~200 DMs/s: seed its table directly, as the shared harness does.
  python3 "$ROOT/../shared/bench/seed.py" sqlite --db "$WORK/mesh.db" --total "$READ_ROWS" --recipients 100
else
  python3 "$ROOT/bench/seed.py" messages "$URL" "$TOKEN" --total "$READ_ROWS" --concurrency 16
fi

rss_sampler() { while kill -0 "$PID" 2>/dev/null; do awk '/VmRSS/{print $2}' /proc/"$PID"/status; sleep 0.2; done; }
measure() {  # scenario conc run, then oha arguments
  local scenario=$1 conc=$2 run=$3; shift 3
  local base="$OUT/raw/$scenario-c$conc-r$run"
  rss_sampler > "$base.rss" & local sampler=$!
  "$OHA" --no-tui -w -t 30s -z "$DURATION" -c "$conc" --output-format json -o "$base.json" \
    -H "Authorization: Bearer $TOKEN" "$@" >/dev/null
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
  python3 "$ROOT/bench/report.py" record "$OUT" "$scenario" "$conc" "$run" "$base.json" "$base.rss"
  tail -1 "$OUT/results.jsonl"
}

BODY=$(python3 -c 'import json; print(json.dumps({"from_node": "bench-sender", "to_node": "bench-r000", "kind": "fyi", "content": ("meshgate benchmark message " * 10)[:200]}))')
for run in $(seq "$RUNS"); do
  for c in $READ_CONC; do
    measure inbox-unread "$c" "$run" --rand-regex-url "$URL/messages\?to=bench-r0[0-9]{2}&unread_only=true&limit=50"
  done
  for c in $SEND_CONC; do
    measure send "$c" "$run" -m POST -T application/json -d "$BODY" "$URL/messages"
  done
done
python3 "$ROOT/bench/report.py" "$OUT"
